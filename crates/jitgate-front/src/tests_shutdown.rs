use super::*;
use std::time::Duration;

#[tokio::test]
async fn phases_move_forward_only() {
    let controller = ShutdownController::new();
    let handle = controller.handle();
    controller.force();
    controller.drain();
    assert_eq!(handle.phase(), Phase::Forced);
    // Both futures resolve once forced.
    handle.draining().await;
    handle.forced().await;
}

#[tokio::test]
async fn draining_does_not_force() {
    let controller = ShutdownController::new();
    let handle = controller.handle();
    controller.drain();
    handle.draining().await;
    let forced = handle.forced();
    tokio::pin!(forced);
    assert!(futures_poll_once(&mut forced).await.is_none());
}

/// Polls a future once, without waiting.
async fn futures_poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[tokio::test]
async fn a_drain_ends_as_soon_as_the_last_connection_does() {
    let controller = ShutdownController::new();
    let handle = controller.handle();
    let session = tokio::spawn(async move {
        handle.draining().await;
        drop(handle);
    });
    // A drain time no test would wait for: the outcome comes from the connection ending.
    let outcome = controller
        .shut_down(Duration::from_secs(3600), Duration::from_secs(3600))
        .await;
    assert_eq!(outcome, DrainOutcome::Drained);
    session.await.expect("session task");
}

#[tokio::test]
async fn sessions_still_open_after_the_drain_time_are_forced() {
    let controller = ShutdownController::new();
    let handle = controller.handle();
    let session = tokio::spawn(async move {
        // Ignores the drain; ends only when forced.
        handle.forced().await;
        drop(handle);
    });
    let outcome = controller
        .shut_down(Duration::ZERO, Duration::from_secs(3600))
        .await;
    assert_eq!(outcome, DrainOutcome::Forced);
    session.await.expect("session task");
}

#[tokio::test]
async fn a_session_that_ignores_force_is_abandoned_and_counted() {
    let controller = ShutdownController::new();
    let _stuck = controller.handle();
    let outcome = controller.shut_down(Duration::ZERO, Duration::ZERO).await;
    assert_eq!(outcome, DrainOutcome::Abandoned { handles: 1 });
}
