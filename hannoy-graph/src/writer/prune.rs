//! Neighbour selection: the paper's SELECT-NEIGHBORS-HEURISTIC.

use hannoy_metrics::Metric;

use super::graph::BuildGraph;
use crate::search::Candidate;

/// Picks up to `max` neighbours from `candidates` (sorted by distance to the new node q,
/// closest first): a candidate e is kept only if it is closer to q than to every neighbour
/// already kept (dist(e, q) <= dist(e, r)), which spreads the links over directions instead
/// of spending them on one tight cluster; with the graph's `alpha` above 1, only if
/// dist(e, q) <= alpha · dist(e, r), which keeps more of the farther candidates. (At 1.0
/// the product is exact: the same links as without it.)
pub fn select_neighbours<M: Metric>(
    graph: &BuildGraph<'_, M>,
    candidates: &[Candidate],
    max: usize,
    out: &mut Vec<u32>,
) {
    let alpha = graph.alpha;
    for candidate in candidates {
        if out.len() >= max {
            break;
        }
        let diverse = out
            .iter()
            .all(|&kept| alpha * graph.distance_between(candidate.slot, kept) >= candidate.dist);
        if diverse {
            out.push(candidate.slot);
        }
    }
}
