//! Red team against a real PostgreSQL 15: the catalog is loaded with `Catalog::LOAD_QUERIES`,
//! statements a curious subject would try are rewritten and run, and no clear value — nor a
//! fact derived from one — may reach the client: not in rows, COPY data (text, csv, binary),
//! error messages, row counts or ordering.

mod fixture;

use fixture::{TestMasks, MASKED_SSN};
use futures_util::{pin_mut, TryStreamExt};
use jitgate_pg_sql::{rewrite, Catalog, CatalogRows, Protocol, Row, SearchPath};
use jitgate_pgcluster::{ClusterOptions, PgCluster};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const SETUP: &str = "
CREATE SCHEMA other;
CREATE TABLE customers (id int PRIMARY KEY, full_name text, email text, ssn text, birth_date date);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.org', '123-45-6789', '1985-12-10'),
  (2, 'Alan Turing', 'alan@example.org', '987-65-4321', '1972-06-23'),
  (3, 'Grace Hopper', 'grace@example.org', '555-12-3456', '1990-12-09'),
  (4, 'Edsger Dijkstra', 'edsger@example.org', '234-56-7890', '1960-05-11');
CREATE TABLE customers_2024 () INHERITS (customers);
INSERT INTO customers_2024 VALUES (5, 'Barbara Liskov', 'barbara@example.org', '345-67-8901', '1939-11-07');
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
INSERT INTO orders VALUES (10, 1, 100), (11, 2, 50), (12, 3, 75), (13, 4, 20);
CREATE TABLE other.customers (id int, ssn text);
INSERT INTO other.customers VALUES (1, 'other-ssn-1');
CREATE VIEW customer_contacts AS SELECT id, full_name, email, ssn FROM customers;
CREATE VIEW vip WITH (security_barrier) AS SELECT id, ssn FROM customers WHERE id < 3;
CREATE TABLE scratch (v text);
ANALYZE;
";

/// Every clear value of a masked column, as it could appear in any output.
const CLEAR: &[&str] = &[
    "123-45-6789",
    "987-65-4321",
    "555-12-3456",
    "234-56-7890",
    "345-67-8901",
    "123456789",
    "ada@example.org",
    "alan@example.org",
    "grace@example.org",
    "edsger@example.org",
    "barbara@example.org",
    "1985-12-10",
    "1972-06-23",
    "1990-12-09",
    "1960-05-11",
    "1939-11-07",
];

/// Whatever a statement sent back: row values and error texts.
#[derive(Debug, Default)]
struct Output {
    rows: Vec<Vec<Option<String>>>,
    error: Option<String>,
}

impl Output {
    fn text(&self) -> String {
        let mut s = format!("{:?}", self.rows);
        if let Some(e) = &self.error {
            s.push_str(e);
        }
        s
    }

    fn first_column(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|r| r.first().cloned().flatten().unwrap_or_default())
            .collect()
    }
}

fn assert_no_clear(what: &str, text: &str) {
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what}\nleaked {clear}: {text}");
    }
}

/// A session of a subject with masked columns: every statement goes through the rewrite.
struct MaskedSession {
    client: Client,
    catalog: Catalog,
    path: SearchPath,
    masks: TestMasks,
}

impl MaskedSession {
    fn rewritten(&self, sql: &str) -> String {
        match rewrite(
            sql,
            &self.catalog,
            &self.path,
            &self.masks,
            Protocol::Extended,
        ) {
            Ok(r) => r.sql,
            Err(e) => panic!("{sql}\nrefused: {e}"),
        }
    }

    async fn run(&self, sql: &str) -> Output {
        let sql = self.rewritten(sql);
        let mut out = Output::default();
        match self.client.simple_query(&sql).await {
            Ok(messages) => {
                for m in messages {
                    if let SimpleQueryMessage::Row(row) = m {
                        out.rows.push(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        );
                    }
                }
            }
            Err(e) => out.error = Some(error_text(&e)),
        }
        assert_no_clear(&sql, &out.text());
        out
    }

    async fn copy_out(&self, sql: &str) -> Vec<u8> {
        let sql = self.rewritten(sql);
        let stream = self
            .client
            .copy_out(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        pin_mut!(stream);
        let mut data = Vec::new();
        while let Some(chunk) = stream
            .try_next()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
        {
            data.extend_from_slice(&chunk);
        }
        assert_no_clear(&sql, &String::from_utf8_lossy(&data));
        data
    }
}

/// The whole error, as a client would show it.
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "ERROR: {} DETAIL: {:?} HINT: {:?} WHERE: {:?}",
            db.message(),
            db.detail(),
            db.hint(),
            db.where_()
        ),
        None => e.to_string(),
    }
}

