//! Red-team cases for the PostgreSQL statement analysis, against a real PostgreSQL through the
//! real gateway. Each case is an attack: a masked subject trying to read or infer a clear value
//! (whole rows through attribute notation, server messages that echo statements, values split
//! across rows), a read-only subject trying to write, or one subject reaching another's sessions.
//! Every case asserts that nothing clear, no derived fact and no write gets through.

mod common;

use common::{start_custom, Env};
use jitgate_testkit::free_port;

const SEED: &str = "
CREATE TABLE customers (
  id int PRIMARY KEY, full_name text, email text, ssn text, card text, notes text
);
INSERT INTO customers VALUES
  (1, 'Ada Anders', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111',
   'Card 4111 1111 1111 1111 on file'),
  (2, 'Ben Baker', 'ben@mail.test', '234-56-7890', '5500 0000 0000 0004',
   'card part one 4111 1111'),
  (3, 'Carla Costa', 'carla@inbox.example', '345-67-8901', '3400 000000 00009',
   '1111 1111 end of card');
GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO svc;
CREATE TABLE notes_log (id int PRIMARY KEY, body text);
GRANT SELECT, INSERT, UPDATE, DELETE ON notes_log TO svc;
CREATE SEQUENCE tickets;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE tickets TO svc;
";

fn sections(api_port: u16) -> String {
    format!(
        r#"
[api]
listen = "127.0.0.1:{api_port}"

[users.alice]
password_env = "ALICE_PASSWORD"
groups = ["analysts"]

[users.erin]
password_env = "ERIN_PASSWORD"
groups = ["admins"]

[users.rob]
password_env = "ROB_PASSWORD"
groups = ["readers"]

[roles]
admin = ["admins"]

[[access]]
resources = ["app"]
requesters = ["group:readers"]
max_duration = "1h"
approvals = 0
read_only = true

[masking]
key_env = "MASK_KEY"
clear_groups = ["admins", "readers"]

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
column = "public.customers.notes"
mask = "scan"
"#
    )
}

fn start() -> Env {
    let env = start_custom(
        "",
        &sections(free_port()),
        &[
            ("ALICE_PASSWORD", "alice-pw-123"),
            ("ERIN_PASSWORD", "erin-pw-123"),
            ("ROB_PASSWORD", "rob-pw-123"),
            ("MASK_KEY", "a-masking-key-of-enough-length-0123456789"),
        ],
    );
    env.cluster.psql("app", SEED).expect("seeding");
    env
}

/// Clear values (and fragments of them) that must never reach alice.
const CLEAR: [&str; 8] = [
    "123-45-6789",
    "234-56-7890",
    "345-67-8901",
    "45-6789",
    "ada@example.com",
    "4111 1111 1111 1111",
    "4111111111111111",
    "5500 0000 0000 0004",
];

fn assert_no_clear(what: &str, text: &str) {
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} leaked {clear:?}: {text}");
    }
}

/// alice's connection string (masked subject, read-write grant).
fn alice(env: &Env) -> String {
    env.gateway
        .grant("alice", "app", "10m")
        .expect("grant for alice")
        .uri
}

/// erin's connection string (clear subject, read-write grant).
fn erin(env: &Env) -> String {
    env.gateway
        .grant("erin", "app", "10m")
        .expect("grant for erin")
        .uri
}

/// rob's connection string: a read-only grant, requested and auto-approved through the API.
fn rob(env: &Env) -> String {
    let rob = env.gateway.user("rob");
    rob.login("rob-pw-123").expect("rob logs in");
    rob.ok(&[
        "request",
        "app",
        "--duration",
        "10m",
        "--reason",
        "red team",
    ])
    .expect("rob's request");
    rob.ok(&["connect", "app", "--uri"])
        .expect("rob's connection string")
        .trim()
        .to_owned()
}

/// Runs one statement text with psql (simple protocol); (success, stdout, stderr).
fn run(env: &Env, uri: &str, sql: &str) -> (bool, String, String) {
    env.psql(uri, &["-c", sql])
}

