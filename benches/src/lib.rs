//! Shared pieces of hannoy's benchmarks: datasets and ground truth, recall, timing
//! statistics and memory readings, cold-cache passes, the runs of our index and of the peers, and reports.

pub mod cold;
pub mod dataset;
pub mod peer;
pub mod report;
pub mod run;
pub mod stats;
pub mod store;
