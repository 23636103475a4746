//! Key-value store backends for hannoy.
//!
//! Each module implements the [`KvStore`](hannoy_graph::store::KvStore) traits of
//! `hannoy-graph` for one store:
//!
//! | module     | feature          | what                                                   |
//! |------------|------------------|--------------------------------------------------------|
//! | [`lmdb`]   | `lmdb` (default) | LMDB through heed: a directory, memory-mapped, zero-copy reads |
//! | `redb`     | `redb`           | one redb file, pure Rust                                |
//! | [`memory`] | always           | in memory, snapshot isolation, nothing persisted        |
//!
//! All three pass the same conformance suite (the `tests/` crate of the workspace), and all
//! three keep the write-transaction contract of `hannoy_graph::store::WriteTxn` the same
//! way (a private module they share): a second write transaction on one thread is
//! [`StoreError::WriteTxnBusy`](hannoy_graph::store::StoreError::WriteTxnBusy), and a
//! transaction whose write failed is poisoned.

// Unsafe code only where a backend cannot do without it, allowed there with its SAFETY
// line: LMDB's environment open and its read transaction's Sync.
#![deny(unsafe_code)]

#[cfg(feature = "lmdb")]
pub mod lmdb;
pub mod memory;
#[cfg(feature = "redb")]
pub mod redb;
mod write_guard;

#[cfg(feature = "lmdb")]
pub use lmdb::LmdbStore;
pub use memory::MemoryStore;
#[cfg(feature = "redb")]
pub use redb::RedbStore;
