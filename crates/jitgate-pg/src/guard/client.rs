//! The client side of a guarded session: Query and Parse messages go through the session's
//! statement policy before they reach the upstream.

use super::portals::Portals;
use super::{Protocol, StatementPolicy, Verdict};
use crate::codec::frontend::{self, Parse, Query, SYNC_MESSAGE};
use crate::codec::{self, backend, ProtocolError};
use crate::relay::Flow;
use crate::statements::{StatementLog, StatementRefusal};
use bytes::{BufMut, BytesMut};
use jitgate_control::audit::kind;
use jitgate_sqlstate::SqlState;

/// The client side of a guarded session: rewrites Query and Parse messages, and after a refused
/// Parse drops the rest of the extended-protocol batch up to its Sync, as PostgreSQL itself
/// skips a batch after an error. In a session whose results are filtered, what it forwards is
/// shown to [`Portals`], which may add a Describe before an Execute.
pub(crate) struct GuardedClient {
    policy: Box<dyn StatementPolicy>,
    skipping_to_sync: bool,
}

/// What a client message is to the guard.
enum ClientMessage<'a> {
    Query(Query<'a>),
    Parse(Parse<'a>),
    FunctionCall,
    Terminate,
    /// Bind, Execute, Describe, Close, Sync, Flush, COPY messages: forwarded as they are.
    Other,
}

impl<'a> ClientMessage<'a> {
    fn decode(tag: u8, msg: &'a [u8]) -> Result<ClientMessage<'a>, ProtocolError> {
        let body = codec::body(msg);
        Ok(match tag {
            frontend::QUERY => ClientMessage::Query(Query::decode(body)?),
            frontend::PARSE => ClientMessage::Parse(Parse::decode(body)?),
            frontend::FUNCTION_CALL => ClientMessage::FunctionCall,
            frontend::TERMINATE => ClientMessage::Terminate,
            _ => ClientMessage::Other,
        })
    }
}

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
        portals: Option<&mut Portals>,
    ) -> Flow {
        let mut up = Upstream { out, portals };
        if self.skipping_to_sync {
            return self.skip(tag, msg, &mut up, log);
        }
        let message = match ClientMessage::decode(tag, msg) {
            Ok(message) => message,
            // Refused like a statement: the client learns why, in order with other answers.
            Err(e) => {
                let refusal = refusal(SqlState::PROTOCOL_VIOLATION, format!("jitgate: {e}"));
                return self.refuse(tag, b"<malformed message>", refusal, &mut up, log);
            }
        };
        match message {
            ClientMessage::Query(q) => match self.verdict(q.sql, Protocol::SimpleQuery) {
                Verdict::Pass => up.forward(tag, msg, log),
                Verdict::Rewrite(new) => {
                    // Audited with the text the client sent.
                    up.note(tag, msg, log);
                    backend::query(up.out, &new);
                }
                Verdict::Refuse(refusal) => return self.refuse(tag, q.sql, refusal, &mut up, log),
            },
            ClientMessage::Parse(p) => match self.verdict(p.sql, Protocol::Extended) {
                Verdict::Pass => up.forward(tag, msg, log),
                Verdict::Rewrite(new) => {
                    up.note(tag, msg, log);
                    backend::message(up.out, frontend::PARSE, |b| {
                        b.extend_from_slice(p.name);
                        b.put_u8(0);
                        backend::put_cstr(b, &new);
                        b.extend_from_slice(p.tail);
                    });
                }
                Verdict::Refuse(refusal) => return self.refuse(tag, p.sql, refusal, &mut up, log),
            },
            // FunctionCall names a function by OID, past any parser: no way to check it.
            ClientMessage::FunctionCall => {
                let refusal = refusal(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    "jitgate: the FunctionCall protocol message is not allowed in this session"
                        .into(),
                );
                return self.refuse(tag, b"<function call>", refusal, &mut up, log);
            }
            ClientMessage::Terminate => {
                up.out.extend_from_slice(msg);
                return Flow::ForwardAndStop;
            }
            ClientMessage::Other => up.forward(tag, msg, log),
        }
        Flow::Forward
    }

    /// After a refused Parse: everything up to the batch's Sync is dropped.
    fn skip(
        &mut self,
        tag: u8,
        msg: &[u8],
        up: &mut Upstream<'_, '_>,
        log: &mut StatementLog,
    ) -> Flow {
        match tag {
            frontend::SYNC => {
                self.skipping_to_sync = false;
                up.forward(tag, &SYNC_MESSAGE, log);
            }
            frontend::TERMINATE => {
                up.out.extend_from_slice(msg);
                return Flow::ForwardAndStop;
            }
            _ => {}
        }
        Flow::Forward
    }

    /// Notes a refusal, owed to the client at the ReadyForQuery that answers it. A simple
    /// Query (or FunctionCall) is replaced by a Sync; an extended-protocol message drops the
    /// rest of its batch, up to the client's own Sync.
    fn refuse(
        &mut self,
        tag: u8,
        text: &[u8],
        refusal: StatementRefusal,
        up: &mut Upstream<'_, '_>,
        log: &mut StatementLog,
    ) -> Flow {
        log.refused(text, refusal);
        if matches!(tag, frontend::QUERY | frontend::FUNCTION_CALL) {
            up.send(&SYNC_MESSAGE);
        } else {
            self.skipping_to_sync = true;
        }
        Flow::Forward
    }

    fn verdict(&mut self, sql: &[u8], protocol: Protocol) -> Verdict {
        match std::str::from_utf8(sql) {
            Ok(text) => self.policy.check(text, protocol),
            Err(_) => Verdict::Refuse(refusal(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                "jitgate: statement text is not valid UTF-8".into(),
            )),
        }
    }
}

fn refusal(sqlstate: SqlState, message: String) -> StatementRefusal {
    StatementRefusal {
        sqlstate,
        message,
        kind: kind::STATEMENT_REFUSED,
    }
}

/// Where forwarded messages go: the bytes for the upstream, and the result side's portals.
struct Upstream<'o, 'p> {
    out: &'o mut BytesMut,
    portals: Option<&'p mut Portals>,
}

impl Upstream<'_, '_> {
    /// Shows a message about to go upstream to the portals, which may add a message before it.
    fn note(&mut self, tag: u8, msg: &[u8], log: &mut StatementLog) {
        log.client_message(tag, msg);
        if let Some(p) = self.portals.as_deref_mut() {
            p.forwarding(tag, msg, self.out);
        }
    }

    /// Notes a message and forwards it as it is.
    fn forward(&mut self, tag: u8, msg: &[u8], log: &mut StatementLog) {
        self.note(tag, msg, log);
        self.out.extend_from_slice(msg);
    }

    /// Forwards jitgate's own Sync (in place of a refused statement), not audited.
    fn send(&mut self, msg: &[u8]) {
        if let Some(p) = self.portals.as_deref_mut() {
            p.forwarding(msg[0], msg, self.out);
        }
        self.out.extend_from_slice(msg);
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
                Verdict::Refuse(StatementRefusal {
                    sqlstate: SqlState::INSUFFICIENT_PRIVILEGE,
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
        expected.extend(SYNC_MESSAGE);
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
        let mut expected = SYNC_MESSAGE.to_vec();
        expected.extend(msg(b'P', b"s2\0SHOUT\0\0\0"));
        assert_eq!(out, expected);
    }
}
