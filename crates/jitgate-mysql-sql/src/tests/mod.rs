//! Each test names the behaviour of the analysis it protects.

use crate::{
    analyse, has_executable_comment, lexing_modes_ok, mentions_kill, Guard, Kill, Refusal,
};

const CLEAR: Guard = Guard {
    read_only: false,
    masked: false,
};
const READ_ONLY: Guard = Guard {
    read_only: true,
    masked: false,
};
const MASKED: Guard = Guard {
    read_only: false,
    masked: true,
};

#[test]
fn read_only_sessions_run_reads_and_session_settings() {
    for sql in [
        "SELECT * FROM customers WHERE id = 1",
        "select a from t1 join t2 using (id) order by a limit 3",
        "SHOW TABLES",
        "SHOW VARIABLES LIKE 'version%'",
        "EXPLAIN SELECT 1",
        "DESCRIBE customers",
        "USE app",
        "SET NAMES utf8mb4",
        "SET autocommit = 1",
        "SET @x = 5",
        "START TRANSACTION READ ONLY",
        "BEGIN",
        "COMMIT",
        "SELECT 1; SELECT 2",
    ] {
        assert!(analyse(sql, READ_ONLY).is_ok(), "{sql}");
    }
}

#[test]
fn read_only_sessions_refuse_writes_ddl_routines_and_mode_changes() {
    for sql in [
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "CREATE TABLE x (a int)",
        "DROP TABLE customers",
        "ALTER TABLE t ADD COLUMN b int",
        "TRUNCATE TABLE t",
        "CALL p()",
        "GRANT ALL ON *.* TO x",
        "SET SESSION TRANSACTION READ WRITE",
        "START TRANSACTION READ WRITE",
        "SET sql_mode = 'ANSI_QUOTES'",
        "SET @@session.sql_mode = ''",
        "SET GLOBAL read_only = 0",
        "SET SESSION transaction_read_only = 0",
        "SELECT 1; DELETE FROM t",
        "SELECT LOAD_FILE('/etc/passwd')",
        "LOCK TABLES t WRITE",
        "PREPARE s FROM 'DELETE FROM t'",
        "SHOW PROCESSLIST",
    ] {
        assert!(
            matches!(
                analyse(sql, READ_ONLY),
                Err(Refusal::ReadOnly(_) | Refusal::Unparsable(_))
            ),
            "{sql}: {:?}",
            analyse(sql, READ_ONLY)
        );
    }
}

#[test]
fn executable_comments_are_refused_in_guarded_sessions_only() {
    let sql = "SELECT 1 /*! ; DELETE FROM t */";
    assert_eq!(analyse(sql, READ_ONLY), Err(Refusal::ExecutableComment));
    assert_eq!(
        analyse("SELECT 1 /*M!100000 , ssn FROM customers */", MASKED),
        Err(Refusal::ExecutableComment)
    );
    assert!(analyse(sql, CLEAR).is_ok());
    assert!(has_executable_comment("select /*m!1 x*/"));
    assert!(!has_executable_comment("select /* plain */ 1"));
}

