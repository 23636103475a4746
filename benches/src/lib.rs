//! Shared pieces of hannoy's benchmarks: timing statistics and memory readings, cold-cache
//! passes, the runs of our index and of the peers, and reports. Datasets, exact ground
//! truth and recall come from the conformance suite's library (`hannoy_conformance::dataset`).

pub mod cold;
pub mod config;
pub mod figures;
pub mod peer;
pub mod report;
pub mod run;
pub mod stats;
pub mod store;
