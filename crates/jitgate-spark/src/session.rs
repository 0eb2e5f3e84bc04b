//! One client connection: who it is (the bearer token is a jitgate credential), the jitgate
//! session it opens on its first authenticated call, and the end of that session when the grant
//! ends, the session is killed, or the client goes away.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use jitgate_control::audit::AuditEvent;
use jitgate_control::{
    Admission, ControlPlane, LoginContext, Proof, Protocol, Session, SessionStop,
};
use jitgate_front::{Connection, LoginPermit, Shutdown};
use jitgate_masking::SubjectView;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::catalog::{SchemaCache, SessionContext};
use crate::front::ResourceFront;
use crate::grpc::{Code, Status};
use crate::plan::{Clear, FailClosed, Masked, PlanPolicy};
use crate::upstream::SparkSession;

const READ_ONLY_UNAVAILABLE: &str = "read-only grants are not available for Spark Connect yet: \
    jitgate refuses plans rather than risk a write";

/// An authenticated connection's jitgate session.
pub struct Live {
    token: String,
    pub login: String,
    pub control: Arc<ControlPlane>,
    pub admission: Admission,
    pub resource: Arc<str>,
    pub session_id: String,
    pub policy: Arc<dyn PlanPolicy>,
    /// Columns of protected tables read recently, for masking.
    pub schemas: SchemaCache,
    /// Set once the session must end; what in-flight calls end with.
    stop: watch::Receiver<Option<Status>>,
    sessions: Mutex<HashSet<SparkSession>>,
    pub bytes_from_client: AtomicU64,
    pub bytes_to_client: AtomicU64,
}

