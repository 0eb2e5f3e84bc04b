//! Mask before evaluate on the MySQL front: a masked subject's statements read protected tables
//! through masking derived tables, so what the server evaluates (predicates, ordering, grouping,
//! joins, functions, variables, warnings) holds masked values only; what reads around the masks
//! is refused with ER_SPECIFIC_ACCESS_DENIED (1227, SQLSTATE 42000) or a parse refusal (1064).

use jitgate_masking::{Generalization, Mask, MaskKey, MySqlType, Written};

use crate::env::{assert_no_clear, start, Outcome};

pub(crate) const KEY: &[u8] = b"a-masking-key-of-enough-length-0123456789";

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
pub(crate) fn masked(value: &str, mask: Option<&(Mask, MySqlType)>, key: &MaskKey) -> String {
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
    expected_rows(rows(direct), masks)
}

/// The Rust masks applied to rows read directly (values as the `mariadb` client prints them).
pub(crate) fn expected_rows(
    direct: Vec<Vec<String>>,
    masks: &[Option<(Mask, MySqlType)>],
) -> Vec<Vec<String>> {
    let key = MaskKey::new(KEY, "test").expect("key");
    direct
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(masks)
                .map(|(v, m)| masked(v, m.as_ref(), &key))
                .collect()
        })
        .collect()
}

