//! A read transaction with the `hannoy::Reader` opened on it, owned together so a Python
//! object can keep them (`self_cell`: the reader borrows the transaction).
//!
//! A reader and its transaction are `Sync` on every backend (LMDB's read transaction
//! serializes its own calls into LMDB, which a reader makes only on a chunk's first use),
//! so Python threads search one snapshot in parallel, each with the GIL released.

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
    /// Opens index `index` of `metric` in `txn`; with `hold`, its links and codes are
    /// copied into the reader's memory ([`Reader::hold_in_memory`]).
    fn open(metric: Metric, txn: &'t T, index: u16, hold: bool) -> Result<Self> {
        Ok(match metric {
            Metric::Euclidean => MetricReader::Euclidean(open_reader(txn, index, hold)?),
            Metric::Cosine => MetricReader::Cosine(open_reader(txn, index, hold)?),
            Metric::Dot => MetricReader::Dot(open_reader(txn, index, hold)?),
            Metric::Manhattan => MetricReader::Manhattan(open_reader(txn, index, hold)?),
            Metric::Hamming => MetricReader::Hamming(open_reader(txn, index, hold)?),
            Metric::BqCosine => MetricReader::BqCosine(open_reader(txn, index, hold)?),
            Metric::BqEuclidean => MetricReader::BqEuclidean(open_reader(txn, index, hold)?),
            Metric::BqManhattan => MetricReader::BqManhattan(open_reader(txn, index, hold)?),
        })
    }
}

/// Opens the reader of index `index` in `txn`, holding its links and codes in memory if
/// `hold`.
fn open_reader<'t, M: hannoy::Metric, T: ReadTxn + 't>(
    txn: &'t T,
    index: u16,
    hold: bool,
) -> Result<Reader<'t, M, T>> {
    let mut reader = Reader::open(txn, index)?;
    if hold {
        reader.hold_in_memory()?;
    }
    Ok(reader)
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
    /// LMDB.
    Lmdb(LmdbSnapshot),
    /// redb.
    Redb(RedbSnapshot),
    /// Memory.
    Memory(MemorySnapshot),
}

impl Snapshot {
    /// Opens a read transaction of `store` and the reader of index `index` in it (its
    /// links and codes held in memory if `hold`).
    ///
    /// # Errors
    /// `MissingIndex` if the index was never built, a metric mismatch, store errors.
    pub fn open(store: &Store, metric: Metric, index: u16, hold: bool) -> Result<Snapshot> {
        Ok(match store {
            Store::Lmdb(store) => {
                let txn = LmdbTxn::try_new(store.clone(), |store| store.read_txn())?;
                let cell = LmdbSnapshot::try_new(txn, |txn| {
                    MetricReader::open(metric, txn.borrow_dependent(), index, hold)
                })?;
                Snapshot::Lmdb(cell)
            }
            Store::Redb(store) => {
                Snapshot::Redb(RedbSnapshot::try_new(store.read_txn()?, |txn| {
                    MetricReader::open(metric, txn, index, hold)
                })?)
            }
            Store::Memory(store) => {
                Snapshot::Memory(MemorySnapshot::try_new(store.read_txn()?, |txn| {
                    MetricReader::open(metric, txn, index, hold)
                })?)
            }
        })
    }
}

/// Runs `$body` with `$txn` the snapshot's read transaction and `$reader` its typed
/// `hannoy::Reader`; `$snapshot` is a `&Snapshot`. The body must not touch Python objects
/// (it runs with the GIL released).
macro_rules! with_snapshot {
    ($snapshot:expr, |$txn:ident, $reader:ident| $body:expr) => {
        match $snapshot {
            $crate::snapshot::Snapshot::Lmdb(cell) => cell.with_dependent(|txn, any| {
                let $txn = txn.borrow_dependent();
                $crate::snapshot::on_reader!(any, $reader => $body)
            }),
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
