//! The transactional key-value store the index is written against.
//!
//! Three traits make a store:
//!
//! - [`KvStore`] opens transactions: any number of [`ReadTxn`]s, and one [`WriteTxn`] at a
//!   time (a `write_txn` call from another thread waits until the first is committed or
//!   dropped; one from the thread that holds it is refused with
//!   [`StoreError::WriteTxnBusy`] instead of waiting forever);
//! - [`ReadTxn`] reads one consistent snapshot: [`get`](ReadTxn::get) and ordered
//!   [`range`](ReadTxn::range) iteration, with values *borrowed* from the store for the
//!   transaction's lifetime where the backend allows it (LMDB hands out slices of its memory
//!   map: no copy and no allocation per `get`);
//! - [`WriteTxn`] extends [`ReadTxn`] (so every read is written once and sees the
//!   transaction's own uncommitted writes) with [`put`](WriteTxn::put),
//!   [`delete`](WriteTxn::delete), [`delete_range`](WriteTxn::delete_range) and
//!   [`commit`](WriteTxn::commit). `commit` consumes the transaction; dropping it without
//!   committing aborts every write it made. A write that fails poisons the transaction: it
//!   can then only be dropped (see [`WriteTxn`]).
//!
//! Keys are 1 to 511 bytes long (LMDB's limit; the graph's keys are a few bytes); values
//! may be empty and as large as the backend allows (at least 3 GiB on 64-bit targets).
//! Keys are ordered as byte strings (lexicographically, shorter first on a common prefix);
//! the graph layer encodes integers big-endian in keys so that this order is numeric.
//!
//! # Threads
//!
//! A store is `Send + Sync`: share it by reference (or in an `Arc`) and open transactions
//! from any thread. Every read transaction is `Send`, so parallel work (a rayon batch search,
//! the parallel phase of a build) opens one read transaction per worker from the shared
//! store, or moves one into a worker. Whether one read transaction may also be *shared* by
//! several threads at once (`Sync`) depends on the backend; code generic over [`KvStore`]
//! must not assume it. Values and keys read from any transaction, write transactions
//! included, are `Send + Sync` ([`ReadTxn::Bytes`]): once read, they can be shared by a
//! thread pool while the transaction stays on its thread.
//!
//! | backend | `ReadTxn: Send` | `ReadTxn: Sync` | `WriteTxn: Send` |
//! |---------|-----------------|-----------------|------------------|
//! | lmdb    | yes (opened without thread-local slots) | no (LMDB forbids it) | no |
//! | redb    | yes             | yes             | no               |
//! | memory  | yes             | yes             | no               |
//!
//! Each backend asserts its row at compile time.
//!
//! # Adding a backend
//!
//! Implement the three traits in a module of `hannoy-storage` and add one line to the
//! conformance suite (`tests/`); nothing in this crate changes.

mod error;

pub use error::{BoxError, StoreError, StoreResult};

use std::ops::Bound;

/// A transactional, ordered key-value store: many readers, one writer at a time.
pub trait KvStore: Send + Sync {
    /// A read-only snapshot of the store.
    type ReadTxn<'s>: ReadTxn + Send
    where
        Self: 's;

    /// The one read-write transaction.
    type WriteTxn<'s>: WriteTxn
    where
        Self: 's;

    /// Opens a read transaction on the last committed state. It keeps seeing that state,
    /// whatever is committed after it was opened.
    ///
    /// # Errors
    /// The backend's error, e.g. LMDB's reader table is full.
    fn read_txn(&self) -> StoreResult<Self::ReadTxn<'_>>;

    /// Opens the write transaction, waiting while another thread (or process) has it open.
    ///
    /// # Errors
    /// [`StoreError::WriteTxnBusy`] when the calling thread has this store's write
    /// transaction open already (waiting would deadlock); every backend checks this. The
    /// backend's error otherwise.
    fn write_txn(&self) -> StoreResult<Self::WriteTxn<'_>>;
}

/// A read transaction's `get` that several threads may call at once
/// ([`ReadTxn::shared_get`]).
pub type SharedGet<'t, B> =
    std::sync::Arc<dyn Fn(&[u8]) -> StoreResult<Option<B>> + Send + Sync + 't>;

/// The [`SharedGet`] of a transaction that is `Sync`: what a backend returns from
/// [`ReadTxn::shared_get`] when any thread may read its transaction at any time.
pub fn share<T: ReadTxn + Sync>(txn: &T) -> Option<SharedGet<'_, T::Bytes<'_>>> {
    Some(std::sync::Arc::new(move |key| txn.get(key)))
}

/// Reads of one consistent snapshot.
pub trait ReadTxn {
    /// Bytes borrowed from the transaction: a key or a value. They are `Send + Sync` so that
    /// parallel work can read them from several threads while the transaction itself stays
    /// on its own (the parallel phase of a build reads values of the write transaction so).
    type Bytes<'t>: AsRef<[u8]> + Send + Sync
    where
        Self: 't;

    /// An ascending iterator over `(key, value)` pairs.
    type Iter<'t>: Iterator<Item = StoreResult<(Self::Bytes<'t>, Self::Bytes<'t>)>>
    where
        Self: 't;

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// The backend's error.
    fn get(&self, key: &[u8]) -> StoreResult<Option<Self::Bytes<'_>>>;

