//! Adversarial tests of the analysis and rewrite of `spark.sql` texts for masked subjects.

use std::collections::HashMap;

use jitgate_masking::SparkType;

use crate::tests::util::{ns, view};
use crate::{
    analyse, masking_projection, parse_identifier, resolve, Column, ColumnType, Refusal, TableRef,
};

fn col(name: &str, ty: &str) -> Column {
    Column {
        name: name.into(),
        ty: ColumnType::from_spark_name(ty),
    }
}

/// The schema the upstream would report for a table, whatever case it was written in.
fn schema_of(table: &TableRef) -> Vec<Column> {
    match (
        table.database.to_lowercase().as_str(),
        table.table.to_lowercase().as_str(),
    ) {
        ("default", "people") => vec![col("id", "int"), col("ssn", "string")],
        ("hr", "salaries") => vec![col("emp", "int"), col("amount", "decimal(10,2)")],
        _ => vec![col("x", "int")],
    }
}

/// Analyses and rewrites with every protected table's schema available.
fn rw(sql: &str) -> Result<String, Refusal> {
    let v = view();
    let analysed = analyse(sql, &ns(), &v)?;
    let schemas: HashMap<TableRef, Vec<Column>> = analysed
        .protected()
        .iter()
        .map(|t| (t.clone(), schema_of(t)))
        .collect();
    analysed.rewrite(&schemas)
}

fn ok(sql: &str) -> String {
    match rw(sql) {
        Ok(out) => out,
        Err(e) => panic!("{sql}: refused: {e}"),
    }
}

fn refused(sql: &str) -> String {
    match rw(sql) {
        Ok(out) => panic!("{sql}: accepted as {out}"),
        Err(e) => e.message,
    }
}

const SSN: &str =
    "CASE WHEN (`ssn`) IS NULL THEN CAST(NULL AS string) ELSE CAST('***' AS string) END";

/// The masking subquery of `default.people` with the test schema.
fn people_sub() -> String {
    format!("(SELECT `id` AS `id`, {SSN} AS `ssn` FROM `default`.`people`)")
}

fn protected_of(sql: &str) -> Vec<String> {
    let v = view();
    analyse(sql, &ns(), &v)
        .expect("analysed")
        .protected()
        .iter()
        .map(|t| t.identifier.clone())
        .collect()
}

#[test]
fn simple_query_exact_rewrite() {
    assert_eq!(
        ok("SELECT id FROM people WHERE ssn = '123'"),
        format!(
            "SELECT id FROM {} AS `people` WHERE ssn = '123'",
            people_sub()
        )
    );
    assert_eq!(
        ok("SELECT p.ssn FROM people p"),
        format!("SELECT p.ssn FROM {} p", people_sub())
    );
    assert_eq!(
        ok("select * from default.people as P order by 1"),
        format!("select * from {} as P order by 1", people_sub())
    );
}

#[test]
fn nothing_protected_is_unchanged() {
    for sql in [
        "SELECT * FROM orders",
        "SELECT * FROM hr.people",
        "SELECT * FROM salaries",
        "VALUES (1), (2)",
        "SELECT * FROM range(10)",
        "SELECT 'a''b', \"c\\\"d\" FROM orders",
    ] {
        assert_eq!(ok(sql), sql);
        assert!(protected_of(sql).is_empty(), "{sql}");
    }
}

#[test]
fn name_forms() {
    for (sql, identifier) in [
        ("SELECT * FROM people", "`default`.`people`"),
        ("SELECT * FROM PEOPLE", "`default`.`PEOPLE`"),
        ("SELECT * FROM `people`", "`default`.`people`"),
        ("SELECT * FROM default.people", "`default`.`people`"),
        ("SELECT * FROM `Default` . `People`", "`Default`.`People`"),
        (
            "SELECT * FROM spark_catalog.default.people",
            "`spark_catalog`.`default`.`people`",
        ),
        (
            "SELECT * FROM main.default.people",
            "`main`.`default`.`people`",
        ),
        (
            "SELECT * FROM spark_catalog.people",
            "`spark_catalog`.`default`.`people`",
        ),
        ("SELECT * FROM hr.salaries", "`hr`.`salaries`"),
        ("SELECT * FROM HR.Salaries", "`HR`.`Salaries`"),
    ] {
        assert_eq!(protected_of(sql), vec![identifier.to_string()], "{sql}");
        let out = ok(sql);
        assert!(out.contains(&format!("FROM {identifier})")), "{sql}: {out}");
    }
    // The masked column of an upper-case reference is still masked.
    let out = ok("SELECT * FROM PEOPLE");
    assert!(out.contains(SSN), "{out}");
    let out = ok("SELECT amount FROM HR.SALARIES");
    assert!(
        out.contains("CAST(NULL AS decimal(10,2)) AS `amount`"),
        "{out}"
    );
}

