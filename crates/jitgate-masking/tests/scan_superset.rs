//! `scan` in every path: the Rust detectors in the result stream, and the SQL form where a
//! column is evaluated, which must over-mask, never under-mask.
//!
//! On generated text (labelled PII in every format the detectors know, look-alikes, and lines
//! glued together so that numbers run into each other), PostgreSQL 15 runs `Mask::Scan`'s SQL
//! form and the test asserts that whatever a Rust detector finds in a text is gone from the SQL
//! result: neither the value (its letters and digits, compared after NFKC) nor a part of it
//! that the detectors would still report. It then prints recall and look-alikes kept for both forms
//! (`cargo test --test scan_superset -- --nocapture`).

mod generate;

use std::collections::BTreeMap;

use generate::Rng;
use jitgate_masking::{Mask, MaskKey, PgTypeInfo, Scanner};
use jitgate_pgcluster::{ClusterOptions, PgCluster};
use unicode_normalization::UnicodeNormalization;

/// One text: its class, the text, and its labelled values (kind, byte range).
struct Sample {
    class: String,
    text: String,
    labels: Vec<(String, std::ops::Range<usize>)>,
}

/// Parses `«kind:value»` markers; `\n` stands for a line break.
fn parse(class: &str, line: &str) -> Sample {
    let line = line.replace("\\n", "\n");
    let (mut text, mut labels, mut rest) = (String::new(), Vec::new(), line.as_str());
    while let Some(open) = rest.find('«') {
        text.push_str(&rest[..open]);
        let after = &rest[open + '«'.len_utf8()..];
        let close = after.find('»').expect("every « has its »");
        let (kind, value) = after[..close].split_once(':').expect("«kind:value»");
        labels.push((kind.to_string(), text.len()..text.len() + value.len()));
        text.push_str(value);
        rest = &after[close + '»'.len_utf8()..];
    }
    text.push_str(rest);
    Sample {
        class: class.to_string(),
        text,
        labels,
    }
}

