//! Messages jitgate itself sends to database clients, and the few server messages it reads.

use bytes::{BufMut, BytesMut};

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
pub fn error_response(out: &mut BytesMut, severity: Severity, sqlstate: &str, text: &str) {
    message(out, b'E', |b| {
        b.put_u8(b'S');
        put_cstr(b, severity.as_str());
        b.put_u8(b'V');
        put_cstr(b, severity.as_str());
        b.put_u8(b'C');
        put_cstr(b, sqlstate);
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
        let value = super::cstr_prefix(tail);
        rest = tail.get(value.len() + 1..).unwrap_or(&[]);
        Some((code, value))
    })
}

/// The SQLSTATE of an ErrorResponse body.
pub fn sqlstate(body: &[u8]) -> Option<[u8; 5]> {
    fields(body)
        .find(|(code, _)| *code == b'C')
        .and_then(|(_, v)| v.try_into().ok())
}

/// Row count from a CommandComplete tag: the last word of `SELECT 5`, `INSERT 0 5`, `COPY 5`, …
pub fn command_rows(body: &[u8]) -> Option<u64> {
    let tag = super::cstr_prefix(body);
    let last = tag.rsplit(|&b| b == b' ').next()?;
    if last.is_empty() || tag.len() == last.len() {
        return None;
    }
    std::str::from_utf8(last).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_carries_sqlstate_and_message() {
        let mut out = BytesMut::new();
        error_response(&mut out, Severity::Fatal, "28P01", "bad\0 credential");
        assert_eq!(out[0], b'E');
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len());
        let body = &out[5..];
        assert_eq!(sqlstate(body), Some(*b"28P01"));
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
}
