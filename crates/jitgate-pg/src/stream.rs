//! One connection type for every socket jitgate speaks PostgreSQL over, encrypted or not, so the
//! authentication code and the relay are written once.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP connection, possibly wrapped in TLS.
///
/// The TLS streams are boxed: they are several hundred bytes larger than a `TcpStream`, and a
/// plaintext connection should not pay for them.
#[derive(Debug)]
pub enum PgStream {
    /// No encryption.
    Plain(TcpStream),
    /// A database client's connection, where jitgate is the TLS server.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A connection to the upstream, where jitgate is the TLS client.
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl PgStream {
    /// The TCP socket underneath any TLS.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            PgStream::Plain(s) => s,
            PgStream::ServerTls(s) => s.get_ref().0,
            PgStream::ClientTls(s) => s.get_ref().0,
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, PgStream::Plain(_))
    }

    /// Address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Whether the other end is on this machine (127.0.0.0/8 or ::1, also as an IPv4-mapped
    /// address), where a cleartext password cannot be sniffed off the network. False when the
    /// address cannot be read.
    pub fn peer_is_loopback(&self) -> bool {
        match self.peer_addr() {
            Ok(addr) => is_loopback(addr),
            Err(_) => false,
        }
    }
}

/// Loopback test that also sees through IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`), which a
/// dual-stack listener reports for IPv4 clients.
fn is_loopback(addr: SocketAddr) -> bool {
    match addr {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => v4.is_loopback(),
            None => a.ip().is_loopback(),
        },
    }
}

impl From<TcpStream> for PgStream {
    fn from(tcp: TcpStream) -> Self {
        PgStream::Plain(tcp)
    }
}

impl From<tokio_rustls::server::TlsStream<TcpStream>> for PgStream {
    fn from(tls: tokio_rustls::server::TlsStream<TcpStream>) -> Self {
        PgStream::ServerTls(Box::new(tls))
    }
}

impl From<tokio_rustls::client::TlsStream<TcpStream>> for PgStream {
    fn from(tls: tokio_rustls::client::TlsStream<TcpStream>) -> Self {
        PgStream::ClientTls(Box::new(tls))
    }
}

/// Calls `$method` on whichever stream is inside, pinned (all of them are `Unpin`).
macro_rules! delegate {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match $self.get_mut() {
            PgStream::Plain(s) => Pin::new(s).$method($($arg),*),
            PgStream::ServerTls(s) => Pin::new(s.as_mut()).$method($($arg),*),
            PgStream::ClientTls(s) => Pin::new(s.as_mut()).$method($($arg),*),
        }
    };
}

impl AsyncRead for PgStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for PgStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PgStream::Plain(s) => s.is_write_vectored(),
            PgStream::ServerTls(s) => s.is_write_vectored(),
            PgStream::ClientTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn loopback_includes_mapped_ipv4() {
        assert!(is_loopback("127.0.0.1:5432".parse().unwrap()));
        assert!(is_loopback("127.3.2.1:5432".parse().unwrap()));
        assert!(is_loopback("[::1]:5432".parse().unwrap()));
        assert!(is_loopback("[::ffff:127.0.0.1]:5432".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1:5432".parse().unwrap()));
        assert!(!is_loopback("[::ffff:10.0.0.1]:5432".parse().unwrap()));
        assert!(!is_loopback("[2001:db8::1]:5432".parse().unwrap()));
    }

    #[tokio::test]
    async fn plain_stream_relays_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = PgStream::from(TcpStream::connect(addr).await.unwrap());
            assert!(s.peer_is_loopback());
            assert!(!s.is_tls());
            s.write_all(b"ping").await.unwrap();
            s.flush().await.unwrap();
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = PgStream::from(tcp);
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        client.await.unwrap();
    }
}
