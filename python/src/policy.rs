//! `jitgate.Policy` (the masking section of a configuration file, read by `jitgate-config` as the
//! gateway reads it) and `jitgate.View` (what one subject sees on one resource).

use std::path::PathBuf;

use arrow_array::{make_array, Array};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use jitgate_masking::{Mask, MaskingPolicy, Scanner, SubjectView};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::arrays::{self, Action};
use crate::error::{no_panic, ConfigError, MaskingError};
use crate::spec::PyMask;

/// The masking policy of one resource, from a jitgate configuration file.
#[pyclass(name = "Policy", module = "jitgate", frozen)]
pub struct Policy {
    pub policy: MaskingPolicy,
    resource: String,
    source: PathBuf,
}

#[pymethods]
impl Policy {
    /// Reads `[masking]` of the configuration at `path` (its rules, detectors and the masking
    /// key from `key_env` or `key_file`) for `resource`.
    #[staticmethod]
    fn from_file(path: PathBuf, resource: &str) -> PyResult<Policy> {
        let config =
            jitgate_config::load_masking(&path).map_err(|e| ConfigError::new_err(e.to_string()))?;
        if !config.resources.iter().any(|r| r == resource) {
            return Err(ConfigError::new_err(format!(
                "{}: no resource {resource:?}; resources: {}",
                path.display(),
                config.resources.join(", ")
            )));
        }
        Ok(Policy {
            policy: config.masking,
            resource: resource.to_owned(),
            source: path,
        })
    }

    /// What a member of `groups` (and, for `user:NAME` exemptions, the user `user`) sees.
    #[pyo3(signature = (groups, user=None))]
    fn for_groups(&self, groups: Vec<String>, user: Option<String>) -> View {
        let subject = user.unwrap_or_default();
        View {
            view: self.policy.view_for(&self.resource, &subject, &groups),
            policy: self.policy.clone(),
            subject,
            groups,
        }
    }

    #[getter]
    fn resource(&self) -> &str {
        &self.resource
    }

    /// Where the masking key comes from (never the key).
    #[getter]
    fn key_origin(&self) -> String {
        self.policy.key().origin().to_string()
    }

    /// The policy as `jitgate check` prints it.
    fn describe(&self) -> String {
        self.policy.describe()
    }

    fn __repr__(&self) -> String {
        format!(
            "<jitgate.Policy {} resource={:?}>",
            self.source.display(),
            self.resource
        )
    }
}

/// The detectors of a policy's result stream, or every built-in one.
pub fn scanner_of(policy: Option<&Policy>) -> &Scanner {
    policy.map_or(Scanner::builtin(), |p| p.policy.scanner())
}

/// What one subject sees: masks per column, and the detectors for their other text.
#[pyclass(name = "View", module = "jitgate", frozen)]
pub struct View {
    policy: MaskingPolicy,
    view: SubjectView,
    subject: String,
    groups: Vec<String>,
}

#[pymethods]
impl View {
    /// True when the subject sees everything in clear (then `mask` changes nothing that the
    /// policy decides).
    #[getter]
    fn is_clear(&self) -> bool {
        matches!(self.view, SubjectView::Clear)
    }

    /// The mask of `schema.table.column` for this subject; None when it is clear to them.
    fn mask_for(&self, column: &str) -> PyResult<Option<PyMask>> {
        let (schema, table, name) = column_parts(column)?;
        Ok(self.policy_mask(schema, table, name).cloned().map(PyMask))
    }

