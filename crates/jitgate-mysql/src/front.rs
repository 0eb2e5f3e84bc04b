//! The MySQL front: a listener per `kind = "mysql"` resource on the shared accept loop, and
//! what the connections of one resource share (the upstream's greeting, the map of jitgate's
//! connection ids to the upstream's for KILL).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jitgate_config::{ClientTlsMode, Config, Upstream};
use jitgate_control::ControlPlane;
use jitgate_front::{BindError, Connection, Handler, Limiter, Listeners, Shutdown};
use jitgate_masking::MaskingPolicy;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::TlsAcceptor;

use crate::login::{self, LoginEnd};
use crate::upstream::{self, UpstreamError, UpstreamTarget};
use crate::wire::{ErrorCode, Greeting};

/// A client's stream, plain or TLS.
pub type ClientIo = Box<dyn ClientStream>;

pub trait ClientStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> ClientStream for T {}

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("MySQL TLS ([server.tls]): {0}")]
    Tls(#[from] jitgate_tls::TlsSetupError),
    #[error("resource {resource}: TLS towards the upstream: {source}")]
    UpstreamTls {
        resource: String,
        source: jitgate_tls::TlsSetupError,
    },
}

/// What the connections of one resource share.
pub struct ResourceFront {
    pub name: Arc<str>,
    pub control: Arc<ControlPlane>,
    pub masking: MaskingPolicy,
    pub upstream: UpstreamTarget,
    pub tls: Option<TlsAcceptor>,
    pub tls_required: bool,
    pub allow_cleartext_without_tls: bool,
    /// `native_password = true`: clients may log in with `mysql_native_password`.
    pub native_password: bool,
    pub login_timeout: Duration,
    pub max_message_bytes: usize,
    profile: OnceCell<Greeting>,
    next_id: AtomicU32,
    /// jitgate's connection id → (subject, upstream connection id).
    sessions: Mutex<HashMap<u32, (String, u32)>>,
}

impl ResourceFront {
    /// The upstream's greeting, read once.
    pub async fn profile(&self) -> Result<&Greeting, UpstreamError> {
        self.profile
            .get_or_try_init(|| upstream::probe(&self.upstream))
            .await
    }

    /// The upstream connection behind jitgate's connection `id`, if it is a session of `subject`
    /// (other subjects' sessions look like sessions that do not exist).
    pub fn upstream_thread(&self, id: u64, subject: &str) -> Option<u32> {
        let id = u32::try_from(id).ok()?;
        let sessions = self.sessions.lock().ok()?;
        sessions
            .get(&id)
            .filter(|(s, _)| s == subject)
            .map(|(_, thread)| *thread)
    }

    /// Records a session's ids until the returned value is dropped.
    pub fn register(self: &Arc<Self>, id: u32, subject: &str, thread: u32) -> Registered {
        if let Ok(mut s) = self.sessions.lock() {
            s.insert(id, (subject.to_owned(), thread));
        }
        Registered {
            front: self.clone(),
            id,
        }
    }
}

/// A session's place in the id map, given up when dropped.
pub struct Registered {
    front: Arc<ResourceFront>,
    id: u32,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut s) = self.front.sessions.lock() {
            s.remove(&self.id);
        }
    }
}

pub struct MySqlFront {
    listeners: Listeners<ResourceListener>,
}

impl MySqlFront {
    /// Binds every mysql resource's listen address.
    pub async fn bind(
        config: &Config,
        control: Arc<ControlPlane>,
    ) -> Result<MySqlFront, FrontError> {
        let resources: Vec<_> = config
            .resources
            .iter()
            .filter_map(|r| match &r.upstream {
                Upstream::MySql(cfg) => Some((r.name.as_str(), r.listen, cfg)),
                _ => None,
            })
            .collect();
        let tls = if resources.is_empty() {
            None
        } else {
            jitgate_tls::server_acceptor(&config.server.client_tls, b"mysql")?
        };
        // The error is the one `bind` returns, once, at start.
        #[allow(clippy::result_large_err)]
        let listeners = Listeners::bind(resources, |name, upstream_cfg| {
            let upstream =
                UpstreamTarget::new(upstream_cfg).map_err(|source| FrontError::UpstreamTls {
                    resource: name.to_owned(),
                    source,
                })?;
            Ok::<_, FrontError>(ResourceListener(Arc::new(ResourceFront {
                name: Arc::from(name),
                control: control.clone(),
                masking: config.masking.clone(),
                upstream,
                tls: tls.clone(),
                tls_required: config.server.client_tls.mode == ClientTlsMode::Required,
                allow_cleartext_without_tls: config.server.allow_cleartext_without_tls,
                native_password: upstream_cfg.native_password,
                login_timeout: config.server.login_timeout,
                max_message_bytes: config.server.max_message_bytes,
                profile: OnceCell::new(),
                next_id: AtomicU32::new(1),
                sessions: Mutex::default(),
            })))
        })
        .await?;
        Ok(MySqlFront { listeners })
    }

    /// The bound addresses, by resource name.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.local_addrs()
    }

    /// Serves until the gateway drains; without mysql resources, returns at once.
    pub async fn run(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        self.listeners.serve(limiter, shutdown).await
    }
}

struct ResourceListener(Arc<ResourceFront>);

impl Handler for ResourceListener {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: Connection,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        handle(stream, peer, self.0.clone(), connection)
    }

    /// Over a cap: an ERR in place of the greeting, as a full MySQL server answers.
    fn refuse(&self, stream: TcpStream, _peer: SocketAddr, why: &jitgate_front::OverCap) {
        let payload =
            crate::wire::err_packet(ErrorCode::TOO_MANY_CONNECTIONS, why.client_message());
        let mut packet = (payload.len() as u32).to_le_bytes().to_vec();
        packet[3] = 0;
        packet.extend_from_slice(&payload);
        let _ = stream.try_write(&packet);
    }
}

async fn handle(
    tcp: TcpStream,
    peer: SocketAddr,
    front: Arc<ResourceFront>,
    connection: Connection,
) {
    let Connection { permit, shutdown } = connection;
    let id = front.next_id.fetch_add(1, Ordering::Relaxed);
    let login = tokio::time::timeout(front.login_timeout, login::login(tcp, peer, &front, id));
    let login = tokio::select! {
        login = login => login,
        () = shutdown.forced() => return,
    };
    let logged_in = match login {
        Ok(Ok(l)) => l,
        Ok(Err((Some(io), LoginEnd::Refused { seq, code, message }))) => {
            login::goodbye(io, seq, code, &message).await;
            return;
        }
        Ok(Err(_)) => return,
        Err(_) => {
            tracing::info!(%peer, "client did not finish logging in in time");
            return;
        }
    };
    permit.logged_in();
    crate::session::serve(logged_in, front, shutdown).await;
}
