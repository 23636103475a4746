//! Compact codes beside the vectors, on every backend: written by builds for the items
//! they insert, re-encoded without a graph rebuild when the scheme changes, removed on
//! request; searches walk on codes and rescore with full vectors, so the distances they
//! return are exact; `check()` compares every code with its vector's encoding; bad input
//! and damaged codes are typed errors.

use hannoy_graph::format::{Metadata, key};
use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, DotProduct, Euclidean, Hamming, Manhattan, Metric, Scheme};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::corruption_suite::{put_raw, snapshot};
use crate::items::{exact_top, random_vectors};
use crate::store_suite::{Entries, fresh, get};

const DIM: usize = 24;

/// `n` vectors far from the origin, of varying norms (centring matters), from `seed`.
fn offset_vectors(n: usize, seed: u64) -> Vec<(u32, Vec<f32>)> {
    random_vectors(n, DIM, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let scale = 1.0 + (i % 7) as f32 * 0.5;
            let vector = v
                .iter()
                .enumerate()
                .map(|(d, x)| x * scale + 3.0 + d as f32 * 0.1);
            (i as u32 * 2 + 1, vector.collect())
        })
        .collect()
}

/// Adds `items`, builds with `codes` (`None`: keep what the index has) and commits.
fn add_and_build<S: KvStore, M: Metric>(
    store: &S,
    writer: &Writer<M>,
    items: &[(u32, Vec<f32>)],
    codes: Option<Option<Scheme>>,
) -> hannoy_graph::Result<()> {
    let mut wtxn = store.write_txn()?;
    for (id, vector) in items {
        writer.add_item(&mut wtxn, *id, vector)?;
    }
    let mut rng = StdRng::seed_from_u64(9);
    let builder = writer.builder(&mut rng).m(8).m0(16).ef_construction(64);
    match codes {
        Some(scheme) => builder.codes(scheme).build(&mut wtxn)?,
        None => builder.build(&mut wtxn)?,
    };
    wtxn.commit()?;
    Ok(())
}

fn metadata<S: KvStore>(store: &S) -> Metadata {
    let meta_key = key::prefix(0, key::Tag::Metadata);
    Metadata::decode(
        &get(&store.read_txn().unwrap(), &meta_key).unwrap(),
        &meta_key,
    )
    .unwrap()
}

/// Every entry whose key starts with `[0][tag]`.
fn entries_of<S: KvStore>(store: &S, tag: key::Tag) -> Entries {
    let prefix = key::prefix(0, tag);
    snapshot(store)
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect()
}

#[track_caller]
fn assert_valid<M: Metric, T: ReadTxn>(reader: &Reader<'_, M, T>, txn: &T) {
    let report = reader.check(txn).unwrap();
    assert!(report.is_valid(), "{report}");
}

/// Recall@10 over `queries`, the distances checked exact (rescored), and the mean number
/// of rescored candidates.
fn recall_and_exactness<M: Metric, T: ReadTxn>(
    reader: &Reader<'_, M, T>,
    items: &[(u32, Vec<f32>)],
    queries: &[Vec<f32>],
    ef: usize,
    rescore: Option<usize>,
) -> (f64, f64) {
    let mut hits = 0usize;
    let mut rescored = 0u64;
    for query in queries {
        let truth = exact_top::<M>(items, query, 10);
        let builder = reader.nns(10).ef_search(ef);
        let builder = match rescore {
            Some(r) => builder.rescore(r),
            None => builder,
        };
        let (found, stats) = builder.by_vector_with_stats(query).unwrap();
        rescored += stats.rescored;
        hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
        let (mut q, mut v) = (Vec::new(), Vec::new());
        M::encode(query, &mut q).unwrap();
        for (id, distance) in found {
            let vector = &items.iter().find(|(i, _)| *i == id).unwrap().1;
            v.clear();
            M::encode(vector, &mut v).unwrap();
            let exact = M::user_distance(M::distance(&q, &v), DIM);
            assert_eq!(distance.to_bits(), exact.to_bits(), "item {id}");
        }
    }
    (
        hits as f64 / (10 * queries.len()) as f64,
        rescored as f64 / queries.len() as f64,
    )
}

