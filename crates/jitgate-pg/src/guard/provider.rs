//! Which checks a session gets, decided at login: read-only grants have their statements
//! classified; subjects with masked columns have them rewritten and their results filtered.
//! Everyone else runs on the untouched fast path.

use super::masking::{MaskedStatements, SubjectMasks};
use super::read_only::ReadOnly;
use super::stream_filter::StreamFilter;
use super::{GuardFuture, GuardProvider, SessionContext, SessionGuard, StatementRefusal};
use crate::catalog::CatalogCache;
use jitgate_control::audit::kind;
use jitgate_control::{AdmittedView, ControlPlane};
use jitgate_masking::{MaskingPolicy, SubjectView};
use jitgate_pg_sql::{RewriteCache, SearchPath};
use jitgate_sqlstate::SqlState;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Rewrites kept for all sessions of the process.
const REWRITE_CACHE: usize = 4096;

/// Builds each session's guard.
pub struct SessionChecks {
    control: Arc<ControlPlane>,
    masking: MaskingPolicy,
    catalogs: Arc<CatalogCache>,
    rewrites: Arc<RewriteCache>,
}

impl SessionChecks {
    pub fn new(control: Arc<ControlPlane>, masking: MaskingPolicy) -> SessionChecks {
        SessionChecks {
            control,
            masking,
            catalogs: Arc::default(),
            rewrites: Arc::new(RewriteCache::new(REWRITE_CACHE)),
        }
    }
}

impl GuardProvider for SessionChecks {
    fn guard_for<'a>(&'a self, session: SessionContext<'a>) -> GuardFuture<'a> {
        Box::pin(async move {
            let admission = session.admission;
            let resource = session.resource;
            let AdmittedView { view, groups } =
                self.control.admitted_view(admission, &self.masking);
            let read_only = admission.grant.read_only;
            if !read_only && matches!(view, SubjectView::Clear) {
                // Clear read-write sessions are not analysed: they pay nothing.
                return Ok(None);
            }
            // Both checks know functions by what the catalog says they are.
            let catalog = self
                .catalogs
                .session(resource)
                .await
                .map_err(|e| StatementRefusal {
                    sqlstate: SqlState::SYSTEM_ERROR,
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
                        catalog,
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
                results: Some(Box::new(StreamFilter::new(view, catalog.clone()))),
                catalog,
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
