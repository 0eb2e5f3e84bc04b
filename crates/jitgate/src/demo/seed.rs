//! The demo's dataset: customers with realistic (and entirely made-up) personal data, some of it
//! hidden in free-text notes, and their orders. Generated from a fixed seed, so every run shows
//! the same rows.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

pub const CUSTOMERS: usize = 1200;
pub const ORDERS: usize = 5000;

const FIRST: &[&str] = &[
    "Ada", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Anders", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quist", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zimmer",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.test",
    "inbox.example",
    "post.example.org",
];
const PRODUCTS: &[&str] = &[
    "Widget",
    "Gadget",
    "Gizmo",
    "Doohickey",
    "Sprocket",
    "Thingamajig",
];

/// SQL that creates and fills `customers` and `orders`.
pub fn sql() -> String {
    let mut rng = StdRng::seed_from_u64(0x6a17_6a7e);
    let mut out = String::from(
        "CREATE TABLE customers (\n\
           id integer PRIMARY KEY,\n\
           full_name text NOT NULL,\n\
           email text NOT NULL,\n\
           ssn text NOT NULL,\n\
           credit_card text NOT NULL,\n\
           phone text NOT NULL,\n\
           birth_date date NOT NULL,\n\
           notes text\n\
         );\n\
         CREATE TABLE orders (\n\
           id integer PRIMARY KEY,\n\
           customer_id integer NOT NULL REFERENCES customers(id),\n\
           product text NOT NULL,\n\
           amount numeric(10,2) NOT NULL,\n\
           ordered_at timestamptz NOT NULL\n\
         );\n\
         COPY customers FROM STDIN;\n",
    );
    for id in 1..=CUSTOMERS {
        let c = Customer::generate(id, &mut rng);
        let _ = writeln!(
            out,
            "{id}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.name, c.email, c.ssn, c.card, c.phone, c.birth_date, c.notes
        );
    }
    out.push_str("\\.\nCOPY orders FROM STDIN;\n");
    for id in 1..=ORDERS {
        let customer = rng.gen_range(1..=CUSTOMERS);
        let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
        let cents: u32 = rng.gen_range(199..99_999);
        let day = rng.gen_range(1..=28);
        let month = rng.gen_range(1..=12);
        let _ = writeln!(
            out,
            "{id}\t{customer}\t{product}\t{}.{:02}\t2026-{month:02}-{day:02} 12:00:00+00",
            cents / 100,
            cents % 100
        );
    }
    out.push_str("\\.\nANALYZE customers; ANALYZE orders;\n");
    out
}

/// One made-up customer.
pub struct Customer {
    pub name: String,
    pub email: String,
    pub ssn: String,
    pub card: String,
    pub phone: String,
    pub birth_date: String,
    pub notes: String,
}

impl Customer {
    fn generate(id: usize, rng: &mut StdRng) -> Customer {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let domain = DOMAINS[rng.gen_range(0..DOMAINS.len())];
        let email = format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            id
        );
        let ssn = ssn(rng);
        let card = card(rng);
        let phone = format!(
            "+1-{}-{:03}-{:04}",
            rng.gen_range(201..990),
            rng.gen_range(200..999),
            rng.gen_range(0..10_000)
        );
        let birth_date = format!(
            "{}-{:02}-{:02}",
            rng.gen_range(1940..2005),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28)
        );
        let notes = match id % 4 {
            0 => format!("Called from {phone}, asked to update the card on file."),
            1 => format!("Prefers e-mail ({email}); verified identity with SSN {ssn}."),
            2 => "Loyal customer since 2019, no open issues.".to_owned(),
            _ => format!("Refund sent to card {card} after a damaged delivery."),
        };
        Customer {
            name: format!("{first} {last}"),
            email,
            ssn,
            card,
            phone,
            birth_date,
            notes,
        }
    }
}

/// A well-formed SSN: area not 000, 666 or 900–999; group not 00; serial not 0000.
fn ssn(rng: &mut StdRng) -> String {
    let area = loop {
        let a = rng.gen_range(1..900);
        if a != 666 {
            break a;
        }
    };
    format!(
        "{area:03}-{:02}-{:04}",
        rng.gen_range(1..100),
        rng.gen_range(1..10_000)
    )
}

/// A 16-digit Visa-style number that passes the Luhn check.
fn card(rng: &mut StdRng) -> String {
    let mut digits: Vec<u32> = vec![4];
    digits.extend((0..14).map(|_| rng.gen_range(0..10)));
    digits.push(luhn_check_digit(&digits));
    digits
        .chunks(4)
        .map(|c| {
            c.iter()
                .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn luhn_check_digit(payload: &[u32]) -> u32 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn_valid(number: &str) -> bool {
        let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
        let (payload, check) = digits.split_at(digits.len() - 1);
        luhn_check_digit(payload) == check[0]
    }

    #[test]
    fn generated_cards_pass_luhn_and_ssns_are_well_formed() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(luhn_valid(&card(&mut rng)));
            let s = ssn(&mut rng);
            let area: u32 = s[..3].parse().unwrap();
            assert!(area != 0 && area != 666 && area < 900, "{s}");
            assert_ne!(&s[4..6], "00");
            assert_ne!(&s[7..], "0000");
        }
    }

    #[test]
    fn the_dataset_is_the_same_every_time() {
        assert_eq!(sql(), sql());
        assert!(sql().lines().count() > CUSTOMERS + ORDERS);
    }
}