fn walk_on_codes_for<B: Backend, M: Metric>(scheme: Scheme, min_recall: f64) {
    let items = offset_vectors(1500, 11);
    let queries: Vec<Vec<f32>> = offset_vectors(40, 12).into_iter().map(|(_, v)| v).collect();
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<M>::new(0, DIM);
    add_and_build(&store, &writer, &items, Some(Some(scheme))).unwrap();
    let meta = metadata(&store);
    let codes = meta.codes.as_ref().expect("the index has codes");
    assert_eq!(codes.scheme, scheme.name());
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<M, _>::open(&rtxn, 0).unwrap();
    assert_eq!(
        reader.quantizer().unwrap().code_len(),
        codes.code_len as usize
    );
    assert_valid(&reader, &rtxn);

    let (exact_walk, _) = {
        let mut hits = 0usize;
        for query in &queries {
            let truth = exact_top::<M>(&items, query, 10);
            let found = reader
                .nns(10)
                .ef_search(64)
                .use_codes(false)
                .by_vector(query)
                .unwrap();
            hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
        }
        (hits as f64 / (10 * queries.len()) as f64, ())
    };
    let (recall, rescored) = recall_and_exactness(&reader, &items, &queries, 64, None);
    eprintln!(
        "{} {}: recall@10 {recall:.3} on codes ({rescored:.1} rescored), {exact_walk:.3} on vectors",
        M::NAME,
        scheme.name()
    );
    assert!(
        recall >= min_recall,
        "recall@10 {recall} below {min_recall}"
    );
    assert!((10.0..=64.0).contains(&rescored), "{rescored}");
    // Fewer rescored candidates: still exact distances, never more rescored than asked.
    let (_, fewer) = recall_and_exactness(&reader, &items, &queries, 64, Some(12));
    assert!(fewer <= 12.0, "{fewer}");
    // The walk on codes finds the nearest of an item by its own vector (itself, but under
    // the dot product, which is not a metric), by vector and by item alike.
    // An item of the densest shell (index % 7 == 0): a wide-shell outlier can be missed by
    // a walk in some parallel-built graphs (seen once in CI on redb).
    let (id, vector) = &items[105];
    let nearest = exact_top::<M>(&items, vector, 1)[0];
    let found = reader.nns(1).ef_search(128).by_vector(vector).unwrap();
    assert_eq!(found[0].0, nearest);
    let found = reader.nns(3).ef_search(128).by_item(&rtxn, *id).unwrap();
    assert_eq!(found[0].0, nearest);
}

/// Every scheme on every metric that takes codes: recall@10 at ef 64 with the default
/// rescore, exact distances, a valid graph whose codes match their vectors.
pub fn search_walks_on_codes_and_rescores_exactly<B: Backend>() {
    walk_on_codes_for::<B, Euclidean>(Scheme::Sq8, 0.9);
    walk_on_codes_for::<B, Cosine>(Scheme::Sq8, 0.9);
    walk_on_codes_for::<B, DotProduct>(Scheme::Sq8, 0.85);
    walk_on_codes_for::<B, Euclidean>(Scheme::RaBitQ1, 0.8);
    walk_on_codes_for::<B, Cosine>(Scheme::RaBitQ1, 0.8);
}

