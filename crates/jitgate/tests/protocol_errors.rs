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

/// Logs in speaking the protocol by hand (SCRAM-SHA-256), up to ReadyForQuery.
async fn raw_login(addr: std::net::SocketAddr, login: &str, password: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608u32.to_be_bytes());
    for kv in ["user", login, "database", "app"] {
        startup.extend_from_slice(kv.as_bytes());
        startup.push(0);
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
