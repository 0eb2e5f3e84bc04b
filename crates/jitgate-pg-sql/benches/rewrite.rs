//! The rewrite of a typical analyst query: cold (parse, build the masking query, walk,
//! deparse), a new statement once the subject's masking queries are built, warm (cache hit),
//! and a query on clear tables only (parse and walk, the text passed through).

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use jitgate_pg_sql::{classify, rewrite, Protocol, RewriteCache, SearchPath};

/// Statements arrive as Parse messages: every mask in SQL, as the worst case.
const EXTENDED: Protocol = Protocol::Extended;

const TYPICAL: &str = "SELECT c.id, c.full_name, c.email, o.total FROM customers c \
    JOIN orders o ON o.customer_id = c.id WHERE c.ssn LIKE $1 AND o.total > 10 \
    ORDER BY o.total DESC LIMIT 10";

const CLEAR_ONLY: &str = "SELECT o.id, o.total FROM orders o WHERE o.customer_id = $1 \
    ORDER BY o.total DESC LIMIT 10";

fn benches(c: &mut Criterion) {
    let catalog = fixture::catalog();
    let masks = fixture::TestMasks::new();
    let path = SearchPath::default_for("analyst");

    c.bench_function("rewrite/cold (parse + mask + deparse)", |b| {
        b.iter(|| rewrite(black_box(TYPICAL), &catalog, &path, &masks, EXTENDED))
    });
    c.bench_function("rewrite/clear tables (parse, passed through)", |b| {
        b.iter(|| rewrite(black_box(CLEAR_ONLY), &catalog, &path, &masks, EXTENDED))
    });
    let cache = RewriteCache::new(1024);
    c.bench_function("rewrite/warm (cache hit)", |b| {
        b.iter(|| cache.rewrite(black_box(TYPICAL), &catalog, &path, &masks, 7, EXTENDED))
    });
    // A statement never seen before, by a subject whose masking queries are already built.
    let mut n = 0u64;
    c.bench_function("rewrite/new statement, known tables (cache miss)", |b| {
        b.iter(|| {
            n += 1;
            let sql = format!("{TYPICAL} OFFSET {n}");
            cache.rewrite(black_box(&sql), &catalog, &path, &masks, 7, EXTENDED)
        })
    });
    c.bench_function("classify", |b| b.iter(|| classify(black_box(TYPICAL))));
}

criterion_group!(rewrite_benches, benches);
criterion_main!(rewrite_benches);
