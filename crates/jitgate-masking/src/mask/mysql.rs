//! Masks as MySQL/MariaDB SQL expressions, for the MySQL front's masking subqueries. Each gives,
//! value for value, what [`Mask::apply_mysql_text`] gives for the value's text-protocol form
//! (`tests/mysql/parity.rs` of the `jitgate` crate checks this against a real MariaDB 10.11).
//!
//! MySQL's string functions follow the character set and collation of their arguments, and its
//! string literals follow `sql_mode` (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`) and the connection's
//! character set. So text is taken as `CONVERT(… USING utf8mb4)` (what the front reads results
//! in), compared and cut as bytes where the value matters (`email`), and every string constant
//! is a hex literal converted to utf8mb4, which no session setting changes. Key-derived pads are
//! hex (binary) literals too.
//!
//! The forms hold whatever the session's `sql_mode` (the parity test runs them under
//! `NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT` and under
//! `TRADITIONAL,ORACLE,PAD_CHAR_TO_FULL_LENGTH,EMPTY_STRING_IS_NULL,…`), with one exception
//! that shows less, not more: under `NO_ZERO_IN_DATE` a date with a zero month (`2020-00-00`,
//! which the column may hold from before) truncates to NULL in SQL, where the Rust mask writes
//! `2020-00-01`. `REPEAT` (partial) gives NULL for a result longer than `max_allowed_packet`.
//!
//! MySQL cannot cast to `INT` or `SMALLINT`: integer results are `BIGINT` (`CAST(… AS SIGNED)`),
//! with the same text. Date and time results are `DATE` and `DATETIME`, whatever the column's
//! fractional precision; a `TIMESTAMP` column's value is taken as shown in the session's time
//! zone, as the result stream shows it.
//!
//! Not available (an error the caller turns into a refusal for masked subjects):
//! `tokenize` needs a per-character walk, which MariaDB can only write as a correlated
//! recursive CTE or a `GROUP_CONCAT`, whose result the session's `group_concat_max_len` cuts;
//! `scan` needs the detectors' over-masking SQL form rewritten for PCRE and MariaDB's
//! functions, which is not done yet.

use std::fmt;

use super::keyed::TEXT_HASH_HEX;
use super::{Generalization, Mask, MaskError, Written};
use crate::key::{hex, MaskKey, Purpose, Subkey};
use crate::types::PgTypeInfo;

/// A MySQL/MariaDB column type, as far as masking cares. Types not here (unsigned integers,
/// floating point (whose text form is not PostgreSQL's), binary strings, `TIME`, `YEAR`, `BIT`, `ENUM`, `SET`,
/// `JSON`, spatial) have no masked form: the front must refuse reading them masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MySqlType {
    /// `CHAR`, `VARCHAR`, `TEXT` of any character set (read as utf8mb4).
    Text,
    TinyInt,
    SmallInt,
    MediumInt,
    Int,
    BigInt,
    /// `DECIMAL(precision, scale)`: 1 ≤ precision ≤ 65, scale ≤ 38 and ≤ precision.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    /// `DATETIME(n)`.
    DateTime,
    /// `TIMESTAMP(n)`, shown in the session's time zone.
    Timestamp,
}

impl MySqlType {
    fn is_valid(&self) -> bool {
        match *self {
            MySqlType::Decimal { precision, scale } => {
                (1..=65).contains(&precision) && scale <= 38 && scale <= precision
            }
            _ => true,
        }
    }

    fn is_integer(&self) -> bool {
        matches!(
            self,
            MySqlType::TinyInt
                | MySqlType::SmallInt
                | MySqlType::MediumInt
                | MySqlType::Int
                | MySqlType::BigInt
        )
    }

