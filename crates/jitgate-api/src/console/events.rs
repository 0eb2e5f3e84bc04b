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
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::Stream;
use jitgate_control::audit::kind;
use jitgate_control::ControlPlane;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the poller looks at the trail's head.
const POLL: Duration = Duration::from_millis(400);
/// How often a stream checks that its session is still alive.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// The audit trail's head as last seen by the poller: the newest event, and the newest that is
/// not a statement (statements are many; only the audit page follows them).
pub struct Head {
    all: watch::Sender<i64>,
    lifecycle: watch::Sender<i64>,
    started: Once,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            all: watch::channel(0).0,
            lifecycle: watch::channel(0).0,
            started: Once::new(),
        }
    }
}

impl Head {
    fn subscribe(&self, control: &Arc<ControlPlane>, all: bool) -> watch::Receiver<i64> {
        self.started.call_once(|| {
            let senders = (self.all.clone(), self.lifecycle.clone());
            tokio::spawn(poll(control.clone(), senders));
        });
        if all {
            self.all.subscribe()
        } else {
            self.lifecycle.subscribe()
        }
    }
}

async fn poll(
    control: Arc<ControlPlane>,
    (all, lifecycle): (watch::Sender<i64>, watch::Sender<i64>),
) {
    let mut last = Seen::default();
    loop {
        let c = control.clone();
        let seen = tokio::task::spawn_blocking(move || newest(&c, last)).await;
        if let Ok(Some(seen)) = seen {
            if seen.any != last.any {
                all.send_replace(seen.any);
            }
            if seen.lifecycle != last.lifecycle {
                lifecycle.send_replace(seen.lifecycle);
            }
            last = seen;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The newest sequence number, and the newest of an event other than a statement.
#[derive(Clone, Copy, Default)]
struct Seen {
    any: i64,
    lifecycle: i64,
}

/// What is newest after `seen`, reading forward a page at a time.
fn newest(control: &ControlPlane, mut seen: Seen) -> Option<Seen> {
    loop {
        let page = control.audit_page(seen.any, 1000).ok()?;
        for e in &page {
            if e.event.kind != kind::STATEMENT {
                seen.lifecycle = e.seq;
            }
        }
        match page.last() {
            Some(e) => seen.any = e.seq,
            None => return Some(seen),
        }
        if page.len() < 1000 {
            return Some(seen);
        }
    }
}

#[derive(Deserialize, Default)]
pub struct Follow {
    /// Every event, statements included (the audit page); otherwise lifecycle changes only.
    #[serde(default)]
    all: bool,
}

pub async fn stream(
    State(state): State<ApiState>,
    stopping: Option<Extension<Stopping>>,
    headers: HeaderMap,
    Query(follow): Query<Follow>,
) -> ConsoleResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Watching does not count as using: an idle console still times out.
    let viewer = Viewer::resolve(&headers, &state, false).await?;
    let head = state.console.head.subscribe(&state.control, follow.all);
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
