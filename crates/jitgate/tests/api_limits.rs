//! The HTTP API cannot starve the PostgreSQL front: with the gateway's descriptors limited as a
//! host would limit them, 300 idle API connections are held at most up to `[api]
//! max_connections` (the rest answered 503 and closed at once), a psql login through the front
//! still works meanwhile, every idle connection is closed by the gateway, and /health answers a
//! new client afterwards.

mod common;

use jitgate_testkit::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const IDLE: usize = 300;
const CAP: usize = 16;
/// Descriptors the gateway may open beyond those it holds at start: more than the cap, far
/// fewer than the idle connections.
const SPARE_FDS: usize = 48;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .expect("reading the gateway's descriptors")
}

/// Lowers the running gateway's descriptor limit (soft and hard) to `limit`.
fn limit_fds(pid: u32, limit: usize) {
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("running prlimit");
    assert!(status.success(), "prlimit failed");
}

/// What the gateway sends on `stream` before closing it (a 503, or nothing after a timeout).
fn until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let mut got = Vec::new();
    let read = stream.read_to_end(&mut got);
    assert!(
        read.is_ok(),
        "the gateway kept an idle connection: {read:?}"
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn idle_api_connections_cannot_starve_postgres_logins() {
    let api_port = free_port();
    let env = common::start_custom(
        "",
        &format!(
            "[api]\nlisten = \"127.0.0.1:{api_port}\"\nheader_timeout = \"2s\"\n\
             max_connections = {CAP}\n"
        ),
        &[],
    );
    let grant = env.grant("10m");
    let pid = env.gateway.pid().expect("the gateway runs");
    let at_start = open_fds(pid);
    limit_fds(pid, at_start + SPARE_FDS);

    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(("127.0.0.1", api_port)).expect("connecting to the API"))
        .collect();
    let held = open_fds(pid) - at_start;
    eprintln!("descriptors held with {IDLE} idle API connections: {held}");

    let (ok, out, err) = env.psql(&grant.uri, &["-c", "SELECT 41 + 1"]);
    assert!(ok, "psql login failed beside idle API connections: {err}");
    assert_eq!(out.trim(), "42");

    let refused = idle
        .iter_mut()
        .map(until_closed)
        .filter(|said| said.starts_with("HTTP/1.1 503"))
        .count();
    eprintln!("{refused} of {IDLE} idle connections refused with 503, the rest timed out");
    assert!(refused >= 1, "the cap never refused a connection");

    let mut client = TcpStream::connect(("127.0.0.1", api_port)).expect("connecting");
    client
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("asking for /health");
    let answer = until_closed(&mut client);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
