//! What a measured search point yields: recall, speed and latency, and what the walk did.

/// Search measurements at one ef_search.
pub struct SearchFigures {
    /// The ef_search measured.
    pub ef_search: usize,
    /// Mean recall@k.
    pub recall: f64,
    /// Queries per second (median of the passes).
    pub qps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, microseconds.
    pub p99_us: f64,
}

/// What our searches did on average at one point, from [`hannoy::SearchStats`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkFigures {
    /// Distances computed by the graph walk per query.
    pub walk_distances: f64,
    /// Stored bytes each walk distance reads (a code or a full vector).
    pub bytes_per_distance: u64,
    /// Candidates rescored with full vectors per query.
    pub rescored: f64,
    /// Share of the queries cut short by the time budget.
    pub cut_short: f64,
}
