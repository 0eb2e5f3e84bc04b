//! TLS between MySQL clients and jitgate: caching_sha2_password's full authentication over a
//! verified TLS connection, and plaintext refused when TLS is required.

use crate::env::start_with;
use jitgate_testkit::write_certificates;

#[test]
fn tls_clients_log_in_with_caching_sha2_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [ca, cert, key] = write_certificates(dir.path());
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
