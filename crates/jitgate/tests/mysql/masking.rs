//! Mask before evaluate on the MySQL front: a masked subject's statements read protected tables
//! through masking derived tables, so what the server evaluates (predicates, ordering, grouping,
//! joins, functions, variables, warnings) holds masked values only; what reads around the masks
//! is refused with ER_SPECIFIC_ACCESS_DENIED (1227, SQLSTATE 42000) or a parse refusal (1064).

use jitgate_masking::{Generalization, Mask, MaskKey, MySqlType, Written};

use crate::env::{assert_no_clear, start, Outcome};

const KEY: &[u8] = b"a-masking-key-of-enough-length-0123456789";

/// The rows of `mariadb --batch` output, header line dropped.
fn rows(out: &Outcome) -> Vec<Vec<String>> {
    assert!(out.ok, "{}", out.stderr);
    out.stdout
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// What the Rust mask gives for a value the direct read printed; `None` for a column shown in
/// clear. Masks without a MySQL form (`tokenize`) read as NULL (over-masking).
fn masked(value: &str, mask: Option<&(Mask, MySqlType)>, key: &MaskKey) -> String {
    let Some((mask, ty)) = mask else {
        return value.to_owned();
    };
    if value == "NULL" || *mask == Mask::Tokenize {
        return "NULL".to_owned();
    }
    let mut out = Vec::new();
    match mask.apply_mysql_text(value.as_bytes(), ty, key, &mut out) {
        Ok(Written::Value) => String::from_utf8(out).expect("UTF-8 mask output"),
        Ok(Written::Null) => "NULL".to_owned(),
        Err(e) => panic!("{mask:?} on {value:?}: {e}"),
    }
}

fn expected(direct: &Outcome, masks: &[Option<(Mask, MySqlType)>]) -> Vec<Vec<String>> {
    let key = MaskKey::new(KEY, "test").expect("key");
    rows(direct)
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(masks)
                .map(|(v, m)| masked(v, m.as_ref(), &key))
                .collect()
        })
        .collect()
}

/// A masked subject's read through jitgate equals the Rust masks applied to the direct read,
/// column for column, for every mask with a MySQL form (and NULL for `tokenize`, which has
/// none); a clear subject's read equals the direct read.
#[test]
fn masked_reads_equal_the_rust_masks_applied_to_the_direct_read() {
    let Some(env) = start() else { return };
    let alice = env.grant("alice");
    let erin = env.grant("erin");
    let people = "SELECT * FROM people ORDER BY id";
    let people_masks = vec![
        None,
        Some((Mask::Hash, MySqlType::Text)),
        Some((Mask::Generalize(Generalization::Month), MySqlType::Date)),
        Some((
            Mask::Generalize(Generalization::Bucket(1000)),
            MySqlType::Decimal {
                precision: 10,
                scale: 2,
            },
        )),
        Some((Mask::Hash, MySqlType::Int)),
        Some((Mask::Tokenize, MySqlType::Text)),
        Some((Mask::Redact, MySqlType::Text)),
        Some((Mask::Generalize(Generalization::Year), MySqlType::DateTime)),
    ];
    let direct = env.cli_direct_utf8(people);
    let through = env.cli_utf8(&alice.login, &alice.password, people);
    assert_eq!(rows(&through), expected(&direct, &people_masks));
    assert!(!through.stdout.contains("Zoë"), "{}", through.stdout);
    let clear = env.cli_utf8(&erin.login, &erin.password, people);
    assert_eq!(clear.stdout, direct.stdout);

    let customers = "SELECT id, name, email, ssn FROM `app`.`customers` ORDER BY id";
    let partial = Mask::Partial {
        keep_first: 0,
        keep_last: 4,
        pad: '*',
    };
    let customer_masks = vec![
        None,
        None,
        Some((Mask::Email, MySqlType::Text)),
        Some((partial, MySqlType::Text)),
    ];
    let direct = env.cli_direct_utf8(customers);
    let through = env.cli_utf8(&alice.login, &alice.password, customers);
    assert_eq!(rows(&through), expected(&direct, &customer_masks));
    assert_no_clear(customers, &through.stdout);
}

/// Whether `text` holds a run of 32 hex digits, as a key pad would show.
fn has_pad_like_run(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    false
}