/// Adds (one by one and in a batch), replacements and deletes after a build with codes:
/// the next build encodes what it inserts, `check()` finds every code equal to its
/// vector's, deleted items never come back and a replaced item is found by its new vector.
pub fn codes_follow_adds_replacements_and_deletes<B: Backend>() {
    let items = offset_vectors(600, 21);
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    add_and_build(&store, &writer, &items, Some(Some(Scheme::Sq8))).unwrap();
    let quantizer_before = entries_of(&store, key::Tag::Quantizer);

    let more = offset_vectors(300, 22);
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in &more[..100] {
        writer.add_item(&mut wtxn, id + 10_000, vector).unwrap();
    }
    let batch: Vec<u32> = more[100..].iter().map(|(id, _)| id + 10_000).collect();
    let rows: Vec<f32> = more[100..].iter().flat_map(|(_, v)| v.clone()).collect();
    writer.add_items(&mut wtxn, &batch, &rows).unwrap();
    let replaced = items[5].0;
    // Beside an item of the densest shell (`offset_vectors` scale 1: index % 7 == 0). An
    // outlier of the widest shell sits ~10 away from everything, and a walk at ef 64 can
    // miss such a pair in some parallel-built graphs (seen once in ~20 runs).
    let new_vector: Vec<f32> = items[301].1.iter().map(|x| x + 0.05).collect();
    writer.add_item(&mut wtxn, replaced, &new_vector).unwrap();
    let deleted: Vec<u32> = items[10..40].iter().map(|(id, _)| *id).collect();
    for id in &deleted {
        assert!(writer.del_item(&mut wtxn, *id).unwrap());
    }
    writer
        .builder(&mut StdRng::seed_from_u64(3))
        .m(8)
        .m0(16)
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();

    // Same scheme: the quantizer (centre) is kept, only new codes were written.
    assert_eq!(entries_of(&store, key::Tag::Quantizer), quantizer_before);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    assert_eq!(reader.len(), 600 + 300 - 30);
    for query in random_vectors(30, DIM, 23) {
        let found = reader.nns(20).by_vector(&query).unwrap();
        assert!(found.iter().all(|(id, _)| !deleted.contains(id)));
    }
    let found = reader.nns(1).by_vector(&new_vector).unwrap();
    assert_eq!(found, vec![(replaced, 0.0)]);
    let (id, vector) = &more[147];
    assert_eq!(reader.nns(1).by_vector(vector).unwrap()[0].0, id + 10_000);
}

/// A build with no pending change and another scheme re-encodes the codes and leaves
/// every link chunk as it was; `codes(None)` removes codes and quantizer.
pub fn scheme_change_re_encodes_without_touching_the_graph<B: Backend>() {
    let items = offset_vectors(800, 31);
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    add_and_build(&store, &writer, &items, None).unwrap();
    assert!(metadata(&store).codes.is_none());
    let links = entries_of(&store, key::Tag::Links);

    add_and_build(&store, &writer, &[], Some(Some(Scheme::Sq8))).unwrap();
    let sq8 = entries_of(&store, key::Tag::Codes);
    assert!(!sq8.is_empty());
    add_and_build(&store, &writer, &[], Some(Some(Scheme::RaBitQ1))).unwrap();
    assert_eq!(
        entries_of(&store, key::Tag::Links),
        links,
        "the graph is untouched"
    );
    let rabitq = entries_of(&store, key::Tag::Codes);
    assert_ne!(rabitq, sq8);
    let meta = metadata(&store);
    assert_eq!(meta.codes.as_ref().unwrap().scheme, "rabitq1");
    {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_valid(&reader, &rtxn);
        assert_eq!(reader.quantizer().unwrap().scheme(), Scheme::RaBitQ1);
    }

    add_and_build(&store, &writer, &[], Some(None)).unwrap();
    assert!(metadata(&store).codes.is_none());
    assert!(entries_of(&store, key::Tag::Codes).is_empty());
    assert!(entries_of(&store, key::Tag::Quantizer).is_empty());
    assert_eq!(entries_of(&store, key::Tag::Links), links);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.quantizer().is_none());
    let (id, vector) = &items[3];
    assert_eq!(reader.nns(1).by_vector(vector).unwrap(), vec![(*id, 0.0)]);
}

