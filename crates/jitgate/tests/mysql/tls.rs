//! TLS between MySQL clients and jitgate: caching_sha2_password's full authentication over a
//! verified TLS connection, and plaintext refused when TLS is required.

use crate::env::start_tls;

#[test]
fn tls_clients_log_in_with_caching_sha2_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((env, ca)) = start_tls(dir.path(), "required") else {
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

/// A client that answers caching_sha2_password's "perform full authentication" by asking for
/// the server's RSA public key (as clients do without TLS) is told that jitgate does no RSA
/// exchange and to use TLS. Real clients ask only outside TLS, where jitgate refuses before the
/// exchange; this raw client asks inside it.
#[test]
fn a_request_for_the_rsa_public_key_is_refused_with_a_pointer_to_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((env, ca)) = start_tls(dir.path(), "optional") else {
        return;
    };
    let erin = env.grant("erin");
    let script = format!(
        r#"
import ssl
s = socket.create_connection(('127.0.0.1', PORT))
read(s)
caps = 0x1 | 0x200 | 0x800 | 0x8000 | 0x80000
prefix = struct.pack('<IIB', caps, 1 << 24, 45) + bytes(23)
send(s, 1, prefix)
t = ssl.create_default_context(cafile={ca:?}).wrap_socket(s, server_hostname='localhost')
send(t, 2, prefix + LOGIN.encode() + b'\0' + bytes([32]) + bytes(32) + b'caching_sha2_password\0')
seq, more = read(t)
assert more == b'\x01\x04', more
send(t, seq + 1, b'\x02')
seq, err = read(t)
assert err[0] == 0xff, err
print(struct.unpack('<H', err[1:3])[0], err[9:].decode())
"#
    );
    let out = env.python(&erin.login, &erin.password, &script);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("1045 ")
            && out.stdout.contains("RSA key exchange")
            && out.stdout.contains("connect with TLS (--ssl)"),
        "{}",
        out.stdout
    );
}