/// The red team: inference through WHERE, ORDER BY, GROUP BY, HAVING, JOIN ON, functions,
/// user variables, subqueries, CTEs, UNION, multi-statements, warnings, and every spelling of
/// the table name finds nothing — the server only ever evaluates masked values.
#[test]
fn the_red_team_infers_nothing_through_masked_reads() {
    let Some(env) = start() else { return };
    let alice = env.grant("alice");
    // The client echoes a failing statement before the server's message: only the message
    // (the `ERROR` lines) is the gateway's answer.
    let run = |sql: &str| {
        let out = env.cli_utf8(&alice.login, &alice.password, sql);
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("ERROR"))
            .collect();
        assert_no_clear(sql, &out.stdout);
        assert_no_clear(sql, &errors.join("\n"));
        assert!(!has_pad_like_run(&out.stderr), "{sql}: {}", out.stderr);
        out
    };
    // Predicates on clear values match nothing: the server compares masked values.
    for sql in [
        "SELECT id FROM customers WHERE ssn = '123-45-6789'",
        "SELECT id FROM customers WHERE ssn LIKE '123%'",
        "SELECT id FROM customers WHERE email = 'ada@example.com'",
        "SELECT id FROM customers WHERE SUBSTRING(ssn, 1, 3) = '123'",
        "SELECT id FROM customers WHERE ssn REGEXP '^[0-9]'",
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer AND c.ssn LIKE '1%'",
        "SELECT ssn FROM customers GROUP BY ssn HAVING ssn LIKE '2%'",
        "SELECT id FROM `app`.`customers` WHERE ssn = '123-45-6789'",
        "SELECT id FROM app . customers WHERE ssn = '123-45-6789'",
        "WITH customers AS (SELECT * FROM app.customers) SELECT id FROM customers WHERE ssn = '123-45-6789'",
        "WITH c AS (SELECT ssn FROM customers) SELECT * FROM c WHERE ssn LIKE '3%'",
        "SELECT id FROM orders WHERE 1 = 0 UNION SELECT id FROM customers WHERE ssn LIKE '1%'",
        "SELECT id FROM customers WHERE id IN (SELECT id FROM customers WHERE email LIKE 'ada%')",
        "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM customers c2 WHERE c2.ssn = '234-56-7890')",
        "SELECT id FROM people WHERE full_name = 'Ada Lovelace' OR score = 731",
        "SELECT id FROM people WHERE born = '1985-07-23' OR salary = 52340.50",
    ] {
        let out = run(sql);
        assert!(out.ok, "{sql}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{sql} found rows");
    }
    // Reads that succeed show masked values only.
    for sql in [
        "SELECT ssn, email FROM customers ORDER BY ssn",
        "SELECT CONCAT(ssn, '|', email), LENGTH(email), LEFT(ssn, 3), REVERSE(ssn) FROM customers",
        "SELECT @x := ssn FROM customers; SELECT @x",
        "SELECT 1; SELECT ssn FROM customers",
        "SELECT 1 --1; SELECT ssn FROM customers",
        "SELECT name FROM customers UNION SELECT ssn FROM customers",
        "SELECT (SELECT ssn FROM customers ORDER BY id LIMIT 1) AS s",
        "SELECT c.ssn FROM orders JOIN customers c ON c.id = orders.customer",
        "SELECT customers.* FROM customers NATURAL JOIN orders",
        "SELECT ssn FROM customers JOIN orders USING (id)",
        "SELECT MIN(ssn), MAX(email), GROUP_CONCAT(ssn) FROM customers",
        "SELECT CAST(ssn AS SIGNED), ssn + 0 FROM customers; SHOW WARNINGS",
        "SELECT CAST(full_name AS SIGNED) FROM people; SHOW WARNINGS",
        "USE app; SELECT ssn FROM customers",
    ] {
        let out = run(sql);
        assert!(out.ok, "{sql}: {}", out.stderr);
    }
    let first = run("SELECT ssn FROM customers ORDER BY id LIMIT 1");
    assert_eq!(first.stdout, "ssn\n*******6789\n");
    // What reads around the masks is refused.
    env.db
        .sql(
            "CREATE VIEW app.cv AS SELECT ssn AS s FROM app.customers; \
             CREATE FUNCTION app.leak(i int) RETURNS varchar(20) READS SQL DATA \
               RETURN (SELECT ssn FROM app.customers WHERE id = i);",
        )
        .expect("a view and a stored function over protected data");
    for sql in [
        "SELECT ssn FROM CUSTOMERS",
        "SELECT ssn FROM APP.customers",
        "SELECT * FROM cv",
        "SELECT leak(1)",
        "SELECT app.leak(1)",
        "INSERT INTO customers VALUES (4, 'x', 'x@example.net', '123-45-6789', '1')",
        "UPDATE customers SET name = name WHERE ssn = '123-45-6789'",
        "DELETE FROM orders WHERE customer IN (SELECT id FROM customers WHERE ssn LIKE '1%')",
        "SELECT 1 /*! , ssn FROM customers */",
        "SELECT 1 /*M!100000 , ssn FROM customers */",
        "SET sql_mode = 'ANSI_QUOTES'",
        "SET @@session.sql_mode = 'NO_BACKSLASH_ESCAPES'",
        "SET STATEMENT sql_mode = '' FOR SELECT ssn FROM customers",
        "PREPARE s FROM 'SELECT ssn FROM customers'",
        "SHOW PROCESSLIST",
        "SHOW FULL PROCESSLIST",
        "SELECT INFO FROM information_schema.PROCESSLIST",
        "SELECT * FROM performance_schema.events_statements_history",
        "SELECT * FROM mysql.column_stats",
        "SELECT * FROM information_schema.STATISTICS",
        "SHOW CREATE TABLE customers",
        "SHOW CREATE VIEW cv",
        "HANDLER customers OPEN",
        "SELECT LOAD_FILE('/etc/hostname')",
        "SELECT ssn FROM customers INTO OUTFILE '/tmp/jitgate-leak'",
        "SELECT ssn INTO @v FROM customers LIMIT 1",
        "CREATE VIEW v2 AS SELECT ssn FROM customers",
        "CREATE PROCEDURE p() SELECT ssn FROM customers",
        "EXPLAIN SELECT ssn FROM customers",
        "SELECT 1; SELECT * FROM cv",
        "SET NAMES gbk",
    ] {
        let out = run(sql);
        assert!(!out.ok, "{sql} passed: {}", out.stdout);
        assert!(
            out.stderr.contains("1227") || out.stderr.contains("1064"),
            "{sql}: {}",
            out.stderr
        );
    }
}

