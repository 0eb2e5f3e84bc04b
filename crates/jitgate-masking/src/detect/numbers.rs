//! Detectors for numbers that start with a digit: SSNs, payment cards and phone numbers. Each
//! takes the text and a position where a number may start, and returns where its match ends.

use super::text::{context_before, digit_at, digits_at, ends_number, number_at};
use super::validate::{card_issuer_valid, luhn_valid, ssn_valid};

/// Words that make a bare nine-digit number an SSN (looked for within 40 bytes before it).
const SSN_CONTEXT: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"soc sec",
    b"ss#",
    b"ss no",
    b"taxpayer id",
    b"itin",
];
/// Words that make ten bare digits a phone number.
const PHONE_CONTEXT: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"mobile",
    b"cell",
    b"fax",
    b"call",
    b"sms",
    b"whatsapp",
    b"contact",
];
const CONTEXT_WINDOW: usize = 40;

/// `NNN-NN-NNNN` or `NNN NN NNNN` within the SSA's issued ranges; nine bare digits only after a
/// context word, since alone they are as likely an order number or a ZIP+4.
pub(super) fn ssn(t: &[u8], p: usize) -> Option<usize> {
    let run = digits_at(t, p);
    let end = if run == 3 {
        let sep = *t.get(p + 3)?;
        let shaped = matches!(sep, b'-' | b' ')
            && digits_at(t, p + 4) == 2
            && t.get(p + 6) == Some(&sep)
            && digits_at(t, p + 7) == 4;
        if !shaped {
            return None;
        }
        let valid = ssn_valid(
            number_at(t, p, 3) as u16,
            number_at(t, p + 4, 2) as u16,
            number_at(t, p + 7, 4) as u16,
        );
        (valid).then_some(p + 11)?
    } else if run == 9 {
        let valid = ssn_valid(
            number_at(t, p, 3) as u16,
            number_at(t, p + 3, 2) as u16,
            number_at(t, p + 5, 4) as u16,
        );
        (valid && context_before(t, p, CONTEXT_WINDOW, SSN_CONTEXT)).then_some(p + 9)?
    } else {
        return None;
    };
    ends_number(t, end).then_some(end)
}

/// 13 to 19 digits, bare or grouped with one kind of separator (space or dash), that pass Luhn
/// and belong to a card network's prefix and length. When grouped digits run on (a card number
/// followed by a year), the longest valid prefix ending at a group boundary is taken.
pub(super) fn card(t: &[u8], p: usize) -> Option<usize> {
    const MAX: usize = 19;
    let mut digits = [0u8; MAX];
    let mut n = 0;
    // (digit count, end offset) at each group end, longest last.
    let mut group_ends: [(usize, usize); 8] = [(0, 0); 8];
    let mut groups = 0;
    let mut sep = None;
    let mut i = p;
    loop {
        let run = digits_at(t, i);
        if run == 0 || n + run > MAX {
            break;
        }
        digits[n..n + run].copy_from_slice(&t[i..i + run]);
        n += run;
        i += run;
        if groups == group_ends.len() {
            break;
        }
        group_ends[groups] = (n, i);
        groups += 1;
        match (t.get(i), sep) {
            (Some(&s @ (b' ' | b'-')), None) if digit_at(t, i + 1) => {
                sep = Some(s);
                i += 1;
            }
            (Some(&s), Some(want)) if s == want && digit_at(t, i + 1) => i += 1,
            _ => break,
        }
    }
    group_ends[..groups].iter().rev().find_map(|&(count, end)| {
        let number = &digits[..count];
        let fits = (13..=MAX).contains(&count)
            && ends_number_or_group(t, end, sep)
            && card_issuer_valid(number)
            && luhn_valid(number);
        fits.then_some(end)
    })
}

/// A card may end before its own separator when more digit groups follow (`4111 … 1111 2026`).
fn ends_number_or_group(t: &[u8], end: usize, sep: Option<u8>) -> bool {
    ends_number(t, end) || (sep.is_some() && t.get(end).copied() == sep && digit_at(t, end + 1))
}

/// Phone numbers starting at digit `p`: E.164 (`+` before `p`), NANP written with separators
/// or parentheses, or ten bare digits (eleven with a leading 1) after a context word. Returns
/// the match start too, since `+` and `(` come before `p`.
pub(super) fn phone(t: &[u8], p: usize) -> Option<(usize, usize)> {
    let before = p.checked_sub(1).map(|i| t[i]);
    if before == Some(b'+') {
        return e164(t, p).map(|e| (p - 1, e));
    }
    if before == Some(b'(') {
        return nanp_after_paren(t, p).map(|e| (p - 1, e));
    }
    if let Some(e) = nanp(t, p) {
        return Some((p, e));
    }
    // "1-415-555-2671" or "1 (415) 555-2671": a country code 1 before a NANP number.
    if t[p] == b'1' && matches!(t.get(p + 1), Some(b'-' | b' ' | b'.')) {
        let rest = p + 2;
        let e = if t.get(rest) == Some(&b'(') {
            nanp_after_paren(t, rest + 1)
        } else {
            nanp(t, rest)
        };
        if let Some(e) = e {
            return Some((p, e));
        }
    }
    bare_with_context(t, p).map(|e| (p, e))
}

