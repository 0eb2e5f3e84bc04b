//! Console sign-in sessions: a random id in an HttpOnly cookie names an entry held here, which
//! carries the control-plane token (the same token `POST /api/v1/login` hands out, so the
//! control plane decides who the viewer is exactly as for the API), the session's CSRF token and
//! when it was last used.
//!
//! Absolute timeout: the token's own lifetime (`[api] token_ttl`). Idle timeout: a session not
//! used for [`ConsoleSessions::idle`] is gone. Logout revokes the token and forgets the entry.
//! Sessions live in this process's memory: a restart signs everybody out.

use jitgate_control::model::random_token;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Cookie naming the console session.
pub const SESSION_COOKIE: &str = "jitgate_console";
/// Cookie holding the sign-in form's CSRF token (before there is a session).
pub const LOGIN_COOKIE: &str = "jitgate_login";
/// Cookie binding an OpenID Connect sign-in to the browser that started it (its state).
pub const OIDC_COOKIE: &str = "jitgate_oidc";
/// Default idle timeout.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);
/// Most sessions held at once; sign-ins beyond it are refused until some expire.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The control-plane token the session acts with.
    pub token: String,
    /// Every state-changing form must carry this.
    pub csrf: String,
    last_seen: Instant,
}

/// Every console session of this process.
pub struct ConsoleSessions {
    sessions: Mutex<HashMap<String, Entry>>,
    idle: Duration,
}

impl Default for ConsoleSessions {
    fn default() -> Self {
        ConsoleSessions::new(DEFAULT_IDLE)
    }
}

impl ConsoleSessions {
    pub fn new(idle: Duration) -> ConsoleSessions {
        ConsoleSessions {
            sessions: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// A new session acting with `token`: its id (for the cookie), or none when full.
    pub fn open(&self, token: String, now: Instant) -> Option<String> {
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, e| !is_idle(e, now, self.idle));
            if sessions.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = random_token(40);
        let entry = Entry {
            token,
            csrf: random_token(40),
            last_seen: now,
        };
        sessions.insert(id.clone(), entry);
        Some(id)
    }

    /// The session `id` names, if it has not been idle too long; using it renews the idle
    /// timeout when `renew` (the live-update stream does not: watching is not using).
    pub fn use_session(&self, id: &str, now: Instant, renew: bool) -> Option<Entry> {
        let mut sessions = self.lock();
        let entry = sessions.get_mut(id)?;
        if is_idle(entry, now, self.idle) {
            sessions.remove(id);
            return None;
        }
        if renew {
            entry.last_seen = now;
        }
        Some(entry.clone())
    }

    /// Forgets the session; its entry, for revoking the token.
    pub fn close(&self, id: &str) -> Option<Entry> {
        self.lock().remove(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a consistent map: every change is one call.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn is_idle(entry: &Entry, now: Instant, idle: Duration) -> bool {
    now.saturating_duration_since(entry.last_seen) >= idle
}

/// Whether a form's token is the expected one, compared in constant time.
pub fn same_token(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A fresh token for the sign-in form.
pub fn login_token() -> String {
    random_token(40)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, whole site, Secure when served over TLS.
/// Lax and not Strict so that a link from a notification opens the page signed in; every state
/// change is a POST with a CSRF token, which Lax never sends cross-site anyway.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    cookie
}
