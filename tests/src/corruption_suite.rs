//! Damaged and foreign bytes on every backend: each stored value is validated where it is
//! decoded, so a bad byte gives a typed error naming its key, never a panic, an abort or a
//! half-written index. Values are damaged directly with `put`, through the key builders of
//! `hannoy_graph::format::key`. The damage here is sealed under a fresh checksum (as bytes
//! damaged before they were checksummed would be), so these tests reach the structural
//! checks behind the checksums; `checksum_suite` damages values without resealing them.

use std::sync::OnceLock;

use hannoy_graph::format::{Metadata, key, links, values};
use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, FilterStrategy, Reader, Writer};
use hannoy_metrics::Euclidean;
use rand::SeedableRng;
use rand::rngs::StdRng;
use roaring::RoaringBitmap;
use tempfile::TempDir;

use crate::Backend;
use crate::fixtures;
use crate::items::random_vectors;
use crate::store_suite::{Entries, all, fresh, get};

pub(crate) const DIM: usize = 4;
pub(crate) const ITEMS: u32 = 120;

/// A built index 0 of `ITEMS` euclidean vectors (ids `0..ITEMS`), with M = 4, M0 = 8 so
/// that a quarter of the nodes reach layer 1.
pub(crate) fn built<B: Backend>() -> (TempDir, B::Store, Writer<Euclidean>) {
    let (dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIM);
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in random_vectors(ITEMS as usize, DIM, 3).iter().enumerate() {
        writer.add_item(&mut wtxn, id as u32, vector).unwrap();
    }
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    (dir, store, writer)
}

/// [`built`], then item 17 deleted and built, so that its slot is free: returns that slot.
fn built_with_a_free_slot<B: Backend>() -> (TempDir, B::Store, Writer<Euclidean>, u32) {
    let (dir, store, writer) = built::<B>();
    let mut wtxn = store.write_txn().unwrap();
    assert!(writer.del_item(&mut wtxn, 17).unwrap());
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let free_bytes =
        get_payload(&store, &key::prefix(0, key::Tag::FreeSlots)).expect("a free slot");
    let free = RoaringBitmap::deserialize_from(&free_bytes[..]).unwrap();
    let slot = free.min().unwrap();
    (dir, store, writer, slot)
}

pub(crate) fn build<T: WriteTxn>(
    writer: &Writer<Euclidean>,
    txn: &mut T,
) -> hannoy_graph::Result<()> {
    writer
        .builder(&mut StdRng::seed_from_u64(5))
        .m(4)
        .m0(8)
        .ef_construction(32)
        .build(txn)
        .map(drop)
}

pub(crate) fn metadata<S: KvStore>(store: &S) -> Metadata {
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let bytes = get(&store.read_txn().unwrap(), &meta_key).expect("metadata");
    Metadata::decode(&bytes, &meta_key).unwrap()
}

/// Stores `payload` under `key` with a valid checksum trailer.
pub(crate) fn put<S: KvStore>(store: &S, key: &[u8], payload: &[u8]) {
    let sealed = metadata(store).seal(key, payload.to_vec());
    put_raw(store, key, &sealed);
}

/// Stores `value` under `key` as it is (a metadata value seals itself).
pub(crate) fn put_raw<S: KvStore>(store: &S, key: &[u8], value: &[u8]) {
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(key, value).unwrap();
    wtxn.commit().unwrap();
}

/// The payload stored under `key` (its checksum checked), if any.
fn get_payload<S: KvStore>(store: &S, key: &[u8]) -> Option<Vec<u8>> {
    let value = get(&store.read_txn().unwrap(), key)?;
    Some(metadata(store).unseal(key, &value).unwrap().to_vec())
}

pub(crate) fn snapshot<S: KvStore>(store: &S) -> Entries {
    all(&store.read_txn().unwrap())
}

