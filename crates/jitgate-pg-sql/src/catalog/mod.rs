//! A snapshot of the upstream catalog: what the rewriter must know to resolve names and to build
//! masking subqueries.
//!
//! The PostgreSQL front loads it with [`Catalog::LOAD_QUERIES`] and builds it with
//! [`Catalog::from_rows`] (see `load.rs`), so all I/O stays in the front. It caches the snapshot and
//! loads a new one after DDL; each snapshot carries a version that keys the rewrite cache.

mod load;

pub use load::{CatalogError, CatalogRows, Row};

use std::collections::HashMap;

/// `pg_class.relkind`, for the kinds the rewriter treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelKind {
    /// `r`
    Table,
    /// `p`
    PartitionedTable,
    /// `v`
    View,
    /// `m`
    MaterializedView,
    /// `f`: reads from somewhere jitgate cannot see (possibly this very database, unmasked).
    ForeignTable,
    /// `S`
    Sequence,
    /// Anything else (composite types, indexes, TOAST tables are not loaded).
    Other(char),
}

impl RelKind {
    pub fn from_relkind(c: char) -> RelKind {
        match c {
            'r' => RelKind::Table,
            'p' => RelKind::PartitionedTable,
            'v' => RelKind::View,
            'm' => RelKind::MaterializedView,
            'f' => RelKind::ForeignTable,
            'S' => RelKind::Sequence,
            other => RelKind::Other(other),
        }
    }

    /// Relations whose rows the rewriter can read through a masking subquery.
    pub fn holds_rows(self) -> bool {
        matches!(self, RelKind::Table | RelKind::PartitionedTable)
    }

    /// Relations defined by a query (their definition can be inlined).
    pub fn is_view(self) -> bool {
        matches!(self, RelKind::View | RelKind::MaterializedView)
    }
}

/// One column (`pg_attribute`, not dropped, `attnum > 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    pub type_oid: u32,
    /// `format_type(atttypid, atttypmod)`
    pub type_name: String,
    /// The base type for a domain, else the type itself.
    pub base_type_oid: u32,
    /// `format_type(base type, NULL)`
    pub base_type_name: String,
}

impl Column {
    /// A column of a built-in (non-domain) type.
    pub fn new(name: &str, attnum: i16, type_oid: u32, type_name: &str) -> Column {
        Column {
            name: name.to_string(),
            attnum,
            type_oid,
            type_name: type_name.to_string(),
            base_type_oid: type_oid,
            base_type_name: type_name.to_string(),
        }
    }
}

/// The query a view or materialized view is defined by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDefinition {
    /// `pg_get_viewdef(oid)`, loaded with only `pg_catalog` on the search path so that every
    /// relation in it is schema-qualified.
    pub sql: String,
    /// `security_barrier`: the inlined definition keeps the barrier (`OFFSET 0`).
    pub security_barrier: bool,
    /// Relations its rule depends on (`pg_depend` on `pg_rewrite`).
    pub depends_on: Vec<u32>,
    /// It calls a function written in a procedural language outside `pg_catalog`, which can read
    /// any table without the rewriter seeing it, or one whose implementation runs SQL text,
    /// reads by name or reaches other sessions (`query_to_xml`, `dblink`, …).
    pub calls_user_code: bool,
}

/// One relation of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
    /// In `attnum` order: the order of `SELECT *`.
    pub columns: Vec<Column>,
    /// `pg_inherits` parents (partitioned tables for a partition), nearest first.
    pub parents: Vec<u32>,
    pub view: Option<ViewDefinition>,
    /// Foreign keys this relation takes part in, on either side.
    pub foreign_keys: Vec<ForeignKey>,
    /// Code a write to it runs besides the statement, which could read any table (its first, as
    /// `trigger NAME`, `rule NAME` or `user function NAME`): a trigger (enabled or not), a rule
    /// on INSERT/UPDATE/DELETE, or a column default, generated column, CHECK constraint, index
    /// expression or domain constraint calling a function in a query-capable language.
    pub write_hook: Option<String>,
}

/// One side of a foreign key: writes to the referencing relation look its key up in the
/// referenced one, and writes to the referenced relation look for rows that still reference it.
/// Either way PostgreSQL compares with the other relation's real values, and tells by success or
/// error whether they matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// This relation references the other (it holds the key), rather than being referenced.
    pub referencing: bool,
    /// The other relation.
    pub other: u32,
    /// The other relation's columns of the key (`attnum`s).
    pub other_columns: Vec<i16>,
}

