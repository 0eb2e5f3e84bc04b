//! The masking rewrite and its verification: which names are protected tables (qualified or
//! not, quoted, in any case, shadowed by CTEs), what the derived tables hold, and what is
//! refused because it reads around the masks.

use std::collections::HashMap;

use jitgate_masking::{Mask, MaskKey, MySqlType};

use crate::{
    rewrite, tables_read, Catalog, ColumnInfo, ColumnMasks, MaskSql, Refusal, TableInfo, TableKind,
    TableName,
};

fn column(name: &str, data_type: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        data_type: data_type.into(),
        column_type: data_type.into(),
        precision: None,
        scale: None,
    }
}

fn table(db: &str, name: &str, kind: TableKind, columns: &[(&str, &str)]) -> TableInfo {
    TableInfo {
        db: db.into(),
        table: name.into(),
        kind,
        columns: columns.iter().map(|(n, t)| column(n, t)).collect(),
    }
}

/// `app.customers` (protected: `ssn` partial, `email` email, `card` tokenize, which has no
/// MySQL form), `app.orders` (clear), `app.v` (a view), `other.customers` (not protected).
struct Fixture {
    tables: Vec<TableInfo>,
    key: MaskKey,
}

impl Fixture {
    fn new() -> Fixture {
        let customers = [
            ("id", "int"),
            ("name", "varchar"),
            ("email", "varchar"),
            ("ssn", "varchar"),
            ("card", "varchar"),
        ];
        Fixture {
            tables: vec![
                table("app", "customers", TableKind::Base, &customers),
                table(
                    "app",
                    "orders",
                    TableKind::Base,
                    &[("id", "int"), ("customer", "int"), ("total", "decimal")],
                ),
                table("app", "v", TableKind::View, &[("ssn", "varchar")]),
                table("other", "customers", TableKind::Base, &[("ssn", "varchar")]),
            ],
            key: MaskKey::new(b"a-masking-key-of-enough-length-0123456789", "test").expect("key"),
        }
    }

    /// The catalog for `sql` as the front builds it: every name `tables_read` returns, looked
    /// up as the server would with lower_case_table_names = 0 (exact spelling).
    fn catalog(
        &self,
        sql: &str,
        db: Option<&str>,
    ) -> Result<HashMap<TableName, TableInfo>, Refusal> {
        let mut catalog = HashMap::new();
        for name in tables_read(sql, db)? {
            let info = self
                .tables
                .iter()
                .find(|t| t.db == name.db && t.table == name.table)
                .cloned()
                .unwrap_or_else(|| TableInfo::missing(&name));
            catalog.insert(name, info);
        }
        Ok(catalog)
    }

    fn rewrite(&self, sql: &str) -> Result<String, Refusal> {
        let catalog = self.catalog(sql, Some("app"))?;
        rewrite(sql, Some("app"), &catalog as &dyn Catalog, self).map(|r| r.sql)
    }
}

impl ColumnMasks for Fixture {
    fn may_protect(&self, db: &str, table: &str) -> bool {
        db.eq_ignore_ascii_case("app") && table.eq_ignore_ascii_case("customers")
    }

    fn mask_sql(&self, db: &str, table: &str, column: &ColumnInfo, column_sql: &str) -> MaskSql {
        if !self.may_protect(db, table) {
            return MaskSql::Clear;
        }
        let mask = match column.name.as_str() {
            "ssn" => Mask::Partial {
                keep_first: 0,
                keep_last: 4,
                pad: '*',
            },
            "email" => Mask::Email,
            "card" => Mask::Tokenize,
            "name" => Mask::Hash,
            _ => return MaskSql::Clear,
        };
        match mask.mysql_expr(column_sql, &MySqlType::Text, &self.key) {
            Ok(sql) => MaskSql::Expr(sql),
            Err(_) => MaskSql::Withheld,
        }
    }
}