/// `+` and 8 to 15 digits (the E.164 maximum), grouped by single spaces, dashes or dots, or by
/// parentheses as in `+44 (0)20 7946 0958`.
fn e164(t: &[u8], p: usize) -> Option<usize> {
    if t[p] == b'0' {
        return None;
    }
    let mut count = 0;
    let mut i = p;
    let mut end = p;
    loop {
        let run = digits_at(t, i);
        if run == 0 {
            break;
        }
        count += run;
        i += run;
        end = i;
        match (t.get(i), t.get(i + 1)) {
            (Some(b' ' | b'-' | b'.'), Some(b'(')) => i += 2,
            (Some(b' ' | b'-' | b'.'), Some(d)) if d.is_ascii_digit() => i += 1,
            (Some(b'('), Some(d)) if d.is_ascii_digit() => i += 1,
            (Some(b')'), Some(b' ' | b'-')) if digit_at(t, i + 2) => i += 2,
            (Some(b')'), Some(d)) if d.is_ascii_digit() => i += 1,
            _ => break,
        }
    }
    ((8..=16).contains(&count) && ends_number(t, end)).then_some(end)
}

/// NXX area code, then exchange and line: `415-555-2671`, `415.555.2671`, `415 555-2671`.
/// Dots go together (`415.555 2671` is not a phone), and N is 2–9, as NANP requires.
fn nanp(t: &[u8], p: usize) -> Option<usize> {
    if digits_at(t, p) != 3 || !area_ok(t, p) {
        return None;
    }
    let s1 = *t.get(p + 3)?;
    if !matches!(s1, b'-' | b'.' | b' ') {
        return None;
    }
    exchange_and_line(t, p + 4, Some(s1))
}

/// After `(`: `NXX)` then an optional space or dash, then exchange and line.
fn nanp_after_paren(t: &[u8], p: usize) -> Option<usize> {
    if digits_at(t, p) != 3 || !area_ok(t, p) || t.get(p + 3) != Some(&b')') {
        return None;
    }
    let next = p + 4;
    let start = if matches!(t.get(next), Some(b' ' | b'-')) {
        next + 1
    } else {
        next
    };
    exchange_and_line(t, start, None)
}

fn area_ok(t: &[u8], p: usize) -> bool {
    // N11 codes (211, 911, …) are service codes, not area codes.
    (b'2'..=b'9').contains(&t[p]) && !(t[p + 1] == b'1' && t[p + 2] == b'1')
}

fn exchange_and_line(t: &[u8], q: usize, first_sep: Option<u8>) -> Option<usize> {
    if digits_at(t, q) != 3 || !(b'2'..=b'9').contains(&t[q]) {
        return None;
    }
    let s2 = *t.get(q + 3)?;
    let dots_match = (first_sep == Some(b'.')) == (s2 == b'.') || first_sep.is_none() && s2 != b'.';
    if !matches!(s2, b'-' | b'.' | b' ') || !dots_match || digits_at(t, q + 4) != 4 {
        return None;
    }
    let end = q + 8;
    ends_number(t, end).then_some(end)
}

fn bare_with_context(t: &[u8], p: usize) -> Option<usize> {
    let run = digits_at(t, p);
    let start = match run {
        10 => p,
        11 if t[p] == b'1' => p + 1,
        _ => return None,
    };
    let plausible = area_ok(t, start) && (b'2'..=b'9').contains(&t[start + 3]);
    let end = p + run;
    (plausible && ends_number(t, end) && context_before(t, p, CONTEXT_WINDOW, PHONE_CONTEXT))
        .then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at0(f: fn(&[u8], usize) -> Option<usize>, s: &str) -> Option<usize> {
        f(s.as_bytes(), 0)
    }

    #[test]
    fn ssn_shapes_and_ranges() {
        assert_eq!(at0(ssn, "123-45-6789"), Some(11));
        assert_eq!(at0(ssn, "123 45 6789."), Some(11));
        assert_eq!(at0(ssn, "123-45 6789"), None, "mixed separators");
        assert_eq!(at0(ssn, "666-45-6789"), None);
        assert_eq!(at0(ssn, "123-00-6789"), None);
        assert_eq!(at0(ssn, "123456789"), None, "no context");
        let t = b"SSN: 123456789";
        assert_eq!(ssn(t, 5), Some(14));
        assert_eq!(at0(ssn, "123-45-6789-1"), None);
    }

    #[test]
    fn cards_with_groups_and_run_on_digits() {
        assert_eq!(at0(card, "4111 1111 1111 1111"), Some(19));
        assert_eq!(at0(card, "4111-1111-1111-1111 2026"), Some(19));
        assert_eq!(at0(card, "4111 1111 1111 1111 2026"), Some(19));
        assert_eq!(at0(card, "3782 822463 10005"), Some(17));
        assert_eq!(at0(card, "2221000000000009"), Some(16));
        assert_eq!(at0(card, "4111111111111112"), None, "Luhn");
        assert_eq!(at0(card, "41111111111111111111"), None, "20 digits");
    }

    #[test]
    fn phones() {
        let p = |s: &str, at: usize| phone(s.as_bytes(), at);
        assert_eq!(p("+1 415 555 2671", 1), Some((0, 15)));
        assert_eq!(p("+44 (0)20 7946 0958", 1), Some((0, 19)));
        assert_eq!(p("(415) 555-2671", 1), Some((0, 14)));
        assert_eq!(p("415.555.2671", 0), Some((0, 12)));
        assert_eq!(p("1-800-555-0199", 0), Some((0, 14)));
        assert_eq!(p("192.168.100.200", 0), None);
        assert_eq!(p("2024-01-15", 0), None);
        assert_eq!(p("123-456-7890", 0), None, "area code starts with 1");
        assert_eq!(p("4155552671", 0), None, "bare digits need context");
        assert_eq!(p("call 4155552671", 5), Some((5, 15)));
    }
}