/// Class 1: `t.f` is `f(t)` when t has no column f — the whole row. The shortcut that reads
/// columns a simple query only returns clear (for the result stream to mask) must not take
/// these for columns: the function would then run over the clear row, in the select list, in
/// WHERE and ORDER BY oracles, inside md5/length, however the name is qualified or quoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_rows_through_attribute_notation_stay_masked() {
    let env = start();
    let uri = alice(&env);
    // Select list: the function's output is the row as the masking subquery gives it.
    for sql in [
        "select customers.row_to_json from customers",
        "select customers.to_jsonb from customers",
        "select customers.record_send from customers",
        "select customers.concat from customers",
        "select c.to_jsonb->>'ssn' from customers c",
        "select c.to_jsonb->>'ssn', c.ssn from customers c",
        "select public.customers.record_send from customers",
        "select public.customers.row_to_json from public.customers",
        "select \"customers\".\"to_jsonb\" from customers",
        "select x.to_json as ssn, x.ssn from customers as x",
        "select ssn, (customers).to_jsonb from customers",
        "select ssn, translate(c.concat, '0123456789', 'abcdefghij') from customers c",
        "select ssn, quote_nullable(c.to_jsonb) from customers c",
        "select ssn, encode(c.record_send, 'escape') from customers c",
    ] {
        let (ok, out, err) = run(&env, &uri, sql);
        assert_no_clear(sql, &out);
        assert_no_clear(sql, &err);
        let _ = ok;
    }
    // Oracles: a clear reading would answer 1 (or the true value); masked, none match.
    for sql in [
        "select count(*) from customers where customers.to_jsonb->>'ssn' = '123-45-6789'",
        "select count(*) from customers c where c.to_jsonb->>'ssn' like '1%'",
        "select count(*) from customers c where c.to_jsonb::text like '%123-45%'",
        "select count(*) from customers c where c.row_to_json->>'email' = 'ada@example.com'",
        "select count(*) from customers c \
         where md5(c.to_jsonb->>'ssn') = md5('123-45-6789')",
        "select count(*) from customers c where c.to_jsonb->>'card' = '4111 1111 1111 1111'",
        "select count(*) from customers c \
         where 1 / (case when c.to_jsonb->>'ssn' like '1%' then 0 else 1 end) = 0",
    ] {
        let (ok, out, err) = run(&env, &uri, sql);
        assert!(ok, "{sql}: {err}");
        assert_eq!(out.trim(), "0", "{sql} answered a clear-value oracle");
    }
    // Ordering: through the whole row, the order is the masked column's order, never the
    // clear one.
    let ids = |sql: &str| {
        let (ok, out, err) = run(&env, &uri, sql);
        assert!(ok, "{sql}: {err}");
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(
        ids("select id from customers c order by c.to_jsonb->>'card', id"),
        ids("select id from customers order by card, id"),
    );
    assert_eq!(
        ids("select id from customers c order by c.row_to_json->>'card' desc, c.ssn"),
        ids("select id from customers order by card desc, ssn"),
    );
    // Three-part names cannot name the masking subquery that stands for the table: PostgreSQL
    // refuses them (an error that carries nothing), and nothing is read clear.
    for sql in [
        "select public.customers.to_jsonb->>'ssn' from public.customers order by id",
        "select count(*) from customers where public.customers.to_jsonb->>'ssn' like '2%'",
    ] {
        let (ok, out, err) = run(&env, &uri, sql);
        assert_no_clear(sql, &out);
        assert_no_clear(sql, &err);
        assert!(
            !ok || out.trim() == "0" || out.contains("6789"),
            "{sql}: {out}"
        );
    }
}

/// The SQLSTATE a statement text is refused with through `uri`, or `None` when it runs.
async fn refused_with(env: &Env, uri: &str, sql: &str) -> Option<String> {
    let client = env.connect(uri).await.expect("connecting through jitgate");
    match client.simple_query(sql).await {
        Ok(_) => None,
        Err(e) => Some(common::sqlstate(&e).unwrap_or_else(|| e.to_string())),
    }
}