/// The derived table the rewrite puts in place of `app.customers`.
fn masked_customers(f: &Fixture) -> String {
    let catalog: HashMap<TableName, TableInfo> = HashMap::from([(
        TableName {
            db: "app".into(),
            table: "customers".into(),
        },
        f.tables[0].clone(),
    )]);
    let out = rewrite("SELECT * FROM app.customers", None, &catalog, f).expect("rewrite");
    let start = out.sql.find('(').expect("a derived table");
    let end = out.sql.rfind(')').expect("a derived table");
    out.sql[start..=end].to_owned()
}

#[test]
fn every_spelling_of_a_protected_table_is_read_through_its_masks() {
    let f = Fixture::new();
    let derived = masked_customers(&f);
    assert!(derived.contains("FROM `app`.`customers`"), "{derived}");
    assert!(
        derived.contains("NULL AS `card`"),
        "tokenize has no MySQL form: {derived}"
    );
    assert!(
        derived.contains("AS `ssn`") && derived.contains("REPEAT"),
        "{derived}"
    );
    for (sql, expected) in [
        (
            "SELECT ssn FROM customers",
            format!("SELECT ssn FROM {derived} AS `customers`"),
        ),
        (
            "SELECT c.ssn FROM app.customers c WHERE c.ssn LIKE '123%'",
            format!("SELECT c.ssn FROM {derived} c WHERE c.ssn LIKE '123%'"),
        ),
        (
            "select * from `app` . `customers` as x",
            format!("select * from {derived} as x"),
        ),
        (
            "SELECT customers.* FROM orders JOIN customers USING (id)",
            format!("SELECT customers.* FROM orders JOIN {derived} AS `customers` USING (id)"),
        ),
        (
            "SELECT 1 FROM orders NATURAL JOIN customers",
            format!("SELECT 1 FROM orders NATURAL JOIN {derived} AS `customers`"),
        ),
        (
            "SELECT (SELECT ssn FROM customers LIMIT 1), 'Zoë'",
            format!("SELECT (SELECT ssn FROM {derived} AS `customers` LIMIT 1), 'Zoë'"),
        ),
        (
            "SELECT id FROM orders UNION SELECT ssn FROM customers",
            format!("SELECT id FROM orders UNION SELECT ssn FROM {derived} AS `customers`"),
        ),
        (
            "SELECT 'é'\n  , ssn FROM\n customers ORDER BY ssn",
            format!("SELECT 'é'\n  , ssn FROM\n {derived} AS `customers` ORDER BY ssn"),
        ),
        (
            "SELECT 1 FROM orders WHERE customer IN (SELECT id FROM customers WHERE ssn = 'x')",
            format!(
                "SELECT 1 FROM orders WHERE customer IN (SELECT id FROM {derived} AS `customers` WHERE ssn = 'x')"
            ),
        ),
    ] {
        assert_eq!(f.rewrite(sql).as_deref(), Ok(expected.as_str()), "{sql}");
    }
}

#[test]
fn ctes_shadow_a_table_name_only_where_the_server_would_resolve_to_them() {
    let f = Fixture::new();
    let derived = masked_customers(&f);
    // A CTE named like the protected table: its body is what the name reads.
    let sql = "WITH customers AS (SELECT 1 AS ssn) SELECT ssn FROM customers";
    assert_eq!(f.rewrite(sql).as_deref(), Ok(sql));
    // The body of a CTE cannot see itself (without RECURSIVE) nor later CTEs: there the name
    // is the table.
    let sql = "WITH customers AS (SELECT ssn FROM customers) SELECT ssn FROM customers";
    assert_eq!(
        f.rewrite(sql),
        Ok(format!(
            "WITH customers AS (SELECT ssn FROM {derived} AS `customers`) SELECT ssn FROM customers"
        ))
    );
    let sql = "WITH a AS (SELECT * FROM customers), customers AS (SELECT 2 AS ssn) SELECT * FROM a";
    assert!(f.rewrite(sql).unwrap().contains(&derived));
    // Case and quoting: `CUSTOMERS` is no CTE named `customers`, so it is read as a table —
    // a name the policy protects and the catalog does not list is refused.
    let sql = "WITH customers AS (SELECT 1 AS ssn) SELECT * FROM CUSTOMERS";
    assert!(matches!(f.rewrite(sql), Err(Refusal::Masked(_))));
    // A qualified name is never a CTE.
    let sql = "WITH customers AS (SELECT 1 AS ssn) SELECT * FROM app.customers";
    assert!(f.rewrite(sql).unwrap().contains(&derived));
}