#[track_caller]
fn assert_corrupted<T>(result: hannoy_graph::Result<T>, expected_key: &[u8]) {
    match result {
        Err(Error::Store(StoreError::Corrupted { key, .. })) if key == expected_key => {}
        Err(other) => panic!("expected Corrupted at key {expected_key:02x?}, got {other}"),
        Ok(_) => panic!("expected Corrupted at key {expected_key:02x?}, got Ok"),
    }
}

/// Asserts that the reader refuses the store and that a build fails without writing.
#[track_caller]
fn assert_refused_everywhere<S: KvStore>(store: &S, writer: &Writer<Euclidean>, bad_key: &[u8]) {
    let rtxn = store.read_txn().unwrap();
    assert_corrupted(crate::read_everything::<Euclidean, _>(&rtxn, 0), bad_key);
    drop(rtxn);
    let before = snapshot(store);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(build(writer, &mut wtxn), bad_key);
    drop(wtxn);
    assert_eq!(snapshot(store), before, "a failed build writes nothing");
}

/// The first upper-layer link chunk and the layer it is on.
fn first_upper_chunk<S: KvStore>(store: &S) -> (Vec<u8>, Vec<u8>) {
    let meta = metadata(store);
    assert!(meta.max_level >= 1, "the fixture has an upper layer");
    let rtxn = store.read_txn().unwrap();
    let mut chunks = rtxn.prefix(&key::links_layer(0, 1)).unwrap();
    let (chunk_key, value) = chunks.next().expect("an upper chunk").unwrap();
    let payload = meta.unseal(chunk_key.as_ref(), value.as_ref()).unwrap();
    (chunk_key.as_ref().to_vec(), payload.to_vec())
}

pub fn upper_layer_degree_past_m_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let (chunk_key, mut chunk) = first_upper_chunk(&store);
    // The degree byte of the chunk's first entry, just after the presence mask.
    chunk[links::MASK_LEN] = 200;
    put(&store, &chunk_key, &chunk);
    assert_refused_everywhere(&store, &writer, &chunk_key);
}

pub fn upper_layer_link_past_slot_count_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let (chunk_key, mut chunk) = first_upper_chunk(&store);
    let first_link = links::MASK_LEN + 4;
    chunk[links::MASK_LEN] = chunk[links::MASK_LEN].max(1);
    chunk[first_link..first_link + 4].copy_from_slice(&(meta.slot_count + 7).to_le_bytes());
    put(&store, &chunk_key, &chunk);
    assert_refused_everywhere(&store, &writer, &chunk_key);
}

pub fn free_slot_with_bad_degree_is_corrupted<B: Backend>() {
    let (_dir, store, writer, slot) = built_with_a_free_slot::<B>();
    let meta = metadata(&store);
    let (chunk, offset) = meta.geometry.link_place(slot);
    let chunk_key = key::links(0, 0, chunk);
    let mut bytes = get_payload(&store, &chunk_key).unwrap();
    let record = offset * links::record0_len(usize::from(meta.m0));
    assert_eq!(bytes[record + 4], links::FREE, "the slot is free");
    bytes[record + 5] = 255;
    put(&store, &chunk_key, &bytes);
    assert_refused_everywhere(&store, &writer, &chunk_key);
}

pub fn pending_slot_past_slot_count_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    // A pending add whose slot lies inside the last vector chunk but past the slot count.
    // Item 5000 is alone in its group: the mask holds its bit alone, then the slot.
    let pending_key = values::pending_key(0, 5000, &meta);
    let mut payload = (1u64 << (5000 % 64)).to_le_bytes().to_vec();
    payload.extend_from_slice(&meta.slot_count.to_le_bytes());
    put(&store, &pending_key, &payload);
    assert_refused_everywhere(&store, &writer, &pending_key);
    let rtxn = store.read_txn().unwrap();
    assert_corrupted(writer.item_vector(&rtxn, 5000), &pending_key);
    assert_corrupted(writer.item_ids(&rtxn), &pending_key);
}

