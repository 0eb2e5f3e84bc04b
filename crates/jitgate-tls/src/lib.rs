//! jitgate's TLS server identity: the certificate chain and key of `[server.tls]`, loaded from
//! PEM files, as one acceptor per front (each front names the ALPN protocol its clients
//! expect: `postgresql`, `h2`); and, in [`client`], TLS towards PostgreSQL servers with libpq's
//! `sslmode` semantics; in [`sniff`], one port for TLS and plaintext clients.
//!
//! Every config is built on the ring provider explicitly, so nothing depends on which crypto
//! provider happens to be installed process-wide.

pub mod client;
pub mod sniff;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jitgate_config::model::{ClientTls, ClientTlsMode};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS is on but `{0}` is not set")]
    MissingSetting(&'static str),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not valid PEM: {source}", path.display())]
    Pem { path: PathBuf, source: io::Error },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, RSA or SEC1)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("no certificate in {} could be used as a trusted root", path.display())]
    NoUsableRoot { path: PathBuf },
    #[error("`{0}` is not a valid server name to verify the certificate against")]
    InvalidServerName(String),
    #[error("certificate {cert} and key {key} cannot be used together: {source}")]
    CertKey {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider of every TLS config jitgate builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The acceptor for clients' TLS with `[server.tls]`'s certificate, offering `alpn`; `None`
/// when its mode is `off`.
pub fn server_acceptor(cfg: &ClientTls, alpn: &[u8]) -> Result<Option<TlsAcceptor>, TlsSetupError> {
    if cfg.mode == ClientTlsMode::Off {
        return Ok(None);
    }
    let cert_path = cfg
        .cert
        .as_deref()
        .ok_or(TlsSetupError::MissingSetting("server.tls.cert"))?;
    let key_path = cfg
        .key
        .as_deref()
        .ok_or(TlsSetupError::MissingSetting("server.tls.key"))?;
    let chain = load_certs(cert_path)?;
    let key = load_key(key_path)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsSetupError::CertKey {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
            source,
        })?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file, in order (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read_pem_file(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsSetupError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read_pem_file(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsSetupError::Pem {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsSetupError::NoPrivateKey {
            path: path.to_owned(),
        })
}
