//! Masked subjects see masked values — in results, in predicates, in errors — and what could
//! read around the masks is refused; subjects with clear access see the data as it is.

mod common;

use common::{message, sqlstate, start_custom, Env};

const SEED: &str = "
CREATE TABLE customers (
  id int PRIMARY KEY, full_name text, email text, ssn text, card text, birth_date date, notes text
);
INSERT INTO customers VALUES
  (1, 'Ada Anders', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111', '1980-05-17',
   'Called from +1-202-555-0143 about card 4111 1111 1111 1111'),
  (2, 'Ben Baker', 'ben@mail.test', '234-56-7890', '5500 0000 0000 0004', '1975-11-02',
   'Prefers e-mail ben@mail.test; SSN 234-56-7890 verified'),
  (3, 'Carla Costa', 'carla@inbox.example', '345-67-8901', '3400 000000 00009', '1990-01-30',
   'Loyal customer, no open issues');
GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO svc;
ALTER TABLE customers ADD COLUMN postcode character(8);
UPDATE customers SET postcode = 'SW1A 1AA';
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
INSERT INTO orders VALUES (10, 1, 9.99), (11, 2, 19.99);
GRANT SELECT ON orders TO svc;
CREATE VIEW customer_contacts AS SELECT id, full_name, email, ssn FROM customers;
GRANT SELECT ON customer_contacts TO svc;
";

const SECTIONS: &str = r#"
[users.alice]
password_env = "ALICE_PASSWORD"
groups = ["analysts"]

[users.erin]
password_env = "ERIN_PASSWORD"
groups = ["admins"]

[roles]
admin = ["admins"]

[masking]
key_env = "MASK_KEY"
clear_groups = ["admins"]

[[masking.rules]]
resource = "app"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "app"
column = "public.customers.email"
mask = "email"

[[masking.rules]]
resource = "app"
column = "public.customers.card"
mask = "tokenize"

[[masking.rules]]
resource = "app"
column = "public.customers.birth_date"
mask = "generalize"
granularity = "year"

[[masking.rules]]
resource = "app"
column = "public.customers.notes"
mask = "scan"

[[masking.rules]]
resource = "app"
column = "public.customers.postcode"
mask = "partial"
keep_last = 3
"#;

fn start() -> Env {
    let env = start_custom(
        "",
        SECTIONS,
        &[
            ("ALICE_PASSWORD", "alice-pw-123"),
            ("ERIN_PASSWORD", "erin-pw-123"),
            ("MASK_KEY", "a-masking-key-of-enough-length-0123456789"),
        ],
    );
    env.cluster.psql("app", SEED).expect("seeding");
    env
}

const CLEAR_VALUES: [&str; 6] = [
    "123-45-6789",
    "234-56-7890",
    "ada@example.com",
    "4111 1111 1111 1111",
    "1980-05-17",
    "+1-202-555-0143",
];

