//! Concurrency on every backend: one reader shared by many searching threads. (Readers
//! beside a committing writer: `soak_suite` and `store_suite`.)

use hannoy_graph::store::KvStore;
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::Euclidean;

use crate::Backend;
use crate::items::{add_and_build, numbered, random_vectors};
use crate::store_suite::fresh;

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
