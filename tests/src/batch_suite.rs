//! `Writer::add_items` (a batch) against `add_item` called row by row, on every backend.

use hannoy_graph::store::{KvStore, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, Euclidean, VectorError};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::items::random_vectors;
use crate::store_suite::{Entries, all, fresh};

/// How a step's items are written: one `add_item` per row, or one `add_items`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Sequential,
    Batch,
}

fn add<T: WriteTxn>(mode: Mode, writer: &Writer<Cosine>, txn: &mut T, items: &[(u32, Vec<f32>)]) {
    match mode {
        Mode::Sequential => {
            for (id, vector) in items {
                writer.add_item(txn, *id, vector).unwrap();
            }
        }
        Mode::Batch => {
            let ids: Vec<u32> = items.iter().map(|(id, _)| *id).collect();
            let flat: Vec<f32> = items.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            writer.add_items(txn, &ids, &flat).unwrap();
        }
    }
}

fn build<T: WriteTxn>(writer: &Writer<Cosine>, txn: &mut T, pool: &rayon::ThreadPool, seed: u64) {
    writer
        .builder(&mut StdRng::seed_from_u64(seed))
        .thread_pool(pool)
        .build(txn)
        .unwrap();
}

/// The store after each step of a history of adds (written in `mode`), deletes and
/// builds, and the search results at the end.
fn history<B: Backend>(mode: Mode) -> (Vec<Entries>, Vec<Vec<(u32, f32)>>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let dim = 12;
    let vectors = random_vectors(1300, dim, 31);
    let item = |id: u32| (id, vectors[id as usize].clone());
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, dim);
    let mut snapshots = Vec::new();

    // A first batch, built: enough items for several vector chunks.
    let mut wtxn = store.write_txn().unwrap();
    let first: Vec<_> = (0..900).map(item).collect();
    add(mode, &writer, &mut wtxn, &first);
    snapshots.push(all(&wtxn));
    build(&writer, &mut wtxn, &pool, 3);
    wtxn.commit().unwrap();
    snapshots.push(all(&store.read_txn().unwrap()));

    // Free slots: delete built items and pending ones (released at once).
    let mut wtxn = store.write_txn().unwrap();
    add(mode, &writer, &mut wtxn, &[item(950), item(951)]);
    for id in (0..900).step_by(7).chain([950]) {
        assert!(writer.del_item(&mut wtxn, id).unwrap());
    }
    snapshots.push(all(&wtxn));

    // A batch mixing new ids, a pending id (its slot is reused), built ids (replaced) and a
    // duplicate whose last row wins.
    let mut mixed: Vec<(u32, Vec<f32>)> = (1000..1150).map(item).collect();
    mixed.push((951, vectors[1151].clone()));
    mixed.extend(
        (1..60)
            .step_by(5)
            .map(|id| (id, vectors[1200 + id as usize].clone())),
    );
    mixed.push((1000, vectors[1299].clone()));
    add(mode, &writer, &mut wtxn, &mixed);
    snapshots.push(all(&wtxn));
    build(&writer, &mut wtxn, &pool, 4);
    wtxn.commit().unwrap();
    snapshots.push(all(&store.read_txn().unwrap()));

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert!(reader.check(&rtxn).unwrap().is_valid());
    let results = random_vectors(20, dim, 32)
        .iter()
        .map(|q| reader.nns(10).by_vector(q).unwrap())
        .collect();
    (snapshots, results)
}

/// A batch leaves the store byte for byte as the same rows added one by one: the same item
/// ids, slots, vectors, free set and metadata, then the same graph and search results.
pub fn batch_add_equals_sequential_adds<B: Backend>() {
    let (sequential, sequential_results) = history::<B>(Mode::Sequential);
    let (batch, batch_results) = history::<B>(Mode::Batch);
    assert_eq!(sequential.len(), batch.len());
    for (step, (a, b)) in sequential.iter().zip(&batch).enumerate() {
        assert!(a == b, "the stores differ after step {step}");
    }
    assert_eq!(sequential_results, batch_results);
}

