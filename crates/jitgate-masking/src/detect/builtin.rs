//! The built-in detectors in one pass, so that plain prose costs little. A chunked test (a few
//! vector compares per 32 bytes) finds the bytes that can start or anchor a finding:
//! - digits and `:` start numbers (SSN, card, phone, IPv4) and IBAN/IPv6 tokens, tried in turn,
//!   the first that matches taking the text;
//! - `@` anchors an e-mail address;
//! - `-` may open `-----BEGIN ` (private key), `J` may end `eyJ` (JWT), `A` may open `AKIA` or
//!   `ASIA` (AWS key); each is a few byte compares before anything more is tried.

use super::text::{digits_at, is_word, sep_run, starts_number, starts_token, MAX_SEP};
use super::{iban, network, numbers, secrets, Hit, Kind, KindSet};

pub(super) fn scan(t: &[u8], kinds: KindSet, hits: &mut Vec<Hit>) {
    let numeric = [Kind::Ssn, Kind::Card, Kind::Phone, Kind::Iban, Kind::Ip]
        .iter()
        .any(|k| kinds.contains(*k));
    let mut from = 0;
    while let Some(p) = next_trigger(t, from) {
        let found = match t[p] {
            b'@' if kinds.contains(Kind::Email) => {
                network::email(t, p).map(|(s, e)| (Kind::Email, s, e))
            }
            b'-' if kinds.contains(Kind::PrivateKey) && t[p..].starts_with(b"-----BEGIN ") => {
                secrets::private_key(t, p).map(|e| (Kind::PrivateKey, p, e))
            }
            b'J' if kinds.contains(Kind::Jwt) && p >= 2 && &t[p - 2..p] == b"ey" => {
                let s = p - 2;
                let opens = s == 0 || !(is_word(t[s - 1]) || t[s - 1] == b'-' || t[s - 1] == b'.');
                opens
                    .then(|| secrets::jwt(t, s))
                    .flatten()
                    .map(|e| (Kind::Jwt, s, e))
            }
            b'A' if kinds.contains(Kind::AwsKey)
                && matches!(t.get(p + 1..p + 4), Some(b"KIA" | b"SIA"))
                && starts_token(t, p) =>
            {
                secrets::aws_key(t, p).map(|e| (Kind::AwsKey, p, e))
            }
            b'0'..=b':' if numeric => {
                from = numbers_at(t, p, kinds, hits);
                continue;
            }
            _ => None,
        };
        from = match found {
            Some((kind, s, e)) => {
                hits.push(Hit::builtin(kind, s, e));
                e.max(p + 1)
            }
            None => p + 1,
        };
    }
}

/// Bytes that can start or anchor a finding: digits and `:` (0x30–0x3A), `@`, `-`, `J`, `A`.
/// Non-short-circuit `|`, so that a chunk's test compiles to straight vector compares.
fn is_trigger(b: u8) -> bool {
    (b.wrapping_sub(b'0') <= 10) | (b == b'@') | (b == b'-') | (b == b'J') | (b == b'A')
}

/// The next trigger byte at or after `from`. Whole 32-byte chunks are tested first, which the
/// compiler turns into a few vector instructions per chunk (tens of GB/s over plain prose).
fn next_trigger(t: &[u8], from: usize) -> Option<usize> {
    const CHUNK: usize = 32;
    let mut i = from;
    while let Some(chunk) = t.get(i..i + CHUNK) {
        let any = chunk
            .iter()
            .fold(0u8, |any, &b| any | u8::from(is_trigger(b)));
        if any != 0 {
            break;
        }
        i += CHUNK;
    }
    t.get(i..)?
        .iter()
        .position(|&b| is_trigger(b))
        .map(|n| i + n)
}

fn word_start(t: &[u8], p: usize) -> usize {
    let mut s = p;
    while s > 0 && p - s < 64 && t[s - 1].is_ascii_alphanumeric() {
        s -= 1;
    }
    s
}