pub fn free_slot_past_slot_count_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let free_key = key::prefix(0, key::Tag::FreeSlots);
    let mut free = RoaringBitmap::new();
    free.insert(meta.slot_count + 1);
    let mut bytes = Vec::new();
    free.serialize_into(&mut bytes).unwrap();
    put(&store, &free_key, &bytes);
    // An add would take that slot: it is refused before anything is written.
    let before = snapshot(&store);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(writer.add_item(&mut wtxn, 5000, &[0.5; DIM]), &free_key);
    drop(wtxn);
    assert_eq!(snapshot(&store), before);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(build(&writer, &mut wtxn), &free_key);
}

pub fn slot_count_past_the_stored_vectors_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let meta_key = key::prefix(0, key::Tag::Metadata);
    // A few chunks more than exist, then (if it were believed) a 64 GiB chunk table.
    for slot_count in [
        meta.slot_count + 10 * meta.geometry.vector_slots,
        u32::MAX - 1,
    ] {
        let damaged = Metadata {
            slot_count,
            ..meta.clone()
        };
        put_raw(&store, &meta_key, &damaged.encode(&meta_key));
        assert_refused_everywhere(&store, &writer, &meta_key);
    }
}

/// A slot count that one stray vector chunk at its end seems to back: refused (by the
/// count of stored chunks at an open that loads them all, by the built, free and added
/// slots at one that looks chunks up on first use), before a visited set is sized from it.
pub fn slot_count_backed_by_one_stray_chunk_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let slot_count = meta.slot_count + 10 * meta.geometry.vector_slots;
    let last = meta.geometry.vector_chunks(slot_count) as u32 - 1;
    let chunk = get(&store.read_txn().unwrap(), &key::vectors(0, 0)).expect("chunk 0");
    put_raw(&store, &key::vectors(0, last), &chunk);
    let damaged = Metadata {
        slot_count,
        ..meta.clone()
    };
    put_raw(&store, &meta_key, &damaged.encode(&meta_key));
    let rtxn = store.read_txn().unwrap();
    assert_corrupted(Reader::<Euclidean, _>::open(&rtxn, 0), &meta_key);
    drop(rtxn);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(build(&writer, &mut wtxn), &meta_key);
}

pub fn chunk_sizes_that_overflow_are_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let meta_key = key::prefix(0, key::Tag::Metadata);
    // u32::MAX dimensions times u32::MAX slots per chunk overflows any byte count.
    let damaged = Metadata {
        dimensions: u32::MAX,
        geometry: hannoy_graph::format::Geometry {
            vector_slots: u32::MAX,
            ..meta.geometry
        },
        ..meta.clone()
    };
    put_raw(&store, &meta_key, &damaged.encode(&meta_key));
    let rtxn = store.read_txn().unwrap();
    assert_corrupted(Reader::<Euclidean, _>::open(&rtxn, 0), &meta_key);
    drop(rtxn);
    // The writer of those dimensions is refused the same way.
    let huge = Writer::<Euclidean>::new(0, u32::MAX as usize);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(huge.del_item(&mut wtxn, 1), &meta_key);
    drop(wtxn);
    let _ = writer;
}

pub fn item_count_disagreeing_with_the_item_set_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let damaged = Metadata {
        item_count: meta.item_count - 1,
        ..meta
    };
    put_raw(&store, &meta_key, &damaged.encode(&meta_key));
    assert_refused_everywhere(&store, &writer, &key::prefix(0, key::Tag::Items));
}

pub fn huge_k_returns_every_item<B: Backend>() {
    let (_dir, store, _writer) = built::<B>();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    let query = [0.1; DIM];
    let everything: RoaringBitmap = (0..ITEMS).collect();
    let scanned = reader
        .nns(usize::MAX)
        .candidates(&everything)
        .filter_strategy(FilterStrategy::ExactScan)
        .by_vector(&query)
        .unwrap();
    assert_eq!(scanned.len(), ITEMS as usize);
    for strategy in [FilterStrategy::Auto, FilterStrategy::Graph] {
        let found = reader
            .nns(usize::MAX)
            .candidates(&everything)
            .filter_strategy(strategy)
            .by_vector(&query)
            .unwrap();
        assert!(!found.is_empty() && found.len() <= ITEMS as usize);
    }
    let unfiltered = reader.nns(usize::MAX).by_vector(&query).unwrap();
    assert!(!unfiltered.is_empty() && unfiltered.len() <= ITEMS as usize);
    assert_eq!(scanned[0], unfiltered[0], "both find the true nearest");
    let huge_ef = reader
        .nns(3)
        .ef_search(usize::MAX)
        .by_vector(&query)
        .unwrap();
    assert_eq!(huge_ef.len(), 3);
}

