//! The content detectors over Python text: findings (kind and span) and redaction.
//!
//! Spans of `str` values are in characters (Python's indices); spans of `bytes` in bytes.

use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use arrow_schema::DataType;
use jitgate_masking::Scanner;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::arrays::{self, Action};
use crate::error::{no_panic, ArrayError};
use crate::policy::{scanner_of, Policy};

/// One finding: the detector's name and a span.
type Found = (String, usize, usize);

/// Findings of an array as columns: row, kind, start, end.
type FoundColumns = (Vec<u64>, Vec<String>, Vec<u64>, Vec<u64>);

/// Findings in `text`, spans in characters.
#[pyfunction]
#[pyo3(signature = (text, policy=None))]
pub fn scan_text(py: Python<'_>, text: &str, policy: Option<&Policy>) -> PyResult<Vec<Found>> {
    let scanner = scanner_of(policy);
    Ok(py.detach(|| no_panic(|| Ok(char_findings(scanner, text))))?)
}

/// Findings in `data`, spans in bytes.
#[pyfunction]
#[pyo3(signature = (data, policy=None))]
pub fn scan_bytes(py: Python<'_>, data: &[u8], policy: Option<&Policy>) -> PyResult<Vec<Found>> {
    let scanner = scanner_of(policy);
    let found = py.detach(|| {
        no_panic(|| {
            Ok(scanner
                .scan_bytes(data)
                .into_iter()
                .map(|f| (f.kind.to_owned(), f.range.start, f.range.end))
                .collect())
        })
    })?;
    Ok(found)
}

/// `text` with every finding replaced by `[kind]`.
#[pyfunction]
#[pyo3(signature = (text, policy=None))]
pub fn redact_text(py: Python<'_>, text: &str, policy: Option<&Policy>) -> PyResult<String> {
    let scanner = scanner_of(policy);
    Ok(py.detach(|| no_panic(|| Ok(scanner.redact(text).into_owned())))?)
}

/// `data` with every finding replaced by `[kind]`.
#[pyfunction]
#[pyo3(signature = (data, policy=None))]
pub fn redact_bytes<'py>(
    py: Python<'py>,
    data: &[u8],
    policy: Option<&Policy>,
) -> PyResult<Bound<'py, PyBytes>> {
    let scanner = scanner_of(policy);
    let out = py.detach(|| {
        no_panic(|| {
            let mut out = Vec::with_capacity(data.len());
            scanner.redact_into(data, &mut out);
            Ok(out)
        })
    })?;
    Ok(PyBytes::new(py, &out))
}

/// A string array with every finding replaced, of the same type.
#[pyfunction]
#[pyo3(signature = (array, policy=None))]
pub fn redact_array(
    py: Python<'_>,
    array: PyArrowType<ArrayData>,
    policy: Option<&Policy>,
) -> PyResult<PyArrowType<ArrayData>> {
    let array = text_array(array.0)?;
    let scanner = scanner_of(policy);
    let out = py.detach(|| no_panic(|| arrays::apply(&array, Action::Scan(scanner))))?;
    Ok(PyArrowType(out.to_data()))
}

/// Findings of a string array: (row, kind, start, end) in four lists, spans in characters.
#[pyfunction]
#[pyo3(signature = (array, policy=None))]
pub fn scan_array(
    py: Python<'_>,
    array: PyArrowType<ArrayData>,
    policy: Option<&Policy>,
) -> PyResult<FoundColumns> {
    let array = text_array(array.0)?;
    let scanner = scanner_of(policy);
    let found = py.detach(|| no_panic(|| Ok(array_findings(scanner, &array))))?;
    Ok(found)
}

fn text_array(data: ArrayData) -> Result<ArrayRef, ArrayError> {
    match data.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(make_array(data)),
        other => Err(ArrayError::Unscannable(other.clone())),
    }
}

fn array_findings(scanner: &Scanner, array: &ArrayRef) -> FoundColumns {
    let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let value = |i: usize| -> Option<&str> {
        if array.is_null(i) {
            return None;
        }
        Some(match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(i),
            DataType::LargeUtf8 => array.as_string::<i64>().value(i),
            _ => array.as_string_view().value(i),
        })
    };
    for row in 0..array.len() {
        let Some(text) = value(row) else { continue };
        for (kind, start, end) in char_findings(scanner, text) {
            out.0.push(row as u64);
            out.1.push(kind);
            out.2.push(start as u64);
            out.3.push(end as u64);
        }
    }
    out
}

/// Findings with byte ranges turned into character indices, counting each stretch once.
fn char_findings(scanner: &Scanner, text: &str) -> Vec<Found> {
    let (mut byte, mut chars) = (0, 0);
    let mut to_chars = |at: usize| {
        chars += text[byte..at].chars().count();
        byte = at;
        chars
    };
    scanner
        .scan(text)
        .into_iter()
        .map(|f| {
            let start = to_chars(f.range.start);
            let end = to_chars(f.range.end);
            (f.kind.to_owned(), start, end)
        })
        .collect()
}
