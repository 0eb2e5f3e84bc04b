//! Follows statements through the protocol so each can be audited with its text, duration, rows
//! and SQLSTATE — for the simple protocol (one Query, possibly several statements, ends at
//! ReadyForQuery) and the extended one (Parse/Bind/Execute…Sync, pipelined).
//!
//! Pure bookkeeping: the relay feeds it the messages it sees in each direction.

use crate::codec;
use crate::codec::backend::{self, CommandComplete, ErrorFields};
use crate::codec::frontend::{self, Bind, Execute, Named, Parse, Query, Target};
use jitgate_sqlstate::SqlState;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A finished statement, ready to be audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub text: Arc<str>,
    pub duration: Duration,
    pub rows: Option<u64>,
    pub sqlstate: Option<SqlState>,
}

#[derive(Debug)]
enum Pending {
    /// A simple Query (or FunctionCall): done at ReadyForQuery.
    Simple {
        text: Arc<str>,
        started: Instant,
        rows: Option<u64>,
        sqlstate: Option<SqlState>,
    },
    /// An Execute: done at CommandComplete, EmptyQueryResponse, PortalSuspended or an error.
    Execute { text: Arc<str>, started: Instant },
    /// A Sync: the server answers ReadyForQuery.
    Sync,
    /// A statement jitgate refused instead of forwarding. It sent a Sync in its place; the
    /// client gets `refusal` just before the ReadyForQuery that answers it.
    Refused {
        text: Arc<str>,
        started: Instant,
        refusal: StatementRefusal,
    },
}

/// Why jitgate did not forward a statement, for the client and the audit trail: the analysis's
/// refusal (see [`jitgate_pg_sql::Refusal`]), or the guard's own, with the audit event kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRefusal {
    pub sqlstate: SqlState,
    pub message: String,
    /// Audit event kind, e.g. `masking.refused` or `read_only.refused`.
    pub kind: &'static str,
}

/// Statements sent but not yet answered, and the texts of prepared statements and portals.
#[derive(Debug, Default)]
pub struct StatementLog {
    pending: VecDeque<Pending>,
    prepared: HashMap<Box<[u8]>, Arc<str>>,
    portals: HashMap<Box<[u8]>, Arc<str>>,
    /// After an error in an extended-protocol batch the server skips everything up to Sync.
    skipping: bool,
}

fn text_of(bytes: &[u8]) -> Arc<str> {
    Arc::from(String::from_utf8_lossy(bytes))
}

impl StatementLog {
    /// True while the upstream owes answers: a statement may be running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The oldest statement the upstream has not answered yet, with when it was sent.
    pub fn oldest(&self) -> Option<(&Arc<str>, Instant)> {
        self.pending.iter().find_map(|p| match p {
            Pending::Simple { text, started, .. }
            | Pending::Execute { text, started }
            | Pending::Refused { text, started, .. } => Some((text, *started)),
            Pending::Sync => None,
        })
    }

    /// Notes a statement that jitgate answers with `refusal` instead of forwarding it; a Sync
    /// goes upstream in its place, so the refusal is delivered in order with other answers.
    pub fn refused(&mut self, text: &[u8], refusal: StatementRefusal) {
        self.pending.push_back(Pending::Refused {
            text: text_of(text),
            started: Instant::now(),
            refusal,
        });
    }

    /// Notes a message from the client. `msg` is the whole message, header included; one that
    /// does not decode is not noted (the server refuses it with its own error).
    pub fn client_message(&mut self, tag: u8, msg: &[u8]) {
        let body = codec::body(msg);
        match tag {
            frontend::QUERY => {
                if let Ok(q) = Query::decode(body) {
                    self.simple(text_of(q.sql));
                }
            }
            frontend::FUNCTION_CALL => self.simple(Arc::from("<function call>")),
            frontend::PARSE => {
                if let Ok(p) = Parse::decode(body) {
                    self.prepare(p.name, p.sql);
                }
            }
            frontend::BIND => {
                if let Ok(b) = Bind::decode(body) {
                    self.bind(b.portal, b.statement);
                }
            }
            frontend::EXECUTE => {
                if let Ok(e) = Execute::decode(body) {
                    self.execute(e.portal);
                }
            }
            frontend::SYNC => self.pending.push_back(Pending::Sync),
            frontend::CLOSE => match Named::decode(body, "Close") {
                Ok(Named {
                    target: Target::Statement,
                    name,
                }) => {
                    self.prepared.remove(name);
                }
                Ok(Named { name, .. }) => {
                    self.portals.remove(name);
                }
                Err(_) => {}
            },
            _ => {}
        }
    }

