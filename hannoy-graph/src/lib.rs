//! The hannoy HNSW index, written against a small transactional key-value store.
//!
//! This crate knows nothing of LMDB or redb: it defines the [`KvStore`] traits in
//! [`store`], lays the index out in keys and values ([`format`](mod@format), described in
//! `docs/format.md`), builds the graph ([`Writer`]) and searches it ([`Reader`]).
//! `hannoy-storage` implements the store traits for each backend, and the `hannoy` crate
//! puts it all behind one facade.
#![forbid(unsafe_code)]

mod chunks;
mod error;
pub mod format;
mod held;
mod item_chunks;
mod lazy_table;
mod params;
mod reader;
mod search;
mod stop;
pub mod store;
mod writer;

pub use error::{Error, Result};
pub use params::{BuildParams, MAX_LEVELS, MAX_M0};
pub use reader::{
    CheckReport, DEFAULT_EF_SEARCH, FilterStrategy, GRAPH_DISTANCE_WEIGHT, Prefetch, QueryBuilder,
    Reader, SearchStats, Searched,
};
pub use stop::CancelCheck;
pub use store::{KvStore, ReadTxn, StoreError, StoreResult, WriteTxn};
pub use writer::{BuildStats, Builder, Phase, Progress, Writer};