    /// The PostgreSQL type whose text form is the same as this type's text-protocol form, so
    /// that the Rust masks apply unchanged.
    fn pg_equivalent(&self) -> PgTypeInfo {
        PgTypeInfo::from_oid(match self {
            MySqlType::Text => 25,
            MySqlType::TinyInt | MySqlType::SmallInt => 21,
            MySqlType::MediumInt | MySqlType::Int => 23,
            MySqlType::BigInt => 20,
            MySqlType::Decimal { .. } => 1700,
            MySqlType::Date => 1082,
            MySqlType::DateTime | MySqlType::Timestamp => 1114,
        })
    }

    /// The `CAST` target of this type's masked values.
    fn cast_target(&self) -> String {
        match self {
            MySqlType::Text => "CHAR CHARACTER SET utf8mb4".to_string(),
            MySqlType::TinyInt
            | MySqlType::SmallInt
            | MySqlType::MediumInt
            | MySqlType::Int
            | MySqlType::BigInt => "SIGNED".to_string(),
            MySqlType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            MySqlType::Date => "DATE".to_string(),
            MySqlType::DateTime | MySqlType::Timestamp => "DATETIME".to_string(),
        }
    }
}

impl fmt::Display for MySqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MySqlType::Text => f.write_str("text"),
            MySqlType::TinyInt => f.write_str("tinyint"),
            MySqlType::SmallInt => f.write_str("smallint"),
            MySqlType::MediumInt => f.write_str("mediumint"),
            MySqlType::Int => f.write_str("int"),
            MySqlType::BigInt => f.write_str("bigint"),
            MySqlType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            MySqlType::Date => f.write_str("date"),
            MySqlType::DateTime => f.write_str("datetime"),
            MySqlType::Timestamp => f.write_str("timestamp"),
        }
    }
}

impl Mask {
    /// Whether this mask can produce a valid value of MySQL type `ty`. (A mask that applies may
    /// still have no MySQL form: [`Mask::mysql_expr`].)
    pub fn applies_to_mysql(&self, ty: &MySqlType) -> bool {
        use MySqlType::*;
        if !ty.is_valid() {
            return false;
        }
        match self {
            Mask::Redact | Mask::Null => true,
            Mask::Partial { .. } | Mask::Email | Mask::Tokenize | Mask::Scan => *ty == Text,
            // A tinyint or mediumint pseudonym would need a MAC width the Rust masks do not
            // have; a decimal one must hold an int8 and print without a fraction.
            Mask::Hash => match *ty {
                Text | SmallInt | Int | BigInt => true,
                Decimal { precision, scale } => scale == 0 && precision >= 19,
                _ => false,
            },
            Mask::Generalize(Generalization::Month | Generalization::Year) => {
                matches!(ty, Date | DateTime | Timestamp)
            }
            Mask::Generalize(Generalization::Bucket(width)) => {
                *width > 0 && (ty.is_integer() || matches!(ty, Decimal { .. }))
            }
        }
    }

