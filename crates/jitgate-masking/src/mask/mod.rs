//! Masks: what a protected column's values become, once as a PostgreSQL expression (for the
//! masking subquery, so that predicates, joins and functions only ever see masked values) and
//! once as a Rust transform of a value on the wire (for values jitgate masks itself in the result
//! stream). Both produce the same result for the same input, which `tests/sql_parity.rs` checks
//! against a real PostgreSQL.
//!
//! Every mask keeps the column's type: a masked date is a date, a masked integer an integer, and
//! NULL stays NULL (except under [`Mask::Null`], which makes everything NULL). A mask that cannot
//! keep a type valid (an e-mail mask on an integer) is an error, which the rewriter turns into a
//! refusal of the statement.
//!
//! Rust transforms of the text format assume the settings jitgate pins on every upstream session:
//! `client_encoding` UTF8 and `DateStyle` ISO; a value not in that form is
//! [`MaskError::Unrecognised`], and the row rewriter then redacts it instead.

mod binary;
mod dates;
mod keyed;
mod mysql;
mod spark;
mod sql;
mod text;

use std::fmt;

pub use mysql::{text_literal as mysql_text_literal, MySqlType};
pub use spark::SparkType;
pub(crate) use sql::literal as sql_literal;
pub(crate) use text::push_int as push_int_text;

use crate::key::MaskKey;
use crate::types::{PgKind, PgTypeInfo};

/// A transform of a column's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// A constant of the column's type: `***` for text, 0 for numbers, 1970-01-01 for dates,
    /// false, the nil UUID, an empty bytea, the JSON string `"***"`; a typed NULL for others.
    Redact,
    /// Text keeping its first and last characters and padding the rest, length kept; a value no
    /// longer than `keep_first + keep_last` is padded whole, or the mask would show all of it.
    Partial {
        keep_first: u16,
        keep_last: u16,
        pad: char,
    },
    /// `***@` followed by the domain (after the last `@`); text without `@` becomes `***`.
    Email,
    /// A keyed HMAC-SHA256 pseudonym, deterministic so that joins and GROUP BY on it still work:
    /// 32 hex digits for text, an integer of the same width from the MAC for integers and
    /// numeric, a UUID from the MAC for uuid, the whole MAC for bytea, a JSON string for json.
    Hash,
    /// Format-preserving keyed pseudonym: every ASCII digit and letter is replaced by one of the
    /// same class and case, chosen by the HMAC of the whole value; everything else is kept.
    /// See [`keyed`] for why this serves where FF1 would.
    Tokenize,
    /// NULL, whatever the value.
    Null,
    /// A coarser value of the same type: dates and timestamps truncated, numbers bucketed.
    Generalize(Generalization),
    /// Free text in which whatever the content detectors recognise is replaced where it stands.
    Scan,
}

/// How [`Mask::Generalize`] coarsens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generalization {
    /// Dates and timestamps to the first day of their month, at midnight.
    Month,
    /// Dates and timestamps to January 1st of their year, at midnight.
    Year,
    /// Numbers to the multiple of this (positive) width toward zero: `v - mod(v, width)`. Toward
    /// zero rather than down, because that can never leave the type's range.
    Bucket(u64),
}

/// Why a mask could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// The mask cannot produce a valid value of this type; the statement must be refused.
    #[error("the {mask} mask cannot be applied to a column of type {type_name}")]
    NotApplicable {
        mask: &'static str,
        type_name: String,
    },
    /// A keyed mask is used but no masking key is configured.
    #[error("the {mask} mask needs a masking key (masking.key_env or masking.key_file)")]
    KeyMissing { mask: &'static str },
    /// A value on the wire is not in the form expected for its type.
    #[error("a value of type {type_name} is not in the expected text form")]
    Unrecognised { type_name: String },
    /// This mask has no Spark SQL form yet ([`Mask::spark_expr`]).
    #[error("the {mask} mask is not available for Spark yet")]
    NotInSpark { mask: &'static str },
    /// This mask has no exact MySQL/MariaDB SQL form ([`Mask::mysql_expr`]).
    #[error("the {mask} mask is not available for MySQL/MariaDB: {reason}")]
    NotInMySql {
        mask: &'static str,
        reason: &'static str,
    },
    /// This mask has no transform for this type's binary format.
    #[error("the {mask} mask has no binary-format transform for type {type_name}")]
    Unsupported {
        mask: &'static str,
        type_name: String,
    },
}

/// What a transform wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A value was appended to the output.
    Value,
    /// The result is NULL; nothing was appended.
    Null,
}

