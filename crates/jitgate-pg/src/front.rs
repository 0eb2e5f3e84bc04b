//! The PostgreSQL front: one listener per resource, one task per client connection.

use crate::cancel::CancelRegistry;
use crate::codec::backend::{self, Severity};
use crate::codec::startup::{read_startup, StartupRequest};
use crate::guard::GuardProvider;
use crate::login::forward_cancel;
use crate::resource::ResourceFront;
use crate::session;
use crate::shared::{Front, FrontSettings};
use crate::tls::{client_acceptor, upstream_connector, TlsSetupError};
use bytes::BytesMut;
use jitgate_config::{ClientTlsMode, Config, Upstream};
use jitgate_control::ControlPlane;
use jitgate_front::{BindError, Connection, Handler, Limiter, Listeners, OverCap, Shutdown};
use jitgate_sqlstate::SqlState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// A bound front, ready to accept.
pub struct PgFront {
    front: Arc<Front>,
    listeners: Listeners<Arc<ResourceFront>>,
}

impl PgFront {
    /// Prepares TLS and binds the listen address of every PostgreSQL resource.
    pub async fn bind(
        config: &Config,
        control: Arc<ControlPlane>,
        guards: Option<Arc<dyn GuardProvider>>,
    ) -> Result<PgFront, FrontError> {
        let server = &config.server;
        let settings = FrontSettings {
            client_tls: client_acceptor(&server.client_tls)?,
            tls_required: server.client_tls.mode == ClientTlsMode::Required,
            allow_cleartext_without_tls: server.allow_cleartext_without_tls,
            password_auth: false,
            max_message_bytes: server.max_message_bytes,
            login_timeout: server.login_timeout,
        };
        // Other kinds have fronts of their own.
        let resources = config.resources.iter().filter_map(|r| match &r.upstream {
            Upstream::Postgres(upstream) => Some((r.name.as_str(), r.listen, upstream)),
            _ => None,
        });
        let listeners = Listeners::bind(resources, |name, upstream| {
            Ok::<_, FrontError>(Arc::new(ResourceFront {
                name: Arc::from(name),
                upstream_tls: upstream_connector(&upstream.tls, &upstream.host)?,
                upstream: upstream.clone(),
                ddl_epoch: AtomicU64::new(0),
            }))
        })
        .await?;
        let resources = listeners.handlers().cloned().collect();
        let front = Arc::new(Front {
            control,
            settings,
            resources,
            cancels: Arc::new(CancelRegistry::default()),
            guards,
        });
        Ok(PgFront { front, listeners })
    }

    /// The addresses actually bound (useful when a port was 0), by resource name.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.local_addrs()
    }

    /// Accepts connections until the gateway drains, under the caps of `limiter`; every
    /// session is handed `shutdown`, to end it when the drain time is over. Without PostgreSQL
    /// resources, returns at once.
    pub async fn run(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        let refusing = Arc::new(AtomicUsize::new(0));
        let front = self.front;
        self.listeners
            .map(|resource| ResourceListener {
                front: front.clone(),
                resource,
                refusing: refusing.clone(),
            })
            .serve(limiter, shutdown)
            .await
    }
}

/// One resource's listener: what the accept loop hands its connections to.
struct ResourceListener {
    front: Arc<Front>,
    resource: Arc<ResourceFront>,
    /// Refused connections being told why, over every listener.
    refusing: Arc<AtomicUsize>,
}

impl Handler for ResourceListener {
    fn name(&self) -> &str {
        &self.resource.name
    }

    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: Connection,
    ) -> impl Future<Output = ()> + Send + 'static {
        session::run(
            stream,
            peer,
            self.front.clone(),
            self.resource.clone(),
            connection,
        )
    }

    /// Says FATAL 53300 before closing, as PostgreSQL does when it has too many clients.
    fn refuse(&self, stream: TcpStream, _peer: SocketAddr, why: &OverCap) {
        let Some(place) = RefusalPlace::take(&self.refusing) else {
            // A flood: closed without a word.
            return;
        };
        let front = self.front.clone();
        let message = why.client_message();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refuse(stream, &front, message)).await;
            drop(place);
        });
    }
}

/// How many refused connections may be told why at once, and for how long each: what a flood of
/// connections over the caps can make jitgate hold is bounded too.
const MAX_REFUSING: usize = 64;
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A refused connection's place among those being told why.
struct RefusalPlace(Arc<AtomicUsize>);

impl RefusalPlace {
    fn take(refusing: &Arc<AtomicUsize>) -> Option<RefusalPlace> {
        let taken = refusing.fetch_add(1, Ordering::AcqRel);
        let place = RefusalPlace(refusing.clone());
        (taken < MAX_REFUSING).then_some(place)
    }
}

impl Drop for RefusalPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the client's start-up (declining encryption, so that the answer can be read), then
/// answers FATAL `message`. A CancelRequest is still forwarded: a client must be able to stop its
/// query however busy jitgate is.
async fn refuse(mut stream: TcpStream, front: &Front, message: &str) {
    loop {
        match read_startup(&mut stream).await {
            Ok(StartupRequest::Ssl | StartupRequest::GssEnc) => {
                if stream.write_all(b"N").await.is_err() {
                    return;
                }
            }
            Ok(StartupRequest::Cancel {
                process_id,
                secret_key,
            }) => {
                forward_cancel(front, process_id, secret_key).await;
                return;
            }
            Ok(StartupRequest::Startup(_)) => break,
            Err(_) => return,
        }
    }
    let mut msg = BytesMut::new();
    backend::error_response(
        &mut msg,
        Severity::Fatal,
        SqlState::TOO_MANY_CONNECTIONS,
        message,
    );
    let _ = stream.write_all(&msg).await;
    let _ = stream.shutdown().await;
}
