//! From arroy 0.9 (feature `import-arroy`; it builds beside this library's heed 0.23).
//!
//! # Distances
//!
//! The metrics correspond one to one ([`ArroyMetric`]); convert thresholds kept from arroy
//! with:
//!
//! | metric | this library | arroy 0.9 | arroy from ours |
//! |---|---|---|---|
//! | Euclidean | `sqrt(sum (p - q)^2)` | the same | `ours` |
//! | Cosine | `1 - cos` (0 to 2) | `(1 - cos) / 2` (0 to 1) | `ours / 2` |
//! | Manhattan | `sum abs(p - q)` | the same | `ours` |
//!
//! `hannoy/tests/import.rs` checks each row on the pairs both searches return. arroy's
//! dot product stores its vectors rescaled (an extra component), so its items are not
//! imported as the vectors given to it; it is left out.

use hannoy_graph::store::{StoreError, WriteTxn};
use hannoy_graph::{Error, Result, Writer};
use hannoy_metrics::{Cosine, Euclidean, Manhattan, Metric};
use hannoy_storage::lmdb::LmdbStore;

/// A metric of this library with its arroy 0.9 counterpart.
pub trait ArroyMetric: Metric {
    /// The arroy distance an index of this metric is imported from.
    type Source: ::arroy::Distance;
}

impl ArroyMetric for Euclidean {
    type Source = ::arroy::distances::Euclidean;
}

impl ArroyMetric for Cosine {
    type Source = ::arroy::distances::Cosine;
}

impl ArroyMetric for Manhattan {
    type Source = ::arroy::distances::Manhattan;
}

/// Adds every item of index `index` of the arroy 0.9 database in `source` to `writer`'s
/// index in `wtxn`; returns how many. Build afterwards and commit (as with
/// [`from_hannoy_0_3`](super::from_hannoy_0_3), whose example this follows).
///
/// # Errors
/// [`Error::InvalidParameter`] when the source index has other dimensions than `writer`;
/// [`StoreError::Backend`] for arroy's errors reading the source; the errors of
/// [`Writer::add_items`]; the destination's store errors.
pub fn from_arroy<M: ArroyMetric, W: WriteTxn>(
    source: &LmdbStore,
    index: u16,
    writer: &Writer<M>,
    wtxn: &mut W,
) -> Result<u64> {
    let failed = |e: ::arroy::Error| Error::Store(StoreError::backend("arroy", "import", e));
    let rtxn = super::source_txn(source)?;
    let database: ::arroy::Database<'static, M::Source> = source.database().remap_types();
    let dimensions = ::arroy::Reader::open(&rtxn, index, database)
        .ok()
        .map(|reader| reader.dimensions());
    super::check_dimensions(index, dimensions, writer.dimensions())?;
    let items = ::arroy::Writer::new(database, index, writer.dimensions());
    let items = items.iter(&rtxn).map_err(failed)?;
    super::add_in_batches(items.map(|item| item.map_err(failed)), writer, wtxn)
}