    /// This transaction's [`get`](ReadTxn::get) as a function that several threads may call
    /// at once, if the backend allows that; `None` (the default) if it does not.
    ///
    /// A reader given one opens in constant time: it looks each chunk up on its first use,
    /// from whichever search thread needs it, instead of resolving every chunk when it
    /// opens. Return `Some` only for a transaction that is `Sync` (or that serializes its
    /// own use, as LMDB's read transaction does behind a lock).
    fn shared_get(&self) -> Option<SharedGet<'_, Self::Bytes<'_>>> {
        None
    }

    /// The bytes the store sets aside for one value of `len` bytes (for example whole pages
    /// for a large value). The index sizes its chunks to waste little of it. The default,
    /// `len`, fits stores that keep values as they are.
    fn stored_len(&self, len: usize) -> usize {
        len
    }

    /// The entries whose keys lie between `start` and `end`, in ascending key order.
    /// The bounds are only read during the call.
    ///
    /// # Errors
    /// The backend's error; iteration itself can fail too, item by item.
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<Self::Iter<'_>>;

    /// The entries whose keys start with `prefix`, in ascending key order.
    ///
    /// # Errors
    /// As [`range`](ReadTxn::range).
    fn prefix(&self, prefix: &[u8]) -> StoreResult<Self::Iter<'_>> {
        let end = prefix_successor(prefix);
        let end = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        self.range(Bound::Included(prefix), end)
    }

    /// Whether a value is stored under `key`.
    ///
    /// # Errors
    /// As [`get`](ReadTxn::get).
    fn contains_key(&self, key: &[u8]) -> StoreResult<bool> {
        Ok(self.get(key)?.is_some())
    }
}

/// The read-write transaction: reads see its own uncommitted writes.
///
/// While a borrowed value from [`ReadTxn::get`] is alive, no write can happen (the borrow
/// checker enforces it): backends may invalidate borrowed bytes on write.
///
/// # A failed write poisons the transaction
///
/// Every backend follows this contract: once [`put`](WriteTxn::put),
/// [`delete`](WriteTxn::delete) or [`delete_range`](WriteTxn::delete_range) has returned an
/// error (any error, [`StoreError::Full`] included), the transaction holds an unknown part
/// of its writes, so every later call on it (reads, writes and [`commit`](WriteTxn::commit))
/// returns [`StoreError::WriteTxnPoisoned`] and nothing of it is ever committed. Dropping it
/// leaves the store exactly as the last successful commit left it.
///
/// The write transaction stays on the thread that opened it (no backend's is `Send`): the
/// check behind [`StoreError::WriteTxnBusy`] is per thread.
pub trait WriteTxn: ReadTxn {
    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Errors
    /// [`StoreError::Full`] when the store has no room; the backend's error otherwise.
    /// After an error the transaction is poisoned (see the [trait docs](WriteTxn)).
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()>;

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    /// The backend's error; the transaction is then poisoned.
    fn delete(&mut self, key: &[u8]) -> StoreResult<bool>;

    /// Removes every key between `start` and `end`; returns how many were removed.
    ///
    /// # Errors
    /// The backend's error; the transaction is then poisoned.
    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64>;

    /// Makes every write of this transaction visible to transactions opened afterwards,
    /// atomically and (for persistent backends) durably.
    ///
    /// # Errors
    /// [`StoreError::WriteTxnPoisoned`] if a write of this transaction failed;
    /// [`StoreError::Full`] or the backend's error. The writes are then discarded.
    fn commit(self) -> StoreResult<()>;

    /// Discards every write of this transaction. Dropping it does the same.
    fn abort(self)
    where
        Self: Sized,
    {
        drop(self);
    }

    /// Removes every key starting with `prefix`; returns how many were removed.
    ///
    /// # Errors
    /// As [`delete_range`](WriteTxn::delete_range).
    fn delete_prefix(&mut self, prefix: &[u8]) -> StoreResult<u64> {
        let end = prefix_successor(prefix);
        let end = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        self.delete_range(Bound::Included(prefix), end)
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when there
/// is none (the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// Whether no key can lie between `start` and `end`. Crossed bounds (start after end) select
/// nothing in every backend; backends whose own range call would reject them check this
/// first.
pub fn range_is_empty(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Bound, prefix_successor, range_is_empty};

    #[test]
    fn crossed_and_empty_bounds() {
        use Bound::{Excluded, Included, Unbounded};
        assert!(range_is_empty(Included(b"b"), Included(b"a")));
        assert!(!range_is_empty(Included(b"a"), Included(b"a")));
        assert!(range_is_empty(Included(b"a"), Excluded(b"a")));
        assert!(range_is_empty(Excluded(b"a"), Included(b"a")));
        assert!(range_is_empty(Excluded(b"a"), Excluded(b"a")));
        assert!(!range_is_empty(Excluded(b"a"), Excluded(b"b")));
        assert!(!range_is_empty(Included(b"z"), Unbounded));
    }

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[1, 2, 3]), Some(vec![1, 2, 4]));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0, 0xfe, 0xff]), Some(vec![0, 0xff]));
    }
}
