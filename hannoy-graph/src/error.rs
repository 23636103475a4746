//! The index's error type.

use hannoy_metrics::{CodeError, VectorError};

use crate::store::StoreError;

/// The result of an index operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with an index. Bad input is reported here, never by a
/// panic, and an operation that fails leaves the index as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed, is full, or holds bytes that do not decode.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A vector (item or query) has a length other than the index's dimensions.
    #[error("vector has {found} dimensions, the index has {expected}")]
    DimensionMismatch {
        /// The index's dimensions.
        expected: usize,
        /// The vector's length.
        found: usize,
    },

    /// A vector the metric cannot take (NaN or infinite component, zero vector under
    /// cosine, non-binary value under hamming).
    #[error("invalid vector for item {item:?}: {source}")]
    InvalidVector {
        /// The item the vector was given for; `None` for a query.
        item: Option<u32>,
        /// What is wrong with it.
        #[source]
        source: VectorError,
    },

    /// The index was created with another metric than the one asked for.
    #[error("index {index} uses metric {stored:?}, not {requested:?}")]
    MetricMismatch {
        /// The index.
        index: u16,
        /// The metric it was built with.
        stored: String,
        /// The metric asked for.
        requested: &'static str,
    },

    /// The index exists with other dimensions than the writer was created with.
    #[error("index {index} has {stored} dimensions, the writer was created with {requested}")]
    IndexDimensionMismatch {
        /// The index.
        index: u16,
        /// Its dimensions.
        stored: usize,
        /// The writer's dimensions.
        requested: usize,
    },

    /// A build parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),

    /// No index with this number exists in the store (it was never built).
    #[error("index {0} does not exist (it has never been built)")]
    MissingIndex(u16),

    /// The item is not in the index.
    #[error("item {0} is not in the index")]
    ItemNotFound(u32),

    /// Compact codes cannot be used as asked: a metric that takes none (only Euclidean,
    /// cosine and dot product do), an unknown scheme name.
    #[error("compact codes: {0}")]
    Codes(#[source] CodeError),

    /// The build was cancelled by its cancellation check; nothing was written.
    #[error("the build was cancelled; the index is unchanged")]
    Cancelled,
}

impl Error {
    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        Error::InvalidParameter(message.into())
    }

    pub(crate) fn corrupted(what: impl Into<String>, key: &[u8]) -> Self {
        Error::Store(StoreError::corrupted(what, key))
    }
}
