//! Recall targets on real data: a subset of `debian-minilm-384` (shipped beside the
//! project), on every backend.
//!
//! The subset is the first 20,000 base vectors and the first 200 queries, with exact ground
//! truth recomputed over the subset: the full 98,000 would take ~30 s per backend to build
//! on two cores, which belongs to the bench binary, not the test suite. When the dataset is
//! missing the tests fail under `CI=true` and use generated clustered data otherwise.

use std::sync::OnceLock;

use hannoy_benches::dataset::{self, Dataset, recall_at};
use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::{Cosine, Metric};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::store_suite::fresh;

/// Base vectors of the subset.
pub const SUBSET: usize = 20_000;
/// Queries of the subset.
pub const QUERIES: usize = 200;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    match (Cosine::encode(a, &mut x), Cosine::encode(b, &mut y)) {
        (Ok(()), Ok(())) => Cosine::distance(&x, &y),
        _ => f32::INFINITY,
    }
}

/// The subset, loaded once per test binary.
pub fn subset() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = dataset::default_dataset_dir();
        if !dataset::has_dataset(&dir) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the dataset is missing at {} (set HANNOY_DATASET); CI requires it",
                dir.display()
            );
            eprintln!("dataset missing at {}: using generated clustered data", dir.display());
            return dataset::generate(SUBSET, QUERIES, 384, 42, 10, cosine);
        }
        let mut data = dataset::load(&dir).expect("the dataset loads");
        data.base.truncate(SUBSET);
        data.queries.truncate(QUERIES);
        data.ground_truth = dataset::exact_neighbours(&data.base, &data.queries, 10, cosine);
        data
    })
}

/// M = 16, M0 = 32, ef_construction = 100: recall@10 >= 0.95 at ef_search 64 and >= 0.99
/// at ef_search 256; the graph is valid.
pub fn recall_targets_on_real_data<B: Backend>() {
    let data = subset();
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, data.base.dim);
    let mut wtxn = store.write_txn().unwrap();
    for i in 0..data.base.rows() {
        writer.add_item(&mut wtxn, i as u32, data.base.row(i)).unwrap();
    }
    writer.builder(&mut StdRng::seed_from_u64(42)).build(&mut wtxn).unwrap();
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    let report = reader.check(&rtxn).unwrap();
    assert!(report.is_valid(), "{report}");
    for (ef, target) in [(64, 0.95), (256, 0.99)] {
        let found: Vec<Vec<u32>> = (0..data.queries.rows())
            .map(|q| {
                let hits = reader.nns(10).ef_search(ef).by_vector(data.queries.row(q)).unwrap();
                hits.into_iter().map(|(id, _)| id).collect()
            })
            .collect();
        let recall = recall_at(10, &found, &data.ground_truth);
        eprintln!("{}: recall@10 at ef {ef} = {recall:.4}", data.name);
        assert!(recall >= target, "recall@10 at ef_search {ef} is {recall:.4}, below {target}");
    }
}