fn samples() -> Vec<Sample> {
    // A longer run: SCAN_SUPERSET_SEED=n SCAN_SUPERSET_LINES=2000 SCAN_SUPERSET_GLUED=20000
    // (lines of each kind of value; look-alike lines are a third of that).
    let seed = std::env::var("SCAN_SUPERSET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5ca9_5e75);
    let glued = std::env::var("SCAN_SUPERSET_GLUED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let lines = std::env::var("SCAN_SUPERSET_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let mut rng = Rng::new(seed);
    let mut out: Vec<Sample> = generate::positives(&mut rng, lines)
        .into_iter()
        .chain(generate::negatives(&mut rng, lines / 3))
        .map(|(class, line)| parse(&class, &line))
        .collect();
    // Edges of the SQL form's tests: context and version words at the window's edge, across
    // line breaks and non-ASCII characters, numbers in every separator and digit form.
    for text in [
        "version 10.0.0.1",
        "version: é 10.0.0.1",
        "version\n10.0.0.1",
        "version 1.2.3.4 10.0.0.1",
        "release notes by team 10.0.0.1",
        "build é é é 10.0.0.1",
        "v.10.0.0.1 and (10.0.0.2",
        "SSN é 123456789",
        "ssn\n\n\n123456789",
        "Social–Security №: 123456789",
        "SSN0123456789 SSN 123456789",
        "social security number is on file for the customer, it is 123456789",
        "call me maybe, here it is at last: 4155552671",
        "tel ４１５５５５２６７１ or +１ ４１５ ５５５ ２６７１",
        "+44 (0)20 7946 0958; +1 (415) 555-2671; 1 (415) 555-2671",
        "4111 1111 1111 1111 2026 and 12 4111 1111 1111 1111",
        "4111\u{00a0}1111\u{2009}1111\u{200b}1111",
        "card ４１１１－１１１１－１１１１－１１１１",
        "ids 123-45-6789-12 and 1123-45-6789 and 123-45-67890",
        "ann＠example．com, bob@example.org",
        "::1 and fe80::1 and dcbe:6f9e:d33c:190:eb4e:82ac:aeb:f802 and ::ffff:192.0.2.1",
        "DE89 3704 0044 0532 0130 00 4111 1111 1111 1111",
    ] {
        out.push(Sample {
            class: "edges".into(),
            text: text.to_string(),
            labels: Vec::new(),
        });
    }
    // Lines glued with what makes numbers run together or apart.
    let glue = ["", " ", "-", "\n", ".", ":", "x", "/", " – ", "１"];
    let pieces: Vec<String> = out.iter().map(|s| s.text.clone()).collect();
    for _ in 0..glued {
        let mut text = String::new();
        for i in 0..rng.range(2, 4) {
            if i > 0 {
                let g: &&str = rng.pick(&glue);
                text.push_str(g);
            }
            let piece = rng.pick(&pieces);
            let cut = rng.below(piece.len() as u64 + 1) as usize;
            let cut = (cut..=piece.len())
                .find(|&c| piece.is_char_boundary(c))
                .unwrap_or(piece.len());
            text.push_str(if rng.below(2) == 0 {
                &piece[..cut]
            } else {
                &piece[cut..]
            });
        }
        out.push(Sample {
            class: "glued".into(),
            text,
            labels: Vec::new(),
        });
    }
    out
}

/// Letters and digits of `s` after NFKC, lower-cased: what a reader takes from a value.
fn core(s: &str) -> String {
    s.nfkc()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Occurrences of `needle` in `hay`, overlapping ones too.
fn occurrences(hay: &str, needle: &str) -> usize {
    (0..hay.len())
        .filter(|&i| hay.is_char_boundary(i) && hay[i..].starts_with(needle))
        .count()
}

fn sql_literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from psql"))
        .collect();
    String::from_utf8(bytes).expect("UTF-8 from PostgreSQL")
}

/// The SQL form of `scan` on every sample, by PostgreSQL.
fn sql_form(samples: &[Sample]) -> Vec<String> {
    let cluster = PgCluster::start(ClusterOptions::default()).expect("start PostgreSQL 15");
    let mut setup = String::from("CREATE TABLE s (id int, v text);\n");
    for chunk in samples.chunks(200).enumerate() {
        let rows: Vec<String> = chunk
            .1
            .iter()
            .enumerate()
            .map(|(i, s)| format!("({}, {})", chunk.0 * 200 + i, sql_literal(&s.text)))
            .collect();
        setup += &format!("INSERT INTO s VALUES {};\n", rows.join(", "));
    }
    cluster.psql("postgres", &setup).expect("load the samples");
    let key = MaskKey::new(b"superset test key, 32 bytes long", "test").expect("key");
    let expr = Mask::Scan
        .sql_expr("s.v", &PgTypeInfo::from_oid(25), &key)
        .expect("scan applies to text");
    let started = std::time::Instant::now();
    let output = cluster
        .psql(
            "postgres",
            &format!(
                "SELECT id, pg_catalog.encode(pg_catalog.convert_to({expr}, 'UTF8'), 'hex') FROM s ORDER BY id;"
            ),
        )
        .expect("run the SQL form");
    println!(
        "SQL form: {} values in {:?} ({:.1} µs per value, psql included)",
        samples.len(),
        started.elapsed(),
        started.elapsed().as_secs_f64() * 1e6 / samples.len() as f64
    );
    let mut masked = vec![String::new(); samples.len()];
    for line in output.lines().filter(|l| !l.is_empty()) {
        let (id, hex) = line.split_once('|').expect("id|hex");
        masked[id.parse::<usize>().expect("id")] = unhex(hex);
    }
    masked
}

const PLACEHOLDERS: [&str; 9] = [
    "[ssn]",
    "[card]",
    "[email]",
    "[phone]",
    "[iban]",
    "[ip]",
    "[aws_key]",
    "[jwt]",
    "[private_key]",
];

fn placeholders(s: &str) -> usize {
    PLACEHOLDERS.iter().map(|p| s.matches(p).count()).sum()
}

#[derive(Default)]
struct Tally {
    values: usize,
    stream_found: usize,
    sql_gone: usize,
    lookalikes: usize,
    stream_kept: usize,
    sql_kept: usize,
}

#[test]
fn sql_form_replaces_whatever_the_detectors_find() {
    let samples = samples();
    let masked = sql_form(&samples);
    let scanner = Scanner::builtin();
    let mut leaks = Vec::new();
    let mut findings = 0;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for (s, sql) in samples.iter().zip(&masked) {
        // The superset property, on every text: each finding's value is gone (the value may
        // also stand elsewhere in the text, inside something that is no finding, so the count
        // of its occurrences must drop by the number of findings of it).
        let mut by_core: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for f in scanner.scan(&s.text) {
            findings += 1;
            let value = &s.text[f.range.clone()];
            let entry = by_core.entry(core(value)).or_default();
            entry.0 += 1;
            entry.1 = format!("{} {value:?}", f.kind);
        }
        for (value, (n, what)) in by_core {
            if occurrences(&core(sql), &value) + n > occurrences(&core(&s.text), &value) {
                leaks.push(format!("{what} in {:?} -> {sql:?}", s.text));
            }
        }
        // Placeholders are context words themselves (`[ssn]` before an order number).
        let neutral = PLACEHOLDERS
            .iter()
            .fold(sql.clone(), |t, p| t.replace(p, "[pii]"));
        // What the detectors find in the result must not be what is left of a finding of the
        // original (text shortened by placeholders may bring a context word near a number
        // that was too far from it before: masking more is the safe side).
        let originals: Vec<String> = scanner
            .scan(&s.text)
            .iter()
            .map(|f| core(&s.text[f.range.clone()]))
            .collect();
        let left: Vec<_> = scanner
            .scan(&neutral)
            .into_iter()
            .filter(|f| {
                let rest = core(&neutral[f.range.clone()]);
                originals.iter().any(|o| o.contains(&rest))
            })
            .collect();
        if !left.is_empty() {
            leaks.push(format!(
                "detectors still find {left:?} in {sql:?} (from {:?})",
                s.text
            ));
        }
        // Recall and look-alikes kept, per kind and per class of look-alike.
        let stream = scanner.redact(&s.text);
        for (kind, range) in &s.labels {
            let t = tallies.entry(format!("value: {kind}")).or_default();
            t.values += 1;
            let covered = scanner
                .scan(&s.text)
                .iter()
                .any(|f| f.range.start <= range.start && range.end <= f.range.end);
            t.stream_found += usize::from(covered);
            t.sql_gone += usize::from(!core(sql).contains(&core(&s.text[range.clone()])));
        }
        if s.class.contains("negative") {
            let t = tallies.entry(s.class.clone()).or_default();
            t.lookalikes += 1;
            t.stream_kept += usize::from(placeholders(&stream) == placeholders(&s.text));
            t.sql_kept += usize::from(placeholders(sql) == placeholders(&s.text));
        }
    }
    println!("{findings} findings of the Rust detectors checked against the SQL form");
    println!("{:<58} {:>6} {:>9} {:>9}", "", "n", "stream", "SQL");
    let (mut n, mut stream_kept, mut sql_kept) = (0, 0, 0);
    let mut short = Vec::new();
    for (class, t) in &tallies {
        if t.values > 0 {
            let (stream, sql) = (
                t.stream_found as f64 / t.values as f64,
                t.sql_gone as f64 / t.values as f64,
            );
            println!("{class:<58} {:>6} {stream:>9.4} {sql:>9.4}", t.values);
            if stream < 0.999 || sql < 0.999 {
                short.push(format!(
                    "recall of {class}: stream {stream:.4}, SQL {sql:.4}"
                ));
            }
        } else {
            println!(
                "{class:<58} {:>6} {:>9.4} {:>9.4}",
                t.lookalikes,
                t.stream_kept as f64 / t.lookalikes as f64,
                t.sql_kept as f64 / t.lookalikes as f64
            );
            n += t.lookalikes;
            stream_kept += t.stream_kept;
            sql_kept += t.sql_kept;
        }
    }
    let (stream_kept, sql_kept) = (stream_kept as f64 / n as f64, sql_kept as f64 / n as f64);
    println!("look-alikes kept: stream {stream_kept:.4}, SQL {sql_kept:.4} of {n}");
    assert!(
        leaks.is_empty(),
        "{} findings survive the SQL form:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(short.is_empty(), "{}", short.join("\n"));
    assert!(stream_kept >= 0.95, "the stream keeps too few look-alikes");
}
