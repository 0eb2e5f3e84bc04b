//! The PostgreSQL front: one listener per resource, one task per client connection.

use crate::cancel::CancelRegistry;
use crate::codec::backend::{self, Severity};
use crate::guard::GuardProvider;
use crate::session;
use crate::tls::{client_acceptor, upstream_connector, TlsSetupError, UpstreamTlsConnector};
use bytes::BytesMut;
use jitgate_config::{ClientTlsMode, Config, PostgresUpstream, Upstream};
use jitgate_control::ControlPlane;
use jitgate_front::{Connection, Handler, Limiter, Listener, OverCap, Shutdown};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("resource {resource}: cannot listen on {addr}: {source}")]
    Bind {
        resource: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// Settings shared by every connection of the process.
pub struct FrontSettings {
    pub client_tls: Option<TlsAcceptor>,
    pub tls_required: bool,
    pub allow_cleartext_without_tls: bool,
    /// Ask clients for the credential in clear (over TLS) instead of SCRAM-SHA-256.
    pub password_auth: bool,
    pub max_message_bytes: usize,
    pub login_timeout: Duration,
}

/// One resource as the front serves it.
pub struct ResourceFront {
    pub name: Arc<str>,
    pub upstream: PostgresUpstream,
    pub upstream_tls: Option<UpstreamTlsConnector>,
    /// Counts DDL seen through jitgate, so the masking rewriter's catalog is reloaded after it.
    pub ddl_epoch: AtomicU64,
}

/// Everything a connection needs to reach.
pub struct Front {
    pub control: Arc<ControlPlane>,
    pub settings: FrontSettings,
    pub resources: Vec<Arc<ResourceFront>>,
    pub cancels: Arc<CancelRegistry>,
    /// Decides which sessions are masked or read-only; `None` serves everyone in the clear.
    pub guards: Option<Arc<dyn GuardProvider>>,
}

impl Front {
    pub fn resource(&self, name: &str) -> Option<&Arc<ResourceFront>> {
        self.resources.iter().find(|r| &*r.name == name)
    }
}

/// A bound front, ready to accept.
pub struct PgFront {
    front: Arc<Front>,
    listeners: Vec<(TcpListener, Arc<ResourceFront>)>,
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
        let mut resources = Vec::new();
        let mut listeners = Vec::new();
        for r in &config.resources {
            // Other kinds have fronts of their own.
            let Upstream::Postgres(upstream) = &r.upstream else {
                continue;
            };
            let resource = Arc::new(ResourceFront {
                name: Arc::from(r.name.as_str()),
                upstream_tls: upstream_connector(&upstream.tls, &upstream.host)?,
                upstream: upstream.clone(),
                ddl_epoch: AtomicU64::new(0),
            });
            let listener =
                TcpListener::bind(r.listen)
                    .await
                    .map_err(|source| FrontError::Bind {
                        resource: r.name.clone(),
                        addr: r.listen,
                        source,
                    })?;
            resources.push(resource.clone());
            listeners.push((listener, resource));
        }
        let front = Arc::new(Front {
            control,
            settings,
            resources,
            cancels: Arc::new(CancelRegistry::default()),
            guards,
        });
        Ok(PgFront { front, listeners })
    }

    /// The addresses actually bound (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<(Arc<str>, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(l, r)| Some((r.name.clone(), l.local_addr().ok()?)))
            .collect()
    }

    /// Accepts connections until the gateway drains, under the caps of `limiter`; every
    /// session is handed `shutdown`, to end it when the drain time is over. Without PostgreSQL
    /// resources, returns at once.
    pub async fn run(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, resource) in self.listeners {
            let handler = ResourceListener {
                front: self.front.clone(),
                resource,
            };
            tasks.spawn(Listener::serve(
                listener,
                limiter.clone(),
                shutdown.clone(),
                handler,
            ));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// One resource's listener: what the accept loop hands its connections to.
struct ResourceListener {
    front: Arc<Front>,
    resource: Arc<ResourceFront>,
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

    /// Says FATAL 53300 before closing, as PostgreSQL does when it has too many clients —
    /// without waiting: only what fits the socket's buffer now is written.
    fn refuse(&self, stream: TcpStream, _peer: SocketAddr, why: &OverCap) {
        // What the client has sent already is read and dropped, so that closing the socket
        // ends it with a FIN the client reads after the error, rather than a reset.
        let mut sink = [0u8; 1024];
        for _ in 0..8 {
            if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let mut msg = BytesMut::new();
        backend::error_response(
            &mut msg,
            Severity::Fatal,
            TOO_MANY_CONNECTIONS,
            why.client_message(),
        );
        let _ = stream.try_write(&msg);
    }
}

/// SQLSTATE too_many_connections.
const TOO_MANY_CONNECTIONS: &str = "53300";
