//! The PostgreSQL store: one database shared by several gateway replicas. One module per table
//! (as the SQLite store); this one connects, migrates, runs calls and hears the change feed.
//!
//! The [`Store`] trait is synchronous and called from threads of every kind (the recorder,
//! blocking API tasks, front tasks); this store therefore drives its connections on a runtime
//! of its own and a caller only waits for its answer, never needs a runtime of its own. Every
//! call has a deadline: an unreachable store answers with an error, not a hang.
//!
//! Changes other replicas must hear of at once (a grant ended, a session kill asked for) are
//! announced with `NOTIFY` in the transaction that makes them; one connection per replica
//! `LISTEN`s and wakes [`Store::changes`]. Notifications are not durable, so the enforcement
//! loop also polls: the feed makes it fast, the poll makes it sure.

mod audit;
mod credentials;
mod grants;
mod migrations;
mod provisioning;
mod replicas;
mod requests;
mod rows;
mod sessions;
mod subjects;
mod tls;
mod tokens;

use super::{
    CredentialQuery, GrantQuery, RequestQuery, SessionQuery, Store, StoreError, StoreResult,
    Transition,
};
use crate::audit::{AuditEvent, ChainedEvent};
use crate::model::now_millis;
use crate::model::{
    ApiToken, Approval, Credential, ExternalRenewal, ExternalSubject, Grant, GrantEnd, Millis,
    OrphanedSession, ReplicaBeat, Request, SessionEnd, SessionRecord, UpstreamCancel,
};
use jitgate_config::model::{UpstreamTls, UpstreamTlsMode};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tls::StoreTls;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client};

/// The channel changes are announced on.
pub(super) const CHANNEL: &str = "jitgate_changes";

/// How to reach the store.
#[derive(Clone)]
pub struct PostgresStoreOptions {
    /// A libpq-style URL or key=value string, without the password.
    pub url: String,
    pub password: Option<String>,
    /// Connections kept for store calls besides the audit chain's own (the change feed has one
    /// more).
    pub connections: usize,
    /// Longest a store call may take, connecting included.
    pub call_timeout: Duration,
    /// TLS with libpq's modes; default `prefer`, as libpq.
    pub tls: UpstreamTls,
}

impl PostgresStoreOptions {
    pub fn new(url: &str) -> PostgresStoreOptions {
        PostgresStoreOptions {
            url: url.to_owned(),
            password: None,
            connections: 4,
            call_timeout: Duration::from_secs(5),
            tls: UpstreamTls {
                mode: UpstreamTlsMode::Prefer,
                ca_file: None,
                server_name: None,
            },
        }
    }
}

pub struct PostgresStore {
    runtime: Option<Runtime>,
    config: tokio_postgres::Config,
    tls: StoreTls,
    slots: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
    timeout: Duration,
    changes: Arc<Notify>,
    /// Until when (milliseconds since the epoch) calls fail at once instead of connecting: the
    /// last attempt failed. Keeps the threads that relay traffic from waiting on a lost store.
    unreachable_until: AtomicI64,
}

