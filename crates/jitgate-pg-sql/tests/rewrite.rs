//! The mask-before-evaluate rewrite over a hand-built catalog: every construct reads protected
//! relations only through masking subqueries, and every fail-closed case is refused.

mod fixture;

use fixture::{catalog, TestMasks};
use jitgate_pg_sql::{rewrite, Catalog, Protocol, Refusal, Rewritten, SearchPath};
use serde_json::Value;

const PROTECTED: &[&str] = &["customers", "customers_2024", "Customers Archive"];
const MASKED_COLUMNS: &[&str] = &["ssn", "email", "birth_date", "SSN"];

fn path() -> SearchPath {
    SearchPath::default_for("analyst")
}

fn rw_with(sql: &str, masks: &TestMasks, path: &SearchPath) -> Result<Rewritten, Refusal> {
    rewrite(sql, &catalog(), path, masks, Protocol::Extended)
}

fn rw(sql: &str) -> Result<Rewritten, Refusal> {
    rw_with(sql, &TestMasks::new(), &path())
}

/// Rewrites, checks the output parses, and that no protected relation is read outside a
/// masking subquery. Returns the rewritten text.
fn masked(sql: &str) -> String {
    masked_with(sql, &TestMasks::new(), &path())
}

fn masked_with(sql: &str, masks: &TestMasks, path: &SearchPath) -> String {
    let out = match rw_with(sql, masks, path) {
        Ok(out) => out,
        Err(e) => panic!("{sql}\nrefused: {e}"),
    };
    assert!(out.changed, "{sql}: not rewritten");
    assert!(
        out.protected_touched,
        "{sql}: protected relation not noticed"
    );
    let leaks = unmasked_references(&out.sql);
    assert!(
        leaks.is_empty(),
        "{sql}\n→ {}\nunmasked: {leaks:?}",
        out.sql
    );
    out.sql
}

fn refused(sql: &str) -> Refusal {
    refused_with(sql, &TestMasks::new())
}

fn refused_with(sql: &str, masks: &TestMasks) -> Refusal {
    match rw_with(sql, masks, &path()) {
        Ok(out) => panic!("{sql}\nnot refused: {}", out.sql),
        Err(e) => {
            assert_eq!(e.sqlstate, "42501", "{sql}: {e}");
            e
        }
    }
}

/// References to protected relations that are not the base of a masking subquery.
fn unmasked_references(sql: &str) -> Vec<String> {
    let parsed = pg_query::parse(sql, 0).unwrap_or_else(|e| panic!("{sql}\ndoes not parse: {e}"));
    let tree = serde_json::to_value(&parsed.protobuf).expect("trees serialise");
    let mut found = Vec::new();
    walk(&tree, &mut found);
    found
}

/// Statements whose `relation` is written or created, not read.
const WRITES: &[&str] = &[
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "CreateStmt",
];

fn walk(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(select) = map.get("SelectStmt") {
                if is_masking_select(select) {
                    return;
                }
            }
            for write in WRITES {
                if let Some(Value::Object(stmt)) = map.get(*write) {
                    stmt.iter()
                        .filter(|(k, _)| k.as_str() != "relation")
                        .for_each(|(_, v)| walk(v, found));
                    return;
                }
            }
            let range_var = map.get("RangeVar").or_else(|| {
                (map.contains_key("relname") && map.contains_key("relpersistence")).then_some(v)
            });
            if let Some(rv) = range_var {
                let name = rv["relname"].as_str().unwrap_or("");
                let schema = rv["schemaname"].as_str().unwrap_or("");
                if PROTECTED.contains(&name) && (schema.is_empty() || schema == "public") {
                    found.push(format!("{schema}.{name}"));
                }
            }
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

/// `SELECT <mask> AS ssn, … FROM [ONLY] public.customers [TABLESAMPLE …]`
fn is_masking_select(select: &Value) -> bool {
    let from = select["from_clause"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let [item] = from else { return false };
    let node = &item["node"];
    let rv = node
        .get("RangeVar")
        .or_else(|| node.pointer("/RangeTableSample/relation/node/RangeVar"));
    let Some(rv) = rv else { return false };
    if !PROTECTED.contains(&rv["relname"].as_str().unwrap_or("")) {
        return false;
    }
    let targets = select["target_list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    targets.iter().any(|t| {
        let t = &t["node"]["ResTarget"];
        MASKED_COLUMNS.contains(&t["name"].as_str().unwrap_or(""))
            && t["val"]["node"].get("ColumnRef").is_none()
    })
}

#[test]
fn plain_reads_are_masked() {
    for sql in [
        "SELECT * FROM customers",
        "SELECT ssn FROM public.customers WHERE ssn LIKE '123%'",
        "SELECT c.ssn, c.email FROM customers AS c ORDER BY c.ssn",
        "SELECT x.a, x.d FROM customers x(a, b, c, d)",
        "SELECT \"ssn\" FROM \"customers\"",
        "SELECT U&\"ss\\006e\" FROM U&\"custom\\0065rs\"",
        "SELECT ssn || '', ssn::int, concat(ssn), length(ssn) FROM customers",
        "SELECT row_to_json(c), to_jsonb(c.*), c FROM customers c",
        "SELECT count(*) FROM customers WHERE ssn BETWEEN '100' AND '200'",
        "SELECT ssn, count(*) OVER (PARTITION BY ssn) FROM customers GROUP BY ssn \
         HAVING max(ssn) > '' ORDER BY ssn",
        "TABLE customers",
        "SELECT * FROM customers_2024",
        "SELECT \"SSN\" FROM \"Customers Archive\"",
        "SELECT * FROM customers WHERE ssn = $1",
    ] {
        masked(sql);
    }
}

#[test]
fn only_and_tablesample_stay_inside_the_masking_subquery() {
    let out = masked("SELECT * FROM ONLY customers");
    assert!(out.contains("FROM ONLY public.customers"), "{out}");
    let out = masked("SELECT * FROM customers TABLESAMPLE SYSTEM (10) REPEATABLE (1)");
    assert!(
        out.contains("FROM public.customers TABLESAMPLE system(10) REPEATABLE (1)"),
        "{out}"
    );
}

#[test]
fn masking_subquery_keeps_name_order_and_alias() {
    let out = masked("SELECT c.* FROM customers c");
    assert!(
        out.contains("AS email") && out.contains("AS ssn") && out.contains("birth_date"),
        "{out}"
    );
    let order: Vec<usize> = ["id", "full_name", "AS email", "AS ssn", "AS birth_date"]
        .iter()
        .map(|c| out.find(c).unwrap_or(usize::MAX))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "columns out of order: {out}"
    );
    assert!(out.ends_with(") c"), "{out}");
}

