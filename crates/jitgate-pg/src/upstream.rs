//! jitgate's own login to an upstream PostgreSQL server, with the service credentials from the
//! configuration, and cancel requests for the sessions it opened there.
//!
//! Database clients never see these credentials: they authenticate to jitgate, and jitgate
//! relays their session over the connection made here.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use jitgate_config::model::PostgresUpstream;
use jitgate_sqlstate::SqlState;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::codec::{self, backend, startup, Message, ProtocolError};
use crate::stream::PgStream;
use crate::tls::UpstreamTlsConnector;

/// Largest message accepted before ReadyForQuery. Start-up messages are small; this only keeps a
/// misbehaving server from making jitgate allocate without bound.
const MAX_STARTUP_MESSAGE: usize = 1 << 20;
/// How long a cancel request may take, connection included.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

// Authentication request codes of the 'R' message.
const AUTH_OK: i32 = 0;
const AUTH_CLEARTEXT: i32 = 3;
const AUTH_MD5: i32 = 5;
const AUTH_SASL: i32 = 10;
const AUTH_SASL_CONTINUE: i32 = 11;
const AUTH_SASL_FINAL: i32 = 12;

/// A logged-in upstream session, ready for the client's first query.
#[derive(Debug)]
pub struct UpstreamConn {
    pub stream: PgStream,
    /// (process id, secret key) from BackendKeyData, for [`cancel`]; (0, 0) if none was sent.
    pub backend_key: (i32, i32),
    /// ParameterStatus ('S') and NoticeResponse ('N') messages in the order they came, to be
    /// forwarded to the client as they are.
    pub startup_messages: Vec<Message>,
    /// The status byte of the first ReadyForQuery: `I`, `T` or `E`.
    pub transaction_status: u8,
    /// The address actually connected to; cancel requests must go to the same server.
    pub server_addr: SocketAddr,
    /// Bytes read past ReadyForQuery (normally none), which belong to the relay.
    pub read_buf: BytesMut,
}

/// Why the upstream session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot resolve upstream host {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot connect to upstream {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("upstream {addr} did not finish connecting within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("upstream does not accept TLS, which tls = \"{mode}\" requires")]
    TlsRefused { mode: &'static str },
    #[error("TLS handshake with upstream failed: {0}")]
    Tls(io::Error),
    #[error("upstream asks for a password and none is configured")]
    PasswordRequired,
    #[error("upstream asks for an authentication method jitgate does not support: {0}")]
    UnsupportedAuth(String),
    /// The exchange failed on jitgate's side, e.g. the server's SCRAM signature was wrong.
    #[error("authenticating to upstream failed: {0}")]
    Auth(String),
    /// An ErrorResponse from the upstream, e.g. 28P01 for a wrong service password.
    #[error("upstream said {severity} {sqlstate}: {message}")]
    Server {
        severity: String,
        sqlstate: String,
        message: String,
    },
    #[error("upstream sent message type '{0}' during start-up")]
    Unexpected(char),
    #[error("upstream broke the protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("I/O error talking to upstream: {0}")]
    Io(#[from] io::Error),
}

impl UpstreamError {
    /// The SQLSTATE the upstream reported, for [`UpstreamError::Server`] (when it is one).
    pub fn sqlstate(&self) -> Option<SqlState> {
        match self {
            UpstreamError::Server { sqlstate, .. } => sqlstate.parse().ok(),
            _ => None,
        }
    }

    /// What a database client may be told of this failure: jitgate's own words, without
    /// addresses or anything the upstream said.
    pub fn client_reason(&self) -> &'static str {
        match self {
            UpstreamError::Resolve { .. } => "the upstream's host name does not resolve",
            UpstreamError::Connect { source, .. }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                "the upstream refused the connection"
            }
            UpstreamError::Connect { .. } => "the upstream cannot be reached",
            UpstreamError::Timeout { .. } => "the upstream did not answer in time",
            UpstreamError::TlsRefused { .. } | UpstreamError::Tls(_) => {
                "TLS with the upstream failed"
            }
            UpstreamError::PasswordRequired
            | UpstreamError::UnsupportedAuth(_)
            | UpstreamError::Auth(_)
            | UpstreamError::Server { .. } => "the upstream refused jitgate's login",
            UpstreamError::Unexpected(_) | UpstreamError::Protocol(_) | UpstreamError::Io(_) => {
                "the connection to the upstream failed"
            }
        }
    }
}

