//! Statements of guarded sessions — masked subjects and read-only grants — are checked before
//! they reach the upstream: passed, rewritten (mask before evaluate), or refused (fail closed).
//! Subjects with clear access on read-write grants are never guarded and pay nothing for it.

use crate::codec::{backend, cstr_prefix, HEADER_LEN};
use crate::front::ResourceFront;
use crate::portals::Portals;
use crate::relay::Flow;
use crate::results::ResultFilter;
use crate::statements::{Refusal, StatementLog};
use bytes::{BufMut, BytesMut};
use jitgate_control::audit::kind;
use jitgate_control::Admission;
pub use jitgate_pg_sql::Protocol;
use std::future::Future;
use std::pin::Pin;

/// What a statement may become on its way upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Rewrite(String),
    Refuse(Refusal),
}

/// Decides per statement text; implemented by the masking rewriter and the read-only check.
/// `protocol` says whether the text came in a simple Query or a Parse message.
pub trait StatementPolicy: Send {
    fn check(&mut self, sql: &str, protocol: Protocol) -> Verdict;
}

/// The checks one session gets.
pub struct SessionGuard {
    pub statements: Box<dyn StatementPolicy>,
    pub results: Option<Box<dyn ResultFilter>>,
}

/// A boxed future, so that providers can do I/O (e.g. read the upstream catalog).
pub type GuardFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<SessionGuard>, Refusal>> + Send + 'a>>;

/// What a provider knows of a session at login.
pub struct SessionContext<'a> {
    pub admission: &'a Admission,
    pub resource: &'a ResourceFront,
    /// The client's `search_path` start-up parameter, if it sent one.
    pub search_path: Option<&'a str>,
}

/// Decides at login which checks a session needs: `None` for clear access on a read-write
/// grant, which then runs on the untouched fast path.
pub trait GuardProvider: Send + Sync {
    fn guard_for<'a>(&'a self, session: SessionContext<'a>) -> GuardFuture<'a>;
}

/// The client side of a guarded session: rewrites Query and Parse messages, and after a refused
/// Parse drops the rest of the extended-protocol batch up to its Sync, as PostgreSQL itself
/// skips a batch after an error. In a session whose results are filtered, what it forwards is
/// shown to [`Portals`], which may add a Describe before an Execute.
pub struct GuardedClient {
    policy: Box<dyn StatementPolicy>,
    skipping_to_sync: bool,
}

const SYNC: [u8; 5] = [b'S', 0, 0, 0, 4];

impl GuardedClient {
    pub fn new(policy: Box<dyn StatementPolicy>) -> GuardedClient {
        GuardedClient {
            policy,
            skipping_to_sync: false,
        }
    }

