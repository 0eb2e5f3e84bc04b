//! Finds message boundaries in a byte stream as it arrives, without copying or holding it.
//!
//! The relay forwards whatever whole messages a read produced in one write, so a message is never
//! split unless it is larger than the relay's buffer; such a message is streamed through in pieces
//! (a huge DataRow or CopyData) and never held whole. That keeps memory per session bounded and
//! leaves the stream at a message boundary whenever jitgate needs to speak itself (a FATAL error
//! when a grant ends).

use super::{body_len, ProtocolError, HEADER_LEN};

/// What to do with messages too large to hold whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// A protocol error (client input: jitgate must see Query and Parse whole).
    Reject,
    /// Stream it through unseen (upstream output, which jitgate trusts to be well-formed).
    Stream,
}

/// Per-direction limits for the scanner.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages up to this size (header included) are gathered whole before forwarding; larger
    /// ones are streamed (see `stream_above`) or handled as `oversize` says, never buffered.
    pub whole_max: usize,
    /// Messages of a `passthrough` kind larger than this are streamed, even when `whole_max` allows more.
    pub stream_above: usize,
    pub oversize: Oversize,
}

/// One step through the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A whole message of `len` bytes (header included) starts here.
    Whole { tag: u8, len: usize },
    /// `len` bytes here belong to a message being streamed through.
    Partial { len: usize },
    /// Nothing more can be taken until the buffer holds `want` bytes from here.
    NeedMore { want: usize },
}

/// Message-boundary state of one direction of a connection.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Bytes of a streamed message still to come.
    streaming_left: usize,
}

impl Scanner {
    /// True when no message is half-forwarded: jitgate may insert its own message here.
    pub fn at_boundary(&self) -> bool {
        self.streaming_left == 0
    }

    /// Looks at the front of `buf`. `passthrough(tag)` says whether a kind of message may be
    /// streamed rather than seen whole (DataRow, CopyData).
    pub fn step(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        passthrough: impl Fn(u8) -> bool,
    ) -> Result<Step, ProtocolError> {
        if self.streaming_left > 0 {
            if buf.is_empty() {
                return Ok(Step::NeedMore { want: 1 });
            }
            let len = self.streaming_left.min(buf.len());
            self.streaming_left -= len;
            return Ok(Step::Partial { len });
        }
        if buf.len() < HEADER_LEN {
            return Ok(Step::NeedMore { want: HEADER_LEN });
        }
        let tag = buf[0];
        let total = body_len(tag, &buf[1..HEADER_LEN])? + HEADER_LEN;
        if total <= buf.len() {
            return Ok(Step::Whole { tag, len: total });
        }
        // Nothing larger than `whole_max` is gathered whole, passthrough kinds included: a
        // session that must see rows whole refuses a larger one rather than buffer it.
        let stream = if passthrough(tag) && total > limits.stream_above {
            true
        } else if total > limits.whole_max {
            match limits.oversize {
                Oversize::Stream => true,
                Oversize::Reject => {
                    return Err(ProtocolError::TooLarge {
                        tag: tag as char,
                        len: total,
                        max: limits.whole_max,
                    })
                }
            }
        } else {
            false
        };
        if stream {
            self.streaming_left = total - buf.len();
            Ok(Step::Partial { len: buf.len() })
        } else {
            Ok(Step::NeedMore { want: total })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        whole_max: 64,
        stream_above: 32,
        oversize: Oversize::Reject,
    };

    fn msg(tag: u8, body_len: usize) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
        m.extend(std::iter::repeat_n(b'x', body_len));
        m
    }

    fn is_data(tag: u8) -> bool {
        tag == b'd'
    }

    #[test]
    fn whole_messages_are_found_back_to_back() {
        let mut buf = msg(b'Q', 10);
        buf.extend(msg(b'S', 0));
        let mut s = Scanner::default();
        assert_eq!(
            s.step(&buf, &LIMITS, is_data).unwrap(),
            Step::Whole { tag: b'Q', len: 15 }
        );
        assert_eq!(
            s.step(&buf[15..], &LIMITS, is_data).unwrap(),
            Step::Whole { tag: b'S', len: 5 }
        );
        assert_eq!(
            s.step(&buf[20..], &LIMITS, is_data).unwrap(),
            Step::NeedMore { want: 5 }
        );
    }

    #[test]
    fn a_short_message_waits_to_be_whole() {
        let buf = msg(b'Q', 20);
        let mut s = Scanner::default();
        assert_eq!(
            s.step(&buf[..10], &LIMITS, is_data).unwrap(),
            Step::NeedMore { want: 25 }
        );
    }

    #[test]
    fn large_passthrough_messages_stream_and_return_to_a_boundary() {
        let buf = msg(b'd', 100);
        let mut s = Scanner::default();
        assert_eq!(
            s.step(&buf[..40], &LIMITS, is_data).unwrap(),
            Step::Partial { len: 40 }
        );
        assert!(!s.at_boundary());
        assert_eq!(
            s.step(&buf[40..], &LIMITS, is_data).unwrap(),
            Step::Partial { len: 65 }
        );
        assert!(s.at_boundary());
    }

    #[test]
    fn oversized_client_messages_are_refused_before_buffering() {
        let buf = msg(b'Q', 1000);
        let mut s = Scanner::default();
        assert!(matches!(
            s.step(&buf[..10], &LIMITS, is_data),
            Err(ProtocolError::TooLarge { tag: 'Q', .. })
        ));
    }

    /// A session whose rows must be seen whole never streams them; a DataRow claiming 2 GiB
    /// made it reserve 2 GiB before its first byte arrived (the bound the pg_codec fuzz target
    /// checks).
    #[test]
    fn rows_that_must_be_seen_whole_are_bounded_too() {
        let whole = Limits {
            whole_max: 64,
            stream_above: usize::MAX,
            oversize: Oversize::Reject,
        };
        let mut huge = vec![b'D'];
        huge.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
        huge.extend_from_slice(&[0, 1]);
        assert!(matches!(
            Scanner::default().step(&huge, &whole, |t| t == b'D'),
            Err(ProtocolError::TooLarge { tag: 'D', .. })
        ));
        let row = msg(b'D', 100);
        assert!(Scanner::default()
            .step(&row[..10], &whole, |t| t == b'D')
            .is_err());
        // Within the bound a row is still gathered whole.
        let row = msg(b'D', 50);
        assert_eq!(
            Scanner::default()
                .step(&row[..10], &whole, |t| t == b'D')
                .unwrap(),
            Step::NeedMore { want: 55 }
        );
    }

    #[test]
    fn impossible_lengths_are_refused() {
        let buf = [b'Q', 0, 0, 0, 3];
        assert!(Scanner::default().step(&buf, &LIMITS, is_data).is_err());
        let buf = [b'Q', 0xff, 0xff, 0xff, 0xff];
        assert!(Scanner::default().step(&buf, &LIMITS, is_data).is_err());
    }
}