/// Codes on a metric that takes none, a rescore of 0, a damaged code chunk, a missing
/// quantizer: typed errors, nothing written, nothing served.
pub fn bad_codes_input_is_a_typed_error<B: Backend>() {
    fn refused<B: Backend, M: Metric>(vector: &[f32]) {
        let (_dir, store) = fresh::<B>();
        let writer = Writer::<M>::new(0, vector.len());
        let before = snapshot(&store);
        let items = vec![(1, vector.to_vec()), (2, vector.to_vec())];
        match add_and_build(&store, &writer, &items, Some(Some(Scheme::Sq8))) {
            Err(Error::Codes(_)) => {}
            other => panic!("{}: expected Error::Codes, got {other:?}", M::NAME),
        }
        assert_eq!(snapshot(&store), before, "{}: nothing written", M::NAME);
    }
    refused::<B, Hamming>(&[1.0, 0.0, 1.0, 1.0]);
    refused::<B, Manhattan>(&[1.0, 2.0, 3.0]);

    let items = offset_vectors(300, 41);
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    add_and_build(&store, &writer, &items, Some(Some(Scheme::Sq8))).unwrap();
    {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        let err = reader.nns(5).rescore(0).by_vector(&items[0].1).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
        assert!(reader.nns(5).rescore(1).by_vector(&items[0].1).is_ok());
    }

    // One flipped bit in a code: the search that reads it and check() say which chunk.
    let chunk_key = key::codes(0, 0);
    let good = get(&store.read_txn().unwrap(), &chunk_key).unwrap();
    let mut damaged = good.clone();
    damaged[3] ^= 1;
    put_raw(&store, &chunk_key, &damaged);
    {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        for result in [
            reader.nns(5).by_vector(&items[0].1).map(|_| ()),
            reader.check(&rtxn).map(|_| ()),
        ] {
            match result {
                Err(Error::Store(StoreError::Corrupted { what, key })) => {
                    assert!(what.contains("checksum mismatch"), "{what}");
                    assert_eq!(key, chunk_key);
                }
                other => panic!("expected a checksum mismatch, got {other:?}"),
            }
        }
        // The walk on vectors does not read codes.
        assert!(
            reader
                .nns(5)
                .use_codes(false)
                .by_vector(&items[0].1)
                .is_ok()
        );
    }
    // A code chunk of the wrong length, a missing quantizer: refused by a reader (when it
    // opens, or when it reads the chunk).
    put_raw(&store, &chunk_key, &good[..good.len() - 1]);
    let assert_open_corrupted = |store: &B::Store, expected: &[u8]| {
        let rtxn = store.read_txn().unwrap();
        match crate::read_everything::<Euclidean, _>(&rtxn, 0) {
            Err(Error::Store(StoreError::Corrupted { key, .. })) => assert_eq!(key, expected),
            other => panic!("expected Corrupted, got {:?}", other.map(|_| ())),
        }
    };
    assert_open_corrupted(&store, &chunk_key);
    put_raw(&store, &chunk_key, &good);
    let quantizer_key = key::prefix(0, key::Tag::Quantizer);
    let mut wtxn = store.write_txn().unwrap();
    wtxn.delete(&quantizer_key).unwrap();
    wtxn.commit().unwrap();
    assert_open_corrupted(&store, &quantizer_key);
}

/// Builds `items` into a fresh codes-only index (sq8) and commits, on one thread: the same
/// graph on every run, so the recall asserted on it does not hang on the build's thread
/// timing (one CI run in many, on a loaded machine, built a parallel graph at 0.86).
fn build_codes_only<S: KvStore, M: Metric>(
    store: &S,
    writer: &Writer<M>,
    items: &[(u32, Vec<f32>)],
) -> hannoy_graph::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut wtxn = store.write_txn()?;
    for (id, vector) in items {
        writer.add_item(&mut wtxn, *id, vector)?;
    }
    writer
        .builder(&mut StdRng::seed_from_u64(5))
        .thread_pool(&pool)
        .m(8)
        .m0(16)
        .ef_construction(64)
        .codes_only(Scheme::Sq8)
        .build(&mut wtxn)?;
    wtxn.commit()?;
    Ok(())
}

