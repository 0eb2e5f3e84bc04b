//! Generated corpus lines: labelled positives of every detector kind in varied sentences, and hard
//! negatives of the shapes that fool pattern-only detectors. Deterministic (seeded), so a failure
//! reproduces. Shared by the corpus test and the benchmarks.

#![allow(dead_code)]

/// splitmix64: small, seedable, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn chars_from(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(*self.pick(alphabet))).collect()
    }
}

const WORDS: &[&str] = &[
    "the", "customer", "asked", "about", "their", "account", "and", "we", "updated", "record",
    "ticket", "notes", "please", "verify", "before", "shipping", "approved", "by", "support",
    "team", "today",
];

fn prose(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| *rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A labelled value inside a sentence.
fn sentence(rng: &mut Rng, kind: &str, value: &str, lead: &str) -> String {
    let (n_before, n_after) = (rng.range(1, 6) as usize, rng.range(1, 6) as usize);
    let before = prose(rng, n_before);
    let after = prose(rng, n_after);
    let end = *rng.pick(&[".", ",", ";", "", ")", " !"]);
    format!("{before} {lead}«{kind}:{value}»{end} {after}")
}

fn luhn_complete(body: &str) -> String {
    for c in 0..10 {
        let candidate = format!("{body}{c}");
        let mut sum = 0;
        for (i, d) in candidate.bytes().rev().enumerate() {
            let mut d = u32::from(d - b'0');
            if i % 2 == 1 {
                d *= 2;
                if d > 9 {
                    d -= 9;
                }
            }
            sum += d;
        }
        if sum % 10 == 0 {
            return candidate;
        }
    }
    unreachable!("one check digit always completes a Luhn number")
}

fn group(number: &str, sizes: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    for &size in sizes {
        if at >= number.len() {
            break;
        }
        let end = (at + size).min(number.len());
        parts.push(&number[at..end]);
        at = end;
    }
    if at < number.len() {
        parts.push(&number[at..]);
    }
    parts.join(sep)
}

/// ASCII digits as fullwidth ones (`１２３`), as East Asian input methods type them.
pub fn fullwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn ssn(rng: &mut Rng) -> (String, &'static str) {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    let (group_no, serial) = (rng.range(1, 99), rng.range(1, 9999));
    let with = |sep: &str| format!("{area:03}{sep}{group_no:02}{sep}{serial:04}");
    match rng.below(12) {
        0 => (with(" "), "SSN "),
        1 => (
            with(""),
            *rng.pick(&[
                "SSN: ",
                "ssn ",
                "social security number ",
                "SS# ",
                "Social-Security no. ",
                "social_security: ",
            ]),
        ),
        2 => (with("."), ""),
        3 => (with("–"), ""),
        4 => (with("_"), ""),
        5 => (fullwidth(&with("-")), ""),
        6 => (with(" - "), ""),
        7 => (with("/"), ""),
        _ => (with("-"), ""),
    }
}

fn card(rng: &mut Rng) -> String {
    let (prefix, len): (String, usize) = match rng.below(9) {
        0 => ("4".into(), *rng.pick(&[13, 16, 19])),
        1 => (rng.range(51, 55).to_string(), 16),
        2 => (rng.range(2221, 2720).to_string(), 16),
        3 => (rng.pick(&["34", "37"]).to_string(), 15),
        4 => (rng.pick(&["6011", "65", "644", "649"]).to_string(), 16),
        5 => (rng.range(3528, 3589).to_string(), 16),
        6 => (rng.pick(&["36", "300", "305", "38"]).to_string(), 14),
        7 => ("62".into(), rng.range(16, 19) as usize),
        _ => (
            rng.pick(&["6759", "5018", "6304"]).to_string(),
            rng.range(13, 19) as usize,
        ),
    };
    let body = format!("{prefix}{}", rng.digits(len - prefix.len() - 1));
    let number = luhn_complete(&body);
    let sep = *rng.pick(&[" ", "-", ".", "  ", "/", " - ", "–", "\u{a0}"]);
    match (rng.below(5), len) {
        (0, _) => number,
        (1, _) => fullwidth(&group(&number, &[4, 4, 4, 4], " ")),
        (_, 15) => group(&number, &[4, 6, 5], sep),
        (2, 16) => format!(
            "{}\\n{}",
            group(&number[..8], &[4, 4], " "),
            group(&number[8..], &[4, 4], " ")
        ),
        _ => group(&number, &[4, 4, 4, 4], sep),
    }
}

/// Country, BBAN alphabet per position class ('9' digits, 'A' letters, 'X' either), length.
const IBAN_FORMATS: &[(&str, &str)] = &[
    ("DE", "999999999999999999"),
    ("GB", "AAAA99999999999999"),
    ("FR", "9999999999XXXXXXXXXXX99"),
    ("NL", "AAAA9999999999"),
    ("ES", "99999999999999999999"),
    ("IT", "A9999999999XXXXXXXXXXXX"),
    ("NO", "99999999999"),
    ("CH", "99999XXXXXXXXXXXX"),
    ("PL", "999999999999999999999999"),
];

fn iban(rng: &mut Rng, valid: bool) -> String {
    let (country, format) = *rng.pick(IBAN_FORMATS);
    let bban: String = format
        .bytes()
        .map(|c| match c {
            b'9' => char::from(b'0' + rng.below(10) as u8),
            b'A' => char::from(b'A' + rng.below(26) as u8),
            _ => *rng.pick(&['0', '5', 'K', 'Z', '7']),
        })
        .collect();
    let numeric: String = format!("{bban}{country}00")
        .chars()
        .map(|c| c.to_digit(36).map_or(String::new(), |d| d.to_string()))
        .collect();
    let rem = numeric
        .bytes()
        .fold(0u64, |acc, d| (acc * 10 + u64::from(d - b'0')) % 97);
    let mut check = 98 - rem;
    if !valid {
        check = (check + 1 + rng.below(50)) % 97 + 2;
        if check == 98 - rem {
            check = if check > 2 { check - 1 } else { check + 1 };
        }
    }
    let iban = format!("{country}{check:02}{bban}");
    match rng.below(4) {
        0 => iban,
        1 => group(&iban, &[4; 9], "."),
        _ => group(&iban, &[4; 9], " "),
    }
}

fn email(rng: &mut Rng) -> String {
    const LOCAL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let local = match rng.below(3) {
        0 => {
            let len = rng.range(1, 12) as usize;
            rng.chars_from(LOCAL, len)
        }
        1 => format!("{}.{}", rng.chars_from(LOCAL, 4), rng.chars_from(LOCAL, 6)),
        _ => format!("{}+{}", rng.chars_from(LOCAL, 5), rng.chars_from(LOCAL, 3)),
    };
    let domain = rng.pick(&[
        "example.com",
        "mail.example.org",
        "corp.example.co.uk",
        "example.io",
        "sub-domain.example.net",
    ]);
    let at = if rng.below(6) == 0 { "＠" } else { "@" };
    format!("{local}{at}{domain}")
}

fn phone(rng: &mut Rng) -> (String, &'static str) {
    let area = format!("{}{}", rng.range(2, 9), rng.digits(2)).replace("11", "12");
    let exchange = format!("{}{}", rng.range(2, 9), rng.digits(2));
    let line = rng.digits(4);
    match rng.below(9) {
        7 => (format!("{area}/{exchange}/{line}"), ""),
        8 => (fullwidth(&format!("{area}-{exchange}-{line}")), ""),
        0 => (format!("({area}) {exchange}-{line}"), ""),
        1 => (format!("{area}-{exchange}-{line}"), ""),
        2 => (format!("{area}.{exchange}.{line}"), ""),
        3 => (format!("+1 {area} {exchange} {line}"), ""),
        4 => (format!("+44 20 {} {}", rng.digits(4), rng.digits(4)), ""),
        5 => (format!("1-{area}-{exchange}-{line}"), ""),
        _ => (
            format!("{area}{exchange}{line}"),
            *rng.pick(&["phone ", "tel: ", "mobile: ", "call "]),
        ),
    }
}

fn ip(rng: &mut Rng) -> String {
    if rng.below(3) > 0 {
        let octets: Vec<String> = (0..4).map(|_| rng.below(256).to_string()).collect();
        return octets.join(".");
    }
    let groups: Vec<String> = (0..8)
        .map(|_| format!("{:x}", rng.below(0x10000)))
        .collect();
    match rng.below(3) {
        0 => groups.join(":"),
        1 => format!("2001:db8::{}", groups[..2].join(":")),
        _ => format!("fe80::{}", groups[..4].join(":")),
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn jwt(rng: &mut Rng) -> String {
    let alg = rng.pick(&["HS256", "RS256", "ES384", "none"]);
    let header = format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}");
    let payload = format!(
        "{{\"sub\":\"{}\",\"iat\":{}}}",
        rng.digits(8),
        rng.digits(10)
    );
    let signature = if *alg == "none" {
        String::new()
    } else {
        rng.chars_from(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            43,
        )
    };
    format!(
        "{}.{}.{signature}",
        base64url(header.as_bytes()),
        base64url(payload.as_bytes())
    )
}

fn private_key(rng: &mut Rng) -> String {
    let label = rng.pick(&[
        "RSA PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ]);
    let lines: Vec<String> = (0..rng.range(1, 4))
        .map(|_| {
            rng.chars_from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                64,
            )
        })
        .collect();
    format!(
        "-----BEGIN {label}-----\\n{}\\n-----END {label}-----",
        lines.join("\\n")
    )
}

/// `n` labelled lines of each kind, as (class, line with «kind:value» markers).
pub fn positives(rng: &mut Rng, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (v, lead) = ssn(rng);
        out.push(("generated: ssn".into(), sentence(rng, "ssn", &v, lead)));
        let v = card(rng);
        out.push(("generated: card".into(), sentence(rng, "card", &v, "card ")));
        let v = iban(rng, true);
        out.push(("generated: iban".into(), sentence(rng, "iban", &v, "IBAN ")));
        let v = email(rng);
        out.push(("generated: email".into(), sentence(rng, "email", &v, "")));
        let (v, lead) = phone(rng);
        out.push(("generated: phone".into(), sentence(rng, "phone", &v, lead)));
        let v = ip(rng);
        out.push(("generated: ip".into(), sentence(rng, "ip", &v, "from ")));
        let key = format!(
            "{}{}",
            rng.pick(&["AKIA", "ASIA"]),
            rng.chars_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        );
        out.push((
            "generated: aws_key".into(),
            sentence(rng, "aws_key", &key, "key="),
        ));
        let v = jwt(rng);
        out.push(("generated: jwt".into(), sentence(rng, "jwt", &v, "Bearer ")));
        let v = private_key(rng);
        out.push((
            "generated: private_key".into(),
            sentence(rng, "private_key", &v, ""),
        ));
    }
    out
}

/// `n` lines of each class of hard negative.
pub fn negatives(rng: &mut Rng, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push =
        |class: &str, line: String| out.push((format!("generated negative: {class}"), line));
    for _ in 0..n {
        push(
            "nine-digit order number",
            format!("Order #{} shipped", rng.digits(9)),
        );
        push(
            "zip+4",
            format!(
                "Mail to Springfield, IL {}-{}",
                rng.digits(5),
                rng.digits(4)
            ),
        );
        push(
            "date",
            format!(
                "due {}-{:02}-{:02} or {:02}/{:02}/{}",
                rng.range(1990, 2030),
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(1990, 2030)
            ),
        );
        push(
            "timestamp",
            format!(
                "at {}-0{}-1{}T{:02}:{:02}:{:02}.{}Z",
                rng.range(2000, 2030),
                rng.range(1, 9),
                rng.range(0, 9),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.digits(6)
            ),
        );
        push(
            "version",
            format!(
                "version {}.{}.{}.{} and v{}.{}.{}",
                rng.below(20),
                rng.below(20),
                rng.below(300),
                rng.below(9999),
                rng.below(10),
                rng.below(30),
                rng.below(100)
            ),
        );
        let uuid = format!(
            "{}-{}-4{}-a{}-{}",
            rng.chars_from(b"0123456789abcdef", 8),
            rng.chars_from(b"0123456789abcdef", 4),
            rng.chars_from(b"0123456789abcdef", 3),
            rng.chars_from(b"0123456789abcdef", 3),
            rng.chars_from(b"0123456789abcdef", 12)
        );
        push("uuid", format!("request id {uuid} failed"));
        push(
            "price",
            format!(
                "total ${},{}.{} incl. tax {}.{}%",
                rng.range(1, 999),
                rng.digits(3),
                rng.digits(2),
                rng.range(1, 25),
                rng.digits(1)
            ),
        );
        push(
            "time / ratio",
            format!(
                "{:02}:{:02}:{:02} ratio {}:{}",
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.range(1, 32),
                rng.range(1, 32)
            ),
        );
        push(
            "ipv4-like out of range",
            format!(
                "value {}.{}.{}.{}",
                rng.range(256, 999),
                rng.below(256),
                rng.below(256),
                rng.below(256)
            ),
        );
        let area = rng.pick(&["000", "666", "900", "955", "999"]);
        push(
            "never-issued ssn",
            format!(
                "SSN {area}-{:02}-{:04}",
                rng.range(1, 99),
                rng.range(1, 9999)
            ),
        );
        push(
            "invalid nanp",
            format!(
                "ext {}{}-{}-{}",
                rng.range(0, 1),
                rng.digits(2),
                rng.digits(3),
                rng.digits(4)
            ),
        );
        push("iban bad checksum", format!("IBAN {}", iban(rng, false)));
        push(
            "mac address",
            format!(
                "hw {}",
                (0..6)
                    .map(|_| format!("{:02X}", rng.below(256)))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
        );
        push(
            "sha / hex",
            format!("commit {}", rng.chars_from(b"0123456789abcdef", 40)),
        );
        push(
            "16-digit reference",
            format!("Tracking number {}", rng.digits(16)),
        );
        let reference = loop {
            let digits = rng.digits(16);
            if !jitgate_masking::detect::luhn_valid(digits.as_bytes()) {
                break digits;
            }
        };
        let sep = *rng.pick(&[" ", "-", ".", "/"]);
        push(
            "16-digit non-Luhn reference, grouped",
            format!("Ref {}", group(&reference, &[4, 4, 4, 4], sep)),
        );
        push(
            "fullwidth order number",
            format!("Order #{} shipped", fullwidth(&rng.digits(9))),
        );
        push(
            "dotted date",
            format!(
                "on {:02}.{:02}.{} at {:02}.{:02}",
                rng.range(1, 28),
                rng.range(1, 12),
                rng.range(1990, 2030),
                rng.below(24),
                rng.below(60)
            ),
        );
    }
    out
}
