//! TLS to the PostgreSQL store with libpq's modes, as the PostgreSQL upstreams have them
//! (`store_tls`, `store_ca_file`, `store_server_name`): rustls behind tokio-postgres's TLS seam.

use jitgate_config::model::{UpstreamTls, UpstreamTlsMode};
use jitgate_tls::client::LibpqTls;
use jitgate_tls::TlsSetupError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The ALPN protocol name PostgreSQL 17 uses; older servers ignore it.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// What the store's connections are made with: no TLS (`disable`) or rustls configured for the
/// mode.
#[derive(Clone, Debug)]
pub struct StoreTls {
    tls: Option<LibpqTls>,
}

impl StoreTls {
    pub fn new(cfg: &UpstreamTls) -> Result<StoreTls, TlsSetupError> {
        Ok(StoreTls {
            tls: LibpqTls::new(cfg, ALPN_POSTGRESQL)?,
        })
    }

    /// What tokio-postgres must do when the server declines TLS: only `prefer` (and `disable`,
    /// which never asks) goes on in plaintext; the verifying modes require TLS.
    pub fn ssl_mode(&self) -> SslMode {
        match self.tls.as_ref().map(LibpqTls::mode) {
            None | Some(UpstreamTlsMode::Disable) => SslMode::Disable,
            Some(UpstreamTlsMode::Prefer) => SslMode::Prefer,
            Some(_) => SslMode::Require,
        }
    }
}

impl<S> MakeTlsConnect<S> for StoreTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = StoreTlsStream<S>;
    type TlsConnect = StoreTlsConnect;
    type Error = io::Error;

    /// Called for every connection, whatever the mode; with `disable` the handshake is never
    /// asked for.
    fn make_tls_connect(&mut self, host: &str) -> io::Result<StoreTlsConnect> {
        let Some(tls) = &self.tls else {
            return Ok(StoreTlsConnect(None));
        };
        let server_name = tls.server_name(host).map_err(io::Error::other)?;
        Ok(StoreTlsConnect(Some((
            TlsConnector::from(tls.config()),
            server_name,
        ))))
    }
}

/// One connection's handshake (none with `disable`).
pub struct StoreTlsConnect(Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>);

impl<S> TlsConnect<S> for StoreTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = StoreTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<StoreTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let Some((connector, server_name)) = self.0 else {
                return Err(io::Error::other("TLS to the store is disabled (store_tls)"));
            };
            let tls = connector.connect(server_name, stream).await?;
            Ok(StoreTlsStream(tls))
        })
    }
}

/// A TLS connection to the store.
pub struct StoreTlsStream<S>(TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for StoreTlsStream<S> {
    /// No channel binding: SCRAM runs as over a plain connection (the modes that verify the
    /// certificate are what keeps a man in the middle out).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for StoreTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for StoreTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
