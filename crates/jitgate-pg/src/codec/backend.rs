//! Messages servers send: their tags, the messages jitgate itself sends to database clients,
//! and borrowed views of the server messages it reads (RowDescription, CommandComplete,
//! ReadyForQuery, ErrorResponse and NoticeResponse fields, ParameterStatus,
//! NotificationResponse). A view decodes a body once, without copying; a body that does not
//! hold what its tag promises is a typed [`ProtocolError::Malformed`].

use super::{cstr_prefix, take_cstr, ProtocolError};
use bytes::{BufMut, BytesMut};
use jitgate_sqlstate::SqlState;

pub const AUTHENTICATION: u8 = b'R';
pub const BACKEND_KEY_DATA: u8 = b'K';
pub const PARAMETER_STATUS: u8 = b'S';
pub const READY_FOR_QUERY: u8 = b'Z';
pub const ROW_DESCRIPTION: u8 = b'T';
pub const DATA_ROW: u8 = b'D';
pub const COMMAND_COMPLETE: u8 = b'C';
pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
pub const PORTAL_SUSPENDED: u8 = b's';
pub const ERROR_RESPONSE: u8 = b'E';
pub const NOTICE_RESPONSE: u8 = b'N';
pub const NOTIFICATION_RESPONSE: u8 = b'A';
pub const PARSE_COMPLETE: u8 = b'1';
pub const BIND_COMPLETE: u8 = b'2';
pub const CLOSE_COMPLETE: u8 = b'3';
pub const NO_DATA: u8 = b'n';
pub const PARAMETER_DESCRIPTION: u8 = b't';
pub const COPY_IN_RESPONSE: u8 = b'G';
pub const COPY_OUT_RESPONSE: u8 = b'H';
pub const COPY_BOTH_RESPONSE: u8 = b'W';
pub const COPY_DATA: u8 = b'd';
pub const COPY_DONE: u8 = b'c';
pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';

/// Severity of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// Appends a tagged message, filling in its length word once the body is written.
pub fn message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let len_at = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - len_at) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

pub fn put_cstr(out: &mut BytesMut, s: &str) {
    // A NUL inside would end the field early and desynchronise the client; drop it.
    out.extend(s.bytes().filter(|&b| b != 0));
    out.put_u8(0);
}

/// ErrorResponse with severity, SQLSTATE and message.
pub fn error_response(out: &mut BytesMut, severity: Severity, sqlstate: SqlState, text: &str) {
    message(out, b'E', |b| {
        b.put_u8(b'S');
        put_cstr(b, severity.as_str());
        b.put_u8(b'V');
        put_cstr(b, severity.as_str());
        b.put_u8(b'C');
        put_cstr(b, sqlstate.as_str());
        b.put_u8(b'M');
        put_cstr(b, text);
        b.put_u8(0);
    });
}

pub fn authentication_ok(out: &mut BytesMut) {
    message(out, b'R', |b| b.put_i32(0));
}

pub fn authentication_cleartext(out: &mut BytesMut) {
    message(out, b'R', |b| b.put_i32(3));
}

/// AuthenticationSASL offering the given mechanisms.
pub fn authentication_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    message(out, b'R', |b| {
        b.put_i32(10);
        for m in mechanisms {
            put_cstr(b, m);
        }
        b.put_u8(0);
    });
}

pub fn authentication_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    message(out, b'R', |b| {
        b.put_i32(11);
        b.extend_from_slice(data);
    });
}

pub fn authentication_sasl_final(out: &mut BytesMut, data: &[u8]) {
    message(out, b'R', |b| {
        b.put_i32(12);
        b.extend_from_slice(data);
    });
}

pub fn backend_key_data(out: &mut BytesMut, process_id: i32, secret_key: i32) {
    message(out, b'K', |b| {
        b.put_i32(process_id);
        b.put_i32(secret_key);
    });
}

