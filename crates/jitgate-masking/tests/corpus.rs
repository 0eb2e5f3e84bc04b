//! The detectors against a labelled corpus: hand-written lines (`tests/corpus/*.txt`) and
//! generated ones. Every labelled value must be found, with its kind and exact range (zero
//! misses); findings anywhere else are false positives, counted per class of hard negative and
//! printed (`cargo test --test corpus -- --nocapture`).

mod generate;

use std::collections::BTreeMap;

use generate::Rng;
use jitgate_masking::{Finding, Scanner};

/// One labelled sample: its text and the (kind, byte range) of every sensitive value in it.
struct Sample {
    class: String,
    text: String,
    labels: Vec<(String, std::ops::Range<usize>)>,
}

/// Parses `«kind:value»` markers out of a corpus line; `\n` stands for a line break.
fn parse_line(class: &str, line: &str) -> Sample {
    let line = line.replace("\\n", "\n");
    let mut text = String::new();
    let mut labels = Vec::new();
    let mut rest = line.as_str();
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

fn file_samples(name: &str, class: &str) -> Vec<Sample> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("corpus file");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(class, l))
        .collect()
}

#[derive(Default)]
struct Tally {
    samples: usize,
    labels: usize,
    misses: Vec<String>,
    /// Samples with at least one finding that is not a label.
    samples_with_fp: usize,
    false_findings: usize,
    /// A few false positives of generated classes, printed to show what they look like.
    examples: Vec<String>,
}

#[test]
fn corpus_has_no_misses_and_few_false_positives() {
    let mut samples = file_samples("positives.txt", "file: positives");
    samples.extend(file_samples("negatives.txt", "file: hard negatives"));
    let mut rng = Rng::new(0x006a_6974_6761_7465);
    samples.extend(
        generate::positives(&mut rng, 300)
            .into_iter()
            .map(|(class, line)| parse_line(&class, &line)),
    );
    samples.extend(
        generate::negatives(&mut rng, 300)
            .into_iter()
            .map(|(class, line)| parse_line(&class, &line)),
    );

    let scanner = Scanner::builtin();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut bytes, mut found_total, mut true_total) = (0, 0, 0);
    for s in &samples {
        bytes += s.text.len();
        let found: Vec<Finding<'_>> = scanner.scan(&s.text);
        let t = tallies.entry(s.class.clone()).or_default();
        t.samples += 1;
        t.labels += s.labels.len();
        for (kind, range) in &s.labels {
            let hit = found.iter().any(|f| f.kind == kind && f.range == *range);
            if !hit {
                t.misses.push(format!(
                    "{kind} {:?} in {:?} (found {found:?})",
                    &s.text[range.clone()],
                    s.text
                ));
            }
        }
        let false_found = found
            .iter()
            .filter(|f| !s.labels.iter().any(|(k, r)| f.kind == k && f.range == *r))
            .count();
        found_total += found.len();
        true_total += found.len() - false_found;
        t.false_findings += false_found;
        t.samples_with_fp += usize::from(false_found > 0);
        if false_found > 0 && s.class.starts_with("file") {
            t.misses
                .push(format!("false positive in {:?}: {found:?}", s.text));
        } else if false_found > 0 && t.examples.len() < 2 {
            t.examples.push(format!("{:?}: {found:?}", s.text));
        }
    }

    println!(
        "{:<34} {:>7} {:>7} {:>6} {:>9} {:>8}",
        "class", "samples", "labels", "misses", "FP samples", "FP rate"
    );
    let mut problems = Vec::new();
    for (class, t) in &tallies {
        println!(
            "{class:<34} {:>7} {:>7} {:>6} {:>9} {:>7.2}%",
            t.samples,
            t.labels,
            t.misses.len(),
            t.samples_with_fp,
            100.0 * t.samples_with_fp as f64 / t.samples as f64
        );
        for example in &t.examples {
            println!("    e.g. {example}");
        }
        problems.extend(t.misses.iter().cloned());
    }
    let negatives: Vec<&Tally> = tallies
        .iter()
        .filter(|(c, _)| c.contains("negative"))
        .map(|(_, t)| t)
        .collect();
    let neg_samples: usize = negatives.iter().map(|t| t.samples).sum();
    let neg_fp: usize = negatives.iter().map(|t| t.samples_with_fp).sum();
    println!(
        "corpus: {} samples, {bytes} bytes; precision {:.4}; hard-negative FP rate {neg_fp}/{neg_samples} = {:.2}%",
        samples.len(),
        true_total as f64 / found_total.max(1) as f64,
        100.0 * neg_fp as f64 / neg_samples.max(1) as f64
    );
    assert!(
        problems.is_empty(),
        "misses or hand-labelled false positives:\n{}",
        problems.join("\n")
    );
    // Generated hard negatives include random 16-digit references, some of which are
    // indistinguishable from cards (Luhn-valid with an issuer prefix); nothing else may fire.
    assert!(
        neg_fp * 100 <= neg_samples,
        "hard-negative FP rate above 1%"
    );
}
