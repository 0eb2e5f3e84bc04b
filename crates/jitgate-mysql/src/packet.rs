//! MySQL packet framing: a 3-byte little-endian length, a sequence number, the payload.
//! Packets are read one physical packet at a time (a payload of 16 MiB − 1 bytes continues in
//! the next packet), so a relay never holds more than one packet of a result.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload of one physical packet; a payload this long continues in the next.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("connection closed")]
    Closed,
    #[error("packet of {0} bytes is larger than allowed here")]
    TooLarge(usize),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How much a reader reads into at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Below this much spare room, a reader makes room for [`READ_CHUNK`] before it reads.
const READ_MIN: usize = 4 * 1024;

/// One physical packet.
#[derive(Debug, Clone)]
pub struct Packet {
    pub seq: u8,
    pub payload: Bytes,
}

impl Packet {
    /// The first payload byte (the command, or the response's kind), 0 for an empty payload.
    pub fn first(&self) -> u8 {
        self.payload.first().copied().unwrap_or(0)
    }

    /// Whether the payload continues in the next packet.
    pub fn continues(&self) -> bool {
        self.payload.len() == MAX_PAYLOAD
    }
}

/// Reads packets from one side of a connection.
pub struct PacketReader<R> {
    inner: R,
    buf: BytesMut,
    /// Largest payload accepted (at most [`MAX_PAYLOAD`]).
    max: usize,
    /// Bytes read so far.
    pub bytes: u64,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        PacketReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max: max.min(MAX_PAYLOAD),
            bytes: 0,
        }
    }

    pub fn set_max(&mut self, max: usize) {
        self.max = max.min(MAX_PAYLOAD);
    }

    /// Whether a whole packet (or more) is already buffered: a relay flushes what it wrote
    /// before it waits for more.
    pub fn has_packet(&self) -> bool {
        self.buf.len() >= 4 && self.buf.len() >= 4 + payload_len(&self.buf)
    }

    /// The next packet; [`PacketError::Closed`] when the peer closed the connection.
    pub async fn next(&mut self) -> Result<Packet, PacketError> {
        loop {
            if self.buf.len() >= 4 {
                let len = payload_len(&self.buf);
                if len > self.max {
                    return Err(PacketError::TooLarge(len));
                }
                if self.buf.len() >= 4 + len {
                    let seq = self.buf[3];
                    self.buf.advance(4);
                    let payload = self.buf.split_to(len).freeze();
                    return Ok(Packet { seq, payload });
                }
                self.buf.reserve(4 + len - self.buf.len());
            }
            // Each packet taken splits the buffer's front off, so its spare room shrinks; read
            // into a whole chunk again (reclaimed in place once the packets handed out are
            // dropped), or reads would come a few bytes, or a packet, at a time.
            if self.buf.capacity() - self.buf.len() < READ_MIN {
                self.buf.reserve(READ_CHUNK);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(PacketError::Closed);
            }
            self.bytes += n as u64;
        }
    }

    pub fn into_inner(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }
}

fn payload_len(b: &[u8]) -> usize {
    usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16
}

/// Writes packets to one side, batching them until [`PacketWriter::flush`].
pub struct PacketWriter<W> {
    inner: W,
    out: BytesMut,
    /// Bytes written so far.
    pub bytes: u64,
}

/// Past this many buffered bytes a write goes out without waiting for a flush.
const FLUSH_AT: usize = 64 * 1024;

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner,
            out: BytesMut::with_capacity(16 * 1024),
            bytes: 0,
        }
    }

    /// Queues one packet (the payload must be at most [`MAX_PAYLOAD`] bytes).
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> std::io::Result<()> {
        let len = payload.len().min(MAX_PAYLOAD) as u32;
        self.out.extend_from_slice(&len.to_le_bytes()[..3]);
        self.out.extend_from_slice(&[seq]);
        self.out.extend_from_slice(&payload[..len as usize]);
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.inner.write_all(&self.out).await?;
            self.bytes += self.out.len() as u64;
            self.out.clear();
        }
        self.inner.flush().await
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.inner.shutdown().await;
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
#[path = "tests_packet.rs"]
mod tests;