/// Fails if any clear value appears anywhere in `text`.
fn assert_no_clear(what: &str, text: &str) {
    for clear in CLEAR_VALUES {
        assert!(!text.contains(clear), "{what} leaked {clear:?}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_subjects_see_masked_values_and_clear_subjects_see_data() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let erin = env.gateway.grant("erin", "app", "5m").unwrap();

    let all =
        "select id, full_name, email, ssn, card, birth_date, notes from customers order by id";
    let (ok, masked, err) = env.psql(&alice.uri, &["-c", all]);
    assert!(ok, "{err}\n{}", env.gateway.log());
    assert_no_clear("a masked SELECT", &masked);
    assert!(
        masked.contains("Ada Anders"),
        "unmasked columns stay: {masked}"
    );
    assert!(
        masked.contains("6789"),
        "partial keeps the last four: {masked}"
    );
    assert!(
        masked.contains("example.com"),
        "email keeps the domain: {masked}"
    );

    // Blank-padded character(n) columns too (their masked form is text).
    let (ok, postcode, err) = env.psql(
        &alice.uri,
        &["-c", "select postcode from customers where id = 1"],
    );
    assert!(ok, "{err}");
    assert_eq!(postcode.trim(), "*****1AA");

    let (ok, clear, err) = env.psql(&erin.uri, &["-c", all]);
    assert!(ok, "{err}");
    assert!(
        clear.contains("123-45-6789") && clear.contains("ada@example.com"),
        "{clear}"
    );
    // Clear access is byte-identical to a direct connection.
    let direct = env.cluster.psql("app", all).unwrap();
    assert_eq!(clear, direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predicates_casts_and_whole_rows_only_see_masked_values() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let client = env.connect(&alice.uri).await.unwrap();
    let count = |sql: &'static str| {
        let client = &client;
        async move {
            let row = client.query_one(sql, &[]).await.expect(sql);
            row.get::<_, i64>(0)
        }
    };
    // A WHERE on the clear prefix matches nothing: it only sees the masked value.
    assert_eq!(
        count("select count(*) from customers where ssn like '123%'").await,
        0
    );
    assert_eq!(
        count("select count(*) from customers where ssn = '123-45-6789'").await,
        0
    );
    assert_eq!(
        count("select count(*) from customers c join orders o on o.customer_id = c.id where c.email = 'ada@example.com'").await,
        0
    );
    // Expressions, whole rows, JSON, CTEs, subqueries, UNION, views, TABLE: all masked.
    for sql in [
        "select ssn || '' from customers",
        "select concat(ssn, email) from customers",
        "select row_to_json(c)::text from customers c",
        "select to_jsonb(c.*)::text from customers as c",
        "with x as (select * from customers) select ssn, email from x",
        "select (select ssn from customers where id = 1)",
        "select ssn from customers union select email from customers",
        "select * from customer_contacts",
        "table customers",
        "select ssn from only public.customers",
        "select \"ssn\" from \"customers\"",
        "select string_agg(ssn, ',' order by ssn) from customers",
    ] {
        let rows = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let text = format!("{rows:?}");
        assert_no_clear(sql, &text);
    }
    // A cast that fails carries the masked value in its message, never the clear one.
    match client.simple_query("select ssn::int from customers").await {
        Ok(rows) => assert_no_clear("ssn::int", &format!("{rows:?}")),
        Err(e) => assert_no_clear("the ssn::int error", &format!("{e:?} {}", message(&e))),
    }
    // Extended protocol with parameters goes through the same rewrite.
    let rows = client
        .query("select ssn from customers where id = $1", &[&1i32])
        .await
        .unwrap();
    let ssn: String = rows[0].get(0);
    assert!(!ssn.contains("123-45"), "{ssn}");
}

/// Columns a simple query only returns are read clear and masked in the result stream; the
/// values must be exactly those the SQL masks give (extended protocol), and nothing clear may
/// pass, whatever the statement does around them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masks_applied_in_the_result_stream_equal_the_sql_masks() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let client = env.connect(&alice.uri).await.unwrap();
    for sql in [
        "select ssn, email, card, postcode from customers order by id",
        "select x.ssn as s, x.card, id from public.customers as x where id < 3 order by id",
        "select *, ssn from customers order by id limit 2",
    ] {
        let simple: Vec<Vec<Option<String>>> = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect();
        assert_no_clear(sql, &format!("{simple:?}"));
        assert!(!simple.is_empty(), "{sql}");
        // The same statement, extended protocol: every mask in SQL. Compared column by column
        // where both are text.
        let typed = client.query(sql, &[]).await.expect(sql);
        for (row, simple_row) in typed.iter().zip(&simple) {
            for (i, column) in row.columns().iter().enumerate() {
                if column.name() == "birth_date" || column.name() == "id" {
                    continue;
                }
                let sql_masked: Option<String> = row.get(i);
                assert_eq!(sql_masked, simple_row[i], "{sql}: column {}", column.name());
            }
        }
    }
    // The stream-masked columns never reach a predicate, an ordering or a function clear.
    for sql in [
        "select ssn from customers where ssn like '123%'",
        "select ssn, email from customers order by ssn",
        "select ssn as s from customers order by s",
        "select card from customers order by 1",
        "select ssn from customers where id = (select id from customers where ssn = '123-45-6789')",
    ] {
        let rows = client.simple_query(sql).await.expect(sql);
        assert_no_clear(sql, &format!("{rows:?}"));
    }
    let matching = client
        .simple_query("select count(*) from customers where ssn like '123%'")
        .await
        .unwrap()
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
    assert_eq!(matching.as_deref(), Some("0"));
    // The client encoding stays UTF8, so no conversion error can quote a clear character.
    let err = client
        .simple_query("set client_encoding = 'LATIN1'")
        .await
        .expect_err("refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_could_read_around_the_masks_is_refused() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let client = env.connect(&alice.uri).await.unwrap();
    for sql in [
        "do $$ begin raise notice '%', (select ssn from customers limit 1); end $$",
        "select * from pg_stats where tablename = 'customers'",
        "select query from pg_stat_activity",
        "explain analyze select * from customers where ssn = '123-45-6789'",
        "select query_to_xml('select ssn from customers', true, true, '')",
        "set role postgres",
    ] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "{sql}: {}",
            message(&err)
        );
    }
    // The session survives its refusals.
    let n: i64 = client
        .query_one("select count(*) from customers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    // And the refusals are audited for the masked-refusals alert.
    let events = env.audit_until(|e| {
        e.iter()
            .filter(|e| e.event.kind == "masking.refused")
            .count()
            >= 6
    });
    assert!(
        events
            .iter()
            .filter(|e| e.event.kind == "masking.refused")
            .count()
            >= 6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_cursors_and_prepared_statements_are_masked_too() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let (ok, out, err) = env.psql(
        &alice.uri,
        &[
            "-c",
            "copy customers to stdout",
            "-c",
            "copy (select ssn, email from customers) to stdout with (format csv)",
            "-c",
            "begin; declare c cursor for select * from customers; fetch all from c; commit;",
            "-c",
            "prepare p as select ssn, notes from customers; execute p;",
        ],
    );
    assert!(ok, "{err}");
    assert_no_clear("COPY, cursors and PREPARE", &out);
    assert!(out.contains("Ada Anders"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_subjects_get_results_byte_identical_to_a_direct_connection() {
    let env = start();
    let erin = env.gateway.grant("erin", "app", "5m").unwrap();
    let statements = [
        "select * from customers order by id",
        "select * from customer_contacts order by id",
        "select c.full_name, o.total from customers c join orders o on o.customer_id = c.id order by o.id",
        "select ssn, count(*) from customers group by ssn order by ssn",
        "select row_to_json(c)::text from customers c order by id",
        "select 1::int2, 2::int4, 3::int8, 1.5::numeric(10,3), 2.25::float8, true, 'x'::bytea, \
         '2026-01-02'::date, '2026-01-02 03:04:05+00'::timestamptz, '{\"a\": 1}'::jsonb, \
         gen_random_uuid() is not null, interval '1 day', array[1,2,3]",
        "copy (select id, email, birth_date from customers order by id) to stdout with (format csv)",
        "select string_agg(ssn, ',' order by ssn) from customers",
    ];
    for sql in statements {
        let (ok, through, err) = env.psql(&erin.uri, &["-c", sql]);
        assert!(ok, "{sql}: {err}");
        let direct = env.cluster.psql("app", sql).unwrap();
        assert_eq!(through, direct, "{sql}");
    }
    // Binary results through the extended protocol, compared value by value.
    let through = env.connect(&erin.uri).await.unwrap();
    let (direct, connection) = tokio_postgres::connect(
        &env.cluster.uri(env.cluster.superuser(), None, "app"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let sql = "select id, full_name, ssn, birth_date, postcode from customers order by id";
    let a = through.query(sql, &[]).await.unwrap();
    let b = direct.query(sql, &[]).await.unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.get::<_, i32>(0), y.get::<_, i32>(0));
        assert_eq!(x.get::<_, String>(2), y.get::<_, String>(2));
        assert_eq!(x.get::<_, Option<String>>(4), y.get::<_, Option<String>>(4));
    }
}

/// A `scan` column that a statement only returns is read clear and scanned by the detectors in
/// the stream (exactly: fullwidth text stays as written, a reference that fails Luhn stays);
/// where the column is evaluated, the SQL form replaces at least as much, so that the same note
/// read through `reverse`, `upper` or a predicate gives nothing away either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_columns_are_scanned_in_the_stream_and_over_masked_where_evaluated() {
    let env = start();
    env.cluster
        .psql(
            "app",
            "INSERT INTO customers (id, full_name, notes) VALUES (4, 'Dan Doe', \
             'ｎｏｔｅ: Social-Security no. 078051120, SSN １２３–４５–６７８９, card 4111.1111.1111.1111, \
              call 394/757/5964, mail dan＠example．com, ref 1234 5678 9012 3456');",
        )
        .expect("a note in every format");
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let clear = ["078051120", "6789", "4111.1111", "757/5964", "dan＠example"];
    let run = |sql: &str| {
        let (ok, out, err) = env.psql(&alice.uri, &["-At", "-c", sql]);
        assert!(ok, "{sql}: {err}");
        out
    };

    let returned = run("select notes from customers where id = 4");
    for value in clear {
        assert!(!returned.contains(value), "{value} in {returned}");
    }
    assert!(
        returned.contains("ｎｏｔｅ"),
        "scanned in the stream: {returned}"
    );
    assert!(
        returned.contains("1234 5678 9012 3456"),
        "a reference that fails Luhn is no card: {returned}"
    );
    assert!(
        returned.contains("[ssn]") && returned.contains("[card]"),
        "{returned}"
    );

    let reversed = run("select reverse(notes) from customers where id = 4");
    let upper = run("select upper(notes) from customers where id = 4");
    for value in clear {
        let backwards: String = value.chars().rev().collect();
        assert!(!reversed.contains(&backwards), "{value} in {reversed}");
        assert!(!upper.contains(&value.to_uppercase()), "{value} in {upper}");
    }
    assert!(upper.contains("NOTE:"), "folded in SQL: {upper}");
    assert!(upper.contains("1234 5678 9012 3456"), "{upper}");
    for probe in [
        "select count(*) from customers where notes like '%078051120%'",
        "select count(*) from customers where notes like '%6789%'",
        "select count(*) from customers where translate(notes, '.', '') like '%4111111111111111%'",
    ] {
        assert_eq!(run(probe).trim(), "0", "{probe}");
    }
}