/// Connects and logs in to the upstream as its service user, with `params` added to the
/// StartupMessage (the caller picks which of the client's: `application_name`, `client_encoding`,
/// `DateStyle`, `TimeZone`, `options`, …). `user`, `database` and `replication` among them are
/// ignored: jitgate decides those.
///
/// `tls` is `None` for `tls = "disable"`. Everything, login included, must finish within the
/// upstream's `connect_timeout`.
pub async fn connect(
    cfg: &PostgresUpstream,
    tls: Option<&UpstreamTlsConnector>,
    params: &[(String, String)],
) -> Result<UpstreamConn, UpstreamError> {
    match tokio::time::timeout(cfg.connect_timeout, connect_and_login(cfg, tls, params)).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout {
            addr: format!("{}:{}", cfg.host, cfg.port),
            timeout: cfg.connect_timeout,
        }),
    }
}

async fn connect_and_login(
    cfg: &PostgresUpstream,
    tls: Option<&UpstreamTlsConnector>,
    params: &[(String, String)],
) -> Result<UpstreamConn, UpstreamError> {
    let (mut stream, server_addr) = open_any(&cfg.host, cfg.port, tls).await?;
    stream.write_all(&startup_packet(cfg, params)).await?;
    stream.flush().await?;

    let mut buf = BytesMut::new();
    let mut startup_messages = Vec::new();
    login(&mut stream, &mut buf, cfg, &mut startup_messages).await?;
    let (backend_key, transaction_status) =
        read_until_ready(&mut stream, &mut buf, &mut startup_messages).await?;
    Ok(UpstreamConn {
        stream,
        backend_key,
        startup_messages,
        transaction_status,
        server_addr,
        read_buf: buf,
    })
}

fn startup_packet(cfg: &PostgresUpstream, params: &[(String, String)]) -> Vec<u8> {
    let mut all = vec![
        ("user", cfg.user.as_str()),
        ("database", cfg.database.as_str()),
    ];
    all.extend(
        params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "user" | "database" | "replication"))
            // A NUL would end the string early and shift every field after it.
            .filter(|(k, v)| !k.contains('\0') && !v.contains('\0'))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    startup::encode_startup(&all)
}

