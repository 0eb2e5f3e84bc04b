//! Which description each result row follows, in a filtered session.
//!
//! The result filter masks and scans a DataRow by the RowDescription it belongs to: which table
//! column each value comes from, its type and its format. In the simple protocol every statement
//! sends its RowDescription before its rows. In the extended protocol rows answer an Execute,
//! and nothing in them says which statement or portal they come from: a client that described
//! one statement and executes another — or a cursor closed and declared again under the same
//! name — would have its rows read with the wrong columns. So every Execute is immediately
//! preceded, upstream, by a Describe of the same portal: the client's own when it sent one right
//! before, else one jitgate adds and whose answer it keeps from the client (as poolers do).
//! Nothing can run between that Describe and the Execute, so the description is the portal's
//! own at that moment, result formats included, whatever happened to statement and portal names.
//!
//! [`Portals`] follows both directions in order: what the client sent (and jitgate forwarded)
//! says which answer each server message is; the server's error skips the rest of the batch up
//! to its Sync as PostgreSQL does. A row that arrives without its description, or an answer out
//! of step with what was sent, is [`Answer::OutOfStep`]: the session ends rather than let it
//! through. Pure bookkeeping: no I/O.

use crate::codec;
use crate::codec::frontend::{self, Execute, Named, Target};
use bytes::{BufMut, BytesMut};
use std::collections::VecDeque;

/// What jitgate forwarded upstream that the server will answer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Parse,
    Bind,
    Close,
    /// Describe of a prepared statement: ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
    /// Describe of a portal; `injected` when jitgate sent it and keeps the answer.
    DescribePortal {
        injected: bool,
    },
    /// Rows, then CommandComplete, EmptyQueryResponse, PortalSuspended or an error.
    Execute,
    /// Answered by ReadyForQuery.
    Sync,
    /// A simple Query: any number of results, then ReadyForQuery.
    Query,
}

/// What the result side does with one server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A RowDescription the rows that follow obey: the filter reads it, the client gets it.
    Describes,
    /// The answer to a Describe jitgate added: the filter reads it (RowDescription) or notes
    /// that no rows follow (NoData); the client never sees it.
    Injected,
    /// A DataRow whose description the filter holds.
    Row,
    /// Anything else: filtered as its kind requires.
    Other,
    /// A row without a known description, or an answer to nothing jitgate forwarded: the
    /// session must end.
    OutOfStep(&'static str),
}

/// The extended-protocol state of one filtered session (see the module documentation).
#[derive(Debug, Default)]
pub struct Portals {
    sent: VecDeque<Sent>,
    /// The last message forwarded was the client's Describe of this portal.
    described_just_before: Option<Box<[u8]>>,
    /// A RowDescription for the current result arrived and no result has ended since.
    described: bool,
    /// The server met an error in an extended-protocol batch whose Sync jitgate has not yet
    /// forwarded: it ignores everything until that Sync.
    skipping: bool,
}

/// Describe of a portal, as a complete message.
fn describe_portal(out: &mut BytesMut, portal: &[u8]) {
    out.put_u8(b'D');
    out.put_u32((4 + 1 + portal.len() + 1) as u32);
    out.put_u8(b'P');
    out.extend_from_slice(portal);
    out.put_u8(0);
}

impl Portals {
    /// Notes a client message jitgate is about to forward upstream (`msg` whole, header
    /// included); appends to `out` what must precede it (a Describe before an Execute). The
    /// caller then appends the message itself, changed or not. Messages jitgate does not forward
    /// are not shown here; a Sync jitgate sends in place of a refused statement is.
    pub fn forwarding(&mut self, tag: u8, msg: &[u8], out: &mut BytesMut) {
        let body = codec::body(msg);
        let just_described = self.described_just_before.take();
        let sent = match tag {
            frontend::PARSE => Sent::Parse,
            frontend::BIND => Sent::Bind,
            frontend::CLOSE => Sent::Close,
            frontend::DESCRIBE => match Named::decode(body, "Describe") {
                Ok(Named {
                    target: Target::Portal,
                    name,
                }) => {
                    self.described_just_before = Some(name.into());
                    Sent::DescribePortal { injected: false }
                }
                // A statement's (or a malformed one, which the server answers with an error).
                _ => Sent::DescribeStatement,
            },
            frontend::EXECUTE => {
                // A malformed Execute names no portal the client described: described anew.
                let portal = Execute::decode(body).map_or(&b""[..], |e| e.portal);
                if just_described.as_deref() != Some(portal) {
                    describe_portal(out, portal);
                    self.push(Sent::DescribePortal { injected: true });
                }
                Sent::Execute
            }
            frontend::SYNC => Sent::Sync,
            frontend::QUERY => Sent::Query,
            // Flush, CopyData, CopyDone, CopyFail, Terminate: no answer of their own.
            _ => return,
        };
        self.push(sent);
    }

