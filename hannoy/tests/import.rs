//! The imports from hannoy 0.3 and arroy 0.9 (`hannoy::import`), against databases written
//! by the published crates: every item and vector arrives, one by one; searches work after
//! the build; the distance tables of the module docs hold on the same pairs; bad input is
//! a typed error.
#![cfg(all(feature = "import-hannoy", feature = "import-arroy"))]

use std::num::NonZeroUsize;
use std::path::Path;

use hannoy::import::{ArroyMetric, Hannoy03Metric, from_arroy, from_hannoy_0_3};
use hannoy::storage::lmdb::LmdbStore;
use hannoy::{
    Cosine, Database, Error, Euclidean, Hamming, Manhattan, Metric, Reader, WriteTxn, Writer,
};
use heed::types::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const N: u32 = 400;
/// The source's index number.
const INDEX: u16 = 2;

/// A crate an index is imported from, for metric `M`.
trait Source<M: Metric> {
    /// Writes `vectors` (ids `3·i`) into index [`INDEX`] of a database in `dir`, built if
    /// `build`.
    fn write(dir: &Path, vectors: &[Vec<f32>], build: bool);
    fn import<W: WriteTxn>(
        source: &LmdbStore,
        index: u16,
        writer: &Writer<M>,
        wtxn: &mut W,
    ) -> hannoy::Result<u64>;
    /// Item `id`'s vector as the source crate reads it.
    fn vector(source: &LmdbStore, id: u32, dimensions: usize) -> Vec<f32>;
    /// The source's 10 nearest to `query`, with its distances.
    fn search(source: &LmdbStore, query: &[f32]) -> Vec<(u32, f32)>;
}

/// An environment in `dir` with its unnamed database, in the source crate's types.
fn create<K: 'static, V: 'static>(
    dir: &Path,
) -> (heed::Env<heed::WithoutTls>, heed::Database<'static, K, V>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut options = heed::EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(64 << 20);
    // SAFETY: the test's own fresh directory, closed before anything else opens it.
    let env = unsafe { options.open(dir).unwrap() };
    let db = env
        .create_databases_and_commit(env.write_txn().unwrap(), |opener, wtxn| {
            let db = opener.create_database::<Bytes, Bytes>(wtxn, None)?;
            Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(db))
        })
        .unwrap()
        .unwrap_commit();
    (env, db.remap_types())
}

struct Hannoy03;

/// Writes `vectors` as items `id(i)` into index `index` of a hannoy 0.3 database in `dir`,
/// built with M = 16, M0 = 32 and `seed` if `build`.
fn write_hannoy_0_3<M: Hannoy03Metric>(
    dir: &Path,
    index: u16,
    vectors: &[Vec<f32>],
    id: impl Fn(usize) -> u32,
    build: Option<u64>,
) {
    let (env, db) = create(dir);
    let writer = hannoy_0_3::Writer::<M::Source>::new(db, index, vectors[0].len());
    let mut wtxn = env.write_txn().unwrap();
    for (i, vector) in vectors.iter().enumerate() {
        writer.add_item(&mut wtxn, id(i), vector).unwrap();
    }
    if let Some(seed) = build {
        let mut rng = StdRng::seed_from_u64(seed);
        writer.builder(&mut rng).build::<16, 32>(&mut wtxn).unwrap();
    }
    wtxn.commit().unwrap();
    env.prepare_for_closing().wait();
}

impl<M: Hannoy03Metric> Source<M> for Hannoy03 {
    fn write(dir: &Path, vectors: &[Vec<f32>], build: bool) {
        let id = |i: usize| 3 * i as u32;
        write_hannoy_0_3::<M>(dir, INDEX, vectors, id, build.then_some(1));
    }

    fn import<W: WriteTxn>(
        source: &LmdbStore,
        index: u16,
        writer: &Writer<M>,
        wtxn: &mut W,
    ) -> hannoy::Result<u64> {
        from_hannoy_0_3(source, index, writer, wtxn)
    }

    fn vector(source: &LmdbStore, id: u32, dimensions: usize) -> Vec<f32> {
        let rtxn = source.env().read_txn().unwrap();
        let db: hannoy_0_3::Database<M::Source> = source.database().remap_types();
        let writer = hannoy_0_3::Writer::new(db, INDEX, dimensions);
        writer.item_vector(&rtxn, id).unwrap().unwrap()
    }

    fn search(source: &LmdbStore, query: &[f32]) -> Vec<(u32, f32)> {
        let rtxn = source.env().read_txn().unwrap();
        let db: hannoy_0_3::Database<M::Source> = source.database().remap_types();
        let reader = hannoy_0_3::Reader::open(&rtxn, INDEX, db).unwrap();
        let found = reader.nns(10).ef_search(200).by_vector(&rtxn, query);
        found.unwrap().nns
    }
}

