//! Masks as PostgreSQL expressions.

use super::keyed::TOKEN_BLOCK;
use super::text::redact_constant;
use super::{Generalization, Mask, MaskError};
use crate::detect::sql_scan;
use crate::key::{MaskKey, Purpose};
use crate::types::{PgKind, PgTypeInfo};

/// `pg_catalog.name(args…)`.
fn call(name: &str, args: &[&str]) -> String {
    format!("pg_catalog.{name}({})", args.join(", "))
}

/// A binary operator from `pg_catalog`, never one a user defined.
fn op(left: &str, operator: &str, right: &str) -> String {
    format!("({left} OPERATOR(pg_catalog.{operator}) {right})")
}

fn cast(expr: &str, target: &str) -> String {
    format!("({expr})::{target}")
}

/// A string literal whose meaning does not depend on `standard_conforming_strings`.
pub(crate) fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `expr` when the column is not NULL, a typed NULL when it is: for expressions that would not
/// stay NULL by themselves (constants, `coalesce`).
fn keep_null(column: &str, target: &str, expr: &str) -> String {
    format!("CASE WHEN {column} IS NULL THEN NULL::{target} ELSE {expr} END")
}

pub(super) fn expr(
    mask: &Mask,
    column_sql: &str,
    ty: &PgTypeInfo,
    key: &MaskKey,
) -> Result<String, MaskError> {
    let target = ty.cast_target().ok_or_else(|| mask.not_applicable(ty))?;
    let column = format!("({column_sql})");
    let text = cast(&column, "pg_catalog.text");
    let keyed = |purpose| {
        key.subkey(purpose)
            .ok_or(MaskError::KeyMissing { mask: mask.name() })
    };
    Ok(match mask {
        Mask::Null => format!("NULL::{target}"),
        Mask::Redact => match redact_constant(ty.kind()) {
            Some(constant) => keep_null(&column, &target, &cast(&literal(constant), &target)),
            None => format!("NULL::{target}"),
        },
        Mask::Partial {
            keep_first,
            keep_last,
            pad,
        } => {
            let len = call("char_length", &[&text]);
            let kept = u32::from(*keep_first) + u32::from(*keep_last);
            let pad = literal(&pad.to_string());
            let all_padded = call("repeat", &[&pad, &len]);
            let middle = call("repeat", &[&pad, &op(&len, "-", &kept.to_string())]);
            let first = call("left", &[&text, &keep_first.to_string()]);
            let last = call("right", &[&text, &keep_last.to_string()]);
            let kept_ends = op(&op(&first, "||", &middle), "||", &last);
            format!(
                "CASE WHEN {column} IS NULL THEN NULL::{target} WHEN {} THEN {} ELSE {} END",
                op(&len, "<=", &kept.to_string()),
                cast(&all_padded, &target),
                cast(&kept_ends, &target)
            )
        }
        Mask::Email => {
            let domain = call("substring", &[&text, &literal("@[^@]*$")]);
            let masked = op(&literal("***"), "||", &format!("coalesce({domain}, '')"));
            keep_null(&column, &target, &cast(&masked, &target))
        }
        Mask::Hash => hash(&column, &text, ty, &target, keyed(Purpose::Hash)?),
        Mask::Tokenize => tokenize(&column, &text, &target, keyed(Purpose::Tokenize)?),
        Mask::Generalize(g) => generalize(&column, ty, &target, *g),
        Mask::Scan => cast(&sql_scan::scrub_sql(&text), &target),
    })
}

