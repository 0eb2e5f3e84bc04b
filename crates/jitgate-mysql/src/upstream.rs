//! jitgate's own connections to the upstream: the service account's login (native and
//! caching_sha2 passwords, with the server's auth switch), small queries of its own, and
//! `KILL QUERY` over a second connection when a session must end mid-statement.

use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
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
    #[error("the upstream refused a statement of jitgate's: {0}")]
    Statement(String),
}

/// Where and as whom jitgate logs in upstream.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    pub addr: String,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub connect_timeout: Duration,
}

impl UpstreamTarget {
    pub fn new(c: &jitgate_config::MySqlUpstream) -> UpstreamTarget {
        let host = if c.host.contains(':') {
            format!("[{}]", c.host)
        } else {
            c.host.clone()
        };
        UpstreamTarget {
            addr: format!("{host}:{}", c.port),
            user: c.user.clone(),
            password: c.password.as_ref().map(|p| p.expose().to_owned()),
            database: c.database.clone(),
            connect_timeout: c.connect_timeout,
        }
    }
}

/// Largest packet of a login exchange or of jitgate's own small queries.
const LOGIN_MAX: usize = 64 * 1024;

/// A logged-in upstream connection.
pub struct UpstreamConn {
    pub reader: PacketReader<OwnedReadHalf>,
    pub writer: PacketWriter<OwnedWriteHalf>,
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
    let (r, w) = tcp.into_split();
    let mut reader = PacketReader::new(r, LOGIN_MAX);
    let mut writer = PacketWriter::new(w);
    let first = reader.next().await?;
    if first.first() == 0xff {
        return Err(UpstreamError::Refused(message_of(&first.payload)));
    }
    let greeting = Greeting::parse(&first.payload).ok_or(UpstreamError::Greeting)?;
    let password = target.password.as_deref().unwrap_or("").as_bytes();
    let plugin = match greeting.plugin.as_slice() {
        p @ (auth::NATIVE | auth::CACHING_SHA2) => p.to_vec(),
        _ => auth::NATIVE.to_vec(),
    };
    let auth = auth::proof(&plugin, password, &greeting.scramble).unwrap_or_default();
    let caps = (capabilities & cap::RELAYED & greeting.capabilities & !cap::CONNECT_WITH_DB)
        | cap::REQUIRED
        | (greeting.capabilities & cap::PLUGIN_AUTH_LENENC)
        | cap::CONNECT_WITH_DB;
    let response = HandshakeResponse {
        capabilities: caps,
        max_packet: 1 << 24,
        charset,
        user: target.user.as_bytes().to_vec(),
        auth,
        database: Some(database.to_vec()),
        plugin,
    };
    writer
        .send(first.seq.wrapping_add(1), &response.encode())
        .await?;
    writer.flush().await?;
    authenticate(&mut reader, &mut writer, password).await?;
    reader.set_max(crate::packet::MAX_PAYLOAD);
    Ok(UpstreamConn {
        reader,
        writer,
        thread_id: greeting.connection_id,
    })
}

/// Follows the server through auth switches and caching_sha2's extra round to OK or ERR.
async fn authenticate(
    reader: &mut PacketReader<OwnedReadHalf>,
    writer: &mut PacketWriter<OwnedWriteHalf>,
    password: &[u8],
) -> Result<(), UpstreamError> {
    for _ in 0..4 {
        let p = reader.next().await?;
        match p.payload.as_ref() {
            [0x00, ..] => return Ok(()),
            [0xff, ..] => return Err(UpstreamError::Refused(message_of(&p.payload))),
            [0xfe, rest @ ..] => {
                let mut r = wire::Reader::new(rest);
                let plugin = r.nul_str().to_vec();
                let data = r.rest();
                let scramble = data.strip_suffix(&[0]).unwrap_or(data);
                let proof = auth::proof(&plugin, password, scramble).ok_or_else(|| {
                    UpstreamError::Unsupported(String::from_utf8_lossy(&plugin).into_owned())
                })?;
                writer.send(p.seq.wrapping_add(1), &proof).await?;
                writer.flush().await?;
            }
            // caching_sha2: the fast path succeeded; OK follows.
            [0x01, 0x03] => continue,
            [0x01, 0x04] => {
                return Err(UpstreamError::Unsupported(
                    "caching_sha2_password full authentication (it needs TLS or RSA; log in once \
                     over TLS or give the service account mysql_native_password)"
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