impl Mask {
    /// The word the configuration file uses for this mask.
    pub fn name(&self) -> &'static str {
        match self {
            Mask::Redact => "redact",
            Mask::Partial { .. } => "partial",
            Mask::Email => "email",
            Mask::Hash => "hash",
            Mask::Tokenize => "tokenize",
            Mask::Null => "null",
            Mask::Generalize(_) => "generalize",
            Mask::Scan => "scan",
        }
    }

    /// Whether the mask needs the masking key.
    pub fn is_keyed(&self) -> bool {
        matches!(self, Mask::Hash | Mask::Tokenize)
    }

    /// Whether this mask can produce a valid value of `ty` (what [`Mask::sql_expr`] checks
    /// before building anything).
    pub fn applies_to(&self, ty: &PgTypeInfo) -> bool {
        use PgKind::*;
        let kind = ty.kind();
        match self {
            Mask::Redact | Mask::Null => true,
            Mask::Partial { .. } | Mask::Email | Mask::Tokenize | Mask::Scan => ty.is_textual(),
            Mask::Hash => {
                ty.is_textual()
                    || matches!(
                        kind,
                        Int2 | Int4 | Int8 | Numeric | Uuid | Bytea | Json | Jsonb
                    )
            }
            Mask::Generalize(Generalization::Month | Generalization::Year) => {
                matches!(kind, Date | Timestamp | Timestamptz)
            }
            Mask::Generalize(Generalization::Bucket(_)) => {
                matches!(kind, Int2 | Int4 | Int8 | Numeric | Float4 | Float8)
            }
        }
    }

    /// Whether [`Mask::apply_text`] on a column's clear text output gives exactly what
    /// [`Mask::sql_expr`] gives in PostgreSQL, for every value and whatever the session's
    /// settings (client encoding UTF8 aside): then the rewriter may leave a column that is only
    /// returned, never evaluated, to be masked in the result stream. True for the text types
    /// and integers, whose output does not depend on DateStyle, TimeZone, extra_float_digits or
    /// bytea_output, and for masks whose Rust form never declines a value of them. `scan`'s SQL
    /// is a superset of the detectors, so it is never exact (but see
    /// [`Mask::may_mask_in_stream`]).
    pub fn exact_in_stream(&self, ty: &PgTypeInfo) -> bool {
        use PgKind::*;
        if !self.applies_to(ty) {
            return false;
        }
        match ty.kind() {
            Text | Varchar | Bpchar => !matches!(self, Mask::Scan),
            Int2 | Int4 | Int8 => matches!(
                self,
                Mask::Redact
                    | Mask::Null
                    | Mask::Hash
                    | Mask::Generalize(Generalization::Bucket(_))
            ),
            _ => false,
        }
    }

    /// Whether a column that a statement only returns (never filters, joins, orders, groups or
    /// computes with) may be read clear and masked in the result stream instead of in SQL: when
    /// the stream's transform is exactly the SQL form ([`Mask::exact_in_stream`]), or when the
    /// stream's transform is what the mask means and the SQL form only over-approximates it
    /// for evaluation. `scan` is the second kind: the content detectors are the mask, and its
    /// SQL form replaces a superset of what they find so that predicates and functions never
    /// see more than the stream would show; a value that is only returned is scanned exactly.
    pub fn may_mask_in_stream(&self, ty: &PgTypeInfo) -> bool {
        self.exact_in_stream(ty) || (*self == Mask::Scan && self.applies_to(ty))
    }

    /// A PostgreSQL expression computing the masked value of `column_sql` (an expression the
    /// caller vouches for, usually a qualified column reference), of the column's own type.
    ///
    /// Only core functions are used (`sha256` needs PostgreSQL 11 or later), every function and
    /// operator is qualified with `pg_catalog` so that objects a user creates earlier in
    /// `search_path` cannot see the clear value, and string literals are `E''` strings so that
    /// `standard_conforming_strings` cannot change them.
    ///
    /// Keyed masks embed a key-derived HMAC pad in the SQL: the rewriter must not let masked
    /// subjects read statement texts of other sessions (`pg_stat_activity`,
    /// `pg_stat_statements`), and the upstream should not log statements.
    pub fn sql_expr(
        &self,
        column_sql: &str,
        pg_type: &PgTypeInfo,
        key: &MaskKey,
    ) -> Result<String, MaskError> {
        if !self.applies_to(pg_type) {
            return Err(self.not_applicable(pg_type));
        }
        sql::expr(self, column_sql, pg_type, key)
    }

    /// Appends the masked form of `value` (a non-NULL value in text format) to `out`. On error
    /// nothing has been appended.
    #[inline]
    pub fn apply_text(
        &self,
        value: &[u8],
        pg_type: &PgTypeInfo,
        key: &MaskKey,
        out: &mut Vec<u8>,
    ) -> Result<Written, MaskError> {
        self.applied(pg_type, out, |out| {
            text::apply(self, value, pg_type, key, out)
        })
    }

    /// Appends the masked form of `value` (a non-NULL value in binary format) to `out`.
    ///
    /// Binary transforms exist for every mask on text types, json/jsonb, int2/4/8, float4/8,
    /// date, timestamp(tz), bool, uuid and bytea. For numeric only redact and null exist (other
    /// masks return [`MaskError::Unsupported`]; the row rewriter then redacts). Types of
    /// [`PgKind::Other`] only support null and redact, both as NULL.
    pub fn apply_binary(
        &self,
        value: &[u8],
        pg_type: &PgTypeInfo,
        key: &MaskKey,
        out: &mut Vec<u8>,
    ) -> Result<Written, MaskError> {
        self.applied(pg_type, out, |out| {
            binary::apply(self, value, pg_type, key, out)
        })
    }

    /// Runs a transform if the mask applies to the type, and leaves `out` as it was on error.
    #[inline]
    fn applied(
        &self,
        pg_type: &PgTypeInfo,
        out: &mut Vec<u8>,
        transform: impl FnOnce(&mut Vec<u8>) -> Result<Written, MaskError>,
    ) -> Result<Written, MaskError> {
        if !self.applies_to(pg_type) {
            return Err(self.not_applicable(pg_type));
        }
        let mark = out.len();
        let result = transform(out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    fn not_applicable(&self, ty: &PgTypeInfo) -> MaskError {
        MaskError::NotApplicable {
            mask: self.name(),
            type_name: ty.name().to_string(),
        }
    }

    fn unrecognised(ty: &PgTypeInfo) -> MaskError {
        MaskError::Unrecognised {
            type_name: ty.name().to_string(),
        }
    }

    fn unsupported(&self, ty: &PgTypeInfo) -> MaskError {
        MaskError::Unsupported {
            mask: self.name(),
            type_name: ty.name().to_string(),
        }
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::Partial {
                keep_first,
                keep_last,
                pad,
            } => write!(
                f,
                "partial (keep first {keep_first}, last {keep_last}, pad {pad:?})"
            ),
            Mask::Generalize(Generalization::Month) => write!(f, "generalize to month"),
            Mask::Generalize(Generalization::Year) => write!(f, "generalize to year"),
            Mask::Generalize(Generalization::Bucket(w)) => {
                write!(f, "generalize to buckets of {w}")
            }
            other => f.write_str(other.name()),
        }
    }
}
