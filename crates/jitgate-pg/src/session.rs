//! One client connection, from its first byte to its last: login (see [`crate::login`]), then
//! the relay, and a clean end — with a FATAL error the client can read when the grant ends
//! under it.

use crate::catalog;
use crate::codec::backend::{self, Severity};
use crate::front::{Front, ResourceFront};
use crate::guard::GuardedClient;
use crate::login::{goodbye, open, Fatal, Opened, GOODBYE_TIMEOUT};
use crate::portals::{Answer, Portals};
use crate::relay::{self, Direction, Flow, PumpEnd, PumpError};
use crate::results::{backend_kind, BackendKind, ResultFilter, UNCHECKABLE};
use crate::statements::StatementLog;
use crate::stream::PgStream;
use crate::upstream;
use bytes::BytesMut;
use jitgate_control::model::GrantEnd;
use jitgate_control::SessionStop;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves one accepted connection to the end.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    front: Arc<Front>,
    resource: Arc<ResourceFront>,
) {
    let _ = tcp.set_nodelay(true);
    let login = tokio::time::timeout(
        front.settings.login_timeout,
        open(tcp, peer, &front, &resource),
    )
    .await;
    let opened = match login {
        Ok(Ok(Some(opened))) => opened,
        Ok(Ok(None)) => return,
        Ok(Err((mut stream, fatal))) => {
            goodbye(&mut stream, &fatal).await;
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "client did not finish logging in in time");
            return;
        }
    };
    serve(opened, &front, &resource).await;
}

/// A direction of the relay, boxed once per session so both kinds of session share one select.
type PumpFuture<'a> = Pin<Box<dyn Future<Output = Result<PumpEnd, PumpError>> + Send + 'a>>;

/// The checks of a masked or read-only session; clear, read-write sessions have none.
struct Guard {
    client: GuardedClient,
    results: Option<Box<dyn ResultFilter>>,
}

/// How the relay ended.
enum Outcome {
    Stopped(SessionStop),
    Client(Result<PumpEnd, PumpError>),
    Upstream(Result<PumpEnd, PumpError>),
}

async fn serve(opened: Opened, front: &Front, resource: &ResourceFront) {
    let Opened {
        client,
        client_buf,
        upstream,
        mut session,
        cancel_key,
        guard,
    } = opened;
    let max = front.settings.max_message_bytes;
    let guarded = guard.is_some();
    let mut relay = Relay {
        from_client: Direction::from_client(client_buf, max),
        // A filtered session sees every row whole (a row too large to filter ends it).
        from_upstream: Direction::from_upstream(upstream.read_buf, max, guarded),
        guard: guard.map(|mut g| {
            if let Some(results) = g.results.as_mut() {
                results.backend_pids(upstream.backend_key.0, cancel_key.process_id);
            }
            Guard {
                client: GuardedClient::new(g.statements),
                results: g.results,
            }
        }),
        upstream_addr: upstream.server_addr,
        upstream_key: upstream.backend_key,
    };
    // Plain sockets split into borrowed halves at no cost; TLS streams need a shared lock.
    let reason = match (client, upstream.stream) {
        (PgStream::Plain(mut c), PgStream::Plain(mut u)) => {
            let (cr, cw) = c.split();
            let (ur, uw) = u.split();
            relay.run((cr, cw), (ur, uw), &mut session, resource).await
        }
        (c, u) => {
            let client = tokio::io::split(c);
            let upstream = tokio::io::split(u);
            relay.run(client, upstream, &mut session, resource).await
        }
    };
    drop(cancel_key);
    session.close(&reason, relay.from_client.bytes, relay.from_upstream.bytes);
}

/// Both directions of a logged-in session.
struct Relay {
    from_client: Direction,
    from_upstream: Direction,
    guard: Option<Guard>,
    upstream_addr: SocketAddr,
    upstream_key: (i32, i32),
}

