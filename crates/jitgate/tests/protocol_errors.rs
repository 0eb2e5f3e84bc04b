//! Malformed or oversized input ends that session with a protocol error — never a panic, never
//! an unbounded allocation — and the gateway goes on serving everyone else.

mod common;

use common::start;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let tag = s.read_u8().await.ok()?;
    let len = s.read_u32().await.ok()? as usize;
    let mut body = vec![0; len.checked_sub(4)?];
    s.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A start-up packet for protocol 3.`minor` with the given parameters.
fn startup_packet(minor: u16, params: &[&str]) -> Vec<u8> {
    let mut startup = Vec::new();
    startup.extend_from_slice(&(3u32 << 16 | minor as u32).to_be_bytes());
    for kv in params {
        startup.extend_from_slice(kv.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    let mut packet = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(startup);
    packet
}

/// Logs in speaking the protocol by hand (SCRAM-SHA-256), up to ReadyForQuery.
async fn raw_login(addr: std::net::SocketAddr, login: &str, password: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let packet = startup_packet(0, &["user", login, "database", "app"]);
    s.write_all(&packet).await.unwrap();
    let (tag, body) = read_msg(&mut s).await.unwrap();
    assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]));
    scram_login(s, password).await
}

/// Answers the SASL challenge already read, up to ReadyForQuery.
async fn scram_login(mut s: TcpStream, password: &str) -> TcpStream {
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
    while let Some((tag, _)) = read_msg(&mut s).await {
        if tag == b'Z' {
            return s;
        }
    }
    panic!("no ReadyForQuery");
}

