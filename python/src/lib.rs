//! The `hannoy` Python module: pyo3 bindings of the `hannoy` crate, numpy in and out.
//!
//! - `Database` ([`database`]) opens a store of any backend, shared per path ([`store`]);
//! - `Writer` ([`writer`]) holds a write transaction on a thread of its own ([`session`])
//!   and builds with progress and Ctrl-C ([`build`]);
//! - `Reader` ([`reader`]) searches a snapshot ([`snapshot`]), alone or in parallel batches;
//! - [`metric`] type-erases the metric, [`arrays`] reads numpy and Python values,
//!   [`errors`] maps `hannoy::Error` onto Python exceptions, [`guard`] turns a panic into
//!   `hannoy.InternalError` at the boundary.
//!
//! The Rust facade knows nothing of Python: everything Python-specific is here.
#![forbid(unsafe_code)]

pub mod arrays;
pub mod build;
pub mod database;
pub mod errors;
pub mod guard;
pub mod metric;
pub mod reader;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod writer;

use pyo3::prelude::*;

/// hannoy: an approximate-nearest-neighbour index (HNSW) whose graph and vectors live in a
/// transactional store (LMDB, redb or memory). See ``Database``.
#[pymodule]
#[pyo3(name = "_hannoy")]
fn hannoy_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<database::Database>()?;
    module.add_class::<writer::Writer>()?;
    module.add_class::<reader::Reader>()?;
    module.add_class::<metric::Metric>()?;
    module.add("MISSING_ID", reader::MISSING_ID)?;
    module.add("DEFAULT_EF_SEARCH", hannoy::DEFAULT_EF_SEARCH)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(module)?;
    Ok(())
}
