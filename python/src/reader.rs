//! `hannoy.Reader`: nearest-neighbour queries on one index, in one snapshot.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hannoy::{DEFAULT_EF_SEARCH, QueryBuilder, ReadTxn, Reader as IndexReader};
use hannoy::{Error, RoaringBitmap, Searched};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::arrays::{self, count};
use crate::errors::{to_py, value_error};
use crate::guard;
use crate::metric::Metric;
use crate::snapshot::{Snapshot, with_snapshot};
use crate::store::Shared;

/// The id in the rows of ``search_batch`` past the results found: 2**32 - 1.
pub const MISSING_ID: u32 = u32::MAX;

/// A read-only view of one index as of the last commit before it was opened (or last
/// refreshed); later commits are not seen until ``refresh()``.
///
/// Made by ``Database.reader()``. Searches release the GIL. ``search_batch`` runs its
/// queries in parallel; several threads may also search one reader at once (on LMDB, one
/// reader serves one search at a time: use ``search_batch``, or a reader per thread, for
/// parallel searches).
///
/// A reader holds its snapshot open: the store must keep every page that snapshot can see,
/// so while a writer keeps committing, an LMDB file grows (pages freed by later commits
/// cannot be reused). A long-lived reader should call ``refresh()`` now and then (for
/// example after each commit it needs to see, or every few seconds), or ``close()`` it (or
/// use it as a context manager) when done.
///
/// Distances are the metric's own (cosine: ``1 - cos``; euclidean: L2), smaller is closer.
#[pyclass(module = "hannoy", frozen)]
pub struct Reader {
    /// The current snapshot; `None` once closed.
    view: RwLock<Option<Arc<View>>>,
    /// Keeps the store registered while a snapshot is open.
    shared: Arc<Shared>,
    metric: Metric,
    index: u16,
    /// Whether each snapshot's links and codes are copied into memory at open.
    hold_in_memory: bool,
}

/// One snapshot and what is read from it once.
struct View {
    snapshot: Snapshot,
    dimensions: usize,
    /// Rounded up from the slot count: an ef past it explores nothing more.
    slots: usize,
    items: RoaringBitmap,
    /// The scheme of the index's compact codes, if any.
    quantization: Option<String>,
    /// Whether the codes are all the index keeps.
    codes_only: bool,
}

impl View {
    /// Opens a snapshot of `shared` and the reader of index `index` in it.
    fn open(shared: &Shared, metric: Metric, index: u16, hold: bool) -> Result<View, Error> {
        let snapshot = Snapshot::open(&shared.store, metric, index, hold)?;
        let (dimensions, slots, items, quantization, codes_only) =
            with_snapshot!(&snapshot, |_txn, reader| (
                reader.dimensions(),
                reader.metadata().slot_count as usize,
                reader.item_ids().clone(),
                reader
                    .metadata()
                    .codes
                    .as_ref()
                    .map(|codes| codes.scheme.clone()),
                reader.metadata().codes_only()
            ));
        Ok(View {
            snapshot,
            dimensions,
            slots,
            items,
            quantization,
            codes_only,
        })
    }

    fn query<'a>(
        &self,
        k: i64,
        ef_search: Option<i64>,
        candidates: Option<&'a RoaringBitmap>,
        rescore: Option<i64>,
        timeout: Option<f64>,
    ) -> PyResult<Query<'a>> {
        let deadline = match timeout {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => Duration::try_from_secs_f64(t)
                .ok()
                .and_then(|budget| Instant::now().checked_add(budget)),
            Some(t) => {
                return Err(value_error(format!(
                    "timeout must be a finite number of seconds >= 0, not {t}"
                )));
            }
        };
        let ef = match ef_search {
            Some(ef) => count("ef_search", ef)?,
            None => DEFAULT_EF_SEARCH,
        };
        let rescore = match rescore {
            Some(0) => return Err(value_error("rescore must be at least 1")),
            Some(rescore) => Some(count("rescore", rescore)?.min(self.slots.max(1))),
            None => None,
        };
        Ok(Query {
            k: count("k", k)?,
            ef: ef.min(self.slots.max(1)),
            candidates,
            rescore,
            deadline,
        })
    }
}

/// The ids and distances of a batch search, one row per query.
type Neighbours<'py> = (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray2<f32>>);

/// A query's settings, resolved.
struct Query<'a> {
    k: usize,
    ef: usize,
    candidates: Option<&'a RoaringBitmap>,
    rescore: Option<usize>,
    /// When the search (every row of a batch) stops, from ``timeout``.
    deadline: Option<Instant>,
}

