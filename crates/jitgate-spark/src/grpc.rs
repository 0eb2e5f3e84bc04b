//! The bits of gRPC-over-HTTP/2 the front needs without a full gRPC server: status codes,
//! trailers-only answers, the 5-byte message framing, and reading row counts out of
//! `ExecutePlanResponse` messages as they stream past.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The gRPC status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// The code of a number; numbers gRPC does not define are `Unknown`, as gRPC says.
    pub fn from_i32(code: i32) -> Code {
        use Code::*;
        const ALL: [Code; 17] = [
            Ok,
            Cancelled,
            Unknown,
            InvalidArgument,
            DeadlineExceeded,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
            Unauthenticated,
        ];
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .unwrap_or(Unknown)
    }
}

/// A status jitgate sends instead of the upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    /// `grpc-status` and `grpc-message`, as headers of a trailers-only answer or as trailers.
    pub fn to_headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", HeaderValue::from(self.code as i32));
        if let Ok(v) = HeaderValue::from_str(&percent_encode(&self.message)) {
            map.insert("grpc-message", v);
        }
        map
    }
}

/// gRPC's percent-encoding of `grpc-message`: everything outside printable ASCII, and `%`
/// (non-ASCII bytes are always encoded).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

pub(crate) fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, GRPC_MESSAGE).to_string()
}

/// `grpc-status` (and `grpc-message`) from response headers or trailers, when present.
pub fn status_of(headers: &HeaderMap) -> Option<(i32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some((code, message))
}

pub(crate) fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The name of a status code, for the audit trail.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Why a unary request body could not be read as one message.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Not exactly one length-prefixed message.
    Malformed,
    /// The compressed flag is set: jitgate cannot look inside.
    Compressed,
}

/// The payload of a request body holding exactly one uncompressed gRPC message.
pub fn single_message(mut body: Bytes) -> Result<Bytes, FrameError> {
    if body.len() < 5 {
        return Err(FrameError::Malformed);
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if len != body.len() {
        return Err(FrameError::Malformed);
    }
    if compressed != 0 {
        return Err(FrameError::Compressed);
    }
    Ok(body)
}

/// Frames one message for a request body.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.freeze()
}

/// How many bytes of each response message are kept to find its row count: `arrow_batch`
/// (field 2) follows only `session_id` (field 1, a UUID) in field order, and `row_count` is the
/// first field inside it, so this is plenty while Arrow data itself is never copied.
const PREFIX: usize = 256;

/// Counts the rows of the Arrow batches in a stream of `ExecutePlanResponse` messages, fed the
/// response's data frames as they pass (messages may span or share frames). Memory is bounded
/// by [`PREFIX`] whatever the batch size.
#[derive(Debug, Default)]
pub struct RowCounter {
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message's payload still to come.
    remaining: usize,
    compressed: bool,
    prefix: Vec<u8>,
    pub rows: u64,
}

impl RowCounter {
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.header_len < 5 {
                let take = (5 - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                data = &data[take..];
                if self.header_len == 5 {
                    self.compressed = self.header[0] != 0;
                    self.remaining = u32::from_be_bytes([
                        self.header[1],
                        self.header[2],
                        self.header[3],
                        self.header[4],
                    ]) as usize;
                    self.prefix.clear();
                    if self.remaining == 0 {
                        self.header_len = 0;
                    }
                }
                continue;
            }
            let take = self.remaining.min(data.len());
            let room = PREFIX.saturating_sub(self.prefix.len()).min(take);
            if !self.compressed {
                self.prefix.extend_from_slice(&data[..room]);
            }
            self.remaining -= take;
            data = &data[take..];
            if self.remaining == 0 {
                if !self.compressed {
                    self.rows += arrow_rows(&self.prefix).unwrap_or(0);
                }
                self.header_len = 0;
            }
        }
    }
}

/// `ExecutePlanResponse.arrow_batch.row_count` from the start of an encoded message.
fn arrow_rows(mut msg: &[u8]) -> Option<u64> {
    while !msg.is_empty() {
        let key = varint(&mut msg)?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 2 && wire == 2 {
            let len = varint(&mut msg)? as usize;
            let mut batch = &msg[..len.min(msg.len())];
            while !batch.is_empty() {
                let key = varint(&mut batch)?;
                if key == (1 << 3) {
                    return varint(&mut batch);
                }
                skip(&mut batch, key & 7)?;
            }
            return None;
        }
        skip(&mut msg, wire)?;
    }
    None
}

/// Whether an encoded message may have top-level field `number`: false only when it was read to
/// the end without finding it (so a message that cannot be read is left to the decoder).
pub fn may_have_field(mut msg: &[u8], number: u64) -> bool {
    while !msg.is_empty() {
        let Some(key) = varint(&mut msg) else {
            return true;
        };
        if key >> 3 == number || skip(&mut msg, key & 7).is_none() {
            return true;
        }
    }
    false
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

fn skip(buf: &mut &[u8], wire: u64) -> Option<()> {
    let n = match wire {
        0 => {
            varint(buf)?;
            return Some(());
        }
        1 => 8,
        2 => varint(buf)? as usize,
        5 => 4,
        _ => return None,
    };
    if n > buf.len() {
        return None;
    }
    *buf = &buf[n..];
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use spark_connect_proto::execute_plan_response::{ArrowBatch, ResponseType};
    use spark_connect_proto::ExecutePlanResponse;

    fn response(rows: i64, data_len: usize) -> Vec<u8> {
        let msg = ExecutePlanResponse {
            session_id: "0d6b6a8e-2f5c-4f44-9a2a-8d1f7c1e0b11".into(),
            operation_id: "op".into(),
            response_type: Some(ResponseType::ArrowBatch(ArrowBatch {
                row_count: rows,
                data: vec![7u8; data_len].into(),
                start_offset: None,
                chunk_index: None,
                num_chunks_in_batch: None,
            })),
            ..Default::default()
        };
        frame(&msg.encode_to_vec()).to_vec()
    }

    #[test]
    fn rows_are_counted_across_and_within_frames() {
        let mut stream = response(3, 10_000);
        stream.extend(response(5, 10));
        stream.extend(frame(&[]));
        stream.extend(response(7, 1));
        for chunk in [1, 3, 7, 4096, stream.len()] {
            let mut counter = RowCounter::default();
            for piece in stream.chunks(chunk) {
                counter.feed(piece);
            }
            assert_eq!(counter.rows, 15, "chunk size {chunk}");
        }
    }

    #[test]
    fn statuses_round_trip_through_headers() {
        let s = Status::new(Code::PermissionDenied, "access grant revoked: 100% gone ✓");
        let (code, message) = status_of(&s.to_headers()).expect("status");
        assert_eq!(code, 7);
        assert_eq!(message, s.message);
    }

    #[test]
    fn single_messages_are_unframed() {
        assert_eq!(
            single_message(frame(b"abc")),
            Ok(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            single_message(Bytes::from_static(b"\0\0\0")),
            Err(FrameError::Malformed)
        );
        let mut compressed = frame(b"abc").to_vec();
        compressed[0] = 1;
        assert_eq!(
            single_message(compressed.into()),
            Err(FrameError::Compressed)
        );
    }
}
