//! One client connection, from its first byte to its last: login (see [`crate::login`]), then
//! the relay, and a clean end — with a FATAL error the client can read when the grant ends
//! under it.
//!
//! The relay is one short loop over two [`Direction`]s; what looks at the messages is an
//! [`Inspector`]: [`Clear`] for clear, read-write sessions (messages forwarded in place, noted
//! for the audit trail) or a [`Guard`] (statements checked, results filtered). Whatever ended
//! the relay, [`Relay::finish`] cancels a query left running upstream, says the last words to
//! the client and terminates the upstream session.

use crate::catalog;
use crate::codec::backend::{self, Severity};
use crate::codec::{self, frontend};
use crate::guard::portals::Portals;
use crate::guard::results::filter_message;
use crate::guard::{GuardedClient, ResultFilter, SessionCatalog, StatementRefusal};
use crate::login::{goodbye, open, Fatal, Opened, GOODBYE_TIMEOUT};
use crate::relay::{self, Direction, Flow, PumpEnd, PumpError};
use crate::resource::ResourceFront;
use crate::runaway::{cancel_on_rule, RuleCancels};
use crate::shared::Front;
use crate::statements::StatementLog;
use crate::stream::PgStream;
use crate::upstream;
use bytes::BytesMut;
use jitgate_control::{SessionAuditor, SessionStop};
use jitgate_front::{Connection, Shutdown};
use jitgate_sqlstate::SqlState;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves one accepted connection to the end; `connection` is its place among those logging in
/// (given back once logged in) and its view of the gateway's shutdown.
pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    front: Arc<Front>,
    resource: Arc<ResourceFront>,
    connection: Connection,
) {
    let Connection { permit, shutdown } = connection;
    let _ = tcp.set_nodelay(true);
    let login = tokio::time::timeout(
        front.settings.login_timeout,
        open(tcp, peer, &front, &resource),
    );
    let login = tokio::select! {
        login = login => login,
        () = shutdown.forced() => {
            tracing::info!(%peer, "login cut short: jitgate is shutting down");
            return;
        }
    };
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
    permit.logged_in();
    serve(opened, &front, &resource, &shutdown).await;
}

/// A direction of the relay, boxed once per session so both kinds of session share one select.
type PumpFuture<'a> = Pin<Box<dyn Future<Output = Result<PumpEnd, PumpError>> + Send + 'a>>;

/// How the relay ended.
enum Outcome {
    Stopped(SessionStop),
    Client(Result<PumpEnd, PumpError>),
    Upstream(Result<PumpEnd, PumpError>),
}

async fn serve(opened: Opened, front: &Front, resource: &ResourceFront, shutdown: &Shutdown) {
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
                catalog: g.catalog,
                portals: Mutex::default(),
            }
        }),
        clear: Clear,
        upstream_addr: upstream.server_addr,
        upstream_key: upstream.backend_key,
    };
    // Plain sockets split into borrowed halves at no cost; TLS streams need a shared lock.
    let reason = match (client, upstream.stream) {
        (PgStream::Plain(mut c), PgStream::Plain(mut u)) => {
            let (cr, cw) = c.split();
            let (ur, uw) = u.split();
            relay
                .run((cr, cw), (ur, uw), &mut session, resource, shutdown)
                .await
        }
        (c, u) => {
            let client = tokio::io::split(c);
            let upstream = tokio::io::split(u);
            relay
                .run(client, upstream, &mut session, resource, shutdown)
                .await
        }
    };
    drop(cancel_key);
    session.close(&reason, relay.from_client.bytes, relay.from_upstream.bytes);
}

/// Both directions of a logged-in session.
struct Relay {
    from_client: Direction,
    from_upstream: Direction,
    /// The inspector of a clear session; unused when it is guarded.
    clear: Clear,
    guard: Option<Guard>,
    upstream_addr: SocketAddr,
    upstream_key: (i32, i32),
}

/// The two ends of a connection, read and write halves.
type Ends<R, W> = (R, W);

