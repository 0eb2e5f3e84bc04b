//! Red team, message side: every backend message that can carry data reaches a masked subject
//! only through the detectors, with key material blotted — notifications sent by a clear
//! subject, `COPY … TO STDOUT`, parameter reports, error and notice fields, and server echoes of
//! the rewritten statement (statement logs, parse trees, plans). A raw client reads every byte
//! the gateway sends, so nothing a driver would hide escapes the assertions.

mod common;

use common::{start_custom, Env};
use jitgate_masking::{Mask, MaskKey, PgTypeInfo, KEY_PIECE};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MASK_KEY: &str = "a-masking-key-of-enough-length-0123456789";

const SEED: &str = "
CREATE TABLE customers (id int PRIMARY KEY, full_name text, ssn text, card text);
INSERT INTO customers VALUES
  (1, 'Ada Anders', '123-45-6789', '4111 1111 1111 1111'),
  (2, 'Ben Baker', '234-56-7890', '5500 0000 0000 0004');
-- Free text no rule protects: the detectors are its only line.
CREATE TABLE tickets (id int PRIMARY KEY, body text);
INSERT INTO tickets VALUES
  (1, 'caller SSN 123-45-6789, card 4111 1111 1111 1111, mail ann@example.com');
GRANT SELECT ON customers, tickets TO svc;
";

const SECTIONS: &str = r#"
[users.alice]
password_env = "ALICE_PASSWORD"
groups = ["analysts"]

[users.erin]
password_env = "ERIN_PASSWORD"
groups = ["admins"]

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
column = "public.customers.card"
mask = "tokenize"

[[masking.rules]]
resource = "app"
column = "public.customers.full_name"
mask = "hash"
"#;

/// Clear values, and what `translate(…, '0123456789', 'abcdefghij')` makes of the SSN.
const CLEAR: [&str; 5] = [
    "123-45-6789",
    "4111 1111 1111 1111",
    "ann@example.com",
    "bcd-ef-ghij",
    "Ada Anders",
];

fn start() -> Env {
    let env = start_custom(
        "",
        SECTIONS,
        &[
            ("ALICE_PASSWORD", "alice-pw-123"),
            ("ERIN_PASSWORD", "erin-pw-123"),
            ("MASK_KEY", MASK_KEY),
        ],
    );
    env.cluster.psql("app", SEED).expect("seeding");
    env
}

/// Every piece of key material the rewritten statements of this policy carry: each
/// `KEY_PIECE`-long run of the key-dependent half of each pad, in the hex of the SQL.
fn key_pieces() -> Vec<String> {
    let key = MaskKey::new(MASK_KEY.as_bytes(), "test").expect("key");
    let ty = PgTypeInfo::from_oid(25);
    let mut pieces = Vec::new();
    for mask in [Mask::Tokenize, Mask::Hash] {
        let sql = mask.sql_expr("x", &ty, &key).expect("keyed SQL");
        for (at, _) in sql.match_indices("decode('") {
            let pad = &sql[at + 8..at + 8 + 64];
            for i in 0..=pad.len() - KEY_PIECE {
                pieces.push(pad[i..i + KEY_PIECE].to_string());
            }
        }
    }
    assert!(!pieces.is_empty());
    pieces
}

/// Fails if a clear value or a piece of key material is anywhere in what the client read.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} leaked {clear:?}: {text:?}");
    }
    for piece in key_pieces() {
        assert!(
            !text.contains(&piece) && !text.contains(&piece.to_uppercase()),
            "{what} leaked key material {piece}: {text:?}"
        );
    }
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A client speaking the protocol by hand, keeping every message it reads.
struct Raw {
    s: TcpStream,
}

/// One message read: tag and body.
type Message = (u8, Vec<u8>);