async fn rows_of(client: &Client, sql: &str) -> Vec<Row> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// What the PostgreSQL front does: the four queries in one read-only snapshot.
async fn load_catalog(client: &Client) -> Catalog {
    client
        .batch_execute(Catalog::LOAD_BEGIN)
        .await
        .expect("begin");
    client
        .batch_execute(Catalog::LOAD_SEARCH_PATH)
        .await
        .expect("search_path");
    let [relations, columns, views, functions] = Catalog::LOAD_QUERIES;
    let rows = CatalogRows {
        relations: rows_of(client, relations).await,
        columns: rows_of(client, columns).await,
        view_dependencies: rows_of(client, views).await,
        functions: rows_of(client, functions).await,
    };
    client
        .batch_execute(Catalog::LOAD_END)
        .await
        .expect("commit");
    Catalog::from_rows(1, &rows).expect("catalog rows are well formed")
}

#[test]
fn red_team_against_postgres_15() {
    if !jitgate_pgcluster::server_binaries_found() {
        eprintln!("skipped: no PostgreSQL server binaries (set JITGATE_PG_BINDIR)");
        return;
    }
    let cluster = PgCluster::start(ClusterOptions::default()).expect("start PostgreSQL");
    cluster.psql("postgres", SETUP).expect("set up the data");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(red_team(&cluster));
}