/// Class 2: settings that make the server echo statements (the rewritten text carries the
/// keyed masks' pads) are refused for masked subjects, in every spelling; harmless settings
/// pass; and a server or role default that would send LOG messages does not reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_echo_statements_are_refused_for_masked_subjects() {
    let env = start();
    let uri = alice(&env);
    for sql in [
        "set client_min_messages = log",
        "set client_min_messages to debug5",
        "set debug_print_parse = on",
        "set local debug_print_plan = on",
        "set debug_print_rewritten to true",
        "set log_statement = 'all'",
        "set auto_explain.log_min_duration = 0",
        "select set_config('debug_print_parse', 'on', false)",
        "select pg_catalog.set_config('CLIENT_MIN_MESSAGES', 'log', false)",
        "select set_config(setting_name => 'debug_print_parse', new_value => 'on', is_local => false)",
        "select 1; set client_min_messages = log; set debug_print_parse = on; select card from customers",
        "alter role current_user set debug_print_parse = on",
        "update pg_settings set setting = 'log' where name = 'client_min_messages'",
    ] {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    for sql in [
        "set client_min_messages = warning",
        "reset client_min_messages",
        "set search_path to public",
        "set time zone 'UTC'",
        "set extra_float_digits = 3",
        "set application_name = 'red team'",
        "set statement_timeout = '5s'",
    ] {
        assert_eq!(refused_with(&env, &uri, sql).await, None, "{sql}");
    }

    // The upstream role is told to echo every parse tree at LOG: masked sessions start at
    // NOTICE, so nothing of it reaches alice.
    env.cluster
        .psql(
            "app",
            "ALTER ROLE svc SET client_min_messages = 'log'; \
             ALTER ROLE svc SET debug_print_parse = on",
        )
        .expect("role settings");
    let (ok, out, err) = env.psql(
        &alice(&env),
        &[
            "-c",
            "show client_min_messages",
            "-c",
            "select card from customers",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("notice"), "{out}");
    assert!(!err.contains("LOG") && !err.contains("PARSETREE"), "{err}");
    assert_no_clear("a role default", &err);
}

/// Class 10: the client encoding stays UTF8 in every session jitgate analyses — read-only ones
/// too — so the text jitgate checks is the text the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_encoding_stays_utf8_for_read_only_sessions() {
    let env = start();
    let uri = rob(&env);
    for sql in [
        "set client_encoding = 'SJIS'",
        "set client_encoding to gbk",
        "set names 'BIG5'",
        "select set_config('client_encoding', 'SJIS', false)",
        "select pg_catalog.set_config('client_encoding', 'SJIS', true)",
        "select 1; set client_encoding = 'SJIS'",
    ] {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    assert_eq!(
        refused_with(&env, &uri, "reset client_encoding").await,
        None
    );
    // Asked for at start-up: the upstream session still speaks UTF8.
    let out = std::process::Command::new("psql")
        .arg(&uri)
        .args(["-X", "-A", "-t", "-c", "show client_encoding"])
        .env("PGCLIENTENCODING", "SJIS")
        .output()
        .expect("running psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "UTF8");
    // And the read-only grant still holds: writes are refused.
    assert_eq!(
        refused_with(&env, &uri, "insert into notes_log values (1, 'x')")
            .await
            .as_deref(),
        Some("25006")
    );
}

/// Functions a superuser created long ago under harmless names: one runs query_to_xml (its
/// implementation says so), one is PL/pgSQL that switches read-only mode off.
const WRAPPERS: &str = "
CREATE FUNCTION public.innocent(text, boolean, boolean, text) RETURNS xml
  AS 'query_to_xml' LANGUAGE internal STABLE STRICT;
CREATE FUNCTION public.flip() RETURNS text LANGUAGE plpgsql AS
  $$BEGIN RETURN set_config('default_transaction_read_only', 'off', false); END$$;
CREATE VIEW public.xml_report AS
  SELECT query_to_xml('select ssn, card from public.customers', true, false, '') AS x;
CREATE VIEW public.flipped AS SELECT public.flip() AS was;
GRANT SELECT ON public.xml_report, public.flipped TO svc;
";

/// Class 9: a read-only session cannot leave read-only mode through functions that run SQL
/// text (by name or by what they are) or through user code; writes stay refused afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grants_hold_against_functions_that_run_sql_text() {
    let env = start();
    env.cluster.psql("app", WRAPPERS).expect("wrappers");
    let uri = rob(&env);
    let off = "select set_config(''default_transaction_read_only'', ''off'', false)";
    let attacks = [
        format!("select query_to_xml('{off}', true, false, '')"),
        format!("select pg_catalog.query_to_xml_and_xmlschema('{off}', true, false, '')"),
        format!("select * from ts_stat('{off}::tsvector')"),
        format!("select ts_rewrite('a'::tsquery, '{off}::tsquery, ''b''::tsquery')"),
        format!("select innocent('{off}', true, false, '')"),
        format!("select public.innocent('{off}', true, false, '')"),
        "select flip()".to_string(),
        "select public.flip()".to_string(),
        "select set_config('default_transaction_read_only', 'off', false)".to_string(),
        "select set_config(setting_name => 'default_transaction_read_only', \
         new_value => 'off', is_local => false)"
            .to_string(),
        "select table_to_xml('customers', false, false, '')".to_string(),
        // Views a superuser made over such code.
        "select * from flipped".to_string(),
        "select * from xml_report".to_string(),
    ];
    for sql in &attacks {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    // One connection, the attacks then a write: the write is still refused, and nothing was
    // written.
    let client = env.connect(&uri).await.expect("rob connects");
    for sql in &attacks {
        let _ = client.simple_query(sql).await;
    }
    let show = client
        .simple_query("show default_transaction_read_only")
        .await
        .expect("show");
    let value = show.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("on"));
    let write = client
        .simple_query("insert into notes_log values (1, 'written')")
        .await
        .expect_err("a write under a read-only grant");
    assert_eq!(common::sqlstate(&write).as_deref(), Some("25006"));
    let count = env
        .cluster
        .psql("app", "select count(*) from notes_log")
        .expect("count");
    assert_eq!(count.trim(), "0");
}

/// Class 11: every upstream session logs in as the same service role, and PostgreSQL lets a
/// role signal and inspect its own backends. A guarded session (masked or read-only) can
/// neither find another subject's backend nor cancel or end it, nor read its statement text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_sessions_cannot_reach_other_subjects_sessions() {
    let env = start();
    let erin = env.connect(&erin(&env)).await.expect("erin connects");
    let pid = erin
        .simple_query("select pg_backend_pid()")
        .await
        .expect("erin's pid")
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a pid");
    // erin's long statement, with a literal she would not want others to read.
    let work = tokio::spawn(async move {
        erin.simple_query("select pg_sleep(4), 'erin-secret-literal'")
            .await
            .map(|_| ())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for uri in [alice(&env), rob(&env)] {
        for sql in [
            format!("select pg_cancel_backend({pid})"),
            format!("select pg_terminate_backend({pid})"),
            format!("select pg_catalog.pg_terminate_backend({pid}, 100)"),
            format!("select pg_log_backend_memory_contexts({pid})"),
            "select pg_stat_get_backend_activity(s) from pg_stat_get_backend_idset() s".to_string(),
            "select pg_stat_get_backend_pid(s) from pg_stat_get_backend_idset() s".to_string(),
            "select * from pg_stat_get_activity(null)".to_string(),
            "select query from pg_stat_activity".to_string(),
            "select pid from pg_catalog.pg_stat_activity where pid <> pg_backend_pid()".to_string(),
            "select pid from pg_locks".to_string(),
            format!("select pg_blocking_pids({pid})"),
        ] {
            assert_eq!(
                refused_with(&env, &uri, &sql).await.as_deref(),
                Some("42501"),
                "{sql}"
            );
        }
    }
    let finished = work.await.expect("erin's task");
    assert!(
        finished.is_ok(),
        "erin's statement was cancelled: {finished:?}"
    );
}

/// Class 6 (aggregation side): a card split across rows passes the per-value `scan` mask as two
/// halves; aggregates that join rows may not put them back together, however the column is
/// named or renamed on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_cannot_be_joined_around_a_scan_mask() {
    let env = start();
    env.cluster.psql("app", WRAPPERS).expect("wrappers");
    let uri = alice(&env);
    for sql in [
        "select string_agg(notes, ' ' order by id) from customers where id > 1",
        "select array_to_string(array_agg(notes order by id), ' ') from customers",
        "select json_agg(c.notes) from customers c",
        "select jsonb_agg(c) from customers c",
        "select xmlagg(xmlelement(name n, notes)) from customers",
        "select string_agg(x, ' ') from (select notes as x from customers where id > 1) s",
        "with w as (select notes as x from customers) select string_agg(x, ' ') from w",
        "select json_arrayagg(notes) from customers",
        "select string_agg(notes, ' ') over (order by id) from customers",
    ] {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    // A view over query_to_xml would read the clear table (known from the snapshot: the
    // view was there before alice's first login).
    assert_eq!(
        refused_with(&env, &uri, "select * from xml_report")
            .await
            .as_deref(),
        Some("42501")
    );
    // Aggregates over clear columns still run.
    let (ok, out, err) = run(
        &env,
        &uri,
        "select string_agg(full_name, ', ' order by id) from customers",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Ada Anders, Ben Baker, Carla Costa");
}

/// Class 7: the catalog snapshot a masked session analyses with. DDL of another session —
/// a view over the protected table created, or a clear view replaced by one over it — must
/// reach sessions that were open before it: a session that kept its login-time snapshot read
/// the new view as an unknown (qualified) relation and the replaced one as the clear view it
/// was, both unmasked. Functions of the masked values (`reverse`) defeat the detectors, so
/// only the rewrite can mask them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_of_other_sessions_reaches_open_masked_sessions() {
    let env = start();
    let erin = erin(&env);
    let (ok, _, err) = run(
        &env,
        &erin,
        "create view public.team_notes as select id, body from notes_log",
    );
    assert!(ok, "{err}");
    let uri = alice(&env);
    let client = env.connect(&uri).await.expect("alice connects");
    client
        .simple_query("select count(*) from team_notes")
        .await
        .expect("alice reads the clear view");
    // erin, in her own session through jitgate, while alice's stays open.
    for ddl in [
        "create view public.customer_report as select id, ssn, email from customers",
        "create or replace view public.team_notes as select id, ssn as body from customers",
    ] {
        let (ok, _, err) = run(&env, &erin, ddl);
        assert!(ok, "{ddl}: {err}");
    }
    let reversed: Vec<String> = CLEAR.iter().map(|c| c.chars().rev().collect()).collect();
    for sql in [
        "select reverse(ssn) || ' ' || reverse(email) from public.customer_report",
        "select reverse(body) from team_notes",
        "select reverse(body) from public.team_notes where body like '1%'",
    ] {
        let text = match client.simple_query(sql).await {
            Ok(messages) => rows_text(&messages),
            Err(e) => e.to_string(),
        };
        for r in &reversed {
            assert!(!text.contains(r.as_str()), "{sql} leaked {r:?}: {text}");
        }
        assert_no_clear(sql, &text);
    }
    // The view is masked, not refused: alice reads its masked values.
    let rows = client
        .simple_query("select ssn from public.customer_report order by id")
        .await
        .expect("the new view reads masked");
    let text = rows_text(&rows);
    assert!(text.contains("6789"), "{text}");
    // DDL made directly on the database reaches the snapshot only when it is next reloaded:
    // until then a relation the snapshot lacks is refused, never read as it is.
    env.cluster
        .psql(
            "app",
            "CREATE VIEW public.direct_report AS SELECT id, ssn, email FROM customers;
             GRANT SELECT ON public.direct_report TO svc;",
        )
        .expect("a view made directly");
    let sql = "select reverse(ssn) || ' ' || reverse(email) from public.direct_report";
    let text = match client.simple_query(sql).await {
        Ok(messages) => rows_text(&messages),
        Err(e) => {
            assert_eq!(common::sqlstate(&e).as_deref(), Some("42501"), "{e}");
            e.to_string()
        }
    };
    for r in &reversed {
        assert!(!text.contains(r.as_str()), "{sql} leaked {r:?}: {text}");
    }
    // A relation the subject creates is usable in the same text and in the next statements.
    client
        .batch_execute(
            "create table public.scratch (x text); insert into public.scratch values ('a'); \
             select x from public.scratch",
        )
        .await
        .expect("a table created and used in one text");
    let rows = client
        .simple_query("select x from public.scratch")
        .await
        .expect("the new table, in the next statement");
    assert_eq!(rows_text(&rows), "a\n");
}

/// The values of the rows of a simple query, one line per row, tab-separated.
fn rows_text(messages: &[tokio_postgres::SimpleQueryMessage]) -> String {
    let mut text = String::new();
    for m in messages {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
            let values: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
            text.push_str(&values.join("\t"));
            text.push('\n');
        }
    }
    text
}

/// Class 8: foreign keys over masked columns. Writes to tables without masked columns are
/// allowed, but a foreign key makes PostgreSQL compare them with the masked table's real values:
/// inserting into the referencing table succeeds only if the key exists there, deleting from the
/// referenced table fails while a masked row still holds the key. Success or failure is the
/// oracle, whatever the error text says; such writes are refused, the others still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_keys_cannot_test_masked_values() {
    let env = start();
    env.cluster
        .psql(
            "app",
            "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
             CREATE TABLE newsletter (email text REFERENCES customers (email), topic text);
             CREATE TABLE registry (ssn text PRIMARY KEY);
             INSERT INTO registry SELECT ssn FROM customers;
             INSERT INTO registry VALUES ('999-99-9999');
             ALTER TABLE customers ADD FOREIGN KEY (ssn) REFERENCES registry (ssn);
             GRANT SELECT, INSERT, UPDATE, DELETE ON newsletter, registry TO svc;",
        )
        .expect("keys");
    let uri = alice(&env);
    // Each pair: a value the masked table holds and one it does not; both are refused alike.
    for (held, absent) in [
        (
            "insert into newsletter values ('ada@example.com', 'news')",
            "insert into newsletter values ('nobody@example.com', 'news')",
        ),
        (
            "copy newsletter from stdin",
            "copy newsletter (email) from stdin",
        ),
        (
            "delete from registry where ssn = '123-45-6789'",
            "delete from registry where ssn = '999-99-9999'",
        ),
        (
            "update registry set ssn = ssn || '' where ssn = '123-45-6789'",
            "update registry set ssn = ssn || '' where ssn = '999-99-9999'",
        ),
        (
            "merge into newsletter n using (select 'ada@example.com' e) s on false \
             when not matched then insert values (s.e, 'x')",
            "merge into newsletter n using (select 'nobody@example.com' e) s on false \
             when not matched then insert values (s.e, 'x')",
        ),
    ] {
        for sql in [held, absent] {
            assert_eq!(
                refused_with(&env, &uri, sql).await.as_deref(),
                Some("42501"),
                "{sql}"
            );
        }
    }
    // Writes that compare nothing with the masked table still run.
    for sql in [
        "insert into registry values ('000-00-0000')",
        "delete from newsletter",
        "select count(*) from newsletter",
    ] {
        assert_eq!(refused_with(&env, &uri, sql).await, None, "{sql}");
    }
}