/// Recall@10 at ef 64 of the reader's searches against the exact top 10 of `items`.
fn recall_at_10<M: Metric, T: ReadTxn>(
    reader: &Reader<'_, M, T>,
    items: &[(u32, Vec<f32>)],
    queries: &[Vec<f32>],
) -> f64 {
    let mut hits = 0usize;
    for query in queries {
        let truth = exact_top::<M>(items, query, 10);
        let (found, stats) = reader.nns(10).by_vector_with_stats(query).unwrap();
        assert_eq!(stats.rescored, 0, "a codes-only search rescores nothing");
        hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    hits as f64 / (10 * queries.len()) as f64
}

/// A codes-only index keeps no vector chunk, ranks by the codes (recall close to a walk
/// with rescoring, distances within the codes' error), gives back the vectors its codes
/// stand for, and takes adds, replacements and deletes later; its scheme is fixed, and an
/// index with full vectors can become codes-only.
pub fn codes_only_keeps_no_vectors_and_takes_updates<B: Backend>() {
    // Every build on one thread: recall is asserted on the graphs built, and a parallel
    // build's graph depends on the threads' timing.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
        .install(codes_only_on_one_thread::<B>);
}

fn codes_only_on_one_thread<B: Backend>() {
    let items = offset_vectors(900, 51);
    let queries: Vec<Vec<f32>> = offset_vectors(40, 52).into_iter().map(|(_, v)| v).collect();
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    build_codes_only(&store, &writer, &items).unwrap();
    assert!(entries_of(&store, key::Tag::Vectors).is_empty());
    let meta = metadata(&store);
    assert!(meta.codes.as_ref().is_some_and(|codes| codes.only));
    {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_valid(&reader, &rtxn);
        let recall = recall_at_10(&reader, &items, &queries);
        assert!(recall >= 0.9, "recall@10 {recall}");
        // Distances are the codes' estimates: close to the exact ones, not equal.
        let (id, vector) = &items[7];
        let found = reader.nns(3).by_vector(vector).unwrap();
        assert_eq!(found[0].0, *id);
        assert!(found[0].1 < 0.05 * found[1].1, "{found:?}");
        let back = reader.item_vector(&rtxn, *id).unwrap().unwrap();
        let error: f32 = back.iter().zip(vector).map(|(a, b)| (a - b).abs()).sum();
        assert!(
            error < 0.02 * vector.iter().map(|x| x.abs()).sum::<f32>(),
            "{error}"
        );
        assert_eq!(reader.nns(3).by_item(&rtxn, *id).unwrap()[0].0, *id);
        // A small filter is answered by a scan, on the codes too.
        let allowed: roaring::RoaringBitmap = items[..5].iter().map(|(id, _)| *id).collect();
        let found = reader
            .nns(3)
            .candidates(&allowed)
            .by_vector(&items[2].1)
            .unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].0, items[2].0);
        assert!(found.iter().all(|(id, _)| allowed.contains(*id)));
        let err = reader
            .nns(3)
            .use_codes(false)
            .by_vector(vector)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    }

    // Adds (one and a batch), a replacement and deletes: built against the codes' vectors.
    let more = offset_vectors(200, 53);
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in &more[..50] {
        writer.add_item(&mut wtxn, id + 10_000, vector).unwrap();
    }
    let batch: Vec<u32> = more[50..].iter().map(|(id, _)| id + 10_000).collect();
    let rows: Vec<f32> = more[50..].iter().flat_map(|(_, v)| v.clone()).collect();
    writer.add_items(&mut wtxn, &batch, &rows).unwrap();
    let replaced = items[3].0;
    let new_vector: Vec<f32> = items[700].1.iter().map(|x| x + 0.05).collect();
    writer.add_item(&mut wtxn, replaced, &new_vector).unwrap();
    // Pending items keep their exact vector until the build; built ones give their codes'.
    assert_eq!(
        writer.item_vector(&wtxn, replaced).unwrap().unwrap(),
        new_vector
    );
    assert!(writer.item_vector(&wtxn, items[8].0).unwrap().is_some());
    let deleted: Vec<u32> = items[20..50].iter().map(|(id, _)| *id).collect();
    for id in &deleted {
        assert!(writer.del_item(&mut wtxn, *id).unwrap());
    }
    writer
        .builder(&mut StdRng::seed_from_u64(6))
        .m(8)
        .m0(16)
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    assert!(entries_of(&store, key::Tag::Vectors).is_empty());
    assert!(metadata(&store).codes.is_some_and(|codes| codes.only));
    let mut now: Vec<(u32, Vec<f32>)> = items
        .iter()
        .filter(|(id, _)| !deleted.contains(id) && *id != replaced)
        .cloned()
        .collect();
    now.extend(more.iter().map(|(id, v)| (id + 10_000, v.clone())));
    now.push((replaced, new_vector.clone()));
    {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_valid(&reader, &rtxn);
        assert_eq!(reader.len(), now.len() as u64);
        let recall = recall_at_10(&reader, &now, &queries);
        assert!(recall >= 0.9, "recall@10 after updates {recall}");
        for query in &queries {
            let found = reader.nns(20).by_vector(query).unwrap();
            assert!(found.iter().all(|(id, _)| !deleted.contains(id)));
        }
        assert_eq!(reader.nns(1).by_vector(&new_vector).unwrap()[0].0, replaced);
        assert_eq!(
            reader.nns(1).by_vector(&more[60].1).unwrap()[0].0,
            more[60].0 + 10_000
        );
    }

    // The scheme is fixed: another one, or none, is refused and writes nothing.
    let before = snapshot(&store);
    for codes in [Some(Scheme::RaBitQ1), None] {
        match add_and_build(&store, &writer, &[], Some(codes)) {
            Err(Error::InvalidParameter(_)) => {}
            other => panic!("{codes:?}: expected InvalidParameter, got {other:?}"),
        }
    }
    assert_eq!(snapshot(&store), before);

    // A scheme that does not decode cannot be codes-only; an index with full vectors and
    // codes of the same scheme becomes codes-only without new codes.
    let (_dir2, other) = fresh::<B>();
    let mut wtxn = other.write_txn().unwrap();
    writer.add_item(&mut wtxn, 1, &items[0].1).unwrap();
    let err = writer
        .builder(&mut StdRng::seed_from_u64(1))
        .codes_only(Scheme::RaBitQ1)
        .build(&mut wtxn)
        .unwrap_err();
    assert!(matches!(err, Error::Codes(_)), "{err}");
    drop(wtxn);
    add_and_build(&other, &writer, &items, Some(Some(Scheme::Sq8))).unwrap();
    let codes = entries_of(&other, key::Tag::Codes);
    let links = entries_of(&other, key::Tag::Links);
    let mut wtxn = other.write_txn().unwrap();
    writer
        .builder(&mut StdRng::seed_from_u64(1))
        .m(8)
        .m0(16)
        .codes_only(Scheme::Sq8)
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    assert!(entries_of(&other, key::Tag::Vectors).is_empty());
    assert_eq!(entries_of(&other, key::Tag::Codes), codes);
    assert_eq!(entries_of(&other, key::Tag::Links), links);
    let rtxn = other.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    assert!(recall_at_10(&reader, &items, &queries) >= 0.9);
    drop(reader);
    drop(rtxn);

    // A code is all there is of an item: a missing code chunk is refused (at open by a
    // reader that loads every chunk there or when the chunk holds the last slot, else by
    // the searches that read it), and a damaged one by the search that reads it.
    let chunk_key = key::codes(0, 0);
    let good = get(&other.read_txn().unwrap(), &chunk_key).unwrap();
    let mut wtxn = other.write_txn().unwrap();
    wtxn.delete(&chunk_key).unwrap();
    wtxn.commit().unwrap();
    let rtxn = other.read_txn().unwrap();
    let searched: Vec<hannoy_graph::Result<()>> = match Reader::<Euclidean, _>::open(&rtxn, 0) {
        Err(error) => vec![Err(error)],
        Ok(reader) => queries
            .iter()
            .map(|query| reader.nns(10).by_vector(query).map(drop))
            .collect(),
    };
    assert!(
        searched
            .iter()
            .all(|r| matches!(r, Err(Error::Store(StoreError::Corrupted { .. })) | Ok(()))),
        "only Corrupted errors"
    );
    assert!(
        searched.iter().any(Result::is_err),
        "the missing chunk is reported"
    );
    drop(rtxn);
    let mut damaged = good.clone();
    damaged[5] ^= 1;
    put_raw(&other, &chunk_key, &damaged);
    let rtxn = other.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    let searches = queries
        .iter()
        .map(|query| reader.nns(10).ef_search(400).by_vector(query).map(|_| ()));
    assert!(
        searches
            .into_iter()
            .any(|result| matches!(result, Err(Error::Store(StoreError::Corrupted { .. })))),
        "a search reads the damaged chunk"
    );
    assert!(reader.check(&rtxn).is_err());
}