struct Arroy;

impl<M: ArroyMetric> Source<M> for Arroy {
    fn write(dir: &Path, vectors: &[Vec<f32>], build: bool) {
        let (env, db) = create(dir);
        let writer = arroy::Writer::<M::Source>::new(db, INDEX, vectors[0].len());
        let mut wtxn = env.write_txn().unwrap();
        for (i, vector) in vectors.iter().enumerate() {
            writer.add_item(&mut wtxn, 3 * i as u32, vector).unwrap();
        }
        if build {
            let mut rng = StdRng::seed_from_u64(1);
            writer.builder(&mut rng).build(&mut wtxn).unwrap();
        }
        wtxn.commit().unwrap();
        env.prepare_for_closing().wait();
    }

    fn import<W: WriteTxn>(
        source: &LmdbStore,
        index: u16,
        writer: &Writer<M>,
        wtxn: &mut W,
    ) -> hannoy::Result<u64> {
        from_arroy(source, index, writer, wtxn)
    }

    fn vector(source: &LmdbStore, id: u32, dimensions: usize) -> Vec<f32> {
        let rtxn = source.env().read_txn().unwrap();
        let db: arroy::Database<M::Source> = source.database().remap_types();
        let writer = arroy::Writer::new(db, INDEX, dimensions);
        writer.item_vector(&rtxn, id).unwrap().unwrap()
    }

    fn search(source: &LmdbStore, query: &[f32]) -> Vec<(u32, f32)> {
        let rtxn = source.env().read_txn().unwrap();
        let db: arroy::Database<M::Source> = source.database().remap_types();
        let reader = arroy::Reader::open(&rtxn, INDEX, db).unwrap();
        let mut search = reader.nns(10);
        // Every tree searched through: exact on these few items.
        search.search_k(NonZeroUsize::new(100_000).unwrap());
        search.by_vector(&rtxn, query).unwrap()
    }
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

/// Imports the source's index into a fresh store, builds it, and checks every item against
/// the source one by one; then, on a built source, that the distances of the pairs both
/// searches return follow `convert` (the source's value from ours).
fn import_and_compare<M: Metric, S: Source<M>>(
    vectors: &[Vec<f32>],
    built: bool,
    convert: impl Fn(f32, usize) -> f32,
) {
    let dims = vectors[0].len();
    let temp = tempfile::tempdir().unwrap();
    let old = temp.path().join("old");
    S::write(&old, vectors, built);
    let source = LmdbStore::open(&old).unwrap();

    let db = Database::in_memory();
    let writer = Writer::<M>::new(0, dims);
    let mut wtxn = db.write_txn().unwrap();
    let imported = S::import(&source, INDEX, &writer, &mut wtxn).unwrap();
    assert_eq!(imported, vectors.len() as u64);
    writer
        .builder(&mut StdRng::seed_from_u64(5))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();

    let rtxn = db.read_txn().unwrap();
    let reader = Reader::<M, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), vectors.len() as u64);
    for (i, vector) in vectors.iter().enumerate() {
        let id = 3 * i as u32;
        let ours = reader.item_vector(&rtxn, id).unwrap().unwrap();
        assert_eq!(ours, S::vector(&source, id, dims), "item {id}");
        assert_eq!(&ours, vector, "item {id}");
    }
    assert!(reader.item_vector(&rtxn, 1).unwrap().is_none());
    if !built {
        return;
    }
    let mut pairs = 0;
    for query in vectors.iter().step_by(37) {
        let ours = reader.nns(10).ef_search(200).by_vector(query).unwrap();
        let theirs = S::search(&source, query);
        for (id, distance) in &ours {
            if let Some((_, old)) = theirs.iter().find(|(other, _)| other == id) {
                let expected = convert(*distance, dims);
                assert!(
                    (expected - old).abs() <= 1e-4 * old.abs().max(1.0),
                    "{}: item {id}: ours {distance} -> {expected}, the source's {old}",
                    M::NAME
                );
                pairs += 1;
            }
        }
    }
    assert!(pairs >= 50, "{pairs} pairs compared");
}

#[test]
fn hannoy_0_3_imports_item_by_item_and_distances_follow_the_table() {
    let real = vectors(N, 24, false, 1);
    import_and_compare::<Euclidean, Hannoy03>(&real, true, |d, _| d * d);
    import_and_compare::<Cosine, Hannoy03>(&real, true, |d, _| d / 2.0);
    import_and_compare::<Manhattan, Hannoy03>(&real, true, |d, _| d);
    let binary = vectors(N, 64, true, 2);
    import_and_compare::<Hamming, Hannoy03>(&binary, true, |d, dims| d / dims as f32);
    import_and_compare::<Euclidean, Hannoy03>(&vectors(N, 16, false, 3), false, |d, _| d);
}

