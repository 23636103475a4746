//! When a search stops early: a deadline, a cancellation check, or never (builds).
//!
//! The layer search asks [`Stop::due`] before each node expansion; once it answers yes, the
//! search returns the candidates it holds, the best found so far.

use std::cell::Cell;
use std::time::Instant;

/// Asked before each node expansion of a layer search: stop now?
pub trait Stop {
    /// True when the search must return what it has.
    fn due(&self) -> bool;
}

/// Never stops early: builds, and searches without a deadline or a cancellation check.
pub struct Never;

impl Stop for Never {
    #[inline(always)]
    fn due(&self) -> bool {
        false
    }
}

/// A cancellation check: called from the searching thread (several of them in a batch
/// search), it returns true when the search must stop.
pub type CancelCheck<'a> = &'a (dyn Fn() -> bool + Sync);

/// A search's deadline and cancellation check; remembers whether it fired.
pub struct Cutoff<'a> {
    deadline: Option<Instant>,
    cancel: Option<CancelCheck<'a>>,
    fired: Cell<bool>,
}

impl<'a> Cutoff<'a> {
    /// Stops at `deadline` (if any) or when `cancel` (if any) says so.
    pub fn new(deadline: Option<Instant>, cancel: Option<CancelCheck<'a>>) -> Self {
        Cutoff {
            deadline,
            cancel,
            fired: Cell::new(false),
        }
    }

    /// Whether it can stop a search at all (a deadline or a check is set).
    pub fn is_active(&self) -> bool {
        self.deadline.is_some() || self.cancel.is_some()
    }

    /// Whether the search was cut short.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }
}

impl Stop for Cutoff<'_> {
    #[inline]
    fn due(&self) -> bool {
        if self.fired.get() {
            return true;
        }
        let due = self.deadline.is_some_and(|at| Instant::now() >= at)
            || self.cancel.is_some_and(|cancel| cancel());
        if due {
            self.fired.set(true);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_cutoff_fires_once_and_stays_fired() {
        assert!(!Never.due());
        let none = Cutoff::new(None, None);
        assert!(!none.is_active() && !none.due() && !none.fired());

        let past = Cutoff::new(Some(Instant::now()), None);
        assert!(past.due() && past.fired());
        let later = Cutoff::new(Some(Instant::now() + Duration::from_secs(3600)), None);
        assert!(!later.due());

        let flag = AtomicBool::new(false);
        let check = || flag.load(Ordering::Relaxed);
        let cancel = Cutoff::new(None, Some(&check));
        assert!(!cancel.due());
        flag.store(true, Ordering::Relaxed);
        assert!(cancel.due());
        flag.store(false, Ordering::Relaxed);
        assert!(cancel.due(), "once fired, it stays fired");
    }
}
