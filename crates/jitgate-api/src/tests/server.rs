//! The API's connections are bounded: a client that sends half a header, or sends its headers
//! and withholds its body, is cut off; connections beyond the cap are answered 503 and closed;
//! and once idle connections are gone a new client is served again. Real sockets, small limits.

use crate::server::ServeLimits;
use crate::{serve, ApiState};
use jitgate_control::store::SqliteStore;
use jitgate_control::{ControlPlane, ControlSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A bound on every wait, so that a regression fails instead of hanging the suite.
const NEVER: Duration = Duration::from_secs(60);

async fn start(limits: ServeLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let store = SqliteStore::in_memory().expect("an in-memory store");
    let control = ControlPlane::with_settings(Arc::new(store), ControlSettings::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        ApiState::new(control, &[]),
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

fn limits(header_timeout: Duration, max_connections: usize) -> ServeLimits {
    ServeLimits {
        header_timeout,
        body_timeout: Duration::from_millis(300),
        max_connections,
    }
}

/// Everything the server sends until it closes the connection.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(NEVER, stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&got).into_owned()
}

async fn health(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("sending");
    until_closed(&mut stream).await
}

#[tokio::test]
async fn half_a_header_is_cut_off_after_the_header_timeout() {
    let (addr, _stop) = start(limits(Duration::from_millis(200), 8)).await;
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("sending half a header");
    let answer = until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A connection that sends nothing at all is cut off the same way.
    let mut silent = TcpStream::connect(addr).await.expect("connecting");
    until_closed(&mut silent).await;
}

#[tokio::test]
async fn a_withheld_body_is_answered_408_and_closed() {
    let (addr, _stop) = start(limits(Duration::from_secs(30), 8)).await;
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream
        .write_all(
            b"POST /api/v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 40\r\n\r\n{\"user\"",
        )
        .await
        .expect("sending the headers and a little of the body");
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_get_503_until_one_ends() {
    let (addr, _stop) = start(limits(Duration::from_secs(3600), 3)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.expect("connecting"));
    }
    // The three idle ones hold every slot: a fourth client is told so, in the API's shape.
    let refused = health(addr).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains(r#""code":"too_many_connections""#),
        "{refused}"
    );
    // One idle client leaves; its slot serves the next caller.
    drop(idle.pop());
    let served = tokio::time::timeout(NEVER, async {
        loop {
            let answer = health(addr).await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "no slot came free");
}

#[tokio::test]
async fn health_answers_a_new_client_once_idle_connections_time_out() {
    let (addr, _stop) = start(limits(Duration::from_millis(200), 3)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.expect("connecting"));
    }
    for stream in &mut idle {
        until_closed(stream).await;
    }
    let answer = health(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn shutdown_lets_a_kept_alive_connection_go() {
    let (addr, stop) = start(limits(Duration::from_secs(3600), 3)).await;
    let mut idle = TcpStream::connect(addr).await.expect("connecting");
    idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("one request, then the connection is kept alive");
    // The answer first, so that the connection is idle and kept alive when the shutdown comes.
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(NEVER, idle.read(&mut first))
        .await
        .expect("an answer")
        .expect("reading the answer");
    let answer = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    // Closed by the shutdown, although its keep-alive timer has an hour to run.
    until_closed(&mut idle).await;
}