#[test]
fn queries_inside_queries_are_masked() {
    for sql in [
        "WITH x AS (SELECT * FROM customers) SELECT * FROM x",
        "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL \
         SELECT n + 1, s FROM r WHERE n < 3) SELECT * FROM r",
        "SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE ssn = '1')",
        "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM customers c \
         WHERE c.id = o.customer_id AND c.ssn LIKE '1%')",
        "SELECT (SELECT max(ssn) FROM customers), ARRAY(SELECT email FROM customers)",
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM customers) THEN 1 END, \
         coalesce((SELECT ssn FROM customers LIMIT 1), '')",
        "SELECT o.id, x.ssn FROM orders o, LATERAL (SELECT ssn FROM customers c \
         WHERE c.id = o.customer_id) x",
        "SELECT * FROM orders o LEFT JOIN LATERAL (SELECT * FROM customers c \
         WHERE c.id = o.customer_id) x ON true",
        "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id",
        "SELECT * FROM orders o JOIN (customers c JOIN customers d USING (id)) ON c.id = o.id",
        "SELECT ssn FROM customers UNION SELECT email FROM customers",
        "SELECT ssn FROM customers INTERSECT SELECT ssn FROM customers",
        "SELECT id FROM orders EXCEPT SELECT id FROM customers WHERE ssn > '5'",
        "(SELECT ssn FROM customers ORDER BY ssn LIMIT 1) UNION ALL (TABLE customers_2024 LIMIT 0)",
        "SELECT * FROM (SELECT * FROM (SELECT ssn FROM customers) a) b",
        "SELECT JSON_ARRAY(SELECT ssn FROM customers)",
        "SELECT json_object('k': (SELECT max(ssn) FROM customers))",
        "SELECT * FROM orders WHERE total > ALL (SELECT length(ssn) FROM customers)",
        "VALUES ((SELECT ssn FROM customers LIMIT 1))",
        "SELECT * FROM generate_series(1, (SELECT count(*) FROM customers WHERE ssn > '1'))",
    ] {
        masked(sql);
    }
}

#[test]
fn with_queries_follow_postgres_scoping() {
    // A WITH query named like the table hides it…
    let out = rw("WITH customers AS (SELECT 1 AS id) SELECT * FROM customers").expect("allowed");
    assert!(!out.changed, "{}", out.sql);
    // …but not from the WITH queries before it (plain WITH)…
    masked("WITH a AS (SELECT * FROM customers), customers AS (SELECT 1 AS x) SELECT * FROM a");
    // …which WITH RECURSIVE does.
    let out = rw(
        "WITH RECURSIVE a AS (SELECT * FROM customers), customers AS (SELECT 1 AS x) \
                  SELECT * FROM a",
    )
    .expect("allowed");
    assert!(!out.changed, "{}", out.sql);
    // A WITH query inside a subquery hides nothing outside it.
    let out =
        rw("SELECT * FROM (WITH customers AS (SELECT 1) SELECT * FROM customers) x, customers")
            .expect("allowed");
    assert!(
        out.sql.starts_with(
            "SELECT * FROM (WITH customers AS (SELECT 1) SELECT * FROM customers) x, (SELECT"
        ),
        "{}",
        out.sql
    );
    assert!(
        out.sql.ends_with("FROM public.customers) customers"),
        "{}",
        out.sql
    );
    // A qualified name is never a WITH query.
    masked("WITH customers AS (SELECT 1) SELECT * FROM public.customers");
}

