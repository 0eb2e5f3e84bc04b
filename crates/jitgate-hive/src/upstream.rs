//! The upstream HiveServer2 / Databricks SQL endpoint: Thrift messages POSTed over HTTP/1.1
//! (TLS when configured), with jitgate's own credential, over a small pool of kept-alive
//! connections (HiveServer2 keys its sessions by handle, not by connection).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use jitgate_config::{DatabricksSqlAuth, DatabricksSqlUpstream};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::thrift::{self, Limits, Message};

/// Largest reply read from the upstream (one fetch of rows; clients ask for some thousands).
pub const MAX_REPLY_BYTES: usize = 256 << 20;
/// Values in one reply at most (each takes a few tens of bytes decoded).
pub const REPLY_LIMITS: Limits = Limits {
    max_depth: 64,
    max_values: 16 << 20,
};
/// Kept-alive connections per resource at most.
const POOL: usize = 16;
/// How long a call jitgate makes itself (schemas, cancels) may take.
pub const OWN_CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting to {0}: {1}")]
    Connect(String, String),
    #[error("TLS to {0}: {1}")]
    Tls(String, String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the upstream answered HTTP {0}")]
    Status(StatusCode),
    #[error("the upstream's reply is larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("the upstream's reply is not a Thrift message: {0}")]
    Decode(#[from] thrift::DecodeError),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Config(String),
}

#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    address: String,
    host: String,
    path: String,
    host_header: HeaderValue,
    authorization: Option<HeaderValue>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Upstream {
    pub fn new(cfg: &DatabricksSqlUpstream) -> Result<Upstream, UpstreamError> {
        let authorization = match &cfg.auth {
            DatabricksSqlAuth::Token(t) => Some(format!("Bearer {}", t.expose())),
            DatabricksSqlAuth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose());
                let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(format!("Basic {b64}"))
            }
            DatabricksSqlAuth::None => None,
        };
        let authorization = authorization
            .map(|v| HeaderValue::from_str(&v))
            .transpose()
            .map_err(|_| {
                UpstreamError::Config("the upstream credential is not a header value".into())
            })?;
        let host_part = if cfg.host.contains(':') {
            format!("[{}]", cfg.host)
        } else {
            cfg.host.clone()
        };
        let address = format!("{host_part}:{}", cfg.port);
        let host_header = HeaderValue::from_str(&address)
            .map_err(|_| UpstreamError::Config("the host is not a header value".into()))?;
        let tls = if cfg.tls {
            Some(tls_connector(&cfg.host)?)
        } else {
            None
        };
        Ok(Upstream {
            inner: Arc::new(Inner {
                address,
                host: cfg.host.clone(),
                path: cfg.http_path.clone(),
                host_header,
                authorization,
                tls,
                connect_timeout: cfg.connect_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Sends one message and reads the reply.
    pub async fn call(&self, message: &Message) -> Result<(Message, Bytes), UpstreamError> {
        let reply = self.post(Bytes::from(thrift::encode(message))).await?;
        let decoded = thrift::decode(reply.clone(), REPLY_LIMITS)?;
        Ok((decoded, reply))
    }

    /// A call jitgate makes itself, bounded in time.
    pub async fn own_call(&self, message: &Message) -> Result<Message, UpstreamError> {
        tokio::time::timeout(OWN_CALL_TIMEOUT, self.call(message))
            .await
            .map_err(|_| UpstreamError::Timeout(OWN_CALL_TIMEOUT))?
            .map(|(m, _)| m)
    }

    /// POSTs a Thrift body; the reply body.
    pub async fn post(&self, body: Bytes) -> Result<Bytes, UpstreamError> {
        let mut sender = self.sender().await?;
        let mut req = Request::post(self.inner.path.as_str())
            .header(http::header::HOST, self.inner.host_header.clone())
            .header(http::header::CONTENT_TYPE, "application/x-thrift")
            .header(http::header::ACCEPT, "application/x-thrift")
            .header(http::header::USER_AGENT, "jitgate")
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Http(e.to_string()))?;
        if let Some(auth) = &self.inner.authorization {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, auth.clone());
        }
        let response = sender
            .send_request(req)
            .await
            .map_err(|e| UpstreamError::Http(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    UpstreamError::TooLarge
                } else {
                    UpstreamError::Http(e.to_string())
                }
            })?
            .to_bytes();
        self.give_back(sender);
        if status != StatusCode::OK {
            return Err(UpstreamError::Status(status));
        }
        Ok(body)
    }

    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, UpstreamError> {
        loop {
            let idle = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
            match idle {
                Some(mut s) if !s.is_closed() => {
                    if s.ready().await.is_ok() {
                        return Ok(s);
                    }
                }
                Some(_) => continue,
                None => return self.connect().await,
            }
        }
    }

    fn give_back(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.inner.idle.lock() {
            if idle.len() < POOL {
                idle.push(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, UpstreamError> {
        let inner = &self.inner;
        let connect_error = |e: String| UpstreamError::Connect(inner.address.clone(), e);
        let tcp = tokio::time::timeout(inner.connect_timeout, TcpStream::connect(&inner.address))
            .await
            .map_err(|_| connect_error("timed out".into()))?
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        match &inner.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| UpstreamError::Tls(inner.host.clone(), e.to_string()))?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>, UpstreamError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| UpstreamError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("upstream HTTP connection ended: {e}");
        }
    });
    Ok(sender)
}

/// TLS verified against the system's roots.
fn tls_connector(host: &str) -> Result<(TlsConnector, ServerName<'static>), UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(jitgate_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(host.to_owned(), e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| UpstreamError::Tls(host.to_owned(), e.to_string()))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}
