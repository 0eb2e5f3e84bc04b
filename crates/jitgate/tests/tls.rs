//! TLS between clients and jitgate: required, verified by the client, and plaintext refused.

mod common;

use common::start_with;
use jitgate_testkit::write_certificates;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_connect_over_verified_tls_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = write_certificates(dir.path());
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