/// A masked session's catalog knowledge never outlives a change made elsewhere in a way that
/// shows more: a plain table read once, then replaced (by another connection) with a view over
/// protected data, is seen as that view at the next statement of the same session — refused —
/// not read through what the session knew of the table.
#[test]
fn a_table_replaced_by_a_view_elsewhere_is_not_read_through_a_stale_catalog() {
    let Some(env) = start() else { return };
    env.db
        .sql("CREATE TABLE app.report (s varchar(20)); INSERT INTO app.report VALUES ('plain');")
        .expect("a plain table");
    let alice = env.grant("alice");
    let script = format!(
        r#"
# autocommit: a transaction left open would hold a metadata lock that DROP TABLE waits for.
masked = connect(autocommit=True, read_timeout=30)
cur = masked.cursor()
cur.execute("SELECT s FROM report")
print("before", cur.fetchall())
admin = pymysql.connect(host='127.0.0.1', port={port}, user={user:?}, password={password:?}, database='app', read_timeout=30)
with admin.cursor() as a:
    a.execute("DROP TABLE report")
    a.execute("CREATE VIEW report AS SELECT ssn AS s FROM customers")
admin.close()
try:
    cur.execute("SELECT s FROM report")
    print("after", cur.fetchall())
except pymysql.MySQLError as e:
    print("refused", e.args[0])
"#,
        port = env.db.port(),
        user = jitgate_testkit::mariadb::SERVICE_USER,
        password = jitgate_testkit::mariadb::SERVICE_PASSWORD,
    );
    let out = env.python(&alice.login, &alice.password, &script);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("before (('plain',),)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("refused 1227"), "{}", out.stdout);
    assert_no_clear("the replaced table", &out.stdout);
}
