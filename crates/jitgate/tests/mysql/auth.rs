//! How clients prove their credential (mysql_native_password with `native_password = true`, or
//! the secret in clear over TLS or loopback, and refusals elsewhere), and how jitgate logs in
//! upstream as a MariaDB `ed25519` service account.

use crate::env::{start, start_remote};

const COUNT: &str = "SELECT COUNT(*) FROM customers";

/// A raw client (`read` and `send` come from `Env::python`): answers jitgate's greeting with a
/// mysql_native_password proof over its scramble, and prints the first byte of the answer (0:
/// OK, 255: ERR; 254 would be a switch).
const DIRECT_NATIVE: &str = r#"
import hashlib
s = socket.create_connection((HOST, PORT))
_, g = read(s)
i = g.index(b'\0', 1) + 1 + 4
scramble = g[i:i + 8] + g[i + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10:][:12]
sha1 = lambda b: hashlib.sha1(b).digest()
stage1 = sha1(PASSWORD.encode())
proof = bytes(a ^ b for a, b in zip(stage1, sha1(scramble + sha1(stage1))))
caps = 0x1 | 0x200 | 0x8000 | 0x80000
response = struct.pack('<IIB', caps, 1 << 24, 45) + bytes(23) + LOGIN.encode() + b'\0' + \
    bytes([20]) + proof + b'mysql_native_password\0'
send(s, 1, response)
print(read(s)[1][0])
"#;

/// With `native_password = true`, clients on another machine log in without TLS and without
/// sending the secret: the `mariadb` client answers the greeting with mysql_native_password,
/// PyMySQL (which answers with caching_sha2_password) is switched to it. A wrong secret and a
/// revoked grant are refused, and the stored hash never reaches the log.
#[test]
fn native_password_logs_in_from_another_machine_without_tls() {
    let Some(env) = start_remote("native_password = true") else {
        return;
    };
    let erin = env.grant("erin");
    let native = ["--skip-ssl", "--default-auth=mysql_native_password"];
    let out = env.cli_opts(&erin.login, &erin.password, COUNT, &native);
    assert!(out.ok, "{}\n{}", out.stderr, env.gateway.log());
    assert!(out.stdout.contains('3'), "{}", out.stdout);
    let py = env.python(
        &erin.login,
        &erin.password,
        "c = connect(); cur = c.cursor(); cur.execute('SELECT COUNT(*) FROM orders'); print(cur.fetchone()[0])",
    );
    assert!(py.ok, "{}", py.stderr);
    assert_eq!(py.stdout.trim(), "3");

    let wrong = env.cli_opts(&erin.login, "not-the-secret", COUNT, &native);
    assert!(!wrong.ok);
    assert!(wrong.stderr.contains("1045"), "{}", wrong.stderr);
    let py = env.python(&erin.login, "not-the-secret", "connect()");
    assert!(!py.ok);
    assert!(py.stderr.contains("1045"), "{}", py.stderr);
    let unknown = env.cli_opts("erin-nobody", &erin.password, COUNT, &native);
    assert!(!unknown.ok);
    assert!(unknown.stderr.contains("1045"), "{}", unknown.stderr);
    let reasons: Vec<String> = env
        .login_failures(3)
        .iter()
        .map(|f| f["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["wrong secret", "wrong secret", "unknown login"],
        "{reasons:?}"
    );

    // A client that answers the greeting itself with a mysql_native_password proof (over the
    // greeting's scramble) is checked at once, without a switch.
    for (secret, first) in [(erin.password.as_str(), "0"), ("not-the-secret", "255")] {
        let out = env.python(&erin.login, secret, DIRECT_NATIVE);
        assert!(out.ok, "{}", out.stderr);
        assert_eq!(out.stdout.trim(), first, "{}", env.gateway.log());
    }

    env.gateway.revoke(&erin.grant_id).expect("revoke");
    let revoked = env.cli_opts(&erin.login, &erin.password, COUNT, &native);
    assert!(!revoked.ok);
    assert!(revoked.stderr.contains("revoked"), "{}", revoked.stderr);
    let log = env.gateway.log();
    assert!(!log.contains("mysql_native_password$"), "{log}");
    assert!(!log.contains(&erin.password), "{log}");
}

/// Without the opt-in, a client on another machine without TLS is refused before it sends
/// anything of its secret, whichever plugin it starts with, and told to use TLS; on loopback the
/// same clients are switched to mysql_clear_password as before.
#[test]
fn without_native_password_remote_clients_without_tls_are_refused() {
    let Some(env) = start_remote("") else {
        return;
    };
    let erin = env.grant("erin");
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let out = env.cli_opts(
            &erin.login,
            &erin.password,
            COUNT,
            &["--skip-ssl", &format!("--default-auth={plugin}")],
        );
        assert!(!out.ok, "{plugin}");
        assert!(
            out.stderr.contains("only over TLS (use --ssl)")
                && out.stderr.contains("RSA key exchange"),
            "{plugin}: {}",
            out.stderr
        );
    }
    let py = env.python(&erin.login, &erin.password, "connect()");
    assert!(!py.ok);
    assert!(py.stderr.contains("only over TLS"), "{}", py.stderr);
    let loopback = std::process::Command::new("mariadb")
        .args(["--no-defaults", "--batch", "--skip-ssl", "--protocol=TCP"])
        .args(["-h", "127.0.0.1", "-P", &env.listen.to_string()])
        .arg(format!("-u{}", erin.login))
        .arg(format!("-p{}", erin.password))
        .args(["app", "-e", COUNT])
        .output()
        .expect("mariadb");
    assert!(
        loopback.status.success(),
        "{}",
        String::from_utf8_lossy(&loopback.stderr)
    );
}

/// A MariaDB service account `IDENTIFIED VIA ed25519`: jitgate signs the server's nonce with the
/// key its password derives (after the server's switch from mysql_native_password), and a key
/// from another password is refused by the server.
#[test]
fn ed25519_service_accounts_log_in_upstream() {
    let Some(env) = start() else { return };
    let (user, password) = env.db.service_account();
    let plugin = format!(
        "INSTALL SONAME 'auth_ed25519'; \
         ALTER USER '{user}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{password}');"
    );
    env.db.sql(&plugin).expect("ed25519 service account");
    let stored = env
        .db
        .sql(&format!(
            "SELECT JSON_VALUE(priv, '$.plugin') FROM mysql.global_priv WHERE User = '{user}'"
        ))
        .expect("plugin");
    assert_eq!(stored.trim(), "ed25519");
    let erin = env.grant("erin");
    let out = env.cli(&erin.login, &erin.password, "SELECT CURRENT_USER()");
    assert!(out.ok, "{}\n{}", out.stderr, env.gateway.log());
    assert!(out.stdout.contains(&format!("{user}@%")), "{}", out.stdout);

    env.db
        .sql(&format!(
            "ALTER USER '{user}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('another-one');"
        ))
        .expect("new password");
    let refused = env.cli(&erin.login, &erin.password, "SELECT 1");
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("the upstream refused the service account"),
        "{}",
        refused.stderr
    );
}
