//! Search deadlines and cancellation (`QueryBuilder::deadline`, `time_budget`,
//! `cancel_when`), on every backend: a search that is not cut short answers exactly as
//! without them; one that is cut short stops at the next node expansion and returns the
//! best it found, with exact distances and the `cut_short` flag.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{FilterStrategy, Reader, SearchStats, Writer};
use hannoy_metrics::{Euclidean, Metric, Scheme};
use rand::SeedableRng;
use rand::rngs::StdRng;
use roaring::RoaringBitmap;

use crate::Backend;
use crate::items::random_vectors;
use crate::store_suite::fresh;

const DIMS: usize = 24;
const K: usize = 10;

/// Index 0 on the f32 vectors, index 1 with sq8 codes, of the same 3,000 items; returns
/// the vectors by id.
fn two_indexes<S: KvStore>(store: &S) -> Vec<Vec<f32>> {
    let vectors = random_vectors(3000, DIMS, 5);
    let mut wtxn = store.write_txn().unwrap();
    for (index, codes) in [(0, None), (1, Some(Scheme::Sq8))] {
        let writer = Writer::<Euclidean>::new(index, DIMS);
        for (id, vector) in vectors.iter().enumerate() {
            writer.add_item(&mut wtxn, id as u32, vector).unwrap();
        }
        writer
            .builder(&mut StdRng::seed_from_u64(3))
            .codes(codes)
            .build(&mut wtxn)
            .unwrap();
    }
    wtxn.commit().unwrap();
    vectors
}

/// Results sorted, at most `K`, each distance the exact user distance to its item.
fn assert_exact(found: &[(u32, f32)], vectors: &[Vec<f32>], query: &[f32]) {
    assert!(found.len() <= K);
    assert!(found.windows(2).all(|w| w[0].1 <= w[1].1), "{found:?}");
    for &(id, distance) in found {
        let exact: f32 = vectors[id as usize]
            .iter()
            .zip(query)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        assert!(
            (distance - exact).abs() <= 1e-4 * exact.max(1.0),
            "item {id}: {distance} against {exact}"
        );
    }
}

pub fn a_search_that_is_not_cut_short_is_unchanged<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    let never = || false;
    let queries = random_vectors(20, DIMS, 6);
    let flat: Vec<f32> = queries.iter().flatten().copied().collect();
    for index in [0, 1] {
        let reader = Reader::<Euclidean, _>::open(&rtxn, index).unwrap();
        for query in &queries {
            let (plain, plain_stats) = reader.nns(K).by_vector_with_stats(query).unwrap();
            assert!(!plain_stats.cut_short);
            let (timed, stats) = reader
                .nns(K)
                .time_budget(Duration::from_secs(600))
                .deadline(Instant::now() + Duration::from_secs(600))
                .cancel_when(&never)
                .by_vector_with_stats(query)
                .unwrap();
            assert_eq!(stats, plain_stats, "index {index}");
            assert_eq!(
                timed
                    .iter()
                    .map(|&(id, d)| (id, d.to_bits()))
                    .collect::<Vec<_>>(),
                plain
                    .iter()
                    .map(|&(id, d)| (id, d.to_bits()))
                    .collect::<Vec<_>>(),
                "index {index}"
            );
        }
        let batch = reader
            .nns(K)
            .time_budget(Duration::from_secs(600))
            .by_vectors_with_stats(&flat)
            .unwrap();
        assert_eq!(batch.len(), queries.len());
        for ((found, stats), query) in batch.iter().zip(&queries) {
            assert!(!stats.cut_short);
            assert_eq!(found, &reader.nns(K).by_vector(query).unwrap());
        }
        let id = 17;
        let (by_item, stats) = reader
            .nns(K)
            .time_budget(Duration::from_secs(600))
            .by_item_with_stats(&rtxn, id)
            .unwrap();
        assert!(!stats.cut_short);
        assert_eq!(by_item, reader.nns(K).by_item(&rtxn, id).unwrap());
    }
}

/// The walk's distances when the cancellation check first says yes on its `n`-th call.
fn distances_when_cancelled_at<M: Metric, T: hannoy_graph::ReadTxn>(
    reader: &Reader<'_, M, T>,
    query: &[f32],
    n: usize,
) -> (Vec<(u32, f32)>, SearchStats) {
    let calls = AtomicUsize::new(0);
    let check = || calls.fetch_add(1, Ordering::Relaxed) + 1 >= n;
    let (found, stats) = reader
        .nns(K)
        .ef_search(200)
        .cancel_when(&check)
        .by_vector_with_stats(query)
        .unwrap();
    assert!(stats.cut_short, "cancelled at call {n}");
    assert_eq!(calls.load(Ordering::Relaxed), n, "no call after the stop");
    (found, stats)
}

pub fn a_cancelled_search_stops_at_the_next_expansion<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let vectors = two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    let m0 = 32;
    for index in [0, 1] {
        let reader = Reader::<Euclidean, _>::open(&rtxn, index).unwrap();
        for query in random_vectors(10, DIMS, 8) {
            let (_, full) = reader
                .nns(K)
                .ef_search(200)
                .by_vector_with_stats(&query)
                .unwrap();
            assert!(!full.cut_short);
            let (first, at_first) = distances_when_cancelled_at(&reader, &query, 1);
            let (fifth, at_fifth) = distances_when_cancelled_at(&reader, &query, 5);
            // Cancelled before layer 0's first expansion: the descent's distances only;
            // four expansions later, at most four lists more.
            assert!(at_fifth.walk_distances >= at_first.walk_distances);
            assert!(
                at_fifth.walk_distances - at_first.walk_distances <= 4 * m0,
                "index {index}: {at_first:?} then {at_fifth:?}"
            );
            assert!(
                full.walk_distances > at_fifth.walk_distances,
                "index {index}"
            );
            assert!(!first.is_empty(), "the entry point at least");
            assert_exact(&first, &vectors, &query);
            assert_exact(&fifth, &vectors, &query);
        }
    }
}

pub fn a_past_deadline_stops_every_kind_of_search<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let vectors = two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    let query = random_vectors(1, DIMS, 9).remove(0);
    let allowed: RoaringBitmap = (0..3000).step_by(3).collect();
    for index in [0, 1] {
        let reader = Reader::<Euclidean, _>::open(&rtxn, index).unwrap();
        let past = Instant::now();
        let (found, stats) = reader
            .nns(K)
            .deadline(past)
            .by_vector_with_stats(&query)
            .unwrap();
        assert!(stats.cut_short);
        assert_exact(&found, &vectors, &query);

        let (found, stats) = reader
            .nns(K)
            .time_budget(Duration::ZERO)
            .by_item_with_stats(&rtxn, 4)
            .unwrap();
        assert!(stats.cut_short);
        assert_exact(&found, &vectors, &vectors[4]);

        for strategy in [FilterStrategy::Graph, FilterStrategy::ExactScan] {
            let (found, stats) = reader
                .nns(K)
                .candidates(&allowed)
                .filter_strategy(strategy)
                .deadline(past)
                .by_vector_with_stats(&query)
                .unwrap();
            assert!(stats.cut_short, "{strategy:?}");
            assert!(found.iter().all(|(id, _)| allowed.contains(*id)));
            assert_exact(&found, &vectors, &query);
        }

        let flat: Vec<f32> = random_vectors(6, DIMS, 10).into_iter().flatten().collect();
        let batch = reader
            .nns(K)
            .deadline(past)
            .by_vectors_with_stats(&flat)
            .unwrap();
        assert_eq!(batch.len(), 6);
        assert!(batch.iter().all(|(_, stats)| stats.cut_short));
    }
}
