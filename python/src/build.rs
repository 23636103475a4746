//! `Writer.build`: the build runs on the writer's thread while the calling thread waits
//! with the GIL released, waking every 100 ms (or on a progress report) to run the
//! progress callback and to check for signals. Ctrl-C (or an exception raised by the
//! callback) cancels the build through its cancellation hook; the index is then unchanged
//! and the exception is raised.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hannoy::{BuildParams, BuildStats, Error, Progress};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::rngs::StdRng;

use crate::errors::HannoyError;
use crate::metric::Metric;
use crate::session::{AnyWriteTxn, Session, Unavailable};

/// How often the waiting thread checks for signals.
const POLL: Duration = Duration::from_millis(100);

/// What the build thread sends the waiting one.
enum Event {
    Progress(Progress),
    /// The build's result, or why it did not run or finish (a panic among them).
    Done(Result<Result<BuildStats, Error>, Unavailable>),
}

/// What to build.
#[derive(Clone)]
pub struct BuildJob {
    /// The metric.
    pub metric: Metric,
    /// The index number.
    pub index: u16,
    /// Components per vector.
    pub dimensions: usize,
    /// M, M0 and ef_construction.
    pub params: BuildParams,
    /// The compact codes the build leaves (`None`: keep the index's).
    pub codes: Option<Option<hannoy::Scheme>>,
    /// Whether the codes are all the index keeps (no full vectors).
    pub codes_only: bool,
    /// Build threads; 0 for rayon's default (the number of CPUs).
    pub threads: usize,
    /// Neighbour selection's `alpha` (`Builder::alpha`).
    pub alpha: f32,
    /// Whether every item is linked anew (`Builder::force_rebuild`).
    pub force_rebuild: bool,
    /// Test hook of the panic boundary: the build panics with this message once its
    /// threads have started (`Writer._raise_panic`).
    pub panic: Option<String>,
}

/// Builds on `session`'s thread, calling `progress(phase, done, total)` from this thread.
///
/// Returns the build's own result; the outer error is an exception to raise instead
/// (KeyboardInterrupt, the callback's exception, or a failure to run the build at all).
pub fn build(
    py: Python<'_>,
    session: &Session,
    job: BuildJob,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Result<BuildStats, Error>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    let job_cancel = Arc::clone(&cancel);
    let done = sender.clone();
    session.spawn(
        move |txn, rng| run(job, txn, rng, &sender, &job_cancel),
        move |outcome| {
            let _ = done.send(Event::Done(outcome));
        },
    );

    let mut receiver: Receiver<Event> = receiver;
    let mut raised: Option<PyErr> = None;
    let mut checked = Instant::now();
    let result = loop {
        let (back, event) = py.detach(move || {
            let event = receiver.recv_timeout(POLL);
            (receiver, event)
        });
        receiver = back;
        match event {
            Ok(Event::Done(result)) => break Some(result),
            Ok(Event::Progress(report)) => {
                if let (Some(callback), None) = (progress, &raised) {
                    let phase = format!("{:?}", report.phase).to_lowercase();
                    if let Err(e) = callback.call1((phase, report.done, report.total)) {
                        raised = Some(e);
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break None,
        }
        if raised.is_none() && checked.elapsed() >= POLL {
            checked = Instant::now();
            if let Err(e) = py.check_signals() {
                raised = Some(e);
                cancel.store(true, Ordering::Relaxed);
            }
        }
    };
    match (raised, result) {
        (Some(e), _) => Err(e),
        (None, Some(Ok(result))) => Ok(result),
        (None, Some(Err(reason))) => Err(reason.into()),
        (None, None) => Err(HannoyError::new_err(
            "the build stopped without a result (the writer is closed or its thread failed)",
        )),
    }
}

/// The build itself, on the session thread.
fn run(
    job: BuildJob,
    txn: &mut AnyWriteTxn<'_>,
    rng: &mut StdRng,
    sender: &mpsc::Sender<Event>,
    cancel: &AtomicBool,
) -> Result<BuildStats, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(job.threads)
        .thread_name(|i| format!("hannoy-build-{i}"))
        .build()
        .map_err(|e| Error::InvalidParameter(format!("cannot start the build threads: {e}")))?;
    if let Some(message) = &job.panic {
        pool.install(|| crate::guard::inject_panic(message));
    }
    let report = |progress: Progress| {
        let _ = sender.send(Event::Progress(progress));
    };
    let cancelled = || cancel.load(Ordering::Relaxed);
    let BuildParams {
        m,
        m0,
        ef_construction,
    } = job.params;
    crate::session::with_write_txn!(txn, txn => crate::metric::with_metric!(job.metric, M => {
        let writer = hannoy::Writer::<M>::new(job.index, job.dimensions);
        let builder = writer
            .builder(rng)
            .m(m)
            .m0(m0)
            .ef_construction(ef_construction)
            .alpha(job.alpha)
            .force_rebuild(job.force_rebuild)
            .thread_pool(&pool)
            .progress(&report)
            .cancel(&cancelled);
        match job.codes {
            Some(Some(scheme)) if job.codes_only => builder.codes_only(scheme).build(txn),
            Some(codes) => builder.codes(codes).build(txn),
            None => builder.build(txn),
        }
    }))
}

/// The build's figures as a dict.
pub fn stats_dict<'py>(py: Python<'py>, stats: &BuildStats) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("inserted", stats.inserted)?;
    dict.set_item("removed", stats.removed)?;
    dict.set_item("repaired", stats.repaired)?;
    dict.set_item("relinked", stats.relinked)?;
    dict.set_item("reconnected", stats.reconnected)?;
    dict.set_item("nodes_written", stats.nodes_written)?;
    dict.set_item("chunks_written", stats.chunks_written)?;
    dict.set_item("distances", stats.distances)?;
    dict.set_item("compute_seconds", stats.compute_seconds)?;
    dict.set_item("write_seconds", stats.write_seconds)?;
    Ok(dict)
}