#[test]
fn joins_and_subqueries() {
    let out = ok("SELECT * FROM people p JOIN orders o ON p.id = o.id LEFT JOIN hr.salaries s ON s.emp = p.id");
    assert!(
        out.starts_with(&format!("SELECT * FROM {} p JOIN orders o", people_sub())),
        "{out}"
    );
    assert!(
        out.contains("FROM `hr`.`salaries`) s ON s.emp = p.id"),
        "{out}"
    );

    for sql in [
        "SELECT * FROM orders WHERE cust IN (SELECT id FROM people WHERE ssn LIKE '1%')",
        "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM people q WHERE q.ssn = o.x)",
        "SELECT (SELECT max(ssn) FROM people) AS m FROM orders",
        "SELECT cust, count(*) FROM orders GROUP BY cust HAVING max(x) > (SELECT max(ssn) FROM people)",
        "SELECT * FROM (SELECT * FROM (SELECT ssn FROM people) a) b",
        "SELECT * FROM orders, people",
        "SELECT * FROM orders o JOIN LATERAL (SELECT ssn FROM people WHERE id = o.cust) q",
        "FROM people SELECT ssn",
        "SELECT * FROM (orders o JOIN people p ON o.cust = p.id)",
        "SELECT * FROM people LATERAL VIEW explode(array(1, 2)) t AS n",
        "SELECT * FROM people PIVOT (count(*) FOR ssn IN ('1', '2'))",
    ] {
        let out = ok(sql);
        assert_eq!(out.matches("FROM `default`.`people`)").count(), 1, "{sql}: {out}");
        assert_eq!(out.matches(SSN).count(), 1, "{sql}: {out}");
    }
}

#[test]
fn every_reference_is_wrapped() {
    let sql = "SELECT ssn FROM people UNION ALL SELECT ssn FROM default.people \
               UNION SELECT amount FROM hr.salaries WHERE emp IN (SELECT id FROM PEOPLE)";
    let out = ok(sql);
    assert_eq!(out.matches("FROM `default`.`people`)").count(), 2, "{out}");
    assert_eq!(out.matches("FROM `default`.`PEOPLE`)").count(), 1, "{out}");
    assert_eq!(out.matches("FROM `hr`.`salaries`)").count(), 1, "{out}");
    assert_eq!(
        protected_of(sql),
        vec![
            "`default`.`people`",
            "`hr`.`salaries`",
            "`default`.`PEOPLE`"
        ]
    );
}

#[test]
fn ctes() {
    // A CTE's body is rewritten.
    let out = ok("WITH x AS (SELECT ssn FROM people) SELECT * FROM x");
    assert_eq!(
        out,
        format!(
            "WITH x AS (SELECT ssn FROM {} AS `people`) SELECT * FROM x",
            people_sub()
        )
    );
    // A CTE named like a protected table does not hide it: the reference is wrapped anyway
    // (reading the real table, masked).
    let out = ok("WITH people AS (SELECT 1 AS ssn) SELECT * FROM people");
    assert_eq!(
        out,
        format!(
            "WITH people AS (SELECT 1 AS ssn) SELECT * FROM {} AS `people`",
            people_sub()
        )
    );
    let out = ok("WITH a AS (SELECT * FROM people), b AS (SELECT * FROM a JOIN people p ON true) SELECT * FROM b");
    assert_eq!(out.matches(SSN).count(), 2, "{out}");
}

#[test]
fn literals_preserved_byte_for_byte() {
    let sql = "SELECT 'it\\'s', \"x\", 'a''b', '\\\\', \"say \\\"hi\\\"\", 'FROM people' FROM people -- people\n WHERE ssn <> 'people'";
    let out = ok(sql);
    let expected = sql.replacen(
        "FROM people -- people",
        &format!("FROM {} AS `people` -- people", people_sub()),
        1,
    );
    assert_eq!(out, expected);
}

