//! Replies to masked subjects, second line behind the masks: every string a reply carries
//! (result rows row-based or columnar, query logs, error and info messages, metadata) passes the
//! content detectors, and key material (the pads inside masking expressions, which an error
//! message may quote from the rewritten statement) is blotted out. Rows jitgate cannot read
//! value by value (Arrow batches, cloud-fetch links, compressed binary columns) are refused.
//!
//! Skipped, because they are not text: handle identifiers and the null bitmaps of columns.
//! Numbers pass as they are, as in the Spark Connect front's Arrow scan.

use bytes::Bytes;
use jitgate_masking::{MaskKey, Scanner};

use crate::tcli::ext;
use crate::thrift::{Struct, Value};

/// Why a reply cannot go to a masked subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unscannable(pub String);

pub struct Scrub<'a> {
    pub scanner: Option<&'a Scanner>,
    pub key: &'a MaskKey,
    /// Values changed so far.
    pub changed: usize,
}

impl Scrub<'_> {
    /// Scrubs the result struct of a `method` reply in place.
    pub fn response(&mut self, method: &str, resp: &mut Struct) -> Result<(), Unscannable> {
        let handle_field = match method {
            "OpenSession" => Some(3),
            "ExecuteStatement" => Some(2),
            m if crate::tcli::is_metadata(m) => Some(2),
            _ => None,
        };
        if resp.get(ext::GET_DIRECT_RESULTS).is_some() {
            // jitgate never asks for direct results for masked subjects.
            return Err(Unscannable(
                "the upstream sent direct results jitgate did not ask for".into(),
            ));
        }
        for (id, v) in &mut resp.fields {
            if Some(*id) == handle_field {
                continue;
            }
            match (method, *id) {
                ("FetchResults", 3) => self.row_set(v)?,
                // An Arrow schema: column names and types only.
                ("GetResultSetMetadata", 0x503) => {}
                _ => self.value(v),
            }
        }
        Ok(())
    }

    fn row_set(&mut self, v: &mut Value) -> Result<(), Unscannable> {
        let Some(set) = v.as_struct_mut() else {
            return Err(Unscannable("a row set that is not a struct".into()));
        };
        for refused in [ext::BINARY_COLUMNS, ext::ARROW_BATCHES, ext::RESULT_LINKS] {
            if set.get(refused).is_some() {
                return Err(Unscannable(
                    "rows in a form jitgate cannot scan value by value (Arrow batches, \
                     result links or compressed columns)"
                        .into(),
                ));
            }
        }
        for (id, field) in &mut set.fields {
            match *id {
                3 => self.columns(field)?,
                _ => self.value(field),
            }
        }
        Ok(())
    }

    /// `list<TColumn>`: each a union of one typed column `{1: values, 2: nulls}`.
    fn columns(&mut self, v: &mut Value) -> Result<(), Unscannable> {
        let Value::List { items, .. } = v else {
            return Err(Unscannable("columns that are not a list".into()));
        };
        for column in items {
            let Some(union) = column.as_struct_mut() else {
                return Err(Unscannable("a column that is not a struct".into()));
            };
            for (_, typed) in &mut union.fields {
                let Some(typed) = typed.as_struct_mut() else {
                    return Err(Unscannable("a column that is not a struct".into()));
                };
                for (id, part) in &mut typed.fields {
                    if *id != 2 {
                        self.value(part);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every string in `v`, to any depth.
    pub fn value(&mut self, v: &mut Value) {
        match v {
            Value::Binary(b) => {
                if let Some(new) = self.text(b) {
                    *b = new;
                    self.changed += 1;
                }
            }
            Value::Struct(s) => s.fields.iter_mut().for_each(|(_, f)| self.value(f)),
            Value::Map { entries, .. } => entries.iter_mut().for_each(|(k, v)| {
                self.value(k);
                self.value(v);
            }),
            Value::List { items, .. } | Value::Set { items, .. } => {
                items.iter_mut().for_each(|i| self.value(i))
            }
            _ => {}
        }
    }

    /// The text with detector findings replaced and key material blotted; `None` if unchanged.
    fn text(&self, b: &Bytes) -> Option<Bytes> {
        // The common case, nothing found, neither copies nor allocates.
        let finds = self.scanner.is_some_and(|s| s.finds_any(b));
        if !finds && !self.key.holds_key_material(b) {
            return None;
        }
        let mut out = Vec::new();
        let found = match self.scanner {
            Some(s) => s.redact_into(b, &mut out),
            None => false,
        };
        if !found {
            out.clear();
            out.extend_from_slice(b);
        }
        let blotted = self.key.blot(&mut out);
        (found || blotted).then(|| Bytes::from(out))
    }
}

#[cfg(test)]
mod tests;
