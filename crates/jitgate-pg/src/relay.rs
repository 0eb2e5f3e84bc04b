//! The streaming relay between a client and its upstream connection.
//!
//! Each direction reads what is available, finds the whole messages in it, lets the session look
//! at them, and forwards them in one write; it reads again only once everything is written, which
//! is the backpressure that keeps memory per session bounded (a read buffer per direction). Both
//! directions run in one task but progress independently, so a client that pipelines while the
//! server streams results cannot deadlock the two.

use crate::codec::scanner::{Limits, Oversize, Scanner, Step};
use crate::codec::ProtocolError;
use bytes::{Buf, BytesMut};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes read at a time; also the size above which DataRow and CopyData stream through in pieces.
pub const READ_CHUNK: usize = 64 * 1024;

/// What the session decides about a message it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Forward,
    /// Forward it, then stop this direction (the client's Terminate).
    ForwardAndStop,
}

/// How a direction stopped.
#[derive(Debug)]
pub enum PumpEnd {
    /// The reading side closed its connection.
    Eof,
    /// A message asked to stop.
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("reading: {0}")]
    Read(std::io::Error),
    #[error("writing: {0}")]
    Write(std::io::Error),
}

/// The state of one direction, kept outside the future that drives it so that nothing is lost
/// when the relay is interrupted: what was read but not yet written is still here.
pub struct Direction {
    buf: BytesMut,
    /// `buf[..ready]` is scanned and waiting to be written.
    ready: usize,
    /// Rewritten messages waiting to be written, after `buf[..ready]` (rewriting mode only).
    out: BytesMut,
    scanner: Scanner,
    limits: Limits,
    passthrough: fn(u8) -> bool,
    /// Bytes forwarded so far.
    pub bytes: u64,
}

impl Direction {
    /// `initial` holds bytes already read past the start-up exchange.
    pub fn new(initial: BytesMut, limits: Limits, passthrough: fn(u8) -> bool) -> Direction {
        let mut buf = initial;
        buf.reserve(READ_CHUNK);
        Direction {
            buf,
            ready: 0,
            out: BytesMut::new(),
            scanner: Scanner::default(),
            limits,
            passthrough,
            bytes: 0,
        }
    }

    /// The client's direction of a session: every message is seen whole up to `max` bytes and
    /// a larger one is refused, except COPY data, which streams above a read (or `max`).
    pub fn from_client(initial: BytesMut, max: usize) -> Direction {
        let limits = Limits {
            whole_max: max,
            stream_above: READ_CHUNK.min(max),
            oversize: Oversize::Reject,
        };
        Direction::new(initial, limits, |tag| tag == b'd')
    }

    /// The upstream's direction of a session. With `whole_rows` (a result filter must see every
    /// row) each message is seen whole up to `max` bytes and a larger one ends the session;
    /// without, rows and COPY data stream above a read and other messages above `max`.
    pub fn from_upstream(initial: BytesMut, max: usize, whole_rows: bool) -> Direction {
        let limits = if whole_rows {
            Limits {
                whole_max: max,
                stream_above: usize::MAX,
                oversize: Oversize::Reject,
            }
        } else {
            Limits {
                whole_max: max,
                stream_above: READ_CHUNK,
                oversize: Oversize::Stream,
            }
        };
        Direction::new(initial, limits, |tag| matches!(tag, b'D' | b'd'))
    }

    /// True when the writing side has been sent whole messages only: jitgate may speak there.
    pub fn at_boundary(&self) -> bool {
        self.scanner.at_boundary()
    }

