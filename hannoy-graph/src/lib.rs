//! The hannoy HNSW index, written against a small transactional key-value store.
//!
//! This crate knows nothing of LMDB or redb: it defines the [`KvStore`] traits in
//! [`store`], and `hannoy-storage` implements them for each backend.
#![forbid(unsafe_code)]

pub mod store;

pub use store::{KvStore, ReadTxn, StoreError, StoreResult, WriteTxn};
