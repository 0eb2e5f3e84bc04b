//! The second line of defence in the result stream of masked sessions: rows, errors and notices
//! pass through a filter (content detectors, scrubbed error texts) before the client sees them.

use bytes::BytesMut;

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
}