#[test]
fn views_over_protected_tables_are_inlined() {
    let out = masked("SELECT * FROM customer_contacts WHERE email LIKE 'a%'");
    assert!(
        out.contains("customer_contacts(id, full_name, email, ssn)"),
        "{out}"
    );
    // security_barrier keeps its filter below the subject's quals.
    let out = masked("SELECT * FROM vip v WHERE v.ssn LIKE '1%'");
    assert!(out.contains("OFFSET 0"), "{out}");
    // Views over clear tables are inlined too, so that a view replaced elsewhere is read as the
    // snapshot defines it; nothing protected is touched.
    let out = rw("SELECT * FROM order_totals").expect("allowed");
    assert!(out.changed && !out.protected_touched);
    assert!(!out.sql.contains("FROM order_totals"), "{}", out.sql);
}

#[test]
fn statements_that_carry_queries_are_masked() {
    for sql in [
        "COPY customers TO STDOUT",
        "COPY customers (id, ssn) TO STDOUT WITH (FORMAT csv, HEADER)",
        "COPY public.customers TO STDOUT (FORMAT binary)",
        "COPY (SELECT ssn FROM customers WHERE ssn LIKE '1%') TO STDOUT",
        "COPY customer_contacts TO STDOUT",
        "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM customers",
        "DECLARE c SCROLL CURSOR FOR SELECT ssn FROM customers ORDER BY ssn",
        "PREPARE p(text) AS SELECT * FROM customers WHERE ssn = $1",
        "INSERT INTO orders (id, customer_id, total) SELECT id, id, 0 FROM customers WHERE ssn LIKE '1%'",
        "INSERT INTO orders SELECT id, id, length(ssn) FROM customers RETURNING *",
        "UPDATE orders SET total = 0 FROM customers c WHERE c.id = orders.customer_id \
         AND c.ssn LIKE '1%' RETURNING c.ssn",
        "UPDATE orders SET total = (SELECT length(ssn) FROM customers WHERE id = 1)",
        "DELETE FROM orders USING customers c WHERE c.id = orders.customer_id RETURNING c.email",
        "DELETE FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE ssn LIKE '9%')",
        "MERGE INTO orders o USING customers c ON o.customer_id = c.id \
         WHEN MATCHED AND c.ssn LIKE '1%' THEN UPDATE SET total = 0",
        "WITH d AS (DELETE FROM orders WHERE customer_id IN (SELECT id FROM customers \
         WHERE ssn = '1') RETURNING *) SELECT * FROM d",
        "CREATE TABLE loot AS SELECT * FROM customers",
        "CREATE TEMP TABLE loot AS SELECT ssn FROM customers",
        "SELECT * INTO loot FROM customers",
    ] {
        masked(sql);
    }
}

#[test]
fn copy_of_a_table_becomes_copy_of_a_query() {
    let out = masked("COPY customers (id, ssn) TO STDOUT WITH (FORMAT csv)");
    assert!(
        out.starts_with("COPY (SELECT id, ssn FROM (SELECT"),
        "{out}"
    );
    assert!(
        out.contains("FROM ONLY public.customers"),
        "COPY t reads t alone: {out}"
    );
}

#[test]
fn every_statement_of_a_batch_is_rewritten() {
    let out = rw("SELECT 1; SELECT * FROM customers; SELECT ssn FROM customers").expect("allowed");
    assert_eq!(out.statements, 3);
    assert!(unmasked_references(&out.sql).is_empty(), "{}", out.sql);
    assert_eq!(
        out.sql.matches("FROM public.customers").count(),
        2,
        "{}",
        out.sql
    );
}

#[test]
fn clear_statements_are_passed_as_written() {
    for sql in [
        "SELECT * FROM orders /* keep me */",
        "SELECT id, full_name FROM other.customers",
        "SELECT relname FROM pg_class",
        "EXPLAIN ANALYZE SELECT * FROM orders",
        "UPDATE orders SET total = 1 WHERE id = 2",
        "BEGIN; FETCH 10 FROM c; COMMIT",
        "EXECUTE p('123-45-6789')",
        "SET search_path TO other, public",
        "LISTEN x",
        "LOCK TABLE customers IN ACCESS SHARE MODE",
        "ANALYZE customers",
        "CREATE TABLE scratch (a int)",
        "CREATE INDEX ON orders (total)",
        "WITH customers AS (SELECT 1) SELECT * FROM customers",
    ] {
        let out = rw(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!out.changed, "{sql} → {}", out.sql);
        assert_eq!(out.sql, sql);
    }
}

