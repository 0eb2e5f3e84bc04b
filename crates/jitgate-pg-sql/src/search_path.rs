//! `search_path`: how PostgreSQL finds the relation an unqualified name means.
//!
//! Name resolution only has to be right for the subject's convenience, not for safety: the
//! rewriter schema-qualifies every reference it resolves to a protected relation (or to a
//! same-named clear one), so the upstream cannot pick another relation than the one masked, and
//! it refuses a name that could mean a protected relation but resolves to nothing it knows.

use crate::catalog::{Catalog, Relation};

/// A session's `search_path`, as a list of schema names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchPath {
    entries: Vec<String>,
    user: String,
    /// The canonical text, for cache keys.
    key: String,
}

impl SearchPath {
    /// Parses a `search_path` value (`"$user", public`, as `SHOW search_path` prints it) the way
    /// PostgreSQL does: comma-separated; double-quoted names keep their case and `""`; unquoted
    /// names are lower-cased. `user` is the upstream session user, which `"$user"` stands for.
    pub fn parse(setting: &str, user: &str) -> SearchPath {
        let entries = split_identifiers(setting);
        let key = format!("{user}\u{0}{}", entries.join("\u{0}"));
        SearchPath {
            entries,
            user: user.to_string(),
            key,
        }
    }

    /// PostgreSQL's default, `"$user", public`.
    pub fn default_for(user: &str) -> SearchPath {
        SearchPath::parse("\"$user\", public", user)
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Identifies the path in cache keys.
    pub fn cache_key(&self) -> &str {
        &self.key
    }

    /// Schemas searched for relations, in order: `pg_catalog` first unless listed, then the
    /// listed ones with `"$user"` expanded when such a schema exists.
    ///
    /// The session's temporary schema (searched first unless `pg_temp` is listed) is not in the
    /// catalog snapshot: temporary tables are per-session and the subject creates them after the
    /// snapshot. `pg_temp` entries are skipped here, which is why the rewriter qualifies names
    /// rather than trust the upstream to resolve them the same way.
    pub fn relation_schemas<'a>(&'a self, catalog: &Catalog) -> Vec<&'a str> {
        let mut out = Vec::with_capacity(self.entries.len() + 1);
        if !self.entries.iter().any(|e| e == "pg_catalog") {
            out.push("pg_catalog");
        }
        for e in &self.entries {
            match e.as_str() {
                "$user" => {
                    if catalog.has_schema(&self.user) {
                        out.push(self.user.as_str());
                    }
                }
                "pg_temp" => {}
                other => out.push(other),
            }
        }
        out
    }

    /// The relation an unqualified `name` finds, if the snapshot has it.
    pub fn resolve<'c>(&self, catalog: &'c Catalog, name: &str) -> Option<&'c Relation> {
        self.relation_schemas(catalog)
            .into_iter()
            .find_map(|schema| catalog.relation(schema, name))
    }
}

/// PostgreSQL's `SplitIdentifierString` with `,` as the separator.
fn split_identifiers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut name = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        name.push('"');
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                name.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if !name.is_empty() {
            out.push(name);
        }
        match chars.next() {
            Some(',') | None => {}
            // Garbage after a name: PostgreSQL rejects the whole value; keep what we have.
            Some(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{RelKind, Relation};

    #[test]
    fn parses_like_postgres() {
        let p = SearchPath::parse(" \"$user\" , Public,\"Mixed\"\"Case\", pg_temp ", "alice");
        assert_eq!(p.entries(), ["$user", "public", "Mixed\"Case", "pg_temp"]);
    }

    #[test]
    fn pg_catalog_first_unless_listed_and_user_expanded() {
        let catalog = Catalog::new(
            1,
            vec![
                Relation::new(1, "alice", "t", RelKind::Table, vec![]),
                Relation::new(2, "public", "t", RelKind::Table, vec![]),
                Relation::new(3, "pg_catalog", "pg_class", RelKind::Table, vec![]),
                Relation::new(4, "public", "pg_class", RelKind::Table, vec![]),
            ],
            vec![],
            false,
        );
        let default = SearchPath::default_for("alice");
        assert_eq!(default.resolve(&catalog, "t").map(|r| r.oid), Some(1));
        assert_eq!(
            default.resolve(&catalog, "pg_class").map(|r| r.oid),
            Some(3)
        );
        let bob = SearchPath::default_for("bob");
        assert_eq!(bob.resolve(&catalog, "t").map(|r| r.oid), Some(2));
        let late_catalog = SearchPath::parse("public, pg_catalog", "bob");
        assert_eq!(
            late_catalog.resolve(&catalog, "pg_class").map(|r| r.oid),
            Some(4)
        );
        assert!(default.resolve(&catalog, "missing").is_none());
    }
}
