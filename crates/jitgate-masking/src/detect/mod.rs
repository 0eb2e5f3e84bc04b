//! Content detectors: recognisers of sensitive values inside text, for the second line of defence
//! in the result stream (computed columns, error and notice texts) and for free-text columns
//! masked with [`crate::Mask::Scan`].
//!
//! Text is folded first ([`fold`]: fullwidth digits, `＠`, en-dashes, no-break spaces… match
//! as the ASCII they stand for), and the digit groups of a number may be joined by any run of
//! up to three separators (dashes, dots, underscores, slashes, white space).
//!
//! Built-in kinds, and what separates them from lookalikes:
//! - `ssn`: `NNN-NN-NNNN` (any separators between the groups) outside the never-issued ranges (area 000, 666,
//!   900–999; group 00; serial 0000). Nine bare digits count only within 40 bytes after a context
//!   word (`SSN`, `Social-Security no.`, …): alone they are order numbers and ZIP+4 codes as often.
//! - `card`: 13–19 digits, bare or in groups joined by separators, passing Luhn and a network's
//!   prefix and length (Visa, Mastercard incl. 2221–2720, Amex, Discover, JCB, Diners, UnionPay,
//!   Maestro).
//! - `email`: local part, `@`, a domain of two or more labels ending in an alphabetic label.
//! - `phone`: E.164 (`+` and 8–15 digits), NANP with separators (`394/757/5964`) or parentheses (area code and
//!   exchange starting 2–9); ten bare digits only after a context word. IPv4 addresses, dates
//!   and version strings do not have these shapes.
//! - `iban`: country code with that country's length (groups of four joined by separators),
//!   mod-97 check.
//! - `ip`: IPv4 (octets ≤ 255, not after `version`) and IPv6 (full, or compressed with `::`).
//! - `aws_key`: `AKIA`/`ASIA` + 16 upper-case alphanumerics.
//! - `jwt`: three base64url parts whose header decodes to a JSON object with `"alg"`.
//! - `private_key`: PEM `-----BEGIN … PRIVATE KEY-----` blocks, to their END line (or the end of
//!   the text when it is cut short).
//!
//! Custom detectors ([`CustomDetector`], or any [`Detector`]) run after the built-in ones.
//! Overlapping findings are merged, so a redaction never leaves part of a value visible.

mod builtin;
mod custom;
pub(crate) mod fold;
mod iban;
mod network;
mod numbers;
mod secrets;
pub(crate) mod sql_scan;
mod text;
mod validate;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

pub use custom::{CustomDetector, Validator};
pub use validate::{card_issuer_valid, luhn_valid, mod97_valid, ssn_valid};

/// The built-in detector kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ssn,
    Card,
    Email,
    Phone,
    Iban,
    Ip,
    AwsKey,
    Jwt,
    PrivateKey,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Ssn,
        Kind::Card,
        Kind::Email,
        Kind::Phone,
        Kind::Iban,
        Kind::Ip,
        Kind::AwsKey,
        Kind::Jwt,
        Kind::PrivateKey,
    ];

    /// The name the configuration and placeholders use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ssn => "ssn",
            Kind::Card => "card",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Iban => "iban",
            Kind::Ip => "ip",
            Kind::AwsKey => "aws_key",
            Kind::Jwt => "jwt",
            Kind::PrivateKey => "private_key",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What a finding of this kind is replaced with: `[ssn]`, `[card]`, …
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Ssn => "[ssn]",
            Kind::Card => "[card]",
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Iban => "[iban]",
            Kind::Ip => "[ip]",
            Kind::AwsKey => "[aws_key]",
            Kind::Jwt => "[jwt]",
            Kind::PrivateKey => "[private_key]",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of built-in kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KindSet(u16);

impl KindSet {
    pub(crate) fn of(kinds: &[Kind]) -> KindSet {
        KindSet(kinds.iter().fold(0, |set, k| set | k.bit()))
    }

