//! The items the suites index and what they are scored against: random vectors, ids,
//! add-and-build, exact neighbours and recall (through [`crate::dataset`], the one home of
//! exact ground truth).

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::Metric;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::dataset::{exact_distance, nearest, recall_at};

/// `n` random vectors of `dim` components in [-1, 1), from `seed`.
pub fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

/// The exact `k` nearest ids of `query` among `items`, under `M` (ties by id).
pub fn exact_top<M: Metric>(items: &[(u32, Vec<f32>)], query: &[f32], k: usize) -> Vec<u32> {
    let candidates = items.iter().map(|(id, vector)| (*id, vector.as_slice()));
    nearest(query, candidates, k, exact_distance::<M>)
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
    let (mut found, mut truth) = (Vec::new(), Vec::new());
    for query in queries {
        truth.push(exact_top::<M>(items, query, k));
        let ids = reader.nns(k).ef_search(ef).by_vector(query).unwrap();
        found.push(ids.into_iter().map(|(id, _)| id).collect());
    }
    recall_at(k, &found, &truth)
}

/// Asserts that the reader's graph passes its validity check.
pub fn assert_valid<M: Metric, T: ReadTxn>(reader: &Reader<'_, M, T>, txn: &T) {
    let report = reader.check(txn).unwrap();
    assert!(report.is_valid(), "invalid graph: {report}");
}

/// Numbers `vectors` with the ids 1, 4, 7, ...
pub fn numbered(vectors: Vec<Vec<f32>>) -> Vec<(u32, Vec<f32>)> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u32 * 3 + 1, v))
        .collect()
}
