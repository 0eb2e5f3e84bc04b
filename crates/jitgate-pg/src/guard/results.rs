//! The second line of defence in the result stream of masked sessions: every message the
//! upstream sends passes a filter before the client sees it. Rows, errors and notices,
//! notifications, COPY data and parameter reports can carry data and are filtered; a short list
//! of kinds that carry only protocol state passes unread; anything else ends the session.

use super::portals::{Answer, Portals};
use crate::codec::backend::{self, Severity};
use crate::relay::Flow;
use bytes::BytesMut;
use jitgate_sqlstate::SqlState;

/// Filters what the upstream sends a masked session. Implementations append the message to
/// forward — filtered or as is — to `out`, and never hold more than one message.
pub trait ResultFilter: Send {
    /// A RowDescription: the shape of the DataRows that follow.
    fn row_description(&mut self, msg: &[u8]);
    /// A DataRow, whole (header included). False when the row cannot be filtered: the session
    /// then ends rather than let it through.
    fn data_row(&mut self, msg: &[u8], out: &mut BytesMut) -> bool;
    /// An ErrorResponse or NoticeResponse, whole.
    fn error_or_notice(&mut self, msg: &[u8], out: &mut BytesMut);
    /// Any other message that can carry data (see [`BackendKind::Data`]), whole. False when it
    /// cannot be filtered: the session then ends (`out` may hold a FATAL error saying why).
    fn data_message(&mut self, tag: u8, msg: &[u8], out: &mut BytesMut) -> bool;
    /// The process ids of the session: its upstream backend's, and the one jitgate gave the
    /// client. Messages that name a backend (notifications) name only the session's own, by
    /// the id the client knows.
    fn backend_pids(&mut self, _upstream: i32, _client: i32) {}
}

/// What a masked session does with a backend message, by its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendKind {
    /// RowDescription and DataRow: the row path.
    Rows,
    /// ErrorResponse and NoticeResponse.
    ErrorOrNotice,
    /// NotificationResponse, ParameterStatus, CopyOutResponse, CopyData, CopyDone and
    /// CommandComplete: they carry values (a payload, a setting's value, the rows of `COPY … TO
    /// STDOUT`) or end them (a refused COPY drops its CopyDone and CommandComplete).
    Data,
    /// Protocol state only: passed unread.
    Unread,
    /// Nothing a masked session may receive (FunctionCallResponse after a refused
    /// FunctionCall, authentication or key data after login, CopyBothResponse of replication,
    /// a kind unknown to jitgate): the session ends.
    Refused,
}

/// Tags that carry protocol state only: ParseComplete, BindComplete, CloseComplete, NoData,
/// PortalSuspended, EmptyQueryResponse, ReadyForQuery, ParameterDescription (type OIDs),
/// CopyInResponse (the client sends, nothing comes back).
pub(crate) const PASSED_UNREAD: &[u8] = b"123nsIZtG";

/// What a masked session's client is told (FATAL, 08P01) when the server sends a message the
/// filter cannot check.
pub(crate) const UNCHECKABLE: &str =
    "jitgate: terminating connection: the server sent a message a masked session cannot check";

/// Tags of [`BackendKind::Data`].
pub(crate) const DATA: &[u8] = b"ASHdcC";

/// How a masked session treats the backend message tagged `tag` (fail closed: a tag not
/// named here is refused).
pub(crate) fn backend_kind(tag: u8) -> BackendKind {
    match tag {
        b'T' | b'D' => BackendKind::Rows,
        b'E' | b'N' => BackendKind::ErrorOrNotice,
        t if DATA.contains(&t) => BackendKind::Data,
        t if PASSED_UNREAD.contains(&t) => BackendKind::Unread,
        _ => BackendKind::Refused,
    }
}

/// Passes one server message of a filtered session through `filter`, following the extended
/// protocol with `portals` so that every row is read with its own description. Ends the session
/// (after a FATAL error the client can read) rather than let a row through unfiltered.
pub(crate) fn filter_message(
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
        (Answer::Injected, backend::ROW_DESCRIPTION) => {
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
        (Answer::Other, _) => return filter_by_kind(filter, tag, msg, out),
    };
    tracing::warn!("ending a filtered session: {unfiltered}");
    backend::error_response(
        out,
        Severity::Fatal,
        SqlState::INTERNAL_ERROR,
        &format!("terminating connection: jitgate ended the session rather than pass {unfiltered}"),
    );
    Flow::ForwardAndStop
}

/// A message that answers nothing in particular: shown to the filter or named as carrying no
/// data; anything else ends the session.
fn filter_by_kind(filter: &mut dyn ResultFilter, tag: u8, msg: &[u8], out: &mut BytesMut) -> Flow {
    match backend_kind(tag) {
        BackendKind::ErrorOrNotice => {
            filter.error_or_notice(msg, out);
            Flow::Forward
        }
        BackendKind::Data if filter.data_message(tag, msg, out) => Flow::Forward,
        BackendKind::Data => Flow::ForwardAndStop,
        // A prepared statement's RowDescription: no row follows it (rows are answered by
        // `Portals`, each under its own portal's description, or end the session).
        BackendKind::Unread | BackendKind::Rows => {
            out.extend_from_slice(msg);
            Flow::Forward
        }
        BackendKind::Refused => {
            tracing::warn!(
                "ending a masked session: the server sent a message of kind {:?} (0x{tag:02x})",
                tag as char
            );
            backend::error_response(
                out,
                Severity::Fatal,
                SqlState::PROTOCOL_VIOLATION,
                UNCHECKABLE,
            );
            Flow::ForwardAndStop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_has_one_kind_and_unknown_ones_are_refused() {
        assert_eq!(backend_kind(b'D'), BackendKind::Rows);
        assert_eq!(backend_kind(b'N'), BackendKind::ErrorOrNotice);
        for tag in *b"ASHdcC" {
            assert_eq!(backend_kind(tag), BackendKind::Data, "{}", tag as char);
        }
        for tag in *b"123nsIZtG" {
            assert_eq!(backend_kind(tag), BackendKind::Unread, "{}", tag as char);
        }
        // FunctionCallResponse, CopyBothResponse, Authentication, BackendKeyData,
        // NegotiateProtocolVersion, and bytes that are no tag at all.
        for tag in [b'V', b'W', b'R', b'K', b'v', b'x', 0, 0xff] {
            assert_eq!(backend_kind(tag), BackendKind::Refused, "{tag}");
        }
        assert!(!PASSED_UNREAD.iter().any(|t| DATA.contains(t)));
    }
}
