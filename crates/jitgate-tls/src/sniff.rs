//! One port for TLS and plaintext clients (the HTTP fronts: Spark Connect, Databricks SQL): a
//! connection whose first byte opens a TLS handshake record gets TLS, any other is plaintext.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// A connection ready for its protocol, with or without TLS.
pub enum Opened {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// Reads (without taking) the connection's first byte within `within`, and when it opens a TLS
/// handshake, completes the handshake with `acceptor` within `within` again. `None` (the
/// connection is to be closed) when no byte came in time, the handshake failed or timed out, or
/// a TLS client came where no TLS is configured: nothing it could understand can be said.
/// `front` names the protocol in log lines.
pub async fn open(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<&TlsAcceptor>,
    within: Duration,
    front: &str,
) -> Option<Opened> {
    let mut first = [0u8; 1];
    let is_tls = match tokio::time::timeout(within, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE,
        _ => return None,
    };
    match (acceptor, is_tls) {
        (Some(acceptor), true) => match tokio::time::timeout(within, acceptor.accept(stream)).await
        {
            Ok(Ok(tls)) => Some(Opened::Tls(Box::new(tls))),
            Ok(Err(e)) => {
                tracing::debug!(%peer, "{front} TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "{front} TLS handshake timed out");
                None
            }
        },
        (None, true) => {
            tracing::debug!(%peer, "{front} TLS handshake refused: [server.tls] is off");
            None
        }
        (_, false) => Some(Opened::Plain(stream)),
    }
}
