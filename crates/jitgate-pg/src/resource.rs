//! A resource as the PostgreSQL front serves it: its name, its upstream and how to reach it.
//! Kept apart from the listener and from the session guard, which both need it.

use crate::tls::UpstreamTlsConnector;
use jitgate_config::PostgresUpstream;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// One resource as the front serves it.
pub struct ResourceFront {
    pub name: Arc<str>,
    pub upstream: PostgresUpstream,
    pub upstream_tls: Option<UpstreamTlsConnector>,
    /// Counts DDL seen through jitgate, so the masking rewriter's catalog is reloaded after it.
    pub ddl_epoch: AtomicU64,
}
