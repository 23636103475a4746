//! `hannoy.Writer`: item changes and builds of one index, in one write transaction.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hannoy::{BuildParams, Error};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, count};
use crate::build::{self, BuildJob};
use crate::errors::{
    InternalError, WriterBusyError, WriterClosedError, breaks_transaction, to_py, value_error,
};
use crate::metric::Metric;
use crate::session::{AnyWriteTxn, Session, Unavailable};
use crate::store::{Shared, WriterClaim};

/// The most build threads a build may ask for: each is an OS thread with its own stack,
/// so an absurd count must be refused, not attempted.
pub const MAX_BUILD_THREADS: usize = 1024;

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const BROKEN: u8 = 2;

/// Runs `$body` with `$writer` a `hannoy::Writer` of this writer's metric, index and
/// dimensions, and `$txn` the backend's write transaction, on the session thread.
macro_rules! with_writer {
    ($self:ident, $py:ident, |$writer:ident, $txn:ident| $body:expr) => {{
        let (metric, index, dimensions) = ($self.metric, $self.index, $self.dimensions);
        $self.op($py, move |any: &mut AnyWriteTxn<'_>| {
            $crate::session::with_write_txn!(any, $txn => $crate::metric::with_metric!(metric, M => {
                let $writer = hannoy::Writer::<M>::new(index, dimensions);
                $body
            }))
        })
    }};
}

/// A writer of one index: adds, replaces and deletes items, then builds the graph, all in
/// one write transaction that ``commit()`` makes visible at once (``abort()`` drops it).
///
/// Made by ``Database.writer()``. One writer may be open per database at a time. Use it as a
/// context manager: on a normal exit it builds (if anything changed) and commits; on an
/// exception it aborts, and the index is as it was::
///
///     with db.writer(384) as writer:
///         writer.add_items(ids, vectors)
///
/// Added and deleted items are pending until ``build()``: readers opened after the commit
/// see them. The GIL is released while items are written and while the graph is built.
#[pyclass(module = "hannoy", frozen)]
pub struct Writer {
    // Dropped first: aborts a transaction still open, then frees the writer slot.
    session: Session,
    /// Held until the transaction is committed or aborted.
    claim: Mutex<Option<WriterClaim>>,
    metric: Metric,
    index: u16,
    dimensions: usize,
    params: BuildParams,
    codes: Option<Option<hannoy::Scheme>>,
    codes_only: bool,
    state: AtomicU8,
    busy: AtomicBool,
    /// Changes since the last build (or no build yet).
    dirty: AtomicBool,
}

/// Settings of a new writer.
pub struct WriterSettings {
    /// The metric.
    pub metric: Metric,
    /// The index number.
    pub index: u16,
    /// Components per vector.
    pub dimensions: usize,
    /// M, M0, ef_construction.
    pub params: BuildParams,
    /// Seed of the level draws.
    pub seed: u64,
    /// The compact codes each build leaves (`None`: keep the index's; `Some(None)`: none).
    pub codes: Option<Option<hannoy::Scheme>>,
    /// Whether the codes are all the index keeps (no full vectors).
    pub codes_only: bool,
}

/// Marks a writer in use by one call.
struct InUse<'w>(&'w AtomicBool);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Writer {
    /// Opens the write transaction and checks the settings against the index, if it exists.
    pub fn open(py: Python<'_>, shared: &Arc<Shared>, settings: WriterSettings) -> PyResult<Self> {
        if settings.dimensions == 0 {
            return Err(value_error("dims must be at least 1"));
        }
        settings.params.validate().map_err(to_py)?;
        let claim = shared.claim_writer()?;
        let session = Session::open(py, Arc::clone(shared), settings.seed)?;
        let writer = Writer {
            session,
            claim: Mutex::new(Some(claim)),
            metric: settings.metric,
            index: settings.index,
            dimensions: settings.dimensions,
            params: settings.params,
            codes: settings.codes,
            codes_only: settings.codes_only,
            state: AtomicU8::new(OPEN),
            busy: AtomicBool::new(false),
            dirty: AtomicBool::new(true),
        };
        // Reads the metadata: another metric or other dimensions fail here, not later.
        with_writer!(writer, py, |w, txn| w.contains_item(txn, 0))?;
        Ok(writer)
    }