#[test]
fn search_path_decides_unqualified_names_and_the_result_is_pinned() {
    // other.customers comes first: it is read, pinned to its schema so the upstream cannot
    // pick public.customers instead whatever its search_path.
    let other_first = SearchPath::parse("other, public", "analyst");
    let out = rw_with("SELECT * FROM customers", &TestMasks::new(), &other_first).expect("ok");
    assert!(out.changed && !out.protected_touched, "{}", out.sql);
    assert_eq!(out.sql, "SELECT * FROM other.customers");
    // The default path finds public.customers: masked and pinned.
    let out = masked("SELECT * FROM customers");
    assert!(out.contains("FROM public.customers"), "{out}");
    // A path that finds nothing, while a protected namesake exists: refused.
    let nowhere = SearchPath::parse("nowhere", "analyst");
    let e = rw_with("SELECT * FROM customers", &TestMasks::new(), &nowhere).expect_err("refused");
    assert!(e.message.contains("schema-qualify"), "{e}");
    // A temp table cannot shadow the protected one: the name is pinned to public.
    let out = masked("CREATE TEMP TABLE customers (ssn text); SELECT * FROM customers");
    assert!(out.contains("FROM public.customers"), "{out}");
    // pg_temp.customers is the subject's own table: left alone.
    let out = rw("SELECT * FROM pg_temp.customers").expect("allowed");
    assert!(!out.changed);
}

#[test]
fn fail_closed_cases_are_refused() {
    for sql in [
        // Code the rewriter cannot see into.
        "DO $$BEGIN PERFORM ssn FROM customers; END$$",
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM customers'",
        "CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'",
        "CALL p()",
        "SELECT leak_ssn(1)",
        "SELECT public.leak_ssn(1)",
        "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        "CREATE RULE r AS ON SELECT TO orders DO INSTEAD SELECT * FROM customers",
        "CREATE EXTENSION dblink",
        // Statistics and statement texts.
        "SELECT * FROM pg_stats WHERE tablename = 'customers'",
        "SELECT * FROM pg_catalog.pg_statistic",
        "SELECT * FROM pg_stats_ext",
        "SELECT * FROM pg_stats_ext_exprs",
        "SELECT query FROM pg_stat_activity",
        "SELECT query FROM public.pg_stat_statements",
        "SELECT * FROM pg_prepared_statements",
        "SELECT pg_catalog.pg_stat_get_backend_activity(1)",
        "SELECT current_query()",
        "SELECT (SELECT count(*) FROM pg_stats)",
        // Functions that read data by name or by query text.
        "SELECT query_to_xml('select ssn from customers', true, true, '')",
        "SELECT table_to_xml('customers', true, true, '')",
        "SELECT * FROM ts_stat('select to_tsvector(ssn) from customers')",
        "SELECT cursor_to_xml('c', 10, true, true, '')",
        "SELECT * FROM dblink('dbname=app', 'select ssn from customers') AS t(ssn text)",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT * FROM crosstab('select id, ssn, email from customers') AS t(a int, b text)",
        "SELECT * FROM connectby('customers', 'id', 'ssn', '1', 0) AS t(a int, b int, c int)",
        // Large objects.
        "SELECT lo_get(42)",
        "SELECT * FROM pg_largeobject",
        // Plans.
        "EXPLAIN SELECT * FROM customers WHERE ssn = '1'",
        "EXPLAIN ANALYZE SELECT * FROM customers",
        "EXPLAIN (VERBOSE, COSTS off) SELECT ssn FROM customer_contacts",
        "EXPLAIN EXECUTE p('1')",
        // Roles.
        "SET ROLE admin",
        "SET SESSION AUTHORIZATION admin",
        "RESET ROLE",
        "SELECT set_config('role', 'admin', false)",
        "SELECT set_config(current_user, 'x', false)",
        "UPDATE pg_settings SET setting = 'admin' WHERE name = 'role'",
        // Elsewhere data.
        "SELECT * FROM remote_customers",
        // Definitions that would evaluate or store clear values.
        "CREATE VIEW v AS SELECT * FROM customers",
        "CREATE MATERIALIZED VIEW mv AS SELECT ssn FROM customers",
        "CREATE INDEX ON customers ((ssn::int))",
        "ALTER TABLE customers ADD CONSTRAINT c CHECK (ssn <> '')",
        "ALTER TABLE customers RENAME COLUMN ssn TO not_ssn",
        "ALTER SCHEMA public RENAME TO p2",
        "CREATE TABLE x (LIKE customers)",
        "CREATE TABLE child () INHERITS (customers)",
        "CREATE STATISTICS s ON ssn, email FROM customers",
        "COPY customers TO '/tmp/x'",
        "COPY (SELECT 1) TO PROGRAM 'cat'",
        "GRANT SELECT ON customers TO PUBLIC",
        // Writes to protected tables (default policy).
        "INSERT INTO customers (id, ssn) VALUES (99, '123-45-6789')",
        "UPDATE customers SET full_name = 'x' WHERE ssn LIKE '1%'",
        "DELETE FROM customers WHERE id = 1",
        "MERGE INTO customers c USING orders o ON c.id = o.customer_id WHEN MATCHED THEN DELETE",
        "COPY customers FROM STDIN",
        "TRUNCATE customers",
        "WITH d AS (DELETE FROM customers RETURNING ssn) SELECT * FROM d",
        // Views that call code.
        "SELECT * FROM leaky",
        // One refused statement refuses the batch.
        "SELECT 1; SELECT * FROM pg_stats",
    ] {
        refused(sql);
    }
}