/// NegotiateProtocolVersion: the newest minor version of protocol 3 jitgate speaks, and the
/// `_pq_.` protocol options of the client's start-up packet it does not recognise.
pub fn negotiate_protocol_version(out: &mut BytesMut, minor: u16, unrecognised: &[&str]) {
    message(out, NEGOTIATE_PROTOCOL_VERSION, |b| {
        b.put_i32(minor as i32);
        b.put_i32(unrecognised.len() as i32);
        for option in unrecognised {
            put_cstr(b, option);
        }
    });
}

/// ReadyForQuery with a transaction status.
pub fn ready_for_query(out: &mut BytesMut, status: u8) {
    message(out, READY_FOR_QUERY, |b| b.put_u8(status));
}

/// A simple-protocol Query.
pub fn query(out: &mut BytesMut, sql: &str) {
    message(out, b'Q', |b| put_cstr(b, sql));
}

/// Terminate, sent to the upstream before closing so it ends the backend cleanly.
pub fn terminate(out: &mut BytesMut) {
    message(out, b'X', |_| {});
}

/// Fields of an ErrorResponse or NoticeResponse body, as (code, value) pairs.
pub fn fields(body: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let (&code, tail) = rest.split_first()?;
        if code == 0 {
            return None;
        }
        let value = cstr_prefix(tail);
        rest = tail.get(value.len() + 1..).unwrap_or(&[]);
        Some((code, value))
    })
}

/// The SQLSTATE of an ErrorResponse body; `None` when missing or malformed.
pub fn sqlstate(body: &[u8]) -> Option<SqlState> {
    ErrorFields(body).sqlstate()
}

/// The fields of an ErrorResponse or NoticeResponse body.
#[derive(Debug, Clone, Copy)]
pub struct ErrorFields<'a>(pub &'a [u8]);

impl<'a> ErrorFields<'a> {
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        fields(self.0).find(|&(c, _)| c == code).map(|(_, v)| v)
    }

    /// `C`: the SQLSTATE; `None` when missing or malformed.
    pub fn sqlstate(&self) -> Option<SqlState> {
        SqlState::from_bytes(self.get(b'C')?).ok()
    }

    /// `V`: the severity, never localized (`ERROR`, `FATAL`, `NOTICE`, `LOG`, …).
    pub fn severity(&self) -> Option<&'a [u8]> {
        self.get(b'V')
    }

    /// `M`: the primary message.
    pub fn message(&self) -> Option<&'a [u8]> {
        self.get(b'M')
    }
}

/// Row count from a CommandComplete tag: the last word of `SELECT 5`, `INSERT 0 5`, `COPY 5`, …
pub fn command_rows(body: &[u8]) -> Option<u64> {
    CommandComplete {
        tag: cstr_prefix(body),
    }
    .rows()
}

/// CommandComplete: the command tag (`SELECT 5`, `CREATE TABLE`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandComplete<'a> {
    pub tag: &'a [u8],
}

impl<'a> CommandComplete<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<CommandComplete<'a>, ProtocolError> {
        let tag = take_cstr(&mut body, "CommandComplete")?;
        Ok(CommandComplete { tag })
    }

    /// The row count the tag ends with, if it has one.
    pub fn rows(&self) -> Option<u64> {
        let last = self.tag.rsplit(|&b| b == b' ').next()?;
        if last.is_empty() || self.tag.len() == last.len() {
            return None;
        }
        std::str::from_utf8(last).ok()?.parse().ok()
    }
}

/// ReadyForQuery: the transaction status, `I`, `T` or `E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyForQuery {
    pub status: u8,
}

impl ReadyForQuery {
    pub fn decode(body: &[u8]) -> Result<ReadyForQuery, ProtocolError> {
        match body {
            [status @ (b'I' | b'T' | b'E')] => Ok(ReadyForQuery { status: *status }),
            _ => Err(ProtocolError::Malformed {
                what: "ReadyForQuery",
            }),
        }
    }
}

/// ParameterStatus: a run-time setting and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterStatus<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> ParameterStatus<'a> {
    pub fn decode(mut body: &'a [u8]) -> Result<ParameterStatus<'a>, ProtocolError> {
        let name = take_cstr(&mut body, "ParameterStatus")?;
        let value = take_cstr(&mut body, "ParameterStatus")?;
        Ok(ParameterStatus { name, value })
    }
}