    /// Marks the writer in use; refuses when it is in use, closed, or (unless
    /// `allow_broken`) broken by a failed write.
    fn enter(&self, allow_broken: bool) -> PyResult<InUse<'_>> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(WriterBusyError::new_err(
                "the writer is busy with another call (from another thread, or a progress callback)",
            ));
        }
        let in_use = InUse(&self.busy);
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(in_use),
            BROKEN if allow_broken => Ok(in_use),
            BROKEN => Err(WriterClosedError::new_err(
                "a failed write left the transaction unusable: abort() the writer",
            )),
            _ => Err(WriterClosedError::new_err(
                "the writer is committed or aborted",
            )),
        }
    }

    /// Runs `f` with the transaction on the writer's thread (GIL released); a store
    /// failure that breaks the transaction leaves only `abort()` possible.
    fn op<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut AnyWriteTxn<'_>) -> Result<R, Error> + Send,
    ) -> PyResult<R> {
        let _in_use = self.enter(false)?;
        let outcome = self.session.run(py, |txn, _| f(txn)).map_err(|reason| {
            if matches!(reason, Unavailable::Panicked(_)) {
                // The session aborted the transaction: only abort() is left.
                self.state.store(BROKEN, Ordering::Release);
            }
            PyErr::from(reason)
        })?;
        outcome.map_err(|e| {
            if breaks_transaction(&e) {
                self.state.store(BROKEN, Ordering::Release);
            }
            to_py(e)
        })
    }

    /// Runs a build on the writer's thread; a panic in it (`InternalError`) has aborted the
    /// transaction, so only `abort()` is left.
    fn run_build(
        &self,
        py: Python<'_>,
        job: BuildJob,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Result<hannoy::BuildStats, Error>> {
        build::build(py, &self.session, job, progress).inspect_err(|e| {
            if e.is_instance_of::<InternalError>(py) {
                self.state.store(BROKEN, Ordering::Release);
            }
        })
    }

    fn finish(&self, py: Python<'_>, commit: bool) -> PyResult<()> {
        let _in_use = self.enter(!commit)?;
        self.state.store(CLOSED, Ordering::Release);
        let finished = self.session.finish(py, commit);
        // The transaction is gone, committed or not: another writer may open.
        self.claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        finished
    }
}