    /// For each of `names`: a `Mask`, "scan" (text of a masked subject passes the detectors)
    /// or None. `columns` maps names to a `Mask`, a mask's name, or "schema.table.column"
    /// (the policy's mask of that column); the others follow `table` ("schema.table").
    #[pyo3(signature = (names, table=None, columns=None))]
    fn plan<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        table: Option<&str>,
        columns: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
        let table = table.map(table_parts).transpose()?;
        let explicit = match columns {
            Some(columns) => explicit_masks(columns, &names)?,
            None => Vec::new(),
        };
        let masked = !self.is_clear();
        let mut plan = Vec::with_capacity(names.len());
        for name in &names {
            let mask = match explicit.iter().find(|(n, _)| n == name) {
                Some((_, choice)) => self.chosen(choice)?,
                None => table.and_then(|(s, t)| self.policy_mask(s, t, name).cloned()),
            };
            plan.push(match mask {
                Some(mask) => Some(Bound::new(py, PyMask(mask))?.into_any()),
                None if masked => Some(PyString::new(py, "scan").into_any()),
                None => None,
            });
        }
        Ok(plan)
    }

    /// One array through a plan's action, without the GIL: a new array of the same type.
    fn apply(
        &self,
        py: Python<'_>,
        array: PyArrowType<ArrayData>,
        action: &Bound<'_, PyAny>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let mask = action_mask(action)?;
        let array = make_array(array.0);
        let key = self.policy.key();
        let scanner = self.policy.scanner();
        let action = match &mask {
            Some(mask) => Action::Mask(mask, key),
            None => Action::Scan(scanner),
        };
        let masked = py.detach(|| no_panic(|| arrays::apply(&array, action)))?;
        Ok(PyArrowType(masked.to_data()))
    }

    fn __repr__(&self) -> String {
        let what = if self.is_clear() { "clear" } else { "masked" };
        format!(
            "<jitgate.View {what} user={:?} groups={:?}>",
            self.subject, self.groups
        )
    }
}

impl View {
    fn policy_mask(&self, schema: &str, table: &str, column: &str) -> Option<&Mask> {
        match &self.view {
            SubjectView::Clear => None,
            SubjectView::Masked(view) => view.mask_for(schema, table, column),
        }
    }

    fn chosen(&self, choice: &Choice) -> PyResult<Option<Mask>> {
        Ok(match choice {
            Choice::Mask(mask) => Some(mask.clone()),
            Choice::Column(column) => {
                let (schema, table, name) = column_parts(column)?;
                self.policy_mask(schema, table, name).cloned()
            }
        })
    }
}

/// What `columns=` names for one column.
enum Choice {
    Mask(Mask),
    Column(String),
}

fn explicit_masks(
    columns: &Bound<'_, PyDict>,
    names: &[String],
) -> PyResult<Vec<(String, Choice)>> {
    let mut out = Vec::with_capacity(columns.len());
    for (name, value) in columns.iter() {
        let name: String = name
            .extract()
            .map_err(|_| PyTypeError::new_err("columns= maps column names (str) to masks"))?;
        if !names.contains(&name) {
            return Err(MaskingError::new_err(format!(
                "column {name:?} is not in the data; columns: {}",
                names.join(", ")
            )));
        }
        let choice = if let Ok(mask) = value.extract::<PyRef<'_, PyMask>>() {
            Choice::Mask(mask.0.clone())
        } else if let Ok(text) = value.extract::<String>() {
            if text.matches('.').count() == 2 {
                Choice::Column(text)
            } else {
                Choice::Mask(PyMask::named(&text)?.0)
            }
        } else {
            return Err(PyTypeError::new_err(format!(
                "columns[{name:?}]: expected a jitgate.Mask, a mask's name or \"schema.table.column\", found {}",
                value.get_type().name()?
            )));
        };
        out.push((name, choice));
    }
    Ok(out)
}

fn action_mask(action: &Bound<'_, PyAny>) -> PyResult<Option<Mask>> {
    if let Ok(mask) = action.extract::<PyRef<'_, PyMask>>() {
        return Ok(Some(mask.0.clone()));
    }
    match action.extract::<String>() {
        Ok(word) if word == "scan" => Ok(None),
        _ => Err(PyTypeError::new_err("action is a jitgate.Mask or \"scan\"")),
    }
}

fn table_parts(table: &str) -> PyResult<(&str, &str)> {
    match table.split_once('.') {
        Some((schema, name)) if !schema.is_empty() && !name.is_empty() && !name.contains('.') => {
            Ok((schema, name))
        }
        _ => Err(MaskingError::new_err(format!(
            "table is \"schema.table\" (e.g. \"public.customers\"), not {table:?}"
        ))),
    }
}

fn column_parts(column: &str) -> PyResult<(&str, &str, &str)> {
    let mut parts = column.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(t), Some(c)) if !s.is_empty() && !t.is_empty() && !c.is_empty() => {
            Ok((s, t, c))
        }
        _ => Err(MaskingError::new_err(format!(
            "a column is \"schema.table.column\" (e.g. \"public.customers.ssn\"), not {column:?}"
        ))),
    }
}
