//! Failures and atomicity on every backend: bad input, foreign or newer bytes, a cancelled
//! build and a failing store each leave the index as it was.

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::{Cosine, Euclidean, VectorError};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::failpoint::FailingStore;
use crate::items::{add_and_build, assert_valid, numbered, random_vectors};
use crate::store_suite::{all, fresh};

pub fn bad_input_is_a_typed_error_and_writes_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, 3);
    add_and_build(&store, &writer, &[(1, vec![1.0, 0.0, 0.0])], 0);
    let before = all(&store.read_txn().unwrap());

    let mut wtxn = store.write_txn().unwrap();
    let err = writer.add_item(&mut wtxn, 2, &[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                expected: 3,
                found: 2
            }
        ),
        "{err}"
    );
    let err = writer
        .add_item(&mut wtxn, 2, &[1.0, f32::NAN, 0.0])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            item: Some(2),
            source: VectorError::NonFinite { index: 1 }
        }
    ));
    let err = writer
        .add_item(&mut wtxn, 2, &[0.0, f32::INFINITY, 0.0])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            source: VectorError::NonFinite { .. },
            ..
        }
    ));
    let err = writer.add_item(&mut wtxn, 2, &[0.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidVector {
            source: VectorError::ZeroNorm,
            ..
        }
    ));
    for (m, m0, ef) in [(1, 32, 100), (17, 16, 100), (16, 32, 8), (16, 300, 100)] {
        let err = writer
            .builder(&mut StdRng::seed_from_u64(0))
            .m(m)
            .m0(m0)
            .ef_construction(ef)
            .build(&mut wtxn);
        assert!(
            matches!(err, Err(Error::InvalidParameter(_))),
            "m {m} m0 {m0} ef {ef}"
        );
    }
    // Other settings than the index has.
    let other = Writer::<Cosine>::new(0, 4);
    assert!(matches!(
        other.add_item(&mut wtxn, 9, &[1.0; 4]),
        Err(Error::IndexDimensionMismatch { .. })
    ));
    let euclid = Writer::<Euclidean>::new(0, 3);
    assert!(matches!(
        euclid.add_item(&mut wtxn, 9, &[1.0; 3]),
        Err(Error::MetricMismatch { .. })
    ));
    wtxn.commit().unwrap();
    assert_eq!(
        all(&store.read_txn().unwrap()),
        before,
        "rejected input left a trace"
    );

    let rtxn = store.read_txn().unwrap();
    assert!(matches!(
        Reader::<Euclidean, _>::open(&rtxn, 0),
        Err(Error::MetricMismatch { .. })
    ));
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert!(matches!(
        reader.nns(1).by_vector(&[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vector(&[f32::NAN, 0.0, 0.0]),
        Err(Error::InvalidVector { item: None, .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vector(&[0.0; 3]),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        reader.nns(1).by_vectors(&[1.0; 4]),
        Err(Error::DimensionMismatch { .. })
    ));
}

pub fn foreign_or_newer_bytes_are_refused<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Cosine>::new(0, 3);
    add_and_build(
        &store,
        &writer,
        &[(1, vec![1.0, 0.0, 0.0]), (2, vec![0.0, 1.0, 0.0])],
        0,
    );
    let meta_key = hannoy_graph::format::key::prefix(0, hannoy_graph::format::key::Tag::Metadata);
    let stored = store
        .read_txn()
        .unwrap()
        .get(&meta_key)
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec();

    // A newer format version.
    let mut newer = stored.clone();
    newer[4..8].copy_from_slice(&(hannoy_graph::format::FORMAT_VERSION + 1).to_le_bytes());
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(&meta_key, &newer).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let err = Reader::<Cosine, _>::open(&rtxn, 0).err().expect("refused");
    assert!(
        matches!(err, Error::Store(StoreError::VersionMismatch { .. })),
        "{err}"
    );
    drop(rtxn);

    // Foreign bytes, and every truncation of the real metadata.
    for bytes in std::iter::once(b"not an index".to_vec())
        .chain((0..stored.len()).map(|n| stored[..n].to_vec()))
    {
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(&meta_key, &bytes).unwrap();
        wtxn.commit().unwrap();
        let rtxn = store.read_txn().unwrap();
        let err = Reader::<Cosine, _>::open(&rtxn, 0).err().expect("refused");
        assert!(
            matches!(err, Error::Store(StoreError::Corrupted { .. })),
            "{err}"
        );
    }

    // A cut chunk: the reader refuses it instead of reading past its end.
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(&meta_key, &stored).unwrap();
    let chunk_key = hannoy_graph::format::key::links(0, 0, 0);
    let chunk = wtxn.get(&chunk_key).unwrap().unwrap().as_ref().to_vec();
    wtxn.put(&chunk_key, &chunk[..chunk.len() - 1]).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let err = crate::read_everything::<Cosine, _>(&rtxn, 0).expect_err("refused");
    assert!(
        matches!(err, Error::Store(StoreError::Corrupted { .. })),
        "{err}"
    );
}

pub fn cancelled_build_changes_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(600, 8, 5));
    let writer = Writer::<Euclidean>::new(0, 8);
    add_and_build(&store, &writer, &items[..300], 1);
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in &items[300..] {
        writer.add_item(&mut wtxn, *id, vector).unwrap();
    }
    let before = all(&wtxn);
    let polls = std::sync::atomic::AtomicUsize::new(0);
    let cancel = || polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 50;
    let result = writer
        .builder(&mut StdRng::seed_from_u64(2))
        .cancel(&cancel)
        .build(&mut wtxn);
    assert!(matches!(result, Err(Error::Cancelled)));
    assert_eq!(all(&wtxn), before, "a cancelled build wrote something");
    assert!(writer.need_build(&wtxn).unwrap());
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), 300);
    assert_valid(&reader, &rtxn);
}

