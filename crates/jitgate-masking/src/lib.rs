//! jitgate's masking engine: pure code, no I/O.
//!
//! - [`MaskingPolicy`] (from the configuration's `[masking]`) says, per resource and subject,
//!   which `schema.table.column` is masked with which [`Mask`] ([`MaskingPolicy::view_for`]).
//! - A [`Mask`] is both a PostgreSQL expression ([`Mask::sql_expr`], for the masking subqueries
//!   the statement rewriter puts in place of protected relations, so that predicates only see
//!   masked values) and a transform of wire values ([`Mask::apply_text`],
//!   [`Mask::apply_binary`]), the two agreeing value for value.
//! - [`Mask::spark_expr`] is the same mask as a Spark SQL expression, for the Spark Connect
//!   front.
//! - [`Scanner`] runs content detectors (SSN, card, e-mail, phone, IBAN, IP, AWS key, JWT,
//!   private key, and custom patterns) over text.
//! - [`rewrite_data_row`] and [`scrub_error_fields`] apply masks and detectors to the result
//!   stream, one message at a time; [`MaskKey::blot`] removes the keyed masks' key material
//!   from any message in place.

mod blot;
pub mod detect;
mod key;
mod mask;
mod pattern;
mod policy;
mod row;
mod scrub;
mod types;

pub use blot::PIECE as KEY_PIECE;
pub use detect::{CustomDetector, Detector, Finding, Kind, Scanner, Validator};
pub use key::{MaskKey, WeakKey, MIN_KEY_BYTES};
pub use mask::{
    mysql_text_literal, Generalization, Mask, MaskError, MySqlType, SparkType, Written,
};
pub use pattern::{ColumnPattern, Glob, Specificity};
pub use policy::{
    MaskedView, MaskingPolicy, MaskingRule, PolicyError, PolicySettings, Principal, SubjectView,
};
pub use row::{plan_needs_rewrite, rewrite_data_row, ColumnAction, ColumnPlan, RowError};
pub use scrub::{is_leaky_sqlstate, scrub_error_fields};
pub use types::{PgKind, PgTypeInfo};
