//! Model-based test of the index: random sequences of add, replace, delete and build,
//! checked against a `BTreeMap` of the live items.
//!
//! After every build the validity check must pass, the index must hold exactly the model's
//! items, and its top 10 must agree with an exact scan of the model with recall@10 >= 0.9
//! (graphs of at most 150 nodes searched at ef 64 are nearly exact; the bound leaves room
//! for the odd tie). Between builds a search must never return an item the model lacks.

use std::collections::BTreeMap;

use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::Euclidean;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::items::{exact_top, random_vectors};
use crate::store_suite::fresh;

const DIM: usize = 8;

/// One step of a random history.
#[derive(Debug, Clone)]
pub enum Op {
    /// Adds (or replaces) an item with the vector drawn from this seed.
    Add(u32, u64),
    Delete(u32),
    Build,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u32..150, any::<u64>()).prop_map(|(id, seed)| Op::Add(id, seed)),
        3 => (0u32..150).prop_map(Op::Delete),
        1 => Just(Op::Build),
    ]
}

fn run_history<B: Backend>(ops: &[Op]) -> Result<(), TestCaseError> {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    let mut model: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
    let queries = random_vectors(5, DIM, 99);
    let mut builds = 0u64;
    for op in ops.iter().chain(std::iter::once(&Op::Build)) {
        let mut wtxn = store.write_txn().expect("write txn");
        match op {
            Op::Add(id, seed) => {
                let vector = random_vectors(1, DIM, *seed).remove(0);
                writer.add_item(&mut wtxn, *id, &vector).expect("add");
                model.insert(*id, vector);
            }
            Op::Delete(id) => {
                let was = writer.del_item(&mut wtxn, *id).expect("delete");
                prop_assert_eq!(was, model.remove(id).is_some());
            }
            Op::Build => {
                builds += 1;
                writer
                    .builder(&mut StdRng::seed_from_u64(builds))
                    .build(&mut wtxn)
                    .expect("build");
            }
        }
        wtxn.commit().expect("commit");

        let rtxn = store.read_txn().expect("read txn");
        let reader = match Reader::<Euclidean, _>::open(&rtxn, 0) {
            Ok(reader) => reader,
            Err(hannoy_graph::Error::MissingIndex(_)) => continue,
            Err(e) => return Err(TestCaseError::fail(format!("open: {e}"))),
        };
        for query in &queries {
            let found = reader.nns(10).by_vector(query).expect("search");
            prop_assert!(
                found.iter().all(|(id, _)| model.contains_key(id)),
                "a deleted item was returned"
            );
        }
        if !matches!(op, Op::Build) {
            continue;
        }
        let report = reader.check(&rtxn).expect("check");
        prop_assert!(report.is_valid(), "after build {}: {}", builds, report);
        prop_assert_eq!(reader.len(), model.len() as u64);
        let items: Vec<(u32, Vec<f32>)> = model.iter().map(|(id, v)| (*id, v.clone())).collect();
        let mut hits = 0;
        let mut wanted = 0;
        for query in &queries {
            let truth = exact_top::<Euclidean>(&items, query, 10);
            let found = reader
                .nns(10)
                .ef_search(64)
                .by_vector(query)
                .expect("search");
            hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
            wanted += truth.len();
        }
        if wanted > 0 {
            let recall = hits as f64 / wanted as f64;
            prop_assert!(
                recall >= 0.9,
                "after build {}: recall@10 {}",
                builds,
                recall
            );
        }
    }
    Ok(())
}

pub fn random_updates_keep_the_graph_valid_and_exact<B: Backend>() {
    let config = Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let histories = prop::collection::vec(op(), 1..200);
    if let Err(failure) = runner.run(&histories, |ops| run_history::<B>(&ops)) {
        panic!("{failure}");
    }
}
