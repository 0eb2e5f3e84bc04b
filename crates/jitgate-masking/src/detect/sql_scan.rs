//! [`crate::Mask::Scan`] inside PostgreSQL: the shapes of the built-in detectors as
//! `regexp_replace` calls, so that predicates on a free-text column already see its PII replaced.
//!
//! PostgreSQL cannot run the validators (Luhn, mod-97, SSN ranges) cheaply, so these patterns
//! are a deliberate superset of the Rust detectors: every 13–19 digit run counts as a card, every
//! `NNN-NN-NNNN` as an SSN, every dotted quad as an address. Over-masking in a free-text column
//! is the safe error. Two context-dependent shapes are left to the stream scanner, which sees the
//! context: nine bare digits (SSN) and ten bare digits (phone). Custom detectors also run only in
//! the stream: their patterns are Rust syntax, which PostgreSQL's regular expressions do not share.

use crate::mask::sql_literal;

/// (pattern in PostgreSQL ARE syntax, placeholder), applied in this order: longer, more specific
/// shapes first so that their digits are gone before the number patterns run.
const SHAPES: [(&str, &str); 11] = [
    (
        r"-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----[^-]*(-----END [A-Z ]*PRIVATE KEY[A-Z ]*-----)?",
        "[private_key]",
    ),
    (
        r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        "[jwt]",
    ),
    (r"(AKIA|ASIA)[A-Z0-9]{16}", "[aws_key]"),
    (
        r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+",
        "[email]",
    ),
    (
        r"[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{4}){2,7}( ?[A-Z0-9]{1,3})?",
        "[iban]",
    ),
    (r"[0-9]([ -]?[0-9]){12,18}", "[card]"),
    (r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}", "[ssn]"),
    (r"\+[0-9][0-9 ().-]{6,}[0-9]", "[phone]"),
    (r"\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}", "[phone]"),
    (r"[0-9]{1,3}(\.[0-9]{1,3}){3}", "[ip]"),
    (
        r"\m([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|\m[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4})*::[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4})*[0-9A-Fa-f]",
        "[ip]",
    ),
];

/// Nested `regexp_replace` calls over `text_sql` (a text expression). NULL stays NULL.
pub(crate) fn scrub_sql(text_sql: &str) -> String {
    SHAPES
        .iter()
        .fold(text_sql.to_string(), |inner, (pattern, placeholder)| {
            format!(
                "pg_catalog.regexp_replace({inner}, {}, {}, 'g')",
                sql_literal(pattern),
                sql_literal(placeholder)
            )
        })
}
