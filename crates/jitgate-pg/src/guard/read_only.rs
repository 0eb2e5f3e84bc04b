//! The policy of read-only grants: statements are classified (with the catalog, which knows
//! functions by their implementation) and anything that could write is refused.

use super::{Protocol, StatementPolicy, Verdict};
use crate::catalog::SessionCatalog;
use crate::statements::StatementRefusal;
use jitgate_control::audit::kind;
use jitgate_pg_sql::classify_with_catalog;
use jitgate_sqlstate::SqlState;
use std::sync::Arc;

/// A read-only grant: the session runs in read-only transactions (set at the upstream login),
/// and statements that write, change the schema, run code jitgate cannot see into (functions
/// that run SQL text, known by their implementation in the catalog), reach other sessions, or
/// try to leave read-only mode are refused before they reach the upstream.
pub(crate) struct ReadOnly {
    pub catalog: Arc<SessionCatalog>,
}

impl StatementPolicy for ReadOnly {
    fn check(&mut self, sql: &str, _: Protocol) -> Verdict {
        let catalog = match self.catalog.catalog() {
            Ok(catalog) => catalog,
            Err(e) => return Verdict::Refuse(unavailable(e)),
        };
        match classify_with_catalog(sql, &catalog) {
            Ok(kinds) => match kinds.iter().find_map(|k| k.read_only_refusal()) {
                None => Verdict::Pass,
                Some((sqlstate, message)) => Verdict::Refuse(refusal(sqlstate, message)),
            },
            // What PostgreSQL's own grammar rejects cannot be shown to be read-only.
            Err(e) => Verdict::Refuse(refusal(SqlState::SYNTAX_ERROR, e.message)),
        }
    }
}

/// The refusal of a statement no current catalog snapshot can decide about.
pub(crate) fn unavailable(reason: String) -> StatementRefusal {
    StatementRefusal {
        sqlstate: SqlState::SYSTEM_ERROR,
        message: format!("jitgate cannot check this session's statements: {reason}"),
        kind: kind::MASKING_UNAVAILABLE,
    }
}

fn refusal(sqlstate: SqlState, message: String) -> StatementRefusal {
    StatementRefusal {
        sqlstate,
        message,
        kind: kind::READ_ONLY_REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Option<String> {
        let mut read_only = ReadOnly {
            catalog: SessionCatalog::fixed(jitgate_pg_sql::Catalog::default()),
        };
        match read_only.check(sql, Protocol::SimpleQuery) {
            Verdict::Refuse(r) => Some(r.sqlstate.to_string()),
            _ => None,
        }
    }

    #[test]
    fn reads_pass_and_writes_ddl_and_escapes_are_refused() {
        assert_eq!(refused("select * from t where id = 1"), None);
        assert_eq!(refused("begin; select 1; commit"), None);
        assert_eq!(
            refused("insert into t values (1)").as_deref(),
            Some("25006")
        );
        assert_eq!(refused("drop table t").as_deref(), Some("25006"));
        assert_eq!(
            refused("set default_transaction_read_only = off").as_deref(),
            Some("42501")
        );
        assert_eq!(refused("begin read write").as_deref(), Some("42501"));
        assert_eq!(
            refused("select set_config('default_transaction_read_only', 'off', false)").as_deref(),
            Some("42501")
        );
        assert_eq!(
            refused("do $$ begin perform 1; end $$").as_deref(),
            Some("42501")
        );
        assert_eq!(refused("select 1; delete from t").as_deref(), Some("25006"));
        assert_eq!(refused("selec 1").as_deref(), Some("42601"));
        assert_eq!(
            refused("select query_to_xml('select 1', true, false, '')").as_deref(),
            Some("42501")
        );
        assert_eq!(
            refused("select pg_terminate_backend(42)").as_deref(),
            Some("42501")
        );
    }
}