/// The deadline of one audit batch.
const AUDIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after a failed connection calls fail without trying.
const RETRY_AFTER_MS: i64 = 1000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PostgresStore {
    /// Connects, migrates and starts hearing the change feed.
    pub fn open(options: &PostgresStoreOptions) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = options.url.parse()?;
        if let Some(password) = &options.password {
            config.password(password);
        }
        config.connect_timeout(options.call_timeout);
        config.application_name("jitgate");
        let tls = StoreTls::new(&options.tls)?;
        config.ssl_mode(tls.ssl_mode());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jitgate-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Corrupt {
                table: "-",
                why: format!("starting the store's runtime: {e}"),
            })?;
        let store = PostgresStore {
            runtime: Some(runtime),
            config,
            tls,
            // Slot 0 is the audit chain's: a large batch never holds up a login.
            slots: (0..=options.connections.max(1))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            timeout: options.call_timeout,
            changes: Arc::new(Notify::new()),
            unreachable_until: AtomicI64::new(0),
        };
        store.run(async |c| migrations::migrate(c).await)?;
        store.listen();
        Ok(store)
    }

    fn runtime(&self) -> &Runtime {
        // Only Drop takes it out.
        self.runtime
            .as_ref()
            .expect("the store's runtime runs until drop")
    }

    /// Runs one store call on a pooled connection (reconnecting it if it broke), within the
    /// call deadline. The caller's thread waits; it needs no runtime of its own.
    pub(in crate::store) fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let others = self.slots.len() - 1;
        let slot = 1 + self.next.fetch_add(1, Ordering::Relaxed) % others;
        self.run_within(slot, self.timeout, op)
    }

    /// [`run`](Self::run) with a deadline of its own.
    fn run_within<T>(
        &self,
        slot: usize,
        timeout: Duration,
        op: impl AsyncFnOnce(&mut Client) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let slot = &self.slots[slot];
        let mut guard = lock(slot);
        let needs_connection = guard.as_ref().is_none_or(Client::is_closed);
        if needs_connection && now_millis() < self.unreachable_until.load(Ordering::Relaxed) {
            return Err(StoreError::Unreachable);
        }
        let _context = self.runtime().handle().enter();
        let result = futures_executor::block_on(async {
            let call = async {
                if guard.as_ref().is_none_or(Client::is_closed) {
                    *guard = Some(self.connect().await?);
                }
                match guard.as_mut() {
                    Some(client) => op(client).await,
                    None => unreachable!("connected just above"),
                }
            };
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or(Err(StoreError::Timeout(timeout)))
        });
        if matches!(result, Err(StoreError::Timeout(_))) {
            // What the connection was doing is unknown: start afresh next time.
            *guard = None;
        }
        if result.is_err() && guard.as_ref().is_none_or(Client::is_closed) {
            let until = now_millis() + RETRY_AFTER_MS;
            self.unreachable_until.store(until, Ordering::Relaxed);
        }
        result
    }

    async fn connect(&self) -> StoreResult<Client> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        self.runtime().spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("store connection: {e}");
            }
        });
        Ok(client)
    }

    /// Hears `NOTIFY` on [`CHANNEL`] on a connection of its own, reconnecting when it breaks
    /// (and waking the reconcile then too: what was said meanwhile is lost).
    fn listen(&self) {
        let config = self.config.clone();
        let tls = self.tls.clone();
        let changes = self.changes.clone();
        self.runtime().spawn(async move {
            loop {
                if let Err(e) = listen_once(&config, &tls, &changes).await {
                    tracing::warn!("store change feed: {e}");
                }
                changes.notify_one();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &StoreTls,
    changes: &Notify,
) -> StoreResult<()> {
    use futures_util::StreamExt;
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let sql = format!("LISTEN {CHANNEL}");
    let listen = client.batch_execute(&sql);
    let mut listen = std::pin::pin!(listen);
    // The connection must be polled for LISTEN to complete.
    loop {
        tokio::select! {
            done = &mut listen => { done?; break; }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
    changes.notify_one();
    // The client stays alive (and with it the connection) while notifications are heard.
    let _client = &client;
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(_) = message? {
            changes.notify_one();
        }
    }
    Ok(())
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks; the store may be dropped on an async thread.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for PostgresStore {
    fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        self.run(async |c| grants::insert(c, grant).await)
    }

    fn grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        self.run(async |c| grants::get(c, id).await)
    }

    fn end_grant(&self, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool> {
        self.run(async |c| grants::end(c, id, end, at).await)
    }

    fn unended_grants(&self) -> StoreResult<Vec<Grant>> {
        self.run(async |c| grants::unended(c).await)
    }

    fn find_grants(&self, query: &GrantQuery) -> StoreResult<Vec<Grant>> {
        self.run(async |c| grants::find(c, query).await)
    }

    fn insert_request(&self, request: &Request, grant: Option<&Grant>) -> StoreResult<()> {
        self.run(async |c| requests::insert(c, request, grant).await)
    }

    fn request(&self, id: &str) -> StoreResult<Option<Request>> {
        self.run(async |c| requests::get(c, id).await)
    }

    fn find_requests(&self, query: &RequestQuery) -> StoreResult<Vec<Request>> {
        self.run(async |c| requests::find(c, query).await)
    }

    fn approve_request(
        &self,
        vote: &Approval,
        needed: u32,
        grant: &Grant,
    ) -> StoreResult<Transition> {
        self.run(async |c| requests::vote(c, vote, Some((needed, grant))).await)
    }

    fn deny_request(&self, vote: &Approval) -> StoreResult<Transition> {
        self.run(async |c| requests::vote(c, vote, None).await)
    }

    fn cancel_request(&self, id: &str, by: &str, at: Millis) -> StoreResult<Transition> {
        self.run(async |c| requests::cancel(c, id, by, at).await)
    }

    fn expire_requests(&self, now: Millis) -> StoreResult<Vec<Request>> {
        self.run(async |c| requests::expire(c, now).await)
    }

    fn count_pending_requests(&self) -> StoreResult<usize> {
        self.run(async |c| requests::count_pending(c).await)
    }

    fn insert_credential(&self, credential: &Credential) -> StoreResult<()> {
        self.run(async |c| credentials::insert(c, credential).await)
    }

    fn credential_by_login(&self, login: &str) -> StoreResult<Option<Credential>> {
        self.run(async |c| credentials::find_where(c, "login", login).await)
    }

    fn credential(&self, id: &str) -> StoreResult<Option<Credential>> {
        self.run(async |c| credentials::find_where(c, "id", id).await)
    }

    fn find_credentials(&self, query: &CredentialQuery) -> StoreResult<Vec<Credential>> {
        self.run(async |c| credentials::find(c, query).await)
    }

    fn delete_credential(&self, id: &str, at: Millis) -> StoreResult<bool> {
        self.run(async |c| credentials::delete(c, id, at).await)
    }

    fn prune_credentials(&self, subject: Option<&str>, now: Millis) -> StoreResult<usize> {
        self.run(async |c| credentials::prune(c, subject, now).await)
    }

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.run(async |c| sessions::insert(c, session, None).await)
    }

    fn end_session(&self, id: &str, end: &SessionEnd) -> StoreResult<()> {
        self.run(async |c| sessions::end(c, id, end).await)
    }

    fn record_upstream_cancel(
        &self,
        session: &SessionRecord,
        cancel: &UpstreamCancel,
    ) -> StoreResult<()> {
        self.run(async |c| sessions::insert(c, session, Some(cancel)).await)
    }

    fn end_orphaned_sessions(
        &self,
        replica: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>> {
        self.run(async |c| sessions::end_orphaned(c, replica, at, reason).await)
    }

    fn request_session_kill(&self, id: &str, reason: &str) -> StoreResult<bool> {
        self.run(async |c| sessions::request_kill(c, id, reason).await)
    }

    fn end_lost_replica_sessions(
        &self,
        now: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>> {
        self.run(async |c| sessions::end_lost(c, now, reason).await)
    }

    fn replica(&self, name: &str) -> StoreResult<Option<ReplicaBeat>> {
        self.run(async |c| replicas::get(c, name).await)
    }

    fn claim_replica(&self, beat: &ReplicaBeat, previous: Option<&str>) -> StoreResult<bool> {
        self.run(async |c| replicas::claim(c, beat, previous).await)
    }

    fn replica_heartbeat(&self, name: &str, instance: &str, at: Millis) -> StoreResult<bool> {
        self.run(async |c| replicas::heartbeat(c, name, instance, at).await)
    }

    fn session_kills(&self, replica: &str) -> StoreResult<Vec<(String, String)>> {
        self.run(async |c| sessions::kills(c, replica).await)
    }

    fn sessions(&self, open_only: bool) -> StoreResult<Vec<SessionRecord>> {
        self.run(async |c| sessions::all(c, open_only).await)
    }

    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.run(async |c| sessions::get(c, id).await)
    }

    fn find_sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRecord>> {
        self.run(async |c| sessions::find(c, query).await)
    }

    fn insert_token(&self, token: &ApiToken) -> StoreResult<()> {
        self.run(async |c| tokens::insert(c, token).await)
    }

    fn token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        self.run(async |c| tokens::get(c, token_hash).await)
    }

    fn revoke_token(&self, token_hash: &str, at: Millis) -> StoreResult<bool> {
        self.run(async |c| tokens::revoke(c, token_hash, at).await)
    }

    fn revoke_subject_tokens(&self, subject: &str, at: Millis) -> StoreResult<usize> {
        self.run(async |c| tokens::revoke_subject(c, subject, at).await)
    }

    fn delete_expired_tokens(&self, before: Millis) -> StoreResult<usize> {
        self.run(async |c| tokens::delete_expired(c, before).await)
    }

    fn external_subject(&self, name: &str) -> StoreResult<Option<ExternalSubject>> {
        self.run(async |c| subjects::get(c, name).await)
    }

    fn put_external_subject(&self, subject: &ExternalSubject) -> StoreResult<()> {
        self.run(async |c| subjects::put(c, subject).await)
    }

    fn set_external_renewal(
        &self,
        name: &str,
        refresh_token: Option<&str>,
        renewal_hash: Option<&str>,
    ) -> StoreResult<()> {
        self.run(async |c| subjects::set_renewal(c, name, refresh_token, renewal_hash).await)
    }

    fn external_renewal(&self, renewal_hash: &str) -> StoreResult<Option<ExternalRenewal>> {
        self.run(async |c| subjects::renewal(c, renewal_hash).await)
    }

    fn external_renewals_with_grants(&self, now: Millis) -> StoreResult<Vec<ExternalRenewal>> {
        self.run(async |c| subjects::renewals_with_grants(c, now).await)
    }

    fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<i64> {
        // Only the recorder thread waits for this, never a relay: a large batch on a busy store
        // gets long rather than being lost.
        self.run_within(0, AUDIT_TIMEOUT, async |c| audit::append(c, events).await)
    }

    fn audit_after(&self, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>> {
        self.run(async |c| audit::after(c, after, limit).await)
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        Some(self.changes.clone())
    }
}