/// NotificationResponse: the notifying backend, the channel and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationResponse<'a> {
    pub process_id: i32,
    pub channel: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> NotificationResponse<'a> {
    pub fn decode(body: &'a [u8]) -> Result<NotificationResponse<'a>, ProtocolError> {
        let what = "NotificationResponse";
        let (pid, mut rest) = body
            .split_first_chunk::<4>()
            .ok_or(ProtocolError::Malformed { what })?;
        let channel = take_cstr(&mut rest, what)?;
        let payload = take_cstr(&mut rest, what)?;
        Ok(NotificationResponse {
            process_id: i32::from_be_bytes(*pid),
            channel,
            payload,
        })
    }
}

/// One column of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    pub name: &'a [u8],
    /// The table the column comes from, or 0.
    pub table_oid: u32,
    /// Its column number in that table, or 0.
    pub attnum: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

/// RowDescription: the shape of the DataRows that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowDescription<'a> {
    pub count: usize,
    columns: &'a [u8],
}

impl<'a> RowDescription<'a> {
    pub fn decode(body: &'a [u8]) -> Result<RowDescription<'a>, ProtocolError> {
        let (count, columns) = body
            .split_first_chunk::<2>()
            .ok_or(ProtocolError::Malformed {
                what: "RowDescription",
            })?;
        Ok(RowDescription {
            count: i16::from_be_bytes(*count).max(0) as usize,
            columns,
        })
    }

    /// Every column, in order; an error when the body holds fewer than it says.
    pub fn fields(&self) -> Result<Vec<FieldDescription<'a>>, ProtocolError> {
        let malformed = || ProtocolError::Malformed {
            what: "RowDescription",
        };
        let mut rest = self.columns;
        let mut out = Vec::with_capacity(self.count.min(rest.len() / 19));
        for _ in 0..self.count {
            let name = take_cstr(&mut rest, "RowDescription")?;
            let (f, tail) = rest.split_first_chunk::<18>().ok_or_else(malformed)?;
            rest = tail;
            let be16 = |at: usize| i16::from_be_bytes([f[at], f[at + 1]]);
            let be32 = |at: usize| [f[at], f[at + 1], f[at + 2], f[at + 3]];
            out.push(FieldDescription {
                name,
                table_oid: u32::from_be_bytes(be32(0)),
                attnum: be16(4),
                type_oid: u32::from_be_bytes(be32(6)),
                type_size: be16(10),
                type_modifier: i32::from_be_bytes(be32(12)),
                format: be16(16),
            });
        }
        Ok(out)
    }
}

/// DataRow: the column values, each `None` for NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRow<'a> {
    pub count: usize,
    columns: &'a [u8],
}

