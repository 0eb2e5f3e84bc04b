//! TLS for Spark Connect clients, from `[server.tls]` (the same certificate as the PostgreSQL
//! front), with HTTP/2 negotiated by ALPN as gRPC clients require. One port serves both: a
//! connection that opens with a TLS handshake gets TLS, any other is plaintext HTTP/2.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jitgate_config::model::{ClientTls, ClientTlsMode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS is on but `{0}` is not set")]
    MissingSetting(&'static str),
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The acceptor, or `None` when `[server.tls]` mode is `off`.
pub fn acceptor(cfg: &ClientTls) -> Result<Option<TlsAcceptor>, TlsError> {
    if cfg.mode == ClientTlsMode::Off {
        return Ok(None);
    }
    let cert = cfg
        .cert
        .as_deref()
        .ok_or(TlsError::MissingSetting("server.tls.cert"))?;
    let key = cfg
        .key
        .as_deref()
        .ok_or(TlsError::MissingSetting("server.tls.key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(cert)?, private_key(key)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File {
            path: path.to_owned(),
            message: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.to_owned(),
            message: "holds no PEM certificate".into(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| TlsError::File {
            path: path.to_owned(),
            message: format!("not valid PEM: {e}"),
        })?
        .ok_or_else(|| TlsError::File {
            path: path.to_owned(),
            message: "holds no PEM private key".into(),
        })
}
