//! jitgate's HTTP JSON API, used by the CLI (and any console or bot): log in, request access,
//! approve or deny, mint a credential for a live grant, and read grants, sessions and the audit
//! trail. Every route lives under `/api/v1` and is described by `/api/v1/openapi.json`; every
//! failure is `{"error": {"code": "...", "message": "..."}}` with a stable code.
//!
//! The API decides nothing itself: it authenticates the caller, bounds what they send, and asks
//! the [`ControlPlane`], which checks roles and records every change in the audit trail.

mod auth;
mod blocking;
mod body;
mod connection;
pub mod console;
mod error;
mod extract;
mod limits;
mod oversize;
mod paging;
mod providers;
mod recheck;
mod routes;
mod server;
pub mod slack;
#[cfg(test)]
mod tests;
mod views;

pub use connection::{percent_encode, ConnectionInfo};
pub use error::{ApiError, ApiResult};
pub use recheck::recheck_groups;
pub use server::ServeLimits;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use jitgate_config::{OidcProvider, Resource};
use jitgate_control::ControlPlane;
use providers::OidcProviders;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Largest request body accepted: the biggest legitimate one (a request with a 1000-character
/// reason) is a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every route handler reaches.
#[derive(Clone)]
pub struct ApiState {
    control: Arc<ControlPlane>,
    /// By name: where clients connect for each resource (for `POST /connect`).
    resources: Arc<HashMap<String, Resource>>,
    /// The OpenID Connect providers whose tokens log subjects in.
    oidc: Arc<OidcProviders>,
    /// The web console's sessions and live-update state.
    console: Arc<console::Console>,
    /// Slack's interactive approvals, when `[slack]` is configured.
    slack: Option<Arc<slack::SlackApp>>,
    /// The masking policy, for the console's read-only policy view.
    masking: Option<jitgate_masking::MaskingPolicy>,
    /// `[server.tls]`'s mode: connection URIs ask for TLS when it is offered.
    client_tls: jitgate_config::ClientTlsMode,
}

impl ApiState {
    pub fn new(control: Arc<ControlPlane>, resources: &[Resource]) -> ApiState {
        ApiState {
            control,
            resources: Arc::new(
                resources
                    .iter()
                    .map(|r| (r.name.clone(), r.clone()))
                    .collect(),
            ),
            oidc: Arc::new(OidcProviders::default()),
            console: Arc::new(console::Console::default()),
            slack: None,
            masking: None,
            client_tls: jitgate_config::ClientTlsMode::Off,
        }
    }

    /// Connection URIs ask for TLS as `[server.tls]` offers it.
    pub fn with_client_tls(mut self, mode: jitgate_config::ClientTlsMode) -> ApiState {
        self.client_tls = mode;
        self
    }

    /// Takes Slack's Approve/Deny clicks (`[slack]`).
    pub fn with_slack(mut self, slack: Option<&jitgate_config::Slack>) -> ApiState {
        self.slack = slack.map(|s| Arc::new(slack::SlackApp::new(s)));
        self
    }

    /// Shows this masking policy in the console's policy view.
    pub fn with_masking(mut self, masking: &jitgate_masking::MaskingPolicy) -> ApiState {
        self.masking = Some(masking.clone());
        self
    }

    /// Console sessions end after `idle` without use (default 30 minutes).
    pub fn with_console_idle(mut self, idle: std::time::Duration) -> ApiState {
        self.console = Arc::new(console::Console::new(console::ConsoleSessions::new(idle)));
        self
    }

    /// Accepts tokens from these providers (`[oidc.NAME]`).
    pub fn with_oidc(mut self, providers: &[OidcProvider]) -> ApiState {
        self.oidc = Arc::new(OidcProviders::new(providers));
        self
    }
}

/// The whole API, and the web console at `/`, as a router, for [`serve`] or for tests that drive
/// it in-process.
pub fn router(state: ApiState) -> Router {
    routes::api_routes()
        .merge(console::routes())
        // Bodies that say their size are refused up front; the extractors' limit catches those
        // that do not (chunked).
        // Bodies are read whole, in time, before a handler runs (inside the size check).
        .layer(axum::middleware::from_fn(body::read_in_time))
        .layer(axum::middleware::from_fn(oversize::refuse_oversized))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the API on `listener` within `limits` until `shutdown` resolves, then lets the calls
/// in flight finish. Each caller's address reaches the handlers (failed logins are audited with
/// it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve_router(listener, router(state), limits, shutdown).await
}