/// Every search a reader answers, as bits: by vector on codes and on vectors, by item, and
/// filtered (graph walk and exact scan).
fn answers<M: Metric, T: ReadTxn>(
    reader: &Reader<'_, M, T>,
    txn: &T,
    items: &[(u32, Vec<f32>)],
    queries: &[Vec<f32>],
) -> Vec<Vec<(u32, u32)>> {
    let bits = |found: Vec<(u32, f32)>| -> Vec<(u32, u32)> {
        found.into_iter().map(|(id, d)| (id, d.to_bits())).collect()
    };
    let allowed: roaring::RoaringBitmap = items.iter().map(|(id, _)| *id).step_by(3).collect();
    let few: roaring::RoaringBitmap = items.iter().map(|(id, _)| *id).step_by(97).collect();
    let codes_walk = reader.quantizer().is_some() && !reader.metadata().codes_only();
    let mut all = Vec::new();
    for query in queries {
        all.push(bits(reader.nns(10).ef_search(64).by_vector(query).unwrap()));
        if codes_walk {
            let on_vectors = reader.nns(10).ef_search(64).use_codes(false);
            all.push(bits(on_vectors.by_vector(query).unwrap()));
        }
        for filter in [&allowed, &few] {
            let filtered = reader.nns(10).ef_search(64).candidates(filter);
            all.push(bits(filtered.by_vector(query).unwrap()));
        }
    }
    for (id, _) in items.iter().step_by(50) {
        all.push(bits(reader.nns(5).by_item(txn, *id).unwrap()));
    }
    all
}

