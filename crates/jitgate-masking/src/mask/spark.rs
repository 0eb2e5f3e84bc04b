//! Masks as Spark SQL expressions, for the Spark Connect front: DataFrame reads of protected
//! tables wrapped in projections of these expressions, and `spark.sql` texts rewritten with
//! masking subqueries. Each gives, value for value, what [`Mask::apply_text`] gives for the
//! value's text form (`tests/spark/parity.rs` of the `jitgate` crate checks this against a
//! real Spark 4.0). What the front must refuse for them to hold is on [`Mask::spark_expr`].
//!
//! The expressions hold under ANSI mode (Spark 4.0's default) and without it: no arithmetic
//! here can overflow and no cast can fail. Timestamps are `TIMESTAMP` (in the session's time
//! zone): truncation and text form both follow `spark.sql.session.timeZone`.

use std::fmt;

use super::keyed::{TEXT_HASH_HEX, TOKEN_BLOCK};
use super::{Generalization, Mask, MaskError};
use crate::detect::sql_scan::{self, TokenTest, CONTEXT_CHARS, TOKEN_CLOSE, TOKEN_OPEN};
use crate::key::{MaskKey, Purpose, Subkey};

/// A Spark SQL column type, as far as masking cares. Spark's character types (`char(n)`,
/// `varchar(n)`) are [`SparkType::String`] at run time; collations are not modelled (the front
/// should treat a collated string column as `String` only if it accepts the mask's result in
/// the default collation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SparkType {
    String,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// `decimal(precision, scale)`: 1 ≤ precision ≤ 38, scale ≤ precision.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Float,
    Double,
    Date,
    /// `timestamp`, in the session's time zone.
    Timestamp,
    Boolean,
    Binary,
}

impl SparkType {
    /// A type from Spark's name for it, as `typeof`, `DESCRIBE` and DDL write it
    /// (`string`, `int`, `decimal(10,2)`, …; case-insensitive, Spark's aliases accepted).
    pub fn parse(name: &str) -> Option<SparkType> {
        let name = name.trim().to_ascii_lowercase();
        Some(match name.as_str() {
            "string" => SparkType::String,
            "tinyint" | "byte" => SparkType::TinyInt,
            "smallint" | "short" => SparkType::SmallInt,
            "int" | "integer" => SparkType::Int,
            "bigint" | "long" => SparkType::BigInt,
            "float" | "real" => SparkType::Float,
            "double" => SparkType::Double,
            "date" => SparkType::Date,
            "timestamp" | "timestamp_ltz" => SparkType::Timestamp,
            "boolean" => SparkType::Boolean,
            "binary" => SparkType::Binary,
            "decimal" | "dec" | "numeric" => SparkType::Decimal {
                precision: 10,
                scale: 0,
            },
            other => {
                let args = ["decimal(", "dec(", "numeric("]
                    .iter()
                    .find_map(|p| other.strip_prefix(p))?
                    .strip_suffix(')')?;
                let (p, s) = match args.split_once(',') {
                    Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
                    None => (args.trim().parse().ok()?, 0),
                };
                let ty = SparkType::Decimal {
                    precision: p,
                    scale: s,
                };
                return ty.is_valid().then_some(ty);
            }
        })
    }

    fn is_valid(&self) -> bool {
        match *self {
            SparkType::Decimal { precision, scale } => {
                (1..=38).contains(&precision) && scale <= precision
            }
            _ => true,
        }
    }

    fn is_integer(&self) -> bool {
        matches!(
            self,
            SparkType::TinyInt | SparkType::SmallInt | SparkType::Int | SparkType::BigInt
        )
    }
}

impl fmt::Display for SparkType {
    /// Spark's own name for the type (what `typeof` returns), also valid as a cast target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparkType::String => f.write_str("string"),
            SparkType::TinyInt => f.write_str("tinyint"),
            SparkType::SmallInt => f.write_str("smallint"),
            SparkType::Int => f.write_str("int"),
            SparkType::BigInt => f.write_str("bigint"),
            SparkType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            SparkType::Float => f.write_str("float"),
            SparkType::Double => f.write_str("double"),
            SparkType::Date => f.write_str("date"),
            SparkType::Timestamp => f.write_str("timestamp"),
            SparkType::Boolean => f.write_str("boolean"),
            SparkType::Binary => f.write_str("binary"),
        }
    }
}

