//! TLS towards a PostgreSQL or MySQL server with libpq's `sslmode` semantics: what the
//! PostgreSQL and MySQL upstreams and the PostgreSQL control-plane store connect with.
//!
//! * `prefer` and `require` encrypt without checking who is at the other end, as libpq does.
//! * `verify-ca` checks the certificate chain against `ca_file` (default: the system's roots)
//!   but not the name in it.
//! * `verify-full` checks the chain and that the certificate names `server_name` (default: the
//!   host connected to).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use jitgate_config::model::{UpstreamTls, UpstreamTlsMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{load_certs, provider, TlsSetupError};

/// A client TLS configuration for one `sslmode` (never `disable`), and the name to verify.
#[derive(Clone)]
pub struct LibpqTls {
    mode: UpstreamTlsMode,
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for LibpqTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibpqTls")
            .field("mode", &self.mode)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl LibpqTls {
    /// The configuration for `cfg`'s mode offering `alpn` (none when empty: MySQL servers
    /// negotiate none), or `None` when the mode is `disable`.
    pub fn new(cfg: &UpstreamTls, alpn: &[u8]) -> Result<Option<LibpqTls>, TlsSetupError> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match cfg.mode {
            UpstreamTlsMode::Disable => return Ok(None),
            UpstreamTlsMode::Prefer | UpstreamTlsMode::Require => Arc::new(LibpqVerifier {
                check: Check::EncryptOnly,
                algorithms,
            }),
            UpstreamTlsMode::VerifyCa => Arc::new(LibpqVerifier {
                check: Check::ChainOnly(Arc::new(trusted_roots(cfg.ca_file.as_deref())?)),
                algorithms,
            }),
            UpstreamTlsMode::VerifyFull => {
                let roots = Arc::new(trusted_roots(cfg.ca_file.as_deref())?);
                WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?
            }
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        if !alpn.is_empty() {
            config.alpn_protocols = vec![alpn.to_vec()];
        }
        Ok(Some(LibpqTls {
            mode: cfg.mode,
            config: Arc::new(config),
            server_name: cfg.server_name.clone(),
        }))
    }

    pub fn mode(&self) -> UpstreamTlsMode {
        self.mode
    }

    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// The name the certificate is checked against when connecting to `host`: the configured
    /// `server_name`, else `host`. Only `verify-full` needs it to be valid; the other modes only
    /// send it as SNI, and an address (or a name rustls cannot parse) sends none.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsSetupError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        match ServerName::try_from(name.to_owned()) {
            Ok(n) => Ok(n),
            Err(_) if self.mode == UpstreamTlsMode::VerifyFull => {
                Err(TlsSetupError::InvalidServerName(name.to_owned()))
            }
            Err(_) => Ok(ServerName::IpAddress(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED).into(),
            )),
        }
    }
}

/// Roots from `ca_file`, or the system's, or (when the system has none) Mozilla's via webpki-roots.
fn trusted_roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_file {
        let (added, _ignored) = roots.add_parsable_certificates(load_certs(path)?);
        if added == 0 {
            return Err(TlsSetupError::NoUsableRoot {
                path: path.to_owned(),
            });
        }
        return Ok(roots);
    }
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "while loading the system's trusted roots");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::info!("no system trusted roots found; using the webpki-roots bundle");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// What `prefer`/`require` and `verify-ca` check of the server's certificate (`verify-full` is
/// rustls' own WebPKI verifier). In every mode the handshake signatures are checked, so the
/// server must hold the key of the certificate it sent.
#[derive(Debug)]
enum Check {
    /// `prefer`/`require`: any certificate is taken, as libpq does in these modes: what is not
    /// checked is who vouches for the key.
    EncryptOnly,
    /// `verify-ca`: the chain must lead to a trusted root, whatever name the certificate carries.
    ChainOnly(Arc<RootCertStore>),
}

#[derive(Debug)]
struct LibpqVerifier {
    check: Check,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Check::ChainOnly(roots) = &self.check {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
