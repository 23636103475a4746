//! Behaviour of the index (writer, build, reader, search) on every backend.

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, Euclidean, Metric, VectorError};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::Backend;
use crate::failpoint::FailingStore;
use crate::store_suite::{all, fresh};

/// `n` random vectors of `dim` components in [-1, 1), from `seed`.
pub fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

/// The exact `k` nearest ids of `query` among `items`, under `M`.
pub fn exact_top<M: Metric>(items: &[(u32, Vec<f32>)], query: &[f32], k: usize) -> Vec<u32> {
    let (mut q, mut v) = (Vec::new(), Vec::new());
    M::encode(query, &mut q).expect("valid query");
    let mut scored: Vec<(f32, u32)> = items
        .iter()
        .map(|(id, vector)| {
            v.clear();
            M::encode(vector, &mut v).expect("valid vector");
            (M::distance(&q, &v), *id)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Adds every item, builds with `seed` and commits; returns the build's stats.
pub fn add_and_build<S: KvStore, M: Metric>(
    store: &S,
    writer: &Writer<M>,
    items: &[(u32, Vec<f32>)],
    seed: u64,
) -> hannoy_graph::BuildStats {
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in items {
        writer.add_item(&mut wtxn, *id, vector).unwrap();
    }
    let stats = writer
        .builder(&mut StdRng::seed_from_u64(seed))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    stats
}

/// Mean recall@k of the index against exact search, over `queries`.
pub fn recall<M: Metric, T: ReadTxn>(
    reader: &Reader<'_, M, T>,
    items: &[(u32, Vec<f32>)],
    queries: &[Vec<f32>],
    k: usize,
    ef: usize,
) -> f64 {
    let mut total = 0.0;
    for query in queries {
        let truth = exact_top::<M>(items, query, k);
        let found = reader.nns(k).ef_search(ef).by_vector(query).unwrap();
        let hits = found.iter().filter(|(id, _)| truth.contains(id)).count();
        total += hits as f64 / truth.len().max(1) as f64;
    }
    total / queries.len() as f64
}

fn assert_valid<M: Metric, T: ReadTxn>(reader: &Reader<'_, M, T>, txn: &T) {
    let report = reader.check(txn).unwrap();
    assert!(report.is_valid(), "invalid graph: {report}");
}

fn numbered(vectors: Vec<Vec<f32>>) -> Vec<(u32, Vec<f32>)> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u32 * 3 + 1, v))
        .collect()
}

pub fn build_and_search_finds_true_neighbours<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(2000, 24, 1));
    let writer = Writer::<Cosine>::new(0, 24);
    add_and_build(&store, &writer, &items, 7);

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    assert_eq!(reader.len(), 2000);
    assert_eq!(reader.dimensions(), 24);
    let queries = random_vectors(50, 24, 2);
    let r = recall(&reader, &items, &queries, 10, 64);
    assert!(r >= 0.95, "recall@10 at ef 64 is {r}");

    // Results are sorted and carry the user-facing distance.
    let found = reader.nns(10).by_vector(&queries[0]).unwrap();
    assert_eq!(found.len(), 10);
    assert!(found.windows(2).all(|w| w[0].1 <= w[1].1));
    let (id, distance) = found[0];
    let vector = &items.iter().find(|(i, _)| *i == id).unwrap().1;
    let dot: f32 = vector.iter().zip(&queries[0]).map(|(a, b)| a * b).sum();
    let norms = vector.iter().map(|x| x * x).sum::<f32>().sqrt()
        * queries[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(
        (distance - (1.0 - dot / norms)).abs() < 1e-4,
        "{distance} vs {}",
        1.0 - dot / norms
    );

    // By item: the item itself comes first.
    let by_item = reader.nns(5).by_item(&rtxn, id).unwrap();
    assert_eq!(by_item[0].0, id);
    assert!(by_item[0].1.abs() < 1e-5);
    assert!(matches!(
        reader.nns(5).by_item(&rtxn, 2),
        Err(Error::ItemNotFound(2))
    ));
}