async fn red_team(cluster: &PgCluster) {
    let uri = cluster.uri(cluster.superuser(), None, "postgres");
    let (client, connection) = tokio_postgres::connect(&uri, NoTls).await.expect("connect");
    tokio::spawn(connection);

    // The detector works: unmasked, the clear values are there.
    let clear = rows_of(&client, "SELECT ssn FROM customers").await;
    assert!(format!("{clear:?}").contains("123-45-6789"));

    // A function under a harmless name that runs query_to_xml (what only a superuser can create,
    // and then forget about).
    client
        .batch_execute(
            "CREATE FUNCTION public.innocent(text, boolean, boolean, text) RETURNS xml \
             AS 'query_to_xml' LANGUAGE internal STABLE STRICT; \
             CREATE VIEW public.xml_report AS \
             SELECT pg_catalog.query_to_xml('SELECT ssn FROM public.customers', true, false, '') AS x",
        )
        .await
        .expect("create the wrapper");
    let catalog = load_catalog(&client).await;
    // Functions are known by their implementations (pg_proc.prosrc), whatever their names.
    let symbols = |name: &str| -> Vec<String> {
        catalog
            .functions_named(name)
            .iter()
            .flat_map(|f| f.symbols.clone())
            .collect()
    };
    assert_eq!(symbols("innocent"), ["query_to_xml"]);
    assert!(symbols("ts_stat").contains(&"ts_stat1".to_string()));
    assert!(symbols("ts_rewrite").contains(&"tsquery_rewrite_query".to_string()));
    assert_eq!(symbols("pg_cancel_backend"), ["pg_cancel_backend"]);
    // A view over query_to_xml reads what its text says, unseen: refused to both.
    let report = catalog
        .relation("public", "xml_report")
        .expect("view loaded");
    assert!(report.view.as_ref().is_some_and(|v| v.calls_user_code));
    let kinds = jitgate_pg_sql::classify_with_catalog("SELECT * FROM xml_report", &catalog)
        .expect("parses");
    assert!(kinds.iter().any(|k| !k.allowed_read_only()));
    let refused = jitgate_pg_sql::rewrite(
        "SELECT * FROM xml_report",
        &catalog,
        &SearchPath::default_for(cluster.superuser()),
        &TestMasks::new(),
        jitgate_pg_sql::Protocol::Extended,
    );
    assert!(refused.is_err(), "{refused:?}");
    // Aggregates by their transition functions.
    assert!(symbols("string_agg").contains(&"string_agg_transfn".to_string()));
    assert!(symbols("array_agg").contains(&"array_agg_transfn".to_string()));
    assert!(symbols("xmlagg").contains(&"xmlconcat2".to_string()));
    assert_eq!(
        symbols("pg_stat_get_backend_idset"),
        ["pg_stat_get_backend_idset"]
    );
    for sql in [
        "SELECT innocent('select 1', true, false, '')",
        "SELECT public.innocent('select set_config(''default_transaction_read_only'', ''off'', false)', true, false, '')",
        "SELECT pg_catalog.pg_terminate_backend(1)",
    ] {
        let kinds = jitgate_pg_sql::classify_with_catalog(sql, &catalog).expect("parses");
        assert!(kinds.iter().any(|k| !k.allowed_read_only()), "{sql}");
    }
    let customers = catalog
        .relation("public", "customers")
        .expect("customers loaded");
    assert_eq!(customers.columns.len(), 5);
    let view = catalog
        .relation("public", "vip")
        .and_then(|v| v.view.as_ref());
    let view = view.expect("view definition loaded");
    assert!(view.security_barrier && view.depends_on.contains(&customers.oid));
    assert!(
        view.sql.contains("public.customers"),
        "qualified: {}",
        view.sql
    );
    assert!(catalog.functions_complete());

    let s = MaskedSession {
        client,
        catalog,
        path: SearchPath::default_for(cluster.superuser()),
        masks: TestMasks::new(),
    };

    // Inference through predicates: nothing matches a clear value, everything matches the mask.
    assert!(s
        .run("SELECT id FROM customers WHERE ssn LIKE '123%'")
        .await
        .rows
        .is_empty());
    assert!(s
        .run("SELECT id FROM customers WHERE ssn = '123-45-6789'")
        .await
        .rows
        .is_empty());
    let all = s
        .run(&format!(
            "SELECT count(*) FROM customers WHERE ssn = '{MASKED_SSN}'"
        ))
        .await;
    assert_eq!(all.first_column(), ["5"]);
    assert!(s
        .run("SELECT id FROM customers WHERE birth_date = '1985-12-10'")
        .await
        .rows
        .is_empty());
    assert!(s
        .run("SELECT id FROM customers WHERE email LIKE 'ada%'")
        .await
        .rows
        .is_empty());
    let through_view = "SELECT id FROM customer_contacts WHERE ssn LIKE '1%'";
    assert!(s.run(through_view).await.rows.is_empty());
    // Ordering: by ssn then id is by id (the clear order would be 1, 4, 3, 2, 5).
    let ordered = s
        .run("SELECT id FROM ONLY customers ORDER BY ssn, id")
        .await;
    assert_eq!(ordered.first_column(), ["1", "2", "3", "4"]);
    // Error oracles: a division by zero for matching rows only never fires. (Not 1/0: the
    // planner folds constants, and that errors whatever the rows.)
    let oracle = s
        .run("SELECT CASE WHEN ssn LIKE '123%' THEN 1 / (id - id) ELSE 0 END FROM customers")
        .await;
    assert!(oracle.error.is_none(), "{oracle:?}");
    // Casts: the error quotes the masked value.
    let cast = s.run("SELECT ssn::int FROM customers").await;
    assert!(
        cast.error
            .as_deref()
            .is_some_and(|e| e.contains(MASKED_SSN)),
        "{cast:?}"
    );
    let cast = s.run("SELECT 1 FROM customers WHERE ssn::int > 0").await;
    assert!(cast.error.is_some(), "{cast:?}");

    for sql in [
        "SELECT * FROM customers",
        "SELECT ssn || '', concat(ssn), upper(email), string_agg(ssn, ',') OVER () FROM customers",
        "SELECT max(ssn), min(email), max(birth_date) FROM customers",
        "SELECT row_to_json(c), to_jsonb(c.*), c::text FROM customers c",
        "SELECT (c).ssn, c FROM customers c",
        "WITH x AS (SELECT * FROM customers) SELECT * FROM x",
        "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL \
         SELECT n + 1, s || 'x' FROM r WHERE n < 2) SELECT * FROM r",
        "SELECT o.id, x.ssn FROM orders o, LATERAL (SELECT ssn FROM customers c \
         WHERE c.id = o.customer_id) x",
        "SELECT ssn FROM customers UNION SELECT email FROM customers",
        "SELECT ssn FROM customers INTERSECT SELECT ssn FROM customers",
        "TABLE customers",
        "SELECT * FROM ONLY customers",
        "SELECT * FROM customers_2024",
        "SELECT * FROM customers TABLESAMPLE BERNOULLI (100) REPEATABLE (1)",
        "SELECT * FROM customer_contacts",
        "SELECT * FROM customer_contacts WHERE ssn LIKE '*%'",
        "SELECT * FROM vip WHERE length(ssn) > 0",
        "SELECT \"ssn\", U&\"emai\\006c\" FROM \"customers\"",
        "SELECT U&\"ss\\006e\" FROM U&\"custom\\0065rs\"",
        "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY c.ssn",
        "SELECT (SELECT max(ssn) FROM customers), ARRAY(SELECT email FROM customers)",
        "SELECT ssn, count(*) FROM customers GROUP BY ssn HAVING count(*) > 0",
        "SELECT json_agg(c) FROM customers c",
        "SELECT * FROM customers WHERE ssn IN (SELECT ssn FROM customers)",
        "BEGIN; DECLARE c CURSOR FOR SELECT * FROM customers; FETCH ALL FROM c; COMMIT",
        // pg_dump --inserts reads tables through a cursor.
        "BEGIN; DECLARE _pg_dump_cursor CURSOR FOR SELECT * FROM ONLY public.customers; \
         FETCH 100 FROM _pg_dump_cursor; CLOSE _pg_dump_cursor; COMMIT",
        "UPDATE orders SET total = total FROM customers c WHERE c.id = orders.customer_id \
         RETURNING c.ssn, c.email",
        "DELETE FROM orders WHERE false RETURNING (SELECT max(ssn) FROM customers)",
    ] {
        let out = s.run(sql).await;
        assert!(out.error.is_none(), "{sql}: {out:?}");
        assert!(
            !out.rows.is_empty() || sql.starts_with("DELETE"),
            "{sql}: no rows"
        );
    }

    // Prepared statements, by SQL and by the extended protocol.
    s.run("PREPARE p(text) AS SELECT * FROM customers WHERE ssn = $1")
        .await;
    assert!(s.run("EXECUTE p('123-45-6789')").await.rows.is_empty());
    assert_eq!(
        s.run(&format!("EXECUTE p('{MASKED_SSN}')"))
            .await
            .rows
            .len(),
        5
    );
    let extended = s.rewritten("SELECT id FROM customers WHERE ssn = $1");
    let rows = s
        .client
        .query(&extended, &[&"123-45-6789"])
        .await
        .expect("extended query");
    assert!(rows.is_empty());
    let rows = s
        .client
        .query(&s.rewritten("SELECT ssn FROM customers"), &[])
        .await;
    let rows = rows.expect("extended query");
    let values: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert_no_clear("extended protocol", &values.join(","));

    // COPY, table and query, in every format.
    for sql in [
        "COPY customers TO STDOUT",
        "COPY customers TO STDOUT WITH (FORMAT csv, HEADER)",
        "COPY customers TO STDOUT WITH (FORMAT binary)",
        "COPY public.customers (id, full_name, email, ssn, birth_date) TO stdout",
        "COPY (SELECT ssn, email FROM customers WHERE ssn LIKE '1%') TO STDOUT",
        "COPY (SELECT * FROM customer_contacts) TO STDOUT WITH (FORMAT csv)",
        "COPY (TABLE customers) TO STDOUT WITH (FORMAT binary)",
    ] {
        s.copy_out(sql).await;
    }
    let binary = s
        .copy_out("COPY customers (ssn) TO STDOUT WITH (FORMAT binary)")
        .await;
    assert!(binary
        .windows(MASKED_SSN.len())
        .any(|w| w == MASKED_SSN.as_bytes()));

    // Copying masked rows elsewhere copies masks.
    s.run("INSERT INTO scratch SELECT ssn FROM customers").await;
    s.run("INSERT INTO scratch (v) SELECT email FROM customer_contacts")
        .await;
    let copied = s.run("SELECT * FROM scratch").await;
    assert_eq!(copied.rows.len(), 10);
    s.run("CREATE TEMP TABLE loot AS SELECT * FROM customers")
        .await;
    s.run("SELECT * INTO TEMP loot2 FROM customers").await;
    assert_eq!(s.run("SELECT * FROM loot, loot2").await.rows.len(), 25);

    // search_path games: the protected name stays pinned to public.customers, masked.
    let pinned = s
        .run("SET search_path = other, public; SELECT ssn FROM customers")
        .await;
    assert!(
        pinned.first_column().iter().all(|v| v == MASKED_SSN),
        "{pinned:?}"
    );
    s.run("RESET search_path").await;
    // A temporary table of the same name cannot unmask it either.
    s.run("CREATE TEMP TABLE customers (id int, ssn text)")
        .await;
    s.run("INSERT INTO pg_temp.customers VALUES (1, 'temp-ssn')")
        .await;
    let shadowed = s.run("SELECT ssn FROM customers").await;
    assert!(
        shadowed.first_column().iter().all(|v| v == MASKED_SSN),
        "{shadowed:?}"
    );
    let own = s.run("SELECT ssn FROM pg_temp.customers").await;
    assert_eq!(own.first_column(), ["temp-ssn"]);
    // The subject's own path finds other.customers first: that one is read (it is clear).
    let other_first = MaskedSession {
        path: SearchPath::parse("other, public", cluster.superuser()),
        ..s
    };
    let other = other_first.run("SELECT ssn FROM customers").await;
    assert_eq!(other.first_column(), ["other-ssn-1"]);
}
