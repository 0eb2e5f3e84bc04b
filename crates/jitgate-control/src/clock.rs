//! The control plane's notion of now: the system clock in production, a hand-moved one in tests
//! of expiry, time windows and token lifetimes.

use crate::model::{now_millis, Millis};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands still at `start` until moved with the returned handle.
    pub fn manual(start: Millis) -> (Clock, ManualClock) {
        let now = Arc::new(AtomicI64::new(start));
        (Clock(Source::Manual(now.clone())), ManualClock(now))
    }

    pub fn now(&self) -> Millis {
        match &self.0 {
            Source::System => now_millis(),
            Source::Manual(now) => now.load(Ordering::SeqCst),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// Moves a manual [`Clock`].
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as Millis, Ordering::SeqCst);
    }

    pub fn set(&self, to: Millis) {
        self.0.store(to, Ordering::SeqCst);
    }
}
