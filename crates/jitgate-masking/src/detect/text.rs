//! Byte-level helpers shared by the detectors: where tokens start and end, and context words.

/// Bytes that continue a word: a match must not start or end inside one.
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(super) fn digit_at(t: &[u8], i: usize) -> bool {
    t.get(i).is_some_and(u8::is_ascii_digit)
}

/// Number of ASCII digits starting at `i`.
pub(super) fn digits_at(t: &[u8], i: usize) -> usize {
    t.get(i..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Number of ASCII digits starting at `i`, as a value (callers bound the count).
pub(super) fn number_at(t: &[u8], i: usize, n: usize) -> u32 {
    t[i..i + n]
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// A token may start at `s`: nothing word-like just before it.
pub(super) fn starts_token(t: &[u8], s: usize) -> bool {
    s == 0 || !is_word(t[s - 1])
}

/// A number may start at `s`: a token start that does not continue a number such as `1.5`,
/// `10-20` or `1,000` (so `10.192.168.1.1` is not read as an address from its second part).
pub(super) fn starts_number(t: &[u8], s: usize) -> bool {
    starts_token(t, s)
        && !(s >= 2 && matches!(t[s - 1], b'.' | b'-' | b',' | b'/') && t[s - 2].is_ascii_digit())
}

/// A number may end at `e`: nothing word-like after it, and no `.5`, `-7`, `,000` continuing it.
pub(super) fn ends_number(t: &[u8], e: usize) -> bool {
    match t.get(e) {
        None => true,
        Some(&b) if is_word(b) => false,
        Some(b'.' | b'-' | b',' | b'/') => !digit_at(t, e + 1),
        Some(_) => true,
    }
}

/// Bytes that may stand between the digit groups of one number: dashes, dots, underscores,
/// slashes and white space (after folding, which turns en-dashes, no-break spaces and the like
/// into these).
pub(crate) fn is_sep(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'_' | b'/' | b' ' | b'\t' | b'\n' | b'\r')
}

/// The longest run of separators between two digit groups of one number (`4111  1111`,
/// `4111 -\n1111`).
pub(crate) const MAX_SEP: usize = 3;

/// Number of separator bytes at `i`, counted up to `MAX_SEP + 1`.
pub(super) fn sep_run(t: &[u8], i: usize) -> usize {
    t.get(i..).map_or(0, |rest| {
        rest.iter()
            .take(MAX_SEP + 1)
            .take_while(|b| is_sep(**b))
            .count()
    })
}

/// Where the next digit group starts, when 1 to `MAX_SEP` separators at `i` lead to a digit.
pub(super) fn after_sep(t: &[u8], i: usize) -> Option<usize> {
    let n = sep_run(t, i);
    ((1..=MAX_SEP).contains(&n) && digit_at(t, i + n)).then_some(i + n)
}

/// Whether one of `words` (lowercase ASCII) appears within `window` bytes before `at`,
/// case-insensitively, a space inside a word standing for 0 to `MAX_SEP` separators
/// (`Social-Security no.`, `SocialSecurity`) and one ending a word for 1 to `MAX_SEP`: the
/// context that lets a bare nine-digit number be an SSN.
pub(super) fn context_before(t: &[u8], at: usize, window: usize, words: &[&[u8]]) -> bool {
    let hay = &t[at.saturating_sub(window)..at];
    words
        .iter()
        .any(|w| (0..hay.len()).any(|i| word_at(&hay[i..], w)))
}

/// Whether `hay` starts with `word` as [`context_before`] matches it.
fn word_at(hay: &[u8], word: &[u8]) -> bool {
    match word.split_first() {
        None => true,
        Some((b' ', rest)) => (usize::from(rest.is_empty())..=MAX_SEP)
            .take_while(|&n| n == 0 || hay.get(n - 1).is_some_and(|b| is_sep(*b)))
            .any(|n| word_at(&hay[n..], rest)),
        Some((w, rest)) => hay
            .first()
            .is_some_and(|h| h.to_ascii_lowercase() == *w && word_at(&hay[1..], rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_words_take_any_separators() {
        let ssn: &[&[u8]] = &[b"social security", b"ssn"];
        for t in [
            "Social-Security no. ",
            "social_security ",
            "SocialSecurity: ",
            "SOCIAL  SECURITY ",
            "the SSN is ",
        ] {
            assert!(context_before(t.as_bytes(), t.len(), 40, ssn), "{t}");
        }
        for t in ["social    security ", "socia security ", "s s n "] {
            assert!(!context_before(t.as_bytes(), t.len(), 40, ssn), "{t}");
        }
        let ver: &[&[u8]] = &[b"ver "];
        assert!(context_before(b"ver. ", 5, 12, ver));
        assert!(!context_before(b"verify ", 7, 12, ver));
    }

    #[test]
    fn separator_runs_join_groups() {
        assert_eq!(after_sep(b"1 -\n2", 1), Some(4));
        assert_eq!(after_sep(b"1    2", 1), None);
        assert_eq!(after_sep(b"1 x", 1), None);
    }
}