impl Relay {
    /// Relays until either side ends or the session must stop; returns why it ended.
    async fn run<CR, CW, UR, UW>(
        &mut self,
        (mut client_rx, mut client_tx): Ends<CR, CW>,
        (mut up_rx, mut up_tx): Ends<UR, UW>,
        session: &mut jitgate_control::Session,
        resource: &ResourceFront,
        shutdown: &Shutdown,
    ) -> String
    where
        CR: AsyncRead + Unpin + Send,
        CW: AsyncWrite + Unpin + Send,
        UR: AsyncRead + Unpin + Send,
        UW: AsyncWrite + Unpin + Send,
    {
        let cancels = session.statement_cancels();
        let seen = Seen {
            log: Mutex::default(),
            auditor: session.auditor(),
            resource,
            ddl_uncommitted: AtomicBool::new(false),
            rule_cancels: cancels.is_some().then(RuleCancels::default),
        };
        let (upstream_addr, upstream_key) = (self.upstream_addr, self.upstream_key);
        let client = (&mut client_rx, &mut client_tx);
        let upstream = (&mut up_rx, &mut up_tx);
        let directions = (&mut self.from_client, &mut self.from_upstream);
        let (to_upstream, to_client) = match &mut self.guard {
            None => self.clear.pumps(&seen, directions, client, upstream),
            Some(guard) => guard.pumps(&seen, directions, client, upstream),
        };
        // Polled only when a grant end, a kill or the shutdown wakes them, not at every message.
        let stopped = relay::WhenWoken::new(session.stopped());
        let forced = relay::WhenWoken::new(shutdown.forced());
        let rule_cancels = seen.rule_cancels.as_ref().zip(cancels);
        let runaway = relay::WhenWoken::new(cancel_on_rule(
            rule_cancels,
            || seen.log().busy(),
            upstream_addr,
            resource.upstream_tls.as_ref(),
            upstream_key,
        ));
        let outcome = tokio::select! {
            biased;
            stop = stopped => Outcome::Stopped(stop),
            () = forced => Outcome::Stopped(SessionStop::Shutdown),
            () = runaway => unreachable!("cancelling runaway statements goes on until the end"),
            r = to_upstream => Outcome::Client(r),
            r = to_client => Outcome::Upstream(r),
        };
        let busy = seen.log().busy();
        self.finish(&outcome, busy, &mut client_tx, &mut up_tx, resource)
            .await;
        outcome.describe().0
    }

    /// Ends a relay: cancels a query still running upstream (unless the client left on its
    /// own), tells the client why when it should know, and terminates the upstream session.
    async fn finish<CW, UW>(
        &mut self,
        outcome: &Outcome,
        busy: bool,
        client_tx: &mut CW,
        up_tx: &mut UW,
        resource: &ResourceFront,
    ) where
        CW: AsyncWrite + Unpin + Send,
        UW: AsyncWrite + Unpin + Send,
    {
        let client_left = matches!(outcome, Outcome::Client(Ok(PumpEnd::Stopped)));
        if busy && !client_left {
            // Rather than left to finish for nobody.
            let _ = upstream::cancel(
                self.upstream_addr,
                resource.upstream_tls.as_ref(),
                self.upstream_key,
            )
            .await;
        }
        if let (_, Some(fatal)) = outcome.describe() {
            say_fatal(client_tx, &mut self.from_upstream, &fatal).await;
        }
        let mut bye = BytesMut::new();
        backend::terminate(&mut bye);
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
            let _ = up_tx.write_all(&bye).await;
            let _ = up_tx.shutdown().await;
        })
        .await;
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, client_tx.shutdown()).await;
    }
}

/// What both directions of a session share: the statements in flight, for the audit trail.
struct Seen<'r> {
    log: Mutex<StatementLog>,
    auditor: SessionAuditor,
    resource: &'r ResourceFront,
    /// DDL completed in a transaction that has not ended yet.
    ddl_uncommitted: AtomicBool,
    /// Under a `long_statement` rule that cancels: what the client is owed.
    rule_cancels: Option<RuleCancels>,
}

