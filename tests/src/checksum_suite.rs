//! Checksums on every backend (format version 2): a value damaged in a way that still
//! decodes (one flipped bit, a value swapped with another key's) is reported as
//! `Corrupted` "checksum mismatch" naming its key, by whichever of open, search, check and
//! the writer reads it first; never served as a silently different result, never sealed
//! under a fresh checksum by a write. Version-1 stores (no checksums) stay readable and
//! writable.

use hannoy_graph::format::{FORMAT_VERSION, GROUPS_SINCE, Metadata, id_group, key, slot_map};
use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::Euclidean;

use crate::Backend;
use crate::corruption_suite::{DIM, ITEMS, build, built, metadata, put_raw, snapshot};
use crate::items::random_vectors;
use crate::store_suite::{all, get};

/// Flips the lowest bit of byte `at` of the value under `key`, keeping its old trailer.
fn flip<S: KvStore>(store: &S, key: &[u8], at: usize) {
    let mut value = get(&store.read_txn().unwrap(), key).expect("the value exists");
    value[at] ^= 1;
    put_raw(store, key, &value);
}

#[track_caller]
fn assert_checksum<T: std::fmt::Debug>(result: hannoy_graph::Result<T>, expected_key: &[u8]) {
    match result {
        Err(Error::Store(StoreError::Corrupted { what, key }))
            if key == expected_key && what.contains("checksum mismatch") => {}
        other => panic!("expected a checksum mismatch at key {expected_key:02x?}, got {other:?}"),
    }
}

/// Asserts that opening a reader fails with a checksum mismatch at `bad_key`.
#[track_caller]
fn assert_open_refused<S: KvStore>(store: &S, bad_key: &[u8]) {
    let rtxn = store.read_txn().unwrap();
    assert_checksum(crate::read_everything::<Euclidean, _>(&rtxn, 0), bad_key);
}

/// Asserts that adding an item and building on top of the damage fails with a checksum
/// mismatch at `bad_key`, and that nothing is written (the caller would drop the
/// transaction; a commit is not even reached).
#[track_caller]
fn assert_write_refused<S: KvStore>(store: &S, writer: &Writer<Euclidean>, bad_key: &[u8]) {
    let before = snapshot(store);
    let mut wtxn = store.write_txn().unwrap();
    let result = writer
        .add_item(&mut wtxn, ITEMS + 7, &[0.25; DIM])
        .and_then(|()| build(writer, &mut wtxn));
    assert_checksum(result, bad_key);
    drop(wtxn);
    assert_eq!(snapshot(store), before, "a refused write commits nothing");
}

pub fn flipped_bit_in_a_vector_chunk_is_reported_not_served<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    // All ITEMS vectors share chunk 0; byte 1 is in the mantissa of slot 0's first
    // component: the value still decodes, only a distance would change.
    let chunk_key = key::vectors(0, 0);
    flip(&store, &chunk_key, 1);
    let rtxn = store.read_txn().unwrap();
    // Opening does not read vector chunks: it succeeds, and the first search reports.
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    for query in random_vectors(10, DIM, 31) {
        assert_checksum(reader.nns(5).by_vector(&query), &chunk_key);
    }
    assert_checksum(reader.nns(5).by_item(&rtxn, 3), &chunk_key);
    assert_checksum(reader.item_vector(&rtxn, 3), &chunk_key);
    assert_checksum(reader.check(&rtxn), &chunk_key);
    assert_checksum(writer.item_vector(&rtxn, 3), &chunk_key);
    drop(reader);
    drop(rtxn);
    assert_write_refused(&store, &writer, &chunk_key);
}

pub fn flipped_bit_in_a_vector_chunk_is_caught_by_check<B: Backend>() {
    let (_dir, store, _writer) = built::<B>();
    let chunk_key = key::vectors(0, 0);
    // A vector that no search reads first: the last slot's last byte.
    let len = get(&store.read_txn().unwrap(), &chunk_key).unwrap().len();
    flip(&store, &chunk_key, len - 9);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_checksum(reader.check(&rtxn), &chunk_key);
}

