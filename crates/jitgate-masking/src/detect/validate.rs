//! Checksums and number-plan rules: what separates a real identifier from a lookalike number.

/// Luhn (mod 10) over ASCII digits; other bytes are skipped, so separators may stay in.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for &b in digits.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 1 && sum.is_multiple_of(10)
}

/// ISO 7064 mod 97-10 as IBANs use it: the first four characters move to the end, letters count
/// as 10–35, and the whole number mod 97 must be 1. Spaces are skipped; other characters fail.
pub fn mod97_valid(text: &[u8]) -> bool {
    let chars: Vec<u8> = text.iter().copied().filter(|b| *b != b' ').collect();
    if chars.len() < 5 {
        return false;
    }
    let mut rem = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' | b'a'..=b'z' => {
                let v = u32::from(c.to_ascii_uppercase() - b'A') + 10;
                (rem * 100 + v) % 97
            }
            _ => return false,
        };
    }
    rem == 1
}

/// The SSA's rules for numbers never issued: area 000, 666 and 900–999, group 00, serial 0000.
pub fn ssn_valid(area: u16, group: u16, serial: u16) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Whether a card number's prefix and length belong to a major network (Visa, Mastercard
/// including the 2221–2720 range, American Express, Discover, JCB, Diners Club, UnionPay,
/// Maestro). `digits` are ASCII digits only.
pub fn card_issuer_valid(digits: &[u8]) -> bool {
    let len = digits.len();
    let prefix = |n: usize| -> u32 {
        digits[..n.min(len)]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    match digits.first() {
        Some(b'4') => matches!(len, 13 | 16 | 19),
        Some(b'5') => ((51..=55).contains(&p2) && len == 16) || maestro(p2, p4, len),
        Some(b'2') => (2221..=2720).contains(&p4) && len == 16,
        Some(b'3') => {
            (matches!(p2, 34 | 37) && len == 15)
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
                || (((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&len))
        }
        Some(b'6') => {
            let discover = p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || (622_126..=622_925).contains(&p6);
            (discover && (16..=19).contains(&len))
                || (p2 == 62 && (16..=19).contains(&len))
                || maestro(p2, p4, len)
        }
        _ => false,
    }
}

fn maestro(p2: u32, p4: u32, len: usize) -> bool {
    let prefix = matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) || p2 == 50
        || (56..=69).contains(&p2);
    // Maestro also issued 12-digit numbers; the detector looks at 13 to 19 digits, as twelve
    // bare digits are too often something else.
    prefix && (13..=19).contains(&len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn_valid(b"4111 1111 1111 1111"));
        assert!(!luhn_valid(b"4111 1111 1111 1112"));
        assert!(mod97_valid(b"DE89 3704 0044 0532 0130 00"));
        assert!(mod97_valid(b"GB82WEST12345698765432"));
        assert!(!mod97_valid(b"DE89 3704 0044 0532 0130 01"));
        assert!(ssn_valid(123, 45, 6789));
        assert!(!ssn_valid(666, 45, 6789) && !ssn_valid(900, 1, 1) && !ssn_valid(1, 0, 1));
    }

    #[test]
    fn issuers() {
        for ok in [
            "4111111111111111",
            "5555555555554444",
            "2221000000000009",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "30569309025904",
        ] {
            assert!(card_issuer_valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "1234567890123456",
            "2720990000000000000",
            "9111111111111111",
        ] {
            assert!(!card_issuer_valid(bad.as_bytes()), "{bad}");
        }
    }
}