impl<'a> Query<'a> {
    /// The query builder for `reader` (which bounds `k` by the items it holds, so a huge
    /// `k` allocates nothing huge).
    fn on<'r, 't, M: hannoy::Metric, T: ReadTxn + 't>(
        &self,
        reader: &'r IndexReader<'t, M, T>,
    ) -> QueryBuilder<'r, 't, M, T>
    where
        'a: 'r,
    {
        let builder = reader.nns(self.k).ef_search(self.ef);
        let builder = match self.rescore {
            Some(rescore) => builder.rescore(rescore),
            None => builder,
        };
        let builder = match self.deadline {
            Some(deadline) => builder.deadline(deadline),
            None => builder,
        };
        match self.candidates {
            Some(candidates) => builder.candidates(candidates),
            None => builder,
        }
    }
}

impl Reader {
    /// Opens a snapshot of `shared` and the reader of index `index` in it (its links and
    /// codes copied into memory if `hold_in_memory`, at every refresh too).
    pub fn open(
        shared: &Arc<Shared>,
        metric: Metric,
        index: u16,
        hold_in_memory: bool,
    ) -> PyResult<Reader> {
        let view = View::open(shared, metric, index, hold_in_memory).map_err(to_py)?;
        Ok(Reader {
            view: RwLock::new(Some(Arc::new(view))),
            shared: Arc::clone(shared),
            metric,
            index,
            hold_in_memory,
        })
    }

    /// The current snapshot; `ValueError` once closed. A search keeps the snapshot it
    /// started with even if the reader is refreshed or closed meanwhile.
    fn view(&self) -> PyResult<Arc<View>> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| value_error("the reader is closed"))
    }

    /// Replaces the snapshot (`None`: closes it).
    fn replace(&self, view: Option<View>) {
        // The old view is dropped after the lock is released (its transaction's end can
        // take a moment on LMDB).
        let old = std::mem::replace(
            &mut *self.view.write().unwrap_or_else(PoisonError::into_inner),
            view.map(Arc::new),
        );
        drop(old);
    }
}

/// The `(ids, distances)` buffers of `rows × k` cells, reserved before any search runs so
/// that a result too large to allocate is a `MemoryError`, not an abort after the work.
struct RowBuffers {
    ids: Vec<u32>,
    distances: Vec<f32>,
    k: usize,
}

impl RowBuffers {
    fn reserve(rows: usize, k: usize) -> PyResult<RowBuffers> {
        let cells = rows
            .checked_mul(k)
            .ok_or_else(|| PyMemoryError::new_err("rows × k overflows"))?;
        let mut ids: Vec<u32> = Vec::new();
        let mut distances: Vec<f32> = Vec::new();
        ids.try_reserve_exact(cells)
            .and_then(|()| distances.try_reserve_exact(cells))
            .map_err(|e| PyMemoryError::new_err(e.to_string()))?;
        Ok(RowBuffers { ids, distances, k })
    }
}

/// Rows of results as ``(ids, distances)`` arrays of shape ``(rows, k)``, padded with
/// ``MISSING_ID`` and ``inf``, and the bool array of rows cut short when asked for.
fn rows_as_arrays(
    py: Python<'_>,
    found: &[Searched],
    buffers: RowBuffers,
    return_cut_short: bool,
) -> PyResult<Py<PyAny>> {
    let RowBuffers {
        mut ids,
        mut distances,
        k,
    } = buffers;
    let rows = found.len();
    let mut cut_short = Vec::with_capacity(rows);
    for (row, stats) in found {
        ids.extend(row.iter().map(|&(id, _)| id));
        distances.extend(row.iter().map(|&(_, distance)| distance));
        let missing = k.saturating_sub(row.len());
        ids.extend(std::iter::repeat_n(MISSING_ID, missing));
        distances.extend(std::iter::repeat_n(f32::INFINITY, missing));
        cut_short.push(stats.cut_short);
    }
    let neighbours: Neighbours<'_> = (
        PyArray1::from_vec(py, ids).reshape([rows, k])?,
        PyArray1::from_vec(py, distances).reshape([rows, k])?,
    );
    if return_cut_short {
        let (ids, distances) = neighbours;
        (ids, distances, PyArray1::from_vec(py, cut_short)).into_py_any(py)
    } else {
        neighbours.into_py_any(py)
    }
}