impl Mask {
    /// Whether this mask can produce a valid value of Spark type `ty` (what
    /// [`Mask::spark_expr`] checks first).
    pub fn applies_to_spark(&self, ty: &SparkType) -> bool {
        use SparkType::*;
        if !ty.is_valid() {
            return false;
        }
        match self {
            Mask::Redact | Mask::Null => true,
            Mask::Partial { .. } | Mask::Email | Mask::Tokenize | Mask::Scan => *ty == String,
            // A tinyint pseudonym would collide all the time; a decimal one must hold an int8
            // and print without a fraction to be the same as the Rust mask's.
            Mask::Hash => match *ty {
                String | SmallInt | Int | BigInt | Binary => true,
                Decimal { precision, scale } => scale == 0 && precision >= 19,
                _ => false,
            },
            Mask::Generalize(Generalization::Month | Generalization::Year) => {
                matches!(ty, Date | Timestamp)
            }
            Mask::Generalize(Generalization::Bucket(width)) => {
                *width > 0 && (ty.is_integer() || matches!(ty, Decimal { .. } | Float | Double))
            }
        }
    }

    /// A Spark SQL expression computing the masked value of `column_sql` (an expression the
    /// caller vouches for, usually a qualified column reference), of type `ty` again, NULL for
    /// NULL (except [`Mask::Null`], NULL for everything).
    ///
    /// Only Spark's built-in functions are called, by their plain names. Spark has no search
    /// path for user objects to come first in (an unqualified name means a temporary or
    /// built-in function before any persistent one), but temporary functions can shadow
    /// built-ins (`CREATE OR REPLACE TEMPORARY FUNCTION sha2 …`, or a UDF registered through
    /// the Connect API under a built-in's name): **the front must refuse creating or
    /// registering temporary functions to masked subjects.** It must also keep
    /// `spark.sql.parser.escapedStringLiterals` at its default (`false`) for them, since string
    /// literals here use backslash escapes; the key-derived pads are binary literals (`X'…'`),
    /// which do not depend on it. Lambda variables are named `jgmask_*`, which `column_sql`
    /// must not use.
    ///
    /// `scan` is the over-masking SQL form of the detectors (see `detect::sql_scan`): every
    /// finding of a built-in detector is replaced, and more; its expression holds the folding
    /// table and two raw control characters (U+0001, U+0002) in string literals.
    ///
    /// Errors: [`MaskError::NotApplicable`] for masks that cannot keep the type,
    /// [`MaskError::KeyMissing`] for keyed masks without a key. Keyed masks embed a key-derived HMAC pad, so the upstream must not log plans or
    /// statement texts where masked subjects could read them.
    pub fn spark_expr(
        &self,
        column_sql: &str,
        ty: &SparkType,
        key: &MaskKey,
    ) -> Result<String, MaskError> {
        if !self.applies_to_spark(ty) {
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
            Mask::Redact => keep_null(&c, ty, &redact_constant(ty)),
            Mask::Partial {
                keep_first,
                keep_last,
                pad,
            } => {
                let len = format!("length({c})");
                let kept = u32::from(*keep_first) + u32::from(*keep_last);
                let pad = literal(&pad.to_string());
                format!(
                    "CASE WHEN {c} IS NULL THEN {null} WHEN {len} <= {kept} THEN repeat({pad}, {len}) \
                     ELSE concat(left({c}, {keep_first}), repeat({pad}, {len} - {kept}), right({c}, {keep_last})) END",
                    null = typed_null(ty),
                )
            }
            Mask::Email => format!(
                "CASE WHEN {c} IS NULL THEN {null} WHEN instr({c}, '@') > 0 \
                 THEN concat('***@', substring_index({c}, '@', -1)) ELSE '***' END",
                null = typed_null(ty),
            ),
            Mask::Hash => hash(&c, ty, keyed(Purpose::Hash)?),
            Mask::Tokenize => tokenize(&c, ty, keyed(Purpose::Tokenize)?),
            Mask::Generalize(g) => generalize(&c, ty, *g),
            Mask::Scan => scan(&c),
        })
    }
}

/// A Spark SQL string literal of `s`, for the default `escapedStringLiterals = false`: `\` and
/// `'` are escaped with a backslash. (Doubling `'` would not do: Spark reads `'a''b'` as the two
/// adjacent literals `'a'` and `'b'`, that is `ab`.)
pub(crate) fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        if matches!(ch, '\\' | '\'') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

fn typed_null(ty: &SparkType) -> String {
    format!("CAST(NULL AS {ty})")
}