#[test]
fn arroy_imports_item_by_item_and_distances_follow_the_table() {
    let real = vectors(N, 24, false, 4);
    import_and_compare::<Euclidean, Arroy>(&real, true, |d, _| d);
    import_and_compare::<Cosine, Arroy>(&real, true, |d, _| d / 2.0);
    import_and_compare::<Manhattan, Arroy>(&real, true, |d, _| d);
    import_and_compare::<Cosine, Arroy>(&vectors(N, 16, false, 5), false, |d, _| d);
}

#[test]
fn bad_sources_are_typed_errors() {
    let temp = tempfile::tempdir().unwrap();
    let old = temp.path().join("old");
    <Hannoy03 as Source<Euclidean>>::write(&old, &vectors(50, 16, false, 6), true);
    let source = LmdbStore::open(&old).unwrap();
    let db = Database::in_memory();
    let mut wtxn = db.write_txn().unwrap();
    // Other dimensions than the source's.
    let writer = Writer::<Euclidean>::new(0, 8);
    assert!(matches!(
        from_hannoy_0_3(&source, INDEX, &writer, &mut wtxn),
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

/// The conformance suite checks that stores written by hannoy 0.3 are refused as foreign on
/// every backend; so that it builds without the published crate, it reads them from files,
/// `tests/fixtures/hannoy-0.3-{built,unbuilt}.kv`: every key and value of index 0 holding
/// 40 Euclidean vectors of 4 dimensions as items `0..40`, each field a little-endian `u32`
/// length and its bytes. This checks that the unbuilt one is what hannoy 0.3 writes, byte
/// for byte, and that hannoy 0.3 opens the built one (its parallel build links differently
/// from run to run) and reads back every vector; `HANNOY_WRITE_FIXTURES=1` writes them anew.
#[test]
fn conformance_fixtures_are_what_hannoy_0_3_writes() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let rewrite = std::env::var_os("HANNOY_WRITE_FIXTURES").is_some_and(|v| v == "1");
    for (name, build) in [("built", Some(0)), ("unbuilt", None)] {
        let temp = tempfile::tempdir().unwrap();
        let vectors = vectors(40, 4, false, 9);
        write_hannoy_0_3::<Euclidean>(temp.path(), 0, &vectors, |i| i as u32, build);
        let source = LmdbStore::open(temp.path()).unwrap();
        let rtxn = source.env().read_txn().unwrap();
        let mut bytes = Vec::new();
        for entry in source.database().iter(&rtxn).unwrap() {
            let (key, value) = entry.unwrap();
            for field in [key, value] {
                bytes.extend_from_slice(&u32::try_from(field.len()).unwrap().to_le_bytes());
                bytes.extend_from_slice(field);
            }
        }
        let path = fixtures.join(format!("hannoy-0.3-{name}.kv"));
        if rewrite {
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if build.is_some() {
            assert_hannoy_0_3_reads(&stored, &vectors);
            continue;
        }
        assert!(
            stored == bytes,
            "{} is not what hannoy 0.3 writes ({} bytes against {}); \
             HANNOY_WRITE_FIXTURES=1 cargo test -p hannoy --all-features --test import \
             writes it anew",
            path.display(),
            stored.len(),
            bytes.len()
        );
    }
}

/// Loads the fixture `bytes` into a fresh LMDB environment and checks that hannoy 0.3 opens
/// index 0 as a built index holding `vectors` as items `0..`.
fn assert_hannoy_0_3_reads(bytes: &[u8], vectors: &[Vec<f32>]) {
    let temp = tempfile::tempdir().unwrap();
    let (env, db) = create::<Bytes, Bytes>(temp.path());
    let mut wtxn = env.write_txn().unwrap();
    let mut rest = bytes;
    let mut next = || {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let (field, tail) = tail.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        rest = tail;
        Some(field)
    };
    while let Some(key) = next() {
        db.put(&mut wtxn, key, next().expect("a value")).unwrap();
    }
    wtxn.commit().unwrap();
    let rtxn = env.read_txn().unwrap();
    let db: hannoy_0_3::Database<hannoy_0_3::distances::Euclidean> = db.remap_types();
    let reader = hannoy_0_3::Reader::open(&rtxn, 0, db).unwrap();
    assert_eq!(reader.n_items(), vectors.len() as u64);
    for (id, vector) in vectors.iter().enumerate() {
        assert_eq!(
            reader.item_vector(&rtxn, id as u32).unwrap().as_ref(),
            Some(vector)
        );
    }
}
