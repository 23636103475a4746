//! A way in from hannoy 0.3 (feature `import-hannoy`) and arroy 0.9 (feature
//! `import-arroy`): every item of an index written by the published crate, its id and its
//! vector, added to an index of this library, which a build then links.
//!
//! The source database is opened as an LMDB store (`LmdbStore::open` on its directory:
//! both crates keep their keys in the database the application gave them, the
//! environment's unnamed one in the usual setup, where a store reads). Its graph or trees
//! are not carried over (they are stored differently); the build here makes a new graph.
//! Items are read in id order, through the source crate's own reader, and added in batches.
//! Each submodule's docs map its metrics' distance values to ours.

#[cfg(feature = "import-arroy")]
mod arroy;
#[cfg(feature = "import-hannoy")]
mod hannoy_0_3;

#[cfg(feature = "import-arroy")]
pub use self::arroy::{ArroyMetric, from_arroy};
#[cfg(feature = "import-hannoy")]
pub use self::hannoy_0_3::{Hannoy03Metric, from_hannoy_0_3};

use hannoy_graph::store::{StoreError, WriteTxn};
use hannoy_graph::{Error, Result, Writer};
use hannoy_metrics::Metric;
use hannoy_storage::lmdb::LmdbStore;
use hannoy_storage::lmdb::heed::{RoTxn, WithoutTls};

/// Items are added in batches of this many.
const BATCH: usize = 1024;

/// Adds every `(id, vector)` of `items` to `writer`'s index in batches; returns how many.
fn add_in_batches<M: Metric, W: WriteTxn>(
    items: impl Iterator<Item = Result<(u32, Vec<f32>)>>,
    writer: &Writer<M>,
    wtxn: &mut W,
) -> Result<u64> {
    let mut ids = Vec::with_capacity(BATCH);
    let mut rows = Vec::with_capacity(BATCH * writer.dimensions());
    let mut imported = 0u64;
    for item in items {
        let (id, vector) = item?;
        ids.push(id);
        rows.extend_from_slice(&vector);
        if ids.len() == BATCH {
            writer.add_items(wtxn, &ids, &rows)?;
            imported += ids.len() as u64;
            ids.clear();
            rows.clear();
        }
    }
    if !ids.is_empty() {
        writer.add_items(wtxn, &ids, &rows)?;
        imported += ids.len() as u64;
    }
    Ok(imported)
}

/// A read transaction on the source store, for the source crate's reader.
fn source_txn(source: &LmdbStore) -> Result<RoTxn<'_, WithoutTls>> {
    source
        .env()
        .read_txn()
        .map_err(|e| Error::Store(StoreError::backend("lmdb", "import", e)))
}

/// The source's dimensions, when its index says (a built one), against the writer's.
fn check_dimensions(index: u16, source: Option<usize>, ours: usize) -> Result<()> {
    match source {
        Some(dimensions) if dimensions != ours => Err(Error::InvalidParameter(format!(
            "the source index {index} has {dimensions} dimensions, the writer {ours}"
        ))),
        _ => Ok(()),
    }
}