impl<'a> DataRow<'a> {
    pub fn decode(body: &'a [u8]) -> Result<DataRow<'a>, ProtocolError> {
        let (count, columns) = body
            .split_first_chunk::<2>()
            .ok_or(ProtocolError::Malformed { what: "DataRow" })?;
        Ok(DataRow {
            count: i16::from_be_bytes(*count).max(0) as usize,
            columns,
        })
    }

    /// The values, in order; an error when the body holds fewer than it says.
    pub fn values(&self) -> Result<Vec<Option<&'a [u8]>>, ProtocolError> {
        let malformed = ProtocolError::Malformed { what: "DataRow" };
        let mut rest = self.columns;
        let mut out = Vec::with_capacity(self.count.min(rest.len() / 4));
        for _ in 0..self.count {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or(ProtocolError::Malformed { what: "DataRow" })?;
            let len = i32::from_be_bytes(*len);
            if len < 0 {
                out.push(None);
                rest = tail;
                continue;
            }
            let len = len as usize;
            if tail.len() < len {
                return Err(malformed);
            }
            out.push(Some(&tail[..len]));
            rest = &tail[len..];
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_carries_sqlstate_and_message() {
        let mut out = BytesMut::new();
        error_response(
            &mut out,
            Severity::Fatal,
            SqlState::INVALID_PASSWORD,
            "bad\0 credential",
        );
        assert_eq!(out[0], b'E');
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len());
        let body = &out[5..];
        assert_eq!(sqlstate(body), Some(SqlState::INVALID_PASSWORD));
        let msg: Vec<_> = fields(body).filter(|(c, _)| *c == b'M').collect();
        assert_eq!(msg, vec![(b'M', &b"bad credential"[..])]);
    }

    #[test]
    fn rows_from_command_tags() {
        assert_eq!(command_rows(b"SELECT 5\0"), Some(5));
        assert_eq!(command_rows(b"INSERT 0 12\0"), Some(12));
        assert_eq!(command_rows(b"BEGIN\0"), None);
        assert_eq!(command_rows(b"CREATE TABLE\0"), None);
    }

    #[test]
    fn row_descriptions_and_rows_are_read_in_place() {
        let mut body = 2i16.to_be_bytes().to_vec();
        for (name, table, attnum, ty) in [(&b"id"[..], 16384u32, 1i16, 23u32), (b"note", 0, 0, 25)]
        {
            body.extend_from_slice(name);
            body.push(0);
            body.extend_from_slice(&table.to_be_bytes());
            body.extend_from_slice(&attnum.to_be_bytes());
            body.extend_from_slice(&ty.to_be_bytes());
            body.extend_from_slice(&4i16.to_be_bytes());
            body.extend_from_slice(&(-1i32).to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
        }
        let fields = RowDescription::decode(&body).unwrap().fields().unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(
            (fields[0].name, fields[0].table_oid, fields[0].attnum),
            (&b"id"[..], 16384, 1)
        );
        assert_eq!((fields[1].type_oid, fields[1].format), (25, 1));
        // A description promising more columns than it holds is malformed.
        body[1] = 3;
        assert!(RowDescription::decode(&body).unwrap().fields().is_err());

        let mut row = 2i16.to_be_bytes().to_vec();
        row.extend_from_slice(&2i32.to_be_bytes());
        row.extend_from_slice(b"42");
        row.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            DataRow::decode(&row).unwrap().values().unwrap(),
            vec![Some(&b"42"[..]), None]
        );
        row[5] = 9;
        assert!(DataRow::decode(&row).unwrap().values().is_err());
    }

    #[test]
    fn small_server_messages_have_views() {
        let n = NotificationResponse::decode(b"\0\0\0\x07ch\0hi\0").unwrap();
        assert_eq!(
            (n.process_id, n.channel, n.payload),
            (7, &b"ch"[..], &b"hi"[..])
        );
        assert!(NotificationResponse::decode(b"\0\0\0\x07ch\0hi").is_err());
        let p = ParameterStatus::decode(b"TimeZone\0UTC\0").unwrap();
        assert_eq!((p.name, p.value), (&b"TimeZone"[..], &b"UTC"[..]));
        assert_eq!(ReadyForQuery::decode(b"T").unwrap().status, b'T');
        assert!(ReadyForQuery::decode(b"").is_err());
        assert_eq!(
            CommandComplete::decode(b"COPY 3\0").unwrap().rows(),
            Some(3)
        );
        let e = ErrorFields(b"SFATAL\0VFATAL\0C53300\0Mtoo many\0\0");
        assert_eq!(e.sqlstate(), Some(SqlState::TOO_MANY_CONNECTIONS));
        assert_eq!(e.severity(), Some(&b"FATAL"[..]));
        assert_eq!(e.message(), Some(&b"too many"[..]));
    }

    #[test]
    fn negotiate_protocol_version_names_the_options_it_refuses() {
        let mut out = BytesMut::new();
        negotiate_protocol_version(&mut out, 0, &["_pq_.compression"]);
        assert_eq!(out[0], b'v');
        assert_eq!(&out[5..13], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&out[13..], b"_pq_.compression\0");
    }
}
