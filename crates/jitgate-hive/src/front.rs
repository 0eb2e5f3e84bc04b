//! The TCLIService front: an HTTP/1.1 listener per `kind = "databricks-sql"` resource (TLS from
//! `[server.tls]` when a connection opens with a handshake). Every POST carries one Thrift call;
//! jitgate decodes it, checks it against the caller's session, rewrites it where masking needs
//! to, relays it upstream with its own credential, and relays the reply (scrubbed for masked
//! subjects).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jitgate_config::{ClientTlsMode, Config, Upstream as UpstreamConfig};
use jitgate_control::ControlPlane;
use jitgate_front::{BindError, Connection, Handler, Limiter, Listeners, LoginPermit, Shutdown};
use jitgate_masking::MaskingPolicy;
use jitgate_spark_sql::Namespace;
use jitgate_sqlstate::SqlState;
use jitgate_tls::sniff::{self, Opened};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::call::{self, Reply};
use crate::session::Registry;
use crate::thrift::{self, Limits};
use crate::upstream::{Upstream, UpstreamError};

/// Largest call read from a client (statement texts; nothing else is large).
const MAX_CALL_BYTES: usize = 16 << 20;
const CALL_LIMITS: Limits = Limits {
    max_depth: 32,
    max_values: 1 << 20,
};

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("resource {resource}: {source}")]
    Upstream {
        resource: String,
        source: UpstreamError,
    },
    #[error("Databricks SQL TLS ([server.tls]): {0}")]
    Tls(#[from] jitgate_tls::TlsSetupError),
}

/// What the calls of one resource share.
pub struct ResourceFront {
    pub name: Arc<str>,
    pub control: Arc<ControlPlane>,
    pub masking: MaskingPolicy,
    pub upstream: Upstream,
    pub namespace: Namespace,
    pub registry: Arc<Registry>,
    /// Sessions without a call for this long are closed.
    pub idle_limit: Duration,
    pub allow_cleartext_without_tls: bool,
    pub tls: Option<TlsAcceptor>,
    pub tls_required: bool,
}

pub struct HiveFront {
    listeners: Listeners<ResourceListener>,
}

impl HiveFront {
    /// Binds every databricks-sql resource's listen address.
    pub async fn bind(
        config: &Config,
        control: Arc<ControlPlane>,
    ) -> Result<HiveFront, FrontError> {
        let resources: Vec<_> = config
            .resources
            .iter()
            .filter_map(|r| match &r.upstream {
                UpstreamConfig::DatabricksSql(cfg) => Some((r.name.as_str(), r.listen, cfg)),
                _ => None,
            })
            .collect();
        let tls = if resources.is_empty() {
            None
        } else {
            jitgate_tls::server_acceptor(&config.server.client_tls, b"http/1.1")?
        };
        let listeners = Listeners::bind(resources, |name, cfg| {
            let upstream = Upstream::new(cfg).map_err(|source| FrontError::Upstream {
                resource: name.to_owned(),
                source,
            })?;
            Ok::<_, FrontError>(ResourceListener(Arc::new(ResourceFront {
                name: Arc::from(name),
                control: control.clone(),
                masking: config.masking.clone(),
                upstream,
                namespace: Namespace {
                    catalog: "spark_catalog".into(),
                    database: cfg.default_database.clone(),
                },
                registry: Arc::new(Registry::default()),
                idle_limit: cfg.idle_timeout,
                allow_cleartext_without_tls: config.server.allow_cleartext_without_tls,
                tls: tls.clone(),
                tls_required: config.server.client_tls.mode == ClientTlsMode::Required,
            })))
        })
        .await?;
        Ok(HiveFront { listeners })
    }

    /// The bound addresses, by resource name.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.local_addrs()
    }

    /// Serves until the gateway drains; without databricks-sql resources, returns at once.
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
        self::connection(stream, peer, self.0.clone(), connection)
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long calls in flight get to end once the drain time is over.
const FORCED_GOODBYE: Duration = Duration::from_secs(2);