#[test]
fn non_ascii_and_multi_line_texts() {
    let sql = "SELECT 'héllo ✓', '日本語' AS `列`\n  , id -- ü\nFROM   people\tp\r\nWHERE name = 'é' AND x IN (SELECT ssn FROM\n\u{1F600}people)";
    // The emoji is not an identifier character: that text does not parse, and is refused.
    assert!(rw(sql).is_err());
    let sql = "SELECT 'héllo ✓', '日本語' AS `列`\n  , id -- ü\nFROM   people\tp\r\nWHERE name = 'é' AND x IN (SELECT ssn /* ✓ */ FROM\n  people)";
    let out = ok(sql);
    let expected = sql
        .replacen("people\tp", &format!("{}\tp", people_sub()), 1)
        .replacen(
            "\n  people)",
            &format!("\n  {} AS `people`)", people_sub()),
            1,
        );
    assert_eq!(out, expected);
}

#[test]
fn aliases_and_comments_kept() {
    let out = ok("SELECT * FROM people /* c */ AS p (a, b)");
    assert_eq!(
        out,
        format!("SELECT * FROM {} /* c */ AS p (a, b)", people_sub())
    );
    let out = ok("SELECT /*+ BROADCAST(people) */ * FROM people");
    assert_eq!(
        out,
        format!(
            "SELECT /*+ BROADCAST(people) */ * FROM {} AS `people`",
            people_sub()
        )
    );
    let out = ok("SELECT * FROM people;");
    assert_eq!(out, format!("SELECT * FROM {} AS `people`;", people_sub()));
}

#[test]
fn temp_views() {
    let out = ok("CREATE OR REPLACE TEMP VIEW v AS SELECT ssn FROM people");
    assert_eq!(
        out,
        format!(
            "CREATE OR REPLACE TEMP VIEW v AS SELECT ssn FROM {} AS `people`",
            people_sub()
        )
    );
    assert_eq!(
        ok("CREATE TEMPORARY VIEW v AS SELECT 1"),
        "CREATE TEMPORARY VIEW v AS SELECT 1"
    );
    assert!(refused("CREATE TEMP VIEW people AS SELECT 1 AS ssn").contains("shadow"));
    assert!(refused("CREATE OR REPLACE TEMPORARY VIEW PEOPLE AS SELECT 1").contains("shadow"));
    assert!(refused("CREATE VIEW v AS SELECT * FROM people").contains("persistent"));
    assert!(refused("CREATE GLOBAL TEMP VIEW v AS SELECT * FROM people").contains("global"));
    // Any session of the cluster can make or replace a global temporary view, a clear one
    // included: masked subjects read none, however the name is written.
    for sql in [
        "SELECT * FROM global_temp.v",
        "SELECT * FROM GLOBAL_TEMP.`v`",
        "SELECT * FROM spark_catalog.global_temp.v",
        "SELECT id FROM people WHERE id IN (SELECT id FROM `global_temp`.v)",
    ] {
        assert!(refused(sql).contains("global temporary views"), "{sql}");
    }
    refused("CREATE TEMP VIEW v AS SELECT reflect('java.lang.System', 'getenv', 'X')");
}

#[test]
fn statements_allowed_as_written() {
    for sql in [
        "SHOW TABLES",
        "SHOW TABLES IN hr LIKE 'sal*'",
        "SHOW DATABASES",
        "SHOW SCHEMAS",
        "SHOW CATALOGS",
        "SHOW COLUMNS IN people",
        "SHOW FUNCTIONS",
        "DESCRIBE people",
        "DESCRIBE TABLE people",
        "DESC EXTENDED hr.salaries",
        "describe table formatted `default`.people;",
        "DESCRIBE extended_people",
        "SET -v",
        "SET spark.sql.ansi.enabled = false",
        "SET spark.sql.session.timeZone=UTC",
        "SET spark.sql.legacy.timeParserPolicy",
        "SET TIME ZONE 'Europe/Paris'",
    ] {
        assert_eq!(ok(sql), sql);
    }
}

