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

/// Whether one of `words` (lowercase ASCII) appears within `window` bytes before `at`,
/// case-insensitively: the context that lets a bare nine-digit number be an SSN.
pub(super) fn context_before(t: &[u8], at: usize, window: usize, words: &[&[u8]]) -> bool {
    let hay = &t[at.saturating_sub(window)..at];
    words.iter().any(|w| {
        hay.windows(w.len()).any(|cand| {
            cand.iter()
                .zip(w.iter())
                .all(|(c, w)| c.to_ascii_lowercase() == *w)
        })
    })
}
