//! A bounded queue between the recorder and one webhook's delivery thread: pushing never
//! blocks (the oldest entry makes room), taking blocks until there is work or the queue closes.

use super::WebhookEvent;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) struct DeliveryQueue {
    state: Mutex<State>,
    /// Signalled when an entry arrives or the queue closes.
    changed: Condvar,
    capacity: usize,
}

struct State {
    items: VecDeque<WebhookEvent>,
    /// The delivery thread is working on an entry it took.
    busy: bool,
    closed: bool,
}

impl DeliveryQueue {
    pub fn new(capacity: usize) -> DeliveryQueue {
        DeliveryQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                busy: false,
                closed: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `event`; true if the queue was full and its oldest entry was dropped for it.
    pub fn push(&self, event: WebhookEvent) -> bool {
        let mut state = self.lock();
        let mut dropped = false;
        if state.items.len() >= self.capacity {
            if let Some(oldest) = state.items.pop_front() {
                tracing::warn!(
                    seq = oldest.seq,
                    kind = %oldest.event.kind,
                    "webhook queue full; the oldest undelivered event was dropped"
                );
                dropped = true;
            }
        }
        state.items.push_back(event);
        self.changed.notify_all();
        dropped
    }

    /// The next entry, waiting for one; `None` once the queue is closed.
    pub fn take(&self) -> Option<WebhookEvent> {
        let mut state = self.lock();
        state.busy = false;
        self.changed.notify_all();
        loop {
            if state.closed {
                return None;
            }
            if let Some(event) = state.items.pop_front() {
                state.busy = true;
                return Some(event);
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Sleeps for `pause` unless the queue closes first; false if it closed.
    pub fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until nothing is queued or being delivered, or `deadline` passes.
    pub fn wait_idle(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed || (state.items.is_empty() && !state.busy) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }
}