    /// Handles one client message, appending what goes upstream to `out`. `portals` follows
    /// the extended protocol for a result filter, when the session has one.
    pub fn message(
        &mut self,
        tag: u8,
        msg: &[u8],
        out: &mut BytesMut,
        log: &mut StatementLog,
        mut portals: Option<&mut Portals>,
    ) -> Flow {
        let mut forwarding = |tag: u8, msg: &[u8], out: &mut BytesMut| {
            if let Some(p) = portals.as_deref_mut() {
                p.forwarding(tag, msg, out);
            }
        };
        if self.skipping_to_sync {
            match tag {
                b'S' => {
                    self.skipping_to_sync = false;
                    forwarding(b'S', &SYNC, out);
                    out.extend_from_slice(&SYNC);
                    log.client_message(tag, msg);
                }
                b'X' => {
                    out.extend_from_slice(msg);
                    return Flow::ForwardAndStop;
                }
                _ => {}
            }
            return Flow::Forward;
        }
        match tag {
            b'Q' => {
                let sql = cstr_prefix(&msg[HEADER_LEN..]);
                match self.verdict(sql, Protocol::SimpleQuery) {
                    Verdict::Pass => {
                        log.client_message(tag, msg);
                        forwarding(tag, msg, out);
                        out.extend_from_slice(msg);
                    }
                    Verdict::Rewrite(new) => {
                        // Audited with the text the client sent.
                        log.client_message(tag, msg);
                        forwarding(tag, msg, out);
                        backend::query(out, &new);
                    }
                    Verdict::Refuse(refusal) => {
                        log.refused(sql, refusal);
                        forwarding(b'S', &SYNC, out);
                        out.extend_from_slice(&SYNC);
                    }
                }
            }
            b'P' => {
                let body = &msg[HEADER_LEN..];
                let name = cstr_prefix(body);
                let rest = body.get(name.len() + 1..).unwrap_or(&[]);
                let sql = cstr_prefix(rest);
                let tail = rest.get(sql.len() + 1..).unwrap_or(&[]);
                match self.verdict(sql, Protocol::Extended) {
                    Verdict::Pass => {
                        log.client_message(tag, msg);
                        forwarding(tag, msg, out);
                        out.extend_from_slice(msg);
                    }
                    Verdict::Rewrite(new) => {
                        log.client_message(tag, msg);
                        forwarding(tag, msg, out);
                        backend::message(out, b'P', |b| {
                            b.extend_from_slice(name);
                            b.put_u8(0);
                            backend::put_cstr(b, &new);
                            b.extend_from_slice(tail);
                        });
                    }
                    Verdict::Refuse(refusal) => {
                        log.refused(sql, refusal);
                        self.skipping_to_sync = true;
                    }
                }
            }
            b'F' => {
                // FunctionCall names a function by OID, past any parser: no way to check it.
                log.refused(
                    b"<function call>",
                    Refusal {
                        sqlstate: *b"42501",
                        message: "jitgate: the FunctionCall protocol message is not allowed in this session".into(),
                        kind: kind::STATEMENT_REFUSED,
                    },
                );
                forwarding(b'S', &SYNC, out);
                out.extend_from_slice(&SYNC);
            }
            b'X' => {
                out.extend_from_slice(msg);
                return Flow::ForwardAndStop;
            }
            _ => {
                log.client_message(tag, msg);
                forwarding(tag, msg, out);
                out.extend_from_slice(msg);
            }
        }
        Flow::Forward
    }

    fn verdict(&mut self, sql: &[u8], protocol: Protocol) -> Verdict {
        match std::str::from_utf8(sql) {
            Ok(text) => self.policy.check(text, protocol),
            Err(_) => Verdict::Refuse(Refusal {
                sqlstate: *b"22021",
                message: "jitgate: statement text is not valid UTF-8".into(),
                kind: kind::STATEMENT_REFUSED,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Refuses statements mentioning `secret`, upper-cases those mentioning `shout`.
    struct Toy;
    impl StatementPolicy for Toy {
        fn check(&mut self, sql: &str, _: Protocol) -> Verdict {
            if sql.contains("secret") {
                Verdict::Refuse(Refusal {
                    sqlstate: *b"42501",
                    message: "no".into(),
                    kind: kind::MASKING_REFUSED,
                })
            } else if sql.contains("shout") {
                Verdict::Rewrite(sql.to_uppercase())
            } else {
                Verdict::Pass
            }
        }
    }

    fn run(messages: &[Vec<u8>]) -> (Vec<u8>, StatementLog) {
        let mut guard = GuardedClient::new(Box::new(Toy));
        let mut log = StatementLog::default();
        let mut out = BytesMut::new();
        for m in messages {
            guard.message(m[0], m, &mut out, &mut log, None);
        }
        (out.to_vec(), log)
    }

    #[test]
    fn queries_pass_are_rewritten_or_replaced_by_a_sync() {
        let (out, log) = run(&[
            msg(b'Q', b"select 1\0"),
            msg(b'Q', b"shout\0"),
            msg(b'Q', b"select secret\0"),
        ]);
        let mut expected = msg(b'Q', b"select 1\0");
        expected.extend(msg(b'Q', b"SHOUT\0"));
        expected.extend(SYNC);
        assert_eq!(out, expected);
        assert!(log.busy());
    }

    #[test]
    fn a_refused_parse_drops_its_batch_up_to_sync() {
        let (out, _) = run(&[
            msg(b'P', b"\0select secret\0\0\0"),
            msg(b'B', b"\0\0\0\0\0\0\0\0"),
            msg(b'E', b"\0\0\0\0\0"),
            msg(b'S', b""),
            msg(b'P', b"s2\0shout\0\0\0"),
        ]);
        let mut expected = SYNC.to_vec();
        expected.extend(msg(b'P', b"s2\0SHOUT\0\0\0"));
        assert_eq!(out, expected);
    }
}
