//! What a session's subject may send: clear subjects anything the front relays; masked subjects
//! statements that `jitgate_spark_sql` accepts, rewritten so that protected tables are read
//! through masking subqueries (mask before evaluate), with every request option that could go
//! around the masks refused or switched off. Pure code: the front reads the schemas.

use jitgate_masking::MaskedView;
use jitgate_spark_sql::{self as sql, Analysed, Namespace, Refusal};

use crate::tcli::{self, ext};
use crate::thrift::{Struct, Value};

/// What the subject of a session may do.
pub enum Policy {
    Clear,
    Masked(Box<Masked>),
    /// Every statement is refused with this message (read-only grants without masking: jitgate
    /// cannot yet tell a clear subject's reads from writes on this front).
    Refuse(String),
}

pub struct Masked {
    pub view: MaskedView,
    pub namespace: Namespace,
}

/// The setting the Databricks SQL connector for Python sends with every session and statement:
/// timestamps in Arrow results as Arrow timestamps, not text. It changes nothing jitgate relays
/// to masked subjects (they get no Arrow results), so it passes with exactly this value.
const CONNECTOR_SETTING: (&str, &str) = (
    "spark.thriftserver.arrowBasedRowSet.timestampAsString",
    "false",
);

fn connector_setting(key: &str, value: &str) -> bool {
    (key, value) == CONNECTOR_SETTING
}

impl Masked {
    /// OpenSession: the credential fields never go upstream (the front replaces them); session
    /// configuration may only keep the session in its fixed database. Hive variables and
    /// settings would be substituted into statements or change how they are read.
    pub fn open_session(&self, req: &Struct) -> Result<(), Refusal> {
        let conf = checked_map(req, 4)?;
        for (key, value) in conf {
            let same_db =
                key == "use:database" && value.eq_ignore_ascii_case(&self.namespace.database);
            if !same_db && !connector_setting(&key, &value) {
                return Err(refusal(format!(
                    "jitgate refuses the session setting {key} to masked subjects: it could change \
                     what statements read; connect to the database {} without settings",
                    self.namespace.database
                )));
            }
        }
        if let Some(ns) = req.get_struct(ext::INITIAL_NAMESPACE) {
            let catalog_ok = ns.get_str(1).is_none_or(|c| {
                c.eq_ignore_ascii_case(&self.namespace.catalog)
                    || c.eq_ignore_ascii_case("hive_metastore")
            });
            let schema_ok = ns
                .get_str(2)
                .is_none_or(|s| s.eq_ignore_ascii_case(&self.namespace.database));
            if !(catalog_ok && schema_ok) {
                return Err(refusal(format!(
                    "jitgate keeps masked subjects in the database {}: connect without another \
                     catalog or schema",
                    self.namespace.database
                )));
            }
        }
        Ok(())
    }

    /// ExecuteStatement: the request options first, then the text (see [`Masked::analyse`]).
    /// Results come back through jitgate, row by row: no direct results, Arrow, compression or
    /// cloud fetch.
    pub fn statement_request(&self, req: &mut Struct) -> Result<(), Refusal> {
        for (key, value) in checked_map(req, 3)? {
            if !sql::may_set(&key) && !connector_setting(&key, &value) {
                return Err(refusal(format!(
                    "jitgate refuses the statement setting {key} to masked subjects"
                )));
            }
        }
        // The connector sends an empty parameter list with every statement: nothing to bind.
        if matches!(req.get(ext::PARAMETERS), Some(Value::List { items, .. }) if items.is_empty()) {
            req.remove(ext::PARAMETERS);
        }
        if req.get(ext::PARAMETERS).is_some() || req.get(ext::STATEMENT_CONF).is_some() {
            return Err(refusal(
                "jitgate refuses statement parameters to masked subjects: write the values \
                 into the statement",
            ));
        }
        switch_off_extensions(req);
        Ok(())
    }

    /// Analyses a statement text: what it may run and which protected tables it reads.
    pub fn analyse<'v>(&'v self, text: &str) -> Result<Analysed<'v>, Refusal> {
        // `${…}` variable references are refused by the analysis (Spark substitutes them before
        // it parses the text).
        sql::analyse(text, &self.namespace, &self.view)
    }
}

/// Metadata requests of masked subjects get their rows through jitgate too.
pub fn metadata_request(req: &mut Struct) {
    switch_off_extensions(req);
}

fn switch_off_extensions(req: &mut Struct) {
    req.remove(ext::GET_DIRECT_RESULTS);
    for flag in [
        ext::CAN_READ_ARROW,
        ext::CAN_DOWNLOAD,
        ext::CAN_DECOMPRESS_LZ4,
    ] {
        if req.get(flag).is_some() || flag == ext::CAN_DOWNLOAD {
            tcli::set_flag(req, flag, false);
        }
    }
}

/// A string map field; present but of another shape is a refusal (it cannot be checked).
fn checked_map(req: &Struct, field: i16) -> Result<Vec<(String, String)>, Refusal> {
    let entries = tcli::string_map(req, field);
    match req.get(field) {
        None => Ok(entries),
        Some(Value::Map { entries: raw, .. }) if raw.len() == entries.len() => Ok(entries),
        Some(_) => Err(refusal("jitgate cannot read this request's settings")),
    }
}

fn refusal(message: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