impl Relay {
    /// Relays until either side ends or the session must stop; returns why it ended.
    async fn run<CR, CW, UR, UW>(
        &mut self,
        (mut client_rx, mut client_tx): (CR, CW),
        (mut up_rx, mut up_tx): (UR, UW),
        session: &mut jitgate_control::Session,
        resource: &ResourceFront,
    ) -> String
    where
        CR: AsyncRead + Unpin + Send,
        CW: AsyncWrite + Unpin + Send,
        UR: AsyncRead + Unpin + Send,
        UW: AsyncWrite + Unpin + Send,
    {
        let log = Mutex::new(StatementLog::default());
        let portals = Mutex::new(Portals::default());
        let auditor = session.auditor();
        let lock = || log.lock().unwrap_or_else(|p| p.into_inner());
        let lock_portals = || portals.lock().unwrap_or_else(|p| p.into_inner());
        // Notes a server message for the audit trail; returns a refusal owed to the client.
        let note = |tag: u8, msg: &[u8]| {
            if !matches!(tag, b'C' | b'I' | b's' | b'E' | b'Z') {
                return None;
            }
            if tag == b'C' && catalog::is_ddl_tag(&msg[5..]) {
                resource.ddl_epoch.fetch_add(1, Ordering::Release);
            }
            let refused = lock().server_message(tag, msg, |f| {
                auditor.statement(f.text, f.duration, f.rows, f.sqlstate);
            });
            if let Some((refusal, text)) = &refused {
                auditor.refused(refusal.kind, text, &refusal.message);
            }
            refused.map(|(refusal, _)| refusal)
        };

        let (client_pump, upstream_pump): (PumpFuture<'_>, PumpFuture<'_>) = match &mut self.guard {
            // Clear, read-write sessions: messages pass untouched, in place.
            None => (
                Box::pin(
                    self.from_client
                        .pump(&mut client_rx, &mut up_tx, |tag, msg| {
                            if matches!(tag, b'Q' | b'F' | b'P' | b'B' | b'E' | b'S' | b'C') {
                                lock().client_message(tag, msg);
                            }
                            if tag == b'X' {
                                Flow::ForwardAndStop
                            } else {
                                Flow::Forward
                            }
                        }),
                ),
                Box::pin(
                    self.from_upstream
                        .pump(&mut up_rx, &mut client_tx, |tag, msg| {
                            note(tag, msg);
                            Flow::Forward
                        }),
                ),
            ),
            // Guarded sessions: statements checked, results filtered, refusals delivered in order.
            Some(Guard { client, results }) => {
                let filtered = results.is_some();
                (
                    Box::pin(self.from_client.pump_rewriting(
                        &mut client_rx,
                        &mut up_tx,
                        move |tag, msg, out| {
                            let mut portals = lock_portals();
                            let portals = filtered.then_some(&mut *portals);
                            client.message(tag, msg, out, &mut lock(), portals)
                        },
                    )),
                    Box::pin(self.from_upstream.pump_rewriting(
                        &mut up_rx,
                        &mut client_tx,
                        |tag, msg, out| {
                            if let Some(refusal) = note(tag, msg) {
                                let text = String::from_utf8_lossy(&refusal.sqlstate);
                                backend::error_response(
                                    out,
                                    Severity::Error,
                                    &text,
                                    &refusal.message,
                                );
                            }
                            match results.as_mut() {
                                Some(f) => filter(&mut **f, &mut lock_portals(), tag, msg, out),
                                None => {
                                    out.extend_from_slice(msg);
                                    Flow::Forward
                                }
                            }
                        },
                    )),
                )
            }
        };
        // Polled only when a grant end or kill wakes it, not at every message.
        let stopped = relay::WhenWoken::new(session.stopped());
        let outcome = tokio::select! {
            biased;
            stop = stopped => Outcome::Stopped(stop),
            r = client_pump => Outcome::Client(r),
            r = upstream_pump => Outcome::Upstream(r),
        };

        let busy = lock().busy();
        let (reason, fatal) = outcome.describe();
        // A query still running upstream is cancelled rather than left to finish for nobody.
        let client_left = matches!(outcome, Outcome::Client(Ok(PumpEnd::Stopped)));
        if busy && !client_left {
            let _ = upstream::cancel(
                self.upstream_addr,
                resource.upstream_tls.as_ref(),
                self.upstream_key,
            )
            .await;
        }
        if let Some(fatal) = &fatal {
            say_fatal(&mut client_tx, &mut self.from_upstream, fatal).await;
        }
        let mut bye = BytesMut::new();
        backend::terminate(&mut bye);
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
            let _ = up_tx.write_all(&bye).await;
            let _ = up_tx.shutdown().await;
        })
        .await;
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, client_tx.shutdown()).await;
        reason
    }
}