/// The masks of `app.people`'s columns for a masked subject, in table order.
pub(crate) fn people_masks() -> Vec<Option<(Mask, MySqlType)>> {
    vec![
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
    ]
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
    let people_masks = people_masks();
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

/// More of the red team: aggregates, windows, positions, charset conversions, locking reads,
/// row constructors, pattern matching, conversion and duplicate-key messages, multi-result
/// texts, diagnostics statements in every form, three-part column names, comments in odd
/// places and unusual literals either read masked values only or are refused; writes and
/// statements that would carry protected values elsewhere (INSERT … SELECT, CREATE … AS
/// SELECT, DO, GET DIAGNOSTICS) and character sets the parser does not read alike are refused.
#[test]
fn the_red_team_finds_nothing_through_aggregates_casts_diagnostics_and_odd_spellings() {
    let Some(env) = start() else { return };
    env.db
        .sql(
            "CREATE DATABASE other; CREATE TABLE other.customers (id int, ssn varchar(11)); \
             INSERT INTO other.customers VALUES (1, 'x'); CREATE TABLE app.copy (s varchar(80));",
        )
        .expect("a second database");
    let alice = env.grant("alice");
    let key = MaskKey::new(KEY, "test").expect("key");
    let run = |sql: &str| {
        let out = env.cli_utf8(&alice.login, &alice.password, sql);
        // A refusal is jitgate's (1227) or its parser's (1064), never the server's.
        assert!(
            out.ok || out.stderr.contains("1227 (42000)") || out.stderr.contains("1064 (42000)"),
            "{sql}: {}",
            out.stderr
        );
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("ERROR"))
            .collect();
        assert_no_clear(sql, &out.stdout);
        assert_no_clear(sql, &errors.join("\n"));
        assert!(!has_pad_like_run(&out.stderr), "{sql}: {}", out.stderr);
        // Rows and column names: the server names a column without alias after its text in
        // the rewritten statement, where the keyed masks' pads are (their constant halves,
        // runs of `5c` and `36`, are no secret).
        assert!(
            !key.holds_key_material(out.stdout.as_bytes()),
            "{sql}: {}",
            out.stdout
        );
        out
    };
    // Guesses at clear values match nothing, however spelled.
    for sql in [
        "SELECT id FROM customers WHERE ssn = X'3132332D34352D36373839'",
        "SELECT id FROM customers WHERE ssn = 0x3132332D34352D36373839",
        "SELECT id FROM customers WHERE ssn = _utf8mb4'123-45-6789' COLLATE utf8mb4_bin",
        "SELECT id FROM customers WHERE ssn = N'123-45-6789'",
        "SELECT id FROM customers WHERE ssn = \"123-45-6789\"",
        "SELECT id FROM customers WHERE CONVERT(ssn USING latin1) = '123-45-6789'",
        "SELECT id FROM customers WHERE CAST(ssn AS BINARY) = '123-45-6789'",
        "SELECT id FROM customers WHERE ROW(ssn, id) = ROW('123-45-6789', 1)",
        "SELECT id FROM customers WHERE (ssn, id) IN (('123-45-6789', 1))",
        "SELECT id FROM customers WHERE email REGEXP '^ada' OR email RLIKE 'ada@'",
        "SELECT id FROM customers WHERE ssn LIKE '1__-%' ESCAPE '!'",
        "SELECT id FROM customers WHERE app.customers.ssn = '123-45-6789'",
        "SELECT app.customers.id FROM customers JOIN orders ON orders.customer = app.customers.id WHERE app.customers.ssn LIKE '12%'",
        "SELECT id FROM/**/customers#\nWHERE ssn = '123-45-6789'",
        "SELECT id FROM customers -- c\nWHERE ssn = '123-45-6789'",
        "SELECT id FROM customers WHERE ssn = '123-45-6789' --1",
        "SELECT id FROM customers WHERE ssn = '123-45-6789' FOR UPDATE",
    ] {
        let out = run(sql);
        assert!(out.ok, "{sql}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{sql} found rows");
    }
    // Refused (what the parser does not read) or masked.
    for sql in [
        "SELECT id FROM customers WHERE ssn = '123-45-6789' LOCK IN SHARE MODE",
        "SELECT ssn FROM customers LOCK IN SHARE MODE",
        "SELECT \\N, ssn FROM customers WHERE ssn <> '123-45-6789'",
    ] {
        let out = run(sql);
        assert!(!out.ok || !out.stdout.is_empty(), "{sql}");
    }
    // Reads that succeed show masked values only.
    for sql in [
        "SELECT GROUP_CONCAT(ssn ORDER BY ssn SEPARATOR '|'), JSON_ARRAYAGG(email), JSON_OBJECTAGG(id, ssn) FROM customers",
        "SELECT ssn, ROW_NUMBER() OVER (ORDER BY ssn), LAG(ssn) OVER (ORDER BY id), FIRST_VALUE(email) OVER (PARTITION BY id) FROM customers",
        "SELECT ssn, email FROM customers ORDER BY 1 DESC, 2",
        "SELECT CONVERT(ssn USING latin1), CAST(ssn AS BINARY), CONVERT(email, CHAR CHARACTER SET utf8mb4), HEX(ssn), UNHEX(HEX(email)) FROM customers",
        "SELECT ssn FROM customers FOR UPDATE",
        "VALUES (1, 'x'), (2, 'y')",
        "SELECT ssn FROM customers; SELECT email FROM customers; SELECT 1",
        "SELECT app.customers.ssn, app.customers.* FROM customers ORDER BY app.customers.id",
        "SELECT 1 FROM customers WHERE ssn = 0; SHOW WARNINGS",
        "SELECT CAST(ssn AS DECIMAL), ssn + 0, CAST(email AS DATE) FROM customers; show warnings limit 5",
        "SELECT CAST(ssn AS SIGNED) FROM customers;/* c */ SHOW COUNT(*) WARNINGS; SHOW ERRORS",
        "SELECT CAST(ssn AS SIGNED) FROM customers; SELECT @@warning_count, @@error_count",
        "SELECT CAST(ssn AS SIGNED) FROM customers;\nshow\n# why\nwarnings",
        "SELECT/* x */ssn/**/FROM`customers`#",
        "SELECT (SELECT COUNT(full_name) FROM people)",
        "SELECT (SELECT COUNT(*) FROM people WHERE score > 0), (SELECT MIN(id) FROM people)",
        "SELECT id IN (SELECT id FROM people) FROM orders",
        "SELECT ssn FROM customers -- c",
    ] {
        let out = run(sql);
        assert!(out.ok, "{sql}: {}", out.stderr);
    }
    // Messages that quote values (duplicate group keys, conversions) quote masked ones.
    for sql in [
        "SELECT COUNT(*), CONCAT(ssn, FLOOR(RAND(0) * 2)) AS x FROM customers GROUP BY x",
        "SELECT JSON_EXTRACT(ssn, '$') FROM customers",
        "SELECT ssn FROM customers WHERE ssn REGEXP CONCAT('(', ssn)",
    ] {
        run(sql);
    }
    // What moves protected values elsewhere, reads diagnostics into variables, or changes how
    // the server lexes is refused.
    for sql in [
        "INSERT INTO copy SELECT ssn FROM customers",
        "REPLACE INTO copy SELECT email FROM customers",
        "INSERT INTO copy (s) VALUES ((SELECT ssn FROM customers LIMIT 1))",
        "CREATE TEMPORARY TABLE t AS SELECT ssn FROM customers",
        "CREATE TABLE t2 AS SELECT ssn FROM customers",
        "DO (SELECT ssn FROM customers LIMIT 1)",
        "GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
        "SELECT CAST(ssn AS SIGNED) FROM customers; GET DIAGNOSTICS @n = NUMBER",
        "SHOW WARNINGS LIMIT (SELECT 1)",
        "SET NAMES gbk",
        "SET NAMES 'big5'",
        "SET CHARACTER SET gbk",
        "SET character_set_client = gbk",
        "SET @@session.character_set_connection = sjis",
        "SELECT * FROM app.customers JOIN other.customers",
        "EXECUTE IMMEDIATE 'SELECT ssn FROM customers'",
        "EXECUTE IMMEDIATE CONCAT('SELECT ssn FROM cust', 'omers')",
        "CALL mysql.nothing()",
        "CHECKSUM TABLE customers",
        "ANALYZE SELECT ssn FROM customers WHERE ssn = '123-45-6789'",
        "ANALYZE FORMAT=JSON SELECT ssn FROM customers",
        "SHOW INDEX FROM customers",
        "SHOW TABLE STATUS",
        "SHOW EXPLAIN FOR 1",
        "LOCK TABLES customers READ",
        "XA START 'x'",
        "BINLOG 'AAAA'",
        "HELP 'SELECT'",
        "SELECT ssn FROM customers PROCEDURE ANALYSE()",
    ] {
        let out = run(sql);
        assert!(!out.ok, "{sql} passed: {}", out.stdout);
        assert!(
            out.stderr.contains("1227") || out.stderr.contains("1064"),
            "{sql}: {}",
            out.stderr
        );
    }
    let copied = env.cli_direct("SELECT COUNT(*) FROM app.copy");
    assert!(copied.stdout.contains('0'), "{}", copied.stdout);
}