/// Tries each address `host` resolves to until one accepts, as libpq does.
async fn open_any(
    host: &str,
    port: u16,
    tls: Option<&UpstreamTlsConnector>,
) -> Result<(PgStream, SocketAddr), UpstreamError> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| UpstreamError::Resolve {
            host: host.to_owned(),
            source,
        })?;
    let mut last_error = None;
    for addr in addrs {
        match open(addr, tls).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e @ UpstreamError::Connect { .. }) => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| UpstreamError::Resolve {
        host: host.to_owned(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

/// A connection to `addr`, encrypted as `tls` asks. In `prefer` mode a failed handshake is
/// retried in plaintext on a new connection, as libpq does.
async fn open(
    addr: SocketAddr,
    tls: Option<&UpstreamTlsConnector>,
) -> Result<PgStream, UpstreamError> {
    let tcp = connect_tcp(addr).await?;
    let Some(connector) = tls else {
        return Ok(PgStream::Plain(tcp));
    };
    match negotiate_tls(tcp, connector).await {
        Err(UpstreamError::Tls(error)) if connector.allows_plaintext() => {
            tracing::debug!(%addr, %error, "TLS to upstream failed; tls = prefer, so trying plaintext");
            Ok(PgStream::Plain(connect_tcp(addr).await?))
        }
        result => result,
    }
}

async fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, UpstreamError> {
    let connect_error = |source| UpstreamError::Connect {
        addr: addr.to_string(),
        source,
    };
    let tcp = TcpStream::connect(addr).await.map_err(connect_error)?;
    // Protocol messages are small and latency-bound; never hold one back waiting for an ACK.
    tcp.set_nodelay(true).map_err(connect_error)?;
    Ok(tcp)
}

/// Sends an SSLRequest and, if the server agrees, runs the TLS handshake.
async fn negotiate_tls(
    mut tcp: TcpStream,
    connector: &UpstreamTlsConnector,
) -> Result<PgStream, UpstreamError> {
    tcp.write_all(&startup::encode_ssl_request()).await?;
    // Exactly one byte: anything the server sent after it must go through the TLS handshake,
    // never be taken as plaintext protocol (CVE-2021-23222).
    let mut answer = [0u8; 1];
    if let Err(e) = tcp.read_exact(&mut answer).await {
        return Err(match e.kind() {
            io::ErrorKind::UnexpectedEof => ProtocolError::Closed.into(),
            _ => e.into(),
        });
    }
    match answer[0] {
        b'S' => connector
            .connect(tcp)
            .await
            .map(PgStream::from)
            .map_err(UpstreamError::Tls),
        b'N' if connector.allows_plaintext() => Ok(PgStream::Plain(tcp)),
        b'N' => Err(UpstreamError::TlsRefused {
            mode: connector.mode().as_str(),
        }),
        // An ErrorResponse instead of an answer (the server could not start a backend).
        b'E' => {
            let mut buf = BytesMut::from(&b"E"[..]);
            let msg = codec::read_message(&mut tcp, &mut buf, MAX_STARTUP_MESSAGE).await?;
            Err(server_error(&msg.body))
        }
        _ => Err(ProtocolError::Malformed {
            what: "SSLRequest answer",
        }
        .into()),
    }
}

/// Answers the server's authentication requests until AuthenticationOk. NoticeResponses on the
/// way are kept in `notices`.
async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    cfg: &PostgresUpstream,
    notices: &mut Vec<Message>,
) -> Result<(), UpstreamError> {
    let mut scram: Option<ScramSha256> = None;
    let mut out = BytesMut::new();
    loop {
        let msg = codec::read_message(stream, buf, MAX_STARTUP_MESSAGE).await?;
        match msg.tag {
            b'R' => {}
            b'E' => return Err(server_error(&msg.body)),
            b'N' => {
                notices.push(msg);
                continue;
            }
            // NegotiateProtocolVersion: informational, the server carries on with 3.0.
            b'v' => continue,
            tag => return Err(UpstreamError::Unexpected(tag as char)),
        }
        let (code, data) = msg
            .body
            .split_first_chunk::<4>()
            .map(|(code, data)| (i32::from_be_bytes(*code), data))
            .ok_or(ProtocolError::Malformed {
                what: "authentication request",
            })?;
        match code {
            AUTH_OK => return Ok(()),
            AUTH_CLEARTEXT => password_message(password(cfg)?.as_bytes(), &mut out)?,
            AUTH_MD5 => {
                let salt: [u8; 4] = data.try_into().map_err(|_| ProtocolError::Malformed {
                    what: "AuthenticationMD5Password",
                })?;
                let hash = md5_hash(cfg.user.as_bytes(), password(cfg)?.as_bytes(), salt);
                password_message(hash.as_bytes(), &mut out)?;
            }
            AUTH_SASL => {
                let offered = sasl_mechanisms(data)?;
                if !offered.iter().any(|m| m == SCRAM_SHA_256) {
                    return Err(UpstreamError::UnsupportedAuth(format!(
                        "SASL mechanisms {}",
                        offered.join(", ")
                    )));
                }
                // jitgate does not bind to the TLS channel, so it must not claim it could.
                let client =
                    ScramSha256::new(password(cfg)?.as_bytes(), ChannelBinding::unsupported());
                frontend::sasl_initial_response(SCRAM_SHA_256, client.message(), &mut out)
                    .map_err(|e| UpstreamError::Auth(e.to_string()))?;
                scram = Some(client);
            }
            AUTH_SASL_CONTINUE => {
                let client = scram.take().ok_or(UpstreamError::Auth(
                    "SASLContinue without a SASL exchange".into(),
                ))?;
                let client = scram_update(client, data.to_vec()).await?;
                frontend::sasl_response(client.message(), &mut out)
                    .map_err(|e| UpstreamError::Auth(e.to_string()))?;
                scram = Some(client);
            }
            AUTH_SASL_FINAL => {
                let mut client = scram.take().ok_or(UpstreamError::Auth(
                    "SASLFinal without a SASL exchange".into(),
                ))?;
                // This proves the server knew the password too; AuthenticationOk comes next.
                client
                    .finish(data)
                    .map_err(|e| UpstreamError::Auth(format!("SCRAM: {e}")))?;
                continue;
            }
            other => return Err(UpstreamError::UnsupportedAuth(auth_method_name(other))),
        }
        stream.write_all(&out).await?;
        out.clear();
        stream.flush().await?;
    }
}

fn password(cfg: &PostgresUpstream) -> Result<&str, UpstreamError> {
    cfg.password
        .as_ref()
        .map(|p| p.expose())
        .ok_or(UpstreamError::PasswordRequired)
}

fn password_message(password: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
    frontend::password_message(password, out).map_err(|e| UpstreamError::Auth(e.to_string()))
}

/// Runs the SCRAM key derivation (thousands of HMAC rounds) off the async threads.
async fn scram_update(
    mut client: ScramSha256,
    server_first: Vec<u8>,
) -> Result<ScramSha256, UpstreamError> {
    tokio::task::spawn_blocking(move || client.update(&server_first).map(|()| client))
        .await
        .map_err(|e| UpstreamError::Auth(e.to_string()))?
        .map_err(|e| UpstreamError::Auth(format!("SCRAM: {e}")))
}

/// The NUL-terminated mechanism names of AuthenticationSASL.
fn sasl_mechanisms(mut data: &[u8]) -> Result<Vec<String>, UpstreamError> {
    let mut names = Vec::new();
    loop {
        let name = codec::take_cstr(&mut data, "AuthenticationSASL")?;
        if name.is_empty() {
            return Ok(names);
        }
        names.push(String::from_utf8_lossy(name).into_owned());
    }
}

fn auth_method_name(code: i32) -> String {
    match code {
        2 => "Kerberos V5".into(),
        6 => "SCM credentials".into(),
        7 | 8 => "GSSAPI".into(),
        9 => "SSPI".into(),
        other => format!("authentication request code {other}"),
    }
}

/// Reads what follows AuthenticationOk up to ReadyForQuery; returns the backend key and the
/// transaction status.
async fn read_until_ready<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    startup_messages: &mut Vec<Message>,
) -> Result<((i32, i32), u8), UpstreamError> {
    let mut backend_key = (0, 0);
    loop {
        let msg = codec::read_message(stream, buf, MAX_STARTUP_MESSAGE).await?;
        match msg.tag {
            b'S' | b'N' => startup_messages.push(msg),
            b'K' => {
                let key: [u8; 8] =
                    msg.body[..]
                        .try_into()
                        .map_err(|_| ProtocolError::Malformed {
                            what: "BackendKeyData",
                        })?;
                let (pid, secret) = key.split_at(4);
                backend_key = (
                    i32::from_be_bytes([pid[0], pid[1], pid[2], pid[3]]),
                    i32::from_be_bytes([secret[0], secret[1], secret[2], secret[3]]),
                );
            }
            b'Z' => {
                let [status] = msg.body[..] else {
                    return Err(ProtocolError::Malformed {
                        what: "ReadyForQuery",
                    }
                    .into());
                };
                return Ok((backend_key, status));
            }
            b'E' => return Err(server_error(&msg.body)),
            b'v' => {}
            tag => return Err(UpstreamError::Unexpected(tag as char)),
        }
    }
}