/// A bad row anywhere in a batch, a length that does not match, or a writer whose settings
/// disagree with the index: an error, and not one byte written.
pub fn bad_batch_changes_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, 3);
    let mut wtxn = store.write_txn().unwrap();
    writer
        .add_items(&mut wtxn, &[1, 2], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        .unwrap();
    let before = all(&wtxn);

    let mut rows = vec![0.5f32; 3 * 100];
    rows[3 * 57 + 1] = f32::NAN;
    let ids: Vec<u32> = (100..200).collect();
    let err = writer.add_items(&mut wtxn, &ids, &rows).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidVector {
                item: Some(157),
                source: VectorError::NonFinite { index: 1 }
            }
        ),
        "{err}"
    );
    rows[3 * 57 + 1] = 0.5;
    rows[3 * 99..].fill(0.0);
    let err = writer.add_items(&mut wtxn, &ids, &rows).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidVector {
                item: Some(199),
                source: VectorError::ZeroNorm
            }
        ),
        "{err}"
    );
    // A bad row that a later duplicate would replace is refused too, as add_item would.
    let err = writer
        .add_items(
            &mut wtxn,
            &[5, 5],
            &[f32::INFINITY, 0.0, 0.0, 1.0, 0.0, 0.0],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidVector { item: Some(5), .. }),
        "{err}"
    );
    for (ids, len) in [(&[1u32, 2][..], 5), (&[1][..], 6), (&[][..], 3)] {
        let err = writer
            .add_items(&mut wtxn, ids, &vec![1.0; len])
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    }
    let err = Writer::<Cosine>::new(0, 4)
        .add_items(&mut wtxn, &[9], &[1.0; 4])
        .unwrap_err();
    assert!(matches!(err, Error::IndexDimensionMismatch { .. }), "{err}");
    let err = Writer::<Euclidean>::new(0, 3)
        .add_items(&mut wtxn, &[9], &[1.0; 3])
        .unwrap_err();
    assert!(matches!(err, Error::MetricMismatch { .. }), "{err}");
    assert!(all(&wtxn) == before, "a refused batch left a trace");

    // Zero dimensions: refused by both calls, where it used to write metadata no reader
    // could decode.
    let flat = Writer::<Euclidean>::new(1, 0);
    let err = flat.add_item(&mut wtxn, 1, &[]).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    let err = flat.add_items(&mut wtxn, &[1, 2], &[]).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    // An empty batch writes nothing, not even the metadata of a new index.
    Writer::<Cosine>::new(2, 3)
        .add_items(&mut wtxn, &[], &[])
        .unwrap();
    assert!(all(&wtxn) == before);
}

/// An id given several times in one batch is one item with the vector of its last row.
pub fn duplicates_in_a_batch_keep_the_last_row<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, 2);
    let mut wtxn = store.write_txn().unwrap();
    writer
        .add_items(
            &mut wtxn,
            &[5, 7, 5, 9, 5],
            &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0],
        )
        .unwrap();
    assert_eq!(writer.len(&wtxn).unwrap(), 3);
    assert_eq!(writer.item_vector(&wtxn, 5).unwrap(), Some(vec![5.0, 5.0]));
    assert_eq!(writer.item_vector(&wtxn, 7).unwrap(), Some(vec![2.0, 2.0]));
    writer
        .builder(&mut StdRng::seed_from_u64(1))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), 3);
    assert!(reader.check(&rtxn).unwrap().is_valid());
    // Three slots, no orphan: 5 took the first, 7 the second, 9 the third.
    assert_eq!(reader.metadata().slot_count, 3);
    let found = reader.nns(3).by_vector(&[5.0, 5.0]).unwrap();
    assert_eq!(found[0], (5, 0.0));
    let ids: Vec<u32> = found.iter().map(|&(id, _)| id).collect();
    assert_eq!(ids, vec![5, 9, 7]);
}
