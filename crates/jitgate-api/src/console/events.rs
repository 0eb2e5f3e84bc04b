//! Live updates: a server-sent event `change` whenever the audit trail grows (every change in
//! the control plane is an audit event). The page's script then re-reads its live sections, with
//! the viewer's own rights: the event says only that something changed, never what.
//!
//! One poller per process watches the trail's head; every stream waits on it. A stream ends
//! when its session does (sign-out, idle, expiry) or when the server shuts down.

use super::error::ConsoleResult;
use super::viewer::Viewer;
use crate::server::Stopping;
use crate::ApiState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::Stream;
use jitgate_control::ControlPlane;
use std::convert::Infallible;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the poller looks at the trail's head.
const POLL: Duration = Duration::from_millis(400);
/// How often a stream checks that its session is still alive.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// The audit trail's last sequence number, as last seen by the poller.
pub struct Head {
    seq: watch::Sender<i64>,
    started: Once,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: watch::channel(0).0,
            started: Once::new(),
        }
    }
}

impl Head {
    fn subscribe(&self, control: &Arc<ControlPlane>) -> watch::Receiver<i64> {
        self.started.call_once(|| {
            tokio::spawn(poll(control.clone(), self.seq.clone()));
        });
        self.seq.subscribe()
    }
}

async fn poll(control: Arc<ControlPlane>, head: watch::Sender<i64>) {
    let mut last = 0;
    loop {
        let c = control.clone();
        let seen = tokio::task::spawn_blocking(move || newest(&c, last)).await;
        if let Ok(Some(seq)) = seen {
            if seq != last {
                last = seq;
                head.send_replace(seq);
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The newest sequence number after `after`, reading forward a page at a time.
fn newest(control: &ControlPlane, mut after: i64) -> Option<i64> {
    loop {
        let page = control.audit_page(after, 1000).ok()?;
        match page.last() {
            Some(e) if page.len() == 1000 => after = e.seq,
            Some(e) => return Some(e.seq),
            None => return Some(after),
        }
    }
}

pub async fn stream(
    State(state): State<ApiState>,
    stopping: Option<Extension<Stopping>>,
    headers: HeaderMap,
) -> ConsoleResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Watching does not count as using: an idle console still times out.
    let viewer = Viewer::resolve(&headers, &state, false).await?;
    let head = state.console.head.subscribe(&state.control);
    let stopping = stopping.map(|Extension(s)| s.0);
    let live = Live {
        state,
        session: viewer.session,
        head,
        stopping,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        let seq = live.next_change().await?;
        Some((
            Ok(Event::default().event("change").data(seq.to_string())),
            live,
        ))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Live {
    state: ApiState,
    session: String,
    head: watch::Receiver<i64>,
    stopping: Option<watch::Receiver<bool>>,
}

impl Live {
    /// The next head, or none when the stream must end.
    async fn next_change(&mut self) -> Option<i64> {
        loop {
            let stop = async {
                match &mut self.stopping {
                    Some(s) => {
                        let _ = s.wait_for(|&stop| stop).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.head.changed() => {
                    changed.ok()?;
                    return Some(*self.head.borrow_and_update());
                }
                () = stop => return None,
                () = tokio::time::sleep(SESSION_CHECK) => {
                    self.state.console.sessions.use_session(&self.session, Instant::now(), false)?;
                }
            }
        }
    }
}
