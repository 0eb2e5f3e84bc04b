//! Glob patterns for resource names and `schema.table.column` references.
//!
//! `*` matches any run of characters (within one part), `?` one character; everything else
//! matches itself, ignoring ASCII case. Case is ignored because PostgreSQL folds unquoted names
//! to lower case while administrators write them as they like: a rule for `public.customers.ssn`
//! must not miss a column created as `"SSN"` (masking more is the safe error).

use std::fmt;

/// One glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("a pattern cannot be empty".into());
        }
        if pattern.chars().any(char::is_control) {
            return Err("a pattern cannot contain control characters".into());
        }
        Ok(Glob {
            pattern: pattern.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the glob is a plain name (no `*` or `?`).
    pub fn is_literal(&self) -> bool {
        !self.pattern.contains(['*', '?'])
    }

    /// Characters that must match themselves: how much the glob says.
    fn literal_chars(&self) -> usize {
        self.pattern
            .chars()
            .filter(|c| !matches!(c, '*' | '?'))
            .count()
    }

    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.pattern.as_bytes(), name.as_bytes())
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Length of the UTF-8 character starting with byte `b` (1 for stray continuation bytes).
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Iterative glob matching with one backtrack point (the last `*`), linear in practice.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                n += char_len(name[n]).min(name.len() - n);
                continue;
            }
            Some(&c) if c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            // Let the last `*` swallow one more character and retry after it.
            Some((sp, sn)) => {
                let next = sn + char_len(name[sn]).min(name.len() - sn);
                star = Some((sp, next));
                p = sp + 1;
                n = next;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A `schema.table.column` pattern, a glob per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPattern {
    schema: Glob,
    table: Glob,
    column: Glob,
}

/// How specific a pattern is; greater wins. Compared first by the number of plain-name parts,
/// then by the number of characters that must match themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    literal_parts: u8,
    literal_chars: usize,
}

impl ColumnPattern {
    /// Parses `schema.table.column`; each part is a glob and none may be empty.
    pub fn parse(text: &str) -> Result<ColumnPattern, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let [schema, table, column] = parts.as_slice() else {
            return Err(format!(
                "expected schema.table.column (globs allowed, e.g. \"public.*.email\"), found {} part(s)",
                parts.len()
            ));
        };
        let part = |p: &str, what: &str| Glob::new(p).map_err(|e| format!("{what}: {e}"));
        Ok(ColumnPattern {
            schema: part(schema, "schema")?,
            table: part(table, "table")?,
            column: part(column, "column")?,
        })
    }

    pub fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        self.matches_table(schema, table) && self.column.matches(column)
    }

    /// Whether some column of `schema.table` may match.
    pub fn matches_table(&self, schema: &str, table: &str) -> bool {
        self.schema.matches(schema) && self.table.matches(table)
    }

    pub fn specificity(&self) -> Specificity {
        let parts = [&self.schema, &self.table, &self.column];
        Specificity {
            literal_parts: parts.iter().filter(|g| g.is_literal()).count() as u8,
            literal_chars: parts.iter().map(|g| g.literal_chars()).sum(),
        }
    }
}

impl fmt::Display for ColumnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).expect("valid glob")
    }

    #[test]
    fn globs_match_like_shells_ignoring_case() {
        assert!(glob("*").matches(""));
        assert!(glob("prod-*").matches("prod-pg"));
        assert!(!glob("prod-*").matches("staging-pg"));
        assert!(glob("*_ssn").matches("Customer_SSN"));
        assert!(glob("a*b*c").matches("aXXbYYbZc"));
        assert!(!glob("a*b*c").matches("aXXbYY"));
        assert!(glob("t?st").matches("tést"));
        assert!(!glob("t?st").matches("tst"));
    }

    #[test]
    fn column_patterns_and_specificity() {
        let exact = ColumnPattern::parse("public.customers.ssn").expect("valid");
        let any_customers = ColumnPattern::parse("*.customers.*").expect("valid");
        let public_email = ColumnPattern::parse("public.*.email").expect("valid");
        assert!(exact.matches("public", "customers", "ssn"));
        assert!(any_customers.matches("sales", "customers", "name"));
        assert!(exact.specificity() > public_email.specificity());
        assert!(public_email.specificity() > any_customers.specificity());
        assert!(ColumnPattern::parse("customers.ssn").is_err());
        assert!(ColumnPattern::parse("public..ssn").is_err());
    }
}