pub fn small_and_empty_indexes<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(3, 4);
    // Building an index with no items makes an empty index.
    let mut wtxn = store.write_txn().unwrap();
    writer
        .builder(&mut StdRng::seed_from_u64(0))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 3).unwrap();
    assert!(reader.is_empty());
    assert_eq!(reader.nns(10).by_vector(&[0.0; 4]).unwrap(), vec![]);
    assert_valid(&reader, &rtxn);
    drop(reader);
    drop(rtxn);

    // k larger than the index gives every item, in order.
    let items: Vec<(u32, Vec<f32>)> = (0..5).map(|i| (i, vec![i as f32; 4])).collect();
    add_and_build(&store, &writer, &items, 1);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 3).unwrap();
    let found = reader.nns(10).by_vector(&[0.1; 4]).unwrap();
    assert_eq!(
        found.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(
        (found[1].1 - (0.9f32 * 0.9 * 4.0).sqrt()).abs() < 1e-5,
        "Euclidean gives the L2 distance"
    );
    assert_eq!(reader.nns(0).by_vector(&[0.1; 4]).unwrap(), vec![]);
    assert!(matches!(
        Reader::<Euclidean, _>::open(&rtxn, 4),
        Err(Error::MissingIndex(4))
    ));
}

pub fn bad_input_is_a_typed_error_and_writes_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, 3);
    add_and_build(&store, &writer, &[(1, vec![1.0, 0.0, 0.0])], 0);
    let before = all(&store.read_txn().unwrap());

    let mut wtxn = store.write_txn().unwrap();
    let err = writer.add_item(&mut wtxn, 2, &[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                expected: 3,
                found: 2
            }
        ),
        "{err}"
    );
    let err = writer
        .add_item(&mut wtxn, 2, &[1.0, f32::NAN, 0.0])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            item: Some(2),
            source: VectorError::NonFinite { index: 1 }
        }
    ));
    let err = writer
        .add_item(&mut wtxn, 2, &[0.0, f32::INFINITY, 0.0])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            source: VectorError::NonFinite { .. },
            ..
        }
    ));
    let err = writer.add_item(&mut wtxn, 2, &[0.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            source: VectorError::ZeroNorm,
            ..
        }
    ));
    for (m, m0, ef) in [(1, 32, 100), (17, 16, 100), (16, 32, 8), (16, 300, 100)] {
        let err = writer
            .builder(&mut StdRng::seed_from_u64(0))
            .m(m)
            .m0(m0)
            .ef_construction(ef)
            .build(&mut wtxn);
        assert!(
            matches!(err, Err(Error::InvalidParameter(_))),
            "m {m} m0 {m0} ef {ef}"
        );
    }
    // Other settings than the index has.
    let other = Writer::<Cosine>::new(0, 4);
    assert!(matches!(
        other.add_item(&mut wtxn, 9, &[1.0; 4]),
        Err(Error::IndexDimensionMismatch { .. })
    ));
    let euclid = Writer::<Euclidean>::new(0, 3);
    assert!(matches!(
        euclid.add_item(&mut wtxn, 9, &[1.0; 3]),
        Err(Error::MetricMismatch { .. })
    ));
    wtxn.commit().unwrap();
    assert_eq!(
        all(&store.read_txn().unwrap()),
        before,
        "rejected input left a trace"
    );

    let rtxn = store.read_txn().unwrap();
    assert!(matches!(
        Reader::<Euclidean, _>::open(&rtxn, 0),
        Err(Error::MetricMismatch { .. })
    ));
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert!(matches!(
        reader.nns(1).by_vector(&[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vector(&[f32::NAN, 0.0, 0.0]),
        Err(Error::InvalidVector { item: None, .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vector(&[0.0; 3]),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vectors(&[1.0; 4]),
        Err(Error::DimensionMismatch { .. })
    ));
}

pub fn foreign_or_newer_bytes_are_refused<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, 3);
    add_and_build(
        &store,
        &writer,
        &[(1, vec![1.0, 0.0, 0.0]), (2, vec![0.0, 1.0, 0.0])],
        0,
    );
    let meta_key = hannoy_graph::format::key::prefix(0, hannoy_graph::format::key::Tag::Metadata);
    let stored = store
        .read_txn()
        .unwrap()
        .get(&meta_key)
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec();

    // A newer format version.
    let mut newer = stored.clone();
    newer[4..8].copy_from_slice(&(hannoy_graph::format::FORMAT_VERSION + 1).to_le_bytes());
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(&meta_key, &newer).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let err = Reader::<Cosine, _>::open(&rtxn, 0).err().expect("refused");
    assert!(
        matches!(err, Error::Store(StoreError::VersionMismatch { .. })),
        "{err}"
    );
    drop(rtxn);

    // Foreign bytes, and every truncation of the real metadata.
    for bytes in std::iter::once(b"not an index".to_vec())
        .chain((0..stored.len()).map(|n| stored[..n].to_vec()))
    {
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(&meta_key, &bytes).unwrap();
        wtxn.commit().unwrap();
        let rtxn = store.read_txn().unwrap();
        let err = Reader::<Cosine, _>::open(&rtxn, 0).err().expect("refused");
        assert!(
            matches!(err, Error::Store(StoreError::Corrupted { .. })),
            "{err}"
        );
    }

    // A cut chunk: the reader refuses it instead of reading past its end.
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(&meta_key, &stored).unwrap();
    let chunk_key = hannoy_graph::format::key::links(0, 0, 0);
    let chunk = wtxn.get(&chunk_key).unwrap().unwrap().as_ref().to_vec();
    wtxn.put(&chunk_key, &chunk[..chunk.len() - 1]).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let err = crate::read_everything::<Cosine, _>(&rtxn, 0).expect_err("refused");
    assert!(
        matches!(err, Error::Store(StoreError::Corrupted { .. })),
        "{err}"
    );
}

pub fn second_build_inserts_only_new_items<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(1500, 16, 3));
    let writer = Writer::<Euclidean>::new(0, 16);
    let first = add_and_build(&store, &writer, &items[..1000], 1);
    assert_eq!(first.inserted, 1000);
    let second = add_and_build(&store, &writer, &items[1000..], 2);
    assert_eq!(second.inserted, 500);
    assert!(
        second.nodes_written < 1500,
        "a second build rewrote {} nodes",
        second.nodes_written
    );
    let third = add_and_build(&store, &writer, &[], 3);
    assert_eq!(
        (third.inserted, third.nodes_written, third.chunks_written),
        (0, 0, 0)
    );

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    assert_eq!(reader.len(), 1500);
    let r = recall(&reader, &items, &random_vectors(30, 16, 4), 10, 64);
    assert!(r >= 0.95, "recall after an incremental build: {r}");
}

