//! Removing nodes and repairing the links that pointed to them, locally.

use hannoy_metrics::Metric;
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::graph::{BuildGraph, Entry};
use super::hooks::Hooks;
use super::prune::select_neighbours;
use crate::error::Result;
use crate::search::Candidate;

/// A node that lost more than 1/REFILL_LOSS_DENOMINATOR of its links on a layer (or kept
/// fewer than half its bound) gets its list refilled; a smaller loss only drops the dead
/// links.
const REFILL_LOSS_DENOMINATOR: usize = 4;

/// Frees the slots in `removed`; every live node that linked to one of them loses those
/// links, and if it lost many, gets its list rebuilt from its remaining links plus the
/// removed nodes' own links on that layer (its neighbours' neighbours), the closest 2·bound
/// of them chosen by the heuristic. A removed entry point is replaced by a
/// node of the highest remaining level. Returns how many nodes were repaired.
///
/// Only the nodes that linked to a removed node are recomputed; finding them is one pass
/// over the links in memory.
pub fn remove_and_repair<M: Metric>(
    graph: &mut BuildGraph<'_, M>,
    removed: &RoaringBitmap,
    hooks: Hooks<'_>,
) -> Result<u64> {
    let mut is_removed = vec![false; graph.levels.len()];
    let mut removed_links = std::collections::HashMap::new();
    for slot in removed {
        is_removed[slot as usize] = true;
        let links = (0..=graph.levels[slot as usize])
            .map(|layer| graph.links_of(slot, layer))
            .collect::<Vec<_>>();
        removed_links.insert(slot, links);
        graph.free(slot);
    }

    let graph = &*graph;
    let slots: Vec<u32> = (0..graph.levels.len() as u32)
        .filter(|&s| graph.is_live(s))
        .collect();
    let repaired: u64 = hooks.run(|| {
        slots
            .par_iter()
            .map(|&slot| {
                let mut touched = false;
                for layer in 0..=graph.levels[slot as usize] {
                    let links = graph.links_of(slot, layer);
                    if !links.iter().any(|&l| is_removed[l as usize]) {
                        continue;
                    }
                    touched = true;
                    let remaining: Vec<u32> = links
                        .iter()
                        .copied()
                        .filter(|&l| !is_removed[l as usize])
                        .collect();
                    let max = graph.max_links(layer);
                    // A small loss leaves a diverse list that still spans the neighbourhood:
                    // dropping the dead links is enough. A large one is refilled.
                    let lost = links.len() - remaining.len();
                    if remaining.len() >= max / 2 && lost * REFILL_LOSS_DENOMINATOR <= links.len() {
                        graph.set_links(slot, layer, remaining);
                        continue;
                    }
                    let mut candidates = remaining;
                    for &gone in links.iter().filter(|&&l| is_removed[l as usize]) {
                        let Some(second) = removed_links
                            .get(&gone)
                            .and_then(|layers| layers.get(usize::from(layer)))
                        else {
                            continue;
                        };
                        candidates.extend(
                            second
                                .iter()
                                .copied()
                                .filter(|&l| l != slot && !is_removed[l as usize]),
                        );
                    }
                    candidates.sort_unstable();
                    candidates.dedup();
                    let mut scored: Vec<Candidate> = candidates
                        .into_iter()
                        .map(|other| Candidate {
                            dist: graph.distance_between(slot, other),
                            slot: other,
                        })
                        .collect();
                    scored.sort_unstable();
                    scored.truncate(2 * max);
                    let mut kept = Vec::with_capacity(max);
                    select_neighbours(graph, &scored, max, &mut kept);
                    graph.set_links(slot, layer, kept);
                }
                u64::from(touched)
            })
            .sum()
    });

    let mut entry = graph
        .entry
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if entry.slot.is_none_or(|slot| is_removed[slot as usize]) {
        let top = slots
            .iter()
            .max_by_key(|&&s| (graph.levels[s as usize], std::cmp::Reverse(s)));
        *entry = match top {
            Some(&slot) => Entry {
                slot: Some(slot),
                level: graph.levels[slot as usize],
            },
            None => Entry {
                slot: None,
                level: 0,
            },
        };
    }
    Ok(repaired)
}
