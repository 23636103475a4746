//! The validity check of a built graph.

use std::collections::{HashSet, VecDeque};
use std::fmt;

use hannoy_metrics::Metric;
use roaring::RoaringBitmap;

use super::Reader;
use crate::error::Result;
use crate::format::{key, slot_map, values};
use crate::search::GraphView;
use crate::store::ReadTxn;

/// What [`Reader::check`] found. [`is_valid`](CheckReport::is_valid) is true when
/// `problems` is empty.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Live nodes in the graph.
    pub nodes: u64,
    /// Links on every layer, counted once per direction.
    pub links: u64,
    /// Nodes reachable from the entry point on layer 0.
    pub reachable: u64,
    /// Each broken rule, in words (capped at 100 entries).
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether every rule holds.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < 100 {
            self.problems.push(text);
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} nodes, {} links, {} reachable",
            self.nodes, self.links, self.reachable
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl<'t, M: Metric, T: ReadTxn + 't> Reader<'t, M, T> {
    /// Checks the stored graph: every link points to a live node other than its owner, once;
    /// degrees stay within M (upper layers) and M0 (layer 0); nodes appear on exactly the
    /// layers up to their level; the entry point is on the top layer; every live node is
    /// reachable from the entry point on layer 0; the item set, the slot map and the nodes
    /// agree, so a deleted item appears nowhere (no node, no link, no slot map entry).
    ///
    /// Every stored value's checksum is checked too (the link chunks, item set and pending
    /// changes were when the reader opened; here every vector chunk, code chunk, slot-map
    /// value and the free set), and with compact codes, every live node's code against the
    /// encoding of its vector.
    ///
    /// # Errors
    /// Store errors: `Corrupted` ("checksum mismatch", naming the key) for a value whose
    /// checksum does not match; broken rules are listed in the report.
    pub fn check(&self, txn: &T) -> Result<CheckReport> {
        let meta = &self.meta;
        self.chunks.resolve_all()?;
        self.chunks.check_all_vectors()?;
        values::read_free(txn, self.index, meta)?;
        let mut report = CheckReport::default();
        let mut live = RoaringBitmap::new();
        let mut ids = RoaringBitmap::new();
        let mut top = 0u8;
        for slot in 0..meta.slot_count {
            // A slot without a record is free (reserved by an add not built yet, past the
            // last link chunk); links to it are reported below as links to a dead slot.
            let Some(record) = self.chunks.record0(slot)? else {
                continue;
            };
            let Some(level) = record.level() else {
                continue;
            };
            live.insert(slot);
            top = top.max(level);
            if !ids.insert(record.item()) {
                report.problem(format!("item {} is stored in two slots", record.item()));
            }
            self.check_slot_key(txn, record.item(), slot, &mut report)?;
        }
        report.nodes = live.len();
        self.check_codes(&live, &mut report)?;

        for slot in &live {
            let level = self
                .chunks
                .record0(slot)?
                .and_then(|r| r.level())
                .unwrap_or(0);
            for layer in 0..=meta.max_level {
                let mut links = Vec::new();
                self.for_each_neighbour(slot, layer, |link| links.push(link))?;
                let on_layer = layer == 0 || self.chunks.upper_links(slot, layer)?.is_some();
                if on_layer != (layer <= level) {
                    report.problem(format!(
                        "slot {slot} (level {level}) presence on layer {layer} is wrong"
                    ));
                }
                let bound = if layer == 0 { meta.m0 } else { meta.m };
                if links.len() > usize::from(bound) {
                    report.problem(format!(
                        "slot {slot} has {} links on layer {layer}",
                        links.len()
                    ));
                }
                let mut seen = HashSet::new();
                for &link in &links {
                    if link == slot {
                        report.problem(format!("slot {slot} links to itself on layer {layer}"));
                    } else if !live.contains(link) {
                        report.problem(format!(
                            "slot {slot} links to dead slot {link} on layer {layer}"
                        ));
                    } else if !seen.insert(link) {
                        report.problem(format!(
                            "slot {slot} links twice to {link} on layer {layer}"
                        ));
                    }
                }
                report.links += links.len() as u64;
            }
        }

        if ids != values::read_items(txn, self.index, meta)? {
            report.problem("the item set disagrees with the nodes".into());
        }
        // No slot map entry may outlive its item (a deleted item must appear nowhere).
        for entry in txn.prefix(&key::prefix(self.index, key::Tag::Slot))? {
            let (slot_key, value) = entry?;
            let payload = meta.unseal(slot_key.as_ref(), value.as_ref())?;
            match slot_map::decode_entry(meta, slot_key.as_ref(), payload) {
                Ok(found) => {
                    for (id, _) in found.into_iter().filter(|&(id, _)| !ids.contains(id)) {
                        report.problem(format!(
                            "the slot map holds an item that is not in the graph: {id}"
                        ));
                    }
                }
                Err(e) => report.problem(format!("the slot map does not decode: {e}")),
            }
        }
        if top != meta.max_level && !live.is_empty() {
            report.problem(format!(
                "max level is {} but the highest node is on {top}",
                meta.max_level
            ));
        }
        match meta.entry_point {
            None if !live.is_empty() => report.problem("no entry point but live nodes".into()),
            Some(entry) => {
                let level = self.chunks.record0(entry)?.and_then(|r| r.level());
                if level != Some(meta.max_level) {
                    report.problem(format!("entry point {entry} is not on the top layer"));
                }
                // Links to dead slots are reported above; only live nodes count here.
                report.reachable = (self.reachable_from(entry)? & &live).len();
                if report.reachable != report.nodes {
                    report.problem(format!(
                        "{} of {} nodes are unreachable on layer 0",
                        report.nodes - report.reachable,
                        report.nodes
                    ));
                }
            }
            None => {}
        }
        Ok(report)
    }

    /// With compact codes: every code chunk's checksum, and every live node's code equal to
    /// the encoding of its vector by the stored quantizer (a code left behind by a
    /// replaced vector, or a stale quantizer, shows here); in a codes-only index, every
    /// live node's code decoding to a vector the metric takes.
    fn check_codes(&self, live: &RoaringBitmap, report: &mut CheckReport) -> Result<()> {
        let Some(codes) = &self.codes else {
            return Ok(());
        };
        codes.chunks.check_all()?;
        let mut encoded = Vec::with_capacity(codes.quantizer.code_len());
        for slot in live {
            let Some(code) = codes.chunks.get(slot) else {
                report.problem(format!("slot {slot} has no code"));
                continue;
            };
            if self.meta.codes_only() {
                // No vector to compare with: the code must stand for a usable one.
                let usable = codes.quantizer.decode(code).is_ok_and(|vector| {
                    encoded.clear();
                    M::encode(&vector, &mut encoded).is_ok()
                });
                if !usable {
                    report.problem(format!("the code of slot {slot} stands for no vector"));
                }
                continue;
            }
            let vector = M::decode(self.stored_vector(slot)?, self.dimensions())
                .map_err(|e| crate::Error::corrupted(format!("vector of slot {slot}: {e}"), &[]))?;
            encoded.clear();
            let fresh = codes.quantizer.encode(&vector, &mut encoded);
            if fresh.is_err() || encoded != code {
                report.problem(format!("the code of slot {slot} is not its vector's"));
            }
        }
        Ok(())
    }

    fn check_slot_key(&self, txn: &T, id: u32, slot: u32, report: &mut CheckReport) -> Result<()> {
        let slot_key = slot_map::key_of(self.index, id, &self.meta);
        // A checksum mismatch is an error, as everywhere; contents that do not decode, a
        // problem.
        let agrees = match txn.get(&slot_key)? {
            Some(value) => {
                let payload = self.meta.unseal(&slot_key, value.as_ref())?;
                slot_map::slot_in(&self.meta, &slot_key, payload, id).is_ok_and(|s| s == Some(slot))
            }
            None => false,
        };
        if !agrees {
            report.problem(format!(
                "slot map of item {id} does not point to slot {slot}"
            ));
        }
        Ok(())
    }

    /// The slots reachable from `entry` on layer 0 (dead ones included when links reach
    /// them).
    fn reachable_from(&self, entry: u32) -> Result<RoaringBitmap> {
        let mut seen = RoaringBitmap::new();
        let mut queue = VecDeque::from([entry]);
        seen.insert(entry);
        while let Some(slot) = queue.pop_front() {
            self.for_each_neighbour(slot, 0, |link| {
                if seen.insert(link) {
                    queue.push_back(link);
                }
            })?;
        }
        Ok(seen)
    }
}