pub fn flipped_bit_in_a_link_chunk_is_reported<B: Backend>() {
    // Layer 0: a bit of the first record's first link (still a slot in range).
    let (_dir, store, writer) = built::<B>();
    let chunk_key = key::links(0, 0, 0);
    flip(&store, &chunk_key, 8);
    assert_open_refused(&store, &chunk_key);
    assert_write_refused(&store, &writer, &chunk_key);

    // An upper layer: the first entry's first link.
    let (_dir, store, writer) = built::<B>();
    assert!(
        metadata(&store).max_level >= 1,
        "the fixture has an upper layer"
    );
    let (chunk_key, _) = {
        let rtxn = store.read_txn().unwrap();
        let mut chunks = rtxn.prefix(&key::links_layer(0, 1)).unwrap();
        let (k, v) = chunks.next().expect("an upper chunk").unwrap();
        (k.as_ref().to_vec(), v.as_ref().to_vec())
    };
    flip(
        &store,
        &chunk_key,
        hannoy_graph::format::links::MASK_LEN + 4,
    );
    assert_open_refused(&store, &chunk_key);
    assert_write_refused(&store, &writer, &chunk_key);
}

/// A reader on a store's own read transaction opens without reading link chunks (in
/// constant time); the searches that read a damaged one report it, and none is served.
pub fn flipped_bit_in_a_link_chunk_is_reported_by_the_search_that_reads_it<B: Backend>() {
    let (_dir, store, _writer) = built::<B>();
    let chunk_key = key::links(0, 0, 0);
    flip(&store, &chunk_key, 8);
    let rtxn = store.read_txn().unwrap();
    assert!(
        rtxn.shared_get().is_some(),
        "every store's own read transaction offers a shared get"
    );
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).expect("open reads no link chunk");
    let mut reported = 0;
    for query in random_vectors(20, DIM, 32) {
        match reader.nns(5).by_vector(&query) {
            Ok(found) => assert_eq!(found.len(), 5),
            Err(error) => {
                assert_checksum(Err::<(), _>(error), &chunk_key);
                reported += 1;
            }
        }
    }
    // Every walk starts at the entry point and reads layer 0 around it; the fixture's
    // slots share a couple of chunks, so the damaged one is read.
    assert!(reported > 0, "no search read the damaged chunk");
    assert_checksum(reader.check(&rtxn), &chunk_key);
}

pub fn flipped_bit_in_a_slot_map_value_is_reported<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let slot_key = slot_map::key_of(0, 3, &metadata(&store));
    flip(&store, &slot_key, 0);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_checksum(reader.item_vector(&rtxn, 3), &slot_key);
    assert_checksum(reader.nns(5).by_item(&rtxn, 3), &slot_key);
    assert_checksum(reader.check(&rtxn), &slot_key);
    assert_checksum(writer.item_vector(&rtxn, 3), &slot_key);
    assert_checksum(writer.contains_item(&rtxn, 3), &slot_key);
    drop(reader);
    drop(rtxn);
    let before = snapshot(&store);
    let mut wtxn = store.write_txn().unwrap();
    assert_checksum(writer.del_item(&mut wtxn, 3), &slot_key);
    drop(wtxn);
    assert_eq!(snapshot(&store), before);
}

pub fn flipped_bit_in_the_item_set_metadata_or_pending_is_reported<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let items_key = key::prefix(0, key::Tag::Items);
    // The last byte of the payload: a container's last value, which still decodes.
    let len = get(&store.read_txn().unwrap(), &items_key).unwrap().len();
    flip(&store, &items_key, len - 9);
    assert_open_refused(&store, &items_key);
    assert_write_refused(&store, &writer, &items_key);

    let (_dir, store, writer) = built::<B>();
    let meta_key = key::prefix(0, key::Tag::Metadata);
    // The first byte of ef_construction: still in range, so only the checksum sees it.
    let at = 4 + 4 + 8 + 1 + "euclidean".len() + 4 + 2 + 2;
    flip(&store, &meta_key, at);
    assert_open_refused(&store, &meta_key);
    assert_write_refused(&store, &writer, &meta_key);

    let (_dir, store, writer) = built::<B>();
    let mut wtxn = store.write_txn().unwrap();
    writer.add_item(&mut wtxn, 500, &[0.5; DIM]).unwrap();
    wtxn.commit().unwrap();
    let pending_key = hannoy_graph::format::values::pending_key(0, 500, &metadata(&store));
    flip(&store, &pending_key, 0);
    assert_open_refused(&store, &pending_key);
    let rtxn = store.read_txn().unwrap();
    assert_checksum(writer.item_ids(&rtxn), &pending_key);
    drop(rtxn);
    let before = snapshot(&store);
    let mut wtxn = store.write_txn().unwrap();
    assert_checksum(build(&writer, &mut wtxn), &pending_key);
    drop(wtxn);
    assert_eq!(snapshot(&store), before);
}

