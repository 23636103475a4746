//! A read transaction with the `hannoy::Reader` opened on it, owned together so a Python
//! object can keep them (`self_cell`: the reader borrows the transaction).
//!
//! A reader is `Sync` on every backend, but an LMDB read transaction is not (LMDB forbids
//! two threads using one at once), so the LMDB snapshot sits behind a mutex; redb's and
//! memory's transactions are `Sync` and need none. Searches never touch the Python
//! interpreter while they hold the mutex, so it cannot deadlock with the GIL.

use std::sync::{Mutex, PoisonError};

use hannoy::storage::lmdb::{LmdbReadTxn, LmdbStore};
use hannoy::storage::memory::MemoryReadTxn;
use hannoy::storage::redb::RedbReadTxn;
use hannoy::{KvStore, ReadTxn, Reader, Result};
use self_cell::self_cell;

use crate::metric::Metric;
use crate::store::Store;

/// A reader of one of the metrics, over transactions of type `T`.
pub enum MetricReader<'t, T: ReadTxn + 't> {
    /// Euclidean.
    Euclidean(Reader<'t, hannoy::Euclidean, T>),
    /// Cosine.
    Cosine(Reader<'t, hannoy::Cosine, T>),
    /// Dot product.
    Dot(Reader<'t, hannoy::DotProduct, T>),
    /// Manhattan.
    Manhattan(Reader<'t, hannoy::Manhattan, T>),
    /// Hamming.
    Hamming(Reader<'t, hannoy::Hamming, T>),
    /// Binary-quantized cosine.
    BqCosine(Reader<'t, hannoy::BinaryQuantizedCosine, T>),
    /// Binary-quantized Euclidean.
    BqEuclidean(Reader<'t, hannoy::BinaryQuantizedEuclidean, T>),
    /// Binary-quantized Manhattan.
    BqManhattan(Reader<'t, hannoy::BinaryQuantizedManhattan, T>),
}

impl<'t, T: ReadTxn + 't> MetricReader<'t, T> {
    /// Opens index `index` of `metric` in `txn`.
    fn open(metric: Metric, txn: &'t T, index: u16) -> Result<Self> {
        Ok(match metric {
            Metric::Euclidean => MetricReader::Euclidean(Reader::open(txn, index)?),
            Metric::Cosine => MetricReader::Cosine(Reader::open(txn, index)?),
            Metric::Dot => MetricReader::Dot(Reader::open(txn, index)?),
            Metric::Manhattan => MetricReader::Manhattan(Reader::open(txn, index)?),
            Metric::Hamming => MetricReader::Hamming(Reader::open(txn, index)?),
            Metric::BqCosine => MetricReader::BqCosine(Reader::open(txn, index)?),
            Metric::BqEuclidean => MetricReader::BqEuclidean(Reader::open(txn, index)?),
            Metric::BqManhattan => MetricReader::BqManhattan(Reader::open(txn, index)?),
        })
    }
}

/// Runs `$body` with `$reader` bound to the typed `hannoy::Reader` inside `$any` (a
/// `&MetricReader`).
macro_rules! on_reader {
    ($any:expr, $reader:ident => $body:expr) => {
        match $any {
            $crate::snapshot::MetricReader::Euclidean($reader) => $body,
            $crate::snapshot::MetricReader::Cosine($reader) => $body,
            $crate::snapshot::MetricReader::Dot($reader) => $body,
            $crate::snapshot::MetricReader::Manhattan($reader) => $body,
            $crate::snapshot::MetricReader::Hamming($reader) => $body,
            $crate::snapshot::MetricReader::BqCosine($reader) => $body,
            $crate::snapshot::MetricReader::BqEuclidean($reader) => $body,
            $crate::snapshot::MetricReader::BqManhattan($reader) => $body,
        }
    };
}

self_cell!(
    /// An LMDB read transaction with the store it borrows.
    pub struct LmdbTxn {
        owner: LmdbStore,
        #[covariant]
        dependent: LmdbReadTxn,
    }
);

type LmdbReaderOf<'t> = MetricReader<'t, LmdbReadTxn<'t>>;
type RedbReaderOf<'t> = MetricReader<'t, RedbReadTxn>;
type MemoryReaderOf<'t> = MetricReader<'t, MemoryReadTxn>;

self_cell!(
    /// An LMDB snapshot and its reader.
    pub struct LmdbSnapshot {
        owner: LmdbTxn,
        #[not_covariant]
        dependent: LmdbReaderOf,
    }
);

self_cell!(
    /// A redb snapshot and its reader.
    pub struct RedbSnapshot {
        owner: RedbReadTxn,
        #[not_covariant]
        dependent: RedbReaderOf,
    }
);

self_cell!(
    /// A memory snapshot and its reader.
    pub struct MemorySnapshot {
        owner: MemoryReadTxn,
        #[not_covariant]
        dependent: MemoryReaderOf,
    }
);

/// A read transaction of any backend with the reader of one index.
pub enum Snapshot {
    /// LMDB, behind a mutex (see the module docs).
    Lmdb(Mutex<LmdbSnapshot>),
    /// redb.
    Redb(RedbSnapshot),
    /// Memory.
    Memory(MemorySnapshot),
}

impl Snapshot {
    /// Opens a read transaction of `store` and the reader of index `index` in it.
    ///
    /// # Errors
    /// `MissingIndex` if the index was never built, a metric mismatch, store errors.
    pub fn open(store: &Store, metric: Metric, index: u16) -> Result<Snapshot> {
        Ok(match store {
            Store::Lmdb(store) => {
                let txn = LmdbTxn::try_new(store.clone(), |store| store.read_txn())?;
                let cell = LmdbSnapshot::try_new(txn, |txn| {
                    MetricReader::open(metric, txn.borrow_dependent(), index)
                })?;
                Snapshot::Lmdb(Mutex::new(cell))
            }
            Store::Redb(store) => {
                Snapshot::Redb(RedbSnapshot::try_new(store.read_txn()?, |txn| {
                    MetricReader::open(metric, txn, index)
                })?)
            }
            Store::Memory(store) => {
                Snapshot::Memory(MemorySnapshot::try_new(store.read_txn()?, |txn| {
                    MetricReader::open(metric, txn, index)
                })?)
            }
        })
    }
}

/// Runs `$body` with `$txn` the snapshot's read transaction and `$reader` its typed
/// `hannoy::Reader`; `$snapshot` is a `&Snapshot`. The body must not touch Python objects
/// (it may run under the LMDB mutex).
macro_rules! with_snapshot {
    ($snapshot:expr, |$txn:ident, $reader:ident| $body:expr) => {
        match $snapshot {
            $crate::snapshot::Snapshot::Lmdb(cell) => {
                let cell = $crate::snapshot::lock(cell);
                cell.with_dependent(|txn, any| {
                    let $txn = txn.borrow_dependent();
                    $crate::snapshot::on_reader!(any, $reader => $body)
                })
            }
            $crate::snapshot::Snapshot::Redb(cell) => cell.with_dependent(|$txn, any| {
                $crate::snapshot::on_reader!(any, $reader => $body)
            }),
            $crate::snapshot::Snapshot::Memory(cell) => cell.with_dependent(|$txn, any| {
                $crate::snapshot::on_reader!(any, $reader => $body)
            }),
        }
    };
}

pub(crate) use {on_reader, with_snapshot};

/// Locks the LMDB snapshot. A panic cannot leave it half-changed (searches only read it),
/// so a poisoned lock is used as it is.
pub fn lock(cell: &Mutex<LmdbSnapshot>) -> std::sync::MutexGuard<'_, LmdbSnapshot> {
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}