#[test]
fn masked_subjects_get_queries_writes_and_settings_but_no_statement_that_reads_around_masks() {
    for sql in [
        "select @@version_comment limit 1",
        "SELECT DATABASE()",
        "SELECT 1 + 2",
        "SET NAMES utf8mb4",
        "SET character_set_results = NULL",
        "USE app",
        "COMMIT",
        "SELECT ssn FROM customers",
        "SHOW TABLES",
        "SHOW WARNINGS",
        "show errors limit 5",
        "DESCRIBE customers",
    ] {
        assert!(
            analyse(sql, MASKED).is_ok(),
            "{sql}: {:?}",
            analyse(sql, MASKED)
        );
    }
    assert!(analyse("SHOW WARNINGS", MASKED).unwrap().warnings);
    for sql in [
        "SET @leak = (SELECT ssn FROM customers LIMIT 1)",
        "SET sql_mode = 'ANSI_QUOTES'",
        "SET SESSION sql_mode = ''",
        "SHOW CREATE TABLE customers",
        "SHOW PROCESSLIST",
        "SHOW FULL PROCESSLIST",
        "SHOW VARIABLES WHERE Value = (SELECT ssn FROM customers LIMIT 1)",
        "HANDLER customers OPEN",
        "EXPLAIN SELECT ssn FROM customers",
        "PREPARE s FROM 'SELECT ssn FROM customers'",
        "EXECUTE s",
        "BEGIN SELECT ssn FROM customers; END",
        "BEGIN NOT ATOMIC SELECT ssn FROM customers; END",
        "CREATE VIEW v AS SELECT ssn FROM customers",
        "CREATE FUNCTION f() RETURNS INT RETURN 1",
        "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW SET @x = 1",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
        "CREATE TEMPORARY TABLE t AS SELECT * FROM customers",
        "LOAD DATA INFILE '/tmp/x' INTO TABLE orders",
        "GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
        "GET DIAGNOSTICS @n = NUMBER",
        "SHOW WARNINGS LIMIT (SELECT 1)",
        "SHOW WARNINGS WHERE 1",
        "SHOW COUNT(ssn) WARNINGS",
        "SELECT 1; SHOW ERRORS LIMIT x",
        "DO (SELECT ssn FROM customers LIMIT 1)",
        "CREATE TABLE t2 AS SELECT ssn FROM customers",
    ] {
        assert!(
            matches!(
                analyse(sql, MASKED),
                Err(Refusal::Masked(_) | Refusal::Unparsable(_))
            ),
            "{sql}: {:?}",
            analyse(sql, MASKED)
        );
    }
}

#[test]
fn refusal_messages_name_statement_kinds_never_values() {
    let err = analyse("DELETE FROM t WHERE ssn = '123-45-6789'", READ_ONLY).unwrap_err();
    assert!(!err.to_string().contains("123-45"), "{err}");
}

#[test]
fn kill_statements_name_their_target_and_must_stand_alone() {
    assert_eq!(
        analyse("KILL QUERY 7", CLEAR).unwrap().kill,
        Some(Kill {
            query_only: true,
            id: 7
        })
    );
    assert_eq!(
        analyse("kill 9", MASKED).unwrap().kill,
        Some(Kill {
            query_only: false,
            id: 9
        })
    );
    assert_eq!(
        analyse("SELECT 1; KILL 3", CLEAR),
        Err(Refusal::KillNotAlone)
    );
    assert!(mentions_kill("/*!KiLl 5*/"));
    assert!(!mentions_kill("select 1"));
}

#[test]
fn lexing_modes_that_change_quoting_are_recognised() {
    assert!(lexing_modes_ok(
        "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO"
    ));
    assert!(!lexing_modes_ok("ANSI_QUOTES"));
    assert!(!lexing_modes_ok("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"));
    assert!(!lexing_modes_ok("ANSI"));
}

/// MySQL starts a `--` comment only before whitespace: `--1` is two minus signs. A parser that
/// took it for a comment would hide the statement after it from the analysis.
#[test]
fn double_dash_without_space_hides_nothing() {
    for sql in [
        "SELECT 1 --1; SELECT ssn FROM customers",
        "SELECT 1 --x\n; SELECT ssn FROM customers",
        "SELECT 1 /* /* */ ; SELECT ssn FROM customers; /* */",
        "SELECT 1 # x\n; SELECT ssn FROM customers",
    ] {
        assert_eq!(
            crate::tables_read(sql, Some("app")),
            Ok(vec![crate::TableName {
                db: "app".into(),
                table: "customers".into()
            }]),
            "{sql}"
        );
    }
}

