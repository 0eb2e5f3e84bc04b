//! What a dead gateway process left running upstream. A process killed mid-session leaves its
//! upstream backends running the last statement for nobody (a `pg_sleep(120)` outlives it); at
//! the next start, each such PostgreSQL session gets a CancelRequest to its backend, over the
//! resource's upstream TLS settings, and an `upstream.cancelled` audit event.

use crate::tls::{upstream_connector, UpstreamTlsConnector};
use crate::upstream;
use jitgate_config::{Config, Upstream};
use jitgate_control::audit::kind;
use jitgate_control::enforcement::RESTART_REASON;
use jitgate_control::model::UpstreamCancel;
use jitgate_control::{ControlPlane, OrphanedUpstream};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;

/// One cancel to send, with the connector of the resource it belongs to.
struct Cancel {
    orphan: OrphanedUpstream,
    tls: Option<UpstreamTlsConnector>,
}

/// Prepares a CancelRequest for every orphaned PostgreSQL session whose resource is still
/// configured; the returned future sends them (at once, each bounded by the cancel timeout) and
/// audits each outcome. Sessions of resources no longer served are audited as not cancelled.
pub fn cancel_orphaned(
    config: &Config,
    control: Arc<ControlPlane>,
    orphans: Vec<OrphanedUpstream>,
) -> impl Future<Output = ()> + Send + 'static {
    let mut cancels = Vec::new();
    for orphan in orphans {
        match connector_for(config, &orphan.resource) {
            Ok(tls) => cancels.push(Cancel { orphan, tls }),
            Err(why) => audit(&control, &orphan, Err(why)),
        }
    }
    async move {
        let mut tasks = tokio::task::JoinSet::new();
        for cancel in cancels {
            let control = control.clone();
            tasks.spawn(async move {
                let outcome = send(&cancel).await;
                audit(&control, &cancel.orphan, outcome);
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// The upstream TLS connector of a PostgreSQL resource, or why there is none to use.
fn connector_for(config: &Config, resource: &str) -> Result<Option<UpstreamTlsConnector>, String> {
    let found = config.resources.iter().find(|r| r.name == resource);
    let Some(Upstream::Postgres(upstream)) = found.map(|r| &r.upstream) else {
        return Err(format!(
            "resource \"{resource}\" is no longer a PostgreSQL resource"
        ));
    };
    upstream_connector(&upstream.tls, &upstream.host).map_err(|e| e.to_string())
}

async fn send(cancel: &Cancel) -> Result<(), String> {
    match &cancel.orphan.cancel {
        UpstreamCancel::Postgres {
            addr,
            process_id,
            secret_key,
        } => upstream::cancel(*addr, cancel.tls.as_ref(), (*process_id, *secret_key))
            .await
            .map_err(|e| e.to_string()),
    }
}

/// Audits a cancel (never its key) and logs a failure.
fn audit(control: &ControlPlane, orphan: &OrphanedUpstream, outcome: Result<(), String>) {
    let detail = match &outcome {
        Ok(()) => json!({"reason": RESTART_REASON, "sent": true}),
        Err(why) => {
            tracing::warn!(session = %orphan.session_id, resource = %orphan.resource,
                "cancelling the upstream work of a session left open: {why}");
            json!({"reason": RESTART_REASON, "sent": false, "error": why})
        }
    };
    control.audit(orphan.event(kind::UPSTREAM_CANCELLED, detail));
}