#[test]
fn statements_refused() {
    for (sql, says) in [
        ("EXPLAIN SELECT * FROM people", "EXPLAIN"),
        ("EXPLAIN EXTENDED SELECT * FROM people", "analyse"),
        ("EXPLAIN people", "EXPLAIN"),
        ("INSERT INTO orders SELECT * FROM people", "INSERT"),
        ("INSERT OVERWRITE TABLE orders SELECT 1", "INSERT"),
        ("USE hr", "USE"),
        ("CREATE TABLE t AS SELECT * FROM people", "CREATE TABLE"),
        ("CREATE OR REPLACE TEMPORARY FUNCTION sha2 AS 'x.Y'", ""),
        ("CREATE FUNCTION f() RETURNS INT RETURN 1", ""),
        ("CACHE TABLE people", ""),
        ("DROP TABLE people", "DROP TABLE"),
        ("ALTER TABLE people DROP COLUMN ssn", "ALTER TABLE"),
        ("DELETE FROM people WHERE ssn = '1'", "DELETE"),
        ("UPDATE people SET ssn = '1'", "UPDATE"),
        (
            "MERGE INTO orders USING people ON true WHEN MATCHED THEN DELETE",
            "MERGE",
        ),
        ("ADD JAR '/tmp/x.jar'", ""),
        ("REFRESH TABLE people", ""),
        ("RESET", ""),
        (
            "ANALYZE TABLE people COMPUTE STATISTICS FOR ALL COLUMNS",
            "",
        ),
        ("TABLE people", ""),
        ("SELECT * FROM orders UNION TABLE people", "TABLE"),
        ("SHOW PARTITIONS people", "SHOW PARTITIONS"),
        ("SHOW CREATE TABLE people", "SHOW CREATE"),
        ("SHOW TABLE EXTENDED LIKE 'people'", ""),
        ("DESCRIBE people ssn", "DESCRIBE"),
        ("DESCRIBE TABLE EXTENDED people ssn", "DESCRIBE"),
        ("DESCRIBE HISTORY people", "DESCRIBE"),
        ("DESCRIBE people PARTITION (d = 1)", "DESCRIBE"),
        ("DESCRIBE QUERY SELECT * FROM people", "DESCRIBE"),
        ("DESCRIBE TABLE parquet.`/tmp/x`", "direct file reads"),
        ("DESCRIBE people /* c */", "DESCRIBE"),
        (
            "SET spark.sql.parser.escapedStringLiterals = true",
            "escapedStringLiterals",
        ),
        (
            "SET spark.sql.legacy.setCommandRejectsSparkCoreConfs=false",
            "legacy",
        ),
        ("SET spark.sql.defaultCatalog = other", "defaultCatalog"),
        ("SET spark.sql.caseSensitive = true", "caseSensitive"),
        ("SET unknown.key = 1", "unknown.key"),
        ("SET VAR x = (SELECT max(ssn) FROM people)", "variables"),
        ("/* c */ SET spark.sql.legacy.x = 1", "SET"),
        ("SELECT 1; SELECT * FROM people", "one at a time"),
        ("SELECT 1; DROP TABLE people", "one at a time"),
        ("BEGIN SELECT 1; END", ""),
        ("", "empty"),
        ("   ", "empty"),
        ("SELEC * FROM people", "cannot analyse"),
    ] {
        let message = refused(sql);
        assert!(
            message.to_lowercase().contains(&says.to_lowercase()),
            "{sql}: {message}"
        );
    }
}

#[test]
fn file_reads_and_table_functions() {
    for (sql, says) in [
        ("SELECT * FROM parquet.`/tmp/x`", "direct file reads"),
        (
            "SELECT * FROM DELTA.`s3://bucket/people`",
            "direct file reads",
        ),
        ("SELECT * FROM json.`/data/*.json` j", "direct file reads"),
        ("SELECT * FROM default.`/tmp/people`", "direct file reads"),
        (
            "SELECT * FROM orders WHERE x IN (SELECT ssn FROM csv.`/x`)",
            "direct file reads",
        ),
        ("SELECT * FROM read_files('/tmp/x')", "read_files"),
        ("SELECT * FROM IDENTIFIER('people')", "identifier"),
        ("SELECT * FROM some_tvf(1)", "table-valued function"),
        ("SELECT * FROM default.range(10)", "qualified function"),
        ("SELECT * FROM table_changes('people', 0)", "table_changes"),
        ("SELECT * FROM people, LATERAL explode(array(1))", ""),
        ("SELECT * FROM a.b.c.people", "more than three parts"),
        ("SELECT * FROM `default.people`", "dots"),
    ] {
        let message = refused(sql);
        assert!(
            message.to_lowercase().contains(&says.to_lowercase()),
            "{sql}: {message}"
        );
    }
    assert_eq!(
        ok("SELECT id FROM range(0, 10) r"),
        "SELECT id FROM range(0, 10) r"
    );
    let out = ok("SELECT * FROM range((SELECT count(ssn) FROM people))");
    assert!(out.contains(SSN), "{out}");
}