    fn simple(&mut self, text: Arc<str>) {
        self.pending.push_back(Pending::Simple {
            text,
            started: Instant::now(),
            rows: None,
            sqlstate: None,
        });
    }

    fn prepare(&mut self, name: &[u8], query: &[u8]) {
        // Drivers re-send the same unnamed statement all the time: keep its text.
        match self.prepared.get_mut(name) {
            Some(text) if text.as_bytes() == query => {}
            Some(text) => *text = text_of(query),
            None => {
                self.prepared.insert(name.into(), text_of(query));
            }
        }
    }

    fn bind(&mut self, portal: &[u8], statement: &[u8]) {
        let text = self
            .prepared
            .get(statement)
            .cloned()
            .unwrap_or_else(|| Arc::from("<unknown prepared statement>"));
        match self.portals.get_mut(portal) {
            Some(slot) => *slot = text,
            None => {
                self.portals.insert(portal.into(), text);
            }
        }
    }

    fn execute(&mut self, portal: &[u8]) {
        let text = self
            .portals
            .get(portal)
            .cloned()
            .unwrap_or_else(|| Arc::from("<unknown portal>"));
        self.pending.push_back(Pending::Execute {
            text,
            started: Instant::now(),
        });
    }

    /// Notes a message from the server; calls `done` for each statement it finishes. Returns the
    /// refusal the client must get before this message (only ever before a ReadyForQuery), with
    /// the refused statement's text.
    pub fn server_message(
        &mut self,
        tag: u8,
        msg: &[u8],
        mut done: impl FnMut(Finished),
    ) -> Option<(StatementRefusal, Arc<str>)> {
        let body = codec::body(msg);
        match tag {
            backend::COMMAND_COMPLETE => {
                let rows = CommandComplete::decode(body).ok().and_then(|c| c.rows());
                self.result_ended(rows, &mut done);
            }
            backend::EMPTY_QUERY_RESPONSE | backend::PORTAL_SUSPENDED => {
                self.result_ended(None, &mut done)
            }
            backend::ERROR_RESPONSE => self.error(ErrorFields(body).sqlstate(), &mut done),
            backend::READY_FOR_QUERY => return self.ready(&mut done),
            _ => {}
        }
        None
    }

    /// CommandComplete, EmptyQueryResponse or PortalSuspended: a simple Query adds up its
    /// rows; an Execute is done.
    fn result_ended(&mut self, rows: Option<u64>, done: &mut impl FnMut(Finished)) {
        match self.pending.front_mut() {
            Some(Pending::Simple { rows: total, .. }) => {
                if let Some(n) = rows {
                    *total = Some(total.unwrap_or(0) + n);
                }
            }
            Some(Pending::Execute { .. }) => {
                if let Some(Pending::Execute { text, started }) = self.pending.pop_front() {
                    done(Finished {
                        text,
                        duration: started.elapsed(),
                        rows,
                        sqlstate: None,
                    });
                }
            }
            _ => {}
        }
    }

    /// ErrorResponse: a simple Query keeps its first SQLSTATE; an Execute is done with it, and
    /// the server skips the rest of the extended-protocol batch.
    fn error(&mut self, sqlstate: Option<SqlState>, done: &mut impl FnMut(Finished)) {
        match self.pending.front_mut() {
            Some(Pending::Simple { sqlstate: s, .. }) => {
                s.get_or_insert(sqlstate.unwrap_or(SqlState::INTERNAL_ERROR));
            }
            Some(Pending::Execute { .. }) => {
                if let Some(Pending::Execute { text, started }) = self.pending.pop_front() {
                    done(Finished {
                        text,
                        duration: started.elapsed(),
                        rows: None,
                        sqlstate,
                    });
                }
                self.skipping = true;
            }
            // An error at Parse or Bind: the batch's statements are skipped.
            _ => self.skipping = true,
        }
        if self.skipping {
            while matches!(self.pending.front(), Some(Pending::Execute { .. })) {
                self.pending.pop_front();
            }
        }
    }

