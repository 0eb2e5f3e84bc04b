//! Blotting key material out of what a masked subject receives.
//!
//! The SQL of keyed masks (hash, tokenize) carries the key-dependent half of each HMAC pad.
//! Whoever reads a pad can compute every pseudonym offline, so a server message that echoes the
//! rewritten statement (a plan, a statement log line, an error quoting SQL) must not reach the
//! subject with it. PostgreSQL shows a pad in a few spellings: the hex of the SQL literal, the
//! same hex in a folded `'\x…'::bytea` constant, and bytea's escape output when
//! `bytea_output = escape` (also with its backslashes doubled, as JSON plans print it).
//!
//! Every run of [`PIECE`] or more characters of any of these spellings is replaced by `*`, byte
//! for byte: a message keeps its length, so its framing stays valid, and a pad cut short by a
//! truncated echo loses every piece long enough to matter (fewer than [`PIECE`] hex digits
//! leave at least 192 of the 256 key bits unknown). Spellings PostgreSQL does not produce by
//! itself (the decimal bytes of a parse-tree dump, a subject's own re-encoding with `encode`,
//! `translate`, …) are out of reach here: those are kept from the subject by dropping LOG and
//! DEBUG notices and by refusing the statements that would compute them.

use aho_corasick::{AhoCorasick, MatchKind};

/// Shortest run of a spelling that is blotted: 16 hex digits hold 64 bits of a pad.
pub const PIECE: usize = 16;

/// A searcher for every piece of every spelling of a set of pads.
#[derive(Clone, Debug)]
pub(crate) struct KeyBlot {
    pieces: AhoCorasick,
}

impl KeyBlot {
    /// From the key-dependent bytes of each pad.
    pub(crate) fn new(pads: &[&[u8]]) -> Option<KeyBlot> {
        let mut pieces: Vec<Vec<u8>> = pads
            .iter()
            .flat_map(|pad| spellings(pad))
            .flat_map(|spelling| {
                spelling
                    .windows(PIECE)
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        pieces.sort_unstable();
        pieces.dedup();
        let pieces = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&pieces)
            .ok()?;
        Some(KeyBlot { pieces })
    }

    /// Whether `text` holds a piece of key material.
    pub(crate) fn finds_any(&self, text: &[u8]) -> bool {
        self.pieces.is_match(text)
    }

    /// Replaces every piece of key material in `text` by `*`s; whether anything was replaced.
    pub(crate) fn blot(&self, text: &mut [u8]) -> bool {
        if !self.finds_any(text) {
            return false;
        }
        let found: Vec<(usize, usize)> = self
            .pieces
            .find_overlapping_iter(&*text)
            .map(|m| (m.start(), m.end()))
            .collect();
        for (start, end) in found {
            text[start..end].fill(b'*');
        }
        true
    }
}

/// How PostgreSQL can print a pad: lower- and upper-case hex, bytea escape output, and escape
/// output with its backslashes doubled.
fn spellings(pad: &[u8]) -> [Vec<u8>; 4] {
    let mut lower = Vec::with_capacity(pad.len() * 2);
    crate::key::push_hex(&mut lower, pad);
    let upper = lower.to_ascii_uppercase();
    let escaped = bytea_escape(pad);
    let doubled = escaped
        .iter()
        .flat_map(|&b| if b == b'\\' { vec![b, b] } else { vec![b] })
        .collect();
    [lower, upper, escaped, doubled]
}

/// PostgreSQL's `bytea_output = escape`: printable ASCII as is, a backslash doubled, every other
/// byte as a three-digit octal escape.
fn bytea_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                out.push(b'\\');
                out.push(b'0' + (b >> 6));
                out.push(b'0' + ((b >> 3) & 7));
                out.push(b'0' + (b & 7));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pad() -> Vec<u8> {
        (0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5c).collect()
    }

    #[test]
    fn escape_output_matches_postgresql() {
        // SELECT decode('36a1ff0b5c363636', 'hex') with bytea_output = escape.
        let bytes = [0x36, 0xa1, 0xff, 0x0b, 0x5c, 0x36, 0x36, 0x36];
        assert_eq!(bytea_escape(&bytes), b"6\\241\\377\\013\\\\666".to_vec());
    }

    #[test]
    fn every_spelling_is_blotted_whole_and_the_length_kept() {
        let pad = pad();
        let blot = KeyBlot::new(&[&pad]).expect("automaton");
        for spelling in spellings(&pad) {
            let mut text = b"Output: sha256(byteacat('\\x".to_vec();
            text.extend_from_slice(&spelling);
            text.extend_from_slice(b"'::bytea, x))");
            let len = text.len();
            assert!(blot.blot(&mut text));
            assert_eq!(text.len(), len);
            assert!(!text
                .windows(PIECE)
                .any(|w| spelling.windows(PIECE).any(|s| s == w)));
            let stars = text.iter().filter(|&&b| b == b'*').count();
            assert_eq!(stars, spelling.len(), "the whole spelling, nothing else");
        }
    }

    #[test]
    fn a_truncated_echo_loses_every_long_piece() {
        let pad = pad();
        let blot = KeyBlot::new(&[&pad]).expect("automaton");
        let mut hex = Vec::new();
        crate::key::push_hex(&mut hex, &pad);
        // Cut at both ends, as an echo truncated to a column width would be.
        let mut text = hex[7..55].to_vec();
        assert!(blot.blot(&mut text));
        assert!(text.iter().all(|&b| b == b'*'));
        // Fewer than PIECE digits are not key material enough to blot.
        let mut short = hex[..PIECE - 1].to_vec();
        assert!(!blot.blot(&mut short));
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let blot = KeyBlot::new(&[&pad()]).expect("automaton");
        let mut text = b"0123456789abcdef0123456789abcdef deadbeef".to_vec();
        let before = text.clone();
        assert!(!blot.blot(&mut text));
        assert_eq!(text, before);
    }
}
