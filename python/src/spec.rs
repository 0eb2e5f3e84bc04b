//! `jitgate.Mask`: a mask named in Python, for columns that did not come from a table the policy
//! names. It is the engine's own `Mask`; this module only builds one from keyword arguments,
//! with the limits the configuration file puts on the same keys.

use jitgate_masking::{Generalization, Mask};
use pyo3::prelude::*;

use crate::error::MaskingError;

/// Longer kept prefixes or suffixes than this are surely a mistake (as in the configuration).
const MAX_KEEP: u16 = 1000;

/// The masks without options, by the name the configuration file uses.
const PLAIN: [(&str, Mask); 6] = [
    ("redact", Mask::Redact),
    ("email", Mask::Email),
    ("hash", Mask::Hash),
    ("tokenize", Mask::Tokenize),
    ("null", Mask::Null),
    ("scan", Mask::Scan),
];

/// A mask: `Mask.partial(keep_last=4)`, `Mask.hash()`, `Mask.generalize(granularity="year")`…
#[pyclass(name = "Mask", module = "jitgate", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PyMask(pub Mask);

#[pymethods]
impl PyMask {
    /// A constant of the column's type (`***`, 0, 1970-01-01, false, empty bytes).
    #[staticmethod]
    fn redact() -> PyMask {
        PyMask(Mask::Redact)
    }

    /// Keeps the first and last characters and pads the rest, length kept.
    #[staticmethod]
    #[pyo3(signature = (keep_first=0, keep_last=0, pad="*"))]
    fn partial(keep_first: u16, keep_last: u16, pad: &str) -> PyResult<PyMask> {
        if keep_first > MAX_KEEP || keep_last > MAX_KEEP {
            return Err(MaskingError::new_err(format!(
                "keep_first and keep_last are at most {MAX_KEEP}"
            )));
        }
        let mut chars = pad.chars();
        let pad = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => c,
            _ => {
                return Err(MaskingError::new_err(
                    "pad is a single character such as \"*\"",
                ))
            }
        };
        Ok(PyMask(Mask::Partial {
            keep_first,
            keep_last,
            pad,
        }))
    }

    /// `***@` and the domain.
    #[staticmethod]
    fn email() -> PyMask {
        PyMask(Mask::Email)
    }

    /// A keyed pseudonym of the same type (needs the policy's masking key).
    #[staticmethod]
    fn hash() -> PyMask {
        PyMask(Mask::Hash)
    }

    /// A keyed, format-preserving pseudonym (needs the policy's masking key).
    #[staticmethod]
    fn tokenize() -> PyMask {
        PyMask(Mask::Tokenize)
    }

    /// NULL, whatever the value.
    #[staticmethod]
    fn null() -> PyMask {
        PyMask(Mask::Null)
    }

    /// Dates and timestamps to `granularity` ("month" or "year"), or numbers to multiples of
    /// `bucket` toward zero: exactly one of the two.
    #[staticmethod]
    #[pyo3(signature = (granularity=None, bucket=None))]
    fn generalize(granularity: Option<&str>, bucket: Option<u64>) -> PyResult<PyMask> {
        let g = match (granularity, bucket) {
            (Some("month"), None) => Generalization::Month,
            (Some("year"), None) => Generalization::Year,
            (None, Some(width)) if width > 0 => Generalization::Bucket(width),
            (Some(other), None) => {
                return Err(MaskingError::new_err(format!(
                    "granularity is \"month\" or \"year\", not {other:?}"
                )))
            }
            (None, Some(_)) => return Err(MaskingError::new_err("bucket is a positive integer")),
            _ => return Err(MaskingError::new_err(
                "give granularity=\"month\"|\"year\" (dates) or bucket=N (numbers), exactly one",
            )),
        };
        Ok(PyMask(Mask::Generalize(g)))
    }

    /// Free text with whatever the content detectors find replaced where it stands.
    #[staticmethod]
    fn scan() -> PyMask {
        PyMask(Mask::Scan)
    }

    /// A mask without options by name: redact, email, hash, tokenize, null, scan.
    #[staticmethod]
    pub fn named(name: &str) -> PyResult<PyMask> {
        if let Some((_, mask)) = PLAIN.iter().find(|(n, _)| *n == name) {
            return Ok(PyMask(mask.clone()));
        }
        let hint = match name {
            "partial" => "; partial takes options: jitgate.Mask.partial(keep_last=4)".to_owned(),
            "generalize" => {
                "; generalize takes options: jitgate.Mask.generalize(granularity=\"year\")"
                    .to_owned()
            }
            _ => format!(
                "; masks: {}, partial, generalize",
                PLAIN.map(|(n, _)| n).join(", ")
            ),
        };
        Err(MaskingError::new_err(format!(
            "unknown mask {name:?}{hint}"
        )))
    }

    /// The configuration file's word for the mask.
    #[getter]
    fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Whether the mask needs the masking key.
    #[getter]
    fn keyed(&self) -> bool {
        self.0.is_keyed()
    }

    fn __repr__(&self) -> String {
        format!("<jitgate.Mask {}>", self.0)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