impl Live {
    /// Resolves with the status in-flight calls end with, once the session must end.
    pub fn stopped(&self) -> impl std::future::Future<Output = Status> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            loop {
                if let Some(status) = rx.borrow_and_update().clone() {
                    return status;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Remembers a Spark session the client uses, to release it when the grant ends.
    pub fn saw_session(&self, session: &SessionContext) {
        let session_id = &session.session_id;
        if session_id.is_empty() {
            return;
        }
        let user_id = session.user_context.as_ref().map(|u| u.user_id.as_str());
        if let Ok(mut set) = self.sessions.lock() {
            // Bounded: a client opening sessions without end gets no more remembered.
            if set.len() < 1024 {
                set.insert(SparkSession {
                    session_id: session_id.to_owned(),
                    user_id: user_id.unwrap_or_default().to_owned(),
                });
            }
        }
    }

    /// An audit event about this session.
    pub fn event(&self, kind: &str, detail: serde_json::Value) -> AuditEvent {
        AuditEvent::new(kind, detail)
            .subject(&self.admission.subject)
            .resource(&self.resource)
            .grant(&self.admission.grant.id)
            .session(&self.session_id)
    }
}

enum State {
    Fresh,
    Live(Arc<Live>),
}

/// Per client connection.
pub struct Conn {
    pub front: Arc<ResourceFront>,
    peer: SocketAddr,
    tls: bool,
    /// The connection's place among those logging in, until its first call is admitted.
    login: Mutex<Option<LoginPermit>>,
    shutdown: Shutdown,
    state: tokio::sync::Mutex<State>,
    closed: watch::Sender<bool>,
}

impl Conn {
    pub fn new(front: Arc<ResourceFront>, peer: SocketAddr, tls: bool, c: Connection) -> Conn {
        Conn {
            front,
            peer,
            tls,
            login: Mutex::new(Some(c.permit)),
            shutdown: c.shutdown,
            state: tokio::sync::Mutex::new(State::Fresh),
            closed: watch::Sender::new(false),
        }
    }

    /// The connection ended: its session, if any, is closed.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The live session the call's bearer token belongs to, or the status to refuse it with.
    /// The first call proves the credential (a key derivation) and opens the session; later calls
    /// on the connection only compare the token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Live>, Status> {
        let token = bearer(headers)?;
        let mut state = self.state.lock().await;
        if let State::Live(live) = &*state {
            if !bool::from(live.token.as_bytes().ct_eq(token.as_bytes())) {
                return Err(unauthenticated(
                    "this connection is already authenticated with another credential",
                ));
            }
            if let Some(status) = live.stop.borrow().clone() {
                return Err(unauthenticated(format!(
                    "{}: credential \"{}\" no longer admits you",
                    status.message, live.login
                )));
            }
            return Ok(live.clone());
        }
        let live = self.open(token).await?;
        *state = State::Live(live.clone());
        if let Some(permit) = self.login.lock().ok().and_then(|mut p| p.take()) {
            permit.logged_in();
        }
        Ok(live)
    }

    /// Opens the connection's jitgate session: transport policy, the credential, admission,
    /// then a task that ends the session when its grant ends, it is killed, the gateway shuts
    /// down or the client goes away.
    async fn open(&self, token: &str) -> Result<Arc<Live>, Status> {
        self.check_transport()?;
        // LOGIN.SECRET: secrets are letters and digits, so the last '.' splits them.
        let (login, secret) = token.rsplit_once('.').unwrap_or((token, ""));
        let admission = self.admit(login, secret).await?;
        let front = &self.front;
        let policy = self.policy_for(&admission);
        let session = front
            .control
            .open_session(&admission, &self.peer.to_string());
        let (stop_tx, stop) = watch::channel(None);
        let live = Arc::new(Live {
            token: token.to_owned(),
            login: login.to_owned(),
            control: front.control.clone(),
            resource: front.name.clone(),
            session_id: session.id().to_owned(),
            admission,
            policy,
            schemas: SchemaCache::default(),
            stop,
            sessions: Mutex::new(HashSet::new()),
            bytes_from_client: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
        });
        tokio::spawn(self.watch(session, live.clone(), stop_tx));
        Ok(live)
    }

    /// A credential in clear only over TLS, or from this machine when so configured.
    fn check_transport(&self) -> Result<(), Status> {
        if !self.tls && self.front.tls_required {
            return Err(unauthenticated(
                "jitgate accepts Spark Connect clients only over TLS: add ;use_ssl=true to the URI",
            ));
        }
        if !self.tls && !self.peer.ip().is_loopback() && !self.front.allow_cleartext_without_tls {
            return Err(unauthenticated(
                "a credential in clear text is accepted only from this machine: connect over TLS \
                 (;use_ssl=true, with [server.tls] configured)",
            ));
        }
        Ok(())
    }

    /// Proves `login`'s secret and admits it under a live grant, through the control plane's
    /// one admission (which audits every refusal).
    async fn admit(&self, login: &str, secret: &str) -> Result<Admission, Status> {
        let front = &self.front;
        let attempt = front
            .control
            .begin_login(LoginContext {
                login,
                resource: &front.name,
                peer: self.peer,
                protocol: Protocol::SparkConnect,
            })
            .map_err(|e| {
                tracing::error!("looking up credential: {e}");
                Status::new(Code::Unavailable, "jitgate cannot read its store")
            })?;
        let secret = secret.to_owned();
        // A key derivation of thousands of rounds: off the threads that relay traffic.
        let (attempt, matches) = tokio::task::spawn_blocking(move || {
            let matches = attempt.check_password(&secret);
            (attempt, matches)
        })
        .await
        .map_err(|e| {
            tracing::error!("checking a credential: {e}");
            Status::new(Code::Unavailable, "jitgate could not check the credential")
        })?;
        let proof = if matches {
            Proof::Verified
        } else {
            Proof::Failed
        };
        attempt
            .finish(proof)
            .map_err(|refused| unauthenticated(refused.client_message()))
    }

    /// Ends `session` when it must stop (in-flight calls get the status, the upstream's Spark
    /// sessions are released) or when the client goes away, and records why.
    fn watch(
        &self,
        mut session: Session,
        live: Arc<Live>,
        stop_tx: watch::Sender<Option<Status>>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.subscribe();
        let upstream = self.front.upstream.clone();
        // Held until the session is closed, so that the gateway waits for it at shutdown.
        let shutdown = self.shutdown.clone();
        async move {
            let stop = tokio::select! {
                stop = session.stopped() => Some(stop),
                () = shutdown.forced() => Some(SessionStop::Shutdown),
                _ = async { closed.wait_for(|c| *c).await.map(|_| ()) } => None,
            };
            let reason = match stop {
                Some(stop) => {
                    stop_tx
                        .send_replace(Some(Status::new(stop_code(&stop), stop.client_message())));
                    // In-flight streams end now; the upstream is told to stop their work too.
                    let sessions: Vec<SparkSession> = live
                        .sessions
                        .lock()
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    upstream.release(sessions).await;
                    stop.reason()
                }
                None => "client disconnected".to_string(),
            };
            session.close(
                &reason,
                live.bytes_from_client.load(Ordering::Relaxed),
                live.bytes_to_client.load(Ordering::Relaxed),
            );
        }
    }

    /// What plans of this subject may do: masked subjects
    /// get their plans masked; checks jitgate cannot make on Spark plans mean refusal, never
    /// clear access.
    fn policy_for(&self, admission: &Admission) -> Arc<dyn PlanPolicy> {
        let front = &self.front;
        if admission.grant.read_only {
            let closed = FailClosed {
                message: READ_ONLY_UNAVAILABLE.into(),
            };
            return Arc::new(closed);
        }
        if let SubjectView::Masked(view) =
            front.control.admitted_view(admission, &front.masking).view
        {
            return Arc::new(Masked::new(view, front.namespace.clone()));
        }
        Arc::new(Clear)
    }
}

/// The status code calls of a stopped session end with. A gateway shutting down aborts them —
/// not UNAVAILABLE, which Spark Connect clients retry for minutes against a gateway that is gone;
/// any other end takes the client's access away.
fn stop_code(stop: &SessionStop) -> Code {
    match stop {
        SessionStop::Shutdown => Code::Aborted,
        _ => Code::PermissionDenied,
    }
}

fn unauthenticated(message: impl Into<String>) -> Status {
    Status::new(Code::Unauthenticated, message)
}

/// The bearer token of a call: `authorization: Bearer LOGIN.SECRET`.
fn bearer(headers: &HeaderMap) -> Result<&str, Status> {
    let missing = || {
        unauthenticated(
            "no jitgate credential: connect with the sc:// URI that `jitgate connect RESOURCE --uri` \
             prints (it carries ;token=…)",
        )
    };
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(missing)?
        .trim();
    if token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            value.parse().expect("header value"),
        );
        h
    }

    #[test]
    fn bearer_tokens_are_read_and_their_absence_is_explained() {
        assert_eq!(
            bearer(&headers("Bearer alice-x.s3cr3t")),
            Ok("alice-x.s3cr3t")
        );
        for bad in ["Basic YWxpY2U6eA==", "Bearer ", "alice-x.s3cr3t"] {
            let err = bearer(&headers(bad)).expect_err(bad);
            assert_eq!(err.code, Code::Unauthenticated);
            assert!(
                err.message.contains("no jitgate credential"),
                "{}",
                err.message
            );
        }
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