pub fn cancelled_build_changes_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(600, 8, 5));
    let writer = Writer::<Euclidean>::new(0, 8);
    add_and_build(&store, &writer, &items[..300], 1);
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in &items[300..] {
        writer.add_item(&mut wtxn, *id, vector).unwrap();
    }
    let before = all(&wtxn);
    let polls = std::sync::atomic::AtomicUsize::new(0);
    let cancel = || polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 50;
    let result = writer
        .builder(&mut StdRng::seed_from_u64(2))
        .cancel(&cancel)
        .build(&mut wtxn);
    assert!(matches!(result, Err(Error::Cancelled)));
    assert_eq!(all(&wtxn), before, "a cancelled build wrote something");
    assert!(writer.need_build(&wtxn).unwrap());
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), 300);
    assert_valid(&reader, &rtxn);
}

/// Adds, deletes, builds and commits through a store that fails its Nth write operation,
/// for N spread over every operation the whole sequence makes (adds, the build's writes,
/// the commit): each failure leaves the store as it was, and the index still opens valid.
pub fn failed_build_leaves_no_partial_index<B: Backend>() {
    let items = numbered(random_vectors(300, 8, 6));
    let writer = Writer::<Euclidean>::new(0, 8);
    let update = |store: &FailingStore<B::Store>| -> hannoy_graph::Result<()> {
        let mut wtxn = store.write_txn()?;
        for (id, vector) in &items[200..] {
            writer.add_item(&mut wtxn, *id, vector)?;
        }
        writer.del_item(&mut wtxn, items[0].0)?;
        writer
            .builder(&mut StdRng::seed_from_u64(2))
            .build(&mut wtxn)?;
        wtxn.commit()?;
        Ok(())
    };
    let prepared = || {
        let (dir, store) = fresh::<B>();
        add_and_build(&store, &writer, &items[..200], 1);
        (dir, store)
    };
    // Count the operations of a run that does not fail.
    let (_dir, store) = prepared();
    let counting = FailingStore::new(store, u64::MAX - 1);
    update(&counting).unwrap();
    let total = counting.steps();
    assert!(
        total > 300,
        "expected the adds and the build to write, saw {total} operations"
    );

    let mut fail_points: Vec<u64> = (0..8).map(|i| i * total / 8).collect();
    fail_points.extend([total - 3, total - 2, total - 1]);
    for fail_at in fail_points {
        let (_dir, store) = prepared();
        let before = all(&store.read_txn().unwrap());
        let failing = FailingStore::new(store, fail_at);
        assert!(
            update(&failing).is_err(),
            "operation {fail_at} of {total} was told to fail"
        );
        let store = failing.into_inner();
        assert_eq!(
            all(&store.read_txn().unwrap()),
            before,
            "failure at {fail_at} of {total} left a partial index"
        );
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_eq!(reader.len(), 200);
        assert_valid(&reader, &rtxn);
    }
}

