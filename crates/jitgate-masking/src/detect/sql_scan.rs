//! [`crate::Mask::Scan`] where a column is evaluated (filtered, joined, computed with): the
//! built-in detectors as one SQL expression, so that predicates on a free-text column already
//! see its PII replaced. PostgreSQL's form ([`scrub_sql`]) and Spark's
//! (`crate::mask::spark`) are rendered from the one list of shapes here, written in the
//! subset of regular-expression syntax that PostgreSQL's AREs and Java's `Pattern` read alike.
//!
//! The SQL form must over-mask, never under-mask: whatever a Rust detector reports, the SQL
//! form replaces (`tests/sql_parity.rs` checks this on generated text against a real
//! PostgreSQL 15, `crates/jitgate/tests/spark/parity.rs` against a real Spark). It is built so:
//! 1. The text is folded with `translate` and the table of [`super::fold`], the one the Rust
//!    detectors match on.
//! 2. Numbers: every maximal run of digits joined by separators, `+` and parentheses (a
//!    *numeric token*, starting where a number may start) is replaced whole when it contains
//!    a shape a number detector could report: `NNN-NN-NNNN` in the issued ranges, 13–19 digits
//!    of consecutive groups that pass Luhn with a card network's first digits, an E.164 or NANP
//!    phone, a dotted quad; or nine (ten, eleven) bare digits when a context word stands within
//!    the 40 characters before the token. Since the Rust detectors' numbers lie inside one
//!    token, and the tests here are looser than theirs, a replaced token covers every number
//!    they find; the checksum keeps 16-digit references that fail Luhn.
//! 3. Then the other shapes, with `regexp_replace`: private keys, JWTs, AWS keys, e-mail
//!    addresses, IBAN-shaped tokens (no checksum: every one is replaced), IPv6.
//!
//! Custom detectors run only in the stream: their patterns are Rust syntax.

use std::sync::OnceLock;

use super::fold;
use super::network::{VERSION_CONTEXT, VERSION_WINDOW};
use super::numbers::{CONTEXT_WINDOW, PHONE_CONTEXT, SSN_CONTEXT};
use super::text::MAX_SEP;
use crate::mask::sql_literal;

/// The bytes [`super::text::is_sep`] accepts between digit groups, as a bracket expression.
pub(crate) const SEP_BYTES: &[u8] = b"-._/ \t\r\n";
/// What may stand between the digits of a numeric token.
const JOINER: &str = "[-._/ \t\r\n+()]";
/// Marks a numeric token's start and end while the SQL form decides on it; folded away from
/// the text first.
pub(crate) const TOKEN_OPEN: char = '\u{1}';
pub(crate) const TOKEN_CLOSE: char = '\u{2}';
/// Numeric tokens are tested for context words in this many characters before them.
pub(crate) const CONTEXT_CHARS: usize = CONTEXT_WINDOW;

/// A test a numeric token may pass to be replaced.
pub(crate) enum TokenTest {
    /// The token matches this pattern (anywhere).
    Shape(String),
    /// 13–19 digits of consecutive digit groups pass Luhn and start like a card number.
    Card,
    /// The text before the token matches `context` and the token matches `shape`.
    AfterContext { context: String, shape: String },
    /// The token matches `shape`, unless it matches `alone` and the text before it matches
    /// `context` (a dotted quad after `version`).
    UnlessAfter {
        shape: String,
        alone: String,
        context: String,
    },
}

