//! What a build's caller hooks into it: the thread pool parallel work runs on, progress
//! reports ([`Phase`], [`Progress`]) and cancellation. Shared by the build, the repair and
//! the compact codes' encoding.

/// A stage of a build, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Reading the stored graph and the pending changes.
    Loading,
    /// Unlinking deleted and replaced items and repairing their neighbours.
    Repairing,
    /// Inserting new vectors (`done` of `total`).
    Inserting,
    /// Linking nodes the insertions left unreachable.
    Connecting,
    /// Writing the changed chunks.
    Writing,
}

/// A progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The current stage.
    pub phase: Phase,
    /// Units of work done in this stage.
    pub done: u64,
    /// Units of work in this stage.
    pub total: u64,
}

/// The caller's thread pool, progress and cancellation callbacks, shared by the build
/// threads (set by [`Builder`](super::Builder)'s methods).
#[derive(Clone, Copy, Default)]
pub(super) struct Hooks<'a> {
    /// The pool parallel work runs on; `None`: the current one.
    pub(super) pool: Option<&'a rayon::ThreadPool>,
    /// Called with each progress report.
    pub(super) progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Polled during the build; true stops it.
    pub(super) cancel: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl Hooks<'_> {
    /// Threads of the pool the parallel work runs on.
    pub(super) fn threads(&self) -> usize {
        self.pool.map_or_else(
            rayon::current_num_threads,
            rayon::ThreadPool::current_num_threads,
        )
    }

    /// Runs parallel work on the chosen pool (or the current one).
    pub(super) fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// Reports `done` of `total` units of work in `phase`, if the caller asked for reports.
    pub(super) fn report(&self, phase: Phase, done: u64, total: u64) {
        if let Some(progress) = self.progress {
            progress(Progress { phase, done, total });
        }
    }

    /// Whether the caller asked the build to stop.
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|cancel| cancel())
    }
}