pub fn flipped_bit_in_the_free_set_is_reported<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let mut wtxn = store.write_txn().unwrap();
    assert!(writer.del_item(&mut wtxn, 17).unwrap());
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let free_key = key::prefix(0, key::Tag::FreeSlots);
    let len = get(&store.read_txn().unwrap(), &free_key).unwrap().len();
    flip(&store, &free_key, len - 9);
    // A reader that reads chunks on first use bounds its slot count with the free set at
    // open; one that reads them all at open needs it only in `check`.
    let rtxn = store.read_txn().unwrap();
    assert_checksum(crate::read_everything::<Euclidean, _>(&rtxn, 0), &free_key);
    drop(rtxn);
    assert_write_refused(&store, &writer, &free_key);
}

pub fn values_swapped_between_keys_are_reported<B: Backend>() {
    // Two slot-map groups (ids 0 to 63, and 64 on): each value decodes as a group on its
    // own, so only the checksum tells them apart.
    let (_dir, store, _writer) = built::<B>();
    let meta = metadata(&store);
    let (a, b) = (
        slot_map::key_of(0, 3, &meta),
        slot_map::key_of(0, 70, &meta),
    );
    assert_ne!(a, b);
    let rtxn = store.read_txn().unwrap();
    let (value_a, value_b) = (get(&rtxn, &a).unwrap(), get(&rtxn, &b).unwrap());
    drop(rtxn);
    put_raw(&store, &a, &value_b);
    put_raw(&store, &b, &value_a);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_checksum(reader.item_vector(&rtxn, 3), &a);
    assert_checksum(reader.item_vector(&rtxn, 70), &b);
    assert_checksum(reader.check(&rtxn), &a);
    drop(reader);
    drop(rtxn);

    // Two layer-0 link chunks of the same length: with 320 items every store has more
    // than one (a chunk holds at most 128 slots).
    let (_dir, store, writer) = built::<B>();
    let mut wtxn = store.write_txn().unwrap();
    let more = random_vectors(200, DIM, 5);
    for (id, vector) in (ITEMS..).zip(&more) {
        writer.add_item(&mut wtxn, id, vector).unwrap();
    }
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let (a, b) = (key::links(0, 0, 0), key::links(0, 0, 1));
    let rtxn = store.read_txn().unwrap();
    let (value_a, value_b) = (
        get(&rtxn, &a).expect("chunk 0"),
        get(&rtxn, &b).expect("a second chunk"),
    );
    drop(rtxn);
    assert_eq!(value_a.len(), value_b.len());
    put_raw(&store, &a, &value_b);
    put_raw(&store, &b, &value_a);
    assert_open_refused(&store, &a);
}

