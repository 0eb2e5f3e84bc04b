//! Guarded sessions: read-only grants and masked subjects (refused everything that could read a
//! protected table until masking rewrites exist for MySQL: fail closed).

use jitgate_control::audit::kind;

use crate::env::{assert_no_clear, start};

/// A read-only grant reads, and is refused writes, DDL, routines, mode and access-mode changes,
/// executable comments and writes hidden behind a read in a multi-statement text — with MySQL's
/// read-only error; nothing changes upstream.
#[test]
fn read_only_grants_refuse_writes() {
    let Some(env) = start() else { return };
    let (login, password) = env.rob();
    let read = env.cli(
        &login,
        &password,
        "SELECT COUNT(*) FROM customers; SHOW TABLES",
    );
    assert!(read.ok, "{}", read.stderr);
    for sql in [
        "INSERT INTO orders VALUES (99, 1, 1.00)",
        "UPDATE customers SET name = 'x'",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE t2 (a int)",
        "SET SESSION TRANSACTION READ WRITE",
        "START TRANSACTION READ WRITE",
        "SELECT 1; DELETE FROM orders",
        "CALL mysql.no_such_routine()",
    ] {
        let out = env.cli(&login, &password, sql);
        assert!(!out.ok, "{sql} passed");
        assert!(
            out.stderr.contains("1792") && out.stderr.contains("25006"),
            "{sql}: {}",
            out.stderr
        );
    }
    for sql in [
        "SELECT 1 /*! ; DELETE FROM orders */",
        "SET sql_mode = 'ANSI_QUOTES'",
    ] {
        let out = env.cli(&login, &password, sql);
        assert!(!out.ok, "{sql} passed");
    }
    assert_eq!(
        env.db
            .sql("SELECT COUNT(*) FROM app.orders")
            .expect("count")
            .trim(),
        "3"
    );
    let events = env.audit_until(|e| e.iter().any(|e| e.event.kind == kind::READ_ONLY_REFUSED));
    assert!(events
        .iter()
        .any(|e| e.event.kind == kind::READ_ONLY_REFUSED));
}

/// A masked subject logs in and runs the client's own start-up queries, and every way of
/// reading around the masks is refused with ER_SPECIFIC_ACCESS_DENIED (1227, SQLSTATE 42000)
/// or a parse refusal: user variables set from queries, executable comments, sql_mode games,
/// SQL-level prepared statements, SHOW CREATE, HANDLER, files, statistics and statement
/// history. No clear value appears in anything the client reads. (Reads of protected tables
/// are masked: `masking.rs`.)
#[test]
fn masked_subjects_are_refused_what_reads_around_the_masks() {
    let Some(env) = start() else { return };
    let alice = env.grant("alice");
    let hello = env.cli(
        &alice.login,
        &alice.password,
        "SELECT @@version_comment LIMIT 1; SELECT DATABASE(); SET NAMES utf8mb4",
    );
    assert!(hello.ok, "{}", hello.stderr);
    // Second line: what a masked subject's statements return passes the content detectors.
    let echoed = env.cli(
        &alice.login,
        &alice.password,
        "SELECT '123-45-6789' AS a, 'mail ada@example.com' AS b",
    );
    assert!(echoed.ok, "{}", echoed.stderr);
    assert_no_clear("echoed constants", &echoed.stdout);
    assert!(
        echoed.stdout.contains("[ssn]") || echoed.stdout.contains("[email]"),
        "{}",
        echoed.stdout
    );
    let attacks = [
        "SET @x = (SELECT ssn FROM customers LIMIT 1)",
        "SELECT 1 /*! , ssn FROM customers */",
        "SELECT 1 /*M!100000 , ssn FROM customers */",
        "SET sql_mode = 'ANSI_QUOTES'",
        "SET STATEMENT sql_mode = '' FOR SELECT ssn FROM customers",
        "PREPARE s FROM 'SELECT ssn FROM customers'",
        "SHOW CREATE TABLE customers",
        "HANDLER customers OPEN",
        "SELECT LOAD_FILE('/etc/hostname')",
        "SELECT ssn FROM customers INTO OUTFILE '/tmp/x'",
        "SELECT * FROM mysql.column_stats",
        "SELECT * FROM information_schema.PROCESSLIST",
        "SELECT * FROM performance_schema.events_statements_history",
        "SHOW PROCESSLIST",
        "CREATE VIEW v AS SELECT ssn FROM customers",
        "SET NAMES gbk",
    ];
    for sql in attacks {
        let out = env.cli(&alice.login, &alice.password, sql);
        assert!(!out.ok, "{sql} passed: {}", out.stdout);
        assert!(
            out.stderr.contains("1227") || out.stderr.contains("1064"),
            "{sql}: {}",
            out.stderr
        );
        assert_no_clear(sql, &out.stdout);
        assert_no_clear(sql, &out.stderr);
    }
    let events = env.audit_until(|e| {
        e.iter()
            .filter(|e| e.event.kind == kind::MASKING_REFUSED)
            .count()
            >= attacks.len()
    });
    assert!(
        events
            .iter()
            .filter(|e| e.event.kind == kind::MASKING_REFUSED)
            .count()
            >= attacks.len()
    );
}