#[test]
fn parse_errors_are_42601() {
    let e = rw("SELEC ssn FROM customers").expect_err("does not parse");
    assert_eq!(e.sqlstate, "42601");
}

#[test]
fn blind_writes_when_the_policy_allows_them() {
    let masks = TestMasks::allowing_blind_writes();
    for sql in [
        "UPDATE customers SET full_name = 'x' WHERE id = 1",
        "UPDATE customers SET ssn = '000-00-0000' WHERE id = 1 RETURNING id",
        "DELETE FROM customers WHERE id = 1",
        "INSERT INTO customers (id, ssn) VALUES (99, '123-45-6789')",
        "COPY customers FROM STDIN",
        "TRUNCATE customers",
    ] {
        let out = rw_with(sql, &masks, &path()).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(out.protected_touched, "{sql}");
    }
    // The source of an INSERT … SELECT is masked all the same.
    masked_with(
        "INSERT INTO customers SELECT * FROM customers WHERE ssn LIKE '1%'",
        &masks,
        &path(),
    );
    for sql in [
        "UPDATE customers SET full_name = ssn",
        "UPDATE customers SET full_name = 'x' WHERE ssn LIKE '1%'",
        "UPDATE customers c SET full_name = row_to_json(c)::text",
        "UPDATE customers SET full_name = 'x' RETURNING *",
        "UPDATE customers SET full_name = 'x' WHERE id IN (SELECT 1 WHERE ssn > '')",
        "DELETE FROM customers c WHERE c.email LIKE '%@x.org'",
        "DELETE FROM customers c WHERE id = 1 RETURNING c",
        "INSERT INTO customers (id) VALUES (1) ON CONFLICT DO NOTHING",
        "INSERT INTO customers (id) VALUES (1) RETURNING ssn",
        "MERGE INTO customers c USING orders o ON c.id = o.customer_id WHEN MATCHED THEN DELETE",
        // `t.f` with f no column of t is f(t): the whole real row, however it is spelt.
        "UPDATE customers SET full_name = 'x' WHERE customers.to_jsonb->>'ssn' LIKE '1%'",
        "DELETE FROM customers c WHERE md5(c.row_to_json::text) = ''",
        "DELETE FROM customers WHERE public.customers.record_send IS NOT NULL",
        "UPDATE customers c SET full_name = c.concat",
        "DELETE FROM customers WHERE id = 1 RETURNING customers.to_jsonb",
    ] {
        refused_with(sql, &masks);
    }
}

#[test]
fn masks_that_cannot_be_applied_refuse_reads() {
    let mut masks = TestMasks::new();
    masks.unavailable.push("ssn");
    let e = refused_with("SELECT id FROM customers", &masks);
    assert!(e.message.contains("no mask key"), "{e}");
    assert!(rw_with("SELECT * FROM orders", &masks, &path()).is_ok());
}

#[test]
fn relations_the_snapshot_lacks_but_the_policy_names_are_refused() {
    let mut masks = TestMasks::new();
    masks.missing.push("new_customers");
    let e = refused_with("SELECT * FROM new_customers", &masks);
    assert!(e.message.contains("snapshot"), "{e}");
    refused_with("SELECT * FROM public.new_customers", &masks);
    refused_with(
        "LOCK TABLE x IN ACCESS SHARE MODE; SELECT * FROM new_customers",
        &masks,
    );
}

/// A view created directly on the database since the snapshot could read protected data under
/// any name: a qualified name the snapshot lacks is refused, unless an earlier statement of the
/// text creates it or it names the session's own temporary schema.
#[test]
fn qualified_relations_the_snapshot_lacks_are_refused_unless_the_text_creates_them() {
    let masks = TestMasks::new();
    let e = refused_with("SELECT * FROM public.fresh_report", &masks);
    assert!(e.message.contains("snapshot"), "{e}");
    refused_with("INSERT INTO public.fresh_report VALUES (1)", &masks);
    refused_with("SELECT 1 WHERE EXISTS (SELECT FROM reports.fresh)", &masks);
    for sql in [
        "CREATE TABLE public.scratch (x int); INSERT INTO public.scratch VALUES (1); \
         SELECT * FROM public.scratch",
        "CREATE TABLE public.scratch AS SELECT id FROM orders; SELECT * FROM public.scratch",
        "SELECT id INTO public.scratch FROM orders; SELECT * FROM public.scratch",
        "CREATE VIEW public.scratch AS SELECT id FROM orders; SELECT * FROM public.scratch",
        "SELECT * FROM pg_temp.scratch",
    ] {
        assert!(rw_with(sql, &masks, &path()).is_ok(), "{sql}");
    }
}