    /// A MySQL/MariaDB expression computing the masked value of `column_sql` (an expression the
    /// caller vouches for, usually a qualified column reference), NULL for NULL (except
    /// [`Mask::Null`], NULL for everything).
    ///
    /// Only built-in functions are called. MySQL resolves a built-in function name before a
    /// stored function of the same name (stored functions are called qualified), so a user
    /// cannot shadow them; the front must still not let masked subjects read statement texts of
    /// other sessions (`information_schema.PROCESSLIST`, `performance_schema`), since keyed masks
    /// embed a key-derived HMAC pad, and the upstream should not log statements.
    ///
    /// Errors: [`MaskError::NotApplicable`] for masks that cannot keep the type,
    /// [`MaskError::NotInMySql`] for masks without an exact MySQL form (`tokenize`, `scan`),
    /// [`MaskError::KeyMissing`] for keyed masks without a key.
    pub fn mysql_expr(
        &self,
        column_sql: &str,
        ty: &MySqlType,
        key: &MaskKey,
    ) -> Result<String, MaskError> {
        if !self.applies_to_mysql(ty) {
            return Err(MaskError::NotApplicable {
                mask: self.name(),
                type_name: ty.to_string(),
            });
        }
        let keyed = |purpose| {
            key.subkey(purpose)
                .ok_or(MaskError::KeyMissing { mask: self.name() })
        };
        let c = format!("({column_sql})");
        Ok(match self {
            Mask::Null => typed_null(ty),
            Mask::Redact => keep_null(&c, &redact_constant(ty)),
            Mask::Partial {
                keep_first,
                keep_last,
                pad,
            } => partial(&c, *keep_first, *keep_last, *pad),
            Mask::Email => email(&c),
            Mask::Hash => keep_null(&c, &hash(&c, ty, keyed(Purpose::Hash)?)),
            Mask::Generalize(g) => generalize(&c, ty, *g),
            Mask::Tokenize => {
                return Err(MaskError::NotInMySql {
                    mask: self.name(),
                    reason: "its per-character walk has no exact MariaDB form",
                })
            }
            Mask::Scan => {
                return Err(MaskError::NotInMySql {
                    mask: self.name(),
                    reason: "the detectors have no MariaDB SQL form yet",
                })
            }
        })
    }

    /// Appends the masked form of `value` (a non-NULL value in the text protocol's form, text
    /// in utf8mb4) to `out`: the stream form of [`Mask::mysql_expr`]. On error nothing has been
    /// appended.
    pub fn apply_mysql_text(
        &self,
        value: &[u8],
        ty: &MySqlType,
        key: &MaskKey,
        out: &mut Vec<u8>,
    ) -> Result<Written, MaskError> {
        if !self.applies_to_mysql(ty) {
            return Err(MaskError::NotApplicable {
                mask: self.name(),
                type_name: ty.to_string(),
            });
        }
        self.apply_text(value, &ty.pg_equivalent(), key, out)
    }
}

/// A utf8mb4 string constant, written so that neither `sql_mode` nor the connection's
/// character set can change it.
pub fn text_literal(s: &str) -> String {
    if s.is_empty() {
        return "CONVERT(X'' USING utf8mb4)".to_string();
    }
    format!("CONVERT(X'{}' USING utf8mb4)", hex(s.as_bytes()))
}

/// The column's text as utf8mb4.
fn utf8(c: &str) -> String {
    format!("CONVERT({c} USING utf8mb4)")
}

/// The column's text as utf8mb4 bytes.
fn utf8_bytes(c: &str) -> String {
    format!("CAST({} AS BINARY)", utf8(c))
}

/// (Text is written with `CONVERT … USING`, which the front's parser reads back; it does not
/// read `CAST(… AS CHAR CHARACTER SET …)`.)
fn typed_null(ty: &MySqlType) -> String {
    match ty {
        MySqlType::Text => utf8("NULL"),
        _ => format!("CAST(NULL AS {})", ty.cast_target()),
    }
}

/// `expr` when the column is not NULL, NULL when it is.
fn keep_null(column: &str, expr: &str) -> String {
    format!("CASE WHEN {column} IS NULL THEN NULL ELSE {expr} END")
}

fn redact_constant(ty: &MySqlType) -> String {
    match ty {
        MySqlType::Text => text_literal("***"),
        MySqlType::TinyInt
        | MySqlType::SmallInt
        | MySqlType::MediumInt
        | MySqlType::Int
        | MySqlType::BigInt => "0".to_string(),
        // The Rust mask writes `0`, without the column's scale.
        MySqlType::Decimal { precision, .. } => format!("CAST(0 AS DECIMAL({precision},0))"),
        MySqlType::Date => "DATE'1970-01-01'".to_string(),
        MySqlType::DateTime | MySqlType::Timestamp => {
            "CAST(TIMESTAMP'1970-01-01 00:00:00' AS DATETIME)".to_string()
        }
    }
}

