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

/// One made-up order.
pub struct Order {
    pub id: usize,
    pub customer: usize,
    pub product: &'static str,
    pub cents: u32,
    /// `2026-MM-DD`.
    pub day: String,
}

/// The dataset's rows, the same every time.
pub fn rows() -> (Vec<Customer>, Vec<Order>) {
    let mut rng = StdRng::seed_from_u64(0x6a17_6a7e);
    let customers = (1..=CUSTOMERS)
        .map(|id| Customer::generate(id, &mut rng))
        .collect();
    let orders = (1..=ORDERS)
        .map(|id| {
            let customer = rng.gen_range(1..=CUSTOMERS);
            let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
            let cents: u32 = rng.gen_range(199..99_999);
            let day = rng.gen_range(1..=28);
            let month = rng.gen_range(1..=12);
            Order {
                id,
                customer,
                product,
                cents,
                day: format!("2026-{month:02}-{day:02}"),
            }
        })
        .collect();
    (customers, orders)
}

/// SQL that creates and fills `customers` and `orders` (PostgreSQL).
pub fn sql() -> String {
    let (customers, orders) = rows();
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
    for c in &customers {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.id, c.name, c.email, c.ssn, c.card, c.phone, c.birth_date, c.notes
        );
    }
    out.push_str("\\.\nCOPY orders FROM STDIN;\n");
    for o in &orders {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}.{:02}\t{} 12:00:00+00",
            o.id,
            o.customer,
            o.product,
            o.cents / 100,
            o.cents % 100,
            o.day
        );
    }
    out.push_str("\\.\nANALYZE customers; ANALYZE orders;\n");
    out
}

/// The same tables and rows for MariaDB/MySQL, in database `db`.
pub fn mysql_sql(db: &str) -> String {
    let (customers, orders) = rows();
    let mut out = format!(
        "USE `{db}`;\n\
         CREATE TABLE customers (\n\
           id int PRIMARY KEY,\n\
           full_name varchar(100) NOT NULL,\n\
           email varchar(100) NOT NULL,\n\
           ssn varchar(11) NOT NULL,\n\
           credit_card varchar(19) NOT NULL,\n\
           phone varchar(20) NOT NULL,\n\
           birth_date date NOT NULL,\n\
           notes text\n\
         ) CHARACTER SET utf8mb4;\n\
         CREATE TABLE orders (\n\
           id int PRIMARY KEY,\n\
           customer_id int NOT NULL REFERENCES customers(id),\n\
           product varchar(40) NOT NULL,\n\
           amount decimal(10,2) NOT NULL,\n\
           ordered_at datetime NOT NULL\n\
         ) CHARACTER SET utf8mb4;\n"
    );
    for chunk in customers.chunks(200) {
        out.push_str("INSERT INTO customers VALUES\n");
        let values: Vec<String> = chunk
            .iter()
            .map(|c| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {})",
                    c.id,
                    quote(&c.name),
                    quote(&c.email),
                    quote(&c.ssn),
                    quote(&c.card),
                    quote(&c.phone),
                    quote(&c.birth_date),
                    quote(&c.notes)
                )
            })
            .collect();
        out.push_str(&values.join(",\n"));
        out.push_str(";\n");
    }
    for chunk in orders.chunks(500) {
        out.push_str("INSERT INTO orders VALUES\n");
        let values: Vec<String> = chunk
            .iter()
            .map(|o| {
                format!(
                    "({}, {}, {}, {}.{:02}, '{} 12:00:00')",
                    o.id,
                    o.customer,
                    quote(o.product),
                    o.cents / 100,
                    o.cents % 100,
                    o.day
                )
            })
            .collect();
        out.push_str(&values.join(",\n"));
        out.push_str(";\n");
    }
    out.push_str("ANALYZE TABLE customers, orders;\n");
    out
}

/// A MariaDB string literal that reads the same under every `sql_mode` (no backslashes in the
/// data; quotes doubled).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One made-up customer.
pub struct Customer {
    pub id: usize,
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
            id,
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
        assert_eq!(mysql_sql("app"), mysql_sql("app"));
    }

    /// Both engines get the same rows: every customer's values appear in the MariaDB script
    /// exactly as in PostgreSQL's COPY data.
    #[test]
    fn mariadb_gets_the_same_rows() {
        let (pg, my) = (sql(), mysql_sql("app"));
        let (customers, _) = rows();
        for c in customers.iter().step_by(97) {
            for value in [&c.name, &c.email, &c.ssn, &c.card, &c.phone, &c.notes] {
                assert!(
                    pg.contains(value.as_str()) && my.contains(value.as_str()),
                    "{value}"
                );
            }
        }
        assert_eq!(my.matches("\n(").count(), CUSTOMERS + ORDERS);
    }
}
