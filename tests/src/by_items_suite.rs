//! Batch searches: by item (`by_items`, `exclude_self`) and by vectors with a candidate set
//! per query (`by_vectors_with_candidates`), on every backend.

use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, Scheme};
use rand::SeedableRng;
use rand::rngs::StdRng;
use roaring::RoaringBitmap;

use crate::Backend;
use crate::items::random_vectors;
use crate::store_suite::fresh;

const DIMS: usize = 20;

/// Index 0 (f32) and index 1 (sq8 codes) of 1,200 items with ids `2·i + 1`, built on one
/// thread: the same graphs on every run, so that whether an item's own search finds it
/// (an approximate search need not) is settled once, not by the build's thread timing.
fn two_indexes<S: KvStore>(store: &S) -> Vec<u32> {
    let vectors = random_vectors(1200, DIMS, 31);
    let ids: Vec<u32> = (0..1200).map(|i| 2 * i + 1).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut wtxn = store.write_txn().unwrap();
    for (index, codes) in [(0, None), (1, Some(Scheme::Sq8))] {
        let writer = Writer::<Cosine>::new(index, DIMS);
        for (id, vector) in ids.iter().zip(&vectors) {
            writer.add_item(&mut wtxn, *id, vector).unwrap();
        }
        writer
            .builder(&mut StdRng::seed_from_u64(4))
            .thread_pool(&pool)
            .codes(codes)
            .build(&mut wtxn)
            .unwrap();
    }
    wtxn.commit().unwrap();
    ids
}

pub fn by_items_answers_as_by_item_one_by_one<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let ids = two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    let asked: Vec<u32> = ids
        .iter()
        .copied()
        .step_by(37)
        .chain([ids[5], ids[5]])
        .collect();
    for index in [0, 1] {
        let reader = Reader::<Cosine, _>::open(&rtxn, index).unwrap();
        for exclude in [false, true] {
            let query = reader.nns(8).ef_search(40).exclude_self(exclude);
            let batch = query.by_items(&rtxn, &asked).unwrap();
            assert_eq!(batch.len(), asked.len());
            for (&id, found) in asked.iter().zip(&batch) {
                assert_eq!(found, &query.by_item(&rtxn, id).unwrap(), "item {id}");
                assert_eq!(found.len(), 8);
                assert_eq!(found.iter().any(|&(other, _)| other == id), !exclude);
            }
        }
        assert!(reader.nns(8).by_items(&rtxn, &[]).unwrap().is_empty());
        assert!(matches!(
            reader.nns(8).by_items(&rtxn, &[ids[0], 2, ids[1]]),
            Err(Error::ItemNotFound(2))
        ));
    }
}

pub fn exclude_self_is_the_next_k_after_the_item<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let ids = two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    for index in [0, 1] {
        let reader = Reader::<Cosine, _>::open(&rtxn, index).unwrap();
        for &id in ids.iter().step_by(101) {
            let with_self = reader.nns(11).ef_search(60).by_item(&rtxn, id).unwrap();
            assert_eq!(with_self[0].0, id, "the item first");
            let without = reader
                .nns(10)
                .ef_search(60)
                .exclude_self(true)
                .by_item(&rtxn, id)
                .unwrap();
            assert_eq!(without, with_self[1..], "item {id}");
        }
        // Fewer items than k + 1: every other item, not the item itself.
        let allowed = [ids[0], ids[1], ids[2]].into_iter().collect();
        let few = reader
            .nns(10)
            .candidates(&allowed)
            .exclude_self(true)
            .by_item(&rtxn, ids[1])
            .unwrap();
        let mut got: Vec<u32> = few.iter().map(|&(other, _)| other).collect();
        got.sort_unstable();
        assert_eq!(got, vec![ids[0], ids[2]]);
    }
}

pub fn by_vectors_with_candidates_answers_as_one_query_each<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let ids = two_indexes(&store);
    let rtxn = store.read_txn().unwrap();
    let queries = random_vectors(8, DIMS, 77);
    let flat: Vec<f32> = queries.concat();
    // Every id, then ever smaller shares (planned as a walk, two hops, a scan), and ids
    // the index does not hold (even ones): an empty row.
    let mut sets: Vec<RoaringBitmap> = [1, 2, 5, 10, 20, 100, 400]
        .iter()
        .enumerate()
        .map(|(row, &step)| ids.iter().copied().skip(row).step_by(step).collect())
        .collect();
    sets.push([0, 2, 4].into_iter().collect());
    let refs: Vec<&RoaringBitmap> = sets.iter().collect();
    for index in [0, 1] {
        let reader = Reader::<Cosine, _>::open(&rtxn, index).unwrap();
        let query = reader.nns(10).ef_search(80);
        let batch = query.by_vectors_with_candidates(&flat, &refs).unwrap();
        assert_eq!(batch.len(), queries.len());
        for ((row, vector), allowed) in batch.iter().zip(&queries).zip(&sets) {
            let one = reader
                .nns(10)
                .ef_search(80)
                .candidates(allowed)
                .by_vector(vector)
                .unwrap();
            assert_eq!(row, &one, "index {index}: a batch row is its query alone");
            assert!(row.iter().all(|(id, _)| allowed.contains(*id)));
            assert_eq!(
                row.len(),
                (allowed & reader.item_ids()).len().min(10) as usize
            );
        }
        assert!(batch[7].is_empty());
        // One set too few: refused before any search.
        assert!(matches!(
            query.by_vectors_with_candidates(&flat, &refs[1..]),
            Err(Error::InvalidParameter(_))
        ));
        assert!(matches!(
            query.by_vectors_with_candidates(&flat[1..], &refs),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}
