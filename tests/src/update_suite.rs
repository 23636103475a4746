//! Updates and deletes on every backend: the writer sees its pending changes, deleted items
//! are never returned, deleting everything or the whole top layer keeps a valid index.

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::{Cosine, Euclidean};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::items::{add_and_build, assert_valid, numbered, random_vectors, recall};
use crate::store_suite::{all, fresh};

pub fn writer_sees_pending_changes<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, 2);
    let mut wtxn = store.write_txn().unwrap();
    assert!(writer.is_empty(&wtxn).unwrap());
    assert!(!writer.need_build(&wtxn).unwrap());
    writer.add_item(&mut wtxn, 10, &[1.0, 2.0]).unwrap();
    writer.add_item(&mut wtxn, u32::MAX, &[3.0, 4.0]).unwrap();
    writer.add_item(&mut wtxn, 0, &[5.0, 6.0]).unwrap();
    assert!(writer.need_build(&wtxn).unwrap());
    assert_eq!(writer.len(&wtxn).unwrap(), 3);
    assert_eq!(
        writer.item_vector(&wtxn, u32::MAX).unwrap(),
        Some(vec![3.0, 4.0])
    );
    writer.add_item(&mut wtxn, 10, &[7.0, 8.0]).unwrap();
    assert_eq!(
        writer.item_vector(&wtxn, 10).unwrap(),
        Some(vec![7.0, 8.0]),
        "re-adding replaces"
    );
    assert!(writer.del_item(&mut wtxn, 0).unwrap());
    assert!(!writer.del_item(&mut wtxn, 0).unwrap());
    assert!(!writer.contains_item(&wtxn, 0).unwrap());
    let ids: Vec<u32> = writer.item_ids(&wtxn).unwrap().iter().collect();
    assert_eq!(ids, vec![10, u32::MAX]);
    writer
        .builder(&mut StdRng::seed_from_u64(1))
        .build(&mut wtxn)
        .unwrap();
    assert!(!writer.need_build(&wtxn).unwrap());
    let pairs: Vec<(u32, Vec<f32>)> = writer.iter(&wtxn).unwrap().map(Result::unwrap).collect();
    assert_eq!(
        pairs,
        vec![(10, vec![7.0, 8.0]), (u32::MAX, vec![3.0, 4.0])]
    );
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(
        reader.item_vector(&rtxn, u32::MAX).unwrap(),
        Some(vec![3.0, 4.0])
    );
    assert_eq!(reader.item_vector(&rtxn, 0).unwrap(), None);
    let pairs: Vec<(u32, Vec<f32>)> = reader.iter(&rtxn).map(Result::unwrap).collect();
    assert_eq!(pairs.len(), 2);
    assert_valid(&reader, &rtxn);
    drop(reader);
    drop(rtxn);

    let mut wtxn = store.write_txn().unwrap();
    writer.clear(&mut wtxn).unwrap();
    wtxn.commit().unwrap();
    assert!(
        all(&store.read_txn().unwrap()).is_empty(),
        "clear removes every key of the index"
    );
}

pub fn deleted_items_are_never_returned<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(800, 12, 10));
    let writer = Writer::<Cosine>::new(0, 12);
    add_and_build(&store, &writer, &items, 1);
    let queries = random_vectors(20, 12, 11);

    // Delete the entry point and a third of the items; replace some others.
    let entry = {
        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
        let slot = reader.metadata().entry_point.unwrap();
        items
            .iter()
            .map(|(id, _)| *id)
            .find(|&id| slot_id_matches(&rtxn, id, slot))
            .expect("the entry point holds an item")
    };
    let mut wtxn = store.write_txn().unwrap();
    let mut deleted: Vec<u32> = items
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| id % 3 == 0)
        .collect();
    deleted.push(entry);
    for id in &deleted {
        writer.del_item(&mut wtxn, *id).unwrap();
    }
    let replaced = random_vectors(50, 12, 12);
    for (i, vector) in replaced.iter().enumerate() {
        writer
            .add_item(&mut wtxn, items[i * 7 + 1].0, vector)
            .unwrap();
    }
    wtxn.commit().unwrap();

    // Before the build: searches skip the deleted items.
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    for query in &queries {
        let found = reader.nns(20).by_vector(query).unwrap();
        assert!(
            found.iter().all(|(id, _)| !deleted.contains(id)),
            "a deleted item was returned"
        );
        assert_eq!(found.len(), 20);
    }
    drop(reader);
    drop(rtxn);

    let mut wtxn = store.write_txn().unwrap();
    let stats = writer
        .builder(&mut StdRng::seed_from_u64(2))
        .build(&mut wtxn)
        .unwrap();
    assert!(stats.removed > 0 && stats.inserted == 50, "{stats:?}");
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Cosine, _>::open(&rtxn, 0).unwrap();
    assert_valid(&reader, &rtxn);
    let live: Vec<(u32, Vec<f32>)> = writer.iter(&rtxn).unwrap().map(Result::unwrap).collect();
    assert_eq!(reader.len() as usize, live.len());
    for query in &queries {
        let found = reader.nns(20).by_vector(query).unwrap();
        assert!(found.iter().all(|(id, _)| !deleted.contains(id)));
    }
    let r = recall(&reader, &live, &queries, 10, 64);
    assert!(r >= 0.95, "recall after deletes and replacements: {r}");
}

