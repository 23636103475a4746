//! The import from hannoy 0.3 (`hannoy::import`), against databases written by the
//! published crate: every item and vector arrives, one by one; searches work after the
//! build; the distance table of the module docs holds on the same pairs; bad input is a
//! typed error.
#![cfg(feature = "import-hannoy")]

use std::path::Path;

use hannoy::import::{Hannoy03Metric, from_hannoy_0_3};
use hannoy::storage::lmdb::LmdbStore;
use hannoy::{Cosine, Database, Error, Euclidean, Hamming, Manhattan, Reader, WriteTxn, Writer};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const N: u32 = 400;

/// Writes `vectors` (ids `3·i`) into index 2 of a hannoy 0.3 database in `dir`, built if
/// `build`.
fn write_old<D: hannoy_0_3::Distance>(dir: &Path, vectors: &[Vec<f32>], build: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let mut options = heed::EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(64 << 20);
    // SAFETY: the test's own fresh directory, closed before anything else opens it.
    let env = unsafe { options.open(dir).unwrap() };
    let db: hannoy_0_3::Database<D> = env
        .create_databases_and_commit(env.write_txn().unwrap(), |opener, wtxn| {
            let db = opener.create_database(wtxn, None)?;
            Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(db))
        })
        .unwrap()
        .unwrap_commit();
    let mut wtxn = env.write_txn().unwrap();
    let writer = hannoy_0_3::Writer::new(db, 2, vectors[0].len());
    for (i, vector) in vectors.iter().enumerate() {
        writer.add_item(&mut wtxn, 3 * i as u32, vector).unwrap();
    }
    if build {
        writer
            .builder(&mut StdRng::seed_from_u64(1))
            .build::<16, 32>(&mut wtxn)
            .unwrap();
    }
    wtxn.commit().unwrap();
    env.prepare_for_closing().wait();
}

fn vectors(n: u32, dims: usize, binary: bool, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..dims)
                .map(|_| match binary {
                    true => f32::from(rng.random_bool(0.5)),
                    false => rng.random_range(-1.0f32..1.0),
                })
                .collect()
        })
        .collect()
}

/// Imports index 2 of the hannoy 0.3 database in `dir` into a fresh store, builds it, and
/// checks every item against the source one by one; then checks that the distances of
/// the pairs both searches return follow `convert` (hannoy 0.3's value from ours).
fn import_and_compare<M: Hannoy03Metric>(
    vectors: &[Vec<f32>],
    built: bool,
    convert: impl Fn(f32, usize) -> f32,
) {
    let dims = vectors[0].len();
    let temp = tempfile::tempdir().unwrap();
    let old = temp.path().join("old");
    write_old::<M::Source>(&old, vectors, built);
    let source = LmdbStore::open(&old).unwrap();

    let db = Database::in_memory();
    let writer = Writer::<M>::new(0, dims);
    let mut wtxn = db.write_txn().unwrap();
    assert_eq!(
        from_hannoy_0_3(&source, 2, &writer, &mut wtxn).unwrap(),
        vectors.len() as u64
    );
    writer
        .builder(&mut StdRng::seed_from_u64(5))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();

    let rtxn = db.read_txn().unwrap();
    let reader = Reader::<M, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), vectors.len() as u64);
    let old_rtxn = source.env().read_txn().unwrap();
    let old_db: hannoy_0_3::Database<M::Source> = source.database().remap_types();
    let old_items = hannoy_0_3::Writer::new(old_db, 2, dims);
    for (i, vector) in vectors.iter().enumerate() {
        let id = 3 * i as u32;
        let ours = reader.item_vector(&rtxn, id).unwrap().unwrap();
        let theirs = old_items.item_vector(&old_rtxn, id).unwrap().unwrap();
        assert_eq!(ours, theirs, "item {id}");
        assert_eq!(&ours, vector, "item {id}");
    }
    assert!(reader.item_vector(&rtxn, 1).unwrap().is_none());

    if built {
        let old_reader = hannoy_0_3::Reader::open(&old_rtxn, 2, old_db).unwrap();
        let mut pairs = 0;
        for query in vectors.iter().step_by(37) {
            let ours = reader.nns(10).ef_search(200).by_vector(query).unwrap();
            let theirs = old_reader
                .nns(10)
                .ef_search(200)
                .by_vector(&old_rtxn, query)
                .unwrap()
                .nns;
            assert_eq!(ours[0].0, theirs[0].0, "both find the query's own item");
            for (id, distance) in &ours {
                if let Some((_, old)) = theirs.iter().find(|(other, _)| other == id) {
                    let expected = convert(*distance, dims);
                    assert!(
                        (expected - old).abs() <= 1e-4 * old.abs().max(1.0),
                        "{}: item {id}: ours {distance} -> {expected}, hannoy 0.3 {old}",
                        M::NAME
                    );
                    pairs += 1;
                }
            }
        }
        assert!(pairs >= 50, "{pairs} pairs compared");
    }
}

#[test]
fn every_metric_imports_item_by_item_and_distances_follow_the_table() {
    let real = vectors(N, 24, false, 1);
    import_and_compare::<Euclidean>(&real, true, |d, _| d * d);
    import_and_compare::<Cosine>(&real, true, |d, _| d / 2.0);
    import_and_compare::<Manhattan>(&real, true, |d, _| d);
    import_and_compare::<Hamming>(&vectors(N, 64, true, 2), true, |d, dims| d / dims as f32);
}

#[test]
fn an_unbuilt_source_imports_too() {
    import_and_compare::<Euclidean>(&vectors(N, 16, false, 3), false, |d, _| d * d);
}

#[test]
fn bad_sources_are_typed_errors() {
    let temp = tempfile::tempdir().unwrap();
    let old = temp.path().join("old");
    write_old::<hannoy_0_3::distances::Euclidean>(&old, &vectors(50, 16, false, 4), true);
    let source = LmdbStore::open(&old).unwrap();
    let db = Database::in_memory();
    let mut wtxn = db.write_txn().unwrap();
    // Other dimensions than the source's.
    let writer = Writer::<Euclidean>::new(0, 8);
    assert!(matches!(
        from_hannoy_0_3(&source, 2, &writer, &mut wtxn),
        Err(Error::InvalidParameter(_))
    ));
    // An index the source does not have: nothing to import.
    let writer = Writer::<Euclidean>::new(0, 16);
    assert_eq!(from_hannoy_0_3(&source, 7, &writer, &mut wtxn).unwrap(), 0);
    // A directory that is not an LMDB store at all is refused when it opens.
    let bogus = temp.path().join("bogus");
    std::fs::create_dir_all(&bogus).unwrap();
    std::fs::write(bogus.join("data.mdb"), b"not an LMDB file").unwrap();
    assert!(LmdbStore::open(&bogus).is_err());
}