/// A single search's result: its pairs, or `(pairs, cut_short)` when asked for.
fn pairs_and_flag(
    py: Python<'_>,
    found: Vec<(u32, f32)>,
    cut_short: bool,
    return_cut_short: bool,
) -> PyResult<Py<PyAny>> {
    if return_cut_short {
        (found, cut_short).into_py_any(py)
    } else {
        found.into_py_any(py)
    }
}

/// Candidate ids as a bitmap.
fn candidate_set(candidates: Option<&Bound<'_, PyAny>>) -> PyResult<Option<RoaringBitmap>> {
    candidates
        .map(|candidates| Ok(arrays::item_ids(candidates)?.into_iter().collect()))
        .transpose()
}

/// One candidate set per row: each entry of `sets` read as [`candidate_set`] reads one.
fn row_candidate_sets(sets: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<RoaringBitmap>>> {
    let Some(sets) = sets else {
        return Ok(None);
    };
    let mut all = Vec::new();
    for set in sets.try_iter()? {
        all.push(arrays::item_ids(&set?)?.into_iter().collect());
    }
    Ok(Some(all))
}

#[pymethods]
impl Reader {
    /// The ``k`` items closest to ``vector`` (1-D, float32 or float64), as a list of
    /// ``(id, distance)`` pairs, closest first; fewer when the index holds fewer.
    ///
    /// ``ef_search`` is the size of the candidate list (default 64; larger finds more of
    /// the true neighbours, slower). ``candidates`` (any iterable of ids, fastest as a
    /// numpy uint32 array) restricts the results to those ids. On an index with compact
    /// codes (``Reader.quantization``), the graph is walked on the codes and ``rescore``
    /// candidates (default: ``ef_search``) are rescored with the full vectors, so the
    /// distances are exact; fewer is faster. ``ValueError`` for ``rescore < 1``.
    ///
    /// ``timeout`` (seconds, a float) cuts the search short when it runs out: the best
    /// results found by then come back, distances exact. With ``return_cut_short=True``
    /// the result is ``(pairs, cut_short)``, ``cut_short`` saying whether it was.
    #[pyo3(signature = (vector, k=10, ef_search=None, candidates=None, rescore=None, timeout=None, return_cut_short=false))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        vector: &Bound<'_, PyAny>,
        k: i64,
        ef_search: Option<i64>,
        candidates: Option<&Bound<'_, PyAny>>,
        rescore: Option<i64>,
        timeout: Option<f64>,
        return_cut_short: bool,
    ) -> PyResult<Py<PyAny>> {
        let view = self.view()?;
        let allowed = candidate_set(candidates)?;
        let query = view.query(k, ef_search, allowed.as_ref(), rescore, timeout)?;
        let (found, stats) = arrays::with_vector(vector, |vector| {
            arrays::check_dimensions("query", vector.len(), view.dimensions)?;
            guard::detach(py, || {
                with_snapshot!(&view.snapshot, |_txn, reader| query
                    .on(reader)
                    .by_vector_with_stats(vector))
            })?
            .map_err(to_py)
        })?;
        pairs_and_flag(py, found, stats.cut_short, return_cut_short)
    }

    /// One search per row of ``queries`` (2-D, float32 or float64), run in parallel.
    ///
    /// Returns ``(ids, distances)``: a ``uint32`` and a ``float32`` array of shape
    /// ``(len(queries), k)``, each row closest first. Where a row has fewer than ``k``
    /// results the rest of it holds ``MISSING_ID`` (``2**32 - 1``) and ``inf``.
    ///
    /// ``timeout`` (seconds) is the whole batch's budget: every row stops when it runs
    /// out, with the best it had found. ``return_cut_short=True`` adds a third array, a
    /// bool per row saying whether that row was cut short.
    ///
    /// ``row_candidates`` gives each row its own candidates: a sequence with one id
    /// collection per row (each planned on its own: a scan, a two-hop or a filtered walk).
    /// ``ValueError`` when its length is not the number of rows, or with ``candidates``.
    #[pyo3(signature = (queries, k=10, ef_search=None, candidates=None, rescore=None, timeout=None, return_cut_short=false, row_candidates=None))]
    #[allow(clippy::too_many_arguments)]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: i64,
        ef_search: Option<i64>,
        candidates: Option<&Bound<'py, PyAny>>,
        rescore: Option<i64>,
        timeout: Option<f64>,
        return_cut_short: bool,
        row_candidates: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let view = self.view()?;
        let allowed = candidate_set(candidates)?;
        let row_sets = row_candidate_sets(row_candidates)?;
        if allowed.is_some() && row_sets.is_some() {
            return Err(value_error(
                "give candidates (one set for every row) or row_candidates (one per row), not both",
            ));
        }
        let query = view.query(k, ef_search, allowed.as_ref(), rescore, timeout)?;
        let (found, buffers) = arrays::with_matrix(queries, |queries, rows, cols| {
            arrays::check_dimensions("query", cols, view.dimensions)?;
            if let Some(sets) = row_sets.as_ref().filter(|sets| sets.len() != rows) {
                return Err(value_error(format!(
                    "row_candidates holds {} sets for {rows} queries: give one per row",
                    sets.len()
                )));
            }
            let buffers = RowBuffers::reserve(rows, query.k)?;
            let found = guard::detach(py, || {
                with_snapshot!(&view.snapshot, |_txn, reader| {
                    let builder = query.on(reader);
                    queries
                        .par_chunks(view.dimensions)
                        .enumerate()
                        .map(|(row, vector)| {
                            let searched = match &row_sets {
                                Some(sets) => query
                                    .on(reader)
                                    .candidates(&sets[row])
                                    .by_vector_with_stats(vector),
                                None => builder.by_vector_with_stats(vector),
                            };
                            searched.map_err(|e| (row, e))
                        })
                        .collect::<Result<Vec<_>, (usize, Error)>>()
                })
            })?;
            let found = found.map_err(|(row, e)| {
                let e = to_py(e);
                let message = format!("row {row}: {}", e.value(py));
                PyErr::from_type(e.get_type(py), message)
            })?;
            Ok((found, buffers))
        })?;
        rows_as_arrays(py, &found, buffers, return_cut_short)
    }

    /// One ``search_item`` per id of ``ids`` (any iterable of ids; a numpy uint32 array is
    /// read in place), run in parallel: the arrays of ``search_batch``, one row per id, in
    /// order. ``KeyError`` for the first id the reader does not see, before any search.
    /// ``exclude_self=True`` leaves each item out of its own row (``k`` others come back).
    #[pyo3(signature = (ids, k=10, ef_search=None, candidates=None, rescore=None, timeout=None, return_cut_short=false, exclude_self=false))]
    #[allow(clippy::too_many_arguments)]
    fn search_items(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        k: i64,
        ef_search: Option<i64>,
        candidates: Option<&Bound<'_, PyAny>>,
        rescore: Option<i64>,
        timeout: Option<f64>,
        return_cut_short: bool,
        exclude_self: bool,
    ) -> PyResult<Py<PyAny>> {
        let view = self.view()?;
        let ids = arrays::item_ids(ids)?;
        let allowed = candidate_set(candidates)?;
        let query = view.query(k, ef_search, allowed.as_ref(), rescore, timeout)?;
        let buffers = RowBuffers::reserve(ids.len(), query.k)?;
        let found = guard::detach(py, || {
            with_snapshot!(&view.snapshot, |txn, reader| query
                .on(reader)
                .exclude_self(exclude_self)
                .by_items_with_stats(txn, &ids))
        })?
        .map_err(to_py)?;
        rows_as_arrays(py, &found, buffers, return_cut_short)
    }

    /// The ``k`` items closest to item ``id`` (itself first, at distance 0, unless
    /// ``exclude_self=True``), as ``search`` (``timeout`` and ``return_cut_short`` too).
    /// Raises ``KeyError`` if the reader does not see ``id``.
    #[pyo3(signature = (id, k=10, ef_search=None, candidates=None, rescore=None, timeout=None, return_cut_short=false, exclude_self=false))]
    #[allow(clippy::too_many_arguments)]
    fn search_item(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        k: i64,
        ef_search: Option<i64>,
        candidates: Option<&Bound<'_, PyAny>>,
        rescore: Option<i64>,
        timeout: Option<f64>,
        return_cut_short: bool,
        exclude_self: bool,
    ) -> PyResult<Py<PyAny>> {
        let view = self.view()?;
        let id = arrays::item_id(id)?;
        let allowed = candidate_set(candidates)?;
        let query = view.query(k, ef_search, allowed.as_ref(), rescore, timeout)?;
        let (found, stats) = guard::detach(py, || {
            with_snapshot!(&view.snapshot, |txn, reader| query
                .on(reader)
                .exclude_self(exclude_self)
                .by_item_with_stats(txn, id))
        })?
        .map_err(to_py)?;
        pairs_and_flag(py, found, stats.cut_short, return_cut_short)
    }

    /// The stored vector of item ``id`` as a float32 array (binary-quantized metrics give
    /// their reconstruction, ±1). Raises ``KeyError`` if the reader does not see ``id``.
    fn item_vector<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let view = self.view()?;
        let id = arrays::item_id(id)?;
        let vector = guard::detach(py, || {
            with_snapshot!(&view.snapshot, |txn, reader| reader.item_vector(txn, id))
        })?
        .map_err(to_py)?
        .ok_or_else(|| to_py(Error::ItemNotFound(id)))?;
        Ok(PyArray1::from_vec(py, vector))
    }

    /// Reads the index's pages ahead, so that the first searches of a freshly started
    /// process do not fault them in one random read at a time: the links and what the walk
    /// reads with ``vectors=False``, the full vectors too by default. Returns the bytes
    /// spanned. The GIL is released meanwhile.
    #[pyo3(signature = (vectors=true))]
    fn prefetch(&self, py: Python<'_>, vectors: bool) -> PyResult<u64> {
        let view = self.view()?;
        let what = match vectors {
            true => hannoy::Prefetch::All,
            false => hannoy::Prefetch::Walk,
        };
        guard::detach(py, || {
            with_snapshot!(&view.snapshot, |_txn, reader| reader.prefetch(what))
        })?
        .map_err(to_py)
    }

    /// The ids of every item, sorted, as a uint32 array.
    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u32>>> {
        Ok(PyArray1::from_vec(py, self.view()?.items.iter().collect()))
    }

    /// Moves the reader to the latest commit (and lets the store reuse the pages only its
    /// old snapshot could see). Searches running meanwhile finish on the old snapshot.
    /// Raises ``MissingIndexError`` (and keeps the old snapshot) if the index no longer
    /// exists; a closed reader is opened again.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let (shared, metric, index) = (&self.shared, self.metric, self.index);
        let hold = self.hold_in_memory;
        let view = guard::detach(py, || View::open(shared, metric, index, hold))?.map_err(to_py)?;
        self.replace(Some(view));
        Ok(())
    }

    /// Releases the snapshot; searches then raise ``ValueError`` until ``refresh()``.
    /// Closing a closed reader does nothing.
    fn close(&self) {
        self.replace(None);
    }

    /// Whether the reader is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Returns the reader itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the reader.
    fn __exit__(
        &self,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        let _ = (exc_type, exc_value, traceback);
        self.close();
        false
    }

    /// Test hook of the panic boundary: panics with ``message`` inside a search's critical
    /// section (the snapshot borrowed, its lock held on LMDB). Raises ``InternalError``.
    fn _raise_panic(&self, py: Python<'_>, message: String) -> PyResult<()> {
        let view = self.view()?;
        guard::detach(py, || {
            with_snapshot!(&view.snapshot, |_txn, _reader| guard::inject_panic(
                &message
            ))
        })
    }

    /// Components per vector.
    #[getter]
    fn dimensions(&self) -> PyResult<usize> {
        Ok(self.view()?.dimensions)
    }

    /// The index number.
    #[getter]
    fn index(&self) -> u16 {
        self.index
    }

    /// The compact codes the index keeps (``"sq8"``, ``"rabitq1"``), or ``None``.
    #[getter]
    fn quantization(&self) -> PyResult<Option<String>> {
        Ok(self.view()?.quantization.clone())
    }

    /// Whether the index keeps its codes only, no full vectors (``codes_only=True`` on the
    /// writer): searches rank by the codes and return their estimated distances.
    #[getter]
    fn codes_only(&self) -> PyResult<bool> {
        Ok(self.view()?.codes_only)
    }

    /// Whether the reader copies the index's links and codes into its own memory at open
    /// and at each ``refresh()`` (``hold_in_memory=True`` on ``Database.reader``).
    #[getter]
    fn hold_in_memory(&self) -> bool {
        self.hold_in_memory
    }

    /// The metric.
    #[getter]
    fn metric(&self) -> Metric {
        self.metric
    }

    /// The number of items a search can return.
    fn __len__(&self) -> PyResult<usize> {
        Ok(usize::try_from(self.view()?.items.len()).unwrap_or(usize::MAX))
    }

    /// Whether a search can return item ``id``.
    fn __contains__(&self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let view = self.view()?;
        Ok(arrays::item_id(id).is_ok_and(|id| view.items.contains(id)))
    }

    fn __repr__(&self) -> String {
        match self.view() {
            Ok(view) => format!(
                "<hannoy.Reader index={} dims={} metric={} items={}>",
                self.index,
                view.dimensions,
                self.metric.name(),
                view.items.len()
            ),
            Err(_) => format!(
                "<hannoy.Reader index={} metric={} (closed)>",
                self.index,
                self.metric.name()
            ),
        }
    }
}
