//! Rows of the extended protocol are filtered with their own portal's description — never with
//! one an earlier statement left behind — and columns a statement only returns are masked in
//! the result stream exactly as the SQL masks would have masked them.

mod common;

use common::{start_custom, Env};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::{FromSql, Type};

const SEED: &str = "
CREATE TABLE customers (id int PRIMARY KEY, full_name text, email text, ssn text, card text,
  phone text, notes text);
INSERT INTO customers VALUES
  (1, 'Ada Anders', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111', '202-555-0143',
   'Called about card 4111 1111 1111 1111'),
  (2, 'Ben Baker', 'ben@mail.test', '234-56-7890', '5500 0000 0000 0004', '202-555-0198',
   'SSN 234-56-7890 verified'),
  (3, 'Carla Costa', NULL, '345-67-8901', NULL, '202-555-0111', NULL);
CREATE TABLE tickets (id int PRIMARY KEY, body text);
INSERT INTO tickets VALUES (1, 'customer gave SSN 123-45-6789 on the phone');
GRANT SELECT ON customers, tickets TO svc;
";

const SECTIONS: &str = r#"
[users.alice]
password_env = "ALICE_PASSWORD"
groups = ["analysts"]

[masking]
key_env = "MASK_KEY"

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
column = "public.customers.phone"
mask = "hash"

[[masking.rules]]
resource = "app"
column = "public.customers.notes"
mask = "scan"
"#;

const CLEAR: [&str; 5] = [
    "123-45-6789",
    "234-56-7890",
    "ada@example.com",
    "4111 1111 1111 1111",
    "202-555-0143",
];

fn assert_no_clear(what: &str, text: &str) {
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} leaked {clear:?}: {text}");
    }
}

fn start() -> Env {
    let env = start_custom(
        "",
        SECTIONS,
        &[
            ("ALICE_PASSWORD", "alice-pw-123"),
            ("MASK_KEY", "a-masking-key-of-enough-length-0123456789"),
        ],
    );
    env.cluster.psql("app", SEED).expect("seeding");
    env
}

