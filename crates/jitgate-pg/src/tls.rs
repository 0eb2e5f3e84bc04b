//! TLS set-up: the acceptor database clients connect through (the server identity of
//! `[server.tls]`, shared with the other fronts), and the connector to upstreams with libpq's
//! `sslmode` semantics.

use std::fmt;
use std::io;

use jitgate_config::model::{ClientTls, UpstreamTls, UpstreamTlsMode};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The ALPN protocol name PostgreSQL 17 uses; older servers and clients ignore it.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

use jitgate_tls::client::LibpqTls;
pub use jitgate_tls::TlsSetupError;

/// The acceptor for database clients' TLS, or `None` when `[server.tls]` mode is `off`.
/// PostgreSQL 17's libpq offers the `postgresql` ALPN and, in direct-TLS mode, insists on
/// getting it back.
pub fn client_acceptor(cfg: &ClientTls) -> Result<Option<TlsAcceptor>, TlsSetupError> {
    jitgate_tls::server_acceptor(cfg, ALPN_POSTGRESQL)
}

/// TLS towards one upstream, configured for its `tls` mode.
#[derive(Clone)]
pub struct UpstreamTlsConnector {
    mode: UpstreamTlsMode,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl fmt::Debug for UpstreamTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTlsConnector")
            .field("mode", &self.mode)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl UpstreamTlsConnector {
    /// The libpq-style mode this connector implements (never `Disable`).
    pub fn mode(&self) -> UpstreamTlsMode {
        self.mode
    }

    /// Whether a plaintext connection is acceptable when the server declines TLS (`prefer`).
    pub fn allows_plaintext(&self) -> bool {
        self.mode == UpstreamTlsMode::Prefer
    }

    /// Runs the TLS handshake over `tcp`, after the server has accepted an SSLRequest.
    pub async fn connect(
        &self,
        tcp: TcpStream,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// The connector for an upstream at `host`, or `None` when its `tls` mode is `disable`; the
/// modes verify what libpq's `sslmode` does ([`jitgate_tls::client`]).
pub fn upstream_connector(
    cfg: &UpstreamTls,
    host: &str,
) -> Result<Option<UpstreamTlsConnector>, TlsSetupError> {
    let Some(tls) = LibpqTls::new(cfg, ALPN_POSTGRESQL)? else {
        return Ok(None);
    };
    Ok(Some(UpstreamTlsConnector {
        mode: cfg.mode,
        server_name: tls.server_name(host)?,
        connector: TlsConnector::from(tls.config()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_config::model::ClientTlsMode;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A CA and a server certificate it signed for `localhost` and 127.0.0.1, in files.
    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn new() -> Pki {
            use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
            let dir = tempfile::tempdir().unwrap();
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_key = KeyPair::generate().unwrap();
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let params =
                CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
            std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
            Pki { dir }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn client_tls(&self) -> ClientTls {
            ClientTls {
                mode: ClientTlsMode::Required,
                cert: Some(self.path("server.crt")),
                key: Some(self.path("server.key")),
            }
        }
    }

    fn upstream(mode: UpstreamTlsMode, ca: Option<PathBuf>, name: Option<&str>) -> UpstreamTls {
        UpstreamTls {
            mode,
            ca_file: ca,
            server_name: name.map(str::to_owned),
        }
    }

    /// Runs a handshake between `acceptor` and `connector` and sends one byte through it.
    async fn handshake(acceptor: TlsAcceptor, connector: &UpstreamTlsConnector) -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            tls.write_all(b"!").await?;
            tls.flush().await?;
            io::Result::Ok(())
        });
        let mut tls = connector.connect(TcpStream::connect(addr).await?).await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        let _ = server.await;
        assert_eq!(&byte, b"!");
        Ok(())
    }

    fn acceptor_error(cfg: &ClientTls) -> TlsSetupError {
        match client_acceptor(cfg) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {cfg:?}"),
        }
    }

    #[test]
    fn off_builds_nothing() {
        let cfg = ClientTls {
            mode: ClientTlsMode::Off,
            cert: None,
            key: None,
        };
        assert!(client_acceptor(&cfg).unwrap().is_none());
        let cfg = upstream(UpstreamTlsMode::Disable, None, None);
        assert!(upstream_connector(&cfg, "db").unwrap().is_none());
    }

    #[test]
    fn errors_name_the_file() {
        let pki = Pki::new();
        let mut cfg = pki.client_tls();
        cfg.key = Some(pki.path("missing.key"));
        let err = acceptor_error(&cfg).to_string();
        assert!(err.contains("missing.key"), "{err}");

        // A certificate file where the key should be: it has no key in it.
        cfg.key = Some(pki.path("server.crt"));
        let err = acceptor_error(&cfg);
        assert!(matches!(err, TlsSetupError::NoPrivateKey { .. }), "{err}");
        assert!(err.to_string().contains("server.crt"));

        cfg.cert = Some(pki.path("server.key"));
        cfg.key = Some(pki.path("server.key"));
        let err = acceptor_error(&cfg);
        assert!(matches!(err, TlsSetupError::NoCertificate { .. }), "{err}");

        let cfg = ClientTls {
            mode: ClientTlsMode::Optional,
            cert: None,
            key: None,
        };
        assert!(matches!(
            client_acceptor(&cfg),
            Err(TlsSetupError::MissingSetting(_))
        ));

        let cfg = upstream(
            UpstreamTlsMode::VerifyCa,
            Some(pki.path("server.key")),
            None,
        );
        let err = upstream_connector(&cfg, "db").unwrap_err().to_string();
        assert!(err.contains("server.key"), "{err}");
    }

    #[test]
    fn verify_full_needs_a_valid_name() {
        let cfg = upstream(UpstreamTlsMode::VerifyFull, None, Some("not a name"));
        assert!(matches!(
            upstream_connector(&cfg, "db"),
            Err(TlsSetupError::InvalidServerName(_))
        ));
        // Unverified modes do not care.
        let cfg = upstream(UpstreamTlsMode::Require, None, Some("not a name"));
        assert!(upstream_connector(&cfg, "db").unwrap().is_some());
    }

    #[test]
    fn system_roots_load() {
        let cfg = upstream(UpstreamTlsMode::VerifyFull, None, None);
        let connector = upstream_connector(&cfg, "db.example.com").unwrap().unwrap();
        assert_eq!(connector.mode(), UpstreamTlsMode::VerifyFull);
        assert!(!connector.allows_plaintext());
    }

    #[tokio::test]
    async fn modes_verify_what_libpq_verifies() {
        let pki = Pki::new();
        let other = Pki::new();
        let acceptor = client_acceptor(&pki.client_tls()).unwrap().unwrap();
        let ca = Some(pki.path("ca.crt"));
        let wrong_ca = Some(other.path("ca.crt"));
        let cases = [
            (UpstreamTlsMode::Prefer, None, None, true),
            (UpstreamTlsMode::Require, None, None, true),
            (
                UpstreamTlsMode::Require,
                None,
                Some("elsewhere.example"),
                true,
            ),
            (UpstreamTlsMode::VerifyCa, ca.clone(), None, true),
            (
                UpstreamTlsMode::VerifyCa,
                ca.clone(),
                Some("elsewhere.example"),
                true,
            ),
            (UpstreamTlsMode::VerifyCa, wrong_ca.clone(), None, false),
            (UpstreamTlsMode::VerifyFull, ca.clone(), None, true),
            (
                UpstreamTlsMode::VerifyFull,
                ca.clone(),
                Some("127.0.0.1"),
                true,
            ),
            (
                UpstreamTlsMode::VerifyFull,
                ca.clone(),
                Some("elsewhere.example"),
                false,
            ),
            (UpstreamTlsMode::VerifyFull, wrong_ca.clone(), None, false),
            (UpstreamTlsMode::VerifyFull, None, None, false),
        ];
        for (mode, ca, name, ok) in cases {
            let cfg = upstream(mode, ca.clone(), name);
            let connector = upstream_connector(&cfg, "localhost").unwrap().unwrap();
            let result = handshake(acceptor.clone(), &connector).await;
            assert_eq!(
                result.is_ok(),
                ok,
                "{mode:?} ca={ca:?} name={name:?}: {result:?}"
            );
        }
    }
}
