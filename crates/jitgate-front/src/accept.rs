//! The accept loop every front runs: accept, take a place under the caps (or refuse), hand the
//! connection to the front's [`Handler`] in a task of its own, and stop when the gateway drains.
//! Running out of descriptors or buffers makes accepting back off with growing pauses instead of
//! spinning, each listener on its own, so one starved listener does not hold up the others.

use crate::limits::{Limiter, LoginPermit, OverCap};
use crate::shutdown::Shutdown;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// What a front gets with each connection it serves.
#[derive(Debug)]
pub struct Connection {
    /// The connection's place among those logging in: call [`LoginPermit::logged_in`] once the
    /// client has logged in (dropping it does the same, for a connection that failed to).
    pub permit: LoginPermit,
    /// When to finish up and when to end the session now.
    pub shutdown: Shutdown,
}

/// A protocol front, as the accept loop sees it.
pub trait Handler: Send + Sync + 'static {
    /// Names the listener in log lines (the resource).
    fn name(&self) -> &str;

    /// Serves one connection to its end: the future is run in a task of its own.
    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: Connection,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// Says goodbye to a connection over a cap, if the protocol has a way to without waiting for
    /// the client (it must not block: it runs in the accept loop). By default the connection is
    /// just closed.
    fn refuse(&self, stream: TcpStream, peer: SocketAddr, why: &OverCap) {
        let _ = (stream, peer, why);
    }
}

/// One listening socket of a front.
pub struct Listener;

impl Listener {
    /// Accepts connections for `handler` until the gateway drains, then closes the socket (new
    /// connections are refused by the system from then on). Connections already accepted run on;
    /// each holds a clone of `shutdown` until it ends.
    pub async fn serve<H: Handler>(
        listener: TcpListener,
        limiter: Arc<Limiter>,
        shutdown: Shutdown,
        handler: H,
    ) {
        let draining = shutdown.draining();
        tokio::pin!(draining);
        let mut backoff = AcceptBackoff::default();
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                _ = &mut draining => break,
                accepted = accept(&listener, &mut backoff) => accepted,
            };
            let (slot, permit) = match limiter.admit(peer.ip()) {
                Ok(places) => places,
                Err(why) => {
                    handler.refuse(stream, peer, &why);
                    limiter.note_refusal(handler.name(), &why);
                    continue;
                }
            };
            let tracked = shutdown.clone();
            let connection = Connection {
                permit,
                shutdown: shutdown.clone(),
            };
            let served = handler.serve(stream, peer, connection);
            tokio::spawn(async move {
                served.await;
                // The place and the shutdown handle outlive the front's own work on the
                // connection, however the front handled them.
                drop(slot);
                drop(tracked);
            });
        }
        tracing::info!(front = handler.name(), "stopped accepting connections");
    }
}

/// Pauses between failed accepts: doubling from a few milliseconds to about a second, and back to
/// none after a success.
#[derive(Debug, Clone)]
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    pub const FIRST: Duration = Duration::from_millis(5);
    pub const MAX: Duration = Duration::from_secs(1);

    /// The pause before the next try; each is twice the last, up to [`AcceptBackoff::MAX`].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff { next: Self::FIRST }
    }
}

/// Accepts the next connection, pausing per `backoff` while accepting fails for want of
/// descriptors, buffers or memory. Usable by any listener of the process (the HTTP API too).
pub async fn accept(
    listener: &TcpListener,
    backoff: &mut AcceptBackoff,
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                backoff.reset();
                return accepted;
            }
            // That one connection failed before it was accepted; the next may not.
            Err(e) if one_connection_failed(&e) => {
                tracing::debug!("accept: {e}");
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!("accept: {e}; trying again in {delay:?}");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Errors that concern the connection being accepted, not the listener or the process.
fn one_connection_failed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
#[path = "tests_accept.rs"]
mod tests;
