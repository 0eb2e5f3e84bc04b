//! Graceful shutdown in three phases, after mini-redis: the gateway serves; then it drains
//! (listeners stop accepting, sessions may finish what they are doing); then it forces the rest
//! (each session ends as if its grant ended, telling its client why). Every connection task holds
//! a [`Shutdown`] handle, so the controller knows when the last one has closed its session.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Where the gateway is in its life; phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Serving,
    /// No new connections; sessions may finish.
    Draining,
    /// Sessions must end now.
    Forced,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every connection ended within the drain time.
    Drained,
    /// Connections left at the end of the drain time were forced, and ended.
    Forced,
    /// Handles still held after the connections were forced (abandoned to the process's end).
    Abandoned { handles: usize },
}

/// Moves the phase forward and waits for the connections; owned by the gateway process.
#[derive(Debug)]
pub struct ShutdownController {
    phase: watch::Sender<Phase>,
    /// Never sent on: its receivers count the handles alive (futures waiting on a phase do not).
    alive: watch::Sender<()>,
}

impl Default for ShutdownController {
    fn default() -> Self {
        ShutdownController::new()
    }
}

impl ShutdownController {
    pub fn new() -> ShutdownController {
        let (phase, _) = watch::channel(Phase::Serving);
        let (alive, _) = watch::channel(());
        ShutdownController { phase, alive }
    }

    /// A handle for a listener or a connection; the controller waits for every handle.
    pub fn handle(&self) -> Shutdown {
        Shutdown {
            phase: self.phase.subscribe(),
            _alive: self.alive.subscribe(),
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Stops accepting; sessions may finish.
    pub fn drain(&self) {
        self.advance(Phase::Draining);
    }

    /// Ends every session now.
    pub fn force(&self) {
        self.advance(Phase::Forced);
    }

    fn advance(&self, to: Phase) {
        self.phase.send_if_modified(|phase| {
            let later = to > *phase;
            if later {
                *phase = to;
            }
            later
        });
    }

    /// How many handles are alive (listeners and connections not yet finished hold one or more).
    pub fn live(&self) -> usize {
        self.alive.receiver_count()
    }

    /// Resolves once every handle has been dropped.
    pub async fn finished(&self) {
        self.alive.closed().await;
    }

    /// Drains for `drain_timeout` (zero: not at all), then forces what is left and waits up to
    /// `force_timeout` for it to end.
    pub async fn shut_down(
        &self,
        drain_timeout: Duration,
        force_timeout: Duration,
    ) -> DrainOutcome {
        self.drain();
        if tokio::time::timeout(drain_timeout, self.finished())
            .await
            .is_ok()
        {
            return DrainOutcome::Drained;
        }
        self.force();
        match tokio::time::timeout(force_timeout, self.finished()).await {
            Ok(()) => DrainOutcome::Forced,
            Err(_) => DrainOutcome::Abandoned {
                handles: self.live(),
            },
        }
    }
}

/// A listener's or connection's view of the shutdown. Keep it for as long as the connection's
/// session is open: the gateway waits for it before it exits.
#[derive(Debug, Clone)]
pub struct Shutdown {
    phase: watch::Receiver<Phase>,
    _alive: watch::Receiver<()>,
}

impl Shutdown {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Resolves once the gateway drains (or forces): stop accepting, finish up.
    pub fn draining(&self) -> impl Future<Output = ()> + Send + 'static {
        reached(self.phase.clone(), Phase::Draining)
    }

    /// Resolves once sessions must end now.
    pub fn forced(&self) -> impl Future<Output = ()> + Send + 'static {
        reached(self.phase.clone(), Phase::Forced)
    }
}

async fn reached(mut phase: watch::Receiver<Phase>, at_least: Phase) {
    if phase.wait_for(|p| *p >= at_least).await.is_err() {
        // The controller is gone without a word: nothing will ever be asked of this handle.
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
#[path = "tests_shutdown.rs"]
mod tests;
