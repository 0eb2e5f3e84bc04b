//! Detectors for addresses: IPv4, IPv6 and e-mail.

use super::text::{context_before, digits_at, ends_number, is_word, number_at};

/// Words after which a dotted quad is a version, not an address.
pub(crate) const VERSION_CONTEXT: &[&[u8]] = &[b"version", b"ver ", b"release", b"build", b"v."];

/// How far before a dotted quad a version word counts.
pub(crate) const VERSION_WINDOW: usize = 12;

/// Dotted-decimal IPv4 (no leading zeros, octets up to 255), with an optional `/prefix`.
/// A following `:port` is allowed; a fifth `.N` is not (that is a version string).
pub(super) fn ipv4(t: &[u8], p: usize) -> Option<usize> {
    let mut i = p;
    for part in 0..4 {
        if part > 0 {
            if t.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let n = digits_at(t, i);
        if n == 0 || n > 3 || (n > 1 && t[i] == b'0') || number_at(t, i, n) > 255 {
            return None;
        }
        i += n;
    }
    if t.get(i) == Some(&b'/') {
        let n = digits_at(t, i + 1);
        if (1..=2).contains(&n) && number_at(t, i + 1, n) <= 32 {
            i += 1 + n;
        }
    }
    let versioned = context_before(t, p, VERSION_WINDOW, VERSION_CONTEXT);
    (ends_number(t, i) && !versioned).then_some(i)
}

fn hex_run(t: &[u8], i: usize) -> usize {
    t.get(i..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_hexdigit()).count()
    })
}

/// IPv6 in full (eight groups) or compressed (one `::`, fewer groups) form, optionally ending
/// in an embedded IPv4 address and a `/prefix`. Times (`12:30:45`) and MAC addresses have no
/// `::` and too few groups, so they do not match.
pub(super) fn ipv6(t: &[u8], s: usize) -> Option<usize> {
    let mut i = s;
    let mut groups = 0;
    let mut compressed = false;
    let mut has_digit = false;
    let mut end = s;
    loop {
        if t.get(i..i + 2) == Some(b"::") {
            if compressed {
                return None;
            }
            compressed = true;
            i += 2;
            end = i;
        }
        let n = hex_run(t, i);
        if n == 0 {
            break;
        }
        // The last part may be an IPv4 address (`::ffff:192.0.2.1`).
        if t.get(i + n) == Some(&b'.') {
            if let Some(e) = ipv4(t, i) {
                groups += 2;
                has_digit = true;
                end = e;
                break;
            }
        }
        if n > 4 {
            return None;
        }
        has_digit |= t[i..i + n].iter().any(u8::is_ascii_digit);
        groups += 1;
        i += n;
        end = i;
        if t.get(i) == Some(&b':') && t.get(i + 1) != Some(&b':') {
            i += 1;
        } else if t.get(i..i + 2) != Some(b"::") {
            break;
        }
    }
    let valid = if compressed {
        (1..=7).contains(&groups)
    } else {
        groups == 8
    };
    if !valid || !has_digit {
        return None;
    }
    if t.get(end) == Some(&b'/') {
        let n = digits_at(t, end + 1);
        if (1..=3).contains(&n) && number_at(t, end + 1, n) <= 128 {
            end += 1 + n;
        }
    }
    let after_ok = match t.get(end) {
        None => true,
        // A colon ending a sentence is fine; one followed by more hex is a longer token.
        Some(b':') => !t
            .get(end + 1)
            .is_some_and(|c| c.is_ascii_hexdigit() || *c == b':'),
        Some(b'.') => !t.get(end + 1).is_some_and(u8::is_ascii_hexdigit),
        Some(&b) => !is_word(b),
    };
    after_ok.then_some(end)
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

/// File extensions that follow `@` in names like `icon@2x.png`, which are not addresses.
const NOT_TLDS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"pdf",
];

/// An address around the `@` at `at`: a local part of up to 64 characters before it, and a
/// domain of two or more labels with an alphabetic top-level label after it. Returns the range.
pub(super) fn email(t: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && at - start < 64 && local_char(t[start - 1]) {
        start -= 1;
    }
    // Sentence punctuation before the address is not part of it.
    while start < at && matches!(t[start], b'.' | b'-' | b'\'') {
        start += 1;
    }
    if start == at || t[at - 1] == b'.' {
        return None;
    }
    let mut i = at + 1;
    let mut labels = 0;
    let mut last_label = (i, i);
    loop {
        let label_start = i;
        while t
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && i - label_start < 63
        {
            i += 1;
        }
        if i == label_start || t[label_start] == b'-' || t[i - 1] == b'-' {
            // An empty or dash-edged label ends the domain; a trailing dot ended the sentence.
            break;
        }
        labels += 1;
        last_label = (label_start, i);
        if t.get(i) == Some(&b'.') && t.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        } else {
            break;
        }
    }
    let tld = &t[last_label.0..last_label.1];
    let tld_ok = tld.len() >= 2
        && (tld.iter().all(u8::is_ascii_alphabetic) || tld.starts_with(b"xn--"))
        && !NOT_TLDS.iter().any(|x| tld.eq_ignore_ascii_case(x));
    let end = last_label.1;
    let after_ok = t.get(end).is_none_or(|b| !is_word(*b));
    (labels >= 2 && tld_ok && after_ok).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_its_lookalikes() {
        assert_eq!(ipv4(b"192.168.1.10", 0), Some(12));
        assert_eq!(ipv4(b"10.0.0.1:5432", 0), Some(8));
        assert_eq!(ipv4(b"10.0.0.0/8,", 0), Some(10));
        assert_eq!(ipv4(b"1.2.3.4.5", 0), None);
        assert_eq!(ipv4(b"256.1.1.1", 0), None);
        assert_eq!(ipv4(b"01.2.3.4", 0), None);
        assert_eq!(ipv4(b"version 1.2.3.4", 8), None);
    }

    #[test]
    fn ipv6_forms() {
        for (s, end) in [
            ("2001:db8::1", 11),
            ("fe80::1ff:fe23:4567:890a", 24),
            ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", 39),
            ("::ffff:192.0.2.1", 16),
            ("::1", 3),
        ] {
            assert_eq!(ipv6(s.as_bytes(), 0), Some(end), "{s}");
        }
        for s in ["12:30:45", "00:1a:2b:3c:4d:5e", "1::2::3", "abc::def"] {
            assert_eq!(ipv6(s.as_bytes(), 0), None, "{s}");
        }
    }

    #[test]
    fn emails() {
        fn e(s: &str) -> Option<&str> {
            let at = s.find('@').unwrap_or(0);
            email(s.as_bytes(), at).map(|(a, b)| &s[a..b])
        }
        assert_eq!(
            e("mail alice.smith+tag@mail.example.co.uk."),
            Some("alice.smith+tag@mail.example.co.uk")
        );
        assert_eq!(e("<bob@example.org>"), Some("bob@example.org"));
        assert_eq!(e("icon@2x.png"), None);
        assert_eq!(e("@mention"), None);
        assert_eq!(e("user@localhost"), None);
    }
}