/// Characters counted as utf8mb4 characters, as the Rust mask counts `char`s.
fn partial(c: &str, first: u16, last: u16, pad: char) -> String {
    let t = utf8(c);
    let len = format!("CHAR_LENGTH({t})");
    let kept = u32::from(first) + u32::from(last);
    let pad = text_literal(&pad.to_string());
    format!(
        "CASE WHEN {c} IS NULL THEN NULL WHEN {len} <= {kept} THEN REPEAT({pad}, {len}) \
         ELSE CONCAT(LEFT({t}, {first}), REPEAT({pad}, {len} - {kept}), RIGHT({t}, {last})) END"
    )
}

/// `***` and everything from the last `@`, found and cut as bytes (no collation can make
/// another character equal to `@`).
fn email(c: &str) -> String {
    let b = utf8_bytes(c);
    format!(
        "CASE WHEN {c} IS NULL THEN NULL WHEN LOCATE(X'40', {b}) > 0 \
         THEN CONVERT(CONCAT(X'2a2a2a40', SUBSTRING_INDEX({b}, X'40', -1)) USING utf8mb4) \
         ELSE {} END",
        text_literal("***")
    )
}

/// The MAC of the value's utf8mb4 text form, as the column's type (see `keyed.rs`).
fn hash(c: &str, ty: &MySqlType, subkey: &Subkey) -> String {
    let message = match ty {
        MySqlType::Text => utf8_bytes(c),
        // The number's text (ASCII digits, sign, point) as utf8mb4 bytes.
        _ => utf8_bytes(&format!("CAST({c} AS CHAR)")),
    };
    let mac = subkey.mysql_hex(&message);
    let unsigned = |digits: u32| format!("CAST(CONV(LEFT({mac}, {digits}), 16, 10) AS SIGNED)");
    match ty {
        MySqlType::Text => format!("CONVERT(LEFT({mac}, {TEXT_HASH_HEX}) USING utf8mb4)"),
        // As int2_hash: the unsigned 16 bits shifted down by 32768.
        MySqlType::SmallInt => format!("({} - 32768)", unsigned(4)),
        // The first 32 bits as a signed integer, wrapped without overflowing.
        MySqlType::Int => format!(
            "(MOD({} + 2147483648, 4294967296) - 2147483648)",
            unsigned(8)
        ),
        // A negative target base makes CONV read the 64 bits as a signed number.
        _ => format!(
            "CAST(CONV(LEFT({mac}, 16), 16, -10) AS {})",
            ty.cast_target()
        ),
    }
}

fn generalize(c: &str, ty: &MySqlType, g: Generalization) -> String {
    match g {
        Generalization::Month | Generalization::Year => {
            let day = if g == Generalization::Month {
                "%Y-%m-01"
            } else {
                "%Y-01-01"
            };
            let format = match ty {
                MySqlType::Date => day.to_string(),
                _ => format!("{day} 00:00:00"),
            };
            format!(
                "CAST(DATE_FORMAT({c}, {}) AS {})",
                text_literal(&format),
                ty.cast_target()
            )
        }
        Generalization::Bucket(width) => {
            let fits = match ty {
                MySqlType::TinyInt => width <= i8::MAX as u64,
                MySqlType::SmallInt => width <= i16::MAX as u64,
                MySqlType::MediumInt => width < (1 << 23),
                MySqlType::Int => width <= i32::MAX as u64,
                MySqlType::BigInt => width <= i64::MAX as u64,
                _ => true,
            };
            if !fits {
                // Every value of the type lies within one bucket around zero.
                return keep_null(c, "0");
            }
            let w = match ty {
                MySqlType::Decimal { .. } => format!("CAST({width} AS DECIMAL(20,0))"),
                _ => width.to_string(),
            };
            format!("CAST({c} - MOD({c}, {w}) AS {})", ty.cast_target())
        }
    }
}

#[cfg(test)]
mod tests;
