//! Which checks a session gets, decided at login: read-only grants have their statements
//! classified; subjects with masked columns have them rewritten and their results filtered.
//! Everyone else runs on the untouched fast path.

use crate::catalog::CatalogCache;
use crate::guard::{
    GuardFuture, GuardProvider, SessionContext, SessionGuard, StatementPolicy, Verdict,
};
use crate::masked::{sqlstate_bytes, MaskedStatements, StreamFilter, SubjectMasks};
use crate::statements::Refusal;
use jitgate_control::audit::kind;
use jitgate_control::ControlPlane;
use jitgate_masking::{MaskingPolicy, SubjectView};
use jitgate_pg_sql::{classify_with_catalog, Catalog, Protocol, RewriteCache, SearchPath};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Rewrites kept for all sessions of the process.
const REWRITE_CACHE: usize = 4096;

/// Builds each session's guard.
pub struct SessionChecks {
    control: Arc<ControlPlane>,
    masking: MaskingPolicy,
    catalogs: CatalogCache,
    rewrites: Arc<RewriteCache>,
}

impl SessionChecks {
    pub fn new(control: Arc<ControlPlane>, masking: MaskingPolicy) -> SessionChecks {
        SessionChecks {
            control,
            masking,
            catalogs: CatalogCache::default(),
            rewrites: Arc::new(RewriteCache::new(REWRITE_CACHE)),
        }
    }

    /// The subject's groups now (not at request time): a subject removed from a group loses
    /// the exemptions it gave at their next login.
    fn groups(&self, subject: &str) -> Vec<String> {
        self.control
            .identity()
            .lookup(subject)
            .map(|s| s.groups)
            .unwrap_or_default()
    }
}

impl GuardProvider for SessionChecks {
    fn guard_for<'a>(&'a self, session: SessionContext<'a>) -> GuardFuture<'a> {
        Box::pin(async move {
            let admission = session.admission;
            let resource = session.resource;
            let groups = self.groups(&admission.subject);
            let view = self
                .masking
                .view_for(&resource.name, &admission.subject, &groups);
            let read_only = admission.grant.read_only;
            if !read_only && matches!(view, SubjectView::Clear) {
                // Clear read-write sessions are not analysed: they pay nothing.
                return Ok(None);
            }
            // Both checks know functions by what the catalog says they are.
            let catalog = self.catalogs.get(resource).await.map_err(|e| Refusal {
                sqlstate: *b"58000",
                message: format!("jitgate cannot check this session's statements: {e}"),
                kind: kind::MASKING_UNAVAILABLE,
            })?;
            let read_only = read_only.then(|| ReadOnly {
                catalog: catalog.clone(),
            });
            let view = match view {
                SubjectView::Clear => {
                    return Ok(read_only.map(|r| SessionGuard {
                        statements: Box::new(r),
                        results: None,
                    }));
                }
                SubjectView::Masked(view) => view,
            };
            let search_path = match session.search_path {
                Some(path) => SearchPath::parse(path, &resource.upstream.user),
                None => SearchPath::default_for(&resource.upstream.user),
            };
            Ok(Some(SessionGuard {
                statements: Box::new(MaskedStatements {
                    masks: SubjectMasks { view: view.clone() },
                    view_id: view_id(&resource.name, &admission.subject, &groups),
                    catalog: catalog.clone(),
                    initial_search_path: search_path.clone(),
                    search_path,
                    upstream_user: resource.upstream.user.clone(),
                    cache: self.rewrites.clone(),
                    read_only,
                }),
                results: Some(Box::new(StreamFilter::new(view, catalog))),
            }))
        })
    }
}

/// Identifies what a subject sees: the same resource, name and groups always mean the same masks.
fn view_id(resource: &str, subject: &str, groups: &[String]) -> u64 {
    let mut sorted = groups.to_vec();
    sorted.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (resource, subject, sorted).hash(&mut h);
    h.finish()
}

/// A read-only grant: the session runs in read-only transactions (set at the upstream login),
/// and statements that write, change the schema, run code jitgate cannot see into (functions
/// that run SQL text, known by their implementation in the catalog), reach other sessions, or
/// try to leave read-only mode are refused before they reach the upstream.
pub struct ReadOnly {
    pub catalog: Arc<Catalog>,
}

impl StatementPolicy for ReadOnly {
    fn check(&mut self, sql: &str, _: Protocol) -> Verdict {
        match classify_with_catalog(sql, &self.catalog) {
            Ok(kinds) => match kinds.iter().find_map(|k| k.read_only_refusal()) {
                None => Verdict::Pass,
                Some((sqlstate, message)) => Verdict::Refuse(refusal(sqlstate, message)),
            },
            // What PostgreSQL's own grammar rejects cannot be shown to be read-only.
            Err(e) => Verdict::Refuse(refusal("42601", e.message)),
        }
    }
}

fn refusal(sqlstate: &str, message: String) -> Refusal {
    Refusal {
        sqlstate: sqlstate_bytes(sqlstate),
        message,
        kind: kind::READ_ONLY_REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Option<String> {
        let mut read_only = ReadOnly {
            catalog: Arc::new(Catalog::default()),
        };
        match read_only.check(sql, Protocol::SimpleQuery) {
            Verdict::Refuse(r) => Some(String::from_utf8_lossy(&r.sqlstate).into_owned()),
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
