//! The listening sockets of one front, each with the handler of its resource: what a front binds
//! at start and runs until the gateway drains.

use crate::accept::{Handler, Listener};
use crate::limits::Limiter;
use crate::shutdown::Shutdown;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A resource's listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("resource {resource}: cannot listen on {addr}: {source}")]
pub struct BindError {
    pub resource: String,
    pub addr: SocketAddr,
    pub source: io::Error,
}

/// Bound sockets, each with its resource's name and handler; empty when the configuration has no
/// resource of the front's kind (then [`Listeners::serve`] returns at once).
pub struct Listeners<H> {
    bound: Vec<(String, TcpListener, H)>,
}

impl<H> Default for Listeners<H> {
    fn default() -> Self {
        Listeners { bound: Vec::new() }
    }
}

impl<H> Listeners<H> {
    /// One socket per resource of the front's kind, given as its name, its listen address and
    /// what its handler is made of: `build` makes each resource's handler (its error, such as an
    /// upstream that cannot be set up, comes first), then the address is bound. The first error
    /// stops the binding; the sockets already bound are closed.
    pub async fn bind<'a, R, E>(
        resources: impl IntoIterator<Item = (&'a str, SocketAddr, R)>,
        mut build: impl FnMut(&'a str, R) -> Result<H, E>,
    ) -> Result<Self, E>
    where
        E: From<BindError>,
    {
        let mut listeners = Listeners::default();
        for (name, addr, resource) in resources {
            let handler = build(name, resource)?;
            let listener = TcpListener::bind(addr).await.map_err(|source| BindError {
                resource: name.to_owned(),
                addr,
                source,
            })?;
            listeners.bound.push((name.to_owned(), listener, handler));
        }
        Ok(listeners)
    }

    /// The bound addresses, by resource name.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.bound
            .iter()
            .filter_map(|(name, l, _)| Some((name.clone(), l.local_addr().ok()?)))
            .collect()
    }

    /// The handlers, in the order of the resources.
    pub fn handlers(&self) -> impl Iterator<Item = &H> {
        self.bound.iter().map(|(_, _, h)| h)
    }

    /// The same sockets with handlers made from the ones they have (for a front whose handlers
    /// need what is built once every resource is).
    pub fn map<G>(self, mut f: impl FnMut(H) -> G) -> Listeners<G> {
        Listeners {
            bound: self
                .bound
                .into_iter()
                .map(|(name, l, h)| (name, l, f(h)))
                .collect(),
        }
    }
}

impl<H: Handler> Listeners<H> {
    /// Runs every socket's accept loop under the caps of `limiter` until the gateway drains;
    /// every connection is handed `shutdown`, to end its session when the drain time is over.
    pub async fn serve(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        let mut tasks = tokio::task::JoinSet::new();
        for (_, listener, handler) in self.bound {
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

#[cfg(test)]
#[path = "tests_listeners.rs"]
mod tests;
