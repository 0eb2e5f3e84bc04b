//! The API's connections: accepted under a cap, each bounded in time, and drained at shutdown.
//!
//! `axum::serve` keeps every connection for as long as the client likes and has no cap: idle or
//! half-sent connections then pile up until the process runs out of descriptors, and the
//! database fronts' `accept` fails with it. Here hyper serves each connection with a header
//! timeout (which also bounds a kept-alive connection's idle time), a semaphore caps how many
//! are open (the one over the cap gets a 503 and is closed), and accept errors back off instead
//! of spinning.

use crate::body::BodyTimeout;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Bounds on the API's connections (`[api]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a request's headers, from the connection's start or the previous answer.
    pub header_timeout: Duration,
    /// Longest wait for a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl From<&jitgate_config::Api> for ServeLimits {
    fn from(api: &jitgate_config::Api) -> ServeLimits {
        ServeLimits {
            header_timeout: api.header_timeout,
            body_timeout: api.body_timeout,
            max_connections: api.max_connections,
        }
    }
}

/// Turns true when the server stops: long-lived answers (the console's live updates) end then,
/// so that the drain is not held by them.
#[derive(Clone)]
pub struct Stopping(pub watch::Receiver<bool>);

/// First pause after a failed `accept`; it doubles up to [`MAX_ACCEPT_BACKOFF`].
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What a client over the cap is told before its connection is closed, in the API's error
/// shape.
const BUSY_BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the API has too many open connections; try again shortly"}}"#;

/// Serves `app` on `listener` until `shutdown` resolves, then lets the connections in flight
/// finish their current request (the caller bounds how long it waits).
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let app = app
        .layer(axum::Extension(BodyTimeout(limits.body_timeout)))
        .layer(axum::Extension(Stopping(stopping.clone())));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    backoff = back_off(e, backoff).await;
                    continue;
                }
            },
        };
        backoff = FIRST_ACCEPT_BACKOFF;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse_busy(stream);
            continue;
        };
        let app = app.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, app, limits.header_timeout, stopping).await;
            drop(slot);
        });
    }
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: having them all back means all have ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// A failed `accept` (out of descriptors, most often) is logged and waited out, longer each
/// time in a row, so that the loop neither spins nor ends; returns the next pause.
async fn back_off(error: std::io::Error, pause: Duration) -> Duration {
    tracing::warn!("api: accepting a connection failed: {error}; retrying in {pause:?}");
    tokio::time::sleep(pause).await;
    next_pause(pause)
}

/// Each failure in a row waits twice as long as the one before, up to [`MAX_ACCEPT_BACKOFF`].
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(MAX_ACCEPT_BACKOFF)
}

/// Answers 503 without waiting (a full socket buffer must never hold the loop) and closes.
fn refuse_busy(stream: TcpStream) {
    tracing::debug!("api: over the connection cap; refusing a connection");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    // Dropping the stream closes it; a lingering shutdown would keep the descriptor.
    drop(stream);
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let service = app.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => log_end(result),
        () = stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            log_end(connection.await);
        }
    }
}

/// Resolves when the server stops (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|&stop| stop).await;
}

fn log_end(result: hyper::Result<()>) {
    if let Err(e) = result {
        tracing::debug!("api: connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_doubling_up_to_a_cap() {
        let mut pause = FIRST_ACCEPT_BACKOFF;
        let mut pauses = Vec::new();
        for _ in 0..12 {
            pauses.push(pause);
            pause = next_pause(pause);
        }
        assert_eq!(pauses[1], FIRST_ACCEPT_BACKOFF * 2);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]), "{pauses:?}");
        assert_eq!(pauses.last(), Some(&MAX_ACCEPT_BACKOFF));
    }
}