#[test]
fn time_travel_and_modifiers() {
    assert!(refused("SELECT * FROM people VERSION AS OF 3").contains("time travel"));
    assert!(refused("SELECT * FROM people TIMESTAMP AS OF '2020-01-01' p").contains("time travel"));
    assert!(refused("SELECT * FROM people FOR SYSTEM_TIME AS OF '2020-01-01'").len() > 10);
    refused("SELECT * FROM people TABLESAMPLE (10 PERCENT)");
    refused("SELECT * FROM people@v1");
    refused("SELECT * FROM people WITH ('versionAsOf' = '1')");
    refused("SELECT * FROM orders WITH ('path' = '/tmp/people')");
    // Clear tables may time travel.
    assert_eq!(
        ok("SELECT * FROM orders VERSION AS OF 3"),
        "SELECT * FROM orders VERSION AS OF 3"
    );
}

#[test]
fn refused_functions_and_reserved_names() {
    for (sql, says) in [
        (
            "SELECT reflect('java.lang.System', 'getenv', 'HOME')",
            "reflect",
        ),
        (
            "SELECT * FROM orders WHERE java_method('a', 'b') = 'c'",
            "java_method",
        ),
        (
            "SELECT upper(TRY_REFLECT('a', 'b')) FROM people",
            "TRY_REFLECT",
        ),
        ("SELECT secret('scope', 'key')", "secret"),
        ("SELECT IDENTIFIER('ssn') FROM people", "identifier"),
        ("SELECT default.f(ssn) FROM people", "qualified function"),
        ("SELECT jgmask_c FROM people", "jgmask_"),
        ("SELECT ssn AS JGMASK_x FROM people", "jgmask_"),
        (
            "SELECT transform(array(ssn), jgmask_c -> jgmask_c) FROM people",
            "jgmask_",
        ),
        ("SELECT `jgmask_h` FROM people", "jgmask_"),
        (
            "SELECT r'\\', (SELECT max(ssn) FROM people), '' FROM orders",
            "",
        ),
        (
            "SELECT r'\\', (SELECT max(ssn) FROM people) AS x, '' FROM orders --'",
            "raw string",
        ),
        (
            "SELECT R\"\\\", (SELECT max(ssn) FROM people) AS x, \"\" FROM orders --\"",
            "raw string",
        ),
        ("SELECT 1 FROM orders -- \\\n, people", "line comments"),
        (
            "SELECT /*+ COALESCE((SELECT max(ssn) FROM people)) */ 1",
            "hints",
        ),
    ] {
        let message = refused(sql);
        assert!(
            message.to_lowercase().contains(&says.to_lowercase()),
            "{sql}: {message}"
        );
    }
}

#[test]
fn missing_schema_and_unmaskable_columns() {
    let v = view();
    let analysed = analyse("SELECT * FROM people JOIN hr.salaries", &ns(), &v).expect("analysed");
    assert_eq!(analysed.protected().len(), 2);
    let mut schemas = HashMap::new();
    let people = analysed.protected()[0].clone();
    schemas.insert(people.clone(), schema_of(&people));
    let err = analysed.rewrite(&schemas).expect_err("missing schema");
    assert!(err.message.contains("`hr`.`salaries`"), "{err}");

    let analysed = analyse("SELECT * FROM people", &ns(), &v).expect("analysed");
    let mut schemas = HashMap::new();
    schemas.insert(
        people.clone(),
        vec![col("id", "int"), col("ssn", "struct<a:int>")],
    );
    let err = analysed.rewrite(&schemas).expect_err("struct");
    assert!(err.message.contains("struct<a:int>"), "{err}");
    schemas.insert(
        people.clone(),
        vec![col("id", "int"), col("jgmask_c", "int")],
    );
    assert!(analysed.rewrite(&schemas).is_err());
    schemas.insert(people, vec![col("email", "int")]);
    assert!(analysed.rewrite(&schemas).is_err());
}