    pub(crate) fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// A recogniser of sensitive content. Implementations must not panic on any input, and report
/// byte ranges of `text` that lie on UTF-8 boundaries when `text` is UTF-8.
pub trait Detector: Send + Sync + fmt::Debug {
    /// Names the kind of finding; `[name]` replaces what is found.
    fn name(&self) -> &str;
    /// Appends the ranges of every finding in `text`.
    fn find(&self, text: &[u8], out: &mut Vec<Range<usize>>);
}

/// One thing found: its kind's name and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding<'s> {
    pub kind: &'s str,
    pub range: Range<usize>,
}

/// A raw finding: `detector` is a [`Kind`] index, or 9 + the index of a custom detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    detector: usize,
    start: usize,
    end: usize,
}

impl Hit {
    fn builtin(kind: Kind, start: usize, end: usize) -> Hit {
        Hit {
            detector: kind as usize,
            start,
            end,
        }
    }
}

/// A set of detectors run together over texts.
#[derive(Debug, Clone)]
pub struct Scanner {
    kinds: KindSet,
    custom: Vec<Arc<dyn Detector>>,
    /// `[name]` of each custom detector, built once.
    custom_placeholders: Vec<String>,
}

impl Scanner {
    /// A scanner running the given built-in kinds and then the custom detectors.
    pub fn new(kinds: &[Kind], custom: Vec<Arc<dyn Detector>>) -> Scanner {
        let custom_placeholders = custom.iter().map(|d| format!("[{}]", d.name())).collect();
        Scanner {
            kinds: KindSet::of(kinds),
            custom,
            custom_placeholders,
        }
    }

