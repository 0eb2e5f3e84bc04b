//! Checks on the text before (or instead of) parsing. Each over-approximates: it may refuse
//! or parse a statement that did not need it, never the other way round.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::analyse::Refusal;

/// Byte offsets of line starts, to turn the parser's line and column (in characters) into
/// byte offsets.
pub(crate) struct LineStarts(Vec<usize>);

impl LineStarts {
    pub(crate) fn new(sql: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineStarts(starts)
    }

    pub(crate) fn offset(&self, sql: &str, at: Location) -> Option<usize> {
        let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let start = *self.0.get(line)?;
        let rest = &sql[start..];
        match rest.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(sql.len()),
            None => None,
        }
    }
}

/// A text with its diagnostics statements (`SHOW WARNINGS`, `SHOW ERRORS`, in any of their
/// forms), which the parser does not know, blanked out.
pub(crate) struct Blanked {
    /// The text, each diagnostics statement replaced by as many spaces (its line breaks kept),
    /// so that every other statement keeps its lines, columns and byte offsets.
    pub text: String,
    /// How many diagnostics statements were blanked.
    pub diagnostics: usize,
}

/// Finds the diagnostics statements of `sql` on its tokens (the parser's own tokenizer:
/// strings, quoted names and comments are read as the parser reads them, statements end at a
/// `;` token): `SHOW WARNINGS`, `SHOW ERRORS`, with `LIMIT [offset,] count`, and
/// `SHOW COUNT(*) WARNINGS|ERRORS`, in any case, with comments anywhere. A statement starting
/// `SHOW WARNINGS`/`SHOW ERRORS`/`SHOW COUNT` in another form is refused, as is one holding a
/// character outside ASCII (blanking keeps byte and character offsets alike). A text the
/// tokenizer cannot read is returned as it is (the parser then refuses it).
pub(crate) fn blank_diagnostics(sql: &str) -> Result<Blanked, Refusal> {
    let unchanged = || Blanked {
        text: sql.to_owned(),
        diagnostics: 0,
    };
    // Keywords have no escaped spelling: a text without these letters holds no such statement.
    let holds = |word: &[u8]| {
        sql.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if !holds(b"warnings") && !holds(b"errors") {
        return Ok(unchanged());
    }
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize_with_location() else {
        return Ok(unchanged());
    };
    let lines = LineStarts::new(sql);
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut statement: Vec<&sqlparser::tokenizer::TokenWithSpan> = Vec::new();
    let mut i = 0;
    while i <= tokens.len() {
        let end_here = tokens.get(i).is_none_or(|t| t.token == Token::SemiColon);
        if !end_here {
            if !matches!(tokens[i].token, Token::Whitespace(_)) {
                statement.push(&tokens[i]);
            }
            i += 1;
            continue;
        }
        if let Some(first) = statement.first() {
            let words: Vec<String> = statement
                .iter()
                .map(|t| t.token.to_string().to_ascii_uppercase())
                .collect();
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            let diagnostics_head = matches!(
                w.as_slice(),
                ["SHOW", "WARNINGS" | "ERRORS", ..] | ["SHOW", "COUNT", ..]
            );
            if diagnostics_head {
                if !diagnostics(&w) {
                    return Err(Refusal::Masked(
                        "this form of SHOW WARNINGS / SHOW ERRORS".into(),
                    ));
                }
                let start = lines.offset(sql, first.span.start);
                let end = match tokens.get(i) {
                    Some(t) => lines.offset(sql, t.span.start),
                    None => Some(sql.len()),
                };
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(Refusal::Masked(
                        "a SHOW WARNINGS jitgate cannot locate in the text".into(),
                    ));
                };
                if start > end || !sql[start..end].is_ascii() {
                    return Err(Refusal::Masked(
                        "SHOW WARNINGS / SHOW ERRORS with characters outside ASCII".into(),
                    ));
                }
                ranges.push((start, end));
            }
        }
        statement.clear();
        i += 1;
    }
    if ranges.is_empty() {
        return Ok(unchanged());
    }
    let mut text = sql.as_bytes().to_vec();
    for (start, end) in &ranges {
        for b in &mut text[*start..*end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Only ASCII bytes were replaced, by ASCII bytes.
    let text = String::from_utf8(text).map_err(|_| Refusal::Masked("this text".into()))?;
    Ok(Blanked {
        text,
        diagnostics: ranges.len(),
    })
}

/// Whether the words of one statement (comments and spaces left out, upper case) are a form
/// of `SHOW WARNINGS` / `SHOW ERRORS`.
fn diagnostics(w: &[&str]) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match w {
        ["SHOW", "WARNINGS" | "ERRORS"]
        | ["SHOW", "COUNT", "(", "*", ")", "WARNINGS" | "ERRORS"] => true,
        ["SHOW", "WARNINGS" | "ERRORS", "LIMIT", n] => numeric(n),
        ["SHOW", "WARNINGS" | "ERRORS", "LIMIT", a, ",", b] => numeric(a) && numeric(b),
        _ => false,
    }
}

/// Whether the text holds `/*!` or `/*M!` anywhere (inside a string literal too, which only
/// over-refuses): the server runs what such a comment holds, the parser skips it.
pub fn has_executable_comment(sql: &str) -> bool {
    let b = sql.as_bytes();
    b.windows(3).any(|w| w == b"/*!") || b.windows(4).any(|w| w.eq_ignore_ascii_case(b"/*m!"))
}

/// Whether the text holds `--` followed by a space outside ASCII (a no-break space, U+3000, …;
/// inside a string literal too, which only over-refuses): the parser's tokenizer starts a
/// comment there, MySQL (whose character classes know only ASCII spaces) does not, so the rest
/// of the line would be a statement the server runs and the analysis never saw.
pub fn has_unicode_space_comment(sql: &str) -> bool {
    sql.match_indices("--").any(|(i, _)| {
        sql[i + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace() && !c.is_ascii())
    })
}

/// Whether the text holds the word `kill` in any case, anywhere: only such texts need parsing in
/// a clear session, where `KILL id` must be mapped to the upstream connection.
pub fn mentions_kill(sql: &str) -> bool {
    sql.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"kill"))
}

/// Whether the server lexes statements the way the parser does under `sql_mode` (the value of
/// `@@SESSION.sql_mode`): double quotes delimit strings (no `ANSI_QUOTES`, which `ANSI` implies)
/// and a backslash escapes in strings (no `NO_BACKSLASH_ESCAPES`).
pub fn lexing_modes_ok(sql_mode: &str) -> bool {
    !sql_mode.split(',').any(|m| {
        let m = m.trim();
        m.eq_ignore_ascii_case("ANSI_QUOTES")
            || m.eq_ignore_ascii_case("ANSI")
            || m.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES")
    })
}

/// Character sets in which the bytes of quotes and backslashes are never part of a multi-byte
/// character, so that the server and the parser (reading UTF-8) end strings at the same byte.
/// (In GBK, Big5, SJIS and the like, `0xbf 0x5c` is one character, and a backslash can vanish
/// into it.)
pub fn safe_charset(name: &str) -> bool {
    let name = name.trim_matches(|c| c == '\'' || c == '"' || c == '`');
    ["utf8mb4", "utf8", "utf8mb3", "latin1", "ascii", "binary"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
}

/// Whether a handshake's collation id names a collation of a [`safe_charset`] (utf8mb4,
/// utf8mb3, latin1, ascii, binary).
pub fn safe_collation_id(id: u8) -> bool {
    matches!(id, 5 | 8 | 11 | 15 | 31 | 33 | 45..=49 | 63 | 65 | 83 | 94 | 192..=247 | 255)
}
