//! Scrubbing ErrorResponse and NoticeResponse texts, which quote the very values masking hides:
//! `invalid input syntax for type integer: "123-45-6789"`, `Key (ssn)=(123-45-6789) already
//! exists.`, `Failing row contains (…)`, an XML parser's report of the line it choked on.
//!
//! Every field is untrusted text except those PostgreSQL fills from its own vocabulary or the
//! catalog ([`NAME_FIELDS`]: severity, SQLSTATE, positions, source location, and the schema,
//! table, column, type and constraint names). The others — message, detail, hint, context,
//! internal query, and any field a later server adds — go through the content detectors, and,
//! unless the SQLSTATE is of a class whose texts only ever quote names ([`NAMES_ONLY_CLASSES`]:
//! connections, transactions, resources, locks, …), are also redacted by shape, which catches
//! values no detector would recognise (a translated SSN, a free-text note):
//! - every double-quoted value, except a quoted name after `constraint`, `relation`, `table`,
//!   `column`, `type`, … (identifiers are not data). PostgreSQL does not escape quotes inside
//!   the value, so the value runs to the field's last quote;
//! - `Key (cols)=(values)`: the values;
//! - `Failing row contains (…)`: the row;
//! - byte sequences such as `0xe2 0x82` (encoding errors), and the text after `JSON data, line N:`;
//! - the XML parser's detail (`line N: …`, then the input line it quotes), after its line number.
//!
//! Long hex runs (64 digits and more) are replaced in every field: they are what an error
//! quoting jitgate's own rewritten statement would show of a key-derived HMAC pad (the
//! front also blots every piece of its key's pads, see `MaskKey::blot`).

use crate::detect::Scanner;
use jitgate_sqlstate::SqlState;

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

/// Fields PostgreSQL fills from its own vocabulary or the catalog, kept as they are: S and V
/// severity, C SQLSTATE, P and p positions, F L R source location, s t c d n schema, table,
/// column, data type and constraint names.
pub const NAME_FIELDS: &[u8] = b"SVCPpFLRstcdn";

/// SQLSTATE classes whose texts quote names and the server's own words, never values:
/// connection (08), transaction state (25), prepared statement names (26), authorization (28,
/// 2B, 2D), cursor names (34), catalog names (3D), rollbacks (40), resources and limits (53,
/// 54), object state and locks (55), operator intervention (57), system errors (58).
pub const NAMES_ONLY_CLASSES: &[&str] = &[
    "08", "25", "26", "28", "2B", "2D", "34", "3D", "40", "53", "54", "55", "57", "58",
];

/// SQLSTATEs of the XML parser's errors, whose detail quotes the input it choked on.
const XML_SQLSTATES: &[SqlState] = &[
    SqlState::from_static("2200L"),
    SqlState::from_static("2200M"),
    SqlState::from_static("2200N"),
    SqlState::from_static("2200S"),
    SqlState::from_static("2200T"),
    SqlState::from_static("10608"),
];

/// Whether a SQLSTATE's texts may be built from data values (and are redacted by shape). A
/// message without a SQLSTATE, or with a malformed one (see [`sqlstate_of`]), may.
pub fn is_leaky_sqlstate(sqlstate: Option<SqlState>) -> bool {
    sqlstate.is_none_or(|s| !NAMES_ONLY_CLASSES.contains(&s.class()))
}

/// The SQLSTATE field of an error or notice body; `None` when it is missing or malformed.
fn sqlstate_of(body: &[u8]) -> Option<SqlState> {
    let (_, code) = fields(body).find(|&(code, _)| code == b'C')?;
    SqlState::from_bytes(code).ok()
}

/// Appends the scrubbed form of an ErrorResponse or NoticeResponse body (fields of a type byte
/// and a NUL-terminated string, then a NUL) to `out`; returns whether anything changed. A body
/// cut short is completed, so the output is always well formed.
pub fn scrub_error_fields(body: &[u8], scanner: &Scanner, out: &mut Vec<u8>) -> bool {
    let sqlstate = sqlstate_of(body);
    let leaky = is_leaky_sqlstate(sqlstate);
    let xml = sqlstate.is_some_and(|s| XML_SQLSTATES.contains(&s));
    let mut changed = false;
    let mut shaped = Vec::new();
    for (code, value) in fields(body) {
        out.push(code);
        let start = out.len();
        if !NAME_FIELDS.contains(&code) {
            // Internal queries (q) are statements, not values: detectors and key material only.
            let text = if leaky && code != b'q' {
                shaped.clear();
                if code == b'D' && (xml || is_xml_parser_detail(value)) {
                    redact_xml_detail(value, &mut shaped);
                } else {
                    redact_by_shape(value, &mut shaped);
                }
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

/// libxml's detail: `line N: what went wrong` then the input line and a caret.
fn is_xml_parser_detail(text: &[u8]) -> bool {
    text.strip_prefix(b"line ").is_some_and(|rest| {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        digits > 0 && rest[digits..].starts_with(b": ")
    })
}

/// `line 1: Start tag expected, '<' not found\n123-45-6789\n^` → `line 1: [redacted]`: the
/// parser's words quote tag and entity names of the input, and the lines after them the input
/// itself. A detail of another shape is redacted whole.
fn redact_xml_detail(text: &[u8], out: &mut Vec<u8>) {
    if is_xml_parser_detail(text) {
        redact_after(text, b"line ", 0, out);
    } else {
        out.extend_from_slice(REDACTED);
    }
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