/// The MAC of the value's text form (its bytes for bytea), as the column's type.
fn hash(
    column: &str,
    text: &str,
    ty: &PgTypeInfo,
    target: &str,
    subkey: &crate::key::Subkey,
) -> String {
    let message = match ty.kind() {
        PgKind::Bytea => column.to_string(),
        _ => call("convert_to", &[text, "'UTF8'"]),
    };
    let mac = subkey.sql(&message);
    let hex = call("encode", &[&mac, "'hex'"]);
    // The first n hex digits of the MAC read as a signed integer of 4n bits.
    let int_of = |digits: u32| {
        let bits = op("'x'", "||", &call("left", &[&hex, &digits.to_string()]));
        cast(&bits, &format!("pg_catalog.\"bit\"({})", digits * 4))
    };
    match ty.kind() {
        PgKind::Int2 => {
            // bit(16) only converts to int4 (unsigned), so shift it into int2's range.
            let unsigned = cast(&int_of(4), "pg_catalog.int4");
            cast(&op(&unsigned, "-", "32768"), target)
        }
        PgKind::Int4 => cast(&int_of(8), target),
        PgKind::Int8 | PgKind::Numeric => cast(&cast(&int_of(16), "pg_catalog.int8"), target),
        PgKind::Uuid => cast(&call("left", &[&hex, "32"]), target),
        PgKind::Bytea => mac,
        PgKind::Json => call("to_json", &[&call("left", &[&hex, "32"])]),
        PgKind::Jsonb => call("to_jsonb", &[&call("left", &[&hex, "32"])]),
        _ => cast(&call("left", &[&hex, "32"]), target),
    }
}

/// Replaces each ASCII digit and letter by one of its class, offset by a MAC byte for its
/// position (see `keyed.rs`); a scalar subquery walks the characters in order.
///
/// The MAC is computed once per value, in a subquery that `OFFSET 0` keeps the planner from
/// pulling up: pulled up, its expression is copied into every use, and PostgreSQL computed it
/// again for every character. The expression stays small on purpose: one written out per
/// character position was faster still without JIT, but large enough that PostgreSQL's JIT
/// compiler (on by default for costly queries) spent seconds compiling it.
fn tokenize(column: &str, text: &str, target: &str, subkey: &crate::key::Subkey) -> String {
    let mac = subkey.sql(&call("convert_to", &["jg_v.jg_t", "'UTF8'"]));
    let code = call("ascii", &["jg_s.jg_ch"]);
    let rotate = |base: u32, size: u32| {
        let shifted = op(&op(&code, "-", &base.to_string()), "+", "jg_s.jg_o");
        let index = op(
            &base.to_string(),
            "+",
            &op(&shifted, "%", &size.to_string()),
        );
        call("chr", &[&index])
    };
    let within = |lo: u32, hi: u32| {
        format!(
            "{} AND {}",
            op(&code, ">=", &lo.to_string()),
            op(&code, "<=", &hi.to_string())
        )
    };
    let replaced = format!(
        "CASE WHEN {} THEN {} WHEN {} THEN {} WHEN {} THEN {} ELSE jg_s.jg_ch END",
        within(48, 57),
        rotate(48, 10),
        within(65, 90),
        rotate(65, 26),
        within(97, 122),
        rotate(97, 26),
    );
    // Character n (from 0) takes byte n % 32 of the MAC for n < 32, and of
    // sha256(MAC || int4(n / 32)) beyond, so long values do not repeat offsets.
    let index0 = op("jg_i", "-", "1");
    let block = op(&index0, "/", &TOKEN_BLOCK.to_string());
    let byte = op(&index0, "%", &TOKEN_BLOCK.to_string());
    let later_block = call(
        "sha256",
        &[&call(
            "byteacat",
            &["jg_k.jg_h", &call("int4send", &[&block])],
        )],
    );
    let offset = format!(
        "CASE WHEN {} THEN {} ELSE {} END",
        op(&block, "=", "0"),
        call("get_byte", &["jg_k.jg_h", &byte]),
        call("get_byte", &[&later_block, &byte]),
    );
    let walk = format!(
        "(SELECT {agg} FROM (SELECT jg_i, {ch} AS jg_ch, {offset} AS jg_o \
         FROM (SELECT jg_t, {mac} AS jg_h FROM (SELECT {text} AS jg_t) AS jg_v OFFSET 0) AS jg_k, \
         {series} AS jg_i) AS jg_s)",
        agg = format_args!("pg_catalog.string_agg({replaced}, '' ORDER BY jg_s.jg_i)"),
        ch = call("substr", &["jg_k.jg_t", "jg_i", "1"]),
        series = call(
            "generate_series",
            &["1", &call("char_length", &["jg_k.jg_t"])]
        ),
    );
    keep_null(
        column,
        target,
        &cast(&format!("coalesce({walk}, '')"), target),
    )
}

