//! Re-reading the groups of subjects from OpenID Connect providers without them: every few
//! seconds, each subject with a live grant whose groups were last proven more than its
//! provider's `session_ttl` ago is refreshed with the refresh token jitgate holds. A removed
//! group so takes effect within about `session_ttl`, whether or not the subject still uses
//! jitgate; a refresh the provider refuses (account disabled, token revoked) ends every grant.

use crate::providers::Refusal;
use crate::ApiState;

/// Runs until the task is dropped; returns at once when no provider is configured.
pub async fn recheck_groups(state: ApiState) {
    let Some(interval) = state.oidc.recheck_interval() else {
        return;
    };
    loop {
        tokio::time::sleep(interval).await;
        let state = state.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || recheck_once(&state)).await {
            tracing::error!("re-reading groups from identity providers: {e}");
        }
    }
}

/// One round; what fails for one subject is logged and does not stop the others.
pub(crate) fn recheck_once(state: &ApiState) {
    let control = &state.control;
    let _one_at_a_time = state.oidc.refreshing();
    let held = match control.renewals_with_grants() {
        Ok(held) => held,
        Err(e) => {
            tracing::error!("listing subjects to re-check: {e}");
            return;
        }
    };
    let now = control.now();
    for h in held {
        let Some(provider) = state.oidc.get(&h.provider) else {
            continue;
        };
        let ttl = provider.config.session_ttl.as_millis() as i64;
        if now.saturating_sub(h.last_seen) < ttl {
            continue;
        }
        let name = &provider.config.name;
        let outcome = match provider.refresh(&h.refresh_token) {
            Ok(r) if r.subject.name == h.subject => {
                if let Some(rotated) = &r.refresh_token {
                    if let Err(e) = control.replace_refresh_token(&h.subject, rotated) {
                        tracing::error!("keeping the rotated refresh token of {}: {e}", h.subject);
                    }
                }
                control.recheck_external(name, &r.subject)
            }
            Ok(_) => {
                control.disown_external(name, &h.subject, "the provider named another subject")
            }
            Err(Refusal::Token(why)) => control.disown_external(name, &h.subject, &why),
            Err(Refusal::Unavailable(why)) => {
                // Not the subject's doing: try again next round, change nothing.
                tracing::warn!("re-reading the groups of {} from {name}: {why}", h.subject);
                continue;
            }
        };
        if let Err(e) = outcome {
            tracing::error!("re-checking {}: {e}", h.subject);
        }
    }
}