#[test]
fn masked_values_use_every_mask() {
    let v = view();
    let people = resolve(&parse_identifier("people").expect("name"), &ns()).expect("resolves");
    let columns = vec![
        col("id", "int"),
        col("ssn", "string"),
        col("email", "string"),
        col("phone", "string"),
        col("tags", "array<string>"),
    ];
    let projection = masking_projection(&v, &people, &columns).expect("projection");
    let masked: Vec<bool> = projection.iter().map(|p| p.masked).collect();
    assert_eq!(masked, vec![false, true, true, true, false]);
    let analysed = analyse("SELECT * FROM people WHERE phone = '1'", &ns(), &v).expect("ok");
    let mut schemas = HashMap::new();
    schemas.insert(people, columns);
    let out = analysed.rewrite(&schemas).expect("rewrite");
    // The keyed hash embeds a key-derived pad as a binary literal.
    assert!(out.contains("X'"), "{out}");
    assert!(out.contains("`tags` AS `tags`"), "{out}");
    assert!(out.ends_with("AS `people` WHERE phone = '1'"), "{out}");
    assert_eq!(
        ColumnType::from_spark_name("INT"),
        ColumnType::Known(SparkType::Int)
    );
}

#[test]
fn user_written_masking_subquery_is_still_wrapped() {
    // Writing the masking subquery by hand gains nothing: the reference inside is wrapped.
    let inner = format!("SELECT `id` AS `id`, {SSN} AS `ssn` FROM `default`.`people`");
    let sql = format!("SELECT * FROM ({inner}) x");
    let out = ok(&sql);
    assert_eq!(out.matches(SSN).count(), 2, "{out}");
}

#[test]
fn more_query_shapes() {
    for sql in [
        "SELECT * FROM people WHERE ssn = :id",
        "SELECT * FROM people WHERE ssn = ?",
        "SELECT * FROM orders LEFT ANTI JOIN people ON orders.a = people.ssn",
        "SELECT * FROM orders LEFT SEMI JOIN people ON orders.a = people.ssn",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, people",
        "SELECT * FROM people NATURAL JOIN orders",
        "SELECT ssn FROM people GROUP BY ALL",
        "SELECT * FROM people QUALIFY row_number() OVER (ORDER BY ssn) = 1",
        "SELECT * EXCEPT (ssn) FROM people",
        "SELECT * FROM people UNPIVOT (v FOR k IN (ssn))",
        "SELECT ssn::int, ssn:a.b FROM people",
        "SELECT * FROM orders o, LATERAL (SELECT * FROM people WHERE ssn = o.a)",
        "SELECT * FROM (VALUES (1)) AS v(a) JOIN people",
        "SELECT * FROM people\nORDER BY ssn\nLIMIT 10 OFFSET 2",
    ] {
        let out = ok(sql);
        assert_eq!(out.matches(SSN).count(), 1, "{sql}: {out}");
    }
    // Quotes that Spark and sqlparser both end at the same place.
    for sql in [
        "SELECT `a\\`, (SELECT ssn FROM people) FROM orders",
        "SELECT \"a\\\"\", (SELECT ssn FROM people) x FROM orders",
        "SELECT 'a\\\\', (SELECT ssn FROM people) x FROM orders",
        "SELECT 'a''', (SELECT ssn FROM people) x FROM orders",
        "SELECT 1 FROM orders /* /* */ */ JOIN people",
        "SELECT 1 FROM orders --x\nJOIN people",
    ] {
        let out = ok(sql);
        assert_eq!(out.matches(SSN).count(), 1, "{sql}: {out}");
    }
    for sql in [
        "SELECT TRANSFORM(ssn) USING 'cat' AS (x) FROM people",
        "SELECT * FROM stream(people)",
        "SELECT * FROM people AS OF VERSION 1",
        "CACHE LAZY TABLE x AS SELECT * FROM people",
        "SELECT * FROM people p TABLESAMPLE (BUCKET 1 OUT OF 2)",
    ] {
        refused(sql);
    }
}

#[test]
fn expression_and_config_api() {
    use crate::{check_expression, function_refused, may_set};
    assert!(check_expression("ssn = '1'").is_ok());
    assert!(check_expression("ssn IN (SELECT ssn FROM people)").is_err());
    assert!(check_expression("EXISTS (SELECT 1)").is_err());
    assert!(function_refused("Reflect").is_some());
    assert!(function_refused("abs").is_none());
    assert!(may_set("spark.sql.shuffle.partitions"));
    assert!(!may_set("spark.sql.parser.escapedStringLiterals"));
}

