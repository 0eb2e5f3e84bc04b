//! jitgate's own connections to the upstream: TLS as the resource's `tls` mode says (negotiated
//! in the handshake), the service account's login (native and caching_sha2 passwords, MariaDB's
//! ed25519, with the server's auth switch), small queries of its own, and `KILL QUERY` over a second connection
//! when a session must end mid-statement.

use std::time::Duration;

use jitgate_config::model::UpstreamTlsMode;
use jitgate_tls::client::LibpqTls;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use crate::auth;
use crate::packet::{PacketError, PacketReader, PacketWriter};
use crate::wire::{self, cap, com, Greeting, HandshakeResponse};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to {0}: timed out")]
    Timeout(String),
    #[error("{0}")]
    Packet(#[from] PacketError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the upstream sent a greeting jitgate cannot read")]
    Greeting,
    #[error("the upstream refused the login of the service account: {0}")]
    Refused(String),
    #[error("the upstream asks for authentication jitgate does not speak: {0}")]
    Unsupported(String),
    #[error("the upstream answered out of protocol")]
    Protocol,
    #[error("the upstream does not offer TLS (CLIENT_SSL), which tls = \"{0}\" requires")]
    NoTls(&'static str),
    #[error("TLS with the upstream: {0}")]
    Tls(std::io::Error),
    #[error("the upstream refused a statement of jitgate's: {0}")]
    Statement(String),
}

/// Where and as whom jitgate logs in upstream.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    pub addr: String,
    /// The host name the certificate is checked against (unless `server_name` says otherwise).
    pub host: String,
    /// `None` for `tls = "disable"`.
    pub tls: Option<LibpqTls>,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub connect_timeout: Duration,
}

impl UpstreamTarget {
    pub fn new(
        c: &jitgate_config::MySqlUpstream,
    ) -> Result<UpstreamTarget, jitgate_tls::TlsSetupError> {
        // MySQL servers negotiate no ALPN protocol.
        let tls = LibpqTls::new(&c.tls, b"")?;
        let host = if c.host.contains(':') {
            format!("[{}]", c.host)
        } else {
            c.host.clone()
        };
        Ok(UpstreamTarget {
            addr: format!("{host}:{}", c.port),
            host: c.host.clone(),
            tls,
            user: c.user.clone(),
            password: c.password.as_ref().map(|p| p.expose().to_owned()),
            database: c.database.clone(),
            connect_timeout: c.connect_timeout,
        })
    }
}

/// Largest packet of a login exchange or of jitgate's own small queries.
const LOGIN_MAX: usize = 64 * 1024;

/// The upstream's stream, plain or TLS.
pub type UpstreamIo = Box<dyn Duplex>;

pub trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Duplex for T {}

type Reader = PacketReader<ReadHalf<UpstreamIo>>;
type Writer = PacketWriter<WriteHalf<UpstreamIo>>;

/// A logged-in upstream connection.
pub struct UpstreamConn {
    pub reader: Reader,
    pub writer: Writer,
    /// The upstream's id of this connection (for KILL).
    pub thread_id: u32,
}