/// Reads until the server closes; returns the SQLSTATE of the last ErrorResponse seen.
async fn error_then_close(s: &mut TcpStream) -> Option<String> {
    let mut code = None;
    let read = async {
        while let Some((tag, body)) = read_msg(s).await {
            if tag == b'E' {
                let fields = body.split(|&b| b == 0);
                for f in fields {
                    if let Some(c) = f.strip_prefix(b"C") {
                        code = Some(String::from_utf8_lossy(c).into_owned());
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the gateway closes the connection");
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_messages_end_only_that_session() {
    let env = start();
    let grant = env.grant("5m");
    let addr = env.gateway.listen_addrs()[0];

    // A Query claiming to be nearly 2 GiB: refused from its header, before any allocation.
    let mut s = raw_login(addr, &grant.login, &grant.password).await;
    let mut huge = vec![b'Q'];
    huge.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
    huge.extend_from_slice(b"select 1");
    s.write_all(&huge).await.unwrap();
    assert_eq!(error_then_close(&mut s).await.as_deref(), Some("08P01"));

    // A length that cannot even hold itself.
    let mut s = raw_login(addr, &grant.login, &grant.password).await;
    s.write_all(&[b'Q', 0, 0, 0, 2]).await.unwrap();
    assert_eq!(error_then_close(&mut s).await.as_deref(), Some("08P01"));

    // Garbage instead of a start-up packet.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0xff; 64]).await.unwrap();
    let _ = error_then_close(&mut s).await;

    // A start-up packet that stops half-way, then silence: the connection is simply dropped.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 40, 0, 3, 0, 0]).await.unwrap();
    drop(s);

    // Everyone else is still served.
    let client = env
        .connect(&grant.uri)
        .await
        .expect("gateway still serving");
    let n: i32 = client.query_one("select 5", &[]).await.unwrap().get(0);
    assert_eq!(n, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_streams_with_bounded_memory() {
    let env = start();
    let grant = env.grant("5m");
    let client = env.connect(&grant.uri).await.unwrap();
    // One 64 MiB value (larger than any relay buffer) and many small rows.
    let n: i64 = client
        .query_one("select length(repeat('x', 64 * 1024 * 1024))::int8", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 64 * 1024 * 1024);
    let big: String = client
        .query_one("select repeat('y', 64 * 1024 * 1024)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(big.len(), 64 * 1024 * 1024);
    let rows = client
        .query(
            "select g, md5(g::text) from generate_series(1, 300000) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 300_000);
    // The gateway's resident memory stays far below the data that went through it.
    let pid = env.gateway.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(hwm_kb < 48 * 1024, "peak RSS {hwm_kb} kB");
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Before authentication nobody is known: a client without a credential (an unknown login
/// gets the SASL challenge too) cannot make the gateway hold a large message. A declared
/// length over the pre-login limit is refused with 08P01 at once, before its body is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_messages_before_login_are_refused_from_their_length() {
    let env = start();
    let grant = env.grant("5m");
    let addr = env.gateway.listen_addrs()[0];
    const DECLARED: u32 = 16 << 20;

    // A start-up packet declaring 16 MiB: only its length word is ever sent.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&DECLARED.to_be_bytes()).await.unwrap();
    assert_eq!(error_then_close(&mut s).await.as_deref(), Some("08P01"));

    // SASL messages of an unknown login declaring 16 MiB, 24 connections at once: each is
    // refused from its header, and the gateway holds none of them.
    let before = rss_kb(env.gateway.pid().unwrap());
    let mut open = Vec::new();
    for _ in 0..24 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&startup_packet(0, &["user", "nobody", "database", "app"]))
            .await
            .unwrap();
        let (tag, _) = read_msg(&mut s).await.unwrap();
        assert_eq!(tag, b'R');
        let mut header = vec![b'p'];
        header.extend_from_slice(&DECLARED.to_be_bytes());
        header.extend_from_slice(b"SCRAM-SHA-256\0");
        s.write_all(&header).await.unwrap();
        open.push(s);
    }
    for s in &mut open {
        assert_eq!(error_then_close(s).await.as_deref(), Some("08P01"));
    }
    let after = rss_kb(env.gateway.pid().unwrap());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB for 24 refused messages"
    );

    // Just over the limit (10,001 bytes, the frame counted as after login) is refused too; the
    // gateway goes on serving.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startup_packet(0, &["user", "nobody", "database", "app"]))
        .await
        .unwrap();
    read_msg(&mut s).await.unwrap();
    let mut header = vec![b'p'];
    header.extend_from_slice(&10_001u32.to_be_bytes());
    s.write_all(&header).await.unwrap();
    assert_eq!(error_then_close(&mut s).await.as_deref(), Some("08P01"));
    let client = env.connect(&grant.uri).await.expect("still serving");
    let n: i32 = client.query_one("select 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

/// A client asking for protocol 3.2, or sending `_pq_.` protocol options, is told what the
/// gateway speaks (NegotiateProtocolVersion: 3.0 and the options it does not know), as
/// PostgreSQL tells it, and logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_protocol_versions_and_options_are_negotiated_down() {
    let env = start();
    let grant = env.grant("5m");
    let addr = env.gateway.listen_addrs()[0];
    for (minor, options) in [
        (2u16, vec![]),
        (0, vec!["_pq_.compression", "on"]),
        (2, vec!["_pq_.a", "1", "_pq_.b", "2"]),
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut params = vec!["user", grant.login.as_str(), "database", "app"];
        params.extend(options.iter().copied());
        s.write_all(&startup_packet(minor, &params)).await.unwrap();
        let (tag, body) = read_msg(&mut s).await.unwrap();
        assert_eq!(tag, b'v', "NegotiateProtocolVersion first");
        assert_eq!(&body[..4], &0i32.to_be_bytes(), "newest minor version: 0");
        let names: Vec<&str> = options.iter().step_by(2).copied().collect();
        assert_eq!(&body[4..8], &(names.len() as i32).to_be_bytes());
        let mut listed = Vec::new();
        for name in names {
            listed.extend_from_slice(name.as_bytes());
            listed.push(0);
        }
        assert_eq!(&body[8..], &listed[..]);
        let (tag, body) = read_msg(&mut s).await.unwrap();
        assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]));
        let mut s = scram_login(s, &grant.password).await;
        s.write_all(&msg(b'Q', b"select 1\0")).await.unwrap();
        let (tag, _) = read_msg(&mut s).await.unwrap();
        assert_eq!(tag, b'T', "a session in protocol 3.0");
    }
    // Protocol 3.0 without options: no NegotiateProtocolVersion.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&startup_packet(
        0,
        &["user", grant.login.as_str(), "database", "app"],
    ))
    .await
    .unwrap();
    assert_eq!(read_msg(&mut s).await.unwrap().0, b'R');
}

/// When the upstream refuses jitgate's own login, the client learns what is safe to say: the
/// SQLSTATE of "too many connections" (53300), or 08006 with "refused the connection" for a
/// closed port; the upstream's own words stay in the `upstream.failed` audit event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_refusal_reason_reaches_the_client() {
    let env = start();
    let grant = env.grant("5m");
    env.cluster
        .psql("app", "alter role svc connection limit 1")
        .unwrap();
    let first = env.connect(&grant.uri).await.expect("the one connection");
    let Err(e) = env.connect(&grant.uri).await else {
        panic!("a second connection with the upstream full");
    };
    assert_eq!(common::sqlstate(&e).as_deref(), Some("53300"), "{e}");
    let message = common::message(&e);
    assert!(message.contains("too many connections"), "{message}");
    // The service role's name is the upstream's business.
    assert!(!message.contains("svc"), "{message}");
    let events = env.audit_until(|events| events.iter().any(|e| e.event.kind == "upstream.failed"));
    let failed = events
        .iter()
        .find(|e| e.event.kind == "upstream.failed")
        .expect("an upstream.failed event");
    let detail = failed.event.detail.get();
    assert!(
        detail.contains("53300") && detail.contains("svc"),
        "{detail}"
    );
    drop(first);

    // An upstream that is not listening at all.
    let closed = jitgate_testkit::free_port();
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[resources.app]
kind = "postgres"
listen = "127.0.0.1:{listen}"

[resources.app.upstream]
host = "127.0.0.1"
port = {closed}
database = "app"
user = "svc"
password_env = "SVC_PASSWORD"
tls = "disable"
"#,
        listen = jitgate_testkit::free_port(),
    );
    let gateway = jitgate_testkit::Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[("SVC_PASSWORD", "unused")],
    )
    .expect("starting jitgate");
    let grant = gateway.grant("alice", "app", "5m").unwrap();
    let Err(e) = env.connect(&grant.uri).await else {
        panic!("a connection without an upstream");
    };
    assert_eq!(common::sqlstate(&e).as_deref(), Some("08006"), "{e}");
    let message = common::message(&e);
    assert!(message.contains("refused the connection"), "{message}");
}