/// `Reader::hold_in_memory` copies links and codes out of the store: every answer keeps its
/// bits (f32 walk, walk on codes, codes-only), a second call copies nothing, and a damaged
/// code chunk is refused before anything is copied.
pub fn held_in_memory_reader_answers_the_same_bits<B: Backend>() {
    let items = offset_vectors(800, 41);
    let queries: Vec<Vec<f32>> = offset_vectors(12, 42).into_iter().map(|(_, v)| v).collect();
    for mode in ["f32", "sq8", "sq8-only"] {
        let (_dir, store) = fresh::<B>();
        let writer = Writer::<Euclidean>::new(0, DIM);
        match mode {
            "f32" => add_and_build(&store, &writer, &items, Some(None)).unwrap(),
            "sq8" => add_and_build(&store, &writer, &items, Some(Some(Scheme::Sq8))).unwrap(),
            _ => build_codes_only(&store, &writer, &items).unwrap(),
        }
        let rtxn = store.read_txn().unwrap();
        let borrowed = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        let mut held = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        let copied = held.hold_in_memory().unwrap();
        // Links: at least a layer-0 record (level, degree, m0 links) per item; codes: at
        // least a code per item.
        let links = items.len() * 16 * 4;
        let codes = match mode {
            "f32" => 0,
            _ => items.len() * held.quantizer().unwrap().code_len(),
        };
        assert!(copied >= links + codes, "{mode}: {copied} bytes copied");
        assert_eq!(held.hold_in_memory().unwrap(), 0, "{mode}: copied twice");
        assert_eq!(
            answers(&held, &rtxn, &items, &queries),
            answers(&borrowed, &rtxn, &items, &queries),
            "{mode}"
        );
        assert_valid(&held, &rtxn);
        drop((borrowed, held));
        drop(rtxn);

        if mode != "f32" {
            let chunk_key = key::codes(0, 0);
            let mut damaged = get(&store.read_txn().unwrap(), &chunk_key).unwrap();
            damaged[3] ^= 1;
            put_raw(&store, &chunk_key, &damaged);
            let rtxn = store.read_txn().unwrap();
            let mut reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
            match reader.hold_in_memory() {
                Err(Error::Store(StoreError::Corrupted { key, .. })) => {
                    assert_eq!(key, chunk_key.to_vec(), "{mode}")
                }
                other => panic!("{mode}: expected Corrupted, got {other:?}"),
            }
        }
    }
}

/// `n` vectors in 12 tight clusters whose centres lie at scales from 1 to 10: the shape
/// several quantizer centres are for (one centre leaves the codes' steps on the offsets).
fn far_clusters(n: usize, seed: u64) -> Vec<(u32, Vec<f32>)> {
    let centres = random_vectors(12, DIM, 1234);
    let noise = random_vectors(n, DIM, seed);
    noise
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i % 12;
            let scale = 10f32.powf(c as f32 / 11.0);
            let vector = centres[c]
                .iter()
                .zip(&v)
                .map(|(&m, &x)| m * scale + 0.2 * x);
            (i as u32, vector.collect())
        })
        .collect()
}

