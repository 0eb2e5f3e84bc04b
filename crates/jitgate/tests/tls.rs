//! TLS between clients and jitgate: required, verified by the client, and plaintext refused.

mod common;

use common::start_with;

/// A CA and a server certificate for `localhost`, written as PEM files.
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "jitgate test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = ["ca.pem", "server.pem", "server.key"].map(|f| dir.join(f));
    std::fs::write(&paths[0], ca.pem()).unwrap();
    std::fs::write(&paths[1], cert.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    paths.map(|p| p.display().to_string()).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_connect_over_verified_tls_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let env = start_with(&format!(
        "[server.tls]\nmode = \"required\"\ncert = \"{cert}\"\nkey = \"{key}\"\n"
    ));
    let grant = env.grant("5m");
    // The URI jitgate hands out asks for TLS, since jitgate requires it.
    let uri = grant
        .uri
        .strip_suffix("?sslmode=require")
        .unwrap_or_else(|| panic!("the URI does not ask for TLS: {}", grant.uri))
        .replace("127.0.0.1", "localhost");

    let verified = format!("{uri}?sslmode=verify-full&sslrootcert={ca}");
    let (ok, out, err) = env.psql(&verified, &["-c", "select 1"]);
    assert!(ok, "TLS connection failed: {err}\n{}", env.gateway.log());
    assert_eq!(out.trim(), "1");

    let plain = format!("{uri}?sslmode=disable");
    let (ok, _, err) = env.psql(&plain, &["-c", "select 1"]);
    assert!(!ok);
    assert!(err.contains("only TLS"), "{err}");
}