pub fn dimensions_past_u32_are_refused<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let dimensions = usize::try_from((1u64 << 32) + 3).expect("a 64-bit target");
    let writer = Writer::<Euclidean>::new(0, dimensions);
    let mut wtxn = store.write_txn().unwrap();
    let err = writer
        .builder(&mut StdRng::seed_from_u64(0))
        .build(&mut wtxn)
        .expect_err("refused");
    assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    let err = writer.add_items(&mut wtxn, &[], &[]).expect_err("refused");
    assert!(matches!(err, Error::InvalidParameter(_)), "{err}");
    wtxn.commit().unwrap();
    assert!(snapshot(&store).is_empty(), "nothing written");
}

/// Every key and value of a store written by the published hannoy 0.3 crate (index 0,
/// 40 euclidean vectors of 4 dimensions), built or not: read once per process from the
/// fixture files ([`crate::fixtures::hannoy_0_3_store`]) and copied into each backend by
/// the tests.
fn published_store(build: bool) -> &'static Entries {
    static BUILT: OnceLock<Entries> = OnceLock::new();
    static UNBUILT: OnceLock<Entries> = OnceLock::new();
    let cell = if build { &BUILT } else { &UNBUILT };
    cell.get_or_init(|| {
        let entries = fixtures::read_entries(&fixtures::hannoy_0_3_store(build));
        assert!(!entries.is_empty());
        entries
    })
}

#[track_caller]
fn assert_foreign<T>(result: hannoy_graph::Result<T>, expected: &str) {
    match result {
        Err(Error::Store(StoreError::ForeignFormat { format, .. })) => {
            assert!(format.contains(expected), "{format}");
        }
        Err(other) => panic!("expected ForeignFormat, got {other}"),
        Ok(_) => panic!("expected ForeignFormat, got Ok"),
    }
}

fn refuses_published_store<B: Backend>(build: bool, expected: &str) {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    for (key, value) in published_store(build) {
        wtxn.put(key, value).unwrap();
    }
    wtxn.commit().unwrap();
    let before = snapshot(&store);

    let rtxn = store.read_txn().unwrap();
    assert_foreign(Reader::<Euclidean, _>::open(&rtxn, 0), expected);
    let writer = Writer::<Euclidean>::new(0, DIM);
    assert_foreign(writer.item_ids(&rtxn), expected);
    drop(rtxn);
    let mut wtxn = store.write_txn().unwrap();
    assert_foreign(writer.add_item(&mut wtxn, 1000, &[0.5; DIM]), expected);
    assert_foreign(writer.add_items(&mut wtxn, &[1001], &[0.5; DIM]), expected);
    assert_foreign(writer.del_item(&mut wtxn, 3), expected);
    assert_foreign(
        writer
            .builder(&mut StdRng::seed_from_u64(0))
            .build(&mut wtxn),
        expected,
    );
    wtxn.commit().unwrap();
    assert_eq!(snapshot(&store), before, "nothing written");

    // Another index number of the same store is ours to use.
    let other = Writer::<Euclidean>::new(1, DIM);
    let mut wtxn = store.write_txn().unwrap();
    other.add_item(&mut wtxn, 1, &[0.5; DIM]).unwrap();
    other
        .builder(&mut StdRng::seed_from_u64(0))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    assert_eq!(Reader::<Euclidean, _>::open(&rtxn, 1).unwrap().len(), 1);
}

pub fn built_hannoy_0_3_store_is_foreign<B: Backend>() {
    refuses_published_store::<B>(true, "hannoy 0.3 (v0.3.0)");
}

