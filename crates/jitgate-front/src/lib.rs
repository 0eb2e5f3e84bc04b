//! The skeleton every protocol front of jitgate stands on, so that a new front is mostly its
//! protocol: a listener bound per resource of its kind ([`Listeners::bind`]), an accept loop
//! ([`Listener`]) that caps the connections it holds and the connections still logging in
//! ([`Limiter`]), backs off when the process runs out of descriptors ([`AcceptBackoff`]), and
//! stops accepting, drains and finally forces the sessions it started when the gateway shuts
//! down ([`ShutdownController`], [`Shutdown`]).

mod accept;
mod limits;
mod listeners;
mod shutdown;
mod when_woken;

pub use accept::{accept, AcceptBackoff, Connection, Handler, Listener};
pub use limits::{ConnectionSlot, Counts, Limiter, Limits, LoginPermit, OverCap};
pub use listeners::{BindError, Listeners};
pub use shutdown::{DrainOutcome, Phase, Shutdown, ShutdownController};
pub use when_woken::WhenWoken;
