//! Scrubbing ErrorResponse and NoticeResponse texts, which quote the very values masking hides:
//! `invalid input syntax for type integer: "123-45-6789"`, `Key (ssn)=(123-45-6789) already
//! exists.`, `Failing row contains (…)`.
//!
//! For every message the texts (M message, D detail, H hint, W context, Q/q internal query) go
//! through the content detectors. Messages of SQLSTATE classes 22 (data exception) and 23
//! (integrity constraint violation), whose texts are built from data, are also redacted by shape
//! in M, D and W, which catches values no detector would recognise:
//! - every double-quoted value, except a quoted name after `constraint`, `relation`, `table`,
//!   `column`, `type`, … (identifiers are not data). PostgreSQL does not escape quotes inside
//!   the value, so the value runs to the field's last quote;
//! - `Key (cols)=(values)`: the values;
//! - `Failing row contains (…)`: the row;
//! - byte sequences such as `0xe2 0x82` (encoding errors), and the text after `JSON data, line N:`.
//!
//! Long hex runs (64 digits and more) are replaced in every field: they are what an error
//! quoting jitgate's own rewritten statement would show of a key-derived HMAC pad.

use crate::detect::Scanner;

/// Words after which a quoted string is a name, not a value.
const IDENTIFIER_BEFORE: &[&[u8]] = &[
    b"constraint ",
    b"relation ",
    b"table ",
    b"column ",
    b"type ",
    b"encoding ",
    b"parameter ",
    b"function ",
    b"index ",
    b"schema ",
    b"database ",
    b"role ",
    b"sequence ",
    b"view ",
    b"operator ",
    b"collation ",
    b"extension ",
    b"trigger ",
    b"domain ",
    b"enum ",
    b"cursor ",
    b"statement ",
    b"portal ",
    b"publication ",
    b"subscription ",
    b"policy ",
    b"server ",
];

/// What ends the value of `Key (cols)=(value)` in PostgreSQL 15's messages.
const KEY_VALUE_ENDS: &[&[u8]] = &[
    b") already exists",
    b") is not present in table",
    b") is still referenced from table",
    b") conflicts with existing key",
];

const REDACTED: &[u8] = b"[redacted]";
const LONG_HEX: usize = 64;

/// Whether a SQLSTATE's messages are built from data values.
pub fn is_leaky_sqlstate(sqlstate: &[u8]) -> bool {
    sqlstate.starts_with(b"22") || sqlstate.starts_with(b"23")
}

/// Appends the scrubbed form of an ErrorResponse or NoticeResponse body (fields of a type byte
/// and a NUL-terminated string, then a NUL) to `out`; returns whether anything changed. A body
/// cut short is completed, so the output is always well formed.
pub fn scrub_error_fields(body: &[u8], scanner: &Scanner, out: &mut Vec<u8>) -> bool {
    let leaky = fields(body).any(|(code, value)| code == b'C' && is_leaky_sqlstate(value));
    let mut changed = false;
    let mut shaped = Vec::new();
    for (code, value) in fields(body) {
        out.push(code);
        let start = out.len();
        if matches!(code, b'M' | b'D' | b'H' | b'W' | b'Q' | b'q') {
            let text = if leaky && matches!(code, b'M' | b'D' | b'W') {
                shaped.clear();
                redact_by_shape(value, &mut shaped);
                &shaped[..]
            } else {
                value
            };
            let mut scanned = Vec::with_capacity(text.len());
            scanner.redact_into(text, &mut scanned);
            redact_long_hex(&scanned, out);
            changed |= out[start..] != *value;
        } else {
            out.extend_from_slice(value);
        }
        out.push(0);
    }
    out.push(0);
    changed
}

/// (type byte, value) of each field; stops at the terminating NUL or where the body ends.
fn fields(body: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let (&code, tail) = rest.split_first()?;
        if code == 0 {
            return None;
        }
        let len = memchr::memchr(0, tail).unwrap_or(tail.len());
        rest = tail.get(len + 1..).unwrap_or_default();
        Some((code, &tail[..len]))
    })
}

fn ends_with_any(text: &[u8], words: &[&[u8]]) -> bool {
    words
        .iter()
        .any(|w| text.len() >= w.len() && text[text.len() - w.len()..].eq_ignore_ascii_case(w))
}

