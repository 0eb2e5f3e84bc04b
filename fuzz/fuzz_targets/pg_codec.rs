//! The PostgreSQL relay's framing, in both directions, with the limits the sessions use: any
//! byte stream, split into reads anywhere, is forwarded byte for byte up to a protocol error or
//! its end; every message shown to the session is whole and framed by its own length word; and
//! what a direction buffers is bounded by its limits, whatever the length words claim. The
//! statement log and the readers of server message bodies take every whole message.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::BytesMut;
use jitgate_pg::codec::backend::{command_rows, fields, sqlstate};
use jitgate_pg::codec::{read_message, take_cstr};
use jitgate_pg::relay::{Direction, Flow, READ_CHUNK};
use jitgate_pg::statements::StatementLog;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// The system allocator, remembering the largest block asked for: what a length word can make
/// the relay reserve is the bound that matters, not what this input happened to send.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// A peer whose bytes arrive in the reads the fuzzer chose.
struct Chunked<'a> {
    chunks: Vec<&'a [u8]>,
    next: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while let Some(chunk) = self.chunks.get(self.next).copied() {
            if chunk.is_empty() {
                self.next += 1;
                continue;
            }
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            let next = self.next;
            if n == chunk.len() {
                self.next += 1;
            } else {
                self.chunks[next] = &chunk[n..];
            }
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(Ok(()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Client,
    /// A session whose rows a result filter must see whole.
    GuardedServer,
    Server,
}

/// The input: a side, the configured message bound, how reads split the stream, the stream.
/// A plain layout (`[side, bound, bound, split, stream…]`) keeps seeds easy to write.
#[derive(Debug)]
struct Input<'a> {
    side: Side,
    whole_max: usize,
    chunks: Vec<&'a [u8]>,
}

fn input(data: &[u8]) -> Option<Input<'_>> {
    let [side, hi, lo, split, stream @ ..] = data else {
        return None;
    };
    let side = match side % 3 {
        0 => Side::Client,
        1 => Side::GuardedServer,
        _ => Side::Server,
    };
    // The configured bound is 1024 bytes at least; small ones make oversize paths reachable.
    let whole_max = 1024 + 16 * usize::from(u16::from_be_bytes([*hi, *lo]));
    // Split 0 is one read; others cut reads of 1..=64 bytes from a small generator.
    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(*split);
    while !rest.is_empty() {
        let n = if *split == 0 {
            rest.len()
        } else {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as usize % 64 + 1).min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    Some(Input {
        side,
        whole_max,
        chunks,
    })
}

/// The direction a session sets up for this side.
fn direction(side: Side, whole_max: usize) -> Direction {
    match side {
        Side::Client => Direction::from_client(BytesMut::new(), whole_max),
        Side::GuardedServer => Direction::from_upstream(BytesMut::new(), whole_max, true),
        Side::Server => Direction::from_upstream(BytesMut::new(), whole_max, false),
    }
}

/// The most a direction may reserve: a message it gathers whole (up to `whole_max`, or rows
/// from an unfiltered upstream up to a read), and reads on top of it.
fn buffer_bound(side: Side, whole_max: usize) -> usize {
    let gathered = match side {
        Side::Server => whole_max.max(READ_CHUNK),
        Side::Client | Side::GuardedServer => whole_max,
    };
    2 * (gathered + 2 * READ_CHUNK)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else { return };
    let stream: Vec<u8> = input.chunks.concat();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    LARGEST.store(0, Ordering::Relaxed);
    let mut direction = direction(input.side, input.whole_max);
    let mut reader = Chunked {
        chunks: input.chunks.clone(),
        next: 0,
    };
    let mut written: Vec<u8> = Vec::new();
    let mut log = StatementLog::default();
    let side = input.side;
    let result = runtime.block_on(direction.pump(&mut reader, &mut written, |tag, msg| {
        assert!(
            msg.len() >= 5 && msg[0] == tag,
            "a message without its header"
        );
        let len = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]) as usize;
        assert_eq!(
            len + 1,
            msg.len(),
            "a message not framed by its length word"
        );
        match side {
            Side::Client => log.client_message(tag, msg),
            _ => {
                let body = &msg[5..];
                let _ = fields(body).count();
                let _ = sqlstate(body);
                let _ = command_rows(body);
                let _ = log.server_message(tag, msg, |_| {});
            }
        }
        if tag == b'X' {
            Flow::ForwardAndStop
        } else {
            Flow::Forward
        }
    }));
    assert!(
        stream.starts_with(&written),
        "the relay forwarded bytes it was not sent"
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= buffer_bound(side, input.whole_max) + 2 * stream.len(),
        "{side:?} (whole_max {}) reserved {largest} bytes after {} bytes of input ({result:?})",
        input.whole_max,
        stream.len()
    );

    // The start-up phase's reader of whole messages over the same bytes.
    let mut reader: &[u8] = &stream;
    let mut buf = BytesMut::new();
    for _ in 0..16 {
        match runtime.block_on(read_message(&mut reader, &mut buf, input.whole_max)) {
            Ok(msg) => {
                let mut body: &[u8] = &msg.body;
                while let Ok(s) = take_cstr(&mut body, "fuzz") {
                    if s.is_empty() {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
});