impl Seen<'_> {
    fn log(&self) -> MutexGuard<'_, StatementLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Outdates the resource's catalog snapshots when DDL completes, and again when its
    /// transaction ends: a snapshot loaded in between (by another connection) cannot see it.
    fn note_ddl(&self, tag: u8, msg: &[u8]) {
        let body = codec::body(msg);
        let outdated = match tag {
            backend::COMMAND_COMPLETE if catalog::is_ddl_tag(body) => {
                self.ddl_uncommitted.store(true, Ordering::Relaxed);
                true
            }
            // Status idle: the transaction committed or rolled back.
            backend::READY_FOR_QUERY if body.first() == Some(&b'I') => {
                self.ddl_uncommitted.swap(false, Ordering::Relaxed)
            }
            _ => false,
        };
        if outdated {
            self.resource.ddl_epoch.fetch_add(1, Ordering::Release);
        }
    }

    /// Notes a server message for the audit trail; returns a refusal owed to the client.
    fn server_message(&self, tag: u8, msg: &[u8]) -> Option<StatementRefusal> {
        use backend::{COMMAND_COMPLETE, EMPTY_QUERY_RESPONSE, ERROR_RESPONSE, PORTAL_SUSPENDED};
        if !matches!(
            tag,
            COMMAND_COMPLETE
                | EMPTY_QUERY_RESPONSE
                | PORTAL_SUSPENDED
                | ERROR_RESPONSE
                | backend::READY_FOR_QUERY
        ) {
            return None;
        }
        self.note_ddl(tag, msg);
        let refused = {
            let mut log = self.log();
            let refused = log.server_message(tag, msg, |f| {
                self.auditor
                    .statement(f.text, f.duration, f.rows, f.sqlstate);
            });
            self.auditor.running(log.oldest());
            refused
        };
        let (refusal, text) = refused?;
        self.auditor.refused(refusal.kind, &text, &refusal.message);
        Some(refusal)
    }
}

/// Looks at the messages of a session in both directions.
trait Inspector {
    /// The two directions of the relay, from the client and from the upstream, ready to race.
    fn pumps<'a, CR, CW, UR, UW>(
        &'a mut self,
        seen: &'a Seen<'_>,
        directions: (&'a mut Direction, &'a mut Direction),
        client: (&'a mut CR, &'a mut CW),
        upstream: (&'a mut UR, &'a mut UW),
    ) -> (PumpFuture<'a>, PumpFuture<'a>)
    where
        CR: AsyncRead + Unpin + Send,
        CW: AsyncWrite + Unpin + Send,
        UR: AsyncRead + Unpin + Send,
        UW: AsyncWrite + Unpin + Send;
}

/// Clear, read-write sessions: messages pass untouched, in place, and are noted for the audit.
struct Clear;

impl Inspector for Clear {
    fn pumps<'a, CR, CW, UR, UW>(
        &'a mut self,
        seen: &'a Seen<'_>,
        (from_client, from_upstream): (&'a mut Direction, &'a mut Direction),
        (client_rx, client_tx): (&'a mut CR, &'a mut CW),
        (up_rx, up_tx): (&'a mut UR, &'a mut UW),
    ) -> (PumpFuture<'a>, PumpFuture<'a>)
    where
        CR: AsyncRead + Unpin + Send,
        CW: AsyncWrite + Unpin + Send,
        UR: AsyncRead + Unpin + Send,
        UW: AsyncWrite + Unpin + Send,
    {
        use frontend::{BIND, CLOSE, EXECUTE, FUNCTION_CALL, PARSE, QUERY, SYNC, TERMINATE};
        let to_upstream = from_client.pump(client_rx, up_tx, move |tag, msg| {
            if matches!(
                tag,
                QUERY | FUNCTION_CALL | PARSE | BIND | EXECUTE | SYNC | CLOSE
            ) {
                let mut log = seen.log();
                log.client_message(tag, msg);
                seen.auditor.running(log.oldest());
            }
            if tag == TERMINATE {
                Flow::ForwardAndStop
            } else {
                Flow::Forward
            }
        });
        if let Some(owed) = &seen.rule_cancels {
            // Only under a cancelling rule: the upstream's answer to a cancel is reworded.
            let to_client = from_upstream.pump_rewriting(up_rx, client_tx, move |tag, msg, out| {
                seen.server_message(tag, msg);
                let start = out.len();
                out.extend_from_slice(msg);
                owed.server_message(tag, msg, out, start);
                Flow::Forward
            });
            return (Box::pin(to_upstream), Box::pin(to_client));
        }
        let to_client = from_upstream.pump(up_rx, client_tx, move |tag, msg| {
            seen.server_message(tag, msg);
            Flow::Forward
        });
        (Box::pin(to_upstream), Box::pin(to_client))
    }
}