fn word_end(t: &[u8], p: usize) -> usize {
    p + t[p..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count()
}

/// Tries the number and address detectors at trigger `p` (a digit or `:`); returns where
/// scanning goes on.
fn numbers_at(t: &[u8], p: usize, kinds: KindSet, hits: &mut Vec<Hit>) -> usize {
    let found = if t[p] == b':' {
        colon_start(t, p, kinds)
    } else {
        let s = word_start(t, p);
        if s == p {
            number_start(t, p, kinds)
        } else {
            word_with_digits(t, s, kinds)
        }
    };
    match found {
        Some((kind, s, e)) => {
            hits.push(Hit::builtin(kind, s, e));
            e
        }
        // Skip the rest of this word: no detector starts inside one.
        None if t[p] == b':' => p + 1,
        None if kinds.contains(Kind::Iban) => {
            let s = word_start(t, p);
            iban_shaped_end(t, s)
                .filter(|_| s + 2 == p)
                .unwrap_or_else(|| word_end(t, p))
        }
        None => word_end(t, p),
    }
}

/// `::1`, `::ffff:10.0.0.1`: IPv6 that starts with its compression; or `dcbe:6f9e:…`, whose
/// first group has no digit to trigger on.
fn colon_start(t: &[u8], p: usize, kinds: KindSet) -> Option<(Kind, usize, usize)> {
    if !kinds.contains(Kind::Ip) {
        return None;
    }
    let opens = t.get(p + 1) == Some(&b':') && (p == 0 || !(is_word(t[p - 1]) || t[p - 1] == b':'));
    if opens {
        return network::ipv6(t, p).map(|e| (Kind::Ip, p, e));
    }
    let letters = t[..p]
        .iter()
        .rev()
        .take(5)
        .take_while(|b| matches!(b, b'a'..=b'f' | b'A'..=b'F'))
        .count();
    let s = p - letters;
    if (1..=4).contains(&letters) && starts_token(t, s) {
        return network::ipv6(t, s).map(|e| (Kind::Ip, s, e));
    }
    None
}

/// A digit that starts a word: every number detector may start here.
fn number_start(t: &[u8], p: usize, kinds: KindSet) -> Option<(Kind, usize, usize)> {
    // The first digit run and what follows it rule most detectors out at once, which matters
    // in text full of dates, times, prices and order numbers.
    let run = digits_at(t, p);
    let next = t.get(p + run).copied();
    let may_start = starts_number(t, p);
    let ip = kinds.contains(Kind::Ip);
    if ip && may_start && run <= 3 && next == Some(b'.') {
        if let Some(e) = network::ipv4(t, p) {
            return Some((Kind::Ip, p, e));
        }
    }
    let hex_group = run <= 4 && matches!(next, Some(b':' | b'a'..=b'f' | b'A'..=b'F'));
    if ip && hex_group && starts_token(t, p) && t.get(p.wrapping_sub(1)) != Some(&b':') {
        if let Some(e) = network::ipv6(t, p) {
            return Some((Kind::Ip, p, e));
        }
    }
    if !may_start {
        return None;
    }
    // Cards print their first group with four or more digits.
    if kinds.contains(Kind::Card) && run >= 4 {
        if let Some(e) = numbers::card(t, p) {
            return Some((Kind::Card, p, e));
        }
    }
    if kinds.contains(Kind::Ssn) && (run == 3 || run == 9) {
        if let Some(e) = numbers::ssn(t, p) {
            return Some((Kind::Ssn, p, e));
        }
    }
    let before = p.checked_sub(1).map(|i| t[i]);
    let phone_shaped = matches!(run, 3 | 10 | 11)
        || (run == 1 && t[p] == b'1')
        || matches!(before, Some(b'+' | b'('));
    if kinds.contains(Kind::Phone) && phone_shaped {
        if let Some((s, e)) = numbers::phone(t, p) {
            return Some((Kind::Phone, s, e));
        }
    }
    None
}

/// The end of an IBAN-shaped token starting at `s` (`CCdd` and groups of up to four letters or
/// digits), or `None` when `s` does not start like an IBAN. The digit groups of an IBAN that
/// failed its checksum are not card numbers or phones, so scanning resumes after them.
fn iban_shaped_end(t: &[u8], s: usize) -> Option<usize> {
    let head = t.get(s..s + 4)?;
    if !(head[..2].iter().all(u8::is_ascii_uppercase) && head[2..].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let group = |i: usize| {
        t.get(i..).map_or(0, |r| {
            r.iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count()
        })
    };
    // Groups of four, the last of one to four, 15 to 34 characters in all: an IBAN's print.
    let mut end = s + group(s);
    let mut chars = end - s;
    let mut last = chars;
    loop {
        let gap = sep_run(t, end);
        let next = group(end + gap);
        if last != 4 || !(1..=MAX_SEP).contains(&gap) || !(1..=4).contains(&next) {
            break;
        }
        last = next;
        end += gap + last;
        chars += last;
    }
    let ends_clean = t
        .get(end)
        .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'-');
    ((15..=34).contains(&chars) && ends_clean).then_some(end)
}

/// Letters then digits in one word: an IBAN (`DE89…`) or an IPv6 group (`fe80::…`).
fn word_with_digits(t: &[u8], s: usize, kinds: KindSet) -> Option<(Kind, usize, usize)> {
    if !starts_token(t, s) {
        return None;
    }
    if kinds.contains(Kind::Iban) && t[s].is_ascii_uppercase() && t[s + 1].is_ascii_uppercase() {
        if let Some(e) = iban::iban(t, s) {
            return Some((Kind::Iban, s, e));
        }
    }
    if kinds.contains(Kind::Ip) && s > 0 && t[s - 1] == b':' {
        return None;
    }
    if kinds.contains(Kind::Ip) {
        return network::ipv6(t, s).map(|e| (Kind::Ip, s, e));
    }
    None
}