/// Class 9: statistics through views. `pg_stats` and `pg_statistic` are refused by name, but a
/// view over them (a monitoring view, created by an administrator) showed the histograms and
/// most common values of the masked columns under another name; a view over the bootstrap
/// catalog `pg_statistic` even leaves no dependency in `pg_depend`. Such views are refused as
/// their sources are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_cannot_be_read_through_views() {
    let env = start();
    env.cluster
        .psql(
            "app",
            "ANALYZE customers;
             CREATE VIEW public.column_stats AS
               SELECT tablename, attname, histogram_bounds::text AS bounds FROM pg_stats;
             CREATE VIEW public.raw_stats AS
               SELECT starelid, staattnum, stavalues1::text AS bounds FROM pg_statistic;
             CREATE VIEW public.stats_report AS SELECT * FROM public.column_stats;
             GRANT SELECT ON public.column_stats, public.raw_stats, public.stats_report TO svc;",
        )
        .expect("statistics views");
    let uri = alice(&env);
    for sql in [
        "select bounds from public.column_stats where tablename = 'customers'",
        "select bounds from raw_stats",
        "select bounds from stats_report where attname = 'ssn'",
        "select count(*) from customers c join column_stats s on s.tablename = 'customers'",
    ] {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
        let (_, out, err) = run(&env, &uri, sql);
        assert_no_clear(sql, &out);
        assert_no_clear(sql, &err);
    }
}