/// `expr` when the column is not NULL, a typed NULL when it is.
fn keep_null(column: &str, ty: &SparkType, expr: &str) -> String {
    format!(
        "CASE WHEN {column} IS NULL THEN {} ELSE {expr} END",
        typed_null(ty)
    )
}

/// Whether Spark string `expr` matches `pattern` somewhere (Java regular expressions).
fn rlike(expr: &str, pattern: &str) -> String {
    format!("({expr} RLIKE {})", literal(pattern))
}

/// Whether the digit string `d` passes Luhn: digits from the right, every second one doubled
/// and its digits summed (the table `0246813579`).
fn luhn(d: &str) -> String {
    let digit = format!("(ascii(substring(reverse({d}), jgmask_n, 1)) - 48)");
    format!(
        "(aggregate(sequence(1, length({d})), 0, (jgmask_s, jgmask_n) -> jgmask_s + CASE WHEN jgmask_n % 2 = 0 \
         THEN ascii(substring('0246813579', {digit} + 1, 1)) - 48 ELSE {digit} END) % 10 = 0)"
    )
}

/// Whether 13–19 digits of consecutive digit groups of token `p` pass the card checks. `AND`
/// is evaluated left to right, so Luhn only runs on 13–19 digits.
fn card(p: &str, prefix: &str) -> String {
    let groups = format!("split({p}, '[^0-9]+', -1)");
    let d = format!("array_join(slice({groups}, jgmask_i, jgmask_j - jgmask_i + 1), '')");
    format!(
        "(length(regexp_replace({p}, '[^0-9]', '')) >= 13 AND exists(sequence(1, size({groups})), jgmask_i -> \
         exists(sequence(jgmask_i, size({groups})), jgmask_j -> length({d}) BETWEEN 13 AND 19 AND {} AND {})))",
        rlike(&d, prefix),
        luhn(&d),
    )
}

/// `scan` in Spark SQL, from the shapes PostgreSQL's form uses: fold, mark numeric tokens,
/// replace the tokens that pass a test (the 40 characters before each at hand for context
/// words), then the other shapes.
fn scan(c: &str) -> String {
    let s = sql_scan::shapes();
    let folded = format!(
        "translate({c}, {}, {})",
        literal(&s.fold_from),
        literal(&s.fold_to)
    );
    let marked = format!(
        "regexp_replace({folded}, {}, {})",
        literal(&s.token),
        literal(&format!("{TOKEN_OPEN}$0{TOKEN_CLOSE}"))
    );
    let pieces = format!(
        "split({marked}, {}, -1)",
        literal(&format!("[{TOKEN_OPEN}{TOKEN_CLOSE}]"))
    );
    let prev = format!(
        "right(array_join(slice(jgmask_a, greatest(1, jgmask_k - {}), least(jgmask_k, {CONTEXT_CHARS})), ''), {CONTEXT_CHARS})",
        CONTEXT_CHARS - 1
    );
    let mut cases = String::new();
    for (test, placeholder) in &s.token_tests {
        let condition = match test {
            TokenTest::Shape(shape) => rlike("jgmask_p", shape),
            TokenTest::Card => card("jgmask_p", s.card_prefix),
            TokenTest::AfterContext { context, shape } => {
                format!(
                    "({} AND {})",
                    rlike("jgmask_p", shape),
                    rlike(&prev, context)
                )
            }
            TokenTest::UnlessAfter {
                shape,
                alone,
                context,
            } => format!(
                "({} AND NOT coalesce({} AND {}, false))",
                rlike("jgmask_p", shape),
                rlike("jgmask_p", alone),
                rlike(&prev, context)
            ),
        };
        cases += &format!(" WHEN {condition} THEN {}", literal(placeholder));
    }
    // Pieces alternate: text, token, text, … (0-based: tokens at odd places).
    let numbers = format!(
        "element_at(transform(array({pieces}), jgmask_a -> array_join(transform(jgmask_a, (jgmask_p, jgmask_k) -> \
         CASE WHEN jgmask_k % 2 = 0 THEN jgmask_p{cases} ELSE jgmask_p END), '')), 1)"
    );
    s.passes
        .iter()
        .fold(numbers, |inner, (pattern, placeholder)| {
            format!(
                "regexp_replace({inner}, {}, {})",
                literal(pattern),
                literal(placeholder)
            )
        })
}

