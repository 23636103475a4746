//! The parameters of a benchmark run.

use std::path::PathBuf;

use hannoy::{FilterStrategy, Scheme};

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Links per node above layer 0.
    pub m: u16,
    /// Links per node on layer 0.
    pub m0: u16,
    /// Candidate list size while building.
    pub ef_construction: u32,
    /// The ef_search values to measure.
    pub ef_search: Vec<usize>,
    /// Neighbours asked for.
    pub k: usize,
    /// Build threads.
    pub threads: usize,
    /// Seed of the build and of generated data.
    pub seed: u64,
    /// Where stores go; a temporary directory when `None`.
    pub db_dir: Option<PathBuf>,
    /// Measured passes over the queries per ef_search (after one warm-up pass).
    pub passes: usize,
    /// Show a progress bar during the build.
    pub progress: bool,
    /// Run the graph validity check after the build.
    pub check: bool,
    /// Update a built index instead of measuring a fresh one: build on the first `1 - r` of
    /// the items, then add the other `r` and delete a random `r` of the first part, build
    /// again and measure; a fresh build over the same live items is measured beside it.
    pub churn: Option<f64>,
    /// How filtered queries are answered.
    pub filter_strategy: FilterStrategy,
    /// Also measure the first pass after reopening the store, with its files in the page
    /// cache and dropped from it (on-disk backends, fresh builds), at `cold_ef`.
    pub cold: bool,
    /// The ef_search of the cold-cache passes.
    pub cold_ef: usize,
    /// The configurations measured, each on a fresh build of its own, in order: `None`
    /// walks on the full vectors; a scheme's build also encodes its compact codes, and the
    /// walk runs on them, rescoring with the full vectors.
    pub quantizations: Vec<Option<Scheme>>,
    /// Candidates rescored per query on codes (`None`: the default, all `ef`).
    pub rescore: Option<usize>,
    /// Builds with codes keep no full vectors ([`hannoy::Builder::codes_only`]): searches
    /// rank by the codes.
    pub codes_only: bool,
    /// Measured readers copy their links and codes into their own memory
    /// ([`hannoy::Reader::hold_in_memory`]).
    pub hold_in_memory: bool,
    /// Each query's time budget ([`hannoy::QueryBuilder::time_budget`]), if any.
    pub time_budget: Option<std::time::Duration>,
}
