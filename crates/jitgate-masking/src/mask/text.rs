//! Masks as transforms of values in PostgreSQL's text format.

use super::keyed::{
    int2_hash, int4_hash, int8_hash, push_text_hash, push_token, push_uuid, uuid_hash,
};
use super::{dates, Generalization, Mask, MaskError, Written};
use crate::key::{push_hex, MaskKey, Purpose, Subkey};
use crate::types::{PgKind, PgTypeInfo};

/// The text of [`Mask::Redact`]'s constant for a type; `None` for types redacted to NULL.
pub(crate) fn redact_constant(kind: PgKind) -> Option<&'static str> {
    use PgKind::*;
    Some(match kind {
        Text | Varchar | Bpchar | Name => "***",
        Int2 | Int4 | Int8 | Numeric | Float4 | Float8 => "0",
        Date => "1970-01-01",
        Timestamp => "1970-01-01 00:00:00",
        // Shown in the session's time zone by PostgreSQL; jitgate pins UTC-free text here.
        Timestamptz => "1970-01-01 00:00:00+00",
        Bool => "f",
        Uuid => "00000000-0000-0000-0000-000000000000",
        Bytea => "\\x",
        Json | Jsonb => "\"***\"",
        Other => return None,
    })
}

/// Inlined into [`Mask::apply_text`]: the cheap masks (redact, partial, email) are what every
/// masked row pays for, so their path has no call; the costly ones are calls below.
#[inline]
pub(super) fn apply(
    mask: &Mask,
    value: &[u8],
    ty: &PgTypeInfo,
    key: &MaskKey,
    out: &mut Vec<u8>,
) -> Result<Written, MaskError> {
    let kind = ty.kind();
    // `char(n)` values arrive blank-padded, but PostgreSQL drops the blanks in `col::text`,
    // which is what the SQL masks work on.
    let value = if kind == PgKind::Bpchar {
        trim_trailing_blanks(value)
    } else {
        value
    };
    match mask {
        Mask::Null => return Ok(Written::Null),
        Mask::Redact => match redact_constant(kind) {
            Some(constant) => out.extend_from_slice(constant.as_bytes()),
            None => return Ok(Written::Null),
        },
        Mask::Partial {
            keep_first,
            keep_last,
            pad,
        } => partial(value, *keep_first, *keep_last, *pad, out)
            .ok_or_else(|| Mask::unrecognised(ty))?,
        Mask::Email => {
            out.extend_from_slice(b"***");
            if let Some(at) = memchr::memrchr(b'@', value) {
                out.extend_from_slice(&value[at..]);
            }
        }
        Mask::Hash => hash(value, ty, subkey(mask, key, Purpose::Hash)?, out)?,
        Mask::Tokenize => tokenize(value, ty, subkey(mask, key, Purpose::Tokenize)?, out)?,
        Mask::Generalize(g) => generalize(value, ty, *g, out)?,
        Mask::Scan => {
            crate::detect::Scanner::builtin().redact_into(value, out);
        }
    }
    Ok(Written::Value)
}

pub(super) fn subkey<'k>(
    mask: &Mask,
    key: &'k MaskKey,
    purpose: Purpose,
) -> Result<&'k Subkey, MaskError> {
    key.subkey(purpose)
        .ok_or(MaskError::KeyMissing { mask: mask.name() })
}

fn trim_trailing_blanks(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &value[..end]
}

/// Keeps `first` and `last` characters, pads the middle with `pad` to the same length. `None`
/// for text that is not UTF-8.
#[inline(never)]
fn tokenize(
    value: &[u8],
    ty: &PgTypeInfo,
    subkey: &Subkey,
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    let text = std::str::from_utf8(value).map_err(|_| Mask::unrecognised(ty))?;
    push_token(subkey, text, out);
    Ok(())
}

#[inline]
fn partial(value: &[u8], first: u16, last: u16, pad: char, out: &mut Vec<u8>) -> Option<()> {
    let (first, last) = (usize::from(first), usize::from(last));
    let mut pad_buf = [0u8; 4];
    let pad = pad.encode_utf8(&mut pad_buf).as_bytes();
    // Short ASCII strings with an ASCII pad are the common case: one copy, then one fill over
    // the hidden part, with no per-character work.
    if pad.len() == 1 && value.is_ascii() {
        let start = out.len();
        out.extend_from_slice(value);
        let len = value.len();
        let hidden = if len <= first + last {
            start..start + len
        } else {
            start + first..start + len - last
        };
        out[hidden].fill(pad[0]);
        return Some(());
    }
    partial_chars(value, first, last, pad, out)
}