impl Relation {
    pub fn new(oid: u32, schema: &str, name: &str, kind: RelKind, columns: Vec<Column>) -> Self {
        Relation {
            oid,
            schema: schema.to_string(),
            name: name.to_string(),
            kind,
            columns,
            parents: Vec::new(),
            view: None,
            foreign_keys: Vec::new(),
            write_hook: None,
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Functions by name, as far as the analysis cares: what the overloads of that name are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionEntry {
    pub schema: String,
    pub name: String,
    /// Some overload is written in a language other than `internal` or `c` (SQL, PL/pgSQL, …):
    /// it can run queries the rewriter never sees.
    pub runs_queries: bool,
    /// The implementations of the overloads written in `internal` or `c`: `pg_proc.prosrc`,
    /// the C function that runs (`query_to_xml`, `dblink_exec`, `pg_cancel_backend`, …),
    /// whatever the SQL-level name. Decides what a function is, not what it is called.
    pub symbols: Vec<String>,
}

impl FunctionEntry {
    /// An entry with no C implementations (tests, tools).
    pub fn new(schema: &str, name: &str, runs_queries: bool) -> FunctionEntry {
        FunctionEntry {
            schema: schema.to_string(),
            name: name.to_string(),
            runs_queries,
            symbols: Vec::new(),
        }
    }

    /// With these C implementations.
    pub fn with_symbols(mut self, symbols: &[&str]) -> FunctionEntry {
        self.symbols = symbols.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// A catalog snapshot. Cheap to share behind an `Arc`; never mutated after it is built.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    version: u64,
    relations: Vec<Relation>,
    by_oid: HashMap<u32, usize>,
    by_name: HashMap<String, Vec<usize>>,
    functions: HashMap<String, Vec<FunctionEntry>>,
    /// Every function of the database is listed, so one that is missing does not exist (yet).
    functions_complete: bool,
    schemas: Vec<String>,
}

impl Catalog {
    /// A snapshot from relations and functions gathered by hand (tests, tools). Use
    /// [`Catalog::from_rows`] for one loaded from the upstream. With `functions_complete` false,
    /// calls to functions missing from `functions` are allowed (assumed built-in).
    pub fn new(
        version: u64,
        relations: Vec<Relation>,
        functions: Vec<FunctionEntry>,
        functions_complete: bool,
    ) -> Catalog {
        let mut catalog = Catalog {
            version,
            functions_complete,
            ..Catalog::default()
        };
        for f in functions {
            catalog.functions.entry(f.name.clone()).or_default().push(f);
        }
        for rel in relations {
            let i = catalog.relations.len();
            catalog.by_oid.insert(rel.oid, i);
            catalog.by_name.entry(rel.name.clone()).or_default().push(i);
            if !catalog.schemas.contains(&rel.schema) {
                catalog.schemas.push(rel.schema.clone());
            }
            catalog.relations.push(rel);
        }
        catalog
    }

    /// Changes whenever the snapshot is reloaded; part of the rewrite cache key.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    pub fn relation_by_oid(&self, oid: u32) -> Option<&Relation> {
        self.by_oid.get(&oid).map(|&i| &self.relations[i])
    }

    /// The first code a write to `rel` could run besides the statement itself, with the relation
    /// it is on: `rel`'s own hooks ([`Relation::write_hook`]), and those of every relation the
    /// write can reach — inheritance children and partitions (rows routed or updated there), the
    /// relations a view reads (an updatable view writes its base; a view's own INSTEAD OF
    /// triggers and rules are its own hooks), and the relations whose foreign keys reference it
    /// (cascading actions write them). Over-reaching on purpose: a view's every relation counts,
    /// and so does every referencing relation whatever its key's actions.
    pub fn write_hook<'a>(&'a self, rel: &'a Relation) -> Option<(&'a Relation, &'a str)> {
        let mut seen = vec![rel.oid];
        let mut queue = vec![rel];
        while let Some(r) = queue.pop() {
            if let Some(hook) = r.write_hook.as_deref() {
                return Some((r, hook));
            }
            let children = self.relations.iter().filter(|c| c.parents.contains(&r.oid));
            let bases = r
                .view
                .iter()
                .flat_map(|v| v.depends_on.iter())
                .filter_map(|&oid| self.relation_by_oid(oid));
            let referencing = r
                .foreign_keys
                .iter()
                .filter(|k| !k.referencing)
                .filter_map(|k| self.relation_by_oid(k.other));
            for next in children.chain(bases).chain(referencing) {
                if !seen.contains(&next.oid) {
                    seen.push(next.oid);
                    queue.push(next);
                }
            }
        }
        None
    }

    /// The relation `schema.name`, exactly (names are as stored: case matters).
    pub fn relation(&self, schema: &str, name: &str) -> Option<&Relation> {
        self.relations_named(name).find(|r| r.schema == schema)
    }

    /// Every relation called `name`, in any schema.
    pub fn relations_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Relation> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(move |&i| &self.relations[i])
    }

    /// Whether a schema of that name holds any loaded relation (for `"$user"` in search_path).
    pub fn has_schema(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s == schema)
    }

    /// Schemas that hold at least one loaded relation.
    pub fn schemas(&self) -> impl Iterator<Item = &str> {
        self.schemas.iter().map(String::as_str)
    }

    /// Functions called `name`, in any schema.
    pub fn functions_named(&self, name: &str) -> &[FunctionEntry] {
        self.functions.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn functions_complete(&self) -> bool {
        self.functions_complete
    }
}