async fn dial(target: &UpstreamTarget) -> Result<TcpStream, UpstreamError> {
    let connect = TcpStream::connect(&target.addr);
    let tcp = tokio::time::timeout(target.connect_timeout, connect)
        .await
        .map_err(|_| UpstreamError::Timeout(target.addr.clone()))?
        .map_err(|source| UpstreamError::Connect {
            addr: target.addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The upstream's greeting (version, capabilities, character set): what jitgate's own greeting
/// to clients repeats. The connection is closed without logging in.
pub async fn probe(target: &UpstreamTarget) -> Result<Greeting, UpstreamError> {
    let tcp = dial(target).await?;
    let mut reader = PacketReader::new(tcp, LOGIN_MAX);
    let first = reader.next().await?;
    if first.first() == 0xff {
        return Err(UpstreamError::Refused(message_of(&first.payload)));
    }
    Greeting::parse(&first.payload).ok_or(UpstreamError::Greeting)
}

/// Logs in as the service account with the client's `capabilities` (those jitgate relays) and
/// character set, in `database`.
pub async fn connect(
    target: &UpstreamTarget,
    capabilities: u32,
    charset: u8,
    database: &[u8],
) -> Result<UpstreamConn, UpstreamError> {
    let tcp = dial(target).await?;
    let mut greeting_reader = PacketReader::new(tcp, LOGIN_MAX);
    let first = greeting_reader.next().await?;
    if first.first() == 0xff {
        return Err(UpstreamError::Refused(message_of(&first.payload)));
    }
    let greeting = Greeting::parse(&first.payload).ok_or(UpstreamError::Greeting)?;
    let (tcp, early) = greeting_reader.into_inner();
    if !early.is_empty() {
        // The server speaks only after jitgate's answer; bytes now would be lost to TLS.
        return Err(UpstreamError::Protocol);
    }
    let caps = (capabilities & cap::RELAYED & greeting.capabilities & !cap::CONNECT_WITH_DB)
        | cap::REQUIRED
        | (greeting.capabilities & cap::PLUGIN_AUTH_LENENC)
        | cap::CONNECT_WITH_DB;
    let mut seq = first.seq.wrapping_add(1);
    let (io, encrypted) = secure(target, tcp, &greeting, caps, charset, seq).await?;
    let caps = if encrypted {
        seq = seq.wrapping_add(1);
        caps | cap::SSL
    } else {
        caps
    };
    let (r, w) = tokio::io::split(io);
    let mut reader = PacketReader::new(r, LOGIN_MAX);
    let mut writer = PacketWriter::new(w);
    let password = target.password.as_deref().unwrap_or("").as_bytes();
    let plugin = match greeting.plugin.as_slice() {
        p @ (auth::NATIVE | auth::CACHING_SHA2) => p.to_vec(),
        _ => auth::NATIVE.to_vec(),
    };
    let auth = auth::proof(&plugin, password, &greeting.scramble).unwrap_or_default();
    let response = HandshakeResponse {
        capabilities: caps,
        max_packet: MAX_PACKET,
        charset,
        user: target.user.as_bytes().to_vec(),
        auth,
        database: Some(database.to_vec()),
        plugin,
    };
    writer.send(seq, &response.encode()).await?;
    writer.flush().await?;
    // The service password goes in clear (caching_sha2's full authentication) only to a server
    // whose certificate was checked: under `prefer`/`require` anyone in the path could be it.
    let verified = encrypted && target.tls.as_ref().is_some_and(|t| t.mode().verifies());
    authenticate(&mut reader, &mut writer, password, verified).await?;
    reader.set_max(crate::packet::MAX_PAYLOAD);
    Ok(UpstreamConn {
        reader,
        writer,
        thread_id: greeting.connection_id,
    })
}

/// The `max_packet` jitgate announces upstream.
const MAX_PACKET: u32 = 1 << 24;

/// TLS as the resource's mode asks: the plain stream (`disable`, or `prefer` with a server
/// that offers no TLS), or the SSLRequest (packet `seq`) sent and the TLS stream; with whether
/// it is encrypted.
async fn secure(
    target: &UpstreamTarget,
    mut tcp: TcpStream,
    greeting: &Greeting,
    caps: u32,
    charset: u8,
    seq: u8,
) -> Result<(UpstreamIo, bool), UpstreamError> {
    let Some(tls) = &target.tls else {
        return Ok((Box::new(tcp), false));
    };
    if greeting.capabilities & cap::SSL == 0 {
        return match tls.mode() {
            UpstreamTlsMode::Prefer => Ok((Box::new(tcp), false)),
            mode => Err(UpstreamError::NoTls(mode.as_str())),
        };
    }
    let name = tls
        .server_name(&target.host)
        .map_err(|e| UpstreamError::Tls(std::io::Error::other(e)))?;
    let mut request = PacketWriter::new(&mut tcp);
    request
        .send(seq, &ssl_request(caps | cap::SSL, charset))
        .await?;
    request.flush().await?;
    let connector = tokio_rustls::TlsConnector::from(tls.config());
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(UpstreamError::Tls)?;
    Ok((Box::new(stream), true))
}

/// The SSLRequest: the first 32 bytes of a HandshakeResponse, with CLIENT_SSL set.
fn ssl_request(caps: u32, charset: u8) -> Vec<u8> {
    let mut p = Vec::with_capacity(32);
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&MAX_PACKET.to_le_bytes());
    p.push(charset);
    p.extend_from_slice(&[0; 23]);
    p
}

/// Follows the server through auth switches and caching_sha2's extra round to OK or ERR.
async fn authenticate(
    reader: &mut Reader,
    writer: &mut Writer,
    password: &[u8],
    verified: bool,
) -> Result<(), UpstreamError> {
    for _ in 0..4 {
        let p = reader.next().await?;
        match p.payload.as_ref() {
            [0x00, ..] => return Ok(()),
            [0xff, ..] => return Err(UpstreamError::Refused(message_of(&p.payload))),
            [0xfe, rest @ ..] => {
                let mut r = wire::Reader::new(rest);
                let plugin = r.nul_str().to_vec();
                let scramble = auth::switch_scramble(&plugin, r.rest());
                let proof = auth::proof(&plugin, password, scramble).ok_or_else(|| {
                    UpstreamError::Unsupported(String::from_utf8_lossy(&plugin).into_owned())
                })?;
                writer.send(p.seq.wrapping_add(1), &proof).await?;
                writer.flush().await?;
            }
            // caching_sha2: the fast path succeeded; OK follows.
            [0x01, 0x03] => continue,
            // caching_sha2's full authentication: the password in clear, as MySQL's clients
            // send it, but only inside TLS to a server whose certificate was checked.
            [0x01, 0x04] if verified => {
                let mut clear = password.to_vec();
                clear.push(0);
                writer.send(p.seq.wrapping_add(1), &clear).await?;
                writer.flush().await?;
            }
            [0x01, 0x04] => {
                return Err(UpstreamError::Unsupported(
                    "caching_sha2_password full authentication needs TLS with a checked \
                     certificate (tls = \"verify-ca\" or \"verify-full\"; without it the password \
                     would go in clear to a server nobody verified), or give the service account \
                     mysql_native_password"
                        .into(),
                ))
            }
            _ => return Err(UpstreamError::Protocol),
        }
    }
    Err(UpstreamError::Protocol)
}

/// The text of an ERR packet, for logs and the audit trail (never shown to clients).
pub fn message_of(payload: &[u8]) -> String {
    let text = match payload {
        [0xff, _, _, b'#', _, _, _, _, _, rest @ ..] => rest,
        [0xff, _, _, rest @ ..] => rest,
        other => other,
    };
    String::from_utf8_lossy(text).into_owned()
}

impl UpstreamConn {
    /// Runs one statement of jitgate's own and returns the first column of its rows (text
    /// protocol; small results only).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Option<Vec<u8>>>, UpstreamError> {
        let mut payload = vec![com::QUERY];
        payload.extend_from_slice(sql.as_bytes());
        self.writer.send(0, &payload).await?;
        self.writer.flush().await?;
        let first = self.reader.next().await?;
        match first.first() {
            0x00 => return Ok(Vec::new()),
            0xff => return Err(UpstreamError::Statement(message_of(&first.payload))),
            _ => {}
        }
        let mut phase_eofs = 0;
        let mut values = Vec::new();
        loop {
            let p = self.reader.next().await?;
            if p.first() == 0xff {
                return Err(UpstreamError::Statement(message_of(&p.payload)));
            }
            if wire::is_eof(&p.payload) {
                phase_eofs += 1;
                if phase_eofs == 2 {
                    return Ok(values);
                }
                continue;
            }
            if phase_eofs == 1 {
                let mut r = wire::Reader::new(&p.payload);
                values.push(match p.first() {
                    0xfb => None,
                    _ => Some(r.lenenc_bytes().ok_or(UpstreamError::Protocol)?.to_vec()),
                });
            }
        }
    }

    /// Says goodbye (COM_QUIT) and closes.
    pub async fn quit(mut self) {
        let _ = self.writer.send(0, &[com::QUIT]).await;
        self.writer.shutdown().await;
    }
}

/// Stops what connection `thread_id` runs, over a connection of its own.
pub async fn kill_query(target: &UpstreamTarget, thread_id: u32) -> Result<(), UpstreamError> {
    let mut conn = connect(target, cap::RELAYED, 45, target.database.as_bytes()).await?;
    let done = conn.query(&format!("KILL QUERY {thread_id}")).await;
    conn.quit().await;
    done.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SSLRequest is the first 32 bytes of the HandshakeResponse that follows it inside TLS
    /// (the server reads it as a truncated response), with CLIENT_SSL set.
    #[test]
    fn the_ssl_request_is_the_handshake_responses_prefix() {
        let caps = cap::REQUIRED | cap::CONNECT_WITH_DB | cap::SSL;
        let request = ssl_request(caps, 45);
        let response = HandshakeResponse {
            capabilities: caps,
            max_packet: MAX_PACKET,
            charset: 45,
            user: b"svc".to_vec(),
            auth: vec![1; 20],
            database: Some(b"app".to_vec()),
            plugin: auth::NATIVE.to_vec(),
        }
        .encode();
        assert_eq!(request.len(), 32);
        assert_eq!(&response[..32], request.as_slice());
        let sent = u32::from_le_bytes([request[0], request[1], request[2], request[3]]);
        assert_ne!(sent & cap::SSL, 0);
    }
}

#[cfg(test)]
#[path = "tests_upstream.rs"]
mod tests_upstream;
