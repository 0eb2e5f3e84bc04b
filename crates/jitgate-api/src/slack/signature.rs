//! Slack's request signatures: `X-Slack-Signature: v0=HEX` where HEX is the HMAC-SHA256, keyed
//! by the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`; the timestamp
//! must be within five minutes of now, and a signature is accepted once (replays refused).
//! Pure, apart from the replay memory.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

/// How far a request's timestamp may be from now, in seconds (Slack's documented window).
pub const WINDOW_SECS: i64 = 5 * 60;
/// Most signatures remembered for replay refusal; past it, the oldest go first.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("the request's timestamp is not within five minutes of now")]
    Stale,
    #[error("the request's signature does not match")]
    Mismatch,
    #[error("this request was already received (replay)")]
    Replayed,
}

/// Checks one request's signature at `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Stale)?;
    if (now - at).abs() > WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = sign(secret, timestamp, body);
    let given = signature.as_bytes();
    if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given).into() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `v0=HEX` for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail; the fallback keeps it panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v0={hex}")
}

/// Signatures seen within the window.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    /// Records a verified request's signature; refuses one seen before.
    pub fn first_time(
        &self,
        signature: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), SignatureError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_REMEMBERED / 2 {
            seen.retain(|_, at| now - *at <= WINDOW_SECS);
        }
        if seen.len() >= MAX_REMEMBERED {
            if let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(s, _)| s.clone())
            {
                seen.remove(&oldest);
            }
        }
        if seen.insert(signature.to_owned(), timestamp).is_some() {
            return Err(SignatureError::Replayed);
        }
        Ok(())
    }
}
