//! Calls into redb under [`catch_unwind`](std::panic::catch_unwind), and the bytes and
//! iterators they hand out (see [A damaged file](super#a-damaged-file)).

use std::any::Any;
use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};

use ::redb::{AccessGuard, ReadableTable};
use hannoy_graph::store::{StoreError, StoreResult, range_is_empty};

use super::map_err;
use crate::write_guard::WriteGuard;

/// Runs a call into redb, turning a panic inside it into [`StoreError::Corrupted`].
///
/// `AssertUnwindSafe`: after a panic nothing of the call's state is used again but through
/// redb's own checks (which may panic again, and are caught again), and a write transaction
/// that saw one is poisoned, so it is never committed.
#[inline]
pub(super) fn guarded<T>(
    operation: &'static str,
    call: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    panic::catch_unwind(AssertUnwindSafe(call))
        .unwrap_or_else(|payload| Err(panicked(operation, &[], payload.as_ref())))
}

/// The error for a panic inside redb, with its message.
#[cold]
fn panicked(operation: &'static str, key: &[u8], payload: &(dyn Any + Send)) -> StoreError {
    let message = match payload.downcast_ref::<&str>() {
        Some(message) => message,
        None => payload
            .downcast_ref::<String>()
            .map_or("(no message)", String::as_str),
    };
    StoreError::corrupted(
        format!("redb panicked in {operation}, likely on a damaged page: {message}"),
        key,
    )
}

/// Bytes borrowed from a redb page.
pub struct RedbBytes<'t>(AccessGuard<'t, &'static [u8]>);

impl<'t> RedbBytes<'t> {
    /// Wraps a guard whose bytes were read once, under `catch_unwind`: redb slices the page
    /// without checking the value's offset and length, which a damaged page can put out of
    /// bounds. Once that slice worked, every later one ([`AsRef::as_ref`]) does too: the
    /// page cannot change while the guard borrows it.
    fn checked(guard: AccessGuard<'t, &'static [u8]>) -> Self {
        let _ = guard.value();
        RedbBytes(guard)
    }
}

impl AsRef<[u8]> for RedbBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

/// An ascending iterator over a range of a redb store.
pub struct RedbIter<'t> {
    inner: Option<::redb::Range<'t, &'static [u8], &'static [u8]>>,
    /// The write transaction's guard, poisoned if iterating panics.
    guard: Option<&'t WriteGuard>,
}

impl RedbIter<'_> {
    /// An iterator over nothing.
    pub(super) fn empty() -> Self {
        RedbIter {
            inner: None,
            guard: None,
        }
    }
}

impl<'t> Iterator for RedbIter<'t> {
    type Item = StoreResult<(RedbBytes<'t>, RedbBytes<'t>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        let next = || {
            inner
                .next()
                .map(|entry| entry.map(|(k, v)| (RedbBytes::checked(k), RedbBytes::checked(v))))
        };
        match panic::catch_unwind(AssertUnwindSafe(next)) {
            Ok(next) => Some(next?.map_err(|e| map_err("range", e))),
            Err(payload) => {
                // The iterator may be in any state: end it after this error.
                self.inner = None;
                self.guard.inspect(|guard| guard.poison_after_panic());
                Some(Err(panicked("range", &[], payload.as_ref())))
            }
        }
    }
}

/// A `get` on either transaction's table; a panic in a write transaction (`guard`) poisons
/// it.
pub(super) fn table_get<'t>(
    table: &'t impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
    guard: Option<&WriteGuard>,
) -> StoreResult<Option<RedbBytes<'t>>> {
    let get = || table.get(key).map(|value| value.map(RedbBytes::checked));
    match panic::catch_unwind(AssertUnwindSafe(get)) {
        Ok(value) => value.map_err(|e| map_err("get", e)),
        Err(payload) => {
            guard.inspect(|guard| guard.poison_after_panic());
            Err(panicked("get", key, payload.as_ref()))
        }
    }
}

/// A `range` on either transaction's table, as [`table_get`].
pub(super) fn table_range<'t>(
    table: &'t impl ReadableTable<&'static [u8], &'static [u8]>,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    guard: Option<&'t WriteGuard>,
) -> StoreResult<RedbIter<'t>> {
    if range_is_empty(start, end) {
        return Ok(RedbIter { inner: None, guard });
    }
    let range = || {
        table
            .range::<&[u8]>((start, end))
            .map_err(|e| map_err("range", e))
    };
    match panic::catch_unwind(AssertUnwindSafe(range)) {
        Ok(inner) => Ok(RedbIter {
            inner: Some(inner?),
            guard,
        }),
        Err(payload) => {
            guard.inspect(|guard| guard.poison_after_panic());
            Err(panicked("range", &[], payload.as_ref()))
        }
    }
}