/// Code the database runs on a write to a clear table, made by someone else: a trigger function
/// copying masked columns into a clear table, a rule `ON INSERT DO ALSO`, a column default
/// calling a SQL function that reads them, a trigger on a partition rows are routed to, a
/// trigger on the base of an updatable view, a trigger on a table a cascading delete reaches.
const WRITE_HOOKS: &str = "
CREATE TABLE copied (id int, v text);
CREATE FUNCTION copy_ssn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO copied SELECT NEW.id, ssn FROM customers WHERE id = NEW.id;
  RETURN NEW;
END $$;
CREATE TABLE requests (id int PRIMARY KEY);
CREATE TRIGGER t_copy AFTER INSERT OR UPDATE ON requests
  FOR EACH ROW EXECUTE FUNCTION copy_ssn();
CREATE TRIGGER t_off AFTER DELETE ON requests FOR EACH ROW EXECUTE FUNCTION copy_ssn();
ALTER TABLE requests DISABLE TRIGGER t_off;
CREATE VIEW requests_v AS SELECT id FROM requests;
CREATE TABLE pings (id int);
CREATE RULE r_copy AS ON INSERT TO pings
  DO ALSO INSERT INTO copied SELECT NEW.id, ssn FROM customers WHERE id = NEW.id;
CREATE FUNCTION ssn_of(int) RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT ssn FROM customers WHERE id = $1 $$;
CREATE TABLE stamps (id int, v text DEFAULT ssn_of(1));
CREATE TABLE routed (id int) PARTITION BY RANGE (id);
CREATE TABLE routed_low PARTITION OF routed FOR VALUES FROM (0) TO (100);
CREATE TRIGGER t_routed AFTER INSERT ON routed_low FOR EACH ROW EXECUTE FUNCTION copy_ssn();
CREATE TABLE parents (id int PRIMARY KEY);
CREATE TABLE children (id int REFERENCES parents ON DELETE CASCADE);
CREATE TRIGGER t_child AFTER DELETE ON children FOR EACH ROW EXECUTE FUNCTION copy_ssn();
INSERT INTO parents VALUES (1); INSERT INTO children VALUES (1);
GRANT ALL ON copied, requests, requests_v, pings, stamps, routed, routed_low, parents,
  children TO svc;
