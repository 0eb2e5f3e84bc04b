//! The listening sockets of one front, each with the handler of its resource: what a front binds
//! at start and runs until the gateway drains.

use crate::accept::{Handler, Listener};
use crate::limits::Limiter;
use crate::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Bound sockets and their handlers; empty when the configuration has no resource of the
/// front's kind (then [`Listeners::serve`] returns at once).
pub struct Listeners<H> {
    bound: Vec<(TcpListener, H)>,
}

impl<H> Default for Listeners<H> {
    fn default() -> Self {
        Listeners { bound: Vec::new() }
    }
}

impl<H: Handler> Listeners<H> {
    pub fn push(&mut self, listener: TcpListener, handler: H) {
        self.bound.push((listener, handler));
    }

    /// The bound addresses, by handler name (the resource).
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.bound
            .iter()
            .filter_map(|(l, h)| Some((h.name().to_string(), l.local_addr().ok()?)))
            .collect()
    }

    /// Runs every socket's accept loop under the caps of `limiter` until the gateway drains;
    /// every connection is handed `shutdown`, to end its session when the drain time is over.
    pub async fn serve(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, handler) in self.bound {
            tasks.spawn(Listener::serve(
                listener,
                limiter.clone(),
                shutdown.clone(),
                handler,
            ));
        }
        while tasks.join_next().await.is_some() {}
    }
}
