//! hannoy's build knobs: a forced full rebuild (`Builder::force_rebuild`) and neighbour
//! selection's `alpha` (`Builder::alpha`), on every backend.

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{BuildStats, Error, Reader, Writer};
use hannoy_metrics::Euclidean;
use hannoy_storage::memory::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::corruption_suite::snapshot;
use crate::items::{exact_top, random_vectors};
use crate::store_suite::fresh;

const DIMS: usize = 12;

type Items = Vec<(u32, Vec<f32>)>;

fn items(n: usize, seed: u64, first_id: u32) -> Items {
    random_vectors(n, DIMS, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (first_id + i as u32, v))
        .collect()
}

/// Adds `adds`, deletes `deletes` and builds on one thread (the same graph every run).
fn write<S: KvStore>(
    store: &S,
    adds: &[(u32, Vec<f32>)],
    deletes: &[u32],
    build: impl FnOnce(
        hannoy_graph::Builder<'_, Euclidean, StdRng>,
    ) -> hannoy_graph::Builder<'_, Euclidean, StdRng>,
) -> hannoy_graph::Result<BuildStats> {
    let writer = Writer::<Euclidean>::new(0, DIMS);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut wtxn = store.write_txn()?;
    for (id, vector) in adds {
        writer.add_item(&mut wtxn, *id, vector)?;
    }
    for id in deletes {
        writer.del_item(&mut wtxn, *id)?;
    }
    let mut rng = StdRng::seed_from_u64(17);
    let builder = writer.builder(&mut rng).thread_pool(&pool).m(6).m0(12);
    let stats = build(builder).build(&mut wtxn)?;
    wtxn.commit()?;
    Ok(stats)
}

/// Recall@10 at ef 32 over `queries`, and every query's answers.
fn recall<T: ReadTxn>(txn: &T, live: &Items, queries: &[Vec<f32>]) -> (f64, Vec<Vec<(u32, f32)>>) {
    let reader = Reader::<Euclidean, T>::open(txn, 0).unwrap();
    let report = reader.check(txn).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.nodes, live.len() as u64);
    assert_eq!(report.reachable, live.len() as u64);
    let mut hits = 0;
    let mut answers = Vec::new();
    for query in queries {
        let found = reader.nns(10).ef_search(32).by_vector(query).unwrap();
        let truth = exact_top::<Euclidean>(live, query, 10);
        hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
        answers.push(found);
    }
    (hits as f64 / (10 * queries.len()) as f64, answers)
}

/// A forced rebuild links every item anew: all of them relinked (deleted ones left out,
/// new ones inserted), every link chunk rewritten, the graph valid and whole, its answers
/// the same bits on every backend, and recall at least that of the incremental build it
/// replaces. Items and vectors are unchanged.
pub fn force_rebuild_links_every_item_anew<B: Backend>() {
    let first = items(700, 81, 0);
    let more = items(150, 82, 10_000);
    let deleted: Vec<u32> = (0..700).step_by(5).collect();
    let mut live: Items = first
        .iter()
        .filter(|(id, _)| !deleted.contains(id))
        .cloned()
        .collect();
    live.extend(more.iter().cloned());
    let queries: Vec<Vec<f32>> = random_vectors(60, DIMS, 83);

    // The same changes, built incrementally and with a forced rebuild.
    let (_dir, incremental) = fresh::<B>();
    write(&incremental, &first, &[], |b| b).unwrap();
    write(&incremental, &more, &deleted, |b| b).unwrap();
    let (_dir2, store) = fresh::<B>();
    write(&store, &first, &[], |b| b).unwrap();
    let stats = write(&store, &more, &deleted, |b| b.force_rebuild(true)).unwrap();
    assert_eq!(stats.relinked, (700 - deleted.len()) as u64);
    assert_eq!(stats.inserted, more.len() as u64);
    assert_eq!(stats.removed, deleted.len() as u64);
    assert_eq!(stats.repaired, 0, "nothing to repair in a graph built anew");

    let (recall_incremental, _) = recall(&incremental.read_txn().unwrap(), &live, &queries);
    let rtxn = store.read_txn().unwrap();
    let (recall_forced, answers) = recall(&rtxn, &live, &queries);
    eprintln!("recall@10: forced rebuild {recall_forced}, incremental {recall_incremental}");
    assert!(
        recall_forced >= 0.9 && recall_forced >= recall_incremental - 0.02,
        "forced {recall_forced}, incremental {recall_incremental}"
    );
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    for (id, vector) in &live {
        assert_eq!(&reader.item_vector(&rtxn, *id).unwrap().unwrap(), vector);
    }
    for id in &deleted {
        assert!(reader.item_vector(&rtxn, *id).unwrap().is_none());
    }

    // The same bits as on the in-memory store.
    let memory = MemoryStore::new();
    write(&memory, &first, &[], |b| b).unwrap();
    write(&memory, &more, &deleted, |b| b.force_rebuild(true)).unwrap();
    assert_eq!(
        recall(&memory.read_txn().unwrap(), &live, &queries).1,
        answers
    );
    drop(reader);
    drop(rtxn);

    // A forced rebuild with nothing pending still relinks everything, and again gives a
    // valid graph.
    let stats = write(&store, &[], &[], |b| b.force_rebuild(true)).unwrap();
    assert_eq!(stats.relinked, live.len() as u64);
    assert_eq!((stats.inserted, stats.removed), (0, 0));
    assert!(recall(&store.read_txn().unwrap(), &live, &queries).0 >= 0.9);
}

/// `alpha` above 1 keeps more links (never fewer) and a valid graph; out-of-range values
/// are refused before anything is written; 1.0 is the default, bit for bit.
pub fn alpha_keeps_more_links_and_refuses_bad_values<B: Backend>() {
    let first = items(600, 91, 0);
    let queries: Vec<Vec<f32>> = random_vectors(40, DIMS, 92);
    let links = |store: &B::Store| {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        reader.check(&rtxn).unwrap().links
    };
    let (_dir, plain) = fresh::<B>();
    write(&plain, &first, &[], |b| b).unwrap();
    let (_dir1, one) = fresh::<B>();
    write(&one, &first, &[], |b| b.alpha(1.0)).unwrap();
    assert_eq!(snapshot(&one), snapshot(&plain));
    let (_dir2, wide) = fresh::<B>();
    write(&wide, &first, &[], |b| b.alpha(1.3)).unwrap();
    let (plain_links, wide_links) = (links(&plain), links(&wide));
    eprintln!("links: {plain_links} at alpha 1.0, {wide_links} at 1.3");
    assert!(
        wide_links > plain_links,
        "{wide_links} links at 1.3, {plain_links} at 1.0"
    );
    assert!(recall(&wide.read_txn().unwrap(), &first, &queries).0 >= 0.9);

    let before = snapshot(&wide);
    for alpha in [0.99, 4.5, f32::NAN, f32::INFINITY, -1.0] {
        match write(&wide, &items(5, 93, 50_000), &[], |b| b.alpha(alpha)) {
            Err(Error::InvalidParameter(_)) => {}
            other => panic!("alpha {alpha}: expected InvalidParameter, got {other:?}"),
        }
    }
    assert_eq!(snapshot(&wide), before);
}