";

/// Class 12: a write to a clear table runs code the statement does not show — triggers (even
/// disabled ones, which ALTER TABLE can enable), rules, defaults and constraints calling
/// functions — and that code reads protected tables unmasked, copying clear values where the
/// masked subject reads them back. Writes reaching such code are refused (42501), whichever
/// relation of the write's reach carries it; writes reaching none, and clear subjects' writes,
/// run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_run_code_reading_masked_tables_are_refused() {
    let env = start();
    env.cluster.psql("app", WRITE_HOOKS).expect("write hooks");
    let uri = alice(&env);
    for sql in [
        "insert into requests values (1)",
        "update requests set id = 2 where id = 1",
        "delete from requests",
        "merge into requests r using (select 1 as id) s on r.id = s.id \
         when not matched then insert values (s.id)",
        "truncate requests",
        "insert into requests_v values (1)",
        "insert into pings values (1)",
        "insert into stamps (id) values (1)",
        "insert into routed values (1)",
        "delete from parents",
        "with w as (insert into pings values (2) returning id) select id from w",
    ] {
        assert_eq!(
            refused_with(&env, &uri, sql).await.as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    let (ok, out, err) = run(
        &env,
        &uri,
        "select v from copied union all select v from stamps",
    );
    assert!(ok, "{err}");
    assert_no_clear("code run by a write", &out);
    assert_eq!(out.trim(), "", "a refused write ran code: {out}");
    // A write that reaches no such code runs; so do the clear subject's.
    assert_eq!(
        refused_with(&env, &uri, "insert into notes_log values (90, 'x')").await,
        None
    );
    assert_eq!(
        refused_with(&env, &erin(&env), "insert into requests values (5)").await,
        None
    );
}

/// Class 7, directly on the database: a clear view replaced in place by `CREATE OR REPLACE
/// VIEW` over the protected table, by someone connected to the database itself, while a masked
/// session is open and its catalog snapshot still knows the clear definition. The session
/// reads views as the snapshot defines them (the definition is inlined), so it goes on reading
/// the old, clear definition until the snapshot is reloaded, and then the new one masked —
/// never the new one unmasked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_replaced_directly_is_read_as_the_snapshot_knows_it() {
    let env = start();
    env.cluster
        .psql(
            "app",
            "INSERT INTO notes_log VALUES (1, 'first note');
             CREATE VIEW public.notes_view AS SELECT id, body FROM notes_log;
             GRANT SELECT ON public.notes_view TO svc;",
        )
        .expect("a clear view");
    let client = env.connect(&alice(&env)).await.expect("alice connects");
    let rows = client
        .simple_query("select body from notes_view")
        .await
        .expect("alice reads the clear view");
    assert_eq!(rows_text(&rows), "first note\n");
    env.cluster
        .psql(
            "app",
            "CREATE OR REPLACE VIEW public.notes_view AS SELECT id, ssn AS body FROM customers",
        )
        .expect("the view replaced directly");
    let reversed: Vec<String> = CLEAR.iter().map(|c| c.chars().rev().collect()).collect();
    for sql in [
        "select reverse(body) from notes_view",
        "select reverse(v.body) from public.notes_view v where v.body like '%-%'",
        "select (select string_agg(reverse(body), ',') from notes_view)",
    ] {
        let text = match client.simple_query(sql).await {
            Ok(messages) => rows_text(&messages),
            Err(e) => e.to_string(),
        };
        for r in &reversed {
            assert!(!text.contains(r.as_str()), "{sql} leaked {r:?}: {text}");
        }
        assert_no_clear(sql, &text);
    }
}