#[pymethods]
impl Writer {
    /// Records ``vector`` (1-D, float32 or float64, ``dims`` long) as item ``id``, adding it
    /// or replacing its vector. Raises ``ValueError`` for a vector of other length, with NaN
    /// or infinity, or zero under cosine; nothing is written then. Each call is a round
    /// trip to the writer's thread (some microseconds): ``add_items`` is much faster for
    /// many items.
    fn add_item(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        vector: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = arrays::item_id(id)?;
        arrays::with_vector(vector, |vector| {
            arrays::check_dimensions("vector", vector.len(), self.dimensions)?;
            with_writer!(self, py, |w, txn| w.add_item(txn, id, vector))
        })?;
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Records row ``i`` of ``vectors`` (2-D, ``len(ids)`` rows of ``dims`` components,
    /// float32 or float64) as item ``ids[i]``. A C-contiguous float32 array is read in
    /// place; other arrays are copied once. An id given twice takes its last row. Every
    /// row is checked before anything is written: on ``ValueError`` nothing changed.
    fn add_items(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ids = arrays::item_ids(ids)?;
        arrays::with_matrix(vectors, |vectors, rows, cols| {
            if rows != ids.len() {
                return Err(value_error(format!("{} ids for {rows} vectors", ids.len())));
            }
            arrays::check_dimensions("vector", cols, self.dimensions)?;
            let ids = &ids;
            with_writer!(self, py, |w, txn| w.add_items(txn, ids, vectors))
        })?;
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Records the deletion of item ``id``; returns whether it was there. Searches stop
    /// returning it once committed, and the graph is repaired at the next build.
    fn del_item(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = arrays::item_id(id)?;
        let deleted = with_writer!(self, py, |w, txn| w.del_item(txn, id))?;
        self.dirty.store(true, Ordering::Relaxed);
        Ok(deleted)
    }

    /// Links every pending change into the graph, in parallel with the GIL released, and
    /// returns the build's figures (items inserted, removed, seconds, ...).
    ///
    /// ``progress``, if given, is called as ``progress(phase, done, total)`` from this
    /// thread. ``threads`` is the number of build threads (default: one per CPU; at most
    /// 1024). ``alpha`` (1.0 to 4.0, default 1.0) lets neighbour selection keep more long
    /// links; ``force_rebuild=True`` links every item anew instead of only the changed ones.
    /// Ctrl-C, or an exception raised by ``progress``, cancels the build: the exception
    /// propagates and the index is unchanged.
    #[pyo3(signature = (progress=None, threads=None, alpha=1.0, force_rebuild=false))]
    fn build<'py>(
        &self,
        py: Python<'py>,
        progress: Option<&Bound<'py, PyAny>>,
        threads: Option<i64>,
        alpha: f32,
        force_rebuild: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let threads = match threads {
            Some(0) => return Err(value_error("threads must be at least 1")),
            Some(threads) if threads > MAX_BUILD_THREADS as i64 => {
                return Err(value_error(format!(
                    "threads must be at most {MAX_BUILD_THREADS}, not {threads}"
                )));
            }
            Some(threads) => count("threads", threads)?,
            None => 0,
        };
        let _in_use = self.enter(false)?;
        let job = BuildJob {
            metric: self.metric,
            index: self.index,
            dimensions: self.dimensions,
            params: self.params,
            codes: self.codes,
            codes_only: self.codes_only,
            threads,
            alpha,
            force_rebuild,
            panic: None,
        };
        let built = self.run_build(py, job, progress)?;
        let stats = built.map_err(|e| {
            if breaks_transaction(&e) {
                self.state.store(BROKEN, Ordering::Release);
            }
            to_py(e)
        })?;
        self.dirty.store(false, Ordering::Relaxed);
        build::stats_dict(py, &stats)
    }

    /// Commits the transaction: every change and build becomes visible to readers opened
    /// afterwards. The writer is closed then.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, true)
    }

    /// Drops every change of this writer; the database is as it was. The writer is closed
    /// then; aborting a closed writer does nothing.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Ok(());
        }
        self.finish(py, false)
    }

    /// Test hook of the panic boundary: panics with ``message`` on the writer's thread with
    /// the transaction borrowed, in an item operation or (``in_build``) in a build. Raises
    /// ``InternalError``; the transaction is aborted and only ``abort()`` is left.
    #[pyo3(signature = (message, in_build=false))]
    fn _raise_panic(&self, py: Python<'_>, message: String, in_build: bool) -> PyResult<()> {
        if !in_build {
            return self.op(py, move |_txn| {
                crate::guard::inject_panic(&message);
                Ok(())
            });
        }
        let _in_use = self.enter(false)?;
        let job = BuildJob {
            metric: self.metric,
            index: self.index,
            dimensions: self.dimensions,
            params: self.params,
            codes: self.codes,
            codes_only: self.codes_only,
            threads: 1,
            alpha: 1.0,
            force_rebuild: false,
            panic: Some(message),
        };
        self.run_build(py, job, None).map(drop)
    }

    /// Components per vector.
    #[getter]
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The index number.
    #[getter]
    fn index(&self) -> u16 {
        self.index
    }

    /// The metric.
    #[getter]
    fn metric(&self) -> Metric {
        self.metric
    }

    /// Whether the writer is committed or aborted.
    #[getter]
    fn closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// The number of items, counting changes not built yet.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let len = with_writer!(self, py, |w, txn| w.len(txn))?;
        usize::try_from(len).map_err(|_| value_error("the index holds more items than fit a size"))
    }

    /// Whether item ``id`` is in the index, counting changes not built yet.
    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(id) = arrays::item_id(id) else {
            return Ok(false);
        };
        with_writer!(self, py, |w, txn| w.contains_item(txn, id))
    }

    /// Returns the writer itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Builds (if anything changed) and commits on a normal exit; aborts on an exception.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Ok(false);
        }
        if exc_type.is_some() {
            self.abort(py)?;
            return Ok(false);
        }
        if self.dirty.load(Ordering::Relaxed)
            && let Err(e) = self.build(py, None, None, 1.0, false)
        {
            self.abort(py)?;
            return Err(e);
        }
        self.commit(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = match self.state.load(Ordering::Acquire) {
            OPEN => "open",
            BROKEN => "failed",
            _ => "closed",
        };
        format!(
            "<hannoy.Writer index={} dims={} metric={} m={} m0={} ef_construction={} ({state})>",
            self.index,
            self.dimensions,
            self.metric.name(),
            self.params.m,
            self.params.m0,
            self.params.ef_construction
        )
    }
}
