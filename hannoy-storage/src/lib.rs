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
//! All three pass the same conformance suite (the `tests/` crate of the workspace).

#[cfg(feature = "lmdb")]
pub mod lmdb;
pub mod memory;
#[cfg(feature = "redb")]
pub mod redb;

#[cfg(feature = "lmdb")]
pub use lmdb::LmdbStore;
pub use memory::MemoryStore;
#[cfg(feature = "redb")]
pub use redb::RedbStore;
