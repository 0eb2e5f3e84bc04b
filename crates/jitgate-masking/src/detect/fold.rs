//! Compatibility folding before matching: text that writes a value with other characters than
//! ASCII (fullwidth digits `１２３`, a fullwidth `＠`, an en-dash or a no-break space between
//! digit groups, superscripts, a zero-width space) is matched as the ASCII it stands for, and
//! findings are reported as ranges of the original text.
//!
//! The fold is one character to one ASCII byte, so that PostgreSQL's and Spark's `translate`
//! can apply exactly the same table ([`table`]) before the SQL forms of `scan` match:
//! - a character whose compatibility decomposition (NFKD, which agrees with NFKC on one
//!   character) is a single printable ASCII character becomes that character;
//! - dash punctuation and minus signs become `-`; spaces, line separators, zero-width and
//!   direction marks become a space.
//!
//! Left alone, and so not matched as digits or letters: compatibility characters that stand for
//! several characters (`⑩`, `½`, `㏡`), and the mathematical alphanumeric symbols
//! (U+1D400–U+1D7FF, a thousand styled letters and digits that no data entry produces, and that
//! would make the SQL form's table four times larger).

use std::sync::OnceLock;

use unicode_normalization::char::decompose_compatible;

/// Dash punctuation (Unicode's Pd) and minus signs that decompose to no ASCII character.
const DASHES: &[char] = &[
    '\u{058A}',
    '\u{05BE}',
    '\u{1400}',
    '\u{1806}',
    '\u{2010}',
    '\u{2011}',
    '\u{2012}',
    '\u{2013}',
    '\u{2014}',
    '\u{2015}',
    '\u{2043}',
    '\u{2212}',
    '\u{2796}',
    '\u{2E17}',
    '\u{2E1A}',
    '\u{2E3A}',
    '\u{2E3B}',
    '\u{2E40}',
    '\u{2E5D}',
    '\u{301C}',
    '\u{3030}',
    '\u{30A0}',
    '\u{FE31}',
    '\u{FE32}',
    '\u{FE58}',
    '\u{02D7}',
    '\u{10EAD}',
];

/// Spaces without a decomposition, and invisible characters that may sit between digits.
const BLANKS: &[char] = &[
    '\u{00AD}', '\u{1680}', '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}',
    '\u{2028}', '\u{2029}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2060}',
    '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
    '\u{FEFF}',
];

/// The ASCII byte a non-ASCII character is matched as, if any.
pub(crate) fn fold_char(c: char) -> Option<u8> {
    if c.is_ascii() || ('\u{1D400}'..='\u{1D7FF}').contains(&c) {
        return None;
    }
    if DASHES.contains(&c) {
        return Some(b'-');
    }
    if BLANKS.contains(&c) {
        return Some(b' ');
    }
    let mut count = 0;
    let mut only = c;
    decompose_compatible(c, |d| {
        count += 1;
        only = d;
    });
    match only {
        ' '..='~' if count == 1 => Some(only as u8),
        d if count == 1 && DASHES.contains(&d) => Some(b'-'),
        _ => None,
    }
}

/// Every folded character and its ASCII byte, in code point order, for binary search (built
/// once, on first use, from [`fold_char`] over every code point).
fn map() -> &'static [(char, u8)] {
    static MAP: OnceLock<Vec<(char, u8)>> = OnceLock::new();
    MAP.get_or_init(|| {
        (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter_map(|c| fold_char(c).map(|b| (c, b)))
            .collect()
    })
}

fn lookup(c: char) -> Option<u8> {
    let map = map();
    map.binary_search_by_key(&c, |&(k, _)| k)
        .ok()
        .map(|i| map[i].1)
}

/// Every folded character and what it folds to, in code point order: `(from, to)` for
/// `translate(text, from, to)`.
pub(crate) fn table() -> (String, String) {
    map().iter().map(|&(c, b)| (c, char::from(b))).unzip()
}

/// One folded character: where it is in the folded text and in the original.
#[derive(Clone, Copy)]
struct Edit {
    folded: usize,
    original: usize,
    len: usize,
}

/// Folded text, and where its folded characters came from (everything between them is
/// copied byte for byte).
pub(crate) struct Folded {
    pub(crate) text: Vec<u8>,
    edits: Vec<Edit>,
}

