//! The second line in the result stream: DataRow messages rewritten one at a time, as they pass.
//!
//! A DataRow is tag `D`, a length word, an i16 column count and per column an i32 length (-1 for
//! NULL) and that many bytes. [`rewrite_data_row`] reads one row's body and appends the whole
//! rewritten message to an output buffer that the relay reuses, so no value is allocated.
//!
//! Failures never let a clear value through: a value a mask cannot transform (not in the expected
//! form, a binary form with no transform) is redacted instead, and a value that cannot even be
//! redacted becomes NULL. A malformed row is an error, on which the relay must end the session.

use crate::detect::Scanner;
use crate::key::MaskKey;
use crate::mask::{Mask, MaskError, Written};
use crate::types::{PgKind, PgTypeInfo};

/// What happens to one column of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnAction {
    /// Relayed untouched.
    Pass,
    /// Masked (the column's origin is protected and the upstream did not mask it).
    Mask(Mask),
    /// Content detectors run over the value (computed columns). In text types findings are
    /// replaced where they stand; in other types (json included, where a placeholder could break
    /// the syntax) any finding redacts the whole value to its type's constant.
    Scan,
}

/// One column of a result: its action, its type (from RowDescription) and its format code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub action: ColumnAction,
    pub ty: PgTypeInfo,
    /// Format code 1 in RowDescription.
    pub binary: bool,
}

/// Why a DataRow could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("malformed DataRow: {0}")]
    Malformed(&'static str),
    #[error("DataRow has {found} columns, the result description {expected}")]
    ColumnCount { expected: usize, found: usize },
}

/// Whether any column needs work; when not, rows are relayed as they are.
pub fn plan_needs_rewrite(columns: &[ColumnPlan]) -> bool {
    columns.iter().any(|c| c.action != ColumnAction::Pass)
}

