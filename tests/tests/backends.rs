//! The conformance suite, once per backend: `cargo test -p hannoy-conformance`.

use hannoy_conformance::backends::{Lmdb, Memory, Redb};
use hannoy_conformance::conformance_suite;
use hannoy_conformance::damage::alloc_guard::CappedAlloc;

/// Damage trials can make a damaged count size a buffer: refuse the huge allocation (the
/// process aborts, naming its size) rather than fill a shared machine's memory.
#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

conformance_suite!(lmdb, Lmdb, persistent, bounded);
conformance_suite!(redb, Redb, persistent, shared_read_txn);
conformance_suite!(memory, Memory, bounded, shared_read_txn);

/// With one thread and one seed, every backend builds the same graph: the same search
/// results, distances included, for the same queries.
#[test]
fn backends_build_the_same_graph() {
    use hannoy_conformance::Backend;
    use hannoy_conformance::items::random_vectors;
    use hannoy_conformance::store_suite::fresh;
    use hannoy_graph::store::{KvStore, WriteTxn};
    use hannoy_graph::{Reader, Writer};
    use hannoy_metrics::Cosine;
    use rand::SeedableRng;

    fn results<B: Backend>() -> Vec<Vec<(u32, f32)>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (_dir, store) = fresh::<B>();
        let writer = Writer::<Cosine>::new(0, 16);
        let mut wtxn = store.write_txn().unwrap();
        for (i, vector) in random_vectors(3000, 16, 21).iter().enumerate() {
            writer.add_item(&mut wtxn, i as u32, vector).unwrap();
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        writer
            .builder(&mut rng)
            .thread_pool(&pool)
            .build(&mut wtxn)
            .unwrap();
        wtxn.commit().unwrap();
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
        random_vectors(30, 16, 22)
            .iter()
            .map(|q| reader.nns(10).ef_search(32).by_vector(q).unwrap())
            .collect()
    }

    let lmdb = results::<Lmdb>();
    assert_eq!(lmdb, results::<Redb>());
    assert_eq!(lmdb, results::<Memory>());
}
