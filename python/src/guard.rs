//! The panic boundary: a panic in the Rust code never reaches Python as pyo3's
//! `PanicException` (a `BaseException`, which `except Exception` does not catch).
//!
//! Every call into the index runs under [`caught`] (through [`detach`] where the GIL is
//! released, and inside the writer's thread for writes and builds); a panic there becomes
//! `hannoy.InternalError`, a `HannoyError` subclass carrying the panic's message. A write
//! that panicked also aborts its transaction (see `session.rs`): nothing half-written can be
//! committed after it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::prelude::*;

use crate::errors::InternalError;

/// A caught panic, with its message.
#[derive(Debug, Clone)]
pub struct Panic(pub String);

impl Panic {
    /// The message of a panic payload (`panic!` gives a `&str` or a `String`).
    fn from_payload(payload: Box<dyn Any + Send>) -> Panic {
        let message = match payload.downcast::<String>() {
            Ok(message) => *message,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(message) => (*message).to_owned(),
                Err(_) => "a panic without a message".to_owned(),
            },
        };
        Panic(message)
    }
}

impl From<Panic> for PyErr {
    fn from(panic: Panic) -> PyErr {
        InternalError::new_err(format!(
            "internal error (a bug in hannoy; please report it): {}",
            panic.0
        ))
    }
}

/// Runs `f`, turning a panic into [`Panic`].
///
/// `AssertUnwindSafe` is sound here: after a panic the data `f` touched is either dropped
/// (a write transaction is aborted by the caller) or only read (snapshots, readers).
pub fn caught<T>(f: impl FnOnce() -> T) -> Result<T, Panic> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Panic::from_payload)
}

/// Runs `f` with the GIL released, turning a panic into `InternalError`.
pub fn detach<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    py.detach(|| caught(f)).map_err(PyErr::from)
}

/// Panics with `message`: the test hooks (`Reader._raise_panic`, `Writer._raise_panic`)
/// call it where a real bug would panic, to prove the boundary.
pub fn inject_panic(message: &str) {
    panic!("{message}")
}