/// The redacted constant, of the column's type.
fn redact_constant(ty: &SparkType) -> String {
    let constant = match ty {
        SparkType::String => "'***'",
        SparkType::Date => "DATE '1970-01-01'",
        SparkType::Timestamp => "TIMESTAMP '1970-01-01 00:00:00'",
        SparkType::Boolean => "false",
        SparkType::Binary => "X''",
        _ => "0",
    };
    format!("CAST({constant} AS {ty})")
}

/// The MAC of the value's text form (its bytes for binary), as the column's type, as
/// `keyed.rs` computes it.
fn hash(c: &str, ty: &SparkType, subkey: &Subkey) -> String {
    let message = match ty {
        SparkType::String => format!("encode({c}, 'UTF-8')"),
        SparkType::Binary => c.to_string(),
        _ => format!("encode(CAST({c} AS string), 'UTF-8')"),
    };
    let mac = subkey.spark_hex(&message);
    // `conv` reads hex digits as an unsigned 64-bit number; a negative target base prints it
    // as a signed one.
    let unsigned = |digits: u32| format!("CAST(conv(left({mac}, {digits}), 16, 10) AS bigint)");
    match ty {
        SparkType::String => format!("left({mac}, {TEXT_HASH_HEX})"),
        SparkType::Binary => format!("unhex({mac})"),
        // As int2_hash: the unsigned 16 bits shifted down by 32768.
        SparkType::SmallInt => format!("CAST({} - 32768 AS smallint)", unsigned(4)),
        // The first 32 bits as a signed integer, wrapped without overflowing.
        SparkType::Int => format!(
            "CAST(({} + 2147483648) % 4294967296 - 2147483648 AS int)",
            unsigned(8)
        ),
        _ => format!("CAST(CAST(conv(left({mac}, 16), 16, -10) AS bigint) AS {ty})"),
    }
}

/// Each ASCII digit and letter rotated within its class by a MAC byte for its position, as
/// `keyed::push_token` does: character n (from 0) takes byte n % 32 of the MAC for n < 32, and of
/// sha256(MAC || int4(n / 32)) beyond. The MAC is computed once per value (bound to a lambda
/// variable through a one-element array).
///
/// The block number is `floor(n / 32)` (an exact double quotient of an int) rather than Spark's
/// `div` operator: the gateway re-parses masking subqueries with a parser that has no `div`, so
/// every function and operator here must be one both read alike.
fn tokenize(c: &str, ty: &SparkType, subkey: &Subkey) -> String {
    let mac = subkey.spark_hex(&format!("encode({c}, 'UTF-8')"));
    let block = format!(
        "CASE WHEN jgmask_i < {TOKEN_BLOCK} THEN jgmask_h ELSE sha2(concat(unhex(jgmask_h), \
         unhex(lpad(hex(floor(jgmask_i / {TOKEN_BLOCK})), 8, '0'))), 256) END"
    );
    let offset = format!(
        "CAST(conv(substring({block}, 2 * (jgmask_i % {TOKEN_BLOCK}) + 1, 2), 16, 10) AS int)"
    );
    let rotate = |base: u32, size: u32| {
        format!("chr({base} + (ascii(jgmask_c) - {base} + jgmask_o) % {size})")
    };
    let replaced = format!(
        "CASE WHEN ascii(jgmask_c) BETWEEN 48 AND 57 THEN {} \
         WHEN ascii(jgmask_c) BETWEEN 65 AND 90 THEN {} \
         WHEN ascii(jgmask_c) BETWEEN 97 AND 122 THEN {} ELSE jgmask_c END",
        rotate(48, 10),
        rotate(65, 26),
        rotate(97, 26),
    );
    let chars =
        format!("transform(sequence(1, length({c})), jgmask_i -> substring({c}, jgmask_i, 1))");
    let offsets = format!("transform(sequence(0, length({c}) - 1), jgmask_i -> {offset})");
    let walk = format!(
        "element_at(transform(array({mac}), jgmask_h -> array_join(zip_with({chars}, {offsets}, \
         (jgmask_c, jgmask_o) -> {replaced}), '')), 1)"
    );
    format!(
        "CASE WHEN {c} IS NULL THEN {null} WHEN length({c}) = 0 THEN '' ELSE {walk} END",
        null = typed_null(ty)
    )
}