fn redact_by_shape(text: &[u8], out: &mut Vec<u8>) {
    let mut step1 = Vec::with_capacity(text.len());
    redact_key_values(text, &mut step1);
    let mut step2 = Vec::with_capacity(step1.len());
    redact_after(&step1, b"Failing row contains (", b')', &mut step2);
    let mut step3 = Vec::with_capacity(step2.len());
    redact_after(&step2, b"JSON data, line ", 0, &mut step3);
    let mut step4 = Vec::with_capacity(step3.len());
    redact_quoted(&step3, &mut step4);
    redact_byte_sequences(&step4, out);
}

/// `Key (a, b)=(1, x)` → `Key (a, b)=([redacted])`, for each key in the text.
fn redact_key_values(text: &[u8], out: &mut Vec<u8>) {
    let finder = memchr::memmem::Finder::new(b")=(");
    let mut at = 0;
    while let Some(k) = finder.find(&text[at..]) {
        let value_start = at + k + 3;
        out.extend_from_slice(&text[at..value_start]);
        let rest = &text[value_start..];
        let end = KEY_VALUE_ENDS
            .iter()
            .filter_map(|w| memchr::memmem::rfind(rest, w))
            .max()
            .or_else(|| memchr::memrchr(b')', rest))
            .unwrap_or(rest.len());
        out.extend_from_slice(REDACTED);
        at = value_start + end;
    }
    out.extend_from_slice(&text[at..]);
}

/// Redacts from after `opening` to the last `close` byte of the text (to the end for 0);
/// `JSON data, line 1: …` keeps its line number.
fn redact_after(text: &[u8], opening: &[u8], close: u8, out: &mut Vec<u8>) {
    let Some(o) = memchr::memmem::find(text, opening) else {
        out.extend_from_slice(text);
        return;
    };
    let mut value_start = o + opening.len();
    if close == 0 {
        // Keep "N: " of "line N: ".
        value_start += text[value_start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if text[value_start..].starts_with(b": ") {
            value_start += 2;
        }
    }
    let end = match close {
        0 => text.len(),
        c => memchr::memrchr(c, &text[value_start..]).map_or(text.len(), |n| value_start + n),
    };
    out.extend_from_slice(&text[..value_start]);
    out.extend_from_slice(REDACTED);
    out.extend_from_slice(&text[end..]);
}

/// Quoted values become `"[redacted]"`; quoted identifiers stay.
fn redact_quoted(text: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    while let Some(n) = memchr::memchr(b'"', &text[at..]) {
        let q = at + n;
        let close = memchr::memchr(b'"', &text[q + 1..]).map(|c| q + 1 + c);
        if ends_with_any(&text[..q], IDENTIFIER_BEFORE) {
            let end = close.map_or(text.len(), |c| c + 1);
            out.extend_from_slice(&text[at..end]);
            at = end;
            continue;
        }
        // The value may itself contain quotes: it ends at the last quote of the text.
        let last = memchr::memrchr(b'"', text).filter(|&l| l > q);
        out.extend_from_slice(&text[at..=q]);
        out.extend_from_slice(REDACTED);
        match last {
            Some(l) => at = l,
            None => {
                at = text.len();
                break;
            }
        }
        out.push(b'"');
        at += 1;
    }
    out.extend_from_slice(&text[at.min(text.len())..]);
}

/// `0xe2 0x82` → `0x[redacted] 0x[redacted]`.
fn redact_byte_sequences(text: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < text.len() {
        let hex =
            if text[i..].starts_with(b"0x") && (i == 0 || !text[i - 1].is_ascii_alphanumeric()) {
                text[i + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count()
            } else {
                0
            };
        if hex > 0 {
            out.extend_from_slice(b"0x");
            out.extend_from_slice(REDACTED);
            i += 2 + hex;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
}

fn redact_long_hex(text: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < text.len() {
        let run = text[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if run >= LONG_HEX {
            out.extend_from_slice(REDACTED);
            i += run;
        } else if run > 0 {
            out.extend_from_slice(&text[i..i + run]);
            i += run;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
}
