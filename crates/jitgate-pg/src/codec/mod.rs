//! PostgreSQL wire protocol, version 3: just enough framing to relay, inspect and answer.
//!
//! Every message after start-up is a 1-byte tag and a 4-byte big-endian length that counts itself
//! but not the tag. jitgate reads headers, and bodies only of the messages it must understand;
//! everything else passes through untouched, which keeps unknown or future message types working.

pub mod backend;
pub mod frontend;
pub mod scanner;
pub mod startup;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Length of a tagged message header: tag byte plus the 4-byte length.
pub const HEADER_LEN: usize = 5;

/// The largest message, header included, jitgate reads from a client that has not
/// authenticated yet: the start-up packet and the password or SASL messages, which fit in a
/// few hundred bytes. PostgreSQL's own bound on a start-up packet (10,000 bytes), so that no
/// client PostgreSQL accepts is refused. A larger declared length is refused before any of it
/// is read, so a client without a credential cannot make the gateway hold more than this per
/// connection.
pub const PRE_AUTH_MAX_MESSAGE: usize = 10_000;

/// A complete tagged message: `tag` and the body after the length word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tag: u8,
    pub body: BytesMut,
}

/// Why a peer's bytes could not be taken as PostgreSQL protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid message length {len} for message type '{tag}'")]
    BadLength { tag: char, len: u32 },
    #[error("message of type '{tag}' is {len} bytes, more than the {max} bytes allowed")]
    TooLarge { tag: char, len: usize, max: usize },
    #[error("malformed {what} message")]
    Malformed { what: &'static str },
    #[error("unsupported protocol version {major}.{minor}")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("connection closed by peer")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one whole tagged message, refusing messages longer than `max` bytes (header included,
/// as the relay counts them) before reading or allocating their body. Used during start-up and
/// authentication, where messages are few and small.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Message, ProtocolError> {
    while buf.len() < HEADER_LEN {
        if reader.read_buf(buf).await? == 0 {
            return Err(ProtocolError::Closed);
        }
    }
    let tag = buf[0];
    let total = HEADER_LEN + body_len(tag, &buf[1..HEADER_LEN])?;
    if total > max {
        return Err(ProtocolError::TooLarge {
            tag: tag as char,
            len: total,
            max,
        });
    }
    buf.reserve(total.saturating_sub(buf.len()));
    while buf.len() < total {
        if reader.read_buf(buf).await? == 0 {
            return Err(ProtocolError::Closed);
        }
    }
    let mut frame = buf.split_to(total);
    frame.advance(HEADER_LEN);
    Ok(Message { tag, body: frame })
}

/// Body length from a length word, which must count at least itself.
pub fn body_len(tag: u8, len_word: &[u8]) -> Result<usize, ProtocolError> {
    let len = u32::from_be_bytes([len_word[0], len_word[1], len_word[2], len_word[3]]);
    if len < 4 || len > i32::MAX as u32 {
        return Err(ProtocolError::BadLength {
            tag: tag as char,
            len,
        });
    }
    Ok(len as usize - 4)
}

/// The body of a whole message (`msg` includes its 5-byte header).
pub fn body(msg: &[u8]) -> &[u8] {
    msg.get(HEADER_LEN..).unwrap_or(&[])
}

/// Reads a NUL-terminated string from the front of `body`, advancing past it.
pub fn take_cstr<'a>(body: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], ProtocolError> {
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or(ProtocolError::Malformed { what })?;
    let (s, rest) = body.split_at(end);
    *body = &rest[1..];
    Ok(s)
}

/// The text of a NUL-terminated string at the start of `body`, without the terminator.
pub fn cstr_prefix(body: &[u8]) -> &[u8] {
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    &body[..end]
}
