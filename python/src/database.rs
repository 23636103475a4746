//! `hannoy.Database`: a store of one backend, holding any number of indexes.

use std::path::PathBuf;
use std::sync::Arc;

use hannoy::BuildParams;
use pyo3::prelude::*;

use crate::arrays::{count, index_number};
use crate::errors::value_error;
use crate::guard;
use crate::metric::Metric;
use crate::reader::Reader;
use crate::store::{self, Backend, Shared};
use crate::writer::{Writer, WriterSettings};

/// A database of vector indexes (numbered 0 to 65535), all of metric ``metric``.
///
/// ``backend`` is ``"lmdb"`` (default: ``path`` is a directory, created if missing,
/// memory-mapped), ``"redb"`` (``path`` is a file) or ``"memory"`` (``path`` must be
/// ``None``; nothing persists). ``map_size`` is LMDB's size limit in bytes (default 64 GiB
/// of address space; it costs no memory or disk by itself).
///
/// Opening a path that this process has open already shares the open store, provided
/// ``map_size`` agrees (or is left ``None``); otherwise ``AlreadyOpenError`` is raised. The
/// store closes when this object and every reader and writer made from it are gone.
///
/// Example::
///
///     db = hannoy.Database("index-dir", "cosine")
///     with db.writer(dims=384) as writer:
///         writer.add_items(ids, vectors)      # ids: uint32[n], vectors: float32[n, 384]
///     reader = db.reader()
///     reader.search(query, k=10)              # [(id, distance), ...]
#[pyclass(module = "hannoy", frozen)]
pub struct Database {
    shared: Arc<Shared>,
    metric: Metric,
    backend: Backend,
}

#[pymethods]
impl Database {
    #[new]
    #[pyo3(signature = (path, metric, backend="lmdb", map_size=None))]
    fn new(
        path: Option<PathBuf>,
        metric: &Bound<'_, PyAny>,
        backend: &str,
        map_size: Option<i64>,
    ) -> PyResult<Database> {
        let metric = Metric::from_py(metric)?;
        let backend = Backend::parse(backend)?;
        let map_size = match map_size {
            Some(size) if size <= 0 => {
                return Err(value_error(format!(
                    "map_size must be positive, got {size}"
                )));
            }
            Some(size) => Some(count("map_size", size)?),
            None => None,
        };
        let shared = store::open(backend, path.as_deref(), map_size)?;
        Ok(Database {
            shared,
            metric,
            backend,
        })
    }

    /// A writer of index ``index`` for vectors of ``dims`` components; see ``Writer``.
    ///
    /// ``m`` is the number of links per node on the upper layers, ``m0`` on layer 0
    /// (default ``2 * m``); both are fixed once the index is built. ``ef_construction`` is
    /// the candidate list size while inserting; ``seed`` seeds the level draws (one build
    /// thread and one seed give the same graph every time).
    ///
    /// ``quantization`` sets the compact codes every build of this writer leaves the index
    /// with: ``"sq8"`` (8 bits per dimension) or ``"rabitq1"`` (1 bit), walked by searches
    /// and rescored with the full vectors; ``"none"`` removes them; ``None`` (default)
    /// keeps what the index has. Changing it on a built index re-encodes the codes at the
    /// next build without rebuilding the graph. Euclidean, cosine and dot take codes.
    /// ``"rabitq2"`` and ``"rabitq4"`` are RaBitQ with 2 and 4 bits per dimension.
    ///
    /// ``codes_only=True`` (with ``quantization="sq8"``) keeps the codes and no full
    /// vectors: the smallest store (about 0.4x the raw float32 size at 384 dimensions).
    /// Searches then rank by the codes (distances are estimates), ``item_vector`` gives
    /// the vector a code stands for, and later adds, replacements and deletes link against
    /// those. An index becomes codes-only at the next build and stays so with its scheme;
    /// a build asking for another scheme raises ``ValueError``.
    ///
    /// Raises ``WriterBusyError`` while another writer is open on this database,
    /// ``IndexMismatchError`` if the index exists with other dimensions or another metric,
    /// and ``ValueError`` for parameters out of range (or codes on another metric).
    #[pyo3(signature = (dims, index=0, m=16, m0=None, ef_construction=100, seed=42, quantization=None, codes_only=false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn writer(
        &self,
        py: Python<'_>,
        dims: i64,
        index: i64,
        m: i64,
        m0: Option<i64>,
        ef_construction: i64,
        seed: i64,
        quantization: Option<&str>,
        codes_only: bool,
    ) -> PyResult<Writer> {
        let narrow = |name: &str, value: i64| {
            u16::try_from(value)
                .map_err(|_| value_error(format!("{name} = {value} is out of range")))
        };
        let m = narrow("m", m)?;
        let m0 = match m0 {
            Some(m0) => narrow("m0", m0)?,
            None => m
                .saturating_mul(2)
                .min(hannoy::BuildParams::default().m0.max(255)),
        };
        let ef_construction = u32::try_from(ef_construction).map_err(|_| {
            value_error(format!(
                "ef_construction = {ef_construction} is out of range"
            ))
        })?;
        let codes = quantization
            .map(|name| crate::metric::codes_choice(self.metric, name))
            .transpose()?;
        if codes_only && !matches!(codes, Some(Some(scheme)) if scheme.decodes()) {
            return Err(value_error(
                "codes_only=True needs quantization=\"sq8\" (the codes stand in for the vectors)",
            ));
        }
        let settings = WriterSettings {
            metric: self.metric,
            index: index_number(index)?,
            dimensions: count("dims", dims)?,
            params: BuildParams {
                m,
                m0,
                ef_construction,
            },
            seed: count("seed", seed)? as u64,
            codes,
            codes_only,
        };
        Writer::open(py, &self.shared, settings)
    }

    /// A reader of index ``index`` as of the last commit; see ``Reader``. Raises
    /// ``MissingIndexError`` if the index was never built and committed.
    ///
    /// ``hold_in_memory=True`` copies the index's links, and its compact codes if it has
    /// them, out of the store into the reader's own memory when it opens (and at each
    /// ``refresh()``): for a process whose memory limit is smaller than the store, so that
    /// the page cache, cycling the full vectors that rescoring reads, cannot evict what
    /// every query walks. It costs one pass over those bytes at open and their size in
    /// memory (about 150 bytes per item of links at m=16, plus a code).
    #[pyo3(signature = (index=0, hold_in_memory=false))]
    fn reader(&self, py: Python<'_>, index: i64, hold_in_memory: bool) -> PyResult<Reader> {
        let index = index_number(index)?;
        let (shared, metric) = (&self.shared, self.metric);
        guard::detach(py, || Reader::open(shared, metric, index, hold_in_memory))?
    }

    /// The metric of the indexes.
    #[getter]
    fn metric(&self) -> Metric {
        self.metric
    }

    /// ``"lmdb"``, ``"redb"`` or ``"memory"``.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// The canonical path of the store (``None`` in memory).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.shared.path.clone()
    }

    /// LMDB's map size in bytes (``None`` for other backends).
    #[getter]
    fn map_size(&self) -> Option<usize> {
        self.shared.map_size
    }

    fn __repr__(&self) -> String {
        let path = self.shared.path.as_ref().map_or_else(
            || "None".to_owned(),
            |p| format!("{:?}", p.display().to_string()),
        );
        format!(
            "<hannoy.Database {path} backend={} metric={}>",
            self.backend.name(),
            self.metric.name()
        )
    }
}