    /// Writes whatever is scanned and waiting.
    pub async fn drain<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> Result<(), PumpError> {
        if self.ready == 0 && self.out.is_empty() {
            return Ok(());
        }
        while !self.out.is_empty() && self.ready == 0 {
            let n = writer.write(&self.out).await.map_err(PumpError::Write)?;
            if n == 0 {
                return Err(PumpError::Write(std::io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
            self.bytes += n as u64;
        }
        while self.ready > 0 {
            let n = writer
                .write(&self.buf[..self.ready])
                .await
                .map_err(PumpError::Write)?;
            if n == 0 {
                return Err(PumpError::Write(std::io::ErrorKind::WriteZero.into()));
            }
            self.buf.advance(n);
            self.ready -= n;
            self.bytes += n as u64;
        }
        // A no-op on plain TCP; TLS may hold a partial record until flushed.
        writer.flush().await.map_err(PumpError::Write)
    }

    /// Runs until the reader closes, a message asks to stop, or an error. Cancel-safe: dropping
    /// the future leaves `self` describing exactly what was and was not forwarded.
    pub async fn pump<R, W, F>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        mut inspect: F,
    ) -> Result<PumpEnd, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
        F: FnMut(u8, &[u8]) -> Flow,
    {
        self.run(reader, writer, &mut std::future::ready, |d| {
            d.scan(&mut inspect)
        })
        .await
    }

    /// Like [`Direction::pump`], but every message goes through `rewrite`, which appends what is
    /// to be forwarded in its place (the message itself, a changed one, or nothing) to `out`.
    /// Pieces of messages streamed through (see [`Limits`]) are forwarded unchanged.
    pub async fn pump_rewriting<R, W, F>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        rewrite: F,
    ) -> Result<PumpEnd, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
        F: FnMut(u8, &[u8], &mut BytesMut) -> Flow,
    {
        self.pump_rewriting_after(reader, writer, std::future::ready, rewrite)
            .await
    }

    /// Like [`Direction::pump_rewriting`], but awaits `before()` each time before messages read
    /// are shown to `rewrite` (e.g. to renew what `rewrite` decides with).
    pub async fn pump_rewriting_after<R, W, B, BF, F>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        mut before: B,
        mut rewrite: F,
    ) -> Result<PumpEnd, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
        B: FnMut(()) -> BF,
        BF: Future<Output = ()>,
        F: FnMut(u8, &[u8], &mut BytesMut) -> Flow,
    {
        self.run(reader, writer, &mut before, |d| {
            d.scan_rewriting(&mut rewrite)
        })
        .await
    }

    async fn run<R, W, B, BF>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        before: &mut B,
        mut scan: impl FnMut(&mut Self) -> Result<bool, PumpError>,
    ) -> Result<PumpEnd, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
        B: FnMut(()) -> BF,
        BF: Future<Output = ()>,
    {
        loop {
            before(()).await;
            let stop = scan(self)?;
            self.drain(writer).await?;
            if stop {
                return Ok(PumpEnd::Stopped);
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            if reader
                .read_buf(&mut self.buf)
                .await
                .map_err(PumpError::Read)?
                == 0
            {
                return Ok(PumpEnd::Eof);
            }
        }
    }

    /// Marks the whole messages now in the buffer as ready, showing each to `inspect`.
    /// Returns true if a message asked to stop (nothing after it is forwarded).
    fn scan<F: FnMut(u8, &[u8]) -> Flow>(&mut self, inspect: &mut F) -> Result<bool, PumpError> {
        loop {
            match self
                .scanner
                .step(&self.buf[self.ready..], &self.limits, self.passthrough)?
            {
                Step::Whole { tag, len } => {
                    let flow = inspect(tag, &self.buf[self.ready..self.ready + len]);
                    self.ready += len;
                    if flow == Flow::ForwardAndStop {
                        self.buf.truncate(self.ready);
                        return Ok(true);
                    }
                }
                Step::Partial { len } => self.ready += len,
                Step::NeedMore { want } => {
                    let have = self.buf.len() - self.ready;
                    self.buf.reserve(want.saturating_sub(have));
                    return Ok(false);
                }
            }
        }
    }
}