impl Outcome {
    /// Why the session ended, for the record, and what to tell the client, if anything.
    fn describe(&self) -> (String, Option<Fatal>) {
        let ended = |why: &str| {
            Some(Fatal::new(
                "57P01",
                format!("terminating connection: {why}"),
            ))
        };
        match self {
            Outcome::Stopped(SessionStop::Grant(GrantEnd::Expired)) => {
                ("grant expired".to_owned(), ended("access grant expired"))
            }
            Outcome::Stopped(SessionStop::Grant(GrantEnd::Revoked { by })) => (
                format!("grant revoked by {by}"),
                ended("access grant revoked"),
            ),
            // Killed by an administrator ("ended by dana: …") or by the control plane (a lost
            // masking exemption): the client is told which.
            Outcome::Stopped(SessionStop::Killed(why)) => (
                format!("killed: {why}"),
                ended(&format!("session ended ({why})")),
            ),
            Outcome::Client(Ok(PumpEnd::Stopped)) => ("client terminated".to_owned(), None),
            Outcome::Client(Ok(PumpEnd::Eof)) => ("client disconnected".to_owned(), None),
            Outcome::Client(Err(PumpError::Protocol(e))) => (
                format!("client protocol violation: {e}"),
                Some(Fatal::new("08P01", format!("protocol violation: {e}"))),
            ),
            Outcome::Client(Err(e)) => (format!("client connection lost: {e}"), None),
            Outcome::Upstream(Ok(_)) => ("upstream closed the connection".to_owned(), None),
            Outcome::Upstream(Err(e)) => (
                format!("upstream connection lost: {e}"),
                Some(Fatal::new(
                    "08006",
                    "terminating connection: lost the upstream connection",
                )),
            ),
        }
    }
}

/// Passes one server message of a filtered session through `filter`, following the extended
/// protocol with `portals` so that every row is read with its own description. Ends the session
/// (after a FATAL error the client can read) rather than let a row through unfiltered.
fn filter(
    filter: &mut dyn ResultFilter,
    portals: &mut Portals,
    tag: u8,
    msg: &[u8],
    out: &mut BytesMut,
) -> Flow {
    let unfiltered = match (portals.answer(tag), tag) {
        (Answer::Describes, _) => {
            filter.row_description(msg);
            out.extend_from_slice(msg);
            return Flow::Forward;
        }
        (Answer::Injected, b'T') => {
            filter.row_description(msg);
            return Flow::Forward;
        }
        (Answer::Injected, _) => return Flow::Forward,
        (Answer::Row, _) => {
            if filter.data_row(msg, out) {
                return Flow::Forward;
            }
            "a result row jitgate could not filter"
        }
        (Answer::OutOfStep(why), _) => why,
        // Every other kind of message is shown to the filter or named as carrying no data;
        // anything else ends the session.
        (Answer::Other, _) => match backend_kind(tag) {
            BackendKind::ErrorOrNotice => {
                filter.error_or_notice(msg, out);
                return Flow::Forward;
            }
            BackendKind::Data if filter.data_message(tag, msg, out) => return Flow::Forward,
            BackendKind::Data => return Flow::ForwardAndStop,
            // A prepared statement's RowDescription: no row follows it (rows are answered
            // above, each under its own portal's description, or end the session).
            BackendKind::Unread | BackendKind::Rows => {
                out.extend_from_slice(msg);
                return Flow::Forward;
            }
            BackendKind::Refused => {
                refuse_message(tag, out);
                return Flow::ForwardAndStop;
            }
        },
    };
    tracing::warn!("ending a filtered session: {unfiltered}");
    backend::error_response(
        out,
        Severity::Fatal,
        "XX000",
        &format!("terminating connection: jitgate ended the session rather than pass {unfiltered}"),
    );
    Flow::ForwardAndStop
}

/// Ends a masked session on a message it may not receive, telling the client why.
fn refuse_message(tag: u8, out: &mut BytesMut) {
    tracing::warn!(
        "ending a masked session: the server sent a message of kind {:?} (0x{tag:02x})",
        tag as char
    );
    backend::error_response(out, Severity::Fatal, "08P01", UNCHECKABLE);
}

/// Finishes the message being forwarded, then sends a FATAL error — if it can within the time.
async fn say_fatal<W: AsyncWrite + Unpin>(client: &mut W, pending: &mut Direction, fatal: &Fatal) {
    if !pending.at_boundary() {
        // Half a huge row has gone out; anything more would be garbage to the client.
        return;
    }
    let mut msg = BytesMut::new();
    backend::error_response(&mut msg, Severity::Fatal, &fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, relay::say(client, pending, &msg)).await;
}