/// A value as the server sent it, whatever its type and format.
#[derive(Debug, PartialEq, Eq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn raw_rows(rows: &[tokio_postgres::Row]) -> Vec<Vec<Raw>> {
    rows.iter()
        .map(|r| (0..r.len()).map(|i| r.get::<_, Raw>(i)).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_is_filtered_with_its_own_description_not_an_earlier_ones() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let mut client = env.connect(&alice.uri).await.unwrap();
    // The red team's shape: the free-text statement is prepared (described) first, another one
    // with only clear integer columns last; the free-text one is then executed without a
    // Describe of its own (tokio-postgres binds and executes a prepared statement directly).
    let free_text = client
        .prepare("select body, id from tickets")
        .await
        .unwrap();
    let _integers = client
        .prepare("select id, id from customers")
        .await
        .unwrap();
    let rows = client.query(&free_text, &[]).await.unwrap();
    let body: String = rows[0].get(0);
    assert_no_clear("an Execute after another statement's Describe", &body);
    assert!(body.starts_with("customer gave SSN"), "{body}");
    // A portal read in pieces (Execute with a row limit, PortalSuspended, Execute again), with
    // simple queries in between: every piece is filtered.
    let tx = client.transaction().await.unwrap();
    let portal = tx
        .bind("select ssn, body from customers, tickets order by 1", &[])
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let piece = tx.query_portal(&portal, 1).await.unwrap();
        if piece.is_empty() {
            break;
        }
        tx.simple_query("select 1").await.unwrap();
        seen.extend(piece.iter().map(|r| {
            let (a, b): (String, String) = (r.get(0), r.get(1));
            format!("{a} {b}")
        }));
    }
    assert_eq!(seen.len(), 3);
    assert_no_clear("a suspended portal", &seen.join("\n"));
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_masked_extended_reads_equal_sql_masked_ones_byte_for_byte() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let client = env.connect(&alice.uri).await.unwrap();
    for sql in [
        "select id, full_name, ssn, email, card, phone, notes from customers order by id",
        "select * from customers order by id",
        "select c.card as k, c.ssn, id from public.customers c where id > 1 order by id",
    ] {
        // Only returned: read clear, masked by jitgate in the stream (binary results).
        let streamed = client.query(sql, &[]).await.unwrap();
        // A WITH keeps every mask in SQL.
        let in_sql = format!("with unused as (select 1) {sql}");
        let evaluated = client.query(&in_sql, &[]).await.unwrap();
        assert!(!streamed.is_empty(), "{sql}");
        assert_eq!(raw_rows(&streamed), raw_rows(&evaluated), "{sql}");
        assert_no_clear(sql, &format!("{:?}", raw_rows(&streamed)));
    }
    // Text results over the extended protocol too (what psycopg asks for).
    let addr = env.gateway.listen_addrs()[0];
    let mut s = raw_login(addr, &alice.login, &alice.password).await;
    let sql = "select ssn, email, card, phone, notes from customers order by id";
    let (streamed, origins) = extended_text(&mut s, sql).await;
    let (evaluated, no_origins) =
        extended_text(&mut s, &format!("with unused as (select 1) {sql}")).await;
    assert_eq!(streamed.len(), 3);
    assert_eq!(streamed, evaluated);
    assert_no_clear(sql, &format!("{streamed:?}"));
    // The description names the table column of a value read clear (masked by jitgate), not
    // of a masking expression's result (masked by PostgreSQL): partial, email, tokenize and
    // hash are applied in the stream, and so is scan, whose stream form is the detectors
    // themselves (its SQL form over-masks, and is kept for columns that are evaluated).
    assert!(origins.iter().all(|&oid| oid != 0), "{origins:?}");
    assert!(no_origins.iter().all(|&oid| oid == 0), "{no_origins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_protocol_attacks_on_the_row_plan_are_filtered() {
    let env = start();
    let alice = env.gateway.grant("alice", "app", "5m").unwrap();
    let addr = env.gateway.listen_addrs()[0];
    let mut s = raw_login(addr, &alice.login, &alice.password).await;

    // Describe of one statement, Execute of another statement's portal, one batch.
    let mut batch = parse("a", "select id, id from customers");
    batch.extend(describe(b'S', "a"));
    batch.extend(parse("b", "select body, id from tickets"));
    batch.extend(bind("", "b", 0));
    batch.extend(execute("", 0));
    batch.extend(msg(b'S', b""));
    s.write_all(&batch).await.unwrap();
    let answers = until_ready(&mut s).await;
    let tags: Vec<u8> = answers.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"1tT12DCZ", "the added Describe's answer is not seen");
    assert_no_clear("Execute after another Describe", &rows_text(&answers));

    // A cursor described, then closed and declared again over other columns under the same
    // name, then executed through the extended protocol without a Describe.
    let q = "begin; declare c cursor for select id, id from customers";
    s.write_all(&msg(b'Q', &cstr(q))).await.unwrap();
    until_ready(&mut s).await;
    let mut batch = describe(b'P', "c");
    batch.extend(msg(b'S', b""));
    s.write_all(&batch).await.unwrap();
    until_ready(&mut s).await;
    let q = "close c; declare c cursor for select body, id from tickets";
    s.write_all(&msg(b'Q', &cstr(q))).await.unwrap();
    until_ready(&mut s).await;
    let mut batch = execute("c", 0);
    batch.extend(msg(b'S', b""));
    s.write_all(&batch).await.unwrap();
    let answers = until_ready(&mut s).await;
    assert_eq!(answers.iter().map(|(t, _)| *t).collect::<Vec<_>>(), b"DCZ");
    let text = rows_text(&answers);
    assert!(text.contains("customer gave SSN"), "{text}");
    assert_no_clear("a cursor declared again", &text);

    // Binary results of a column read clear for stream masking: masked in binary too.
    let mut batch = msg(b'Q', &cstr("commit"));
    batch.extend(parse("", "select ssn, phone from customers order by id"));
    batch.extend(bind("", "", 1));
    batch.extend(execute("", 0));
    batch.extend(msg(b'S', b""));
    s.write_all(&batch).await.unwrap();
    until_ready(&mut s).await;
    let answers = until_ready(&mut s).await;
    assert_eq!(answers.iter().filter(|(t, _)| *t == b'D').count(), 3);
    assert_no_clear("binary results", &rows_text(&answers));
}