impl Raw {
    async fn login(env: &Env, login: &str, password: &str) -> Raw {
        let addr = env.gateway.listen_addrs()[0];
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut startup = 196608u32.to_be_bytes().to_vec();
        for kv in ["user", login, "database", "app"] {
            startup.extend_from_slice(kv.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        let mut packet = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend(startup);
        s.write_all(&packet).await.expect("startup");
        let mut raw = Raw { s };
        let (tag, body) = raw.read().await.expect("authentication request");
        assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]));
        let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let mut first = b"SCRAM-SHA-256\0".to_vec();
        first.extend_from_slice(&(scram.message().len() as i32).to_be_bytes());
        first.extend_from_slice(scram.message());
        raw.s.write_all(&msg(b'p', &first)).await.expect("sasl");
        let (_, body) = raw.read().await.expect("sasl continue");
        scram.update(&body[4..]).expect("scram");
        raw.s
            .write_all(&msg(b'p', scram.message()))
            .await
            .expect("sasl");
        let (_, body) = raw.read().await.expect("sasl final");
        scram.finish(&body[4..]).expect("scram final");
        raw.until_ready().await;
        raw
    }

    async fn read(&mut self) -> Option<Message> {
        let tag = self.s.read_u8().await.ok()?;
        let len = self.s.read_u32().await.ok()? as usize;
        let mut body = vec![0; len.checked_sub(4)?];
        self.s.read_exact(&mut body).await.ok()?;
        Some((tag, body))
    }

    /// Messages up to and including ReadyForQuery (or the end of the connection).
    async fn until_ready(&mut self) -> Vec<Message> {
        let mut all = Vec::new();
        let read = async {
            while let Some(m) = self.read().await {
                let ready = m.0 == b'Z';
                all.push(m);
                if ready {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("an answer within 20 s");
        all
    }

    /// Sends a simple Query and returns everything read up to ReadyForQuery.
    async fn query(&mut self, sql: &str) -> Vec<Message> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.s.write_all(&msg(b'Q', &body)).await.expect("query");
        self.until_ready().await
    }

    /// Messages arriving within `wait`, unasked (notifications).
    async fn unasked(&mut self, wait: Duration) -> Vec<Message> {
        let mut all = Vec::new();
        let _ = tokio::time::timeout(wait, async {
            while let Some(m) = self.read().await {
                all.push(m);
            }
        })
        .await;
        all
    }
}

fn bytes(messages: &[Message]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|(tag, body)| {
            let mut m = vec![*tag];
            m.extend_from_slice(body);
            m
        })
        .collect()
}

fn tags(messages: &[Message]) -> String {
    messages.iter().map(|m| m.0 as char).collect()
}