/// Appends the rewritten DataRow message (tag, length, body) for the row `body` (the bytes after
/// the length word) to `out`.
pub fn rewrite_data_row(
    body: &[u8],
    columns: &[ColumnPlan],
    key: &MaskKey,
    scanner: &Scanner,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let start = out.len();
    let count = body
        .get(..2)
        .ok_or(RowError::Malformed("no column count"))?;
    let count = i16::from_be_bytes([count[0], count[1]]);
    if usize::try_from(count).ok() != Some(columns.len()) {
        return Err(RowError::ColumnCount {
            expected: columns.len(),
            found: count.max(0) as usize,
        });
    }
    out.push(b'D');
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&body[..2]);
    let mut rest = &body[2..];
    for column in columns {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            out.truncate(start);
            return Err(RowError::Malformed("truncated column length"));
        };
        let len = i32::from_be_bytes(*len);
        if len == -1 {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            rest = tail;
            continue;
        }
        let Some(value) = usize::try_from(len).ok().and_then(|n| tail.get(..n)) else {
            out.truncate(start);
            return Err(RowError::Malformed("column length beyond the message"));
        };
        rest = &tail[value.len()..];
        write_value(value, column, key, scanner, out);
    }
    if !rest.is_empty() {
        out.truncate(start);
        return Err(RowError::Malformed("bytes after the last column"));
    }
    let Ok(len) = u32::try_from(out.len() - start - 1) else {
        out.truncate(start);
        return Err(RowError::Malformed("rewritten row too large"));
    };
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Writes one non-NULL value (length word and bytes) as its plan says.
fn write_value(
    value: &[u8],
    column: &ColumnPlan,
    key: &MaskKey,
    scanner: &Scanner,
    out: &mut Vec<u8>,
) {
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let written = match &column.action {
        ColumnAction::Pass => {
            out.extend_from_slice(value);
            Written::Value
        }
        ColumnAction::Mask(mask) => match apply(mask, value, column, key, out) {
            Ok(w) => w,
            Err(_) => redact_or_null(value, column, key, out),
        },
        ColumnAction::Scan => scan(value, column, key, scanner, out),
    };
    match written {
        Written::Value => {
            // Values come from one protocol message, so they fit its i32 length.
            let len = (out.len() - len_at - 4) as i32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Written::Null => {
            out.truncate(len_at);
            out.extend_from_slice(&(-1i32).to_be_bytes());
        }
    }
}

fn apply(
    mask: &Mask,
    value: &[u8],
    column: &ColumnPlan,
    key: &MaskKey,
    out: &mut Vec<u8>,
) -> Result<Written, MaskError> {
    if column.binary {
        mask.apply_binary(value, &column.ty, key, out)
    } else {
        mask.apply_text(value, &column.ty, key, out)
    }
}

fn redact_or_null(value: &[u8], column: &ColumnPlan, key: &MaskKey, out: &mut Vec<u8>) -> Written {
    apply(&Mask::Redact, value, column, key, out).unwrap_or(Written::Null)
}

fn scan(
    value: &[u8],
    column: &ColumnPlan,
    key: &MaskKey,
    scanner: &Scanner,
    out: &mut Vec<u8>,
) -> Written {
    let ty = &column.ty;
    if ty.is_textual() {
        scanner.redact_into(value, out);
        return Written::Value;
    }
    let found = match (ty.kind(), column.binary) {
        (PgKind::Jsonb, true) => scanner.finds_any(value.get(1..).unwrap_or_default()),
        (PgKind::Int2 | PgKind::Int4 | PgKind::Int8, true) => {
            let mut text = Vec::with_capacity(20);
            let v = match value.len() {
                2 => i64::from(i16::from_be_bytes([value[0], value[1]])),
                4 => i64::from(i32::from_be_bytes([value[0], value[1], value[2], value[3]])),
                8 => i64::from_be_bytes(value.try_into().unwrap_or_default()),
                _ => return redact_or_null(value, column, key, out),
            };
            crate::mask::push_int_text(&mut text, v);
            scanner.finds_any(&text)
        }
        // Dates, times, booleans, floats and UUIDs in binary hold nothing a detector reads;
        // numeric in binary is not decoded, so it is treated as found (fail closed).
        (
            PgKind::Date
            | PgKind::Timestamp
            | PgKind::Timestamptz
            | PgKind::Bool
            | PgKind::Float4
            | PgKind::Float8
            | PgKind::Uuid,
            true,
        ) => false,
        (PgKind::Numeric | PgKind::Other, true) => true,
        // Text forms of other types: bytea (alone, in arrays or records) prints as hex, which
        // no detector reads, so its decoded bytes are scanned too.
        _ => scanner.finds_any(value) || finds_in_hex_bytea(value, scanner),
    };
    if found {
        return redact_or_null(value, column, key, out);
    }
    out.extend_from_slice(value);
    Written::Value
}

/// Whether the detectors find anything in the bytes of a `\x…` hex run (bytea's text output, with
/// the backslash doubled or not as arrays and records quote it).
fn finds_in_hex_bytea(value: &[u8], scanner: &Scanner) -> bool {
    let mut decoded = Vec::new();
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&value[at..], b"\\x") {
        let start = at + found + 2;
        let digits = value[start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        decoded.clear();
        decoded.extend(value[start..start + digits].chunks_exact(2).map(|pair| {
            let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            nibble(pair[0]) << 4 | nibble(pair[1])
        }));
        if scanner.finds_any(&decoded) {
            return true;
        }
        at = start + digits;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut body = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                Some(v) => {
                    body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    body.extend_from_slice(v);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        body
    }

    fn plan(action: ColumnAction, oid: u32, binary: bool) -> ColumnPlan {
        ColumnPlan {
            action,
            ty: PgTypeInfo::from_oid(oid),
            binary,
        }
    }

    fn rewrite(body: &[u8], columns: &[ColumnPlan]) -> Result<Vec<u8>, RowError> {
        let mut out = Vec::new();
        rewrite_data_row(
            body,
            columns,
            &MaskKey::missing(),
            Scanner::builtin(),
            &mut out,
        )?;
        assert_eq!(out[0], b'D');
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len());
        Ok(out[5..].to_vec())
    }

    #[test]
    fn masks_scans_and_passes_columns() {
        let body = row(&[
            Some(b"42"),
            Some(b"123-45-6789"),
            None,
            Some(b"call 415-555-2671"),
            Some(b"ok"),
        ]);
        let columns = [
            plan(ColumnAction::Pass, 23, false),
            plan(
                ColumnAction::Mask(Mask::Partial {
                    keep_first: 0,
                    keep_last: 4,
                    pad: '*',
                }),
                25,
                false,
            ),
            plan(ColumnAction::Mask(Mask::Redact), 25, false),
            plan(ColumnAction::Scan, 25, false),
            plan(ColumnAction::Mask(Mask::Null), 25, false),
        ];
        let out = rewrite(&body, &columns).expect("rewrite");
        assert_eq!(
            out,
            row(&[
                Some(b"42"),
                Some(b"*******6789"),
                None,
                Some(b"call [phone]"),
                None
            ])
        );
    }

    /// bytea's text output is hex, which no detector reads: computed bytea values, alone or in
    /// arrays and records (`convert_to(note, 'UTF8')`, `array[…]`, `row(…)`), are scanned in
    /// their decoded bytes, and redacted whole on a finding; others pass as they are.
    #[test]
    fn hex_bytea_is_scanned_decoded() {
        let hex: String = b"ssn 078-05-1120"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let alone = format!("\\x{hex}");
        let in_array = format!("{{\"\\\\x{hex}\",\"\\\\x00\"}}");
        let in_record = format!("(1,\"\\\\x{hex}\")");
        let benign = "\\x68656c6c6f".to_string();
        let body = row(&[
            Some(alone.as_bytes()),
            Some(in_array.as_bytes()),
            Some(in_record.as_bytes()),
            Some(benign.as_bytes()),
        ]);
        let columns = [
            plan(ColumnAction::Scan, 17, false),
            plan(ColumnAction::Scan, 1001, false),
            plan(ColumnAction::Scan, 2249, false),
            plan(ColumnAction::Scan, 17, false),
        ];
        let out = rewrite(&body, &columns).expect("rewrite");
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(&hex), "{text}");
        assert!(text.contains(&benign), "{text}");
    }

    #[test]
    fn failures_redact_instead_of_passing() {
        // A date not in ISO form cannot be generalised: it is redacted.
        let body = row(&[
            Some(b"07/23/1985"),
            Some(&[1, 2, 3]),
            Some(&4_111_111_111_111_111i64.to_be_bytes()),
        ]);
        let columns = [
            plan(
                ColumnAction::Mask(Mask::Generalize(crate::Generalization::Month)),
                1082,
                false,
            ),
            plan(ColumnAction::Mask(Mask::Redact), 23, true),
            plan(ColumnAction::Scan, 20, true),
        ];
        let out = rewrite(&body, &columns).expect("rewrite");
        assert_eq!(
            out,
            row(&[Some(b"1970-01-01"), None, Some(&0i64.to_be_bytes())])
        );
    }

    #[test]
    fn malformed_rows_are_errors() {
        let columns = [plan(ColumnAction::Pass, 25, false)];
        assert!(matches!(
            rewrite(&[0, 2], &columns),
            Err(RowError::ColumnCount { .. })
        ));
        assert!(rewrite(&[0, 1, 0, 0, 0, 9, b'x'], &columns).is_err());
        assert!(rewrite(&[0, 1, 0, 0], &columns).is_err());
        assert!(rewrite(&[0, 1, 0xff, 0xff, 0xff, 0xfe], &columns).is_err());
        let mut ok = row(&[Some(b"x")]);
        ok.push(0);
        assert!(rewrite(&ok, &columns).is_err(), "trailing bytes");
    }
}