#[test]
fn unknown_functions_are_refused_when_the_catalog_lists_all() {
    let full = Catalog::new(1, catalog().relations().to_vec(), vec![], true);
    let masks = TestMasks::new();
    let out = rewrite(
        "SELECT made_up(1)",
        &full,
        &path(),
        &masks,
        Protocol::Extended,
    );
    assert!(out.is_err());
    let out = rewrite(
        "SELECT pg_catalog.lower('A')",
        &full,
        &path(),
        &masks,
        Protocol::Extended,
    );
    assert!(out.is_ok(), "{out:?}");
}

#[test]
fn backslashes_never_pass_through_as_written() {
    // One literal with standard_conforming_strings on; a subquery on customers with it off.
    let sneaky = "SELECT 'a\\'' , (SELECT ssn FROM customers) --'";
    let out = rw(sneaky).expect("a literal is harmless");
    assert!(out.changed, "{}", out.sql);
    let off = pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS;
    let reread = pg_query::parse(&out.sql, off).expect("the printed text parses either way");
    assert!(reread.tables().is_empty(), "{}", out.sql);
}

#[test]
fn reports_catalog_changes_and_search_path() {
    use jitgate_pg_sql::SearchPathChange;
    let out = rw("CREATE TABLE scratch (a int); SELECT 1").expect("allowed");
    assert!(out.changes_catalog);
    assert!(!rw("SELECT * FROM orders").expect("allowed").changes_catalog);
    let out = rw("SET search_path TO other, \"$user\", \"Mixed\"").expect("allowed");
    let Some(SearchPathChange::Set(value)) = out.search_path_change else {
        panic!("{:?}", out.search_path_change)
    };
    let parsed = SearchPath::parse(&value, "analyst");
    assert_eq!(parsed.entries(), ["other", "$user", "Mixed"]);
    let out = rw("RESET search_path").expect("allowed");
    assert_eq!(out.search_path_change, Some(SearchPathChange::Reset));
    assert_eq!(
        rw("SET LOCAL search_path TO x")
            .expect("allowed")
            .search_path_change,
        None
    );
}

/// Rewrites `sql` as a simple query for a subject whose ssn and email masks are exact in the
/// result stream.
fn simple(sql: &str) -> Rewritten {
    let masks = TestMasks::exact_in_results(&["ssn", "email"]);
    rewrite(sql, &catalog(), &path(), &masks, Protocol::SimpleQuery)
        .unwrap_or_else(|e| panic!("{sql}\nrefused: {e}"))
}

#[test]
fn columns_only_returned_are_left_to_the_result_stream_in_both_protocols() {
    let out = simple("SELECT * FROM customers WHERE id < 10");
    assert_eq!(
        out.masked_in_results,
        ["public.customers.email", "public.customers.ssn"]
    );
    // Read clear in the subquery, for the stream to mask; birth_date's mask stays in SQL.
    assert!(!out.sql.contains("***-**-****"), "{}", out.sql);
    assert!(out.sql.contains("birth_date"), "{}", out.sql);

    // The same text as a Parse message: the same answer (the front reads the rows of every
    // Execute with its own portal's description).
    let masks = TestMasks::exact_in_results(&["ssn", "email"]);
    let extended = rewrite(
        "SELECT * FROM customers WHERE id < 10",
        &catalog(),
        &path(),
        &masks,
        Protocol::Extended,
    )
    .expect("rewritten");
    assert_eq!(extended, out);
}

#[test]
fn a_column_the_statement_evaluates_stays_masked_in_sql() {
    for sql in [
        "SELECT ssn FROM customers WHERE ssn LIKE '1%'",
        "SELECT ssn FROM customers ORDER BY ssn",
        "SELECT ssn AS x FROM customers ORDER BY x",
        "SELECT ssn || '' AS ssn FROM customers",
        "SELECT ssn FROM customers WHERE id IN (SELECT id FROM customers WHERE ssn > '5')",
    ] {
        let out = simple(sql);
        assert!(
            !out.masked_in_results
                .contains(&"public.customers.ssn".to_string()),
            "{sql}: {:?}",
            out.masked_in_results
        );
        assert!(out.sql.contains("***-**-****"), "{sql}\n→ {}", out.sql);
    }
    // Whole rows, joins, set operations, DISTINCT: every mask in SQL.
    for sql in [
        "SELECT row_to_json(c) FROM customers c",
        "SELECT c FROM customers c",
        "SELECT DISTINCT ssn FROM customers",
        "SELECT ssn FROM customers UNION ALL SELECT ssn FROM customers",
        "SELECT c.ssn FROM customers c JOIN orders o ON o.customer_id = c.id",
        "SELECT ssn FROM customers ORDER BY 1",
        "DECLARE k CURSOR FOR SELECT ssn FROM customers",
        "COPY (SELECT ssn FROM customers) TO STDOUT",
        "CREATE TEMP TABLE x AS SELECT ssn FROM customers",
    ] {
        let masks = TestMasks::exact_in_results(&["ssn", "email"]);
        if let Ok(out) = rewrite(sql, &catalog(), &path(), &masks, Protocol::SimpleQuery) {
            assert!(out.masked_in_results.is_empty(), "{sql}");
            assert!(out.sql.contains("***-**-****"), "{sql}\n→ {}", out.sql);
        }
    }
}

