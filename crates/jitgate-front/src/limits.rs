//! Caps on what a crowd of clients can make the gateway hold: connections open at once, and
//! connections that have not logged in yet (in all, and from one client address) — before login
//! anyone can connect, so that is where a flood is cheapest for the sender. The counting is plain
//! data ([`Counts`]); [`Limiter`] shares it between listeners and hands out guards that give their
//! place back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The caps, the same for every front (the configuration's `[server]` settings give them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Client connections open at once, over all fronts.
    pub max_connections: usize,
    /// Connections that have not finished logging in, over all fronts.
    pub max_logging_in: usize,
    /// Connections that have not finished logging in, from one client address.
    pub max_logging_in_per_address: usize,
}

/// Which cap a connection met; it is closed at once (after a word to the client where the
/// protocol allows one without waiting for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverCap {
    #[error("too many connections ({limit} open)")]
    Connections { limit: usize },
    #[error("too many connections logging in ({limit})")]
    LoggingIn { limit: usize },
    #[error("too many connections logging in from {address} ({limit})")]
    LoggingInFromAddress { address: IpAddr, limit: usize },
}

impl OverCap {
    /// What the client is told: which cap, never the counts of other clients.
    pub fn client_message(&self) -> &'static str {
        match self {
            OverCap::Connections { .. } => {
                "too many connections: jitgate serves as many clients as it may; try again later"
            }
            OverCap::LoggingIn { .. } => {
                "too many connections logging in at once: try again shortly"
            }
            OverCap::LoggingInFromAddress { .. } => {
                "too many connections logging in at once from your address: try again shortly"
            }
        }
    }
}

/// How many connections are open and how many are still logging in: the pure state of the caps.
#[derive(Debug, Default)]
pub struct Counts {
    connections: usize,
    logging_in: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Counts {
    /// Counts a new connection from `address` (logging in), or says which cap it meets.
    pub fn open(&mut self, limits: &Limits, address: IpAddr) -> Result<(), OverCap> {
        if self.connections >= limits.max_connections {
            return Err(OverCap::Connections {
                limit: limits.max_connections,
            });
        }
        if self.logging_in >= limits.max_logging_in {
            return Err(OverCap::LoggingIn {
                limit: limits.max_logging_in,
            });
        }
        let from_address = self.by_address.entry(address).or_default();
        if *from_address >= limits.max_logging_in_per_address {
            return Err(OverCap::LoggingInFromAddress {
                address,
                limit: limits.max_logging_in_per_address,
            });
        }
        *from_address += 1;
        self.logging_in += 1;
        self.connections += 1;
        Ok(())
    }

    /// A connection from `address` has logged in (or gave up logging in).
    pub fn login_over(&mut self, address: IpAddr) {
        self.logging_in = self.logging_in.saturating_sub(1);
        if let Some(n) = self.by_address.get_mut(&address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Only addresses with a login under way are remembered.
                self.by_address.remove(&address);
            }
        }
    }

    /// A connection has ended.
    pub fn closed(&mut self) {
        self.connections = self.connections.saturating_sub(1);
    }

    pub fn connections(&self) -> usize {
        self.connections
    }

    pub fn logging_in(&self) -> usize {
        self.logging_in
    }

    pub fn logging_in_from(&self, address: IpAddr) -> usize {
        self.by_address.get(&address).copied().unwrap_or(0)
    }

    /// How many addresses have a login under way (what the per-address table holds).
    pub fn addresses(&self) -> usize {
        self.by_address.len()
    }
}

/// At most one log line a second about refused connections, with how many since the last.
#[derive(Debug, Default)]
struct RefusalLog {
    total: u64,
    unreported: u64,
    last_report: Option<Instant>,
}

const REFUSAL_REPORT_EVERY: Duration = Duration::from_secs(1);

impl RefusalLog {
    /// Counts one refusal; returns (refused since the last report, refused in all) when a report
    /// is due.
    fn refused(&mut self, now: Instant) -> Option<(u64, u64)> {
        self.total += 1;
        self.unreported += 1;
        let due = self
            .last_report
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_REPORT_EVERY);
        if !due {
            return None;
        }
        self.last_report = Some(now);
        Some((std::mem::take(&mut self.unreported), self.total))
    }
}

/// The caps shared by every listener of the process.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    counts: Mutex<Counts>,
    refusals: Mutex<RefusalLog>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Arc<Limiter> {
        Arc::new(Limiter {
            limits,
            counts: Mutex::new(Counts::default()),
            refusals: Mutex::new(RefusalLog::default()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes a place for a new connection from `address`: the connection's slot (held until it
    /// ends) and its login permit (held until it has logged in).
    pub fn admit(
        self: &Arc<Self>,
        address: IpAddr,
    ) -> Result<(ConnectionSlot, LoginPermit), OverCap> {
        // An IPv4 client reaching an IPv6 socket is the same client as over IPv4.
        let address = address.to_canonical();
        self.lock().open(&self.limits, address)?;
        let slot = ConnectionSlot {
            limiter: self.clone(),
        };
        let permit = LoginPermit {
            limiter: self.clone(),
            address,
        };
        Ok((slot, permit))
    }

    /// (connections open, connections logging in) right now.
    pub fn open_and_logging_in(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.connections(), counts.logging_in())
    }

    /// Counts a refused connection and writes the log line about refusals when one is due.
    pub fn note_refusal(&self, front: &str, why: &OverCap) {
        let due = self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused(Instant::now());
        match due {
            Some((since, total)) => tracing::warn!(
                front,
                "refused {since} connection(s) over a cap ({total} since start); latest: {why}"
            ),
            None => tracing::debug!(front, "refused a connection: {why}"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent across a panic elsewhere: every update is one statement.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection's place under `max_connections`; given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<Limiter>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limiter.lock().closed();
    }
}

/// A connection's place among those logging in; given back when the front says the client has
/// logged in ([`LoginPermit::logged_in`]) or when dropped (the login failed or the connection
/// ended).
#[derive(Debug)]
pub struct LoginPermit {
    limiter: Arc<Limiter>,
    address: IpAddr,
}

impl LoginPermit {
    /// The client has logged in: its place goes to the next one.
    pub fn logged_in(self) {
        drop(self);
    }
}

impl Drop for LoginPermit {
    fn drop(&mut self) {
        self.limiter.lock().login_over(self.address);
    }
}

#[cfg(test)]
#[path = "tests_limits.rs"]
mod tests;