/// [`partial`] for non-ASCII text or pad: counts characters, as PostgreSQL's `char_length` does.
#[inline(never)]
fn partial_chars(
    value: &[u8],
    first: usize,
    last: usize,
    pad: &[u8],
    out: &mut Vec<u8>,
) -> Option<()> {
    let push_pad = |out: &mut Vec<u8>, n: usize| {
        for _ in 0..n {
            out.extend_from_slice(pad);
        }
    };
    if value.is_ascii() {
        let len = value.len();
        if len <= first + last {
            push_pad(out, len);
        } else {
            out.extend_from_slice(&value[..first]);
            push_pad(out, len - first - last);
            out.extend_from_slice(&value[len - last..]);
        }
        return Some(());
    }
    let text = std::str::from_utf8(value).ok()?;
    let len = text.chars().count();
    if len <= first + last {
        push_pad(out, len);
        return Some(());
    }
    let head_end = text
        .char_indices()
        .nth(first)
        .map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(len - last)
        .map_or(text.len(), |(i, _)| i);
    out.extend_from_slice(&value[..head_end]);
    push_pad(out, len - first - last);
    out.extend_from_slice(&value[tail_start..]);
    Some(())
}

#[inline(never)]
fn hash(
    value: &[u8],
    ty: &PgTypeInfo,
    subkey: &Subkey,
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    match ty.kind() {
        PgKind::Int2 => push_int(out, i64::from(int2_hash(subkey, value))),
        PgKind::Int4 => push_int(out, i64::from(int4_hash(subkey, value))),
        PgKind::Int8 | PgKind::Numeric => push_int(out, int8_hash(subkey, value)),
        PgKind::Uuid => push_uuid(&uuid_hash(subkey, value), out),
        PgKind::Bytea => {
            let raw = decode_bytea(value).ok_or_else(|| Mask::unrecognised(ty))?;
            out.extend_from_slice(b"\\x");
            push_hex(out, &subkey.mac(&raw));
        }
        PgKind::Json | PgKind::Jsonb => {
            out.push(b'"');
            push_text_hash(subkey, value, out);
            out.push(b'"');
        }
        _ => push_text_hash(subkey, value, out),
    }
    Ok(())
}

pub(crate) fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// The bytes of a bytea in either output format (`bytea_output` hex or escape).
pub(super) fn decode_bytea(text: &[u8]) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix(b"\\x") {
        if hex.len() % 2 != 0 {
            return None;
        }
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        return hex
            .chunks_exact(2)
            .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
            .collect();
    }
    let mut raw = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            raw.push(text[i]);
            i += 1;
        } else if text.get(i + 1) == Some(&b'\\') {
            raw.push(b'\\');
            i += 2;
        } else {
            let octal = text.get(i + 1..i + 4)?;
            if !octal.iter().all(|c| (b'0'..=b'7').contains(c)) {
                return None;
            }
            let v = octal
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            raw.push(u8::try_from(v).ok()?);
            i += 4;
        }
    }
    Some(raw)
}

#[inline(never)]
fn generalize(
    value: &[u8],
    ty: &PgTypeInfo,
    g: Generalization,
    out: &mut Vec<u8>,
) -> Result<(), MaskError> {
    let done = match (ty.kind(), g) {
        (PgKind::Date, _) => dates::truncate_text(value, g, false, out),
        (PgKind::Timestamp | PgKind::Timestamptz, _) => dates::truncate_text(value, g, true, out),
        (PgKind::Float4 | PgKind::Float8, Generalization::Bucket(w)) => {
            float_bucket(value, w, ty.kind() == PgKind::Float4, out)
        }
        (PgKind::Numeric, Generalization::Bucket(w)) => numeric_bucket(value, w, out),
        (_, Generalization::Bucket(w)) => match std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(v) => {
                push_int(out, int_bucket(v, w));
                true
            }
            None => false,
        },
        _ => false,
    };
    if done {
        Ok(())
    } else {
        Err(Mask::unrecognised(ty))
    }
}