#[test]
fn views_and_inherited_masks_stay_masked_in_sql() {
    // A view's columns and a partition's inherited masks are not known to the result stream
    // by their own table and column.
    for sql in [
        "SELECT * FROM customer_contacts",
        "SELECT * FROM customers_2024",
    ] {
        let out = simple(sql);
        assert!(
            out.masked_in_results.is_empty(),
            "{sql}: {:?}",
            out.masked_in_results
        );
    }
}

#[test]
fn the_client_encoding_stays_utf8() {
    for sql in [
        "SET client_encoding = 'LATIN1'",
        "SET NAMES 'SQL_ASCII'",
        "SET client_encoding TO win1252",
        "SELECT set_config('client_encoding', 'LATIN1', false)",
    ] {
        refused(sql);
    }
    for sql in [
        "SET client_encoding = 'UTF8'",
        "SET NAMES 'utf-8'",
        "RESET client_encoding",
    ] {
        assert!(rw(sql).is_ok(), "{sql}");
    }
}

/// Attribute notation on a row (`t.f` is `f(t)` when t has no column f) reads the whole row: a
/// simple query that uses it is not one whose columns are "only returned", whatever the name,
/// the qualification or the place, so every mask stays in SQL.
#[test]
fn whole_rows_through_attribute_notation_keep_every_mask_in_sql() {
    for sql in [
        "SELECT customers.row_to_json FROM customers",
        "SELECT customers.to_jsonb FROM customers",
        "SELECT customers.record_send FROM customers",
        "SELECT customers.concat FROM customers",
        "SELECT c.to_jsonb->>'ssn' FROM customers c",
        "SELECT public.customers.record_send FROM customers",
        "SELECT public.customers.row_to_json FROM public.customers",
        "SELECT \"customers\".\"to_jsonb\" FROM customers",
        "SELECT x.to_json AS ssn FROM customers AS x",
        "SELECT ssn FROM customers WHERE customers.to_jsonb->>'ssn' LIKE '1%'",
        "SELECT ssn FROM customers c WHERE c.to_jsonb::text LIKE '%123-45%'",
        "SELECT ssn FROM customers ORDER BY customers.to_jsonb->>'ssn'",
        "SELECT ssn FROM customers c ORDER BY c.row_to_json::text",
        "SELECT ssn, md5(customers.to_jsonb::text) FROM customers",
        "SELECT ssn, length(c.row_to_json::text) FROM customers c",
        "SELECT ssn, translate(c.concat, '0123456789', 'abcdefghij') FROM customers c",
        "SELECT ssn FROM customers c WHERE 1 / (CASE WHEN c.to_jsonb->>'ssn' LIKE '1%' THEN 0 ELSE 1 END) = 1",
        "SELECT ssn FROM customers WHERE EXISTS (SELECT 1 FROM orders o WHERE customers.to_jsonb IS NOT NULL)",
        "SELECT ssn, (customers).to_jsonb FROM customers",
        "SELECT ssn, pg_notify('x', customers.to_jsonb::text) FROM customers",
    ] {
        let out = simple(sql);
        assert!(
            out.masked_in_results.is_empty(),
            "{sql}: {:?}",
            out.masked_in_results
        );
        assert!(out.sql.contains("***-**-****"), "{sql}\n→ {}", out.sql);
    }
    // Real columns, however qualified, are still left to the stream.
    for sql in [
        "SELECT public.customers.ssn FROM customers",
        "SELECT c.ssn, c.\"email\" FROM public.customers c WHERE c.id < 3",
    ] {
        let out = simple(sql);
        assert!(
            out.masked_in_results
                .contains(&"public.customers.ssn".to_string()),
            "{sql}: {:?}",
            out.masked_in_results
        );
    }
}

