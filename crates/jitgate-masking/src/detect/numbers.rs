//! Detectors for numbers that start with a digit: SSNs, payment cards and phone numbers. Each
//! takes the text and a position where a number may start, and returns where its match ends.

use super::text::{
    after_sep, context_before, digit_at, digits_at, ends_number, number_at, sep_run,
};
use super::validate::{card_issuer_valid, luhn_valid, ssn_valid};

/// Words that make a bare nine-digit number an SSN (looked for within 40 bytes before it; a
/// space stands for any separators, or none).
pub(crate) const SSN_CONTEXT: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"soc sec",
    b"ss#",
    b"ss no",
    b"ss num",
    b"taxpayer id",
    b"itin",
];
/// Words that make ten bare digits a phone number.
pub(crate) const PHONE_CONTEXT: &[&[u8]] = &[
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
pub(crate) const CONTEXT_WINDOW: usize = 40;

/// `NNN-NN-NNNN` (the groups joined by any separators: `123.45.6789`, `123 – 45 – 6789`) within
/// the SSA's issued ranges; nine bare digits only after a context word, since alone they are as
/// likely an order number or a ZIP+4.
pub(super) fn ssn(t: &[u8], p: usize) -> Option<usize> {
    let run = digits_at(t, p);
    let end = if run == 3 {
        let group = after_sep(t, p + 3).filter(|&q| digits_at(t, q) == 2)?;
        let serial = after_sep(t, group + 2).filter(|&r| digits_at(t, r) == 4)?;
        let valid = ssn_valid(
            number_at(t, p, 3) as u16,
            number_at(t, group, 2) as u16,
            number_at(t, serial, 4) as u16,
        );
        (valid).then_some(serial + 4)?
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

/// 13 to 19 digits, bare or in groups joined by separators (`4111.1111.1111.1111`,
/// `4111  1111`, a group broken onto the next line), that pass Luhn and belong to a card
/// network's prefix and length. When grouped digits run on (a card number followed by a year),
/// the longest valid prefix ending at a group boundary is taken.
pub(super) fn card(t: &[u8], p: usize) -> Option<usize> {
    const MAX: usize = 19;
    let mut digits = [0u8; MAX];
    let mut n = 0;
    // (digit count, end offset) at each group end, longest last.
    let mut group_ends: [(usize, usize); 8] = [(0, 0); 8];
    let mut groups = 0;
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
        match after_sep(t, i) {
            Some(next) => i = next,
            None => break,
        }
    }
    group_ends[..groups].iter().rev().find_map(|&(count, end)| {
        let number = &digits[..count];
        let fits = (13..=MAX).contains(&count)
            && ends_number_or_group(t, end)
            && card_issuer_valid(number)
            && luhn_valid(number);
        fits.then_some(end)
    })
}

/// A card may end before its own separator when more digit groups follow (`4111 … 1111 2026`).
fn ends_number_or_group(t: &[u8], end: usize) -> bool {
    ends_number(t, end) || after_sep(t, end).is_some()
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
    let gap = sep_run(t, p + 1);
    if t[p] == b'1' && (1..=MAX_GAP).contains(&gap) {
        let rest = p + 1 + gap;
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

/// The longest run of separators between the groups of a phone number.
const MAX_GAP: usize = super::text::MAX_SEP;

/// `+` and 8 to 15 digits (the E.164 maximum), in groups joined by separators, or by
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
        let gap = sep_run(t, i).min(MAX_GAP + 1);
        let j = i + gap;
        match t.get(j) {
            _ if gap > MAX_GAP => break,
            Some(b'(') if digit_at(t, j + 1) => i = j + 1,
            Some(b')') if gap == 0 => {
                let k = j + 1 + sep_run(t, j + 1);
                if sep_run(t, j + 1) > MAX_GAP || !digit_at(t, k) {
                    break;
                }
                i = k;
            }
            Some(d) if gap > 0 && d.is_ascii_digit() => i = j,
            _ => break,
        }
    }
    ((8..=16).contains(&count) && ends_number(t, end)).then_some(end)
}

/// NXX area code, then exchange and line, joined by separators: `415-555-2671`,
/// `415.555.2671`, `415 555-2671`, `394/757/5964`. N is 2–9, as NANP requires.
fn nanp(t: &[u8], p: usize) -> Option<usize> {
    if digits_at(t, p) != 3 || !area_ok(t, p) {
        return None;
    }
    exchange_and_line(t, after_sep(t, p + 3)?)
}

/// After `(`: `NXX)` then up to three separators, then exchange and line.
fn nanp_after_paren(t: &[u8], p: usize) -> Option<usize> {
    if digits_at(t, p) != 3 || !area_ok(t, p) || t.get(p + 3) != Some(&b')') {
        return None;
    }
    let next = p + 4;
    let gap = sep_run(t, next);
    if gap > MAX_GAP {
        return None;
    }
    exchange_and_line(t, next + gap)
}

fn area_ok(t: &[u8], p: usize) -> bool {
    // N11 codes (211, 911, …) are service codes, not area codes.
    (b'2'..=b'9').contains(&t[p]) && !(t[p + 1] == b'1' && t[p + 2] == b'1')
}

fn exchange_and_line(t: &[u8], q: usize) -> Option<usize> {
    if digits_at(t, q) != 3 || !(b'2'..=b'9').contains(&t[q]) {
        return None;
    }
    let line = after_sep(t, q + 3).filter(|&r| digits_at(t, r) == 4)?;
    let end = line + 4;
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
        assert_eq!(at0(ssn, "123-45 6789"), Some(11), "mixed separators");
        assert_eq!(at0(ssn, "123.45.6789"), Some(11));
        assert_eq!(at0(ssn, "123_45_6789"), Some(11));
        assert_eq!(at0(ssn, "123 - 45 - 6789"), Some(15));
        assert_eq!(at0(ssn, "123    45 6789"), None, "four spaces part numbers");
        let t = b"Social-Security no. 123456789";
        assert_eq!(ssn(t, 20), Some(29));
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
        assert_eq!(at0(card, "4111.1111.1111.1111"), Some(19));
        assert_eq!(at0(card, "4111  1111  1111  1111"), Some(22));
        assert_eq!(at0(card, "4111/1111/1111/1111"), Some(19));
        assert_eq!(at0(card, "4111 1111\n1111 1111"), Some(19));
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
        assert_eq!(p("394/757/5964", 0), Some((0, 12)));
        assert_eq!(p("1 (415) 555-2671", 0), Some((0, 16)));
        assert_eq!(p("+1-415-555-2671", 1), Some((0, 15)));
    }
}