impl Direction {
    /// Passes every whole message through `rewrite` into `out`, consuming it from the buffer.
    fn scan_rewriting<F>(&mut self, rewrite: &mut F) -> Result<bool, PumpError>
    where
        F: FnMut(u8, &[u8], &mut BytesMut) -> Flow,
    {
        let mut consumed = 0;
        let stop = loop {
            match self
                .scanner
                .step(&self.buf[consumed..], &self.limits, self.passthrough)
            {
                Ok(Step::Whole { tag, len }) => {
                    let flow = rewrite(tag, &self.buf[consumed..consumed + len], &mut self.out);
                    consumed += len;
                    if flow == Flow::ForwardAndStop {
                        break true;
                    }
                }
                Ok(Step::Partial { len }) => {
                    self.out
                        .extend_from_slice(&self.buf[consumed..consumed + len]);
                    consumed += len;
                }
                Ok(Step::NeedMore { want }) => {
                    let have = self.buf.len() - consumed;
                    self.buf.reserve(want.saturating_sub(have));
                    break false;
                }
                Err(e) => {
                    self.buf.advance(consumed);
                    return Err(e.into());
                }
            }
        };
        self.buf.advance(consumed);
        if stop {
            self.buf.clear();
        }
        Ok(stop)
    }
}

pub use jitgate_front::WhenWoken;