/// Adds, deletes, builds and commits through a store that fails its Nth write operation,
/// for N spread over every operation the whole sequence makes (adds, the build's writes,
/// the commit): each failure leaves the store as it was, and the index still opens valid.
pub fn failed_build_leaves_no_partial_index<B: Backend>() {
    let items = numbered(random_vectors(300, 8, 6));
    let writer = Writer::<Euclidean>::new(0, 8);
    let update = |store: &FailingStore<B::Store>| -> hannoy_graph::Result<()> {
        let mut wtxn = store.write_txn()?;
        for (id, vector) in &items[200..] {
            writer.add_item(&mut wtxn, *id, vector)?;
        }
        writer.del_item(&mut wtxn, items[0].0)?;
        writer
            .builder(&mut StdRng::seed_from_u64(2))
            .build(&mut wtxn)?;
        wtxn.commit()?;
        Ok(())
    };
    let prepared = || {
        let (dir, store) = fresh::<B>();
        add_and_build(&store, &writer, &items[..200], 1);
        (dir, store)
    };
    // Count the operations of a run that does not fail.
    let (_dir, store) = prepared();
    let counting = FailingStore::new(store, u64::MAX - 1);
    update(&counting).unwrap();
    let total = counting.steps();
    assert!(
        total > 300,
        "expected the adds and the build to write, saw {total} operations"
    );

    let mut fail_points: Vec<u64> = (0..8).map(|i| i * total / 8).collect();
    fail_points.extend([total - 3, total - 2, total - 1]);
    for fail_at in fail_points {
        let (_dir, store) = prepared();
        let before = all(&store.read_txn().unwrap());
        let failing = FailingStore::new(store, fail_at);
        assert!(
            update(&failing).is_err(),
            "operation {fail_at} of {total} was told to fail"
        );
        let store = failing.into_inner();
        assert_eq!(
            all(&store.read_txn().unwrap()),
            before,
            "failure at {fail_at} of {total} left a partial index"
        );
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_eq!(reader.len(), 200);
        assert_valid(&reader, &rtxn);
    }
}
