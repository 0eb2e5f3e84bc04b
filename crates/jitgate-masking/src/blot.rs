//! Blotting key material out of what a masked subject receives.
//!
//! The SQL of keyed masks (hash, tokenize) carries the key-dependent half of each HMAC pad.
//! Whoever reads a pad can compute every pseudonym offline, so a server message that echoes the
//! rewritten statement (a plan, a statement log line, an error quoting SQL) must not reach the
//! subject with it. PostgreSQL shows a pad in a few spellings: the hex of the SQL literal, the
//! same hex in a folded `'\x…'::bytea` constant (both lower-case), and bytea's escape output when
//! `bytea_output = escape` (also with its backslashes doubled, as JSON plans print it).
//!
//! Every run of [`PIECE`] or more characters of any of these spellings is replaced by `*`, byte
//! for byte: a message keeps its length, so its framing stays valid, and a pad cut short by a
//! truncated echo loses every piece long enough to matter (a run shorter than [`PIECE`] hex
//! digits leaves more than 128 of the 256 key bits unknown). Spellings PostgreSQL does not
//! produce by itself (the decimal bytes of a parse-tree dump, a subject's own re-encoding with
//! `encode`, `translate`, `substr`, …) are out of reach here: those are kept from the subject
//! by dropping LOG and DEBUG notices and by refusing the statements that would compute them.
//!
//! The search looks for anchors, the aligned [`ANCHOR`]-long chunks of each spelling (every
//! [`PIECE`]-long run of a spelling holds one whole), and extends each hit both ways along its
//! spelling: a few dozen short patterns instead of every window, so clean text (every row of
//! a masked session) costs one fast pass.

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, MatchKind, Span};

/// Shortest run of a spelling that is blotted: 32 hex digits hold 128 bits of a pad.
pub const PIECE: usize = 32;

/// Length of the aligned chunks searched for; at most `(PIECE + 1) / 2`, so that every run of
/// `PIECE` holds a whole chunk.
const ANCHOR: usize = PIECE / 2;

/// A searcher for every piece of every spelling of a set of pads.
#[derive(Clone, Debug)]
pub(crate) struct KeyBlot {
    /// SIMD search for the anchors (Teddy), where the CPU has it.
    packed: Option<packed::Searcher>,
    anchors: AhoCorasick,
    /// Per anchor pattern: (spelling, offset of the chunk in it), for each place it occurs.
    places: Vec<Vec<(usize, usize)>>,
    spellings: Vec<Vec<u8>>,
}

impl KeyBlot {
    /// From the key-dependent bytes of each pad.
    pub(crate) fn new(pads: &[&[u8]]) -> Option<KeyBlot> {
        let spellings: Vec<Vec<u8>> = pads.iter().flat_map(|pad| spellings(pad)).collect();
        let mut chunks: Vec<(&[u8], (usize, usize))> = Vec::new();
        for (i, spelling) in spellings.iter().enumerate() {
            for at in (0..spelling.len().saturating_sub(ANCHOR - 1)).step_by(ANCHOR) {
                chunks.push((&spelling[at..at + ANCHOR], (i, at)));
            }
        }
        chunks.sort_unstable();
        let mut patterns: Vec<&[u8]> = Vec::new();
        let mut places: Vec<Vec<(usize, usize)>> = Vec::new();
        for (chunk, place) in chunks {
            if patterns.last() == Some(&chunk) {
                places.last_mut()?.push(place);
            } else {
                patterns.push(chunk);
                places.push(vec![place]);
            }
        }
        // Anchors are all as long and distinct, so at most one starts at any position: the
        // leftmost-first search restarted one byte after each hit finds them all.
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&patterns)
            .build();
        let anchors = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .ok()?;
        Some(KeyBlot {
            packed,
            anchors,
            places,
            spellings,
        })
    }

    /// Every anchor in `text`, as (pattern, start).
    fn anchor_hits(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let Some(packed) = &self.packed else {
            return self
                .anchors
                .find_overlapping_iter(text)
                .map(|m| (m.pattern().as_usize(), m.start()))
                .collect();
        };
        let mut hits = Vec::new();
        let mut from = 0;
        while from + ANCHOR <= text.len() {
            match packed.find_in(text, Span::from(from..text.len())) {
                Some(m) => {
                    hits.push((m.pattern().as_usize(), m.start()));
                    from = m.start() + 1;
                }
                None => break,
            }
        }
        hits
    }

    /// The runs of key material in `text`, as distinct byte ranges (possibly overlapping).
    fn runs(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        for (pattern, start) in self.anchor_hits(text) {
            for &(spelling, offset) in &self.places[pattern] {
                let run = extend(text, start, &self.spellings[spelling], offset);
                if run.1 - run.0 >= PIECE {
                    runs.push(run);
                }
            }
        }
        // Each anchor of a long run finds the same run.
        runs.sort_unstable();
        runs.dedup();
        runs
    }

    /// Whether `text` holds a piece of key material.
    pub(crate) fn finds_any(&self, text: &[u8]) -> bool {
        !self.runs(text).is_empty()
    }

    /// Replaces every piece of key material in `text` by `*`s; whether anything was replaced.
    pub(crate) fn blot(&self, text: &mut [u8]) -> bool {
        let runs = self.runs(text);
        for &(start, end) in &runs {
            text[start..end].fill(b'*');
        }
        !runs.is_empty()
    }
}

/// The longest range of `text` around `at` that matches `spelling` aligned so that `text[at]`
/// is `spelling[offset]`.
fn extend(text: &[u8], at: usize, spelling: &[u8], offset: usize) -> (usize, usize) {
    let before = text[..at]
        .iter()
        .rev()
        .zip(spelling[..offset].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let after = text[at..]
        .iter()
        .zip(&spelling[offset..])
        .take_while(|(a, b)| a == b)
        .count();
    (at - before, at + after)
}

/// How PostgreSQL prints a pad: hex (lower-case, as its SQL and bytea's hex output have it),
/// bytea escape output, and escape output with its backslashes doubled.
fn spellings(pad: &[u8]) -> [Vec<u8>; 3] {
    let mut hex = Vec::with_capacity(pad.len() * 2);
    crate::key::push_hex(&mut hex, pad);
    let escaped = bytea_escape(pad);
    let doubled = escaped
        .iter()
        .flat_map(|&b| if b == b'\\' { vec![b, b] } else { vec![b] })
        .collect();
    [hex, escaped, doubled]
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
    fn the_simd_and_the_automaton_searches_agree() {
        let pad = pad();
        let blot = KeyBlot::new(&[&pad]).expect("automaton");
        let automaton = KeyBlot {
            packed: None,
            ..blot.clone()
        };
        let mut text = b"plan: ".to_vec();
        for spelling in spellings(&pad) {
            text.extend_from_slice(&spelling[3..]);
            text.extend_from_slice(b" and ");
            text.extend_from_slice(&spelling[..PIECE + 1]);
            text.push(b'\n');
        }
        let mut by_simd = text.clone();
        let mut by_automaton = text.clone();
        assert!(blot.blot(&mut by_simd));
        assert!(automaton.blot(&mut by_automaton));
        assert_eq!(by_simd, by_automaton);
        assert_eq!(blot.runs(&text).len(), 6);
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
