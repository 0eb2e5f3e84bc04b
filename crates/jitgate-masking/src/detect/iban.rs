//! IBANs: a country code, two check digits and a national account number of the country's fixed
//! length, printed bare or in groups of four; valid when mod 97 of the rearranged number is 1.

use super::text::{is_word, sep_run, MAX_SEP};
use super::validate::mod97_valid;

/// Total IBAN length per country (SWIFT IBAN registry).
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// An IBAN starting at `s` (two upper-case letters followed by two digits).
pub(super) fn iban(t: &[u8], s: usize) -> Option<usize> {
    let country = t.get(s..s + 2)?;
    let &(_, len) = LENGTHS.iter().find(|(c, _)| c[..] == *country)?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = s;
    while n < len {
        let b = *t.get(i)?;
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            chars[n] = b;
            n += 1;
            i += 1;
        } else if n % 4 == 0 && n > 0 && (1..=MAX_SEP).contains(&sep_run(t, i)) {
            // Printed IBANs group by four (with spaces, dots or dashes); a separator anywhere
            // else ends the number.
            i += sep_run(t, i);
        } else {
            return None;
        }
    }
    let whole_word = t.get(i).is_none_or(|b| !is_word(*b));
    (chars[2].is_ascii_digit()
        && chars[3].is_ascii_digit()
        && whole_word
        && mod97_valid(&chars[..len]))
    .then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_and_bare_ibans() {
        for s in [
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "NO9386011117947",
            "DE89.3704.0044.0532.0130.00",
            "DE89-3704-0044-0532-0130-00",
        ] {
            assert_eq!(iban(s.as_bytes(), 0), Some(s.len()), "{s}");
        }
        assert_eq!(iban(b"DE89 3704 0044 0532 0130 01", 0), None, "checksum");
        assert_eq!(iban(b"DE89 3704 0044 0532 0130", 0), None, "too short");
        assert_eq!(iban(b"ZZ89370400440532013000", 0), None, "no such country");
    }
}