fn generalize(column: &str, ty: &PgTypeInfo, target: &str, g: Generalization) -> String {
    match g {
        Generalization::Month | Generalization::Year => {
            let unit = if g == Generalization::Month {
                "'month'"
            } else {
                "'year'"
            };
            match ty.kind() {
                PgKind::Date => cast(
                    &call("date_trunc", &[unit, &cast(column, "pg_catalog.timestamp")]),
                    target,
                ),
                _ => call("date_trunc", &[unit, column]),
            }
        }
        Generalization::Bucket(width) => {
            let fits = match ty.kind() {
                PgKind::Int2 => width <= i16::MAX as u64,
                PgKind::Int4 => width <= i32::MAX as u64,
                _ => width <= i64::MAX as u64,
            };
            match ty.kind() {
                // Every value of the type lies within one bucket around zero.
                _ if !fits => keep_null(column, target, &cast("0", target)),
                PgKind::Float4 | PgKind::Float8 => {
                    let width_as = |t: &str| cast(&width.to_string(), t);
                    let quotient = op(column, "/", &width_as(target));
                    let truncated = call("trunc", &[&cast(&quotient, "pg_catalog.float8")]);
                    cast(&op(&truncated, "*", &width_as("pg_catalog.float8")), target)
                }
                _ => {
                    let w = cast(&width.to_string(), target);
                    op(column, "-", &call("mod", &[column, &w]))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(mask: &Mask, oid: u32, key: &MaskKey) -> Result<String, MaskError> {
        mask.sql_expr("t.c", &PgTypeInfo::from_oid(oid), key)
    }

    #[test]
    fn expressions_use_only_qualified_functions_and_operators() {
        let key = MaskKey::new(b"0123456789abcdef", "test").expect("key");
        let partial = Mask::Partial {
            keep_first: 1,
            keep_last: 2,
            pad: '\'',
        };
        for (mask, oid) in [
            (partial, 25),
            (Mask::Email, 1043),
            (Mask::Hash, 21),
            (Mask::Tokenize, 25),
            (Mask::Generalize(Generalization::Bucket(10)), 701),
        ] {
            let expr = sql(&mask, oid, &key).expect("applicable");
            // Every call and operator comes from pg_catalog: no bare `||`, `-` or `left(`.
            assert!(
                !expr.contains(" || ") && !expr.contains(" - ") && !expr.contains(" left("),
                "{expr}"
            );
            assert!(expr.contains("pg_catalog."), "{expr}");
        }
        assert_eq!(
            sql(&Mask::Redact, 1082, &key).expect("date"),
            "CASE WHEN (t.c) IS NULL THEN NULL::pg_catalog.date ELSE (E'1970-01-01')::pg_catalog.date END"
        );
        assert_eq!(
            sql(&Mask::Generalize(Generalization::Month), 1082, &key).expect("date"),
            "(pg_catalog.date_trunc('month', ((t.c))::pg_catalog.timestamp))::pg_catalog.date"
        );
        assert_eq!(literal("it's a \\"), "E'it''s a \\\\'");
    }

    #[test]
    fn inapplicable_masks_and_missing_keys_are_errors() {
        let key = MaskKey::missing();
        assert!(matches!(
            sql(&Mask::Email, 23, &key),
            Err(MaskError::NotApplicable { .. })
        ));
        assert!(matches!(
            sql(&Mask::Generalize(Generalization::Month), 25, &key),
            Err(MaskError::NotApplicable { .. })
        ));
        assert_eq!(
            sql(&Mask::Hash, 25, &key),
            Err(MaskError::KeyMissing { mask: "hash" })
        );
        // Other types: only a typed NULL, and only when the type name is safe to paste.
        let mood = PgTypeInfo::new(16_385, "public.mood");
        assert_eq!(
            Mask::Redact.sql_expr("c", &mood, &key).as_deref(),
            Ok("NULL::public.mood")
        );
        assert!(Mask::Null
            .sql_expr("c", &PgTypeInfo::from_oid(99_999), &key)
            .is_err());
    }
}
