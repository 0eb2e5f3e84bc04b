//! Clear sessions: logins, results the same as direct, audit, KILL, grant ends.

use std::time::{Duration, Instant};

use jitgate_control::audit::kind;

use crate::env::start;

/// A clear session answers as the server does directly: the same bytes from the `mariadb`
/// client for result sets, multi-statement texts, errors and warnings; and each statement is
/// audited with its row count.
#[test]
fn clear_sessions_answer_as_the_server_does_directly() {
    let Some(env) = start() else { return };
    let erin = env.grant("erin");
    let sql = "SELECT * FROM customers ORDER BY id; \
               SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.name ORDER BY 1; \
               SELECT 1 UNION SELECT 2; SHOW TABLES; SELECT CAST('x1' AS SIGNED); SHOW WARNINGS; \
               SELECT @@version";
    let through = env.cli(&erin.login, &erin.password, sql);
    let direct = env.cli_direct(sql);
    assert!(through.ok, "{}", through.stderr);
    assert_eq!(through.stdout, direct.stdout);
    assert!(
        through.stdout.contains("123-45-6789"),
        "clear data for erin"
    );
    let failing = "SELECT * FROM no_such_table";
    let (a, b) = (
        env.cli(&erin.login, &erin.password, failing),
        env.cli_direct(failing),
    );
    assert!(!a.ok);
    assert_eq!(a.stderr, b.stderr);
    let events = env.audit_until(|e| {
        e.iter()
            .any(|e| e.event.kind == kind::STATEMENT && e.event.detail_value()["rows"] == 3)
    });
    assert!(
        events.iter().any(|e| e.event.kind == kind::STATEMENT
            && e.event.detail_value()["text"]
                .as_str()
                .unwrap_or("")
                .contains("SELECT * FROM customers")),
        "statements are audited with their text"
    );
    // PyMySQL reads the same rows, with parameters interpolated client-side.
    let py = env.python(
        &erin.login,
        &erin.password,
        "c = connect(); cur = c.cursor(); cur.execute('SELECT id, ssn FROM customers WHERE id = %s', (2,)); print(json.dumps(cur.fetchall()))",
    );
    assert!(py.ok, "{}", py.stderr);
    assert_eq!(py.stdout.trim(), r#"[[2, "234-56-7890"]]"#);
}

/// Logins need the credential's secret and a live grant; refusals use MySQL's words and the
/// audit trail says why, with the protocol.
#[test]
fn logins_need_the_secret_and_a_live_grant() {
    let Some(env) = start() else { return };
    let erin = env.grant("erin");
    let wrong = env.cli(&erin.login, "not-the-secret", "SELECT 1");
    assert!(!wrong.ok);
    assert!(wrong.stderr.contains("1045"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("Access denied"), "{}", wrong.stderr);
    env.gateway.revoke(&erin.grant_id).expect("revoke");
    let revoked = env.cli(&erin.login, &erin.password, "SELECT 1");
    assert!(!revoked.ok);
    assert!(revoked.stderr.contains("revoked"), "{}", revoked.stderr);
    let failed = env.login_failures(2);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|f| f["protocol"] == "mysql"));
}

/// Revoking a grant while its session runs a statement kills the statement upstream, tells the
/// client why and closes the session, within a second (asserted with a generous bound).
#[test]
fn revoking_mid_query_ends_the_session_at_once() {
    let Some(env) = start() else { return };
    let erin = env.grant("erin");
    let (login, password) = (erin.login.clone(), erin.password.clone());
    let listen = env.listen;
    let client = std::thread::spawn(move || {
        let out = std::process::Command::new("mariadb")
            .args([
                "--no-defaults",
                "--batch",
                "--protocol=TCP",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-P",
                &listen.to_string(),
                &format!("-u{login}"),
                &format!("-p{password}"),
            ])
            .args(["app", "-e", "SELECT SLEEP(60)"])
            .output()
            .expect("mariadb");
        (
            Instant::now(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    });
    // Wait until the statement runs upstream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env
        .db
        .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%'")
        .expect("processlist")
        .trim()
        .starts_with('1')
    {
        assert!(Instant::now() < deadline, "the statement never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let revoked_at = Instant::now();
    env.gateway.revoke(&erin.grant_id).expect("revoke");
    let (ended_at, stderr) = client.join().expect("client thread");
    assert!(
        ended_at.duration_since(revoked_at) < Duration::from_secs(5),
        "took {:?}",
        ended_at.duration_since(revoked_at)
    );
    assert!(
        stderr.contains("1927") && stderr.contains("access grant revoked"),
        "{stderr}"
    );
    let running = env
        .db
        .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%'")
        .expect("processlist");
    assert_eq!(running.trim(), "0", "the statement was killed upstream");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sessions = env.sessions();
        if let Some(reason) = sessions.iter().find_map(|s| s.end_reason.clone()) {
            assert!(reason.starts_with("grant revoked"), "{reason}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session was not recorded as ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `KILL [QUERY] id` takes jitgate's connection ids (the ones clients see in the handshake) and
/// reaches only the subject's own sessions; LOCAL INFILE is never possible.
#[test]
fn kill_maps_ids_and_local_infile_is_refused() {
    let Some(env) = start() else { return };
    let erin = env.grant("erin");
    let alice = env.grant("alice");
    let script = format!(
        "import threading, time\n\
         a = connect(); b = connect()\n\
         out = {{}}\n\
         def run():\n\
         \x20   try:\n\
         \x20       cur = a.cursor(); cur.execute('SELECT SLEEP(30)'); out['a'] = cur.fetchall()\n\
         \x20   except Exception as e:\n\
         \x20       out['a'] = str(e)\n\
         t = threading.Thread(target=run); t.start(); time.sleep(1.0)\n\
         b.cursor().execute('KILL QUERY %d' % a.thread_id())\n\
         t.join(20)\n\
         other = pymysql.connect(host='127.0.0.1', port=PORT, user={alice_login:?}, password={alice_password:?}, database='app')\n\
         try:\n\
         \x20   other.cursor().execute('KILL %d' % b.thread_id()); out['other'] = 'killed'\n\
         except Exception as e:\n\
         \x20   out['other'] = str(e)\n\
         try:\n\
         \x20   c = connect(local_infile=True); c.cursor().execute(\"LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE orders\"); out['infile'] = 'loaded'\n\
         except Exception as e:\n\
         \x20   out['infile'] = str(e)\n\
         b.ping(); out['b'] = 'alive'\n\
         print(json.dumps(out))\n",
        alice_login = alice.login,
        alice_password = alice.password,
    );
    let py = env.python(&erin.login, &erin.password, &script);
    assert!(py.ok, "{}", py.stderr);
    let out: serde_json::Value = serde_json::from_str(py.stdout.trim()).expect("json");
    // SLEEP interrupted by KILL QUERY returns 1 on MariaDB, or the statement fails with 1317.
    let a = out["a"].to_string();
    assert!(a.contains("[[1]]") || a.contains("1317"), "{out}");
    assert!(
        out["other"]
            .as_str()
            .unwrap_or("")
            .contains("Unknown thread id"),
        "{out}"
    );
    assert_ne!(out["infile"], "loaded", "{out}");
    assert_eq!(out["b"], "alive");
    assert_eq!(
        env.db
            .sql("SELECT COUNT(*) FROM app.orders")
            .expect("count")
            .trim(),
        "3"
    );
}