/// Everything a dialect needs to render the SQL form of `scan`.
pub(crate) struct Shapes {
    /// `translate` arguments: the fold table plus the token marks (folded to `?`).
    pub(crate) fold_from: String,
    pub(crate) fold_to: String,
    /// Text that holds a character to fold (what is not between U+0003 and U+007F): only such
    /// text is translated, since PostgreSQL's `translate` costs the table's length per character.
    pub(crate) needs_fold: &'static str,
    /// A numeric token.
    pub(crate) token: String,
    /// Text that may hold a numeric token that passes a test (four digits joined as in a token;
    /// the shortest test, a dotted quad, has four): other text skips the token machinery.
    pub(crate) may_hold_number: String,
    /// The tests, in order, with the placeholder of the first that passes.
    pub(crate) token_tests: Vec<(TokenTest, &'static str)>,
    /// What a card's digits must start with (a superset of the issuers' prefixes).
    pub(crate) card_prefix: &'static str,
    /// `regexp_replace` passes after the numbers: (pattern, placeholder).
    pub(crate) passes: Vec<(String, &'static str)>,
}

/// `[-._/ \t\r\n]`: `-` first, so that it is literal in both dialects.
fn sep_class() -> String {
    format!("[{}]", String::from_utf8_lossy(SEP_BYTES))
}

/// Context words as an alternation: letters in either case, a space inside a word for 0 to
/// `MAX_SEP` separators, one ending it for 1 to `MAX_SEP` (as `text::context_before` reads
/// them).
fn context_pattern(words: &[&[u8]]) -> String {
    let sep = sep_class();
    let alternatives: Vec<String> = words
        .iter()
        .map(|word| {
            let mut out = String::new();
            for (i, &b) in word.iter().enumerate() {
                match b {
                    b' ' if i + 1 == word.len() => out += &format!("{sep}{{1,{MAX_SEP}}}"),
                    b' ' => out += &format!("{sep}{{0,{MAX_SEP}}}"),
                    b'a'..=b'z' => {
                        out += &format!("[{}{}]", char::from(b.to_ascii_uppercase()), char::from(b))
                    }
                    b'.' => out += "\\.",
                    other => out.push(char::from(other)),
                }
            }
            out
        })
        .collect();
    format!("(?:{})", alternatives.join("|"))
}

/// The shapes, built once.
pub(crate) fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(build)
}

fn build() -> Shapes {
    let (from, to) = fold::table();
    let sep = sep_class();
    let s13 = format!("{sep}{{1,{MAX_SEP}}}");
    let left = "(?:^|[^0-9])";
    let right = "(?:[^0-9]|$)";
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
    let quad = format!(r"{octet}\.{octet}\.{octet}\.{octet}");
    let token_tests = vec![
        (
            TokenTest::Shape(format!(
                "{left}(?!000|666|9)[0-9]{{3}}{s13}(?!00)[0-9]{{2}}{s13}(?!0000)[0-9]{{4}}{right}"
            )),
            "[ssn]",
        ),
        (TokenTest::Card, "[card]"),
        (
            TokenTest::Shape(r"\+[0-9](?:[^0-9]{0,4}[0-9]){7,}".to_string()),
            "[phone]",
        ),
        (
            TokenTest::Shape(format!(
                "{left}[2-9][0-9]{{2}}[^0-9]{{1,4}}[2-9][0-9]{{2}}{s13}[0-9]{{4}}{right}"
            )),
            "[phone]",
        ),
        (
            TokenTest::UnlessAfter {
                shape: format!("{left}{quad}{right}"),
                alone: format!("^{quad}$"),
                // The version word and only printable ASCII (one byte each, as the detector
                // counts) after it, within the window less one (Java's `$` may stand before a
                // final line break).
                context: format!(
                    "(?=[\t -~]{{1,{}}}$){}[\t -~]*$",
                    VERSION_WINDOW - 1,
                    context_pattern(VERSION_CONTEXT)
                ),
            },
            "[ip]",
        ),
        (
            TokenTest::AfterContext {
                context: context_pattern(SSN_CONTEXT),
                shape: format!("{left}[0-9]{{9}}{right}"),
            },
            "[ssn]",
        ),
        (
            TokenTest::AfterContext {
                context: context_pattern(PHONE_CONTEXT),
                shape: format!("{left}[0-9]{{10,11}}{right}"),
            },
            "[phone]",
        ),
    ];
    let hex = "[0-9A-Fa-f]";
    let passes = vec![
        (
            "-----BEGIN [^\n]*PRIVATE KEY[^-]*(?:-(?!----END )[^-]*)*(?:-----END [^-]*(?:-(?!----)[^-]*)*(?:-----)?)?"
                .to_string(),
            "[private_key]",
        ),
        (
            r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*".to_string(),
            "[jwt]",
        ),
        ("(?:AKIA|ASIA)[A-Z0-9]{16}".to_string(), "[aws_key]"),
        (
            r"[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+".to_string(),
            "[email]",
        ),
        (
            format!(
                "[A-Z]{{2}}[0-9]{{2}}(?:{sep}{{0,{MAX_SEP}}}[A-Z0-9]{{4}}){{2,7}}(?:{sep}{{0,{MAX_SEP}}}[A-Z0-9]{{1,3}})?"
            ),
            "[iban]",
        ),
        (
            format!(
                r"(?<![0-9A-Za-z_])(?=[0-9A-Fa-f:.]*[0-9])(?:(?:{hex}{{1,4}}:){{7}}{hex}{{1,4}}|{hex}{{0,4}}(?::{hex}{{0,4}})*::{hex}{{0,4}}(?::{hex}{{0,4}})*)(?:\.[0-9]{{1,3}}){{0,3}}"
            ),
            "[ip]",
        ),
    ];
    Shapes {
        fold_from: format!("{from}{TOKEN_OPEN}{TOKEN_CLOSE}"),
        fold_to: format!("{to}??"),
        needs_fold: "[^\\x03-\\x7f]",
        token: format!("[+(]{{0,2}}(?<![A-Za-z0-9_])[0-9](?:{JOINER}{{0,5}}[0-9])*"),
        may_hold_number: format!("[0-9](?:{JOINER}{{0,5}}[0-9]){{3}}"),
        token_tests,
        card_prefix: "^(?:4|5|2[2-7]|3|6)",
        passes,
    }
}

/// `pg_catalog.name(args…)`.
fn call(name: &str, args: &[&str]) -> String {
    format!("pg_catalog.{name}({})", args.join(", "))
}

/// A binary operator from `pg_catalog`, never one a user defined.
fn op(left: &str, operator: &str, right: &str) -> String {
    format!("({left} OPERATOR(pg_catalog.{operator}) {right})")
}

/// Whether PostgreSQL text `expr` matches `pattern` somewhere.
fn pg_matches(expr: &str, pattern: &str) -> String {
    op(expr, "~", &sql_literal(pattern))
}

/// Whether the digit string `d` passes Luhn (PostgreSQL), with string functions only: the
/// digits at odd places from the right as they are, those at even places doubled (the table
/// `0246813579` gives the doubled digit's digit sum), and the digit sum counted as the length
/// of the digits written in unary. No row source, so the planner's cost stays small (a large
/// estimate makes PostgreSQL compile the statement with JIT, a second per statement).
fn pg_luhn(d: &str) -> String {
    let reversed = call("reverse", &[d]);
    let odd = call(
        "regexp_replace",
        &[&reversed, &sql_literal("(.).?"), &sql_literal("\\1"), "'g'"],
    );
    let even = call(
        "regexp_replace",
        &[&reversed, &sql_literal(".(.?)"), &sql_literal("\\1"), "'g'"],
    );
    let doubled = call("translate", &[&even, "'0123456789'", "'0246813579'"]);
    let mut unary = call("replace", &[&op(&odd, "||", &doubled), "'0'", "''"]);
    for digit in 1..=9 {
        unary = call(
            "replace",
            &[
                &unary,
                &format!("'{digit}'"),
                &format!("'{}'", "x".repeat(digit)),
            ],
        );
    }
    op(&op(&call("length", &[&unary]), "%", "10"), "=", "0")
}

/// Rows `1..=n` with a row estimate of 10 (`regexp_matches` with `g`), where
/// `generate_series` would make the planner expect 1000.
fn pg_rows(n: &str, alias: &str, ordinal: &str) -> String {
    format!(
        "{} WITH ORDINALITY AS {alias}({alias}_m, {ordinal})",
        call(
            "regexp_matches",
            &[&call("repeat", &["'x'", n]), "'x'", "'g'"]
        )
    )
}

/// Whether 13–19 digits of consecutive digit groups of token `p` pass the card checks. The
/// windows (first group, number of groups up to 19) come from one row source.
fn pg_card(p: &str, prefix: &str) -> String {
    let groups = call("regexp_split_to_array", &[p, "'[^0-9]+'"]);
    let d = "jg_c.jg_d";
    let len = call("length", &[d]);
    let digits = call(
        "length",
        &[&call("regexp_replace", &[p, "'[^0-9]'", "''", "'g'"])],
    );
    let windows = op(&call("array_length", &["jg_g", "1"]), "*", "19");
    let window = op("jg_o", "-", "1");
    let first = op(&op(&window, "/", "19"), "+", "1");
    let count = op(&window, "%", "19");
    format!(
        "({} AND EXISTS (SELECT 1 FROM (SELECT {groups} AS jg_g) AS jg_ga, {}, \
         LATERAL (SELECT {} AS jg_d) AS jg_c WHERE {} AND {} AND {} AND {}))",
        op(&digits, ">=", "13"),
        pg_rows(&windows, "jg_a", "jg_o"),
        call(
            "array_to_string",
            &[&format!("jg_g[{first}:{}]", op(&first, "+", &count)), "''"]
        ),
        op(&len, ">=", "13"),
        op(&len, "<=", "19"),
        pg_matches(d, prefix),
        pg_luhn(d),
    )
}

/// The PostgreSQL form of `scan` over `text_sql` (a text expression). NULL stays NULL.
pub(crate) fn scrub_sql(text_sql: &str) -> String {
    let s = shapes();
    let folded = format!(
        "CASE WHEN {} THEN {} ELSE {text_sql} END",
        pg_matches(text_sql, s.needs_fold),
        call(
            "translate",
            &[
                text_sql,
                &sql_literal(&s.fold_from),
                &sql_literal(&s.fold_to)
            ],
        )
    );
    let marked = call(
        "regexp_replace",
        &[
            "jg_f",
            &sql_literal(&s.token),
            &sql_literal(&format!("{TOKEN_OPEN}\\&{TOKEN_CLOSE}")),
            "'g'",
        ],
    );
    let mut cases = String::new();
    for (test, placeholder) in &s.token_tests {
        let condition = match test {
            TokenTest::Shape(shape) => pg_matches("jg_p", shape),
            TokenTest::Card => pg_card("jg_p", s.card_prefix),
            TokenTest::AfterContext { context, shape } => format!(
                "({} AND {})",
                pg_matches("jg_p", shape),
                pg_matches("jg_prev", context)
            ),
            TokenTest::UnlessAfter {
                shape,
                alone,
                context,
            } => format!(
                "({} AND NOT coalesce({} AND {}, false))",
                pg_matches("jg_p", shape),
                pg_matches("jg_p", alone),
                pg_matches("jg_prev", context)
            ),
        };
        cases += &format!(" WHEN {condition} THEN {}", sql_literal(placeholder));
    }
    // (text before a token, token) pairs; a last empty token carries the text after the last.
    let pairs = call(
        "regexp_matches",
        &[
            &op(
                &marked,
                "||",
                &sql_literal(&format!("{TOKEN_OPEN}{TOKEN_CLOSE}")),
            ),
            &sql_literal(&format!(
                "([^{TOKEN_OPEN}]*){TOKEN_OPEN}([^{TOKEN_CLOSE}]*){TOKEN_CLOSE}"
            )),
            "'g'",
        ],
    );
    let before = format!(
        "coalesce({} OVER (ORDER BY jg_k ROWS BETWEEN {CONTEXT_CHARS} PRECEDING AND 1 PRECEDING), '')",
        call("string_agg", &[&op("jg_m[1]", "||", "jg_m[2]"), "''"])
    );
    let prev = call(
        "right",
        &[&op(&before, "||", "jg_m[1]"), &CONTEXT_CHARS.to_string()],
    );
    let numbers = format!(
        "(SELECT pg_catalog.string_agg({}, '' ORDER BY jg_k) \
         FROM (SELECT jg_m[1] AS jg_gap, jg_m[2] AS jg_p, jg_k, {prev} AS jg_prev \
         FROM {pairs} WITH ORDINALITY AS jg_s(jg_m, jg_k)) AS jg_w)",
        op(
            "jg_gap",
            "||",
            &format!(
                "CASE WHEN {} THEN jg_p{cases} ELSE jg_p END",
                op("jg_p", "=", "''")
            )
        ),
    );
    let numbers = format!(
        "(SELECT CASE WHEN {} THEN {numbers} ELSE jg_f END FROM (SELECT {folded} AS jg_f) AS jg_fs)",
        pg_matches("jg_f", &s.may_hold_number),
    );
    s.passes
        .iter()
        .fold(numbers, |inner, (pattern, placeholder)| {
            call(
                "regexp_replace",
                &[
                    &inner,
                    &sql_literal(pattern),
                    &sql_literal(placeholder),
                    "'g'",
                ],
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_the_detectors_separators() {
        for b in 0..=255u8 {
            assert_eq!(
                SEP_BYTES.contains(&b),
                super::super::text::is_sep(b),
                "byte {b}"
            );
        }
    }

    #[test]
    fn context_words_become_case_free_patterns() {
        assert_eq!(
            context_pattern(&[b"ss no", b"ver "]),
            "(?:[Ss][Ss][-._/ \t\r\n]{0,3}[Nn][Oo]|[Vv][Ee][Rr][-._/ \t\r\n]{1,3})"
        );
    }

    #[test]
    fn the_sql_form_is_qualified_and_folds_first() {
        let sql = scrub_sql("t.notes");
        assert!(
            sql.contains("pg_catalog.translate((t.notes)")
                || sql.contains("pg_catalog.translate(t.notes")
        );
        assert!(!sql.contains(" ~ ") && !sql.contains(" % "));
    }
}