/// `v - mod(v, width)`: the multiple of `width` toward zero.
pub(super) fn int_bucket(v: i64, width: u64) -> i64 {
    match i64::try_from(width) {
        Ok(w) => v - v % w,
        // A width beyond i64 holds every value in the bucket around zero.
        Err(_) => 0,
    }
}

/// `trunc(v / width) * width` in PostgreSQL's float arithmetic (float4 divides in single
/// precision, as `c / width::float4` does).
pub(super) fn float_bucket_value(v: f64, width: u64, single: bool) -> f64 {
    if single {
        let quotient = (v as f32 / width as f32) as f64;
        (quotient.trunc() * width as f64) as f32 as f64
    } else {
        (v / width as f64).trunc() * width as f64
    }
}

/// Writes the bucketed float; `false` for results PostgreSQL prints in exponent notation, which
/// are left to the SQL side.
fn float_bucket(value: &[u8], width: u64, single: bool, out: &mut Vec<u8>) -> bool {
    let Some(v) = std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    else {
        return false;
    };
    if !v.is_finite() {
        out.extend_from_slice(value);
        return true;
    }
    let r = float_bucket_value(v, width, single);
    // PostgreSQL switches to exponent notation from 1e15 (float8) or 1e6 (float4) on.
    let plain_below = if single { 1e6 } else { 1e15 };
    if r.abs() >= plain_below {
        return false;
    }
    if r == 0.0 && r.is_sign_negative() {
        out.extend_from_slice(b"-0");
    } else {
        push_int(out, r as i64);
    }
    true
}