/// Diagnostics statements inside one multi-statement COM_QUERY (the `mariadb` client sends its
/// statements one by one; PyMySQL sends the text whole): every form is recognised, the other
/// statements are rewritten, the warnings quote masked values only and no key pad; diagnostics
/// read into variables and other forms are refused.
#[test]
fn warnings_inside_multi_statement_texts_quote_masked_values_only() {
    let Some(env) = start() else { return };
    let alice = env.grant("alice");
    let script = r#"
from pymysql.constants import CLIENT
c = connect(client_flag=CLIENT.MULTI_STATEMENTS)
cur = c.cursor()
for sql in [
    "SELECT CAST(ssn AS SIGNED) FROM customers; SHOW WARNINGS",
    "SELECT ssn + 0 FROM customers;/* x */ show warnings limit 2; SHOW COUNT(*) WARNINGS",
    "SELECT app.customers.ssn FROM customers; SELECT 1 FROM customers WHERE ssn = 0;\nSHOW\n# c\nWARNINGS",
    "SELECT CAST(email AS DATE) FROM customers; SHOW ERRORS; SELECT @@warning_count",
]:
    cur.execute(sql)
    sets = [cur.fetchall()]
    while cur.nextset():
        sets.append(cur.fetchall())
    print("read", json.dumps(sets, default=str))
for sql in [
    "SELECT CAST(ssn AS SIGNED) FROM customers; GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
    "SELECT 1; SHOW WARNINGS WHERE 1",
    "SHOW WARNINGS; SELECT * FROM app.customers JOIN other.customers",
]:
    try:
        cur.execute(sql)
        print("passed", sql)
    except pymysql.MySQLError as e:
        print("refused", e.args[0])
"#;
    let out = env.python(&alice.login, &alice.password, script);
    assert!(out.ok, "{}", out.stderr);
    assert_no_clear("multi-statement warnings", &out.stdout);
    assert!(!has_pad_like_run(&out.stdout), "{}", out.stdout);
    assert_eq!(out.stdout.matches("read ").count(), 4, "{}", out.stdout);
    assert!(
        out.stdout.contains("Truncated incorrect") && out.stdout.contains("*******6789"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("refused 1227").count() + out.stdout.matches("refused 1064").count(),
        3,
        "{}",
        out.stdout
    );
}

/// MySQL starts a `--` comment only before an ASCII space (its character classes know no
/// other); the parser's tokenizer also before any Unicode space. A text whose `--` is followed
/// by a no-break space would hide its next statement from the analysis while the server runs
/// it: such texts are refused, whatever follows.
#[test]
fn a_comment_only_the_parser_sees_hides_no_statement() {
    let Some(env) = start() else { return };
    let alice = env.grant("alice");
    let script = r#"
from pymysql.constants import CLIENT
c = connect(client_flag=CLIENT.MULTI_STATEMENTS)
cur = c.cursor()
for sql in [
    "SELECT * FROM (SELECT 1 AS `\u00a0`) d WHERE 1 = 1 --\u00a0; SELECT ssn, email FROM customers",
    "SELECT * FROM (SELECT 1 AS `\u00a0`) d WHERE 1 = 1 --\u00a0; SELECT full_name, salary FROM people",
    "SELECT * FROM (SELECT 1 AS `\u3000`) d WHERE 1 = 1 --\u3000; SELECT ssn FROM customers",
    "SELECT * FROM (SELECT 1 AS `\u2028x`) d WHERE 1 = 1 --\u2028x; SELECT ssn FROM customers",
]:
    try:
        cur.execute(sql)
        sets = [cur.fetchall()]
        while cur.nextset():
            sets.append(cur.fetchall())
        print("read", json.dumps(sets, default=str))
    except pymysql.MySQLError as e:
        print("refused", e.args[0])
# Other spellings the server could read otherwise than the parser: whatever each does, the
# people's names never show in clear.
for sql in [
    "SELECT 1 AS $$; SELECT full_name FROM people; SELECT $$",
    "SELECT 1 AS $a$; SELECT full_name FROM people; SELECT $a$",
    "SELECT 1 AS \u00a0x; SELECT full_name FROM people",
    "SELECT '\\'; SELECT full_name FROM people; SELECT '\\'",
    "SELECT @'a; SELECT full_name FROM people; SELECT '",
    "SELECT 1 #\r; SELECT full_name FROM people\n",
    "SELECT 1 /* /* */; SELECT full_name FROM people; /* */",
    "SELECT 1 --\x0b; SELECT full_name FROM people",
    "SELECT 1 --\x0c; SELECT full_name FROM people",
    "SELECT 1 \x00; SELECT full_name FROM people",
    "SELECT \"\\\"; SELECT full_name FROM people; SELECT \"",
    "SELECT 1 `; SELECT full_name FROM people; SELECT `",
]:
    try:
        cur.execute(sql)
        sets = [cur.fetchall()]
        while cur.nextset():
            sets.append(cur.fetchall())
        print("other", json.dumps(sets, default=str))
    except pymysql.MySQLError as e:
        print("other refused", e.args[0])
"#;
    let out = env.python(&alice.login, &alice.password, script);
    assert!(out.ok, "{}", out.stderr);
    assert_no_clear("a comment only the parser sees", &out.stdout);
    for clear in ["Lovelace", "Zo\\u00eb", "Zoë"] {
        assert!(!out.stdout.contains(clear), "{clear}: {}", out.stdout);
    }
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("other"))
            .count(),
        12,
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Lovelace") && !out.stdout.contains("52340"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("refused 1064"))
            .count(),
        4,
        "{}",
        out.stdout
    );
}