/// The checks of a masked or read-only session: statements checked, results filtered,
/// refusals delivered in order.
struct Guard {
    client: GuardedClient,
    results: Option<Box<dyn ResultFilter>>,
    /// What both decide with, renewed before the client's messages are analysed.
    catalog: Arc<SessionCatalog>,
    /// Followed by both directions when results are filtered.
    portals: Mutex<Portals>,
}

impl Inspector for Guard {
    fn pumps<'a, CR, CW, UR, UW>(
        &'a mut self,
        seen: &'a Seen<'_>,
        (from_client, from_upstream): (&'a mut Direction, &'a mut Direction),
        (client_rx, client_tx): (&'a mut CR, &'a mut CW),
        (up_rx, up_tx): (&'a mut UR, &'a mut UW),
    ) -> (PumpFuture<'a>, PumpFuture<'a>)
    where
        CR: AsyncRead + Unpin + Send,
        CW: AsyncWrite + Unpin + Send,
        UR: AsyncRead + Unpin + Send,
        UW: AsyncWrite + Unpin + Send,
    {
        let Guard {
            client,
            results,
            catalog,
            portals,
        } = self;
        let catalog = &**catalog;
        let resource = seen.resource;
        let portals = &*portals;
        let lock_portals = move || portals.lock().unwrap_or_else(|p| p.into_inner());
        let filtered = results.is_some();
        let renew = move |()| catalog.renew(resource);
        let to_upstream =
            from_client.pump_rewriting_after(client_rx, up_tx, renew, move |tag, msg, out| {
                let mut portals = lock_portals();
                let portals = filtered.then_some(&mut *portals);
                let mut log = seen.log();
                let flow = client.message(tag, msg, out, &mut log, portals);
                seen.auditor.running(log.oldest());
                flow
            });
        let to_client = from_upstream.pump_rewriting(up_rx, client_tx, move |tag, msg, out| {
            if let Some(refusal) = seen.server_message(tag, msg) {
                backend::error_response(out, Severity::Error, refusal.sqlstate, &refusal.message);
            }
            let start = out.len();
            let flow = match results.as_mut() {
                Some(f) => filter_message(&mut **f, &mut lock_portals(), tag, msg, out),
                None => {
                    out.extend_from_slice(msg);
                    Flow::Forward
                }
            };
            if let Some(owed) = &seen.rule_cancels {
                owed.server_message(tag, msg, out, start);
            }
            flow
        });
        (Box::pin(to_upstream), Box::pin(to_client))
    }
}

impl Outcome {
    /// Why the session ended, for the record, and what to tell the client, if anything.
    fn describe(&self) -> (String, Option<Fatal>) {
        match self {
            Outcome::Stopped(stop) => (
                stop.reason(),
                Some(Fatal::new(SqlState::ADMIN_SHUTDOWN, stop.client_message())),
            ),
            Outcome::Client(Ok(PumpEnd::Stopped)) => ("client terminated".to_owned(), None),
            Outcome::Client(Ok(PumpEnd::Eof)) => ("client disconnected".to_owned(), None),
            Outcome::Client(Err(PumpError::Protocol(e))) => (
                format!("client protocol violation: {e}"),
                Some(Fatal::new(
                    SqlState::PROTOCOL_VIOLATION,
                    format!("protocol violation: {e}"),
                )),
            ),
            Outcome::Client(Err(e)) => (format!("client connection lost: {e}"), None),
            Outcome::Upstream(Ok(_)) => ("upstream closed the connection".to_owned(), None),
            Outcome::Upstream(Err(e)) => (
                format!("upstream connection lost: {e}"),
                Some(Fatal::new(
                    SqlState::CONNECTION_FAILURE,
                    "terminating connection: lost the upstream connection",
                )),
            ),
        }
    }
}

/// Finishes the message being forwarded, then sends a FATAL error — if it can within the time.
async fn say_fatal<W: AsyncWrite + Unpin>(client: &mut W, pending: &mut Direction, fatal: &Fatal) {
    if !pending.at_boundary() {
        // Half a huge row has gone out; anything more would be garbage to the client.
        return;
    }
    let mut msg = BytesMut::new();
    backend::error_response(&mut msg, Severity::Fatal, fatal.sqlstate, &fatal.message);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, relay::say(client, pending, &msg)).await;
}
