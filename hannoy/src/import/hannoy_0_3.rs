//! From hannoy 0.3 (feature `import-hannoy`).
//!
//! # Distances
//!
//! The metrics correspond one to one ([`Hannoy03Metric`]), but some distance values
//! differ, so convert thresholds kept from hannoy 0.3 (d: dimensions):
//!
//! | metric | this library | hannoy 0.3 | hannoy 0.3 from ours |
//! |---|---|---|---|
//! | Euclidean | `sqrt(sum (p - q)^2)` | `sum (p - q)^2` | `ours^2` |
//! | Cosine | `1 - cos` (0 to 2) | `(1 - cos) / 2` (0 to 1) | `ours / 2` |
//! | Manhattan | `sum abs(p - q)` | the same | `ours` |
//! | Hamming | differing bits | differing bits / d | `ours / d` |
//!
//! `hannoy/tests/import.rs` checks each row on the pairs both searches return.

use hannoy_0_3::Distance;
use hannoy_graph::store::{StoreError, WriteTxn};
use hannoy_graph::{Error, Result, Writer};
use hannoy_metrics::{Cosine, Euclidean, Hamming, Manhattan, Metric};
use hannoy_storage::lmdb::LmdbStore;

/// A metric of this library with its hannoy 0.3 counterpart.
pub trait Hannoy03Metric: Metric {
    /// The hannoy 0.3 distance an index of this metric is imported from.
    type Source: Distance;
}

impl Hannoy03Metric for Euclidean {
    type Source = hannoy_0_3::distances::Euclidean;
}

impl Hannoy03Metric for Cosine {
    type Source = hannoy_0_3::distances::Cosine;
}

impl Hannoy03Metric for Manhattan {
    type Source = hannoy_0_3::distances::Manhattan;
}

impl Hannoy03Metric for Hamming {
    type Source = hannoy_0_3::distances::Hamming;
}

/// Adds every item of index `index` of the hannoy 0.3 database in `source` to `writer`'s
/// index in `wtxn`; returns how many. Build afterwards (`writer.builder(..).build(wtxn)`)
/// and commit. Items already in the destination with the same ids are replaced, as by
/// `add_item`.
///
/// ```
/// use hannoy::import::from_hannoy_0_3;
/// use hannoy::storage::lmdb::LmdbStore;
/// use hannoy::{Database, Euclidean, Reader, WriteTxn, Writer};
/// use rand::SeedableRng;
///
/// # let dir = tempfile::tempdir()?;
/// # let old_dir = dir.path().join("old");
/// # {
/// #     // A database written by hannoy 0.3.
/// #     use hannoy::storage::lmdb::heed;
/// #     std::fs::create_dir_all(&old_dir)?;
/// #     let env = unsafe { heed::EnvOpenOptions::new().read_txn_without_tls().open(&old_dir)? };
/// #     let db: hannoy_0_3::Database<hannoy_0_3::distances::Euclidean> = env
/// #         .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
/// #             let db = opener.create_database(wtxn, None)?;
/// #             Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(db))
/// #         })?
/// #         .unwrap_commit();
/// #     let mut wtxn = env.write_txn()?;
/// #     let writer = hannoy_0_3::Writer::new(db, 0, 3);
/// #     for id in 0..10u32 {
/// #         writer.add_item(&mut wtxn, id, &[id as f32, 1.0, 2.0])?;
/// #     }
/// #     writer.builder(&mut rand::rngs::StdRng::seed_from_u64(0)).build::<16, 32>(&mut wtxn)?;
/// #     wtxn.commit()?;
/// #     env.prepare_for_closing().wait();
/// # }
/// let source = LmdbStore::open(&old_dir)?; // hannoy 0.3's directory
/// let db = Database::open(dir.path().join("new"))?;
/// let writer = Writer::<Euclidean>::new(0, 3);
/// let mut wtxn = db.write_txn()?;
/// let imported = from_hannoy_0_3(&source, 0, &writer, &mut wtxn)?;
/// writer.builder(&mut rand::rngs::StdRng::seed_from_u64(7)).build(&mut wtxn)?;
/// wtxn.commit()?;
/// assert_eq!(imported, 10);
///
/// let rtxn = db.read_txn()?;
/// let reader = Reader::<Euclidean, _>::open(&rtxn, 0)?;
/// assert_eq!(reader.item_vector(&rtxn, 4)?, Some(vec![4.0, 1.0, 2.0]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParameter`] when the source index has other dimensions than `writer`;
/// [`StoreError::Backend`] for hannoy 0.3's errors reading the source; the errors of
/// [`Writer::add_items`] (a vector this library refuses: NaN, a zero vector under cosine);
/// the destination's store errors.
pub fn from_hannoy_0_3<M: Hannoy03Metric, W: WriteTxn>(
    source: &LmdbStore,
    index: u16,
    writer: &Writer<M>,
    wtxn: &mut W,
) -> Result<u64> {
    let failed =
        |e: hannoy_0_3::Error| Error::Store(StoreError::backend("hannoy 0.3", "import", e));
    let rtxn = super::source_txn(source)?;
    let database: hannoy_0_3::Database<M::Source> = source.database().remap_types();
    // A built source says its dimensions; an unbuilt one is read item by item, each checked
    // by `add_items`.
    let dimensions = hannoy_0_3::Reader::open(&rtxn, index, database)
        .ok()
        .map(|reader| reader.dimensions());
    super::check_dimensions(index, dimensions, writer.dimensions())?;
    let items = hannoy_0_3::Writer::new(database, index, writer.dimensions());
    let items = items.iter(&rtxn).map_err(failed)?;
    super::add_in_batches(items.map(|item| item.map_err(failed)), writer, wtxn)
}
