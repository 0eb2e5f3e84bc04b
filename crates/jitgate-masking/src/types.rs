//! PostgreSQL column types as far as masking cares: what a masked value must still be valid for.

use std::borrow::Cow;

/// The families of types masks know how to keep valid. Everything else is [`PgKind::Other`], for
/// which only masks that need no knowledge of the type apply (null, and redact as a typed NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgKind {
    Text,
    Varchar,
    /// `char(n)`: PostgreSQL drops its trailing blanks when converting to text, and so do masks.
    Bpchar,
    /// The 63-byte identifier type of the catalogs.
    Name,
    Int2,
    Int4,
    Int8,
    Numeric,
    Float4,
    Float8,
    Date,
    Timestamp,
    Timestamptz,
    Bool,
    Uuid,
    Bytea,
    Json,
    Jsonb,
    Other,
}

/// Built-in type OIDs are fixed by PostgreSQL (`pg_type.dat`), so they identify a type without a
/// catalog lookup.
const BUILTIN: [(u32, &str, PgKind); 18] = [
    (16, "bool", PgKind::Bool),
    (17, "bytea", PgKind::Bytea),
    (19, "name", PgKind::Name),
    (20, "int8", PgKind::Int8),
    (21, "int2", PgKind::Int2),
    (23, "int4", PgKind::Int4),
    (25, "text", PgKind::Text),
    (114, "json", PgKind::Json),
    (700, "float4", PgKind::Float4),
    (701, "float8", PgKind::Float8),
    (1042, "bpchar", PgKind::Bpchar),
    (1043, "varchar", PgKind::Varchar),
    (1082, "date", PgKind::Date),
    (1114, "timestamp", PgKind::Timestamp),
    (1184, "timestamptz", PgKind::Timestamptz),
    (1700, "numeric", PgKind::Numeric),
    (2950, "uuid", PgKind::Uuid),
    (3802, "jsonb", PgKind::Jsonb),
];

/// A column's type: its OID and the name masks cast their results to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PgTypeInfo {
    oid: u32,
    name: Cow<'static, str>,
    kind: PgKind,
}

impl PgTypeInfo {
    /// A type known by OID alone; unknown OIDs become [`PgKind::Other`] named `unknown`, which
    /// no mask will cast to (use [`PgTypeInfo::new`] with the catalog's name for those).
    pub fn from_oid(oid: u32) -> PgTypeInfo {
        match BUILTIN.iter().find(|(o, _, _)| *o == oid) {
            Some(&(oid, name, kind)) => PgTypeInfo {
                oid,
                name: Cow::Borrowed(name),
                kind,
            },
            None => PgTypeInfo {
                oid,
                name: Cow::Borrowed("unknown"),
                kind: PgKind::Other,
            },
        }
    }

    /// A type from the catalog: `name` is what `format_type(oid, NULL)` returns (for a domain,
    /// pass its base type). Built-in OIDs take their kind from the OID, whatever the name.
    pub fn new(oid: u32, name: impl Into<String>) -> PgTypeInfo {
        let known = PgTypeInfo::from_oid(oid);
        if known.kind != PgKind::Other {
            return known;
        }
        PgTypeInfo {
            oid,
            name: Cow::Owned(name.into()),
            kind: PgKind::Other,
        }
    }

    pub fn oid(&self) -> u32 {
        self.oid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> PgKind {
        self.kind
    }

    /// Types whose values are character strings (in text and in binary format alike).
    pub fn is_textual(&self) -> bool {
        matches!(
            self.kind,
            PgKind::Text | PgKind::Varchar | PgKind::Bpchar | PgKind::Name
        )
    }

    /// The type written as a cast target. Built-ins are schema-qualified so that a user's own
    /// type of the same name earlier in `search_path` cannot capture the cast; other names are
    /// used only when they look like `format_type` output, since they are pasted into SQL.
    pub(crate) fn cast_target(&self) -> Option<String> {
        // The rewriter prints statements back with libpg_query's deparser, which writes
        // `pg_catalog.bpchar` as `char` — character(1) to PostgreSQL — and a NULL of it as
        // `char NULL`, which does not parse. Masked blank-padded values are therefore text.
        if self.kind == PgKind::Bpchar {
            return Some("pg_catalog.text".to_owned());
        }
        if self.kind != PgKind::Other {
            return Some(format!("pg_catalog.{}", self.name));
        }
        let plausible = self.name != "unknown" && is_type_name(&self.name);
        plausible.then(|| self.name.to_string())
    }
}

/// Whether `name` has the shape of `format_type` output: words or quoted identifiers joined by
/// dots or single spaces (`time without time zone`), an optional `(n)` or `(p,s)` modifier and
/// `[]` suffixes. Anything else could end the expression it is pasted into.
fn is_type_name(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    let mut words = 0;
    loop {
        match b.get(i) {
            Some(b'"') => {
                let close = b[i + 1..].iter().position(|&c| c == b'"');
                match close {
                    Some(n) if n > 0 => i += n + 2,
                    _ => return false,
                }
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$'))
                {
                    i += 1;
                }
            }
            _ => return false,
        }
        words += 1;
        match b.get(i) {
            Some(b'.' | b' ') if words < 8 => i += 1,
            _ => break,
        }
    }
    if b.get(i) == Some(&b'(') {
        let close = b[i..].iter().position(|&c| c == b')');
        let Some(n) = close else { return false };
        let inside = &b[i + 1..i + n];
        if inside.is_empty() || !inside.iter().all(|c| c.is_ascii_digit() || *c == b',') {
            return false;
        }
        i += n + 1;
    }
    while b.get(i..i + 2) == Some(b"[]") {
        i += 2;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_known_by_oid_and_others_keep_their_catalog_name() {
        assert_eq!(PgTypeInfo::from_oid(23).kind(), PgKind::Int4);
        assert_eq!(PgTypeInfo::new(1043, "character varying").name(), "varchar");
        let mood = PgTypeInfo::new(16_385, "public.mood");
        assert_eq!((mood.kind(), mood.name()), (PgKind::Other, "public.mood"));
        assert_eq!(mood.cast_target().as_deref(), Some("public.mood"));
        assert_eq!(PgTypeInfo::new(1, "x; DROP TABLE t").cast_target(), None);
        assert_eq!(PgTypeInfo::new(1, "text), (SELECT 1").cast_target(), None);
        for ok in ["\"My Type\"", "s.t[]", "bit varying(5)", "numeric(10,2)[]"] {
            assert!(PgTypeInfo::new(1, ok).cast_target().is_some(), "{ok}");
        }
        assert_eq!(PgTypeInfo::from_oid(99_999).cast_target(), None);
    }
}