/// Codes taken from several quantizer centres, through the whole index on every backend:
/// the fit keeps them on far-apart clusters, searches find the true neighbours with exact
/// distances, `check()` finds every code equal to its vector's, items added later are
/// encoded against the stored centres, and a codes-only index decodes them.
pub fn several_centres_follow_the_data<B: Backend>() {
    let items = far_clusters(1500, 51);
    let queries: Vec<Vec<f32>> = far_clusters(36, 52).into_iter().map(|(_, v)| v).collect();
    let (first, later) = items.split_at(1300);
    for only in [false, true] {
        let (_dir, store) = fresh::<B>();
        let writer = Writer::<Euclidean>::new(0, DIM);
        if only {
            build_codes_only(&store, &writer, first).unwrap();
        } else {
            add_and_build(&store, &writer, first, Some(Some(Scheme::Sq8))).unwrap();
        }
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        let centres = reader.quantizer().unwrap().centres();
        assert_eq!(centres, 10, "one per 128 of 1,300 vectors");
        assert_valid(&reader, &rtxn);
        let one_centre = {
            let vectors: Vec<&[f32]> = first.iter().map(|(_, v)| v.as_slice()).collect();
            hannoy_metrics::Quantizer::fit_with_centres(
                Scheme::Sq8,
                "euclidean",
                DIM,
                0,
                Some(1),
                vectors,
            )
            .unwrap()
        };
        assert_eq!(one_centre.centres(), 1);
        if only {
            // The vector a code stands for: close to the item's, the step spanning its
            // cluster's spread (0.2), not the clusters' scales (up to 10).
            let back = reader.item_vector(&rtxn, first[11].0).unwrap().unwrap();
            let error = back
                .iter()
                .zip(&first[11].1)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(error < 0.01, "decoded within {error}");
            // Ranked by the codes alone, with a walk wide enough that the graph's own
            // misses (parallel builds differ) do not count: measured 0.889-0.892, the
            // codes' own ranking error (the query is prepared around the mean).
            let mut hits = 0;
            for query in &queries {
                let truth = exact_top::<Euclidean>(first, query, 10);
                let found = reader.nns(10).ef_search(400).by_vector(query).unwrap();
                hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
            }
            let recall = hits as f64 / (10 * queries.len()) as f64;
            eprintln!("codes-only, {centres} centres: recall@10 {recall} at ef 400");
            assert!(recall >= 0.85, "codes-only recall@10 {recall}");
        } else {
            // The walk on codes, rescoring 20, finds what the walk on vectors finds in the
            // same graph (measured 0.94-1.0 for both, as the graph varies between builds),
            // with exact distances.
            let (on_codes, _) = recall_and_exactness(&reader, first, &queries, 64, Some(20));
            let mut hits = 0;
            for query in &queries {
                let truth = exact_top::<Euclidean>(first, query, 10);
                let walk = reader.nns(10).ef_search(64).use_codes(false);
                let found = walk.by_vector(query).unwrap();
                hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
            }
            let on_vectors = hits as f64 / (10 * queries.len()) as f64;
            eprintln!("{centres} centres: recall@10 {on_codes} on codes, {on_vectors} on vectors");
            assert!(
                on_codes >= on_vectors - 0.03,
                "{on_codes} against {on_vectors}"
            );
            let (wide, _) = recall_and_exactness(&reader, first, &queries, 400, Some(20));
            assert!(wide >= 0.97, "recall@10 {wide} at ef 400");
        }
        drop(reader);
        drop(rtxn);

        // Later items are encoded against the stored centres, the index stays valid.
        let mut wtxn = store.write_txn().unwrap();
        for (id, vector) in later {
            writer.add_item(&mut wtxn, *id, vector).unwrap();
        }
        writer
            .builder(&mut StdRng::seed_from_u64(2))
            .m(8)
            .m0(16)
            .ef_construction(64)
            .build(&mut wtxn)
            .unwrap();
        wtxn.commit().unwrap();
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_eq!(reader.quantizer().unwrap().centres(), centres);
        assert_valid(&reader, &rtxn);
        let (id, vector) = &later[7];
        let found = reader.nns(1).ef_search(64).by_vector(vector).unwrap();
        assert_eq!(found[0].0, *id, "codes-only {only}");
    }
}