/// Settings that make the server echo statements (the rewritten text, with its mask keys) or
/// send LOG/DEBUG messages are refused; harmless ones pass.
#[test]
fn only_settings_that_cannot_echo_statements_may_change() {
    for sql in [
        "SET client_min_messages = log",
        "SET client_min_messages TO debug1",
        "SET debug_print_parse = on",
        "SET LOCAL debug_print_plan = on",
        "SET SESSION debug_print_rewritten TO true",
        "SET debug_pretty_print = on",
        "SET log_statement = 'all'",
        "SET log_min_duration_statement = 0",
        "SET auto_explain.log_min_duration = 0",
        "SET trace_sort = on",
        "SET \"DEBUG_PRINT_PARSE\" = on",
        "RESET debug_print_parse",
        "SET debug_print_parse FROM CURRENT",
        "SELECT set_config('debug_print_parse', 'on', false)",
        "SELECT pg_catalog.set_config('Client_Min_Messages', 'log', false)",
        "SELECT set_config('client_min_messages', current_setting('x'), false)",
        "SELECT set_config(setting_name => 'debug_print_parse', new_value => 'on', is_local => false)",
        "SELECT set_config(name, 'on', false) FROM (VALUES ('debug_print_parse')) v(name)",
        "SELECT 1; SET client_min_messages = debug5; SELECT 2",
        "ALTER ROLE CURRENT_USER SET debug_print_parse = on",
        "ALTER DATABASE app SET client_min_messages = log",
        "ALTER SYSTEM SET log_statement = 'all'",
        "UPDATE pg_settings SET setting = 'on' WHERE name = 'debug_print_parse'",
    ] {
        refused(sql);
    }
    for sql in [
        "SET client_min_messages = warning",
        "SET client_min_messages TO 'NOTICE'",
        "RESET client_min_messages",
        "SET search_path TO public",
        "SET TIME ZONE 'UTC'",
        "SET DateStyle = 'ISO, MDY'",
        "SET extra_float_digits = 3",
        "SET application_name = 'dbeaver'",
        "SET LOCAL statement_timeout = '5s'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "RESET ALL",
        "SELECT set_config('bytea_output', 'hex', false)",
        "SELECT set_config('client_min_messages', 'error', true)",
    ] {
        assert!(rw(sql).is_ok(), "{sql}: {:?}", rw(sql));
    }
}

/// Functions are known by their implementation: a wrapper of dblink_exec or query_to_xml under
/// a harmless name is refused like the original; so is reaching other sessions.
#[test]
fn functions_are_refused_by_what_they_run_not_their_name() {
    for sql in [
        "SELECT innocent('dbname=app', 'SELECT ssn FROM customers')",
        "SELECT public.innocent('dbname=app', 'SELECT 1')",
        "SELECT also_innocent('SELECT ssn FROM customers', true, false, '')",
        "SELECT id FROM customers WHERE also_innocent('SELECT 1', true, false, '') IS NOT NULL",
        "SELECT pg_cancel_backend(1234)",
        "SELECT pg_catalog.pg_terminate_backend(1234)",
        "SELECT pg_stat_get_backend_pid(s) FROM pg_stat_get_backend_idset() s",
        "SELECT pg_blocking_pids(1)",
        "SELECT * FROM pg_locks",
        "SELECT ts_rewrite('a'::tsquery, 'SELECT ssn::tsquery, ''x''::tsquery FROM customers')",
    ] {
        refused(sql);
    }
}

/// A value split across rows passes a per-value content mask piece by piece: aggregates that
/// join rows may not read a column masked by content, however the column is named or renamed
/// on the way.
#[test]
fn concatenating_aggregates_over_content_masked_columns_are_refused() {
    let mut masks = TestMasks::new();
    masks.by_content = vec!["ssn"];
    for sql in [
        "SELECT string_agg(ssn, '') FROM customers",
        "SELECT pg_catalog.string_agg(c.ssn, '' ORDER BY id) FROM customers c",
        "SELECT array_agg(ssn) FROM customers",
        "SELECT array_to_string(array_agg(ssn), '') FROM customers GROUP BY full_name",
        "SELECT json_agg(c) FROM customers c",
        "SELECT jsonb_agg(c.*) FROM customers c",
        "SELECT json_object_agg(id, ssn) FROM customers",
        "SELECT xmlagg(xmlelement(name x, ssn)) FROM customers",
        "SELECT string_agg(ssn, '') OVER (ORDER BY id) FROM customers",
        "SELECT string_agg(c.to_jsonb::text, '') FROM customers c",
        "SELECT string_agg(x, '') FROM (SELECT ssn AS x FROM customers) s",
        "SELECT string_agg(full_name, '') FROM (SELECT ssn AS full_name FROM customers) s",
        "WITH w AS (SELECT ssn AS x FROM customers) SELECT string_agg(x, '') FROM w",
        "SELECT string_agg((SELECT ssn FROM customers LIMIT 1), '') FROM orders",
        "SELECT JSON_ARRAYAGG(ssn) FROM customers",
        "SELECT JSON_OBJECTAGG(full_name VALUE ssn) FROM customers",
        "SELECT string_agg(ssn, '') FROM customer_contacts",
        "SELECT string_agg(x, '') FROM customer_contacts AS v(a, b, c, x)",
    ] {
        refused_with(sql, &masks);
    }
    for sql in [
        "SELECT string_agg(full_name, ', ') FROM customers",
        "SELECT count(ssn), max(ssn) FROM customers",
        "SELECT string_agg(o.total::text, ',') FROM orders o",
    ] {
        assert!(rw_with(sql, &masks, &path()).is_ok(), "{sql}");
    }
    // Without a content mask, aggregates over masked values are masked values.
    assert!(rw("SELECT string_agg(ssn, '') FROM customers").is_ok());
}
