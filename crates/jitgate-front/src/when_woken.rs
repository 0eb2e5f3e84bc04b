//! A future polled only when its own waker fired: a session's stop signal beside a relay whose
//! task wakes at every message.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A future polled only after its own waker fired (and once at first), however often the task
/// that holds it wakes. The relay's task wakes on every message; the session's stop signal (a
/// grant ending, a kill) rarely fires, and polling it at every wake-up cost as much user time as
/// forwarding the message.
pub struct WhenWoken<F> {
    inner: Pin<Box<F>>,
    woken: Arc<Woken>,
}

struct Woken {
    fired: AtomicBool,
    /// The waker of the task that last polled; the lock is only ever taken briefly.
    task: Mutex<Option<Waker>>,
}

impl Woken {
    fn register(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F: Future> WhenWoken<F> {
    pub fn new(inner: F) -> WhenWoken<F> {
        WhenWoken {
            inner: Box::pin(inner),
            woken: Arc::new(Woken {
                fired: AtomicBool::new(true),
                task: Mutex::new(None),
            }),
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Registered before the flag is read, so a wake between the two is not lost.
        self.woken.register(cx.waker());
        if !self.woken.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.woken.clone());
        self.inner.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts how often the future inside is polled.
    struct Counted<F> {
        inner: Pin<Box<F>>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl<F: Future> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    /// The stop signal of a session is polled once, then only when it fires — not at every
    /// message the relay's task wakes for — and its firing is never lost.
    #[test]
    fn a_gated_future_is_polled_only_after_it_was_woken() {
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut gated = WhenWoken::new(Counted {
            inner: Box::pin(rx),
            polls: polls.clone(),
        });
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..5 {
            assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        tx.send(7).unwrap();
        assert!(matches!(
            Pin::new(&mut gated).poll(&mut cx),
            Poll::Ready(Ok(7))
        ));
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    /// The task that holds the gated future is woken when the future inside is.
    #[tokio::test]
    async fn a_gated_future_wakes_its_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let waiter = tokio::spawn(WhenWoken::new(rx));
        tokio::task::yield_now().await;
        tx.send(3).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(3));
    }
}