pub fn writer_sees_pending_changes<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, 2);
    let mut wtxn = store.write_txn().unwrap();
    assert!(writer.is_empty(&wtxn).unwrap());
    assert!(!writer.need_build(&wtxn).unwrap());
    writer.add_item(&mut wtxn, 10, &[1.0, 2.0]).unwrap();
    writer.add_item(&mut wtxn, u32::MAX, &[3.0, 4.0]).unwrap();
    writer.add_item(&mut wtxn, 0, &[5.0, 6.0]).unwrap();
    assert!(writer.need_build(&wtxn).unwrap());
    assert_eq!(writer.len(&wtxn).unwrap(), 3);
    assert_eq!(
        writer.item_vector(&wtxn, u32::MAX).unwrap(),
        Some(vec![3.0, 4.0])
    );
    writer.add_item(&mut wtxn, 10, &[7.0, 8.0]).unwrap();
    assert_eq!(
        writer.item_vector(&wtxn, 10).unwrap(),
        Some(vec![7.0, 8.0]),
        "re-adding replaces"
    );
    assert!(writer.del_item(&mut wtxn, 0).unwrap());
    assert!(!writer.del_item(&mut wtxn, 0).unwrap());
    assert!(!writer.contains_item(&wtxn, 0).unwrap());
    let ids: Vec<u32> = writer.item_ids(&wtxn).unwrap().iter().collect();
    assert_eq!(ids, vec![10, u32::MAX]);
    writer
        .builder(&mut StdRng::seed_from_u64(1))
        .build(&mut wtxn)
        .unwrap();
    assert!(!writer.need_build(&wtxn).unwrap());
    let pairs: Vec<(u32, Vec<f32>)> = writer.iter(&wtxn).unwrap().map(Result::unwrap).collect();
    assert_eq!(
        pairs,
        vec![(10, vec![7.0, 8.0]), (u32::MAX, vec![3.0, 4.0])]
    );
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(
        reader.item_vector(&rtxn, u32::MAX).unwrap(),
        Some(vec![3.0, 4.0])
    );
    assert_eq!(reader.item_vector(&rtxn, 0).unwrap(), None);
    let pairs: Vec<(u32, Vec<f32>)> = reader.iter(&rtxn).map(Result::unwrap).collect();
    assert_eq!(pairs.len(), 2);
    assert_valid(&reader, &rtxn);
    drop(reader);
    drop(rtxn);

    let mut wtxn = store.write_txn().unwrap();
    writer.clear(&mut wtxn).unwrap();
    wtxn.commit().unwrap();
    assert!(
        all(&store.read_txn().unwrap()).is_empty(),
        "clear removes every key of the index"
    );
}

