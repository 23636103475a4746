//! `Reader::prefetch`: reading an index's pages ahead, on every backend.

use hannoy_graph::format::key::{self, Tag};
use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Prefetch, Reader, Writer};
use hannoy_metrics::{Euclidean, Scheme};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::items::random_vectors;
use crate::store_suite::fresh;

const DIMS: usize = 24;

/// The bytes stored under every key starting with `prefix`.
fn stored_bytes<T: ReadTxn>(txn: &T, prefix: &[u8]) -> u64 {
    txn.prefix(prefix)
        .unwrap()
        .map(|entry| entry.unwrap().1.as_ref().len() as u64)
        .sum()
}

/// A prefetch spans exactly the chunks a search reads (links and vectors; with codes, links
/// and codes for the walk, and the vectors too for `All`), and changes no answer.
pub fn prefetch_spans_the_chunks_searches_read<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let vectors = random_vectors(1500, DIMS, 61);
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

    let rtxn = store.read_txn().unwrap();
    let tag_bytes = |index, tag| stored_bytes(&rtxn, &key::prefix(index, tag));
    for index in [0, 1] {
        let reader = Reader::<Euclidean, _>::open(&rtxn, index).unwrap();
        let before: Vec<_> = vectors[..20]
            .iter()
            .map(|q| reader.nns(10).by_vector(q).unwrap())
            .collect();
        let (links, vector_bytes) = (tag_bytes(index, Tag::Links), tag_bytes(index, Tag::Vectors));
        let codes = tag_bytes(index, Tag::Codes);
        assert!(links > 0 && vector_bytes > 0);
        let walk = reader.prefetch(Prefetch::Walk).unwrap();
        let all = reader.prefetch(Prefetch::All).unwrap();
        if index == 0 {
            assert_eq!(codes, 0);
            assert_eq!((walk, all), (links + vector_bytes, links + vector_bytes));
        } else {
            assert!(codes > 0);
            assert_eq!(walk, links + codes);
            assert_eq!(all, links + codes + vector_bytes);
        }
        let after: Vec<_> = vectors[..20]
            .iter()
            .map(|q| reader.nns(10).by_vector(q).unwrap())
            .collect();
        assert_eq!(after, before);
    }
}