#[test]
fn double_quoted_names_and_data_source_views() {
    // Spark reads "people" as a string unless doubleQuotedIdentifiers is on; either way it may
    // not pass unchanged as a clear relation.
    match rw("SELECT * FROM \"people\"") {
        Ok(out) => assert!(out.contains(SSN), "{out}"),
        Err(e) => assert!(!e.message.is_empty()),
    }
    refused("CREATE TEMP VIEW v USING parquet OPTIONS (path '/tmp/people')");
    refused("CREATE TEMPORARY TABLE v USING parquet OPTIONS (path '/tmp/people')");
}

/// Mutated texts never panic, and whatever is accepted still reads protected tables only
/// through masking subqueries (checked by the rewrite's own verification, and here by counting).
#[test]
fn mutations_never_panic() {
    let seeds = [
        "SELECT p.ssn, 'it\\'s' FROM people p JOIN orders o ON p.id = o.id WHERE o.x IN (SELECT ssn FROM default.people)",
        "WITH x AS (SELECT * FROM people) SELECT * FROM x UNION SELECT * FROM hr.salaries",
        "SELECT 'é', \"ü\" -- c\nFROM /* ✓ */ `default`.`people` AS q",
    ];
    let pieces = [
        "'", "\"", "`", "\\", ";", "--", "/*", "*/", "/*+", "(", ")", ",", " ", "\n", "é",
        "people", "SELECT", "FROM", "r'", "jgmask_", ".", "@", "TABLE ",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..3000 {
        let mut text = seeds[next(seeds.len())].to_string();
        for _ in 0..1 + next(3) {
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            let at = boundaries[next(boundaries.len())];
            if next(2) == 0 {
                text.insert_str(at, pieces[next(pieces.len())]);
            } else {
                let end = boundaries.iter().copied().find(|b| *b > at).unwrap_or(at);
                text.replace_range(at..end, "");
            }
        }
        if let Ok(out) = rw(&text) {
            let references = text.to_lowercase().matches("people").count()
                + text.to_lowercase().matches("salaries").count();
            let wrapped = out.matches(" FROM `").count();
            assert!(wrapped <= references, "{text} => {out}");
        }
    }
}

#[test]
fn struct_of_every_column_is_read_as_spark_reads_it() {
    assert_eq!(
        ok("SELECT to_json(struct(*)) AS j FROM people"),
        format!(
            "SELECT to_json(struct(*)) AS j FROM {} AS `people`",
            people_sub()
        )
    );
    assert_eq!(
        ok("SELECT to_json(STRUCT (p.*)) FROM people p WHERE struct(ssn) IS NOT NULL"),
        format!(
            "SELECT to_json(STRUCT (p.*)) FROM {} p WHERE struct(ssn) IS NOT NULL",
            people_sub()
        )
    );
    // Only the keyword before a parenthesis stands in: names and literals stay as written.
    let out = ok("SELECT 'struct(' AS `struct`, named_struct('a', 1) FROM people");
    assert!(
        out.starts_with("SELECT 'struct(' AS `struct`, named_struct('a', 1) FROM "),
        "{out}"
    );
    assert!(crate::check_expression("to_json(struct(*))").is_ok());
    assert!(crate::check_expression("struct((SELECT max(ssn) FROM people))").is_err());
}

/// Every mask that applies to a Spark type, with the odd parameters (quote and backslash pads,
/// buckets wider than the type).
fn every_mask() -> Vec<jitgate_masking::Mask> {
    use jitgate_masking::{Generalization, Mask};
    vec![
        Mask::Redact,
        Mask::Null,
        Mask::Partial {
            keep_first: 1,
            keep_last: 2,
            pad: '*',
        },
        Mask::Partial {
            keep_first: 0,
            keep_last: 0,
            pad: '\'',
        },
        Mask::Partial {
            keep_first: 3,
            keep_last: 0,
            pad: '\\',
        },
        Mask::Email,
        Mask::Hash,
        Mask::Tokenize,
        Mask::Scan,
        Mask::Generalize(Generalization::Month),
        Mask::Generalize(Generalization::Year),
        Mask::Generalize(Generalization::Bucket(10)),
        Mask::Generalize(Generalization::Bucket(u64::MAX)),
    ]
}

fn every_spark_type() -> Vec<SparkType> {
    use SparkType::*;
    vec![
        String,
        TinyInt,
        SmallInt,
        Int,
        BigInt,
        Decimal {
            precision: 10,
            scale: 2,
        },
        Decimal {
            precision: 38,
            scale: 0,
        },
        Float,
        Double,
        Date,
        Timestamp,
        Boolean,
        Binary,
    ]
}

/// A masked view with one rule: `default.every.c` masked with `mask`.
fn view_masking(mask: jitgate_masking::Mask) -> jitgate_masking::MaskedView {
    use jitgate_masking::{
        ColumnPattern, Glob, MaskKey, MaskingPolicy, MaskingRule, PolicySettings, SubjectView,
    };
    let policy = MaskingPolicy::from_config(PolicySettings {
        key: MaskKey::new(&[7u8; 32], "test").expect("key"),
        clear_groups: Vec::new(),
        rules: vec![MaskingRule {
            resource: Glob::new("*").expect("glob"),
            column: ColumnPattern::parse("default.every.c").expect("pattern"),
            mask,
            clear_for: Vec::new(),
        }],
        custom_detectors: Vec::new(),
        stream_detectors: None,
    })
    .expect("policy");
    match policy.view_for("spark", "ann", &[]) {
        SubjectView::Masked(v) => v,
        SubjectView::Clear => panic!("expected a masked view"),
    }
}

/// The Spark SQL form of every mask, on every type it applies to, is read by the rewrite's
/// parser and verified: a policy using any mask leaves `spark.sql` over its table usable (a
/// masking subquery that does not parse refuses every statement reading the table).
#[test]
fn every_masks_spark_form_survives_the_rewrite() {
    let mut checked = 0;
    for mask in every_mask() {
        let v = view_masking(mask.clone());
        let table = resolve(&parse_identifier("every").expect("name"), &ns()).expect("resolves");
        for ty in every_spark_type() {
            if !mask.applies_to_spark(&ty) {
                continue;
            }
            let columns = vec![col("id", "int"), col("c", &ty.to_string())];
            for sql in [
                "SELECT * FROM every",
                "SELECT c, count(*) FROM every e WHERE c IS NOT NULL GROUP BY c ORDER BY 1",
                "CREATE TEMPORARY VIEW ev AS SELECT to_json(struct(*)) FROM every",
            ] {
                let analysed = analyse(sql, &ns(), &v).expect("analysed");
                let schemas = HashMap::from([(table.clone(), columns.clone())]);
                let out = analysed
                    .rewrite(&schemas)
                    .unwrap_or_else(|e| panic!("{mask} on {ty}: {sql}: {e}"));
                assert!(out.contains("FROM `default`.`every`"), "{out}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked} mask × type pairs checked");
}

/// Clients send `USE <database>` on connecting (PyHive: ``USE `default` ``): the session's own
/// database is a no-op and passes; any other would move where unqualified names resolve.
#[test]
fn use_passes_only_for_the_fixed_namespace() {
    let view = view();
    for sql in [
        "USE `default`",
        "USE default_db_is_not_this",
        "USE DATABASE default",
        "USE spark_catalog.default",
    ] {
        let result = crate::analyse(sql, &ns(), &view);
        if sql.contains("not_this") {
            assert!(result.is_err(), "{sql}");
        } else {
            let a = result.unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert!(!a.needs_rewrite(), "{sql}");
        }
    }
    for sql in [
        "USE hr",
        "USE other.default",
        "USE CATALOG x",
        "USE ROLE admin",
    ] {
        assert!(crate::analyse(sql, &ns(), &view).is_err(), "{sql}");
    }
}

/// Spark substitutes `${…}` variable references before it parses a statement or an expression
/// (string literals included): every text with one is refused, whatever else it holds.
#[test]
fn variable_references_are_refused_in_statements_and_expressions() {
    for sql in [
        "SELECT '${spark.sql.adaptive.x}' FROM orders",
        "SELECT '${env:HOME}'",
        "SELECT id FROM orders WHERE note = '${hivevar:v}'",
        "SELECT ${x} FROM orders",
        "SET spark.sql.adaptive.x = ${y}",
        "-- ${x}\nSELECT 1",
    ] {
        assert!(refused(sql).contains("${"), "{sql}");
    }
    for expr in [
        "'${spark.sql.adaptive.x}'",
        "concat(id, '${system:user.name}')",
    ] {
        assert!(crate::check_expression(expr).is_err(), "{expr}");
    }
    assert_eq!(
        ok("SELECT '$ {x}', '{x}$' FROM orders"),
        "SELECT '$ {x}', '{x}$' FROM orders"
    );
}