#[test]
fn unprotected_tables_and_constant_statements_pass_unchanged() {
    let f = Fixture::new();
    for sql in [
        "SELECT * FROM orders",
        "SELECT * FROM other.customers",
        "SELECT @@version_comment LIMIT 1",
        "SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME = 'customers'",
        "INSERT INTO orders VALUES (13, 2, 1.00)",
    ] {
        assert_eq!(f.rewrite(sql).as_deref(), Ok(sql), "{sql}");
    }
}

#[test]
fn use_changes_the_database_unqualified_names_resolve_in() {
    let f = Fixture::new();
    let sql = "USE other; SELECT ssn FROM customers";
    assert_eq!(f.rewrite(sql).as_deref(), Ok(sql));
    let sql = "USE other; SELECT ssn FROM app.customers";
    assert!(f.rewrite(sql).unwrap().contains("`app`.`customers`"));
    let catalog = f.catalog("USE other; SELECT 1", Some("app")).unwrap();
    let out = rewrite("USE other; SELECT 1", Some("app"), &catalog, &f).unwrap();
    assert_eq!(out.current_db.as_deref(), Some("other"));
    assert!(matches!(
        tables_read("SELECT * FROM customers", None),
        Err(Refusal::Masked(_))
    ));
}

#[test]
fn what_reads_around_the_masks_is_refused() {
    let f = Fixture::new();
    for sql in [
        "SELECT * FROM v",
        "SELECT * FROM mysql.column_stats",
        "SELECT * FROM MySQL.user",
        "SELECT * FROM information_schema.PROCESSLIST",
        "SELECT * FROM information_schema.statistics",
        "SELECT * FROM information_schema.COLUMN_STATISTICS",
        "SELECT * FROM performance_schema.events_statements_history",
        "SELECT * FROM sys.statement_analysis",
        "USE information_schema; SELECT * FROM processlist",
        "SELECT LOAD_FILE('/etc/hostname')",
        "SELECT app.leak(id) FROM orders",
        "SELECT leak(id) FROM orders",
        "SELECT BENCHMARK(1000, MD5('x'))",
        "SELECT ssn FROM customers INTO OUTFILE '/tmp/x'",
        "SELECT ssn INTO @x FROM customers",
        "SELECT ssn FROM customers PARTITION (p0)",
        "SELECT ssn FROM customers USE INDEX (PRIMARY)",
        "UPDATE customers SET name = 'x' WHERE ssn = '123-45-6789'",
        "INSERT INTO customers (id, ssn) VALUES (9, '123-45-6789')",
        "DELETE FROM orders WHERE customer IN (SELECT id FROM customers WHERE ssn LIKE '1%')",
        "INSERT INTO orders SELECT id, id, 1 FROM customers",
        "SELECT * FROM CUSTOMERS",
        "SELECT 1; SELECT * FROM v",
        "TABLE customers",
    ] {
        assert!(
            matches!(
                f.rewrite(sql),
                Err(Refusal::Masked(_) | Refusal::Unparsable(_))
            ),
            "{sql}: {:?}",
            f.rewrite(sql)
        );
    }
}