/// An ErrorResponse body as an error.
fn server_error(body: &[u8]) -> UpstreamError {
    let field = |code: u8| {
        backend::fields(body)
            .find(|(c, _)| *c == code)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    UpstreamError::Server {
        // V is the untranslated severity; S may be in the server's language.
        severity: field(b'V')
            .or_else(|| field(b'S'))
            .unwrap_or_else(|| "ERROR".into()),
        sqlstate: field(b'C').unwrap_or_else(|| "XX000".into()),
        message: field(b'M').unwrap_or_default(),
    }
}

/// Asks the upstream at `server_addr` to cancel whatever the session with `backend_key` is
/// running, on a connection of its own, encrypted as `tls` asks (`prefer`: TLS if the server
/// takes it, else plaintext).
///
/// Returns once the server has closed that connection, which it does after handling the
/// request. Success does not mean anything was cancelled: the server never says.
pub async fn cancel(
    server_addr: SocketAddr,
    tls: Option<&UpstreamTlsConnector>,
    backend_key: (i32, i32),
) -> Result<(), UpstreamError> {
    match tokio::time::timeout(CANCEL_TIMEOUT, send_cancel(server_addr, tls, backend_key)).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout {
            addr: server_addr.to_string(),
            timeout: CANCEL_TIMEOUT,
        }),
    }
}

