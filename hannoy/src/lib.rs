//! hannoy: an approximate-nearest-neighbour index (HNSW) whose graph and vectors live in a
//! transactional key-value store instead of RAM.
//!
//! - [`Database`] opens a store: LMDB by default ([`Database::open`]), redb
//!   ([`Database::open_redb`], feature `redb`) or memory ([`Database::in_memory`]).
//! - A [`Writer`] records items in a write transaction; its [`Builder`] links them into the
//!   graph, in parallel, and the commit makes them visible at once.
//! - A [`Reader`] opened on a read transaction answers k-nearest-neighbour queries; many
//!   readers (and threads) can search while one writer works.
//!
//! ```
//! use hannoy::{Cosine, Database, Reader, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//!
//! // Write three items into index 0 and build the graph.
//! let writer = Writer::<Cosine>::new(0, 3);
//! let mut wtxn = db.write_txn()?;
//! writer.add_item(&mut wtxn, 0, &[1.0, 0.0, 0.0])?;
//! writer.add_item(&mut wtxn, 1, &[0.9, 0.1, 0.0])?;
//! writer.add_item(&mut wtxn, 2, &[0.0, 0.0, 1.0])?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42);
//! writer.builder(&mut rng).build(&mut wtxn)?;
//! wtxn.commit()?;
//!
//! // Query it.
//! let rtxn = db.read_txn()?;
//! let reader = Reader::<Cosine, _>::open(&rtxn, 0)?;
//! let found = reader.nns(2).ef_search(32).by_vector(&[1.0, 0.05, 0.0])?;
//! assert_eq!(found.iter().map(|&(id, _)| id).collect::<Vec<_>>(), vec![0, 1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Compact codes
//!
//! A search reads one stored vector per node it visits: at 384 dimensions, 1.5 KB of mostly
//! random memory per node. With [`Builder::codes`] the index keeps a compact code of each
//! vector beside it ([`Scheme::Sq8`]: one byte per dimension; [`Scheme::RaBitQ1`]: one bit),
//! walks the graph on the codes and rescores its best candidates with the full vectors
//! ([`QueryBuilder::rescore`]), so the walk touches a fraction of the bytes. The graph is
//! still linked on exact distances, and codes can be added to, changed on or removed from a
//! built index without rebuilding the graph.
//!
//! ```
//! use hannoy::{Database, Euclidean, Reader, Scheme, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let writer = Writer::<Euclidean>::new(0, 16);
//! let mut wtxn = db.write_txn()?;
//! let vector = |id: u32| -> Vec<f32> {
//!     (0..16).map(|d| ((id * 31 + d * 17) % 23) as f32 * 0.5 + 40.0).collect()
//! };
//! for id in 0..200 {
//!     writer.add_item(&mut wtxn, id, &vector(id))?;
//! }
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! writer.builder(&mut rng).codes(Some(Scheme::Sq8)).build(&mut wtxn)?;
//! wtxn.commit()?;
//!
//! let rtxn = db.read_txn()?;
//! let reader = Reader::<Euclidean, _>::open(&rtxn, 0)?;
//! assert_eq!(reader.metadata().codes.as_ref().map(|c| c.scheme.as_str()), Some("sq8"));
//! // The best 32 candidates of the walk on codes are rescored with the full vectors, so
//! // the distances are exact.
//! let found = reader.nns(3).ef_search(32).rescore(32).by_vector(&vector(5))?;
//! assert_eq!(found[0], (5, 0.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Builder::codes_only`] keeps the codes and no full vectors (the smallest store, about
//! 0.4x the raw f32 size at 384 dimensions): searches rank by the codes, so distances are
//! the codes' estimates, and later builds link new items against the vectors the codes
//! stand for.
//!
//! ```
//! use hannoy::{Database, Euclidean, Reader, Scheme, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let writer = Writer::<Euclidean>::new(0, 16);
//! let mut wtxn = db.write_txn()?;
//! let vector = |id: u32| -> Vec<f32> {
//!     (0..16).map(|d| ((id * 31 + d * 17) % 23) as f32 * 0.5 + 40.0).collect()
//! };
//! for id in 0..200 {
//!     writer.add_item(&mut wtxn, id, &vector(id))?;
//! }
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! writer.builder(&mut rng).codes_only(Scheme::Sq8).build(&mut wtxn)?;
//! wtxn.commit()?;
//!
//! let rtxn = db.read_txn()?;
//! let reader = Reader::<Euclidean, _>::open(&rtxn, 0)?;
//! assert!(reader.metadata().codes_only());
//! let found = reader.nns(3).by_vector(&vector(5))?;
//! assert_eq!(found[0].0, 5);
//! assert!(found[0].1 < 0.5, "an estimate, close to 0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Filters
//!
//! [`QueryBuilder::candidates`] restricts a search to a set of ids; [`FilterStrategy`] says
//! how (by default [`FilterStrategy::Auto`] plans, per query, an exact scan of a few
//! candidates, a two-hop walk through the graph for a middle share, or the graph walk that
//! skips the rest). A batch can give each query its own set:
//! [`QueryBuilder::by_vectors_with_candidates`].
//!
//! ```
//! use hannoy::{Database, Euclidean, Reader, RoaringBitmap, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let writer = Writer::<Euclidean>::new(0, 2);
//! let mut wtxn = db.write_txn()?;
//! for id in 0..100u32 {
//!     writer.add_item(&mut wtxn, id, &[id as f32, 0.0])?;
//! }
//! writer.builder(&mut rand::rngs::StdRng::seed_from_u64(1)).build(&mut wtxn)?;
//! wtxn.commit()?;
//!
//! let rtxn = db.read_txn()?;
//! let reader = Reader::<Euclidean, _>::open(&rtxn, 0)?;
//! let evens: RoaringBitmap = (0..100).step_by(2).collect();
//! let odds: RoaringBitmap = (1..100).step_by(2).collect();
//! // The same point twice: the first query may return even ids only, the second odd ones.
//! let queries = [10.2, 0.0, 10.2, 0.0];
//! let found = reader.nns(1).by_vectors_with_candidates(&queries, &[&evens, &odds])?;
//! assert_eq!((found[0][0].0, found[1][0].0), (10, 11));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Search deadline
//!
//! A request with a time budget cuts its search short: [`QueryBuilder::time_budget`] (or
//! [`QueryBuilder::deadline`], an `Instant`) and [`QueryBuilder::cancel_when`] (a check such
//! as an atomic flag) are asked before each node expansion; a search stopped by them returns
//! the best results it had found, with [`SearchStats::cut_short`] set.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//!
//! use hannoy::{Database, Euclidean, Reader, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let writer = Writer::<Euclidean>::new(0, 8);
//! let mut wtxn = db.write_txn()?;
//! for id in 0..500u32 {
//!     let v: Vec<f32> = (0..8).map(|d| ((id * 7 + d * 13) % 29) as f32).collect();
//!     writer.add_item(&mut wtxn, id, &v)?;
//! }
//! writer.builder(&mut rand::rngs::StdRng::seed_from_u64(1)).build(&mut wtxn)?;
//! wtxn.commit()?;
//!
//! let rtxn = db.read_txn()?;
//! let reader = Reader::<Euclidean, _>::open(&rtxn, 0)?;
//! let query = [3.0; 8];
//! // A generous budget: the search completes.
//! let (found, stats) = reader
//!     .nns(5)
//!     .time_budget(Duration::from_secs(10))
//!     .by_vector_with_stats(&query)?;
//! assert!(!stats.cut_short);
//! assert_eq!(found.len(), 5);
//! // A request cancelled before the search starts: it stops at once, with what it has.
//! let cancelled = AtomicBool::new(true);
//! let check = || cancelled.load(Ordering::Relaxed);
//! let (partial, stats) = reader.nns(5).cancel_when(&check).by_vector_with_stats(&query)?;
//! assert!(stats.cut_short);
//! assert!(partial.len() <= found.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Your transaction, our index
//!
//! An application that keeps its own data in LMDB or redb can keep the index in the same
//! environment and write both in one transaction: they commit, or abort, together.
//! [`storage::lmdb::HostWriteTxn`] and [`storage::lmdb::HostReadTxn`] (and
//! [`storage::redb::HostWriteTxn`] / [`storage::redb::HostReadTxn`] for a redb
//! `WriteTransaction` and table) borrow the application's transaction and a database of
//! its environment given to the index; writers and readers work on them as on the store's
//! own. Their `commit` only checks that no write of the index failed: the application
//! commits its transaction (and aborts it when an index operation returned an error).
//!
//! ```
//! use hannoy::storage::lmdb::heed::types::{Bytes, Str, U32};
//! use hannoy::storage::lmdb::heed::{self, byteorder::BE};
//! use hannoy::storage::lmdb::{HostReadTxn, HostWriteTxn};
//! use hannoy::{Cosine, Reader, WriteTxn, Writer};
//! use rand::SeedableRng;
//!
//! let dir = tempfile::tempdir()?;
//! // The application's environment: its documents, and a database given to the index.
//! // SAFETY (of the example): nothing else opens or changes the directory.
//! let env = unsafe { heed::EnvOpenOptions::new().max_dbs(2).open(dir.path())? };
//! let (documents, vectors) = env
//!     .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
//!         let documents = opener.create_database::<U32<BE>, Str>(wtxn, Some("documents"))?;
//!         let vectors = opener.create_database::<Bytes, Bytes>(wtxn, Some("vectors"))?;
//!         Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit((documents, vectors)))
//!     })?
//!     .unwrap_commit();
//!
//! // One transaction: the documents and their embeddings.
//! let batch = [(1, "apples", [1.0, 0.1, 0.0]), (2, "pears", [0.9, 0.3, 0.0])];
//! let writer = Writer::<Cosine>::new(0, 3);
//! let mut wtxn = env.write_txn()?;
//! for (id, text, _) in &batch {
//!     documents.put(&mut wtxn, id, text)?;
//! }
//! let mut index_txn = HostWriteTxn::new(&mut wtxn, vectors)?;
//! for (id, _, embedding) in &batch {
//!     writer.add_item(&mut index_txn, *id, embedding)?;
//! }
//! writer.builder(&mut rand::rngs::StdRng::seed_from_u64(1)).build(&mut index_txn)?;
//! index_txn.commit()?; // checks that the index's writes all succeeded
//! wtxn.commit()?; // documents and index, together
//!
//! // A request: search, then read the documents, in one snapshot.
//! let rtxn = env.read_txn()?;
//! let index_txn = HostReadTxn::new(&rtxn, vectors)?;
//! let reader = Reader::<Cosine, _>::open(&index_txn, 0)?;
//! let (id, _) = reader.nns(1).by_vector(&[1.0, 0.0, 0.0])?[0];
//! assert_eq!(documents.get(&rtxn, &id)?, Some("apples"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod database;
#[cfg(any(feature = "import-hannoy", feature = "import-arroy"))]
pub mod import;

pub use database::Database;
pub use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
pub use hannoy_graph::{
    BuildParams, BuildStats, Builder, CancelCheck, CheckReport, DEFAULT_EF_SEARCH, Error,
    FilterStrategy, MAX_M0, Phase, Prefetch, Progress, QueryBuilder, Reader, Result, SearchStats,
    Searched, Writer,
};
pub use hannoy_metrics::{
    BinaryQuantizedCosine, BinaryQuantizedEuclidean, BinaryQuantizedManhattan, CodeError, Cosine,
    DotProduct, Euclidean, Hamming, Manhattan, Metric, Quantizer, Scheme, VectorError,
};
pub use roaring::RoaringBitmap;

/// The metrics and their kernels.
pub use hannoy_metrics as metrics;
/// The store backends.
pub use hannoy_storage as storage;