impl Folded {
    /// The original byte range of the folded range `start..end` (non-empty; detectors start and
    /// end findings on ASCII or folded characters).
    pub(crate) fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.position(start).0, self.position(end - 1).1)
    }

    /// The original range of the byte at `at` of the folded text.
    fn position(&self, at: usize) -> (usize, usize) {
        let i = self.edits.partition_point(|e| e.folded <= at);
        match i.checked_sub(1).map(|i| self.edits[i]) {
            None => (at, at + 1),
            Some(e) if e.folded == at => (e.original, e.original + e.len),
            Some(e) => {
                let o = e.original + e.len + (at - e.folded - 1);
                (o, o + 1)
            }
        }
    }
}

/// `t` folded, or `None` when nothing in it folds (all ASCII, the common case, costs one pass
/// of [`<[u8]>::is_ascii`]; other text one lookup per non-ASCII character). Bytes that are not
/// UTF-8 are kept as they are.
pub(crate) fn fold(t: &[u8]) -> Option<Folded> {
    if t.is_ascii() {
        return None;
    }
    let mut text: Vec<u8> = Vec::new();
    let mut edits = Vec::new();
    // Bytes of `t` before `copied` are in `text` already.
    let mut copied = 0;
    let mut at = 0;
    // From one non-ASCII byte to the next: ASCII runs are skipped a chunk at a time.
    while let Some(n) = next_non_ascii(&t[at..]) {
        at += n;
        let (c, len) = char_at(&t[at..]);
        if let Some(b) = c.and_then(lookup) {
            if edits.is_empty() {
                text.reserve(t.len());
            }
            text.extend_from_slice(&t[copied..at]);
            edits.push(Edit {
                folded: text.len(),
                original: at,
                len,
            });
            text.push(b);
            copied = at + len;
        }
        at += len;
    }
    if edits.is_empty() {
        return None;
    }
    text.extend_from_slice(&t[copied..]);
    Some(Folded { text, edits })
}

/// The offset of the first byte of `t` that is not ASCII.
fn next_non_ascii(t: &[u8]) -> Option<usize> {
    const CHUNK: usize = 16;
    let mut i = 0;
    while let Some(chunk) = t.get(i..i + CHUNK) {
        if !chunk.is_ascii() {
            break;
        }
        i += CHUNK;
    }
    t.get(i..)?
        .iter()
        .position(|b| !b.is_ascii())
        .map(|n| i + n)
}

/// The character that starts `t` (a non-ASCII byte), and its length; an invalid byte is no
/// character and one byte long.
fn char_at(t: &[u8]) -> (Option<char>, usize) {
    let len = match t[0] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return (None, 1),
    };
    match t.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next(), len),
        _ => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_what_data_entry_produces() {
        for (c, b) in [
            ('１', b'1'),
            ('＠', b'@'),
            ('．', b'.'),
            ('Ｓ', b'S'),
            ('\u{00A0}', b' '),
            ('\u{3000}', b' '),
            ('–', b'-'),
            ('—', b'-'),
            ('\u{2212}', b'-'),
            ('\u{200B}', b' '),
            ('²', b'2'),
            ('①', b'1'),
        ] {
            assert_eq!(fold_char(c), Some(b), "{c:?}");
        }
        for c in ['é', 'ß', '⑩', '½', '中', '\u{1D7CE}', 'a'] {
            assert_eq!(fold_char(c), None, "{c:?}");
        }
    }

    #[test]
    fn ranges_map_back_to_the_original() {
        let t = "n° １２３–45 x".as_bytes();
        let f = fold(t).expect("folds");
        assert_eq!(f.text, "n° 123-45 x".as_bytes());
        let start = 4; // "1" after "n° " (° is two bytes)
        assert_eq!(&f.text[start..start + 6], b"123-45");
        let (s, e) = f.original(start, start + 6);
        assert_eq!(std::str::from_utf8(&t[s..e]), Ok("１２３–45"));
        assert!(fold(b"plain ascii").is_none());
        assert!(fold("caf\u{e9}".as_bytes()).is_none(), "nothing folds");
        let broken = [b'1', 0xFF, 0xEF, 0xBC, 0x91];
        let f = fold(&broken).expect("folds around invalid bytes");
        assert_eq!(f.text, vec![b'1', 0xFF, b'1']);
        assert_eq!(f.original(2, 3), (2, 5));
    }

    #[test]
    fn the_table_lists_every_fold_once() {
        let (from, to) = table();
        assert_eq!(from.chars().count(), to.len());
        for (c, b) in from.chars().zip(to.bytes()) {
            assert_eq!(fold_char(c), Some(b));
        }
        assert!(to.is_ascii());
        assert!(from.contains('１') && from.contains('–') && !from.contains('⑩'));
    }
}
