use std::time::Instant;
fn time<T>(name: &str, n: u32, mut f: impl FnMut() -> T) {
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    println!("{name}: {:?}", t.elapsed() / n);
}
fn main() {
    let q = "SELECT c.id, c.full_name, c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.ssn LIKE $1 AND o.total > 10 ORDER BY o.total DESC LIMIT 10";
    let m = "SELECT \"id\", \"full_name\", CASE WHEN (\"email\") IS NULL THEN NULL::pg_catalog.text ELSE (E'***@***')::pg_catalog.text END AS \"email\", CASE WHEN (\"ssn\") IS NULL THEN NULL::pg_catalog.text ELSE (E'***-**-****')::pg_catalog.text END AS \"ssn\", (pg_catalog.date_trunc(E'month', (\"birth_date\")::pg_catalog.timestamp))::pg_catalog.date AS \"birth_date\" FROM \"public\".\"customers\"";
    time("parse typical", 2000, || pg_query::parse(q, 0).unwrap());
    time("parse mask", 2000, || pg_query::parse(m, 0).unwrap());
    let p = pg_query::parse(q, 0).unwrap();
    time("deparse typical", 2000, || {
        pg_query::deparse(&p.protobuf, Default::default()).unwrap()
    });
    time("split_with_parser", 2000, || {
        pg_query::split_with_parser(q).unwrap()
    });
    time("scan", 2000, || pg_query::scan(q).unwrap());
    time("fingerprint", 2000, || pg_query::fingerprint(q).unwrap());
}