pub fn several_indexes_share_a_store<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let small = Writer::<Euclidean>::new(1, 2);
    let large = Writer::<Cosine>::new(2, 5);
    add_and_build(
        &store,
        &small,
        &[(1, vec![0.0, 0.0]), (2, vec![5.0, 5.0])],
        1,
    );
    add_and_build(&store, &large, &numbered(random_vectors(100, 5, 9)), 2);
    let mut wtxn = store.write_txn().unwrap();
    small.clear(&mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    assert!(matches!(
        Reader::<Euclidean, _>::open(&rtxn, 1),
        Err(Error::MissingIndex(1))
    ));
    let reader = Reader::<Cosine, _>::open(&rtxn, 2).unwrap();
    assert_eq!(reader.len(), 100);
    assert_valid(&reader, &rtxn);
}

pub fn deleted_items_are_never_returned<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(800, 12, 10));
    let writer = Writer::<Cosine>::new(0, 12);
    add_and_build(&store, &writer, &items, 1);
    let queries = random_vectors(20, 12, 11);

    // Delete the entry point and a third of the items; replace some others.
    let entry = {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
        let slot = reader.metadata().entry_point.unwrap();
        items
            .iter()
            .map(|(id, _)| *id)
            .find(|&id| slot_id_matches(&rtxn, id, slot))
            .expect("the entry point holds an item")
    };
    let mut wtxn = store.write_txn().unwrap();
    let mut deleted: Vec<u32> = items
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| id % 3 == 0)
        .collect();
    deleted.push(entry);
    for id in &deleted {
        writer.del_item(&mut wtxn, *id).unwrap();
    }
    let replaced = random_vectors(50, 12, 12);
    for (i, vector) in replaced.iter().enumerate() {
        writer
            .add_item(&mut wtxn, items[i * 7 + 1].0, vector)
            .unwrap();
    }
    wtxn.commit().unwrap();

    // Before the build: searches skip the deleted items.
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    for query in &queries {
        let found = reader.nns(20).by_vector(query).unwrap();
        assert!(
            found.iter().all(|(id, _)| !deleted.contains(id)),
            "a deleted item was returned"
        );
        assert_eq!(found.len(), 20);
    }
    drop(reader);
    drop(rtxn);

    let mut wtxn = store.write_txn().unwrap();
    let stats = writer
        .builder(&mut StdRng::seed_from_u64(2))
        .build(&mut wtxn)
        .unwrap();
    assert!(stats.removed > 0 && stats.inserted == 50, "{stats:?}");
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    let live: Vec<(u32, Vec<f32>)> = writer.iter(&rtxn).unwrap().map(Result::unwrap).collect();
    assert_eq!(reader.len() as usize, live.len());
    for query in &queries {
        let found = reader.nns(20).by_vector(query).unwrap();
        assert!(found.iter().all(|(id, _)| !deleted.contains(id)));
    }
    let r = recall(&reader, &live, &queries, 10, 64);
    assert!(r >= 0.95, "recall after deletes and replacements: {r}");
}

fn slot_id_matches<T: ReadTxn>(txn: &T, id: u32, slot: u32) -> bool {
    use hannoy_graph::format::{Metadata, key, slot_map};
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let meta = Metadata::decode(txn.get(&meta_key).unwrap().unwrap().as_ref(), &meta_key).unwrap();
    slot_map::read_slot(txn, 0, id, &meta).unwrap() == Some(slot)
}

pub fn deleting_everything_leaves_an_empty_valid_index<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(200, 6, 13));
    let writer = Writer::<Euclidean>::new(0, 6);
    add_and_build(&store, &writer, &items, 1);
    let mut wtxn = store.write_txn().unwrap();
    for (id, _) in &items {
        assert!(writer.del_item(&mut wtxn, *id).unwrap());
    }
    writer
        .builder(&mut StdRng::seed_from_u64(2))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.is_empty());
    assert_eq!(reader.nns(5).by_vector(&[0.0; 6]).unwrap(), vec![]);
    assert_valid(&reader, &rtxn);
    drop(reader);
    drop(rtxn);
    // The freed slots are reused.
    add_and_build(&store, &writer, &items[..50], 3);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), 50);
    assert_eq!(
        reader.metadata().slot_count,
        200,
        "slots were reused, not appended"
    );
    assert_valid(&reader, &rtxn);
}

