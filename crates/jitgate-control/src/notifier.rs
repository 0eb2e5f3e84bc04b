//! Tells live sessions the moment their grant stops being live, and ends grants when their time
//! is up: one scheduler for the whole process instead of every session asking the store.

use crate::model::{from_millis, GrantEnd, Millis};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// What a session knows of its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantState {
    Live {
        expires_at: Millis,
    },
    /// How it ended, and when (its expiry, or the moment it was revoked).
    Ended(GrantEnd, Millis),
}

/// Per-grant and per-session signals.
#[derive(Default)]
pub struct Notifier {
    grants: Mutex<HashMap<String, watch::Sender<GrantState>>>,
    sessions: Mutex<HashMap<String, watch::Sender<Option<String>>>>,
    /// Sessions that listen for statement cancels: what their client is to be told.
    cancels: Mutex<HashMap<String, watch::Sender<Option<String>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Notifier {
    /// Subscribes to a grant; registers it if no one watched it yet.
    pub fn watch_grant(&self, grant_id: &str, expires_at: Millis) -> GrantWatch {
        let mut grants = lock(&self.grants);
        let tx = grants
            .entry(grant_id.to_owned())
            .or_insert_with(|| watch::channel(GrantState::Live { expires_at }).0);
        GrantWatch {
            rx: tx.subscribe(),
            ended_at: None,
        }
    }

    /// Tells every watcher of the grant that it ended at `at`.
    pub fn grant_ended(&self, grant_id: &str, end: &GrantEnd, at: Millis) {
        if let Some(tx) = lock(&self.grants).get(grant_id) {
            tx.send_replace(GrantState::Ended(end.clone(), at));
        }
    }

    /// Grants someone is watching, with the expiry they were told.
    pub fn watched(&self) -> Vec<(String, GrantState)> {
        let mut grants = lock(&self.grants);
        grants.retain(|_, tx| tx.receiver_count() > 0);
        grants
            .iter()
            .map(|(id, tx)| (id.clone(), tx.borrow().clone()))
            .collect()
    }

    pub fn register_session(&self, session_id: &str) -> watch::Receiver<Option<String>> {
        let (tx, rx) = watch::channel(None);
        lock(&self.sessions).insert(session_id.to_owned(), tx);
        rx
    }

    pub fn unregister_session(&self, session_id: &str) {
        lock(&self.sessions).remove(session_id);
        lock(&self.cancels).remove(session_id);
    }

    /// Lets a session hear of cancels of its running statement.
    pub fn listen_for_cancels(&self, session_id: &str) -> watch::Receiver<Option<String>> {
        let (tx, rx) = watch::channel(None);
        lock(&self.cancels).insert(session_id.to_owned(), tx);
        rx
    }

    /// Asks a session to cancel the statement it runs, telling its client `message`.
    pub fn cancel_statement(&self, session_id: &str, message: &str) {
        if let Some(tx) = lock(&self.cancels).get(session_id) {
            tx.send_replace(Some(message.to_owned()));
        }
    }

    /// Asks every live session here to end; how many were asked.
    pub fn kill_all(&self, reason: &str) -> usize {
        let sessions = lock(&self.sessions);
        for tx in sessions.values() {
            tx.send_if_modified(|r| {
                let first = r.is_none();
                if first {
                    *r = Some(reason.to_owned());
                }
                first
            });
        }
        sessions.len()
    }

    /// Asks a live session to end; false if no such session runs here.
    pub fn kill_session(&self, session_id: &str, reason: &str) -> bool {
        match lock(&self.sessions).get(session_id) {
            Some(tx) => {
                tx.send_replace(Some(reason.to_owned()));
                true
            }
            None => false,
        }
    }
}

/// A session's view of its grant.
pub struct GrantWatch {
    rx: watch::Receiver<GrantState>,
    ended_at: Option<Millis>,
}

impl GrantWatch {
    /// Resolves when the grant ends. Expiry is also timed here, so a session never outlives its
    /// grant even if the scheduler runs late.
    pub async fn ended(&mut self) -> GrantEnd {
        loop {
            let state = self.rx.borrow_and_update().clone();
            let expires_at = match state {
                GrantState::Ended(end, at) => {
                    self.ended_at = Some(at);
                    return end;
                }
                GrantState::Live { expires_at } => expires_at,
            };
            let left = from_millis(expires_at)
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        // The notifier is gone: the process is shutting down.
                        return GrantEnd::Revoked { by: "shutdown".into() };
                    }
                }
                _ = tokio::time::sleep(left) => {
                    self.ended_at = Some(expires_at);
                    return GrantEnd::Expired;
                }
            }
        }
    }

    /// When the grant ended, once [`ended`](Self::ended) has said it did (not when the process
    /// shuts down).
    pub fn ended_at(&self) -> Option<Millis> {
        self.ended_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_millis;

    #[tokio::test]
    async fn revocation_reaches_every_watcher() {
        let n = Notifier::default();
        let far = now_millis() + 3_600_000;
        let mut a = n.watch_grant("g", far);
        let mut b = n.watch_grant("g", far);
        let revoked = GrantEnd::Revoked { by: "dana".into() };
        n.grant_ended("g", &revoked, 1234);
        assert_eq!(a.ended().await, revoked);
        assert_eq!(b.ended().await, revoked);
        assert_eq!(a.ended_at(), Some(1234));
    }

    #[tokio::test]
    async fn expiry_fires_on_time_without_the_scheduler() {
        let n = Notifier::default();
        let expires_at = now_millis() + 50;
        let mut w = n.watch_grant("g", expires_at);
        let started = std::time::Instant::now();
        assert_eq!(w.ended().await, GrantEnd::Expired);
        assert_eq!(w.ended_at(), Some(expires_at));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn unwatched_grants_are_forgotten() {
        let n = Notifier::default();
        let w = n.watch_grant("g", now_millis() + 1000);
        assert_eq!(n.watched().len(), 1);
        drop(w);
        assert!(n.watched().is_empty());
    }
}