/// Numeric text (`-1234.560`, `NaN`, `Infinity`) bucketed, keeping the scale of the input as
/// numeric subtraction does. Integer parts beyond 38 digits are left to the SQL side (`false`).
fn numeric_bucket(value: &[u8], width: u64, out: &mut Vec<u8>) -> bool {
    if matches!(value, b"NaN" | b"Infinity" | b"-Infinity") {
        // mod() of an infinity is NaN, and an infinity minus NaN is NaN.
        out.extend_from_slice(b"NaN");
        return true;
    }
    let (negative, digits) = match value.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let int_len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    let frac = &digits[int_len..];
    let frac_len = match frac.split_first() {
        None => 0,
        Some((b'.', f)) if f.iter().all(u8::is_ascii_digit) => f.len(),
        _ => return false,
    };
    if int_len == 0 || int_len > 38 {
        return false;
    }
    let int = digits[..int_len]
        .iter()
        .fold(0u128, |acc, d| acc * 10 + u128::from(d - b'0'));
    let bucketed = int - int % u128::from(width);
    if negative && bucketed != 0 {
        out.push(b'-');
    }
    out.extend_from_slice(bucketed.to_string().as_bytes());
    if frac_len > 0 {
        out.push(b'.');
        out.resize(out.len() + frac_len, b'0');
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(mask: &Mask, value: &str, oid: u32) -> Result<Option<String>, MaskError> {
        let key = MaskKey::new(b"test key of sixteen+ bytes", "test").expect("key");
        let mut out = Vec::new();
        let written =
            mask.apply_text(value.as_bytes(), &PgTypeInfo::from_oid(oid), &key, &mut out)?;
        Ok((written == Written::Value).then(|| String::from_utf8_lossy(&out).into_owned()))
    }

    fn ok(mask: &Mask, value: &str, oid: u32) -> String {
        match text(mask, value, oid) {
            Ok(Some(s)) => s,
            other => panic!("{mask} on {value:?}: {other:?}"),
        }
    }

    const TEXT: u32 = 25;
    const INT4: u32 = 23;

    #[test]
    fn partial_keeps_ends_and_length() {
        let last4 = Mask::Partial {
            keep_first: 0,
            keep_last: 4,
            pad: '*',
        };
        assert_eq!(ok(&last4, "123-45-6789", TEXT), "*******6789");
        assert_eq!(ok(&last4, "6789", TEXT), "****");
        assert_eq!(ok(&last4, "", TEXT), "");
        let both = Mask::Partial {
            keep_first: 1,
            keep_last: 1,
            pad: '•',
        };
        assert_eq!(ok(&both, "Zoë Ünal", TEXT), "Z••••••l");
        assert_eq!(
            ok(&both, "ab  ", 1042),
            "••",
            "char(n) blanks are dropped first"
        );
    }

    #[test]
    fn redact_is_a_constant_of_the_type() {
        assert_eq!(ok(&Mask::Redact, "secret", TEXT), "***");
        assert_eq!(ok(&Mask::Redact, "42", INT4), "0");
        assert_eq!(ok(&Mask::Redact, "2024-01-02", 1082), "1970-01-01");
        assert_eq!(ok(&Mask::Redact, "t", 16), "f");
        assert_eq!(text(&Mask::Null, "x", TEXT), Ok(None));
    }

    #[test]
    fn email_keeps_the_domain_only() {
        assert_eq!(
            ok(&Mask::Email, "alice.smith@example.com", TEXT),
            "***@example.com"
        );
        assert_eq!(ok(&Mask::Email, "\"a@b\"@x.org", TEXT), "***@x.org");
        assert_eq!(ok(&Mask::Email, "no at sign", TEXT), "***");
        assert!(matches!(
            text(&Mask::Email, "1", INT4),
            Err(MaskError::NotApplicable { .. })
        ));
    }

    #[test]
    fn hash_is_deterministic_and_typed() {
        let a = ok(&Mask::Hash, "alice@example.com", TEXT);
        assert_eq!(a.len(), 32);
        assert_eq!(a, ok(&Mask::Hash, "alice@example.com", TEXT));
        assert_ne!(a, ok(&Mask::Hash, "bob@example.com", TEXT));
        assert!(ok(&Mask::Hash, "42", INT4).parse::<i32>().is_ok());
        assert!(ok(&Mask::Hash, "42", 21).parse::<i16>().is_ok());
        assert_eq!(ok(&Mask::Hash, "\\x0102", 17).len(), 66);
        assert_eq!(
            ok(&Mask::Hash, "\\x0102", 17),
            ok(&Mask::Hash, "\\001\\002", 17)
        );
        let missing = Mask::Hash.apply_text(
            b"x",
            &PgTypeInfo::from_oid(TEXT),
            &MaskKey::missing(),
            &mut Vec::new(),
        );
        assert_eq!(missing, Err(MaskError::KeyMissing { mask: "hash" }));
    }

    #[test]
    fn tokenize_preserves_format() {
        let token = ok(&Mask::Tokenize, "4111-1111-1111-1111 Ab", TEXT);
        assert_eq!(token.len(), 22);
        for (t, v) in token.chars().zip("4111-1111-1111-1111 Ab".chars()) {
            assert_eq!(t.is_ascii_digit(), v.is_ascii_digit());
            assert_eq!(t.is_ascii_uppercase(), v.is_ascii_uppercase());
            if !v.is_ascii_alphanumeric() {
                assert_eq!(t, v);
            }
        }
        assert_ne!(token, "4111-1111-1111-1111 Ab");
        let long = "x".repeat(70);
        assert_eq!(ok(&Mask::Tokenize, &long, TEXT).len(), 70);
    }

    #[test]
    fn generalize_dates_and_numbers() {
        let month = Mask::Generalize(Generalization::Month);
        assert_eq!(ok(&month, "1985-07-23", 1082), "1985-07-01");
        assert_eq!(
            ok(&month, "1985-07-23 08:09:10.123", 1114),
            "1985-07-01 00:00:00"
        );
        let k = Mask::Generalize(Generalization::Bucket(1000));
        assert_eq!(ok(&k, "123456", INT4), "123000");
        assert_eq!(ok(&k, "-1999", INT4), "-1000");
        assert_eq!(ok(&k, "1234.5600", 1700), "1000.0000");
        assert_eq!(ok(&k, "-0.5", 1700), "0.0");
        assert_eq!(ok(&k, "123456.7", 701), "123000");
        assert_eq!(ok(&k, "-0.5", 701), "-0");
        assert!(matches!(
            text(&month, "23/07/1985", 1082),
            Err(MaskError::Unrecognised { .. })
        ));
    }
}