/// Rewrites index 0 as format version `version` (1 or 3) wrote it: the metadata in that
/// version; the slot map one entry per id (version 4 grouped it; the fixture has no
/// pending changes, grouped too); and in version 1 every
/// value without its trailer (version 2 added only the trailers). Byte for byte what a
/// build in that version wrote.
fn downgrade<S: KvStore>(store: &S, version: u32) {
    assert!(version < GROUPS_SINCE);
    let meta = metadata(store);
    assert_eq!(meta.version, FORMAT_VERSION);
    let old = Metadata {
        version,
        ..meta.clone()
    };
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let slot_prefix = key::prefix(0, key::Tag::Slot);
    let entries = all(&store.read_txn().unwrap());
    let pending_prefix = key::prefix(0, key::Tag::Pending);
    assert!(!entries.iter().any(|(k, _)| k.starts_with(&pending_prefix)));
    let mut wtxn = store.write_txn().unwrap();
    wtxn.delete_prefix(&slot_prefix).unwrap();
    for (k, value) in entries {
        if !k.starts_with(&key::index_prefix(0)) {
            continue;
        }
        if k[..] == meta_key[..] {
            wtxn.put(&k, &old.encode(&meta_key)).unwrap();
            continue;
        }
        let payload = meta.unseal(&k, &value).unwrap();
        if !k.starts_with(&slot_prefix) {
            wtxn.put(&k, &old.seal(&k, payload.to_vec())).unwrap();
            continue;
        }
        for (id, slot) in slot_map::decode_entry(&meta, &k, payload).unwrap() {
            let id_key = slot_map::key_of(0, id, &old);
            let sealed = old.seal(&id_key, slot.to_le_bytes().to_vec());
            wtxn.put(&id_key, &sealed).unwrap();
        }
    }
    wtxn.commit().unwrap();
}

/// The five nearest items to each of `queries` in index 0, after a check that passes.
fn checked_answers<S: KvStore>(store: &S, queries: &[Vec<f32>]) -> Vec<Vec<(u32, f32)>> {
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.check(&rtxn).unwrap().is_valid());
    queries
        .iter()
        .map(|q| reader.nns(5).by_vector(q).unwrap())
        .collect()
}

pub fn version_1_store_stays_readable_and_writable<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let queries = random_vectors(10, DIM, 41);
    let search = |store: &B::Store| checked_answers(store, &queries);
    let before = search(&store);
    downgrade(&store, 1);
    let meta = metadata(&store);
    assert_eq!(meta.version, 1);
    assert!(!meta.checksums());
    let slot_key = key::item(0, key::Tag::Slot, 3);
    assert_eq!(get(&store.read_txn().unwrap(), &slot_key).unwrap().len(), 4);
    assert_eq!(search(&store), before, "a version-1 store reads the same");

    // Writes keep version 1: no value gains a trailer.
    let mut wtxn = store.write_txn().unwrap();
    writer.add_item(&mut wtxn, 900, &[0.5; DIM]).unwrap();
    assert!(writer.del_item(&mut wtxn, 4).unwrap());
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let meta = metadata(&store);
    assert_eq!(meta.version, 1);
    let rtxn = store.read_txn().unwrap();
    assert_eq!(
        get(&rtxn, &key::item(0, key::Tag::Slot, 900))
            .unwrap()
            .len(),
        4
    );
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.check(&rtxn).unwrap().is_valid());
    assert_eq!(reader.nns(1).by_vector(&[0.5; DIM]).unwrap()[0].0, 900);
    assert!(!reader.contains_item(4));

    // Without checksums, a flipped bit that decodes is not detected: the reason for v2.
    drop(reader);
    drop(rtxn);
    flip(&store, &key::vectors(0, 0), 1);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.nns(5).by_vector(&queries[0]).is_ok());
}

pub fn version_3_store_keeps_its_slot_map_per_id<B: Backend>() {
    let (_dir, store, writer) = built::<B>();
    let queries = random_vectors(10, DIM, 43);
    let search = |store: &B::Store| checked_answers(store, &queries);
    let before = search(&store);
    downgrade(&store, 3);
    let meta = metadata(&store);
    assert_eq!(meta.version, 3);
    let per_id = |id: u32| key::item(0, key::Tag::Slot, id);
    let slot_value_len = 4 + hannoy_graph::format::checksum::TRAILER_LEN;
    assert_eq!(
        get(&store.read_txn().unwrap(), &per_id(70)).map(|v| v.len()),
        Some(slot_value_len)
    );
    assert_eq!(search(&store), before, "a version-3 store reads the same");

    // Writes keep version 3 and one slot-map entry per id: an add, a delete, a replace.
    let mut wtxn = store.write_txn().unwrap();
    writer.add_item(&mut wtxn, 900, &[0.5; DIM]).unwrap();
    assert!(writer.del_item(&mut wtxn, 4).unwrap());
    writer.add_item(&mut wtxn, 5, &[-0.5; DIM]).unwrap();
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    assert_eq!(metadata(&store).version, 3);
    let rtxn = store.read_txn().unwrap();
    assert_eq!(
        get(&rtxn, &per_id(900)).map(|v| v.len()),
        Some(slot_value_len)
    );
    assert_eq!(get(&rtxn, &per_id(4)), None);
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.check(&rtxn).unwrap().is_valid());
    assert_eq!(reader.nns(1).by_vector(&[0.5; DIM]).unwrap()[0].0, 900);
    assert!(!reader.contains_item(4));
    assert_eq!(reader.item_vector(&rtxn, 5).unwrap(), Some(vec![-0.5; DIM]));
    assert_eq!(writer.item_vector(&rtxn, 5).unwrap(), Some(vec![-0.5; DIM]));
}