    fn push(&mut self, sent: Sent) {
        // After an error the server ignores everything up to the next Sync.
        if self.skipping && sent != Sent::Sync {
            return;
        }
        self.skipping = false;
        self.sent.push_back(sent);
    }

    /// Says what the message with `tag` from the server is, and follows the protocol past it.
    pub fn answer(&mut self, tag: u8) -> Answer {
        let front = self.sent.front().copied();
        match (tag, front) {
            (b'1', Some(Sent::Parse)) | (b'2', Some(Sent::Bind)) | (b'3', Some(Sent::Close)) => {
                self.sent.pop_front();
                Answer::Other
            }
            (b't', Some(Sent::DescribeStatement)) => Answer::Other,
            (b'T' | b'n', Some(Sent::DescribeStatement)) => {
                // A statement's description says nothing of result formats, and no row follows
                // it: the rows of its portals follow their own Describe.
                self.sent.pop_front();
                Answer::Other
            }
            (b'T' | b'n', Some(Sent::DescribePortal { injected })) => {
                self.sent.pop_front();
                self.described = tag == b'T';
                match (injected, tag) {
                    (true, _) => Answer::Injected,
                    (false, b'T') => Answer::Describes,
                    (false, _) => Answer::Other,
                }
            }
            (b'T', Some(Sent::Query)) => {
                self.described = true;
                Answer::Describes
            }
            (b'D', Some(Sent::Execute | Sent::Query)) if self.described => Answer::Row,
            (b'D', _) => Answer::OutOfStep("a result row whose description jitgate did not see"),
            (b'C' | b'I' | b's', Some(Sent::Execute)) => {
                self.sent.pop_front();
                self.described = false;
                Answer::Other
            }
            (b'C' | b'I', Some(Sent::Query)) => {
                self.described = false;
                Answer::Other
            }
            (b'E', front) => {
                self.described = false;
                self.error(front);
                Answer::Other
            }
            (b'Z', Some(Sent::Sync | Sent::Query)) => {
                self.sent.pop_front();
                self.described = false;
                Answer::Other
            }
            (b'1' | b'2' | b'3' | b't' | b'T' | b'n' | b'C' | b'I' | b's' | b'Z', _) => {
                Answer::OutOfStep("an answer to no message jitgate forwarded")
            }
            // Notices, notifications, parameter status, COPY: not answers of their own.
            _ => Answer::Other,
        }
    }