fn generalize(c: &str, ty: &SparkType, g: Generalization) -> String {
    match (g, ty) {
        (Generalization::Month, SparkType::Date) => format!("trunc({c}, 'MM')"),
        (Generalization::Year, SparkType::Date) => format!("trunc({c}, 'YEAR')"),
        (Generalization::Month, _) => format!("date_trunc('MONTH', {c})"),
        (Generalization::Year, _) => format!("date_trunc('YEAR', {c})"),
        (Generalization::Bucket(width), _) => bucket(c, ty, width),
    }
}

/// Numbers to the multiple of `width` toward zero, as `text::int_bucket`, `numeric_bucket` and
/// `float_bucket_value` compute it. `c - c % w` cannot overflow: Spark's `%` takes the sign of
/// the dividend, so the result lies between zero and `c`.
fn bucket(c: &str, ty: &SparkType, width: u64) -> String {
    let zero = || keep_null(c, ty, &format!("CAST(0 AS {ty})"));
    match *ty {
        SparkType::Float | SparkType::Double => float_bucket(c, ty, width),
        SparkType::Decimal { precision, scale } => {
            let int_digits = u32::from(precision - scale);
            // Every value lies within the bucket around zero (and a wider literal would only
            // widen the intermediate type).
            if 10u128.pow(int_digits) <= u128::from(width) {
                return zero();
            }
            format!("CAST({c} - {c} % {width}BD AS {ty})")
        }
        _ => {
            let (max, suffix) = match ty {
                SparkType::TinyInt => (i8::MAX as u64, "Y"),
                SparkType::SmallInt => (i16::MAX as u64, "S"),
                SparkType::Int => (i32::MAX as u64, ""),
                _ => (i64::MAX as u64, "L"),
            };
            if width > max {
                return zero();
            }
            format!("CAST({c} - {c} % {width}{suffix} AS {ty})")
        }
    }
}