pub fn slot_map_groups_follow_adds_replacements_and_deletes<B: Backend>() {
    // ids 0 to 119: group 0 holds 0..64, group 1 holds 64..120.
    let (_dir, store, writer) = built::<B>();
    let meta = metadata(&store);
    assert!(id_group::grouped(&meta));
    let group = |id: u32| slot_map::key_of(0, id, &meta);
    assert_eq!(group(63), group(0));
    assert_ne!(group(64), group(63));
    let stored = |store: &B::Store| -> Vec<Vec<u8>> {
        all(&store.read_txn().unwrap())
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(&key::prefix(0, key::Tag::Slot)))
            .collect()
    };
    assert_eq!(stored(&store), [group(0).to_vec(), group(64).to_vec()]);

    // Empty group 1, replace an item of group 0, add one far away (a new group).
    let mut wtxn = store.write_txn().unwrap();
    for id in 64..ITEMS {
        assert!(writer.del_item(&mut wtxn, id).unwrap());
    }
    writer.add_item(&mut wtxn, 7, &[2.0; DIM]).unwrap();
    writer.add_item(&mut wtxn, 1 << 30, &[-2.0; DIM]).unwrap();
    build(&writer, &mut wtxn).unwrap();
    wtxn.commit().unwrap();
    assert_eq!(stored(&store), [group(0).to_vec(), group(1 << 30).to_vec()]);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.check(&rtxn).unwrap().is_valid());
    assert_eq!(reader.item_vector(&rtxn, 7).unwrap(), Some(vec![2.0; DIM]));
    assert_eq!(
        reader.item_vector(&rtxn, 1 << 30).unwrap(),
        Some(vec![-2.0; DIM])
    );
    assert_eq!(reader.item_vector(&rtxn, 64).unwrap(), None);
    assert_eq!(reader.item_vector(&rtxn, (1 << 30) + 1).unwrap(), None);
    for id in (0..64).chain([1 << 30]) {
        assert_eq!(
            reader
                .nns(1)
                .by_item(&rtxn, id)
                .unwrap()
                .first()
                .map(|r| r.0),
            Some(id),
            "item {id} finds itself"
        );
    }
    drop(reader);
    drop(rtxn);

    // A mask bit without its slot: the group no longer decodes; check reports it.
    let rtxn = store.read_txn().unwrap();
    let payload = metadata(&store)
        .unseal(&group(0), &get(&rtxn, &group(0)).unwrap())
        .unwrap()
        .to_vec();
    drop(rtxn);
    let mut damaged = payload.clone();
    damaged[0] ^= 0x01; // id 0's bit cleared: one slot too many for the mask.
    crate::corruption_suite::put(&store, &group(0), &damaged);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    let report = reader.check(&rtxn).unwrap();
    assert!(!report.is_valid(), "a damaged group passes check");
    match reader.item_vector(&rtxn, 3) {
        Err(Error::Store(StoreError::Corrupted { what, key })) => {
            assert_eq!(key, group(0));
            assert!(what.contains("disagrees with its mask"), "{what}");
        }
        other => panic!("expected the damaged group to be corrupted, got {other:?}"),
    }
}
