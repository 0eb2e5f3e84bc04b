//! Runaway statements cancelled by rule: where a `long_statement` rule says `cancel = true`, the
//! control plane asks the session to cancel the statement it runs ([`Session::statement_cancels`]);
//! the front sends the upstream a CancelRequest and replaces the upstream's "canceling statement
//! due to user request" with the rule's reason, keeping SQLSTATE 57014 (`query_canceled`).
//!
//! [`Session::statement_cancels`]: jitgate_control::Session::statement_cancels

use crate::codec;
use crate::codec::backend::{self, Severity};
use crate::tls::UpstreamTlsConnector;
use crate::upstream;
use bytes::BytesMut;
use jitgate_sqlstate::SqlState;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::sync::watch;

/// What the client of a session under a cancelling rule is owed: the reason of a cancel sent
/// upstream, until the upstream's answer to it passes by.
#[derive(Default)]
pub(crate) struct RuleCancels {
    pending: Mutex<Option<String>>,
}

impl RuleCancels {
    fn pending(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks at a server message whose forwarded bytes start at `out[start..]`: the upstream's
    /// error for a cancel jitgate sent is replaced there by the rule's reason. The reason is
    /// forgotten at the next ReadyForQuery (the statement finished before the cancel landed).
    pub fn server_message(&self, tag: u8, msg: &[u8], out: &mut BytesMut, start: usize) {
        if tag == backend::READY_FOR_QUERY {
            self.pending().take();
            return;
        }
        let cancelled = tag == backend::ERROR_RESPONSE
            && backend::sqlstate(codec::body(msg)) == Some(SqlState::QUERY_CANCELED);
        if !cancelled || out.len() <= start {
            return;
        }
        if let Some(reason) = self.pending().take() {
            out.truncate(start);
            backend::error_response(out, Severity::Error, SqlState::QUERY_CANCELED, &reason);
        }
    }
}

/// Cancels the session's running statement upstream each time the control plane asks, while
/// the upstream is busy; runs until the session ends (never resolves).
pub(crate) async fn cancel_on_rule(
    cancels: Option<(&RuleCancels, watch::Receiver<Option<String>>)>,
    busy: impl Fn() -> bool,
    upstream_addr: SocketAddr,
    tls: Option<&UpstreamTlsConnector>,
    backend_key: (i32, i32),
) {
    if let Some((owed, mut asks)) = cancels {
        while asks.changed().await.is_ok() {
            let Some(reason) = asks.borrow_and_update().clone() else {
                continue;
            };
            if !busy() {
                continue;
            }
            *owed.pending() = Some(reason);
            if let Err(e) = upstream::cancel(upstream_addr, tls, backend_key).await {
                tracing::warn!("cancelling a runaway statement upstream: {e}");
            }
        }
    }
    std::future::pending::<()>().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::backend::ErrorFields;

    fn error(sqlstate: SqlState, text: &str) -> BytesMut {
        let mut msg = BytesMut::new();
        backend::error_response(&mut msg, Severity::Error, sqlstate, text);
        msg
    }

    /// Forwards `msg` as a pump would (after `prefix`) and lets `owed` look at it.
    fn forward(owed: &RuleCancels, prefix: &[u8], msg: &[u8]) -> BytesMut {
        let mut out = BytesMut::from(prefix);
        let start = out.len();
        out.extend_from_slice(msg);
        owed.server_message(msg[0], msg, &mut out, start);
        out
    }

    #[test]
    fn only_the_answer_to_jitgates_cancel_is_reworded_and_only_once() {
        let owed = RuleCancels::default();
        let upstream = error(
            SqlState::QUERY_CANCELED,
            "canceling statement due to user request",
        );
        // No cancel of jitgate's: a client's own cancel passes as the upstream said it.
        assert_eq!(forward(&owed, b"", &upstream), upstream);

        *owed.pending() = Some("canceling statement: it ran longer than 1s".into());
        // Another error, and what came before the message in the output, are left alone.
        let other = error(SqlState::QUERY_CANCELED, "x");
        let unrelated = error(SqlState::from_static("42P01"), "no such table");
        assert_eq!(forward(&owed, b"", &unrelated), unrelated);
        let out = forward(&owed, b"before", &upstream);
        assert_eq!(&out[..6], b"before");
        let fields = ErrorFields(crate::codec::body(&out[6..]));
        assert_eq!(fields.sqlstate(), Some(SqlState::QUERY_CANCELED));
        assert_eq!(
            fields.message(),
            Some(&b"canceling statement: it ran longer than 1s"[..])
        );
        // Owed once: the next cancel error is the upstream's again.
        assert_eq!(forward(&owed, b"", &other), other);
    }

    #[test]
    fn a_statement_that_finished_first_forgets_the_reason() {
        let owed = RuleCancels::default();
        *owed.pending() = Some("reason".into());
        let mut ready = BytesMut::new();
        backend::message(&mut ready, backend::READY_FOR_QUERY, |b| {
            b.extend_from_slice(b"I")
        });
        assert_eq!(forward(&owed, b"", &ready), ready);
        let upstream = error(
            SqlState::QUERY_CANCELED,
            "canceling statement due to user request",
        );
        assert_eq!(forward(&owed, b"", &upstream), upstream);
    }
}