pub fn unbuilt_hannoy_0_3_store_is_foreign<B: Backend>() {
    refuses_published_store::<B>(false, "hannoy 0.3");
}

pub fn free_slot_holding_a_live_node_is_corrupted<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let free_key = key::prefix(0, key::Tag::FreeSlots);
    let mut free = RoaringBitmap::new();
    free.insert(0);
    let mut bytes = Vec::new();
    free.serialize_into(&mut bytes).unwrap();
    put(&store, &free_key, &bytes);
    let before = snapshot(&store);
    let mut wtxn = store.write_txn().unwrap();
    assert_corrupted(build(&writer, &mut wtxn), &free_key);
    drop(wtxn);
    assert_eq!(snapshot(&store), before);
}

/// arroy's older layout (read from its source: `[index: u16][mode: u8][id: u32][0u8]` keys,
/// items under mode 0, tree nodes under 1, metadata under 2), written by hand: the leaf
/// values are a node tag 0, a 4-byte header and the f32s, as arroy's node codec writes
/// them. No arroy crate is built here.
pub fn arroy_layout_is_foreign<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let arroy_key = |mode: u8, id: u32| {
        let mut bytes = vec![0, 0, mode];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.push(0);
        bytes
    };
    let mut wtxn = store.write_txn().unwrap();
    for (id, vector) in random_vectors(5, DIM, 4).iter().enumerate() {
        let mut leaf = vec![0u8, 0, 0, 0, 0];
        for x in vector {
            leaf.extend_from_slice(&x.to_le_bytes());
        }
        wtxn.put(&arroy_key(0, id as u32), &leaf).unwrap();
    }
    wtxn.put(&arroy_key(2, 0), b"euclidean\0").unwrap();
    wtxn.commit().unwrap();
    let before = snapshot(&store);
    let rtxn = store.read_txn().unwrap();
    assert_foreign(Reader::<Euclidean, _>::open(&rtxn, 0), "arroy");
    drop(rtxn);
    let writer = Writer::<Euclidean>::new(0, DIM);
    let mut wtxn = store.write_txn().unwrap();
    assert_foreign(writer.add_item(&mut wtxn, 9, &[0.5; DIM]), "arroy");
    assert_foreign(writer.clear(&mut wtxn), "arroy");
    wtxn.commit().unwrap();
    assert_eq!(snapshot(&store), before);
}

/// A link to a free slot is in range, so it loads; searches, the check and a build must
/// still treat it as damage, never follow it into a panic.
pub fn links_to_a_free_slot_are_reported_not_followed_into_a_panic<B: Backend>() {
    let (_dir, store, writer, free_slot) = built_with_a_free_slot::<B>();
    let meta = metadata(&store);
    // Every live record of the first layer-0 chunk now links to the free slot first.
    let chunk_key = key::links(0, 0, 0);
    let mut bytes = get_payload(&store, &chunk_key).unwrap();
    let record_len = links::record0_len(usize::from(meta.m0));
    for record in bytes.chunks_exact_mut(record_len) {
        if record[4] != links::FREE && record[5] > 0 {
            record[8..12].copy_from_slice(&free_slot.to_le_bytes());
        }
    }
    put(&store, &chunk_key, &bytes);

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    for query in random_vectors(20, DIM, 11) {
        match reader.nns(10).by_vector(&query) {
            Ok(found) => assert!(found.iter().all(|&(id, _)| id != 17)),
            Err(Error::Store(StoreError::Corrupted { .. })) => {}
            Err(other) => panic!("{other}"),
        }
    }
    let report = reader.check(&rtxn).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("dead slot {free_slot}"))),
        "{report}"
    );
    drop(reader);
    drop(rtxn);
    let mut wtxn = store.write_txn().unwrap();
    writer.add_item(&mut wtxn, 500, &[0.25; DIM]).unwrap();
    match build(&writer, &mut wtxn) {
        Ok(()) | Err(Error::Store(StoreError::Corrupted { .. })) => {}
        Err(other) => panic!("{other}"),
    }
}
