//! Building and searching an index on every backend: true neighbours found, small and empty
//! indexes, incremental builds, several indexes in one store, deterministic builds.

use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, Euclidean};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::items::{add_and_build, assert_valid, numbered, random_vectors, recall};
use crate::store_suite::{all, fresh};

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
