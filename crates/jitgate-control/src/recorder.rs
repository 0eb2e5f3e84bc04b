//! Writes audit events and session records on a thread of its own, in batches, so that the
//! protocol fronts never wait for the disk. A statement costs the hot path one channel send of
//! shared pointers; building, hashing and storing its event happens here.

use crate::alerts::EventAlerts;
use crate::audit::{kind, AuditEvent};
use crate::metrics::Metrics;
use crate::model::{Millis, SessionEnd, SessionRecord};
use crate::store::Store;
use crate::webhook::WebhookRouter;
use jitgate_sqlstate::SqlState;
use serde::Serialize;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Most records written in one transaction.
const BATCH: usize = 4096;
/// How long the writer gathers records after the first one before writing them together: one
/// transaction (and one thread wake-up) per window instead of per statement.
const WINDOW: Duration = Duration::from_millis(20);

/// Who a statement belongs to, shared by every statement of a session.
#[derive(Debug)]
pub struct SessionIds {
    pub subject: String,
    pub resource: String,
    pub grant_id: String,
    pub session_id: String,
}

/// A statement as the relay reports it.
#[derive(Debug)]
pub struct StatementRecord {
    pub session: Arc<SessionIds>,
    pub at: Millis,
    pub text: Arc<str>,
    pub duration_us: u64,
    pub rows: Option<u64>,
    pub sqlstate: Option<SqlState>,
}

#[derive(Serialize)]
struct StatementDetail<'a> {
    text: &'a str,
    duration_us: u64,
    rows: Option<u64>,
    sqlstate: Option<&'a str>,
}

impl StatementRecord {
    fn into_event(self) -> AuditEvent {
        let detail = StatementDetail {
            text: &self.text,
            duration_us: self.duration_us,
            rows: self.rows,
            sqlstate: self.sqlstate.as_ref().map(SqlState::as_str),
        };
        let ids = &self.session;
        let mut event = AuditEvent::with_detail(kind::STATEMENT, &detail)
            .subject(&ids.subject)
            .resource(&ids.resource)
            .grant(&ids.grant_id)
            .session(&ids.session_id);
        event.at = self.at;
        event
    }
}

enum Record {
    Audit(AuditEvent),
    Statement(StatementRecord),
    SessionStarted(SessionRecord),
    SessionEnded(String, SessionEnd),
    Flush(mpsc::SyncSender<()>),
}

/// What sees every event once it is built (alerts) and once it is stored (webhooks).
pub(crate) struct Observers {
    pub alerts: EventAlerts,
    pub webhooks: Option<WebhookRouter>,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the writer thread. It ends when every Recorder is dropped, after writing all it got.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        observers: Observers,
        metrics: Arc<Metrics>,
    ) -> (Recorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("jitgate-recorder".into())
            .spawn(move || write_loop(Writer { store, metrics }, observers, rx))
            .expect("spawning the recorder thread");
        (Recorder { tx }, handle)
    }

    pub fn audit(&self, event: AuditEvent) {
        self.send(Record::Audit(event));
    }

    pub fn statement(&self, statement: StatementRecord) {
        self.send(Record::Statement(statement));
    }

    pub fn session_started(&self, session: SessionRecord) {
        self.send(Record::SessionStarted(session));
    }

    pub fn session_ended(&self, id: String, end: SessionEnd) {
        self.send(Record::SessionEnded(id, end));
    }

    /// Waits until everything sent before has been written.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Record::Flush(tx));
        let _ = rx.recv();
    }

    fn send(&self, record: Record) {
        if self.tx.send(record).is_err() {
            tracing::error!("audit recorder has stopped; a record was not written");
        }
    }
}

/// Where the recorder writes, and what it counts.
struct Writer {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

fn write_loop(writer: Writer, mut observers: Observers, rx: mpsc::Receiver<Record>) {
    let store = &writer.store;
    let mut events = Vec::with_capacity(BATCH);
    let mut alerts = Vec::new();
    let mut waiting = Vec::new();
    while let Ok(first) = rx.recv() {
        // While this thread sleeps, senders enqueue without waking it.
        if !matches!(first, Record::Flush(_)) {
            std::thread::sleep(WINDOW);
        }
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(record) = next.take() {
            taken += 1;
            match record {
                Record::Audit(e) => {
                    observers.alerts.event(&e, &mut alerts);
                    events.push(e);
                    events.append(&mut alerts);
                }
                Record::Statement(s) => {
                    observers.alerts.statement(&s, &mut alerts);
                    events.push(s.into_event());
                    events.append(&mut alerts);
                }
                // Session rows are written in order with the events around them.
                Record::SessionStarted(s) => {
                    write_events(&writer, &mut observers, &mut events);
                    if let Err(e) = store.insert_session(&s) {
                        tracing::error!(session = %s.id, "recording session start: {e}");
                    }
                }
                Record::SessionEnded(id, end) => {
                    write_events(&writer, &mut observers, &mut events);
                    if let Err(e) = store.end_session(&id, &end) {
                        tracing::error!(session = %id, "recording session end: {e}");
                    }
                }
                Record::Flush(done) => waiting.push(done),
            }
            if events.len() >= BATCH {
                write_events(&writer, &mut observers, &mut events);
            }
            if taken < BATCH * 4 {
                next = rx.try_recv().ok();
            }
        }
        write_events(&writer, &mut observers, &mut events);
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn write_events(writer: &Writer, observers: &mut Observers, events: &mut Vec<AuditEvent>) {
    if events.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let written = writer.store.append_audit(events);
    writer
        .metrics
        .audit_written(events.len(), started.elapsed(), written.is_ok());
    match written {
        // Webhooks hear of events only once they are in the chain, with their numbers.
        Ok(first_seq) => {
            if let Some(webhooks) = &mut observers.webhooks {
                webhooks.route(first_seq, events);
            }
        }
        Err(e) => tracing::error!(count = events.len(), "writing audit events: {e}"),
    }
    events.clear();
}