/// Writes jitgate's own bytes (an error) after draining what was pending, and flushes.
pub async fn say<W: AsyncWrite + Unpin>(
    writer: &mut W,
    direction: &mut Direction,
    bytes: &[u8],
) -> Result<(), PumpError> {
    direction.drain(writer).await?;
    writer.write_all(bytes).await.map_err(PumpError::Write)?;
    writer.flush().await.map_err(PumpError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            whole_max: 1 << 20,
            stream_above: READ_CHUNK,
            oversize: Oversize::Reject,
        }
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[tokio::test]
    async fn forwards_everything_and_shows_each_message_once() {
        let mut input = Vec::new();
        for i in 0..1000u32 {
            input.extend(msg(b'D', &i.to_be_bytes().repeat(50)));
        }
        input.extend(msg(b'D', &vec![7u8; 300_000])); // larger than a read: streamed
        input.extend(msg(b'Z', b"I"));
        let (mut tx, mut rx) = tokio::io::duplex(8 * 1024);
        let feeder = {
            let input = input.clone();
            tokio::spawn(async move {
                tx.write_all(&input).await.unwrap();
            })
        };
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut d = Direction::new(BytesMut::new(), limits(), |t| t == b'D');
        let end = d
            .pump(&mut rx, &mut out, |tag, m| {
                seen.push((tag, m.len()));
                Flow::Forward
            })
            .await
            .unwrap();
        feeder.await.unwrap();
        assert!(matches!(end, PumpEnd::Eof));
        assert_eq!(out, input);
        assert_eq!(d.bytes, input.len() as u64);
        // The streamed DataRow is not shown whole; every other message is, once.
        assert_eq!(seen.len(), 1001);
        assert_eq!(seen.last(), Some(&(b'Z', 6)));
        assert!(d.at_boundary());
    }

    #[tokio::test]
    async fn rewriting_replaces_drops_and_keeps_order() {
        let mut input = Vec::new();
        for i in 0..500u32 {
            input.extend(msg(b'D', &i.to_be_bytes()));
            input.extend(msg(b'N', b"drop me"));
        }
        input.extend(msg(b'Z', b"I"));
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let feeder = {
            let input = input.clone();
            tokio::spawn(async move { tx.write_all(&input).await.unwrap() })
        };
        let mut out = Vec::new();
        let mut d = Direction::new(BytesMut::new(), limits(), |_| false);
        d.pump_rewriting(&mut rx, &mut out, |tag, m, out| {
            match tag {
                b'N' => {}
                b'D' => {
                    // Double each value.
                    let v = u32::from_be_bytes([m[5], m[6], m[7], m[8]]) * 2;
                    out.extend_from_slice(&msg(b'D', &v.to_be_bytes()));
                }
                _ => out.extend_from_slice(m),
            }
            Flow::Forward
        })
        .await
        .unwrap();
        feeder.await.unwrap();
        let mut expected = Vec::new();
        for i in 0..500u32 {
            expected.extend(msg(b'D', &(i * 2).to_be_bytes()));
        }
        expected.extend(msg(b'Z', b"I"));
        assert_eq!(out, expected);
        assert_eq!(d.bytes, expected.len() as u64);
    }

    #[tokio::test]
    async fn stops_after_a_message_that_asks_to() {
        let mut input = msg(b'Q', b"select 1\0");
        input.extend(msg(b'X', b""));
        input.extend(msg(b'Q', b"never\0"));
        let mut reader = &input[..];
        let mut out = Vec::new();
        let mut d = Direction::new(BytesMut::new(), limits(), |_| false);
        let end = d
            .pump(&mut reader, &mut out, |tag, _| {
                if tag == b'X' {
                    Flow::ForwardAndStop
                } else {
                    Flow::Forward
                }
            })
            .await
            .unwrap();
        assert!(matches!(end, PumpEnd::Stopped));
        assert_eq!(out, input[..input.len() - 11]);
    }

    #[tokio::test]
    async fn oversized_client_message_is_an_error_not_an_allocation() {
        let mut header = vec![b'Q'];
        header.extend_from_slice(&(1u32 << 30).to_be_bytes());
        let mut reader = &header[..];
        let mut out = Vec::new();
        let mut d = Direction::new(BytesMut::new(), limits(), |_| false);
        let err = d.pump(&mut reader, &mut out, |_, _| Flow::Forward).await;
        assert!(matches!(
            err,
            Err(PumpError::Protocol(ProtocolError::TooLarge { .. }))
        ));
        assert!(out.is_empty());
    }

    /// A masked session's rows go through its result filter whole: a row over the message bound
    /// ends the session instead of being buffered, however long it says it is.
    #[tokio::test]
    async fn a_row_too_large_to_filter_is_an_error_not_an_allocation() {
        let mut input = msg(b'D', &[0, 1, 0, 0, 0, 4, b'1', b'2', b'3', b'4']);
        input.push(b'D');
        input.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
        input.extend_from_slice(&[0, 1]);
        let mut reader = &input[..];
        let mut out = Vec::new();
        let mut d = Direction::from_upstream(BytesMut::new(), 1 << 20, true);
        let err = d.pump(&mut reader, &mut out, |_, _| Flow::Forward).await;
        assert!(matches!(
            err,
            Err(PumpError::Protocol(ProtocolError::TooLarge {
                tag: 'D',
                ..
            }))
        ));
        assert!(input[..15].starts_with(&out));
    }

    /// COPY data is not bound by the message bound, however small it is set; a Query is.
    #[tokio::test]
    async fn copy_data_streams_above_a_small_message_bound() {
        let copy = msg(b'd', &vec![b'x'; 100_000]);
        let mut reader = &copy[..];
        let mut out = Vec::new();
        let mut d = Direction::from_client(BytesMut::new(), 1024);
        let end = d.pump(&mut reader, &mut out, |_, _| Flow::Forward).await;
        assert!(matches!(end, Ok(PumpEnd::Eof)));
        assert_eq!(out, copy);

        let query = msg(b'Q', &vec![b' '; 100_000]);
        let mut reader = &query[..];
        let mut d = Direction::from_client(BytesMut::new(), 1024);
        let err = d
            .pump(&mut reader, &mut Vec::new(), |_, _| Flow::Forward)
            .await;
        assert!(matches!(
            err,
            Err(PumpError::Protocol(ProtocolError::TooLarge {
                tag: 'Q',
                ..
            }))
        ));
    }
}
