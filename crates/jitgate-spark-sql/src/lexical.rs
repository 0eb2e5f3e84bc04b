//! Lexical checks on a text before it is analysed.
//!
//! sqlparser's Databricks dialect tokenizes almost as Spark does, but where the two disagree
//! about what is a string or a comment and what is code, text that Spark runs could hide from
//! the analysis inside what sqlparser took for a literal. This pass refuses every such place
//! known: raw strings (`r'\'` ends there for Spark, not for sqlparser), string prefixes sqlparser
//! reads otherwise than Spark, line comments that Spark continues past a backslash-newline or
//! ends at a lone carriage return, and optimizer hints (`/*+ … */`, code to Spark, a comment to
//! sqlparser) beyond plain names and numbers. It also refuses identifiers with the prefix the
//! masks' lambda variables use.

use std::borrow::Cow;

use sqlparser::dialect::DatabricksDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::projection::RESERVED_PREFIX;
use crate::rewrite::LineStarts;
use crate::Refusal;

/// What sqlparser parses in place of `sql`: Spark's `struct(*)` and `struct(t.*)` (a struct of
/// every column, as in `to_json(struct(*))`) are struct literals to sqlparser's Databricks
/// dialect, which cannot hold a star. Each unquoted `struct` directly followed by `(` is renamed
/// to a plain function name of the same length, so every other token keeps its place (the
/// rewrite splices into the original text by position); a function call of its arguments is
/// what Spark makes of it too, so which relations the text reads does not change.
pub(crate) fn for_parsing(sql: &str) -> Cow<'_, str> {
    let Ok(tokens) = Tokenizer::new(&DatabricksDialect, sql).tokenize_with_location() else {
        // The parser reports the same error.
        return Cow::Borrowed(sql);
    };
    let lines = LineStarts::new(sql);
    let mut starts = Vec::new();
    let mut pending = None;
    for t in &tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::LParen => starts.extend(pending.take()),
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("struct") => {
                pending = lines.offset(sql, t.span.start);
                continue;
            }
            _ => {}
        }
        pending = None;
    }
    if starts.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut text = sql.to_string();
    for at in starts {
        if text
            .get(at..at + STRUCT_STANDIN.len())
            .is_some_and(|w| w.eq_ignore_ascii_case("struct"))
        {
            text.replace_range(at..at + STRUCT_STANDIN.len(), STRUCT_STANDIN);
        }
    }
    Cow::Owned(text)
}

/// Stands for `struct` in what is parsed: as long, and no keyword.
const STRUCT_STANDIN: &str = "strukt";

/// The text's tokens, as sqlparser reads them.
pub(crate) fn tokens(sql: &str) -> Result<Vec<Token>, Refusal> {
    Tokenizer::new(&DatabricksDialect, sql)
        .tokenize()
        .map_err(|e| {
            Refusal::new(format!(
                "jitgate cannot analyse this statement for masking: {e}"
            ))
        })
}

/// Refuses what the tokenizers could disagree on; `allow_reserved` lets `jgmask_` identifiers
/// through (only in jitgate's own rewritten texts).
///
/// Spark substitutes `${…}` variable references (`${spark.x}`, `${hivevar:x}`, `${env:X}`,
/// `${system:x}`…) anywhere in a statement or expression text, string literals included, before
/// it parses it (`spark.sql.variable.substitute`): a value set earlier could turn a literal the
/// analysis saw into a reference to a protected table it never saw, and `${env:…}` reads the
/// server's environment. Every text with `${` is refused, wherever it stands.
pub(crate) fn scan(sql: &str, allow_reserved: bool) -> Result<(), Refusal> {
    if sql.contains("${") {
        return Err(Refusal::new(
            "jitgate refuses ${…} variable references to masked subjects: Spark substitutes them \
             before it reads the statement, so what was analysed would not be what runs",
        ));
    }
    let tokens = tokens(sql)?;
    let mut previous: Option<&Token> = None;
    for token in &tokens {
        check_token(token, previous, allow_reserved)?;
        previous = Some(token);
    }
    Ok(())
}

fn refuse(what: &str) -> Refusal {
    Refusal::new(format!(
        "jitgate cannot analyse this statement for masking: {what} are not supported for masked subjects"
    ))
}

fn check_token(
    token: &Token,
    previous: Option<&Token>,
    allow_reserved: bool,
) -> Result<(), Refusal> {
    match token {
        Token::Word(word)
            if !allow_reserved && word.value.to_lowercase().starts_with(RESERVED_PREFIX) =>
        {
            return Err(Refusal::new(format!(
                "jitgate refuses identifiers starting with {RESERVED_PREFIX} to masked subjects: jitgate reserves that prefix for masking"
            )));
        }
        Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
            if let Some(Token::Word(w)) = previous {
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("r") {
                    return Err(refuse("raw string literals (r'…')"));
                }
            }
        }
        Token::HexStringLiteral(digits) if !digits.chars().all(|c| c.is_ascii_hexdigit()) => {
            return Err(refuse(
                "hexadecimal literals with other characters than hex digits",
            ));
        }
        Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_) => {
            return Err(refuse("prefixed or specially quoted string literals"));
        }
        Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) => {
            if prefix != "--" {
                return Err(refuse("comments other than -- and /* */"));
            }
            let body = comment.strip_suffix('\n').unwrap_or(comment);
            let body = body.strip_suffix('\r').unwrap_or(body);
            if body.contains(['\\', '\r']) {
                return Err(refuse(
                    "line comments containing backslashes or carriage returns",
                ));
            }
        }
        Token::Whitespace(Whitespace::MultiLineComment(comment)) => {
            if let Some(hint) = comment.strip_prefix('+') {
                let plain = hint.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || c.is_whitespace()
                        || matches!(c, '_' | ',' | '(' | ')' | '`' | '.')
                });
                if !plain || hint.to_lowercase().contains("select") {
                    return Err(refuse(
                        "hints (/*+ … */) other than plain names and numbers",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_texts_pass() {
        for sql in [
            "SELECT 'it\\'s', \"x\", X'00ff' FROM people -- note\n",
            "SELECT /*+ BROADCAST(p), REPARTITION(3, c) */ * FROM people p /* c /* nested */ */",
            "SELECT DATE'2020-01-01', `a\\b` FROM t",
        ] {
            assert_eq!(scan(sql, false), Ok(()), "{sql}");
        }
    }

    #[test]
    fn disagreements_refused() {
        for sql in [
            "SELECT r'\\', (SELECT max(ssn) FROM people), '' FROM t",
            "SELECT R\"x\" FROM t",
            "SELECT N'x' FROM t",
            "SELECT 1 FROM t -- \\\n, people",
            "SELECT 1 FROM t --\r, people\n",
            "SELECT /*+ COALESCE((SELECT max(ssn) FROM people)) */ 1 FROM t",
            "SELECT /*+ HINT('x') */ 1 FROM t",
            "SELECT jgmask_c FROM t",
            "SELECT `JGMASK_x` FROM t",
            "SELECT 'unterminated FROM t",
        ] {
            assert!(scan(sql, false).is_err(), "{sql}");
        }
        assert_eq!(scan("SELECT jgmask_c FROM t", true), Ok(()));
    }
}