async fn send_cancel(
    server_addr: SocketAddr,
    tls: Option<&UpstreamTlsConnector>,
    (process_id, secret_key): (i32, i32),
) -> Result<(), UpstreamError> {
    let mut stream = open(server_addr, tls).await?;
    stream
        .write_all(&startup::encode_cancel(process_id, secret_key))
        .await?;
    stream.flush().await?;
    // The server answers nothing and closes; an error here (a TLS close without close_notify)
    // means the same.
    let mut sink = [0u8; 64];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PostgresUpstream {
        PostgresUpstream {
            host: "127.0.0.1".into(),
            port: 5432,
            database: "app".into(),
            user: "svc".into(),
            password: None,
            tls: jitgate_config::model::UpstreamTls {
                mode: jitgate_config::model::UpstreamTlsMode::Disable,
                ca_file: None,
                server_name: None,
            },
            connect_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn startup_packet_keeps_our_user_and_database() {
        let params = vec![
            ("user".to_string(), "mallory".to_string()),
            ("database".to_string(), "other".to_string()),
            ("replication".to_string(), "true".to_string()),
            ("application_name".to_string(), "psql".to_string()),
            ("bad\0key".to_string(), "x".to_string()),
        ];
        let packet = startup_packet(&cfg(), &params);
        let startup::StartupRequest::Startup(p) = startup::parse_startup(&packet[4..]).unwrap()
        else {
            panic!("not a StartupMessage");
        };
        assert_eq!(
            p.params,
            vec![
                ("user".to_string(), "svc".to_string()),
                ("database".to_string(), "app".to_string()),
                ("application_name".to_string(), "psql".to_string()),
            ]
        );
    }

    #[test]
    fn error_responses_become_errors() {
        let mut out = BytesMut::new();
        backend::error_response(
            &mut out,
            backend::Severity::Fatal,
            SqlState::INVALID_PASSWORD,
            "nope",
        );
        let err = server_error(&out[5..]);
        assert_eq!(err.sqlstate(), Some(SqlState::INVALID_PASSWORD));
        assert!(err.to_string().contains("FATAL 28P01: nope"), "{err}");
        // Garbage never panics.
        let _ = server_error(b"C2");
        let _ = server_error(b"");
    }

    #[test]
    fn sasl_mechanism_lists() {
        assert_eq!(
            sasl_mechanisms(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0").unwrap(),
            vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        );
        assert!(sasl_mechanisms(b"SCRAM-SHA-256").is_err());
    }

    /// A scripted server: reads the StartupMessage, then sends `script` and closes.
    async fn scripted(script: Vec<u8>) -> Result<UpstreamConn, UpstreamError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = cfg();
        cfg.port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let _ = startup::read_startup(&mut tcp).await;
            let _ = tcp.write_all(&script).await;
            let _ = tcp.shutdown().await;
            // Drain until the client goes, so nothing it sent is reset.
            let mut sink = [0u8; 256];
            while let Ok(n) = tcp.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let result = connect(&cfg, None, &[]).await;
        server.abort();
        result
    }

    fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[tokio::test]
    async fn trust_login_collects_start_up_messages() {
        let mut script = tagged(b'R', &0i32.to_be_bytes());
        script.extend(tagged(b'S', b"server_version\x0016.0\0"));
        script.extend(tagged(b'N', b"SNOTICE\0Mhello\0\0"));
        script.extend(tagged(b'K', &[0, 0, 0, 42, 0xff, 0xff, 0xff, 0xfe]));
        script.extend(tagged(b'Z', b"I"));
        script.extend(b"extra");
        let conn = scripted(script).await.unwrap();
        assert_eq!(conn.backend_key, (42, -2));
        assert_eq!(conn.transaction_status, b'I');
        let tags: Vec<u8> = conn.startup_messages.iter().map(|m| m.tag).collect();
        assert_eq!(tags, b"SN");
        assert_eq!(
            &conn.startup_messages[0].body[..],
            b"server_version\x0016.0\0"
        );
        assert_eq!(&conn.read_buf[..], b"extra");
    }

    #[tokio::test]
    async fn malformed_start_up_is_an_error_not_a_panic() {
        let cases = [
            tagged(b'R', b"\0\0"),
            tagged(b'R', &5i32.to_be_bytes()),
            tagged(b'R', &12i32.to_be_bytes()),
            tagged(b'R', &11i32.to_be_bytes()),
            tagged(b'Q', b""),
            [tagged(b'R', &0i32.to_be_bytes()), tagged(b'K', b"1234")].concat(),
            [tagged(b'R', &0i32.to_be_bytes()), tagged(b'Z', b"")].concat(),
            vec![b'R', 0, 0, 0, 2],
            vec![b'R', 0xff, 0xff, 0xff, 0xff],
            tagged(b'R', &0i32.to_be_bytes()),
        ];
        for script in cases {
            let result = scripted(script.clone()).await;
            assert!(result.is_err(), "{script:?}");
        }
    }

    #[tokio::test]
    async fn a_password_request_without_a_password_is_an_error() {
        for code in [AUTH_CLEARTEXT, AUTH_MD5] {
            let mut body = code.to_be_bytes().to_vec();
            body.extend_from_slice(b"salt");
            let script = tagged(b'R', if code == AUTH_MD5 { &body } else { &body[..4] });
            let result = scripted(script).await;
            assert!(
                matches!(result, Err(UpstreamError::PasswordRequired)),
                "{result:?}"
            );
        }
    }

    #[tokio::test]
    async fn scram_plus_alone_is_unsupported() {
        let mut body = AUTH_SASL.to_be_bytes().to_vec();
        body.extend_from_slice(b"SCRAM-SHA-256-PLUS\0\0");
        let mut cfg_with_password = cfg();
        cfg_with_password.password = Some(jitgate_config::model::Secret::new("pw".into(), "test"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg_with_password.port = listener.local_addr().unwrap().port();
        let script = tagged(b'R', &body);
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let _ = startup::read_startup(&mut tcp).await;
            let _ = tcp.write_all(&script).await;
            tcp
        });
        let result = connect(&cfg_with_password, None, &[]).await;
        assert!(
            matches!(result, Err(UpstreamError::UnsupportedAuth(_))),
            "{result:?}"
        );
        drop(server.await);
    }

    #[tokio::test]
    async fn connect_times_out() {
        // A listener that never answers the StartupMessage.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = cfg();
        cfg.port = listener.local_addr().unwrap().port();
        cfg.connect_timeout = Duration::from_millis(200);
        let result = connect(&cfg, None, &[]).await;
        assert!(
            matches!(result, Err(UpstreamError::Timeout { .. })),
            "{result:?}"
        );
        drop(listener);
    }
}