async fn connection(stream: TcpStream, peer: SocketAddr, front: Arc<ResourceFront>, c: Connection) {
    let opened = sniff::open(
        stream,
        peer,
        front.tls.as_ref(),
        HANDSHAKE_TIMEOUT,
        "Databricks SQL",
    );
    match opened.await {
        Some(Opened::Tls(tls)) => serve(tls, peer, front, true, c).await,
        Some(Opened::Plain(stream)) => serve(stream, peer, front, false, c).await,
        None => {}
    }
}

/// One client connection, as the calls on it see it.
pub struct Conn {
    pub front: Arc<ResourceFront>,
    pub peer: SocketAddr,
    pub tls: bool,
    pub shutdown: Shutdown,
    /// Released once a call on the connection was authenticated.
    permit: Mutex<Option<LoginPermit>>,
}

impl Conn {
    pub fn logged_in(&self) {
        if let Some(p) = self.permit.lock().ok().and_then(|mut p| p.take()) {
            p.logged_in();
        }
    }

    /// A credential in clear only over TLS, or from this machine when so configured.
    pub fn transport_refusal(&self) -> Option<&'static str> {
        if !self.tls && self.front.tls_required {
            return Some("jitgate accepts Databricks SQL clients only over TLS (ssl=1 / https)");
        }
        if !self.tls && !self.peer.ip().is_loopback() && !self.front.allow_cleartext_without_tls {
            return Some(
                "a credential in clear text is accepted only from this machine: connect over \
                 TLS (ssl=1 / https, with [server.tls] configured)",
            );
        }
        None
    }
}

async fn serve<S>(io: S, peer: SocketAddr, front: Arc<ResourceFront>, tls: bool, c: Connection)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = c.shutdown.clone();
    let conn = Arc::new(Conn {
        front,
        peer,
        tls,
        shutdown: c.shutdown,
        permit: Mutex::new(Some(c.permit)),
    });
    let service = hyper::service::service_fn(move |req| handle(conn.clone(), req));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(served);
    let served = tokio::select! {
        r = &mut served => r,
        () = shutdown.forced() => {
            served.as_mut().graceful_shutdown();
            tokio::time::timeout(FORCED_GOODBYE, &mut served).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, "Databricks SQL connection ended: {e}");
    }
}

async fn handle(
    conn: Arc<Conn>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST Thrift calls here",
        ));
    }
    let credential = credential(req.headers());
    let body = match Limited::new(req.into_body(), MAX_CALL_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "call too large"))
        }
        Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, "could not read the call")),
    };
    let size = body.len() as u64;
    let message = match thrift::decode(body, CALL_LIMITS) {
        Ok(m) if m.kind == thrift::CALL => m,
        Ok(_) => return Ok(plain(StatusCode::BAD_REQUEST, "not a Thrift call")),
        Err(e) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                &format!("not a Thrift binary-protocol call: {e}"),
            ))
        }
    };
    let reply = call::dispatch(&conn, message, credential, size).await;
    let bytes = match reply {
        Reply::Raw(b) => b,
        Reply::Message(m) => Bytes::from(thrift::encode(&m)),
    };
    let mut response = Response::new(Full::new(bytes));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-thrift"),
    );
    Ok(response)
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(text.as_bytes())));
    *r.status_mut() = status;
    r
}

/// The jitgate credential (`LOGIN.SECRET`) of a call: `Authorization: Bearer LOGIN.SECRET`, or
/// Basic with user `token` and the credential as password (what ODBC/JDBC drivers send), or
/// Basic with the login as user and the secret as password.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (user, password) = pair.split_once(':')?;
    if password.is_empty() {
        return None;
    }
    if user == "token" {
        return Some(password.to_owned());
    }
    Some(format!("{user}.{password}"))
}

/// Counts bytes to the client.
pub fn count_out(live: &crate::session::Live, reply: &Reply) {
    let n = match reply {
        Reply::Raw(b) => b.len(),
        // Rewritten replies (masked subjects) are encoded once more to be counted.
        Reply::Message(m) => thrift::encode(m).len(),
    };
    live.bytes_to_client.fetch_add(n as u64, Ordering::Relaxed);
}

/// SQLSTATEs of jitgate's own errors.
pub mod state {
    use super::SqlState;
    pub const NO_SUCH_SESSION: SqlState = SqlState::from_static("08003");
}

#[cfg(test)]
mod tests;