fn slot_id_matches<T: ReadTxn>(txn: &T, id: u32, slot: u32) -> bool {
    use hannoy_graph::format::{Metadata, key, slot_map};
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let meta = Metadata::decode(txn.get(&meta_key).unwrap().unwrap().as_ref(), &meta_key).unwrap();
    slot_map::read_slot(txn, 0, id, &meta).unwrap() == Some(slot)
}

pub fn deleting_everything_leaves_an_empty_valid_index<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(200, 6, 13));
    let writer = Writer::<Euclidean>::new(0, 6);
    add_and_build(&store, &writer, &items, 1);
    let mut wtxn = store.write_txn().unwrap();
    for (id, _) in &items {
        assert!(writer.del_item(&mut wtxn, *id).unwrap());
    }
    writer
        .builder(&mut StdRng::seed_from_u64(2))
        .build(&mut wtxn)
        .unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(reader.is_empty());
    assert_eq!(reader.nns(5).by_vector(&[0.0; 6]).unwrap(), vec![]);
    assert_valid(&reader, &rtxn);
    drop(reader);
    drop(rtxn);
    // The freed slots are reused.
    add_and_build(&store, &writer, &items[..50], 3);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert_eq!(reader.len(), 50);
    assert_eq!(
        reader.metadata().slot_count,
        200,
        "slots were reused, not appended"
    );
    assert_valid(&reader, &rtxn);
}

/// The items of every node on the top layer of index 0, read from the stored records.
fn top_layer_items<T: ReadTxn>(txn: &T) -> Vec<u32> {
    use hannoy_graph::format::links::Record0;
    use hannoy_graph::format::{Metadata, key};
    let meta_key = key::prefix(0, key::Tag::Metadata);
    let meta = Metadata::decode(txn.get(&meta_key).unwrap().unwrap().as_ref(), &meta_key).unwrap();
    let mut items = Vec::new();
    for slot in 0..meta.slot_count {
        let (chunk, offset) = meta.geometry.link_place(slot);
        let Some(bytes) = txn.get(&key::links(0, 0, chunk)).unwrap() else {
            continue;
        };
        let record = Record0::at(bytes.as_ref(), offset, usize::from(meta.m0));
        if record.level() == Some(meta.max_level) {
            items.push(record.item());
        }
    }
    items
}

/// Deleting every node of the top layer, twice over, keeps a valid hierarchy: the entry
/// point moves to a node of the highest remaining layer, and the layers above are dropped.
pub fn deleting_the_top_layer_keeps_the_hierarchy<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let items = numbered(random_vectors(3000, 8, 17));
    let writer = Writer::<Euclidean>::new(0, 8);
    add_and_build(&store, &writer, &items, 4);
    let mut deleted = Vec::new();
    for round in 0..2 {
        let (top, level_before) = {
            let rtxn = store.read_txn().unwrap();
            let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
            (top_layer_items(&rtxn), reader.metadata().max_level)
        };
        assert!(
            level_before > 0,
            "round {round}: the graph should still have upper layers"
        );
        let mut wtxn = store.write_txn().unwrap();
        for id in &top {
            assert!(writer.del_item(&mut wtxn, *id).unwrap());
        }
        writer
            .builder(&mut StdRng::seed_from_u64(round))
            .build(&mut wtxn)
            .unwrap();
        wtxn.commit().unwrap();
        deleted.extend(top);

        let rtxn = store.read_txn().unwrap();
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
        assert_valid(&reader, &rtxn);
        assert!(
            reader.metadata().max_level < level_before,
            "round {round}: the top layer is gone"
        );
        let live: Vec<(u32, Vec<f32>)> = items
            .iter()
            .filter(|(id, _)| !deleted.contains(id))
            .cloned()
            .collect();
        let r = recall(&reader, &live, &random_vectors(20, 8, 18), 10, 64);
        assert!(r >= 0.95, "round {round}: recall {r}");
    }
}
