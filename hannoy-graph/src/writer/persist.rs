//! Turns a built graph into the values to write: only the chunks holding a changed slot.

use std::collections::BTreeSet;

use hannoy_metrics::Metric;
use roaring::RoaringBitmap;

use super::codes::CodeWrites;
use super::graph::BuildGraph;
use crate::error::Result;
use crate::format::links::{self, write_record0};
use crate::format::values::{self, ValueWrite};
use crate::format::{Metadata, key, metadata};
use crate::store::WriteTxn;

/// Every write of a build, prepared before the first one happens; each value sealed with
/// its checksum when the index has them.
pub struct WritePlan {
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    deletes: Vec<Vec<u8>>,
    delete_prefixes: Vec<Vec<u8>>,
    chunks: u64,
}

impl WritePlan {
    /// The number of chunk values written.
    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    /// Plans `payload` under `key`, sealed as `meta` says.
    fn put(&mut self, meta: &Metadata, key: Vec<u8>, payload: Vec<u8>) {
        let value = meta.seal(&key, payload);
        self.puts.push((key, value));
    }

    /// Plans `write`: its payload put, sealed as `meta` says, or its key deleted.
    fn write(&mut self, meta: &Metadata, write: ValueWrite) {
        match write {
            (key, Some(payload)) => self.put(meta, key, payload),
            (key, None) => self.deletes.push(key),
        }
    }

    /// Performs the writes.
    pub fn apply<T: WriteTxn>(&self, txn: &mut T) -> Result<()> {
        for prefix in &self.delete_prefixes {
            txn.delete_prefix(prefix)?;
        }
        for key in &self.deletes {
            txn.delete(key)?;
        }
        for (key, value) in &self.puts {
            txn.put(key, value)?;
        }
        Ok(())
    }
}

/// What a build changed, beside the links.
pub struct Changes<'a> {
    /// The items in the graph after the build.
    pub items: &'a RoaringBitmap,
    /// The slot map's writes: a payload to put, or `None` to delete
    /// ([`slot_map::plan_updates`](crate::format::slot_map::plan_updates)).
    pub slot_map: crate::format::id_group::ValueWrites,
    /// Free slots after the build.
    pub free: &'a RoaringBitmap,
    /// The compact codes' writes (moved into the plan: a re-encode holds every code).
    pub codes: CodeWrites,
}

/// Plans the writes that store `graph` over the chunks it was loaded from: the link chunks
/// holding a changed slot, the slot map, the item and free sets, the metadata; and the
/// removal of the pending changes. Vector chunks are not rewritten: a freed slot keeps its
/// old bytes until a new vector takes it (rewriting a whole chunk to clear one vector would
/// cost a chunk of copy-on-write pages per deletion).
pub fn plan_writes<M: Metric>(
    graph: &BuildGraph<'_, M>,
    index: u16,
    meta: &Metadata,
    stored_meta: Option<&Metadata>,
    changes: Changes<'_>,
) -> Result<WritePlan> {
    let mut plan = WritePlan {
        puts: Vec::new(),
        deletes: Vec::new(),
        delete_prefixes: Vec::new(),
        chunks: 0,
    };
    plan.delete_prefixes
        .push(values::pending_prefix(index).to_vec());
    let geometry = meta.geometry;

    let dirty_chunks: BTreeSet<u32> = (0..meta.slot_count)
        .filter(|&s| graph.is_dirty(s))
        .map(|s| geometry.link_place(s).0)
        .collect();
    let m0 = usize::from(meta.m0);
    let m = usize::from(meta.m);
    for &chunk in &dirty_chunks {
        let slots = chunk * geometry.link_slots..(chunk + 1) * geometry.link_slots;
        let live = |slot: u32| slot < meta.slot_count && graph.is_live(slot);

        // Layer 0.
        let record_len = links::record0_len(m0);
        let mut bytes = vec![0u8; links::chunk0_len(geometry.link_slots, m0)];
        for (slot, place) in slots.clone().zip(bytes.chunks_exact_mut(record_len)) {
            if live(slot) {
                let level = graph.levels[slot as usize];
                write_record0(
                    place,
                    graph.items[slot as usize],
                    Some(level),
                    &graph.links_of(slot, 0),
                );
            } else {
                write_record0(place, 0, None, &[]);
            }
        }
        plan.put(meta, key::links(index, 0, chunk).to_vec(), bytes);
        plan.chunks += 1;

        // Upper layers.
        for layer in 1..=meta.max_level {
            let entries: Vec<(usize, Vec<u32>)> = slots
                .clone()
                .enumerate()
                .filter(|&(_, slot)| live(slot) && graph.levels[slot as usize] >= layer)
                .map(|(offset, slot)| (offset, graph.links_of(slot, layer)))
                .collect();
            let chunk_key = key::links(index, layer, chunk).to_vec();
            if entries.is_empty() {
                plan.deletes.push(chunk_key);
            } else {
                let encoded =
                    links::encode_upper_chunk(entries.iter().map(|(o, l)| (*o, l.as_slice())), m);
                plan.put(meta, chunk_key, encoded);
                plan.chunks += 1;
            }
        }
    }

    // Layers above the new top are gone.
    let old_top = stored_meta.map_or(0, |meta| meta.max_level);
    for layer in meta.max_level + 1..=old_top {
        plan.delete_prefixes
            .push(key::links_layer(index, layer).to_vec());
    }

    for write in changes.slot_map {
        plan.write(meta, write);
    }
    plan.write(meta, values::free_write(index, changes.free)?);
    let codes = changes.codes;
    plan.delete_prefixes.extend(codes.delete_prefixes);
    plan.deletes.extend(codes.deletes);
    for (key, payload) in codes.puts {
        plan.put(meta, key, payload);
        plan.chunks += 1;
    }
    plan.write(meta, values::items_write(index, changes.items)?);
    // The metadata seals itself (its version says whether it has a checksum).
    plan.puts.push(metadata::stored_entry(index, meta));
    // In key order, so the writes walk the B-tree once, left to right. (That does not pack
    // LMDB's pages: it packs a split page only when the new key goes past the page's last,
    // and the map's keys go between older ones; hence the slot map's groups.) The sort is
    // stable, so of two puts to one key the later still wins.
    plan.puts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(plan)
}
