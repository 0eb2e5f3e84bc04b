//! Sessions of the TCLIService front. HiveServer2 over HTTP keys sessions by handle, not by
//! connection (a driver may spread one session over several HTTP connections), so a jitgate
//! session is one HiveServer2 session: opened by an admitted OpenSession, ended by
//! CloseSession, by the end of its grant (its operations cancelled and the session closed
//! upstream at once), by the gateway's shutdown, or after the resource's `idle_timeout` without
//! calls (default an hour).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jitgate_control::{Admission, ControlPlane, Session, SessionAuditor, SessionStop};
use jitgate_front::Shutdown;
use jitgate_sqlstate::SqlState;
use subtle::ConstantTimeEq;
use tokio::sync::{watch, Notify};

use crate::policy::Policy;
use crate::schemas::SchemaCache;
use crate::tcli;
use crate::thrift::Struct;
use crate::upstream::Upstream;

/// Operations remembered per session at most (a client that never closes them is refused more).
pub const MAX_OPERATIONS: usize = 4096;
/// Live sessions per resource at most.
pub const MAX_SESSIONS: usize = 4096;
/// How long an ended session is remembered, so that its client is told why on its next call.
const REMEMBER_ENDED: Duration = Duration::from_secs(600);

/// One statement (or metadata call) for the audit trail, recorded when its operation closes.
pub struct Statement {
    pub text: Arc<str>,
    pub started: Instant,
    pub rows: u64,
    /// Set once the operation failed.
    pub error: Option<SqlState>,
}

/// An operation of a session, as the upstream handed it out.
pub struct Operation {
    pub handle: Struct,
    pub statement: Statement,
}

/// A live (or recently ended) session.
pub struct Live {
    /// The credential the client authenticated with; every call must carry the same.
    credential: String,
    pub login: String,
    pub admission: Admission,
    pub control: Arc<ControlPlane>,
    pub auditor: SessionAuditor,
    pub session_id: String,
    pub policy: Policy,
    /// Columns of protected tables read for masked statements, reused a few seconds.
    pub schemas: SchemaCache,
    /// The upstream's session handle.
    pub handle: Struct,
    stop: watch::Receiver<Option<String>>,
    operations: Mutex<HashMap<Bytes, Operation>>,
    last_call: Mutex<Instant>,
    /// Sessions without a call for this long are closed.
    idle_limit: Duration,
    closed_by_client: Notify,
    pub bytes_from_client: AtomicU64,
    pub bytes_to_client: AtomicU64,
}

