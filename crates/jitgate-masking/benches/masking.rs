//! The masking engine's hot paths, one core: column masks on short values (values/s), content
//! scanning (bytes/s) and DataRow rewriting (rows/s).
//!
//! `cargo bench -p jitgate-masking --bench masking`; targets: partial/redact ≥ 50 M values/s,
//! scanning mixed text ≥ 300 MB/s.

#[path = "../tests/generate/mod.rs"]
mod generate;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use generate::Rng;
use jitgate_masking::{
    rewrite_data_row, ColumnAction, ColumnPlan, Mask, MaskKey, PgTypeInfo, Scanner,
};

/// Short values of the kind masks meet: identifiers, names, e-mail addresses, 4 to 24 bytes.
fn short_values() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(7);
    (0..1024)
        .map(|i| match i % 4 {
            0 => format!(
                "{:03}-{:02}-{:04}",
                rng.range(1, 899),
                rng.range(1, 99),
                rng.range(1, 9999)
            ),
            1 => format!("user{}@example.com", rng.below(100_000)),
            2 => {
                ["Ann", "Bob Smith", "Carlos", "Dana Whitfield"][rng.below(4) as usize].to_string()
            }
            _ => rng.digits(16),
        })
        .map(String::into_bytes)
        .collect()
}

fn column_masks(c: &mut Criterion) {
    let values = short_values();
    let text = PgTypeInfo::from_oid(25);
    let key = MaskKey::new(b"benchmark key, thirty-two bytes!", "bench").expect("key");
    let mut group = c.benchmark_group("column masks (1024 short text values)");
    group.throughput(Throughput::Elements(values.len() as u64));
    let masks = [
        ("redact", Mask::Redact),
        (
            "partial keep last 4",
            Mask::Partial {
                keep_first: 0,
                keep_last: 4,
                pad: '*',
            },
        ),
        ("email", Mask::Email),
        ("hash", Mask::Hash),
        ("tokenize", Mask::Tokenize),
    ];
    for (name, mask) in masks {
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for v in &values {
                    let _ = mask.apply_text(black_box(v), &text, &key, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// Ticket and log prose with the numbers such text carries (dates, times, prices, versions,
/// order numbers) and a value of PII in about one line in twenty.
fn mixed_text(bytes: usize) -> String {
    let mut rng = Rng::new(11);
    let prose = [
        "The customer reported that the export job failed after the upgrade and asked for a callback",
        "Deployment finished without errors; cache hit ratio stayed high during the whole window",
        "Please review the attached notes before the weekly sync with the platform team",
        "Latency improved once the connection pool was resized, see the dashboard for details",
    ];
    let positives = generate::positives(&mut rng, 40);
    let mut text = String::with_capacity(bytes + 256);
    while text.len() < bytes {
        let line = match rng.below(20) {
            0 => positives[rng.below(positives.len() as u64) as usize]
                .1
                .replace(['«', '»'], ""),
            1..=6 => format!(
                "{} on {}-{:02}-{:02} at {:02}:{:02}, order {} total ${}.{:02} (v{}.{}.{})",
                rng.pick(&prose),
                rng.range(2020, 2025),
                rng.range(1, 12),
                rng.range(1, 28),
                rng.below(24),
                rng.below(60),
                rng.digits(8),
                rng.range(1, 999),
                rng.below(100),
                rng.below(5),
                rng.below(20),
                rng.below(10)
            ),
            _ => rng.pick(&prose).to_string(),
        };
        text.push_str(&line);
        text.push_str(".\n");
    }
    text
}

fn scanning(c: &mut Criterion) {
    let scanner = Scanner::builtin();
    let mixed = mixed_text(1 << 20);
    let prose = "The quick brown fox jumps over the lazy dog while the analyst reads the report. "
        .repeat(13_000);
    let mut rng = Rng::new(3);
    let dense: String = generate::positives(&mut rng, 100)
        .into_iter()
        .chain(generate::negatives(&mut rng, 100))
        .map(|(_, line)| line.replace(['«', '»'], "") + "\n")
        .collect();
    // The same text without its few non-ASCII characters: what folding costs.
    let mixed_ascii: String = mixed.chars().filter(char::is_ascii).collect();
    let mut group = c.benchmark_group("scanning");
    for (name, text) in [
        ("mixed text", &mixed),
        ("mixed text, ASCII only", &mixed_ascii),
        ("plain prose", &prose),
        ("dense corpus lines", &dense),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut out = Vec::with_capacity(text.len() + 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                scanner.redact_into(black_box(text.as_bytes()), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn data_rows(c: &mut Criterion) {
    let key = MaskKey::new(b"benchmark key, thirty-two bytes!", "bench").expect("key");
    let plan = |action, oid| ColumnPlan {
        action,
        ty: PgTypeInfo::from_oid(oid),
        binary: false,
    };
    let columns = vec![
        plan(ColumnAction::Pass, 23),
        plan(ColumnAction::Pass, 25),
        plan(
            ColumnAction::Mask(Mask::Partial {
                keep_first: 0,
                keep_last: 4,
                pad: '*',
            }),
            25,
        ),
        plan(ColumnAction::Mask(Mask::Redact), 1082),
        plan(ColumnAction::Scan, 25),
        plan(ColumnAction::Pass, 1700),
    ];
    let values: [&[u8]; 6] = [
        b"123456",
        b"Dana Whitfield",
        b"123-45-6789",
        b"1985-07-23",
        b"order shipped to customer, no issues",
        b"1234.50",
    ];
    let mut body = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        body.extend_from_slice(&(v.len() as i32).to_be_bytes());
        body.extend_from_slice(v);
    }
    let mut group = c.benchmark_group("DataRow rewrite");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);
    group.bench_function("6 columns: 2 masked, 1 scanned", |b| {
        b.iter(|| {
            out.clear();
            let _ = rewrite_data_row(
                black_box(&body),
                &columns,
                &key,
                Scanner::builtin(),
                &mut out,
            );
            black_box(out.len())
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = column_masks, scanning, data_rows
}
criterion_main!(benches);