/// `trunc(v / w) * w` in the arithmetic of the Rust mask: double precision for double; for
/// float, the quotient rounded to single precision (a double quotient of two floats rounded to
/// float is the float quotient), then the product rounded to float. Infinities and NaN are
/// kept. `q - q % 1` truncates exactly; below 1 the result is `q * 0`, a zero of `q`'s sign.
fn float_bucket(c: &str, ty: &SparkType, width: u64) -> String {
    let quotient = if *ty == SparkType::Float {
        let w = format!("CAST(CAST({width}D AS float) AS double)");
        format!("CAST(CAST(CAST({c} AS double) / {w} AS float) AS double)")
    } else {
        format!("({c} / {width}D)")
    };
    let truncated = format!(
        "CASE WHEN abs({quotient}) < 1D THEN {quotient} * 0D ELSE {quotient} - {quotient} % 1D END"
    );
    format!(
        "CASE WHEN isnan({c}) OR abs({c}) = CAST('Infinity' AS {ty}) THEN {c} \
         ELSE CAST(({truncated}) * {width}D AS {ty}) END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MaskKey {
        MaskKey::new(b"0123456789abcdef", "test").expect("key")
    }

    #[test]
    fn types_parse_and_print_as_spark_names_them() {
        for name in [
            "string",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "decimal(10,2)",
            "float",
            "double",
            "date",
            "timestamp",
            "boolean",
            "binary",
        ] {
            let ty = SparkType::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(ty.to_string(), name);
        }
        assert_eq!(SparkType::parse("INTEGER"), Some(SparkType::Int));
        assert_eq!(
            SparkType::parse("Decimal(38, 0)"),
            Some(SparkType::Decimal {
                precision: 38,
                scale: 0
            })
        );
        for bad in ["decimal(39,0)", "decimal(5,6)", "array<int>", "int) OR (1"] {
            assert_eq!(SparkType::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn literals_escape_backslashes_and_quotes() {
        assert_eq!(literal("it's a \\"), "'it\\'s a \\\\'");
        assert_eq!(literal("Zoë"), "'Zoë'");
        let partial = Mask::Partial {
            keep_first: 1,
            keep_last: 2,
            pad: '\'',
        };
        let expr = partial
            .spark_expr("t.c", &SparkType::String, &key())
            .expect("string");
        assert_eq!(
            expr,
            "CASE WHEN (t.c) IS NULL THEN CAST(NULL AS string) WHEN length((t.c)) <= 3 \
             THEN repeat('\\'', length((t.c))) ELSE concat(left((t.c), 1), \
             repeat('\\'', length((t.c)) - 3), right((t.c), 2)) END"
        );
    }

    #[test]
    fn expressions_keep_the_type_and_null() {
        let key = key();
        let expr = |mask: &Mask, ty: SparkType| mask.spark_expr("t.c", &ty, &key).expect("ok");
        assert_eq!(
            expr(&Mask::Redact, SparkType::Date),
            "CASE WHEN (t.c) IS NULL THEN CAST(NULL AS date) ELSE CAST(DATE '1970-01-01' AS date) END"
        );
        assert_eq!(expr(&Mask::Null, SparkType::Binary), "CAST(NULL AS binary)");
        assert_eq!(
            expr(&Mask::Generalize(Generalization::Month), SparkType::Date),
            "trunc((t.c), 'MM')"
        );
        assert_eq!(
            expr(
                &Mask::Generalize(Generalization::Bucket(10)),
                SparkType::TinyInt
            ),
            "CAST((t.c) - (t.c) % 10Y AS tinyint)"
        );
        // Widths beyond the type: everything is in the bucket around zero.
        assert_eq!(
            expr(
                &Mask::Generalize(Generalization::Bucket(1000)),
                SparkType::TinyInt
            ),
            "CASE WHEN (t.c) IS NULL THEN CAST(NULL AS tinyint) ELSE CAST(0 AS tinyint) END"
        );
        let dec = SparkType::Decimal {
            precision: 5,
            scale: 2,
        };
        assert!(expr(&Mask::Generalize(Generalization::Bucket(1000)), dec).contains("CAST(0 AS"));
        assert_eq!(
            expr(&Mask::Generalize(Generalization::Bucket(100)), dec),
            "CAST((t.c) - (t.c) % 100BD AS decimal(5,2))"
        );
        for ty in [
            SparkType::String,
            SparkType::Int,
            SparkType::BigInt,
            SparkType::SmallInt,
        ] {
            let hash = expr(&Mask::Hash, ty);
            assert!(hash.starts_with(if ty == SparkType::String {
                "left(sha2("
            } else {
                "CAST("
            }));
            assert!(
                hash.ends_with(&format!("AS {ty})")) || ty == SparkType::String,
                "{hash}"
            );
            // The pads are binary literals; the key itself never appears.
            assert!(hash.contains("concat(X'"), "{hash}");
            assert!(!hash.contains("0123456789abcdef"), "{hash}");
        }
        let token = expr(&Mask::Tokenize, SparkType::String);
        assert!(token.starts_with("CASE WHEN (t.c) IS NULL THEN CAST(NULL AS string)"));
        assert!(token.contains("zip_with(") && token.contains("jgmask_h"));
    }

    #[test]
    fn inapplicable_masks_scan_and_missing_keys_are_errors() {
        let key = key();
        let not_applicable = |mask: Mask, ty: SparkType| {
            assert!(
                matches!(
                    mask.spark_expr("c", &ty, &key),
                    Err(MaskError::NotApplicable { .. })
                ),
                "{mask} on {ty}"
            );
        };
        not_applicable(Mask::Email, SparkType::Int);
        not_applicable(Mask::Tokenize, SparkType::Binary);
        not_applicable(Mask::Hash, SparkType::TinyInt);
        not_applicable(Mask::Hash, SparkType::Double);
        not_applicable(
            Mask::Hash,
            SparkType::Decimal {
                precision: 20,
                scale: 2,
            },
        );
        not_applicable(Mask::Generalize(Generalization::Month), SparkType::String);
        not_applicable(
            Mask::Generalize(Generalization::Bucket(10)),
            SparkType::Date,
        );
        not_applicable(Mask::Generalize(Generalization::Bucket(0)), SparkType::Int);
        not_applicable(
            Mask::Redact,
            SparkType::Decimal {
                precision: 40,
                scale: 0,
            },
        );
        let scan = Mask::Scan
            .spark_expr("c", &SparkType::String, &key)
            .expect("scan has a Spark form");
        assert!(scan.contains("translate((c), ") && scan.contains("RLIKE"));
        assert!(matches!(
            Mask::Scan.spark_expr("c", &SparkType::Int, &key),
            Err(MaskError::NotApplicable { .. })
        ));
        let missing = MaskKey::missing();
        assert_eq!(
            Mask::Hash.spark_expr("c", &SparkType::String, &missing),
            Err(MaskError::KeyMissing { mask: "hash" })
        );
        assert_eq!(
            Mask::Tokenize.spark_expr("c", &SparkType::String, &missing),
            Err(MaskError::KeyMissing { mask: "tokenize" })
        );
        assert!(Mask::Redact
            .spark_expr("c", &SparkType::String, &missing)
            .is_ok());
    }
}
