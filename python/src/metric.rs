//! `hannoy.Metric`, its string forms, and `with_metric!`: one body
//! expanded once per metric type.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::value_error;

/// A distance metric. Every method that takes a metric also takes its name as a string
/// (`"cosine"`, `"euclidean"`, ...).
#[pyclass(eq, eq_int, frozen, hash, module = "hannoy")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Euclidean (L2) distance.
    #[pyo3(name = "EUCLIDEAN")]
    Euclidean,
    /// Cosine distance, 1 - cos(a, b); zero vectors are refused.
    #[pyo3(name = "COSINE")]
    Cosine,
    /// Negative dot product (larger products are closer).
    #[pyo3(name = "DOT")]
    Dot,
    /// Manhattan (L1) distance.
    #[pyo3(name = "MANHATTAN")]
    Manhattan,
    /// Hamming distance between vectors of 0.0 and 1.0, stored as bits.
    #[pyo3(name = "HAMMING")]
    Hamming,
    /// Cosine on the signs of the components (one bit each).
    #[pyo3(name = "BQ_COSINE")]
    BqCosine,
    /// Euclidean on the signs of the components (one bit each).
    #[pyo3(name = "BQ_EUCLIDEAN")]
    BqEuclidean,
    /// Manhattan on the signs of the components (one bit each).
    #[pyo3(name = "BQ_MANHATTAN")]
    BqManhattan,
}

/// The compact codes a writer's builds leave, from the `quantization=` argument: `"none"`
/// for none, else a scheme name (`"sq8"`, `"rabitq1"`); `ValueError` for an unknown name
/// or a metric that takes no codes (only Euclidean, cosine and dot do).
pub fn codes_choice(metric: Metric, name: &str) -> PyResult<Option<hannoy::Scheme>> {
    let name = name.trim().to_ascii_lowercase();
    if name == "none" {
        return Ok(None);
    }
    let scheme: hannoy::Scheme = name.parse().map_err(|_| {
        value_error(format!(
            "quantization must be \"none\", \"sq8\", \"rabitq1\", \"rabitq2\" or \"rabitq4\", not {name:?}"
        ))
    })?;
    if !matches!(metric, Metric::Euclidean | Metric::Cosine | Metric::Dot) {
        return Err(value_error(format!(
            "the {} metric takes no compact codes (euclidean, cosine and dot do)",
            metric.name()
        )));
    }
    Ok(Some(scheme))
}

/// Every metric, in declaration order.
const ALL: [Metric; 8] = [
    Metric::Euclidean,
    Metric::Cosine,
    Metric::Dot,
    Metric::Manhattan,
    Metric::Hamming,
    Metric::BqCosine,
    Metric::BqEuclidean,
    Metric::BqManhattan,
];

impl Metric {
    /// The metric's string form, as stored in the index.
    pub fn name(self) -> &'static str {
        crate::metric::with_metric!(self, M => <M as hannoy::Metric>::NAME)
    }

    /// A metric or its string form (case-insensitive).
    pub fn from_py(value: &Bound<'_, PyAny>) -> PyResult<Metric> {
        if let Ok(metric) = value.cast::<Metric>() {
            return Ok(*metric.get());
        }
        let Ok(text) = value.cast::<PyString>() else {
            return Err(value_error(format!(
                "metric must be a hannoy.Metric or one of {}, not {}",
                names(),
                value.get_type().name()?
            )));
        };
        let text = text.to_cow()?;
        ALL.into_iter()
            .find(|metric| metric.name().eq_ignore_ascii_case(&text))
            .ok_or_else(|| value_error(format!("unknown metric {text:?}: use one of {}", names())))
    }
}

fn names() -> String {
    ALL.iter()
        .map(|metric| format!("{:?}", metric.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[pymethods]
impl Metric {
    /// The string form, e.g. ``"cosine"``.
    #[getter]
    fn value(&self) -> &'static str {
        self.name()
    }

    fn __str__(&self) -> &'static str {
        self.name()
    }

    /// The metric named ``name`` (case-insensitive), e.g. ``Metric.parse("cosine")``.
    #[staticmethod]
    fn parse(name: &Bound<'_, PyAny>) -> PyResult<Metric> {
        Metric::from_py(name)
    }

    /// Every metric, in a fixed order.
    #[staticmethod]
    fn all() -> Vec<Metric> {
        ALL.to_vec()
    }
}

/// Runs `$body` with `$M` naming the `hannoy` metric type of `$metric` (a [`Metric`]).
macro_rules! with_metric {
    ($metric:expr, $M:ident => $body:expr) => {
        match $metric {
            $crate::metric::Metric::Euclidean => {
                type $M = ::hannoy::Euclidean;
                $body
            }
            $crate::metric::Metric::Cosine => {
                type $M = ::hannoy::Cosine;
                $body
            }
            $crate::metric::Metric::Dot => {
                type $M = ::hannoy::DotProduct;
                $body
            }
            $crate::metric::Metric::Manhattan => {
                type $M = ::hannoy::Manhattan;
                $body
            }
            $crate::metric::Metric::Hamming => {
                type $M = ::hannoy::Hamming;
                $body
            }
            $crate::metric::Metric::BqCosine => {
                type $M = ::hannoy::BinaryQuantizedCosine;
                $body
            }
            $crate::metric::Metric::BqEuclidean => {
                type $M = ::hannoy::BinaryQuantizedEuclidean;
                $body
            }
            $crate::metric::Metric::BqManhattan => {
                type $M = ::hannoy::BinaryQuantizedManhattan;
                $body
            }
        }
    };
}

pub(crate) use with_metric;