// The protocol spoken by hand, for what no driver sends.

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(sql));
    body.extend_from_slice(&0i16.to_be_bytes());
    msg(b'P', &body)
}

/// Bind without parameters; every result column in `format` (0 text, 1 binary).
fn bind(portal: &str, statement: &str, format: i16) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend(cstr(statement));
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&format.to_be_bytes());
    msg(b'B', &body)
}

fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend(cstr(name));
    msg(b'D', &body)
}

fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    msg(b'E', &body)
}

async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let tag = s.read_u8().await.ok()?;
    let len = s.read_u32().await.ok()? as usize;
    let mut body = vec![0; len.checked_sub(4)?];
    s.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

/// Every message up to and including ReadyForQuery.
async fn until_ready(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let read = async {
        let mut got = Vec::new();
        while let Some((tag, body)) = read_msg(s).await {
            got.push((tag, body));
            if tag == b'Z' {
                return got;
            }
        }
        panic!("the session ended: {got:?}");
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer")
}

/// The values of the DataRows among `answers`, each lossily as text, one row per line.
fn rows_text(answers: &[(u8, Vec<u8>)]) -> String {
    rows(answers)
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| {
                    v.as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rows(answers: &[(u8, Vec<u8>)]) -> Vec<Vec<Option<Vec<u8>>>> {
    answers
        .iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, body)| {
            let count = i16::from_be_bytes([body[0], body[1]]) as usize;
            let mut at = 2;
            (0..count)
                .map(|_| {
                    let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
                    at += 4;
                    (len >= 0).then(|| {
                        let v = body[at..at + len as usize].to_vec();
                        at += len as usize;
                        v
                    })
                })
                .collect()
        })
        .collect()
}

/// `sql` over the extended protocol with text results, as psycopg sends it: its rows, and the
/// table OID its description gives each column.
async fn extended_text(s: &mut TcpStream, sql: &str) -> (Vec<Vec<Option<Vec<u8>>>>, Vec<u32>) {
    let mut batch = parse("", sql);
    batch.extend(bind("", "", 0));
    batch.extend(describe(b'P', ""));
    batch.extend(execute("", 0));
    batch.extend(msg(b'S', b""));
    s.write_all(&batch).await.unwrap();
    let answers = until_ready(s).await;
    assert!(answers.iter().all(|(t, _)| *t != b'E'), "{answers:?}");
    let description = answers
        .iter()
        .find_map(|(t, body)| (*t == b'T').then_some(body))
        .expect("a RowDescription");
    let count = i16::from_be_bytes([description[0], description[1]]);
    let mut at = 2;
    let mut origins = Vec::new();
    for _ in 0..count {
        at += description[at..].iter().position(|&b| b == 0).unwrap() + 1;
        origins.push(u32::from_be_bytes(
            description[at..at + 4].try_into().unwrap(),
        ));
        at += 18;
    }
    (rows(&answers), origins)
}

/// Logs in speaking the protocol by hand (SCRAM-SHA-256), up to ReadyForQuery.
async fn raw_login(addr: std::net::SocketAddr, login: &str, password: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut startup = 196608u32.to_be_bytes().to_vec();
    for kv in ["user", login, "database", "app"] {
        startup.extend(cstr(kv));
    }
    startup.push(0);
    let mut packet = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(startup);
    s.write_all(&packet).await.unwrap();
    let (tag, body) = read_msg(&mut s).await.unwrap();
    assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]));
    let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    let mut first = b"SCRAM-SHA-256\0".to_vec();
    first.extend_from_slice(&(scram.message().len() as i32).to_be_bytes());
    first.extend_from_slice(scram.message());
    s.write_all(&msg(b'p', &first)).await.unwrap();
    let (_, body) = read_msg(&mut s).await.unwrap();
    scram.update(&body[4..]).unwrap();
    s.write_all(&msg(b'p', scram.message())).await.unwrap();
    let (_, body) = read_msg(&mut s).await.unwrap();
    scram.finish(&body[4..]).unwrap();
    until_ready(&mut s).await;
    s
}
