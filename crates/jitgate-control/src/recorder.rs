//! Writes audit events and session records on a thread of its own, in batches, so that the
//! protocol fronts never wait for the disk: a statement costs a channel send on the hot path.

use crate::audit::AuditEvent;
use crate::model::{SessionEnd, SessionRecord};
use crate::store::Store;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Most records written in one transaction.
const BATCH: usize = 1024;

enum Record {
    Audit(AuditEvent),
    SessionStarted(SessionRecord),
    SessionEnded(String, SessionEnd),
    Flush(mpsc::SyncSender<()>),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the writer thread. It ends when every Recorder is dropped, after writing all it got.
    pub fn start(store: Arc<dyn Store>) -> (Recorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("jitgate-recorder".into())
            .spawn(move || write_loop(store, rx))
            .expect("spawning the recorder thread");
        (Recorder { tx }, handle)
    }

    pub fn audit(&self, event: AuditEvent) {
        self.send(Record::Audit(event));
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

fn write_loop(store: Arc<dyn Store>, rx: mpsc::Receiver<Record>) {
    let mut events = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(record) = next.take() {
            taken += 1;
            match record {
                Record::Audit(e) => events.push(e),
                // Session rows are written in order with the events around them.
                Record::SessionStarted(s) => {
                    write_events(&*store, &mut events);
                    if let Err(e) = store.insert_session(&s) {
                        tracing::error!(session = %s.id, "recording session start: {e}");
                    }
                }
                Record::SessionEnded(id, end) => {
                    write_events(&*store, &mut events);
                    if let Err(e) = store.end_session(&id, &end) {
                        tracing::error!(session = %id, "recording session end: {e}");
                    }
                }
                Record::Flush(done) => waiting.push(done),
            }
            if taken < BATCH {
                next = rx.try_recv().ok();
            }
        }
        write_events(&*store, &mut events);
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn write_events(store: &dyn Store, events: &mut Vec<AuditEvent>) {
    if events.is_empty() {
        return;
    }
    if let Err(e) = store.append_audit(events) {
        tracing::error!(count = events.len(), "writing audit events: {e}");
    }
    events.clear();
}
