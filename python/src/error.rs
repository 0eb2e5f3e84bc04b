//! Errors of the bindings and the Python exceptions they become.

use arrow_schema::{ArrowError, DataType};
use jitgate_masking::MaskError;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    _native,
    ConfigError,
    PyValueError,
    "The configuration file (or its masking key) is wrong; the message names file, line and key."
);
create_exception!(
    _native,
    MaskingError,
    PyValueError,
    "A mask cannot be applied: unknown mask or column, a value it cannot mask, a result too large."
);
create_exception!(
    _native,
    UnsupportedTypeError,
    PyTypeError,
    "A column's Arrow type has no counterpart the mask applies to."
);
create_exception!(
    _native,
    InternalError,
    PyRuntimeError,
    "A bug in jitgate: the masking engine panicked (nothing was returned)."
);

/// Why masking or scanning an array failed.
#[derive(Debug, thiserror::Error)]
pub enum ArrayError {
    #[error("{0}")]
    Mask(#[from] MaskError),
    #[error("the {mask} mask cannot be applied to a column of Arrow type {data_type}")]
    NotApplicable {
        mask: &'static str,
        data_type: DataType,
    },
    #[error("columns of Arrow type {0} holding text cannot be scanned; give the column a mask or drop it")]
    Unscannable(DataType),
    #[error("a masked value is out of range for Arrow type {0}")]
    OutOfRange(DataType),
    #[error("the masked column is larger than its Arrow type can hold (use large_string or large_binary)")]
    TooLarge,
    #[error("a masked text value is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("the masking engine panicked: {0}")]
    Panicked(String),
}

impl From<ArrayError> for PyErr {
    fn from(e: ArrayError) -> PyErr {
        let message = e.to_string();
        match e {
            ArrayError::NotApplicable { .. } | ArrayError::Unscannable(_) => {
                UnsupportedTypeError::new_err(message)
            }
            ArrayError::Mask(MaskError::NotApplicable { .. }) => {
                UnsupportedTypeError::new_err(message)
            }
            ArrayError::Panicked(_) => InternalError::new_err(message),
            _ => MaskingError::new_err(message),
        }
    }
}

/// Runs `work`, turning a panic into [`ArrayError::Panicked`]: nothing unwinds into Python.
pub fn no_panic<T>(work: impl FnOnce() -> Result<T, ArrayError>) -> Result<T, ArrayError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ArrayError::Panicked(what))
        }
    }
}