    /// ReadyForQuery: ends a simple Query or a Sync, and delivers a refusal owed before it.
    fn ready(&mut self, done: &mut impl FnMut(Finished)) -> Option<(StatementRefusal, Arc<str>)> {
        self.skipping = false;
        while let Some(p) = self.pending.pop_front() {
            match p {
                Pending::Refused {
                    text,
                    started,
                    refusal,
                } => {
                    done(Finished {
                        text: text.clone(),
                        duration: started.elapsed(),
                        rows: None,
                        sqlstate: Some(refusal.sqlstate),
                    });
                    return Some((refusal, text));
                }
                Pending::Simple {
                    text,
                    started,
                    rows,
                    sqlstate,
                } => {
                    done(Finished {
                        text,
                        duration: started.elapsed(),
                        rows,
                        sqlstate,
                    });
                    break;
                }
                Pending::Sync => break,
                // An Execute still open at ReadyForQuery was never answered.
                Pending::Execute { .. } => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_control::audit::kind;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn feed_server(log: &mut StatementLog, msgs: &[(u8, &[u8])]) -> Vec<Finished> {
        let mut out = Vec::new();
        for (tag, body) in msgs {
            let _ = log.server_message(*tag, &msg(*tag, body), |f| out.push(f));
        }
        out
    }

    fn error_body(code: &str) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        backend::error_response(
            &mut b,
            backend::Severity::Error,
            code.parse().expect("sqlstate"),
            "boom",
        );
        b[5..].to_vec()
    }

    #[test]
    fn simple_query_with_several_statements_is_one_event() {
        let mut log = StatementLog::default();
        log.client_message(b'Q', &msg(b'Q', b"select 1; select 2\0"));
        assert!(log.busy());
        let done = feed_server(
            &mut log,
            &[(b'C', b"SELECT 1\0"), (b'C', b"SELECT 3\0"), (b'Z', b"I")],
        );
        assert_eq!(done.len(), 1);
        assert_eq!(&*done[0].text, "select 1; select 2");
        assert_eq!(done[0].rows, Some(4));
        assert_eq!(done[0].sqlstate, None);
        assert!(!log.busy());
    }

    #[test]
    fn simple_query_error_keeps_sqlstate() {
        let mut log = StatementLog::default();
        log.client_message(b'Q', &msg(b'Q', b"select 1/0\0"));
        let err = error_body("22012");
        let done = feed_server(&mut log, &[(b'E', &err), (b'Z', b"I")]);
        assert_eq!(done[0].sqlstate, Some(SqlState::from_static("22012")));
    }

    #[test]
    fn pipelined_extended_statements_are_matched_in_order() {
        let mut log = StatementLog::default();
        log.client_message(b'P', &msg(b'P', b"s1\0select $1\0\0\0"));
        for portal in [&b"\0"[..], b"\0"] {
            let mut bind = portal.to_vec();
            bind.extend_from_slice(b"s1\0\0\0\0\0\0\0");
            log.client_message(b'B', &msg(b'B', &bind));
            log.client_message(b'E', &msg(b'E', b"\0\0\0\0\0"));
            log.client_message(b'S', &msg(b'S', b""));
        }
        let done = feed_server(
            &mut log,
            &[
                (b'1', b""),
                (b'2', b""),
                (b'C', b"SELECT 1\0"),
                (b'Z', b"I"),
                (b'2', b""),
                (b'C', b"SELECT 1\0"),
                (b'Z', b"I"),
            ],
        );
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|f| &*f.text == "select $1"));
        assert!(!log.busy());
    }

    #[test]
    fn a_refusal_is_delivered_at_the_ready_for_query_that_answers_it() {
        let mut log = StatementLog::default();
        log.client_message(b'Q', &msg(b'Q', b"select 1\0"));
        let refusal = StatementRefusal {
            sqlstate: SqlState::INSUFFICIENT_PRIVILEGE,
            message: "no".into(),
            kind: kind::MASKING_REFUSED,
        };
        log.refused(b"select ssn from customers", refusal.clone());
        let mut done = Vec::new();
        let first = log.server_message(b'C', &msg(b'C', b"SELECT 1\0"), |f| done.push(f));
        assert_eq!(first, None);
        assert_eq!(
            log.server_message(b'Z', &msg(b'Z', b"I"), |f| done.push(f)),
            None
        );
        assert_eq!(
            log.server_message(b'Z', &msg(b'Z', b"I"), |f| done.push(f)),
            Some((refusal, Arc::from("select ssn from customers")))
        );
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].sqlstate, Some(SqlState::from_static("42501")));
        assert!(!log.busy());
    }

    #[test]
    fn an_error_skips_the_rest_of_the_batch() {
        let mut log = StatementLog::default();
        log.client_message(b'P', &msg(b'P', b"\0select x\0\0\0"));
        log.client_message(b'B', &msg(b'B', b"\0\0\0\0\0\0\0\0"));
        log.client_message(b'E', &msg(b'E', b"\0\0\0\0\0"));
        log.client_message(b'E', &msg(b'E', b"\0\0\0\0\0"));
        log.client_message(b'S', &msg(b'S', b""));
        let err = error_body("42703");
        let done = feed_server(&mut log, &[(b'E', &err), (b'Z', b"I")]);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].sqlstate, Some(SqlState::from_static("42703")));
        assert!(!log.busy());
    }
}
