//! Which workspace tokens a prune deletes: expired ones, and ones older than the configured
//! maximum lifetime. Pure; the calls are in [`crate::api`].

use std::time::Duration;

use crate::api::TokenInfo;

/// Why a token is pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneReason {
    Expired,
    /// Older than the maximum lifetime (whatever its own expiry says).
    TooOld,
}

impl PruneReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PruneReason::Expired => "expired",
            PruneReason::TooOld => "older than the maximum lifetime",
        }
    }
}

/// Whether the token has expired at `now` (ms since the epoch); -1 and 0 mean no expiry.
pub fn is_expired(token: &TokenInfo, now: i64) -> bool {
    token.expiry_time > 0 && token.expiry_time <= now
}

/// Whether the token was created at least `age` before `now`.
pub fn is_older_than(token: &TokenInfo, now: i64, age: Duration) -> bool {
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(token.creation_time) >= age
}

/// The tokens a prune deletes, with why: expired ones, then (with a maximum lifetime) the ones
/// created longer ago than it.
pub fn to_prune(
    tokens: &[TokenInfo],
    now: i64,
    max_lifetime: Option<Duration>,
) -> Vec<(&TokenInfo, PruneReason)> {
    tokens
        .iter()
        .filter_map(|t| {
            if is_expired(t, now) {
                Some((t, PruneReason::Expired))
            } else if max_lifetime.is_some_and(|m| is_older_than(t, now, m)) {
                Some((t, PruneReason::TooOld))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
