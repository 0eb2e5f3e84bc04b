//! TLS between MySQL clients and jitgate: caching_sha2_password's full authentication over a
//! verified TLS connection, and plaintext refused when TLS is required.

use crate::env::start_with;

/// A CA and a server certificate for `localhost`, written as PEM files.
pub(crate) fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "jitgate test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
    let paths = ["ca.pem", "server.pem", "server.key"].map(|f| dir.join(f));
    std::fs::write(&paths[0], ca.pem()).expect("write");
    std::fs::write(&paths[1], cert.pem()).expect("write");
    std::fs::write(&paths[2], key.serialize_pem()).expect("write");
    paths.map(|p| p.display().to_string()).into()
}

#[test]
fn tls_clients_log_in_with_caching_sha2_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = certificates(dir.path());
    let Some(env) = start_with(&format!(
        "[server.tls]\nmode = \"required\"\ncert = \"{cert}\"\nkey = \"{key}\"\n"
    )) else {
        return;
    };
    let erin = env.grant("erin");
    let out = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--batch",
            "--skip-column-names",
            "-h",
            "localhost",
        ])
        .args(["-P", &env.listen.to_string(), "--protocol=TCP"])
        .arg(format!("-u{}", erin.login))
        .arg(format!("-p{}", erin.password))
        .args([
            "--ssl",
            &format!("--ssl-ca={ca}"),
            "--ssl-verify-server-cert",
        ])
        .args(["app", "-e", "SELECT COUNT(*) FROM customers"])
        .output()
        .expect("mariadb");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.gateway.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    let py = env.python(
        &erin.login,
        &erin.password,
        &format!(
            "c = connect(ssl={{'ca': {ca:?}}}); cur = c.cursor(); cur.execute('SELECT COUNT(*) FROM orders'); print(cur.fetchone()[0])"
        ),
    );
    assert!(py.ok, "{}", py.stderr);
    assert_eq!(py.stdout.trim(), "3");
    let plain = std::process::Command::new("mariadb")
        .args(["--no-defaults", "--batch", "--skip-ssl", "-h", "127.0.0.1"])
        .args(["-P", &env.listen.to_string(), "--protocol=TCP"])
        .arg(format!("-u{}", erin.login))
        .arg(format!("-p{}", erin.password))
        .args(["app", "-e", "SELECT 1"])
        .output()
        .expect("mariadb");
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success());
    assert!(stderr.contains("only TLS"), "{stderr}");
}