/// The value of field `code` of the first ErrorResponse or NoticeResponse tagged `tag`.
fn field(messages: &[Message], tag: u8, code: u8) -> Option<String> {
    let (_, body) = messages.iter().find(|m| m.0 == tag)?;
    body.split(|&b| b == 0)
        .find_map(|f| f.strip_prefix(&[code]))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_copy_parameters_and_errors_reach_masked_subjects_scanned() {
    let env = start();
    let alice = env
        .gateway
        .grant("alice", "app", "5m")
        .expect("alice's grant");
    let erin = env
        .gateway
        .grant("erin", "app", "5m")
        .expect("erin's grant");
    let mut masked = Raw::login(&env, &alice.login, &alice.password).await;
    let mut clear = Raw::login(&env, &erin.login, &erin.password).await;

    // LISTEN/NOTIFY across subjects: erin (clear) sends a customer's SSN and card to a channel
    // alice (masked) listens on.
    let listen = masked.query("LISTEN leads").await;
    assert!(!tags(&listen).contains('E'), "LISTEN: {listen:?}");
    let sent = clear
        .query("SELECT pg_notify('leads', ssn || ' / ' || card || ' / ' || full_name) FROM customers WHERE id = 1")
        .await;
    assert!(!tags(&sent).contains('E'), "NOTIFY: {sent:?}");
    // The clear subject's own notification comes back to it unchanged (nothing to filter).
    let mut heard = masked.unasked(Duration::from_secs(2)).await;
    heard.extend(masked.query("SELECT 1").await);
    let notes: Vec<&Message> = heard.iter().filter(|m| m.0 == b'A').collect();
    assert_eq!(notes.len(), 1, "the notification is delivered: {heard:?}");
    // What a clear subject sends is free text to the masked one: the detectors are its line,
    // so values no detector recognises (a name) pass, as from a column no rule protects.
    let payload = String::from_utf8_lossy(&notes[0].1).into_owned();
    // The sender is another subject's backend: its process id is not passed on.
    assert_eq!(notes[0].1[..4], [0, 0, 0, 0]);
    assert!(
        payload.ends_with("[ssn] / [card] / Ada Anders\0"),
        "{payload:?}"
    );
    let others: Vec<Message> = heard.iter().filter(|m| m.0 != b'A').cloned().collect();
    assert_clean("after a notification", &bytes(&others));

    // COPY … TO STDOUT of free text, in text and CSV: every row is scanned.
    for copy in [
        "COPY tickets TO STDOUT",
        "COPY tickets TO STDOUT (FORMAT csv, HEADER)",
        "COPY (SELECT body, translate(body, '0123456789', 'abcdefghij') FROM tickets) TO STDOUT (FORMAT csv)",
    ] {
        let got = masked.query(copy).await;
        assert!(tags(&got).contains('d'), "{copy}: {got:?}");
        let rows = bytes(&got);
        assert!(String::from_utf8_lossy(&rows).contains("[ssn]"), "{copy}");
        // The translated SSN is out of the detectors' reach in free text (as in a DataRow).
        let text_only: Vec<Message> = got
            .iter()
            .filter(|m| !(copy.contains("translate") && m.0 == b'd'))
            .cloned()
            .collect();
        assert_clean(copy, &bytes(&text_only));
    }
    // Binary COPY cannot be scanned: refused in place, and the session goes on.
    let binary = masked.query("COPY tickets TO STDOUT (FORMAT binary)").await;
    assert_eq!(tags(&binary), "EZ", "{binary:?}");
    assert_eq!(field(&binary, b'E', b'C').as_deref(), Some("0A000"));
    let after = masked.query("SELECT 41 + 1").await;
    assert!(String::from_utf8_lossy(&bytes(&after)).contains("42"));

    // set_config round trip: the value comes back as a row and as a ParameterStatus.
    let set = masked
        .query("SELECT set_config('application_name', body, false) FROM tickets WHERE id = 1")
        .await;
    assert!(
        set.iter().any(|m| m.0 == b'S'),
        "a parameter report: {set:?}"
    );
    assert_clean("set_config", &bytes(&set));
    let set = masked.query("SET application_name = '123-45-6789'").await;
    let report = set
        .iter()
        .find(|m| m.0 == b'S')
        .expect("a parameter report");
    assert_eq!(report.1, b"application_name\0[ssn]\0");

    // Errors quoting values, in every field: XML parser details, casts, JSON, jsonpath,
    // reg types, a user's RAISE.
    for sql in [
        "SELECT xmlparse(document translate(body, '0123456789', 'abcdefghij')) FROM tickets",
        "SELECT xmlparse(content '<a>' || translate(body, '0123456789', 'abcdefghij')) FROM tickets",
        "SELECT translate(body, '0123456789', 'abcdefghij')::int FROM tickets",
        "SELECT translate(body, '0123456789', 'abcdefghij')::date FROM tickets",
        "SELECT ('{\"a\": \"' || body || '\" x}')::json FROM tickets",
        "SELECT translate(body, '0123456789', 'abcdefghij')::tsquery FROM tickets",
        "SELECT ('x ' || translate(body, '0123456789', 'abcdefghij'))::regtype FROM tickets",
        "SELECT jsonb_path_query('{}', ('strict $.\"' || translate(body, '0123456789', 'abcdefghij') || '\"')::jsonpath) FROM tickets",
        "SELECT ('{' || translate(body, '0123456789', 'abcdefghij'))::int[] FROM tickets",
    ] {
        let got = masked.query(sql).await;
        assert!(tags(&got).contains('E'), "{sql} fails: {got:?}");
        assert_clean(sql, &bytes(&got));
        // The clear subject sees the value, so the attack is real.
        let seen = clear.query(sql).await;
        let seen = String::from_utf8_lossy(&bytes(&seen)).into_owned();
        assert!(
            CLEAR.iter().any(|c| seen.contains(c)),
            "{sql} does not quote its value to a clear subject either: {seen}"
        );
    }
    drop(clear);
    drop(masked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_echoes_of_rewritten_statements_never_carry_key_material() {
    let env = start();
    // The upstream echoes statements, parse trees and plans on its own, whatever a session asks
    // (the first line, refusing such settings in sessions, is not what is tested here).
    env.cluster
        .psql(
            "app",
            "ALTER ROLE svc SET client_min_messages = debug5;
             ALTER ROLE svc SET debug_print_parse = on;
             ALTER ROLE svc SET debug_print_plan = on;
             ALTER ROLE svc SET log_statement = 'all';
             ALTER ROLE svc SET session_preload_libraries = 'auto_explain';
             ALTER ROLE svc SET auto_explain.log_min_duration = 0;
             ALTER ROLE svc SET auto_explain.log_level = notice;
             ALTER ROLE svc SET auto_explain.log_verbose = on;",
        )
        .expect("echoing settings");
    let alice = env
        .gateway
        .grant("alice", "app", "5m")
        .expect("alice's grant");
    let mut masked = Raw::login(&env, &alice.login, &alice.password).await;

    let mut all = Vec::new();
    for sql in [
        "SELECT id, card, full_name FROM customers ORDER BY id",
        "SELECT count(*) FROM customers WHERE card = '4111 1111 1111 1111'",
        "SELECT current_query(), card FROM customers",
        "EXPLAIN VERBOSE SELECT card, full_name FROM customers",
        "SET bytea_output = escape",
        "EXPLAIN VERBOSE SELECT card, full_name FROM customers",
        "EXPLAIN (VERBOSE, FORMAT json) SELECT card, full_name FROM customers",
        // auto_explain's verbose plan prints the folded pads in bytea's escape output.
        "SELECT count(*) FROM customers WHERE card = '4111 1111 1111 1111'",
        "SET auto_explain.log_format = json",
        "SELECT count(*) FROM customers WHERE full_name = 'Nobody'",
        "SELECT card::int FROM customers",
    ] {
        let got = masked.query(sql).await;
        assert_clean(sql, &bytes(&got));
        // No LOG or DEBUG notice reaches the subject (parse trees print pads as decimal bytes).
        for (tag, body) in got.iter().filter(|m| m.0 == b'N') {
            let severity = field(&[(*tag, body.clone())], b'N', b'V');
            assert!(
                matches!(severity.as_deref(), Some("NOTICE" | "WARNING" | "INFO")),
                "{sql}: a {severity:?} notice was delivered"
            );
        }
        all.extend(got);
    }
    // The echoes were there to be dropped: auto_explain's NOTICE plans came through, blotted.
    let blotted = "*".repeat(KEY_PIECE);
    let plans: Vec<String> = all
        .iter()
        .filter(|m| m.0 == b'N')
        .map(|m| String::from_utf8_lossy(&m.1).into_owned())
        .collect();
    assert!(
        plans.iter().any(|p| p.contains("Query Text")),
        "auto_explain did not echo: {}",
        tags(&all)
    );
    assert!(
        plans.iter().filter(|p| p.contains(&blotted)).count() >= 2,
        "no escape-form pad was blotted: {plans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_over_the_extended_protocol_is_scanned_or_refused() {
    use futures_util::StreamExt;
    let env = start();
    let alice = env
        .gateway
        .grant("alice", "app", "5m")
        .expect("alice's grant");
    let client = env.connect(&alice.uri).await.expect("alice connects");

    // tokio-postgres sends COPY as Parse/Bind/Execute.
    let mut rows = Vec::new();
    let stream = client
        .copy_out("COPY (SELECT id, body FROM tickets) TO STDOUT (FORMAT csv)")
        .await
        .expect("copy out");
    let mut stream = Box::pin(stream);
    while let Some(chunk) = stream.next().await {
        rows.extend_from_slice(&chunk.expect("a row"));
    }
    assert_clean("an extended-protocol COPY", &rows);
    assert!(String::from_utf8_lossy(&rows).contains("[ssn]"));

    let binary = match client
        .copy_out("COPY tickets TO STDOUT (FORMAT binary)")
        .await
    {
        Ok(stream) => {
            let mut stream = Box::pin(stream);
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                if let Err(e) = chunk {
                    failed = Some(e);
                }
            }
            failed.expect("binary COPY refused")
        }
        Err(e) => e,
    };
    assert_eq!(common::sqlstate(&binary).as_deref(), Some("0A000"));
    let n: i32 = client
        .query_one("SELECT 7", &[])
        .await
        .expect("the session goes on")
        .get(0);
    assert_eq!(n, 7);
}