    /// An ErrorResponse while `front` was being answered.
    fn error(&mut self, front: Option<Sent>) {
        match front {
            // A simple Query goes on to its ReadyForQuery; an error at Sync (a failed commit)
            // is followed by ReadyForQuery; an error out of turn (a FATAL) skips nothing.
            Some(Sent::Query | Sent::Sync) | None => {}
            // An extended-protocol message failed: the server ignores the rest up to Sync.
            Some(_) => {
                while self.sent.front().is_some_and(|s| *s != Sent::Sync) {
                    self.sent.pop_front();
                }
                self.skipping = self.sent.is_empty();
            }
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

    fn execute(portal: &str) -> Vec<u8> {
        let mut body = portal.as_bytes().to_vec();
        body.extend_from_slice(&[0, 0, 0, 0, 0]);
        msg(b'E', &body)
    }

    fn describe(kind: u8, name: &str) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        msg(b'D', &body)
    }

    /// Forwards `messages` as a guarded client would; returns what went upstream.
    fn send(portals: &mut Portals, messages: &[Vec<u8>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for m in messages {
            portals.forwarding(m[0], m, &mut out);
            out.extend_from_slice(m);
        }
        out.to_vec()
    }

    fn answers(portals: &mut Portals, tags: &[u8]) -> Vec<Answer> {
        tags.iter().map(|&t| portals.answer(t)).collect()
    }

    use Answer::*;

    #[test]
    fn an_execute_without_its_own_describe_gets_one_whose_answer_is_kept() {
        let mut p = Portals::default();
        let upstream = send(
            &mut p,
            &[
                msg(b'B', b"\0s1\0\0\0\0\0\0\0"),
                execute(""),
                msg(b'S', b""),
            ],
        );
        let mut expected = msg(b'B', b"\0s1\0\0\0\0\0\0\0");
        expected.extend(describe(b'P', ""));
        expected.extend(execute(""));
        expected.extend(msg(b'S', b""));
        assert_eq!(upstream, expected);
        assert_eq!(
            answers(&mut p, b"2TDDCZ"),
            [Other, Injected, Row, Row, Other, Other]
        );
    }

    #[test]
    fn a_client_describe_right_before_the_execute_is_used_as_it_is() {
        let mut p = Portals::default();
        let sent = [
            msg(b'P', b"\0select 1\0\0\0"),
            msg(b'B', b"p\0\0\0\0\0\0\0\0"),
            describe(b'P', "p"),
            execute("p"),
            msg(b'S', b""),
        ];
        let upstream = send(&mut p, &sent);
        assert_eq!(upstream, sent.concat(), "nothing added");
        assert_eq!(
            answers(&mut p, b"12TDCZ"),
            [Other, Other, Describes, Row, Other, Other]
        );
    }

    #[test]
    fn a_statement_described_earlier_does_not_describe_the_rows_of_another() {
        // The red team's case: Describe of one statement, then Execute of another's portal.
        let mut p = Portals::default();
        let upstream = send(
            &mut p,
            &[
                msg(b'P', b"a\0select 1\0\0\0"),
                describe(b'S', "a"),
                msg(b'P', b"b\0select 2\0\0\0"),
                msg(b'B', b"\0b\0\0\0\0\0\0\0"),
                execute(""),
                msg(b'S', b""),
            ],
        );
        assert!(upstream
            .windows(describe(b'P', "").len())
            .any(|w| w == describe(b'P', "")));
        assert_eq!(
            answers(&mut p, b"1tT12TDCZ"),
            [Other, Other, Other, Other, Other, Injected, Row, Other, Other]
        );
    }

    #[test]
    fn a_describe_of_another_portal_or_not_adjacent_does_not_count() {
        let mut p = Portals::default();
        let upstream = send(
            &mut p,
            &[
                describe(b'P', "other"),
                execute("p"),
                describe(b'P', "p"),
                msg(b'H', b""),
                execute("p"),
            ],
        );
        let injected = upstream
            .windows(describe(b'P', "p").len())
            .filter(|w| *w == describe(b'P', "p"))
            .count();
        assert_eq!(injected, 3, "two added, one the client's");
    }

    #[test]
    fn rows_without_a_description_are_out_of_step() {
        let mut p = Portals::default();
        send(&mut p, &[execute("")]);
        // The added Describe was answered NoData, yet rows come.
        assert_eq!(p.answer(b'n'), Injected);
        assert!(matches!(p.answer(b'D'), OutOfStep(_)));
        // Rows of a simple Query before its RowDescription.
        let mut p = Portals::default();
        send(&mut p, &[msg(b'Q', b"select 1\0")]);
        assert!(matches!(p.answer(b'D'), OutOfStep(_)));
        // Rows answering nothing at all.
        let mut p = Portals::default();
        assert!(matches!(p.answer(b'D'), OutOfStep(_)));
        assert!(matches!(p.answer(b'T'), OutOfStep(_)));
    }

    #[test]
    fn a_description_ends_with_its_result() {
        let mut p = Portals::default();
        send(
            &mut p,
            &[
                msg(b'Q', b"select 1; select 2\0"),
                execute(""),
                msg(b'S', b""),
            ],
        );
        assert_eq!(answers(&mut p, b"TDC"), [Describes, Row, Other]);
        assert!(
            matches!(p.answer(b'D'), OutOfStep(_)),
            "after CommandComplete"
        );
        assert_eq!(answers(&mut p, b"TDCZ"), [Describes, Row, Other, Other]);
        assert_eq!(p.answer(b'n'), Injected);
        assert!(matches!(p.answer(b'D'), OutOfStep(_)));
    }

    #[test]
    fn a_suspended_portal_is_described_again_when_resumed() {
        let mut p = Portals::default();
        let mut limited = b"c\0".to_vec();
        limited.extend_from_slice(&2i32.to_be_bytes());
        let upstream = send(
            &mut p,
            &[msg(b'E', &limited), msg(b'E', &limited), msg(b'S', b"")],
        );
        let d = describe(b'P', "c");
        assert_eq!(upstream.windows(d.len()).filter(|w| *w == d).count(), 2);
        assert_eq!(
            answers(&mut p, b"TDDsTDCZ"),
            [Injected, Row, Row, Other, Injected, Row, Other, Other]
        );
    }

    #[test]
    fn an_error_skips_the_batch_up_to_its_sync() {
        let mut p = Portals::default();
        send(
            &mut p,
            &[
                msg(b'P', b"\0select x\0\0\0"),
                msg(b'B', b"\0\0\0\0\0\0\0\0"),
                execute(""),
                msg(b'S', b""),
                msg(b'Q', b"select 1\0"),
            ],
        );
        // Parse fails: Bind, the added Describe and Execute are skipped.
        assert_eq!(answers(&mut p, b"EZ"), [Other, Other]);
        assert_eq!(answers(&mut p, b"TDCZ"), [Describes, Row, Other, Other]);
        assert!(p.sent.is_empty());
    }

    #[test]
    fn messages_sent_after_the_error_arrived_are_skipped_too() {
        let mut p = Portals::default();
        send(&mut p, &[msg(b'P', b"\0select x\0\0\0")]);
        assert_eq!(p.answer(b'E'), Other);
        // The client had not sent its Sync yet: what it sends now the server ignores.
        send(
            &mut p,
            &[
                msg(b'B', b"\0\0\0\0\0\0\0\0"),
                execute(""),
                msg(b'Q', b"select 1\0"),
                msg(b'S', b""),
            ],
        );
        assert_eq!(p.sent, [Sent::Sync]);
        assert_eq!(p.answer(b'Z'), Other);
    }

    #[test]
    fn an_error_in_a_simple_query_or_at_sync_skips_nothing() {
        let mut p = Portals::default();
        send(
            &mut p,
            &[
                msg(b'Q', b"select 1/0; select 1\0"),
                msg(b'S', b""),
                execute(""),
                msg(b'S', b""),
            ],
        );
        assert_eq!(answers(&mut p, b"TEZ"), [Describes, Other, Other]);
        // A failed commit at Sync.
        assert_eq!(answers(&mut p, b"EZ"), [Other, Other]);
        assert_eq!(answers(&mut p, b"TDCZ"), [Injected, Row, Other, Other]);
        assert!(p.sent.is_empty());
    }

    #[test]
    fn a_statement_description_and_no_data_are_forwarded() {
        let mut p = Portals::default();
        send(
            &mut p,
            &[
                describe(b'S', "s"),
                describe(b'P', "q"),
                msg(b'C', b"Ps\0"),
                msg(b'S', b""),
            ],
        );
        assert_eq!(
            answers(&mut p, b"tnn3Z"),
            [Other, Other, Other, Other, Other]
        );
        assert!(!p.described);
    }

    #[test]
    fn copy_and_asynchronous_messages_are_not_answers() {
        let mut p = Portals::default();
        send(&mut p, &[execute(""), msg(b'S', b"")]);
        assert_eq!(
            answers(&mut p, b"NASnHdcCZ"),
            [Other, Other, Other, Injected, Other, Other, Other, Other, Other]
        );
    }
}