/// bytea prints as hex, which no detector reads: free text of a table without rules, turned
/// into bytea alone or inside an array or a record, is scanned in its decoded bytes and
/// redacted like the text itself would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_turned_into_bytea_is_scanned() {
    let env = start();
    env.cluster
        .psql(
            "app",
            "INSERT INTO notes_log VALUES (7, 'card 4111 1111 1111 1111 on file'), (8, 'hello')",
        )
        .expect("free text");
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let card = hex("4111 1111 1111 1111");
    let uri = alice(&env);
    for sql in [
        "select convert_to(body, 'UTF8') from notes_log where id = 7",
        "select body::bytea from notes_log where id = 7",
        "select array[convert_to(body, 'UTF8')] from notes_log where id = 7",
        "select row(id, convert_to(body, 'UTF8')) from notes_log where id = 7",
    ] {
        let (ok, out, err) = run(&env, &uri, sql);
        assert!(ok, "{sql}: {err}");
        assert!(!out.contains(&card), "{sql} leaked the card as hex: {out}");
        assert_no_clear(sql, &out);
    }
    let (ok, out, err) = run(
        &env,
        &uri,
        "select convert_to(body, 'UTF8') from notes_log where id = 8",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!("\\x{}", hex("hello")),
        "benign bytea passes"
    );
}