    /// Every built-in kind and nothing else (shared; built on first use).
    pub fn builtin() -> &'static Scanner {
        static ALL: OnceLock<Scanner> = OnceLock::new();
        ALL.get_or_init(|| Scanner::new(&Kind::ALL, Vec::new()))
    }

    /// Whether no detector is enabled (then scanning costs nothing).
    pub fn is_empty(&self) -> bool {
        self.kinds == KindSet::default() && self.custom.is_empty()
    }

    fn kind_name(&self, detector: usize) -> &str {
        match Kind::ALL.get(detector) {
            Some(kind) => kind.name(),
            None => self.custom[detector - Kind::ALL.len()].name(),
        }
    }

    fn placeholder(&self, detector: usize) -> &str {
        match Kind::ALL.get(detector) {
            Some(kind) => kind.placeholder(),
            None => &self.custom_placeholders[detector - Kind::ALL.len()],
        }
    }

    /// Findings in `text`, in order, overlapping ones merged (the earlier, longer one names it).
    pub fn scan(&self, text: &str) -> Vec<Finding<'_>> {
        self.scan_bytes(text.as_bytes())
    }

    /// [`Scanner::scan`] over bytes that need not be UTF-8.
    pub fn scan_bytes(&self, text: &[u8]) -> Vec<Finding<'_>> {
        let mut hits = Vec::new();
        self.hits(text, &mut hits);
        hits.into_iter()
            .map(|h| Finding {
                kind: self.kind_name(h.detector),
                range: h.start..h.end,
            })
            .collect()
    }

    /// Sorted, merged raw findings. `hits` stays unallocated when nothing is found.
    fn hits(&self, text: &[u8], hits: &mut Vec<Hit>) {
        self.builtin_hits(text, hits);
        if !self.custom.is_empty() {
            let mut ranges = Vec::new();
            for (i, detector) in self.custom.iter().enumerate() {
                ranges.clear();
                detector.find(text, &mut ranges);
                hits.extend(
                    ranges
                        .iter()
                        .filter(|r| r.start < r.end && r.end <= text.len())
                        .map(|r| Hit {
                            detector: Kind::ALL.len() + i,
                            start: r.start,
                            end: r.end,
                        }),
                );
            }
        }
        if hits.len() > 1 {
            hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
            let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
            for h in hits.drain(..) {
                match merged.last_mut() {
                    Some(last) if h.start < last.end => last.end = last.end.max(h.end),
                    _ => merged.push(h),
                }
            }
            *hits = merged;
        }
    }

    /// The built-in detectors' findings, matched on the folded text ([`fold`]) and reported as
    /// ranges of `text`.
    fn builtin_hits(&self, text: &[u8], hits: &mut Vec<Hit>) {
        if self.kinds == KindSet::default() {
            return;
        }
        match fold::fold(text) {
            None => builtin::scan(text, self.kinds, hits),
            Some(folded) => {
                builtin::scan(&folded.text, self.kinds, hits);
                for h in hits.iter_mut() {
                    (h.start, h.end) = folded.original(h.start, h.end);
                }
            }
        }
    }

    /// `text` with every finding replaced by its placeholder (`[ssn]`, `[email]`, …); borrowed
    /// when nothing was found.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Vec::new();
        if !self.redact_into(text.as_bytes(), &mut out) {
            return Cow::Borrowed(text);
        }
        // Findings are cut at ASCII bytes of UTF-8 text and placeholders are ASCII.
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    /// Appends `text` to `out` with findings replaced; returns whether anything was found.
    pub fn redact_into(&self, text: &[u8], out: &mut Vec<u8>) -> bool {
        let mut hits = Vec::new();
        self.hits(text, &mut hits);
        let mut at = 0;
        for h in &hits {
            out.extend_from_slice(&text[at..h.start]);
            out.extend_from_slice(self.placeholder(h.detector).as_bytes());
            at = h.end;
        }
        out.extend_from_slice(&text[at..]);
        !hits.is_empty()
    }

    /// Whether anything in `text` would be redacted.
    pub fn finds_any(&self, text: &[u8]) -> bool {
        let mut hits = Vec::new();
        self.hits(text, &mut hits);
        !hits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_each_kind_where_it_stands() {
        let text = "Call (415) 555-2671 or mail ann@example.com; SSN 078-05-1120, card 4111 1111 1111 1111, \
                    IBAN DE89 3704 0044 0532 0130 00 from 10.1.2.3 key AKIAIOSFODNN7EXAMPLE.";
        let redacted = Scanner::builtin().redact(text);
        assert_eq!(
            redacted,
            "Call [phone] or mail [email]; SSN [ssn], card [card], IBAN [iban] from [ip] key [aws_key]."
        );
    }

    #[test]
    fn redacts_the_formats_a_red_team_used() {
        for (text, want) in [
            ("SSN 123.45.6789 on file", "SSN [ssn] on file"),
            ("SSN 123–45–6789 on file", "SSN [ssn] on file"),
            ("SSN 123_45_6789 on file", "SSN [ssn] on file"),
            ("SSN １２３-４５-６７８９ on file", "SSN [ssn] on file"),
            (
                "Social-Security no. 123456789.",
                "Social-Security no. [ssn].",
            ),
            ("card 4111.1111.1111.1111 ok", "card [card] ok"),
            ("card 4111  1111  1111  1111 ok", "card [card] ok"),
            ("card 4111/1111/1111/1111 ok", "card [card] ok"),
            ("card 4111 1111\n1111 1111 ok", "card [card] ok"),
            ("call 394/757/5964 now", "call [phone] now"),
            ("mail ann＠example．com now", "mail [email] now"),
            ("IBAN DE89.3704.0044.0532.0130.00 ok", "IBAN [iban] ok"),
            (
                "card 4111\u{200B}1111\u{200B}1111\u{200B}1111",
                "card [card]",
            ),
        ] {
            assert_eq!(Scanner::builtin().redact(text), want, "{text}");
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        let text = "Version 2.4.1 shipped on 2024-05-01 at 10:30 for $1,299.00 (order 123456789).";
        assert!(matches!(Scanner::builtin().redact(text), Cow::Borrowed(_)));
    }

    #[test]
    fn overlapping_findings_merge() {
        let scanner = Scanner::new(
            &Kind::ALL,
            vec![Arc::new(
                CustomDetector::new("digits", "[0-9]{3}-[0-9]{2}", Validator::None)
                    .expect("pattern"),
            )],
        );
        let found = scanner.scan("x 123-45-6789 y");
        assert_eq!(
            found,
            vec![Finding {
                kind: "ssn",
                range: 2..13
            }]
        );
    }
}