#[test]
fn a_rewrite_that_cannot_be_verified_is_refused() {
    let f = Fixture::new();
    // A catalog that lacks a name the text reads.
    let empty: HashMap<TableName, TableInfo> = HashMap::new();
    assert!(matches!(
        rewrite("SELECT * FROM customers", Some("app"), &empty, &f),
        Err(Refusal::Masked(_))
    ));
    // Masks whose SQL the parser cannot read back are never trusted.
    struct Broken;
    impl ColumnMasks for Broken {
        fn may_protect(&self, _: &str, t: &str) -> bool {
            t == "customers"
        }
        fn mask_sql(&self, _: &str, _: &str, _: &ColumnInfo, c: &str) -> MaskSql {
            MaskSql::Expr(format!("{c}) FROM app.customers UNION SELECT (ssn"))
        }
    }
    let catalog = f.catalog("SELECT * FROM customers", Some("app")).unwrap();
    assert!(matches!(
        rewrite("SELECT * FROM customers", Some("app"), &catalog, &Broken),
        Err(Refusal::Masked(_))
    ));
}

/// Every mask's MySQL form, on every type it applies to, parses: a form the parser could not
/// read back would make every read of its column refused.
#[test]
fn every_mask_form_reads_back() {
    let key = MaskKey::new(b"a-masking-key-of-enough-length-0123456789", "test").expect("key");
    let types = [
        MySqlType::Text,
        MySqlType::TinyInt,
        MySqlType::SmallInt,
        MySqlType::MediumInt,
        MySqlType::Int,
        MySqlType::BigInt,
        MySqlType::Decimal {
            precision: 10,
            scale: 2,
        },
        MySqlType::Decimal {
            precision: 20,
            scale: 0,
        },
        MySqlType::Date,
        MySqlType::DateTime,
        MySqlType::Timestamp,
    ];
    let masks = [
        Mask::Redact,
        Mask::Null,
        Mask::Email,
        Mask::Hash,
        Mask::Partial {
            keep_first: 1,
            keep_last: 2,
            pad: '#',
        },
        Mask::Generalize(jitgate_masking::Generalization::Month),
        Mask::Generalize(jitgate_masking::Generalization::Year),
        Mask::Generalize(jitgate_masking::Generalization::Bucket(1000)),
    ];
    let mut failed = Vec::new();
    for mask in &masks {
        for ty in &types {
            let Ok(expr) = mask.mysql_expr("`app`.`t`.`c`", ty, &key) else {
                continue;
            };
            let sql = format!("SELECT {expr} AS `c` FROM `app`.`t`");
            if let Err(e) =
                sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql)
            {
                failed.push(format!("{mask:?} on {ty}: {e}: {expr}"));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Names are written back quoted, whatever they hold: a backtick in a column or table name
/// cannot end the identifier early.
#[test]
fn names_with_backticks_and_spaces_stay_identifiers() {
    let f = Fixture {
        tables: vec![table(
            "app",
            "odd name",
            TableKind::Base,
            &[("we`ird", "varchar"), ("ssn", "varchar")],
        )],
        key: MaskKey::missing(),
    };
    struct All;
    impl ColumnMasks for All {
        fn may_protect(&self, _: &str, _: &str) -> bool {
            true
        }
        fn mask_sql(&self, _: &str, _: &str, c: &ColumnInfo, _: &str) -> MaskSql {
            if c.name == "ssn" {
                MaskSql::Withheld
            } else {
                MaskSql::Clear
            }
        }
    }
    let sql = "SELECT * FROM `odd name`";
    let catalog = f.catalog(sql, Some("app")).unwrap();
    let out = rewrite(sql, Some("app"), &catalog, &All).unwrap();
    assert_eq!(
        out.sql,
        "SELECT * FROM (SELECT `app`.`odd name`.`we``ird` AS `we``ird`, NULL AS `ssn` \
         FROM `app`.`odd name`) AS `odd name`"
    );
}

/// `db.t.c` of a protected table keeps reading the masked column: the qualifier `db.t` becomes
/// the derived table's name `t` (by span), in every clause and in `db.t.*`; other tables'
/// qualifiers stay as they are.
#[test]
fn three_part_column_names_read_the_masked_derived_table() {
    let f = Fixture::new();
    let derived = masked_customers(&f);
    for (sql, expected) in [
        (
            "SELECT app.customers.ssn FROM customers",
            format!("SELECT `customers`.ssn FROM {derived} AS `customers`"),
        ),
        (
            "SELECT `app` . `customers`.`ssn` FROM app.customers WHERE app.customers.ssn LIKE '1%' ORDER BY app.customers.id",
            format!(
                "SELECT `customers`.`ssn` FROM {derived} AS `customers` WHERE `customers`.ssn LIKE '1%' ORDER BY `customers`.id"
            ),
        ),
        (
            "SELECT app.customers.*, app.orders.id FROM customers JOIN orders ON app.orders.customer = app.customers.id",
            format!(
                "SELECT `customers`.*, app.orders.id FROM {derived} AS `customers` JOIN orders ON app.orders.customer = `customers`.id"
            ),
        ),
        (
            "SELECT (SELECT MAX(app.customers.ssn) FROM customers) FROM orders",
            format!("SELECT (SELECT MAX(`customers`.ssn) FROM {derived} AS `customers`) FROM orders"),
        ),
        (
            "SELECT other.customers.ssn FROM other.customers",
            "SELECT other.customers.ssn FROM other.customers".to_owned(),
        ),
    ] {
        assert_eq!(f.rewrite(sql).as_deref(), Ok(expected.as_str()), "{sql}");
    }
    // An aliased protected table has no `db.t` name (the server says so): left as written.
    let out = f
        .rewrite("SELECT app.customers.ssn FROM customers c")
        .unwrap();
    assert!(out.starts_with("SELECT app.customers.ssn FROM ("), "{out}");
    assert!(matches!(
        f.rewrite("SELECT a.app.customers.ssn FROM customers"),
        Err(Refusal::Masked(_) | Refusal::Unparsable(_))
    ));
}

/// Two tables going by the same name in one statement, one of them a protected table that
/// becomes a derived table named after it, would give two derived tables (or a derived table
/// and a table) one name: refused, with aliases they pass.
#[test]
fn protected_tables_keep_unique_names_or_are_refused() {
    let f = Fixture::new();
    for sql in [
        "SELECT * FROM app.customers JOIN other.customers",
        "SELECT * FROM other.customers JOIN app.customers ON app.customers.id = other.customers.id",
        "SELECT * FROM customers JOIN orders customers",
        "SELECT * FROM customers JOIN (SELECT 1 AS id) AS customers",
        "SELECT app.customers.id FROM customers WHERE id IN (SELECT 1 FROM other.customers)",
        "WITH c AS (SELECT 1 AS id) SELECT * FROM customers, (SELECT * FROM c) customers",
    ] {
        assert!(matches!(f.rewrite(sql), Err(Refusal::Masked(_))), "{sql}");
    }
    for sql in [
        "SELECT a.ssn, b.ssn FROM app.customers a JOIN other.customers b ON a.id = b.id",
        "SELECT * FROM app.customers JOIN other.customers o ON o.ssn = customers.ssn",
        "SELECT * FROM customers WHERE id IN (SELECT id FROM customers)",
        "SELECT * FROM customers; SELECT * FROM other.customers",
        "SELECT * FROM customers WHERE id IN (SELECT id FROM other.customers)",
        "SELECT ssn FROM customers UNION SELECT ssn FROM other.customers",
    ] {
        let out = f.rewrite(sql);
        assert!(
            matches!(&out, Ok(o) if o.contains("AS `ssn`")),
            "{sql}: {out:?}"
        );
    }
}

/// Diagnostics statements among others: the other statements are rewritten, the diagnostics
/// statements kept as the client wrote them.
#[test]
fn diagnostics_statements_stay_among_rewritten_statements() {
    let f = Fixture::new();
    let derived = masked_customers(&f);
    let sql = "SELECT CAST(ssn AS SIGNED) FROM customers; show /* c */ warnings limit 3;\nSELECT 1";
    assert_eq!(
        f.rewrite(sql),
        Ok(format!(
            "SELECT CAST(ssn AS SIGNED) FROM {derived} AS `customers`; show /* c */ warnings limit 3;\nSELECT 1"
        ))
    );
    assert_eq!(f.rewrite("SHOW ERRORS").as_deref(), Ok("SHOW ERRORS"));
}
