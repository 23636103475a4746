//! Python values in: vectors and matrices of floats, item ids, counts. A C-contiguous
//! float32 array is read in place; any other float array (float64, strided, a view) is
//! copied once into float32; other sequences go through `numpy.asarray`.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors::value_error;

/// Calls `f` with the components of `value`, a 1-D vector (numpy array or sequence).
///
/// # Errors
/// `ValueError` for a value of another shape or dtype.
pub fn with_vector<R>(
    value: &Bound<'_, PyAny>,
    f: impl FnOnce(&[f32]) -> PyResult<R>,
) -> PyResult<R> {
    with_floats(value, 1, "a 1-D vector", |values, _| f(values))
}

/// Calls `f` with the rows of `value`, a 2-D matrix (numpy array or nested sequence), as
/// one row-major slice, with its row and column counts.
///
/// # Errors
/// `ValueError` for a value of another shape or dtype.
pub fn with_matrix<R>(
    value: &Bound<'_, PyAny>,
    f: impl FnOnce(&[f32], usize, usize) -> PyResult<R>,
) -> PyResult<R> {
    with_floats(
        value,
        2,
        "a 2-D array (one row per vector)",
        |values, shape| f(values, shape[0], shape[1]),
    )
}

/// Calls `f` with the components of `value`, an array of `ndim` dimensions, in row-major
/// order, and its shape: in place for a C-contiguous float32 array, else copied once.
fn with_floats<R>(
    value: &Bound<'_, PyAny>,
    ndim: usize,
    what: &str,
    f: impl FnOnce(&[f32], &[usize]) -> PyResult<R>,
) -> PyResult<R> {
    let array = float_array(value, ndim, what)?;
    let shape = array.shape();
    if let Ok(array) = array.cast::<PyArrayDyn<f32>>() {
        let view = array.try_readonly()?;
        // `as_slice` also accepts a Fortran-ordered array, whose slice is column-major.
        if array.is_c_contiguous()
            && let Ok(slice) = view.as_slice()
        {
            return f(slice, shape);
        }
        // ndarray iterates in logical (row-major) order, whatever the strides.
        let owned: Vec<f32> = view.as_array().iter().copied().collect();
        return f(&owned, shape);
    }
    if let Ok(array) = array.cast::<PyArrayDyn<f64>>() {
        let owned: Vec<f32> = array
            .try_readonly()?
            .as_array()
            .iter()
            .map(|&x| x as f32)
            .collect();
        return f(&owned, shape);
    }
    Err(dtype_error(&array))
}

/// Checks that a vector has the index's dimensions.
///
/// # Errors
/// `ValueError` naming both.
pub fn check_dimensions(what: &str, found: usize, expected: usize) -> PyResult<()> {
    if found != expected {
        return Err(value_error(format!(
            "{what} has {found} dimensions, the index has {expected}"
        )));
    }
    Ok(())
}

/// `value` as a numpy array of `ndim` dimensions and a float dtype; sequences are converted
/// to float32 by `numpy.asarray`.
fn float_array<'py>(
    value: &Bound<'py, PyAny>,
    ndim: usize,
    what: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let array = match value.cast::<PyUntypedArray>() {
        Ok(array) => array.clone(),
        Err(_) => {
            let converted = asarray(value.py())?.call1((value, "float32"))?;
            converted.cast_into::<PyUntypedArray>()?
        }
    };
    if array.ndim() != ndim {
        return Err(value_error(format!(
            "expected {what}, got an array of shape {:?}",
            array.shape()
        )));
    }
    let dtype = array.dtype();
    if dtype.kind() != b'f' || !matches!(dtype.itemsize(), 4 | 8) {
        return Err(dtype_error(&array));
    }
    Ok(array)
}

fn dtype_error(array: &Bound<'_, PyUntypedArray>) -> PyErr {
    let dtype = array
        .dtype()
        .str()
        .map_or_else(|_| "?".to_owned(), |s| s.to_string());
    value_error(format!(
        "expected float32 or float64 values, got dtype {dtype}"
    ))
}

/// `numpy.asarray`, looked up once.
fn asarray(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ASARRAY
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("numpy")?.getattr("asarray")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// An item id: an integer in `[0, 2**32)`.
///
/// # Errors
/// `ValueError` out of range; `TypeError` for a non-integer.
pub fn item_id(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    match value.extract::<i64>() {
        Ok(id) => u32::try_from(id).map_err(|_| id_range_error(id)),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Err(id_range_error(value.str()?))
        }
        Err(e) => Err(e),
    }
}

fn id_range_error(id: impl std::fmt::Display) -> PyErr {
    value_error(format!(
        "item id {id} is out of range: ids are integers in [0, 2**32)"
    ))
}

/// Item ids from a numpy integer array (uint32 read in place) or any iterable of integers.
///
/// # Errors
/// `ValueError` for an id out of range or a non-integer array; `TypeError` for other values.
pub fn item_ids(value: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        if array.ndim() != 1 {
            return Err(value_error(format!(
                "expected a 1-D array of ids, got shape {:?}",
                array.shape()
            )));
        }
        if let Ok(ids) = array.cast::<PyArray1<u32>>() {
            return Ok(ids.try_readonly()?.as_array().to_vec());
        }
        if !matches!(array.dtype().kind(), b'i' | b'u') {
            return Err(value_error(format!(
                "ids must be integers, got dtype {}",
                array.dtype().str()?
            )));
        }
    }
    let mut ids = Vec::with_capacity(value.len().unwrap_or(0));
    for id in value.try_iter()? {
        ids.push(item_id(&id?)?);
    }
    Ok(ids)
}

/// A non-negative count (`k`, `ef_search`, threads).
///
/// # Errors
/// `ValueError` when negative.
pub fn count(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| value_error(format!("{name} must be >= 0, got {value}")))
}

/// An index number: an integer in `[0, 65536)`.
///
/// # Errors
/// `ValueError` out of range.
pub fn index_number(value: i64) -> PyResult<u16> {
    u16::try_from(value).map_err(|_| {
        value_error(format!(
            "index {value} is out of range: indexes are numbered 0 to 65535"
        ))
    })
}