/// A `--` before a space outside ASCII is a comment to the parser and not to MySQL: the rest of
/// the line would run unanalysed. Refused in every analysed session (a clear session's KILL
/// mapping too).
#[test]
fn double_dash_before_a_unicode_space_is_refused() {
    for sql in [
        "SELECT 1 --\u{a0}; SELECT ssn FROM customers",
        "SELECT 1 --\u{3000}; DELETE FROM orders",
        "SELECT '--\u{2028}'",
        "SELECT 1 --\u{85}; KILL 7",
    ] {
        for guard in [MASKED, READ_ONLY, CLEAR] {
            assert!(
                matches!(analyse(sql, guard), Err(Refusal::Unparsable(_))),
                "{sql}"
            );
        }
    }
    assert!(analyse("SELECT 1 -- \u{a0}é", MASKED).is_ok());
    assert!(analyse("SELECT 1 --\t; x", READ_ONLY).is_ok());
}

/// Client character sets in which a backslash can vanish into a multi-byte character would make
/// the server end a string where the parser does not: guarded sessions may not switch to them.
#[test]
fn guarded_sessions_keep_a_character_set_the_parser_reads_alike() {
    assert!(analyse("SET NAMES utf8mb4", MASKED).is_ok());
    assert!(analyse("SET NAMES latin1", READ_ONLY).is_ok());
    for sql in [
        "SET NAMES gbk",
        "SET NAMES big5",
        "SET character_set_client = sjis",
        "SET character_set_connection = gbk",
    ] {
        assert!(analyse(sql, MASKED).is_err(), "{sql}");
        assert!(analyse(sql, READ_ONLY).is_err(), "{sql}");
    }
    assert!(
        crate::safe_collation_id(45) && crate::safe_collation_id(33) && crate::safe_collation_id(8)
    );
    assert!(
        !crate::safe_collation_id(28)
            && !crate::safe_collation_id(1)
            && !crate::safe_collation_id(13)
    );
}

/// `SHOW WARNINGS` and `SHOW ERRORS` (which the parser does not know) are found on the
/// parser's tokens in every form and position, so their rows are always recognised as quoting
/// server messages; text that only looks like one (in a string, a comment) is not one.
#[test]
fn diagnostics_statements_are_recognised_in_every_form() {
    for (sql, statements) in [
        ("SHOW WARNINGS", 1),
        ("show warnings", 1),
        ("SHOW /* all */ WARNINGS LIMIT 2", 1),
        ("SHOW WARNINGS LIMIT 1, 2;", 1),
        ("SHOW COUNT(*) ERRORS", 1),
        ("show count ( * ) warnings", 1),
        ("SHOW ERRORS", 1),
        ("SELECT 1; show errors; SELECT 2", 3),
        ("SELECT 1 --x\n; SHOW WARNINGS -- the rest\n", 2),
        ("SELECT ssn FROM customers;\nSHOW\n# why\nWARNINGS", 2),
        ("SHOW WARNINGS; SELECT 1", 2),
    ] {
        for guard in [MASKED, READ_ONLY] {
            let a = analyse(sql, guard);
            assert!(
                matches!(&a, Ok(a) if a.warnings && a.statements == statements),
                "{sql}: {a:?}"
            );
        }
    }
    for sql in [
        "SELECT 'x; SHOW WARNINGS'",
        "SELECT 1 /* ; SHOW WARNINGS */",
        "SELECT `show warnings` FROM orders",
        "SELECT @@warning_count, @@error_count",
    ] {
        let a = analyse(sql, MASKED);
        assert!(matches!(&a, Ok(a) if !a.warnings), "{sql}: {a:?}");
    }
    // Blanking keeps offsets: characters outside ASCII within such a statement are refused.
    assert!(analyse("SHOW WARNINGS /* é */", MASKED).is_err());
    // KILL still stands alone.
    assert_eq!(
        analyse("SHOW WARNINGS; KILL 5", CLEAR),
        Err(Refusal::KillNotAlone)
    );
}

mod rewrite;