impl Live {
    /// Whether `credential` is the one the session was opened with (constant time).
    pub fn same_credential(&self, credential: &str) -> bool {
        self.credential
            .as_bytes()
            .ct_eq(credential.as_bytes())
            .into()
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<String> {
        self.stop.borrow().clone()
    }

    /// Resolves with the client's message once the session must end.
    pub fn stopped(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            loop {
                if let Some(message) = rx.borrow_and_update().clone() {
                    return message;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    pub fn touch(&self) {
        if let Ok(mut t) = self.last_call.lock() {
            *t = Instant::now();
        }
    }

    /// Remembers an operation; false when the session holds too many already.
    pub fn add_operation(&self, guid: Bytes, op: Operation) -> bool {
        let Ok(mut ops) = self.operations.lock() else {
            return false;
        };
        if ops.len() >= MAX_OPERATIONS {
            return false;
        }
        ops.insert(guid, op);
        true
    }

    pub fn with_operation<R>(
        &self,
        guid: &Bytes,
        f: impl FnOnce(&mut Operation) -> R,
    ) -> Option<R> {
        let mut ops = self.operations.lock().ok()?;
        ops.get_mut(guid).map(f)
    }

    /// Forgets an operation and audits its statement.
    pub fn close_operation(&self, guid: &Bytes) {
        let op = self.operations.lock().ok().and_then(|mut o| o.remove(guid));
        if let Some(op) = op {
            self.audit(op.statement);
        }
    }

    pub fn audit(&self, s: Statement) {
        self.auditor
            .statement(s.text, s.started.elapsed(), Some(s.rows), s.error);
    }

    /// The client closed the session (its CloseSession went upstream).
    pub fn client_closed(&self) {
        self.closed_by_client.notify_one();
    }

    fn drain_operations(&self) -> Vec<Operation> {
        self.operations
            .lock()
            .map(|mut o| o.drain().map(|(_, op)| op).collect())
            .unwrap_or_default()
    }
}

/// A session and, once it ended, when.
type Entry = (Arc<Live>, Option<Instant>);

/// The sessions of one resource, by upstream session guid, and their operations' guids.
#[derive(Default)]
pub struct Registry {
    sessions: Mutex<HashMap<Bytes, Entry>>,
    operations: Mutex<HashMap<Bytes, Bytes>>,
}

impl Registry {
    pub fn session(&self, guid: &Bytes) -> Option<Arc<Live>> {
        let sessions = self.sessions.lock().ok()?;
        sessions.get(guid).map(|(l, _)| l.clone())
    }

    /// The session an operation belongs to.
    pub fn of_operation(&self, op: &Bytes) -> Option<Arc<Live>> {
        let session = self.operations.lock().ok()?.get(op).cloned()?;
        self.session(&session)
    }

    pub fn add_operation(&self, session: &Bytes, op: Bytes) {
        if let Ok(mut ops) = self.operations.lock() {
            ops.insert(op, session.clone());
        }
    }

    pub fn remove_operation(&self, op: &Bytes) {
        if let Ok(mut ops) = self.operations.lock() {
            ops.remove(op);
        }
    }

    /// Whether another session may open.
    pub fn has_room(&self) -> bool {
        self.sessions
            .lock()
            .is_ok_and(|s| s.values().filter(|(_, ended)| ended.is_none()).count() < MAX_SESSIONS)
    }

    fn insert(&self, guid: Bytes, live: Arc<Live>) {
        if let Ok(mut s) = self.sessions.lock() {
            s.retain(|_, (_, ended)| ended.is_none_or(|at| at.elapsed() < REMEMBER_ENDED));
            if let Ok(mut ops) = self.operations.lock() {
                ops.retain(|_, session| s.contains_key(session));
            }
            s.insert(guid, (live, None));
        }
    }

    /// The session ended: forgotten at once when the client closed it, else remembered a while.
    fn ended(&self, guid: &Bytes, by_client: bool) {
        if let Ok(mut s) = self.sessions.lock() {
            if by_client {
                s.remove(guid);
            } else if let Some(entry) = s.get_mut(guid) {
                entry.1 = Some(Instant::now());
            }
        }
    }
}

/// What opening a session needs besides the admission.
pub struct Opening {
    pub credential: String,
    pub login: String,
    pub admission: Admission,
    pub session: Session,
    pub policy: Policy,
    pub handle: Struct,
    pub guid: Bytes,
    pub idle_limit: Duration,
}

/// Registers an opened session and starts the task that ends it.
pub fn start(
    registry: &Arc<Registry>,
    control: &Arc<ControlPlane>,
    upstream: &Upstream,
    shutdown: &Shutdown,
    o: Opening,
) -> Arc<Live> {
    let (stop_tx, stop) = watch::channel(None);
    let live = Arc::new(Live {
        credential: o.credential,
        login: o.login,
        admission: o.admission,
        control: control.clone(),
        auditor: o.session.auditor(),
        session_id: o.session.id().to_owned(),
        policy: o.policy,
        schemas: SchemaCache::default(),
        handle: o.handle,
        stop,
        operations: Mutex::new(HashMap::new()),
        last_call: Mutex::new(Instant::now()),
        idle_limit: o.idle_limit,
        closed_by_client: Notify::new(),
        bytes_from_client: AtomicU64::new(0),
        bytes_to_client: AtomicU64::new(0),
    });
    registry.insert(o.guid.clone(), live.clone());
    tokio::spawn(watch(
        o.session,
        live.clone(),
        stop_tx,
        registry.clone(),
        upstream.clone(),
        shutdown.clone(),
        o.guid,
    ));
    live
}

enum End {
    Stop(SessionStop),
    Idle,
    Client,
}

async fn watch(
    mut session: Session,
    live: Arc<Live>,
    stop_tx: watch::Sender<Option<String>>,
    registry: Arc<Registry>,
    upstream: Upstream,
    shutdown: Shutdown,
    guid: Bytes,
) {
    let end = tokio::select! {
        stop = session.stopped() => End::Stop(stop),
        () = shutdown.forced() => End::Stop(SessionStop::Shutdown),
        () = idle(&live) => End::Idle,
        () = live.closed_by_client.notified() => End::Client,
    };
    let reason = match &end {
        End::Stop(stop) => {
            stop_tx.send_replace(Some(stop.client_message()));
            stop.reason()
        }
        End::Idle => {
            let idle = format!("idle for {}s", live.idle_limit.as_secs());
            stop_tx.send_replace(Some(format!("terminating session: {idle}")));
            idle
        }
        End::Client => {
            stop_tx.send_replace(Some("the session is closed".into()));
            "client closed the session".to_owned()
        }
    };
    let operations = live.drain_operations();
    // Operations of a session that ended otherwise stay known (until the session is forgotten),
    // so that the client's next fetch is told why, not that the operation is unknown.
    if matches!(end, End::Client) {
        for op in &operations {
            if let Some(g) = tcli::handle_guid(&op.handle) {
                registry.remove_operation(&g);
            }
        }
    }
    if !matches!(end, End::Client) {
        end_upstream(&upstream, &live.handle, &operations).await;
    }
    for op in operations {
        live.audit(op.statement);
    }
    registry.ended(&guid, matches!(end, End::Client));
    session.close(
        &reason,
        live.bytes_from_client.load(Ordering::Relaxed),
        live.bytes_to_client.load(Ordering::Relaxed),
    );
}

/// Cancels the session's operations and closes it upstream, all at once.
async fn end_upstream(upstream: &Upstream, session: &Struct, operations: &[Operation]) {
    let mut calls = tokio::task::JoinSet::new();
    for op in operations {
        let upstream = upstream.clone();
        let req = tcli::handle_request(&op.handle);
        calls.spawn(async move {
            let _ = upstream
                .own_call(&tcli::call("CancelOperation", req.clone()))
                .await;
            let _ = upstream.own_call(&tcli::call("CloseOperation", req)).await;
        });
    }
    while calls.join_next().await.is_some() {}
    let close = tcli::call("CloseSession", tcli::handle_request(session));
    if let Err(e) = upstream.own_call(&close).await {
        tracing::warn!("closing an ended session upstream: {e}");
    }
}

async fn idle(live: &Live) {
    loop {
        let last = live
            .last_call
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| Instant::now());
        let left = live.idle_limit.saturating_sub(last.elapsed());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left).await;
    }
}

/// The client's address as recorded.
pub fn peer_text(peer: SocketAddr) -> String {
    peer.to_string()
}