pub fn one_reader_serves_many_threads<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(500, 8, 14));
    let writer = Writer::<Euclidean>::new(0, 8);
    add_and_build(&store, &writer, &items, 1);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    let queries = random_vectors(40, 8, 15);
    let one_by_one: Vec<_> = queries
        .iter()
        .map(|q| reader.nns(5).by_vector(q).unwrap())
        .collect();
    let flat: Vec<f32> = queries.concat();
    assert_eq!(
        reader.nns(5).by_vectors(&flat).unwrap(),
        one_by_one,
        "batch search agrees"
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (reader, queries, expected) = (&reader, &queries, &one_by_one);
                scope.spawn(move || {
                    (t..queries.len())
                        .step_by(4)
                        .all(|i| reader.nns(5).by_vector(&queries[i]).unwrap() == expected[i])
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap());
        }
    });
}

/// With one thread and one seed, the graph is the same every time.
pub fn single_thread_builds_are_deterministic<B: Backend>() {
    let items = numbered(random_vectors(400, 8, 16));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let (_dir, store) = fresh::<B>();
        let writer = Writer::<Euclidean>::new(0, 8);
        let mut wtxn = store.write_txn().unwrap();
        for (id, vector) in &items {
            writer.add_item(&mut wtxn, *id, vector).unwrap();
        }
        writer
            .builder(&mut StdRng::seed_from_u64(5))
            .thread_pool(&pool)
            .build(&mut wtxn)
            .unwrap();
        wtxn.commit().unwrap();
        snapshots.push(all(&store.read_txn().unwrap()));
    }
    assert!(
        snapshots[0] == snapshots[1],
        "two single-thread builds with one seed differ"
    );
}

/// The items of every node on the top layer of index 0, read from the stored records.
fn top_layer_items<T: ReadTxn>(txn: &T) -> Vec<u32> {
    use hannoy_graph::format::links::Record0;
    use hannoy_graph::format::{Metadata, key};
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let meta = Metadata::decode(txn.get(&meta_key).unwrap().unwrap().as_ref(), &meta_key).unwrap();
    let mut items = Vec::new();
    for slot in 0..meta.slot_count {
        let (chunk, offset) = meta.geometry.link_place(slot);
        let Some(bytes) = txn.get(&key::links(0, 0, chunk)).unwrap() else {
            continue;
        };
        let record = Record0::at(bytes.as_ref(), offset, usize::from(meta.m0));
        if record.level() == Some(meta.max_level) {
            items.push(record.item());
        }
    }
    items
}

/// Deleting every node of the top layer, twice over, keeps a valid hierarchy: the entry
/// point moves to a node of the highest remaining layer, and the layers above are dropped.
pub fn deleting_the_top_layer_keeps_the_hierarchy<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(3000, 8, 17));
    let writer = Writer::<Euclidean>::new(0, 8);
    add_and_build(&store, &writer, &items, 4);
    let mut deleted = Vec::new();
    for round in 0..2 {
        let (top, level_before) = {
            let rtxn = store.read_txn().unwrap();
            let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
            (top_layer_items(&rtxn), reader.metadata().max_level)
        };
        assert!(
            level_before > 0,
            "round {round}: the graph should still have upper layers"
        );
        let mut wtxn = store.write_txn().unwrap();
        for id in &top {
            assert!(writer.del_item(&mut wtxn, *id).unwrap());
        }
        writer
            .builder(&mut StdRng::seed_from_u64(round))
            .build(&mut wtxn)
            .unwrap();
        wtxn.commit().unwrap();
        deleted.extend(top);

        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_valid(&reader, &rtxn);
        assert!(
            reader.metadata().max_level < level_before,
            "round {round}: the top layer is gone"
        );
        let live: Vec<(u32, Vec<f32>)> = items
            .iter()
            .filter(|(id, _)| !deleted.contains(id))
            .cloned()
            .collect();
        let r = recall(&reader, &live, &random_vectors(20, 8, 18), 10, 64);
        assert!(r >= 0.95, "round {round}: recall {r}");
    }
}
