//! Cancel requests. Clients get a BackendKeyData of jitgate's own, random, per session; a
//! CancelRequest is honoured only when both its process id and its secret match a live session,
//! and is then sent to that session's upstream backend with the upstream's key. A client can
//! therefore cancel its own query and nobody else's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Where a cancel for one session must go.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    pub upstream_addr: SocketAddr,
    pub upstream_key: (i32, i32),
    /// Which resource (and so which upstream TLS settings) the session belongs to.
    pub resource: Arc<str>,
}

/// Client-facing keys of the live sessions of one process.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, (i32, CancelTarget)>>,
}

impl CancelRegistry {
    /// Registers a session and returns the key to give its client. The process id is unique
    /// among live sessions; the secret is random.
    pub fn register(self: &Arc<Self>, target: CancelTarget) -> CancelKey {
        let mut sessions = self.lock();
        let secret: i32 = rand::random();
        let process_id = loop {
            // Positive, like real backend pids, and never reused while live.
            let pid = (rand::random::<u32>() >> 1) as i32;
            if pid != 0 && !sessions.contains_key(&pid) {
                break pid;
            }
        };
        sessions.insert(process_id, (secret, target));
        CancelKey {
            process_id,
            secret,
            registry: self.clone(),
        }
    }

    /// The target of a CancelRequest, if its key matches a live session exactly.
    pub fn lookup(&self, process_id: i32, secret: i32) -> Option<CancelTarget> {
        use subtle::ConstantTimeEq;
        let sessions = self.lock();
        let (expected, target) = sessions.get(&process_id)?;
        bool::from(expected.to_be_bytes().ct_eq(&secret.to_be_bytes())).then(|| target.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (i32, CancelTarget)>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A session's client-facing key; unregistered when dropped.
pub struct CancelKey {
    pub process_id: i32,
    pub secret: i32,
    registry: Arc<CancelRegistry>,
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.process_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> CancelTarget {
        CancelTarget {
            upstream_addr: "127.0.0.1:5432".parse().unwrap(),
            upstream_key: (77, 88),
            resource: Arc::from("db"),
        }
    }

    #[test]
    fn only_the_exact_key_cancels_and_only_while_live() {
        let registry = Arc::new(CancelRegistry::default());
        let key = registry.register(target());
        assert!(registry.lookup(key.process_id, key.secret).is_some());
        assert!(registry
            .lookup(key.process_id, key.secret.wrapping_add(1))
            .is_none());
        let (pid, secret) = (key.process_id, key.secret);
        drop(key);
        assert!(registry.lookup(pid, secret).is_none());
    }
}
