//! Binary-protocol result rows (COM_STMT_EXECUTE) for a masked subject: each string-like value
//! through the content detectors, as text rows are. The column types come from the result's
//! column definitions; a type jitgate cannot size ends the session rather than pass unread.

use bytes::BytesMut;
use jitgate_masking::Scanner;

use crate::wire;

/// The type byte of a column definition packet (protocol 4.1).
pub fn column_type(def: &[u8]) -> Option<u8> {
    let mut r = wire::Reader::new(def);
    for _ in 0..6 {
        r.lenenc_bytes()?;
    }
    r.lenenc()?;
    r.u16()?;
    r.u32()?;
    r.u8()
}

/// How a binary value of column type `ty` is framed.
enum Framing {
    Fixed(usize),
    /// One length byte, then that many bytes (dates and times).
    Short,
    /// A length-encoded string: what the detectors read.
    Lenenc,
}

fn framing(ty: u8) -> Option<Framing> {
    Some(match ty {
        0x06 => Framing::Fixed(0),
        0x01 => Framing::Fixed(1),
        0x02 | 0x0d => Framing::Fixed(2),
        0x03 | 0x09 | 0x04 => Framing::Fixed(4),
        0x08 | 0x05 => Framing::Fixed(8),
        0x07 | 0x0a | 0x0b | 0x0c | 0x11 | 0x12 | 0x13 => Framing::Short,
        0x00 | 0x0f | 0x10 | 0xf5..=0xff => Framing::Lenenc,
        _ => return None,
    })
}

/// The row with its string values through the detectors; `None` when nothing changed.
pub fn scrub(scanner: &Scanner, types: &[u8], row: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let malformed = "a malformed binary row";
    let bitmap_len = (types.len() + 7 + 2) / 8;
    if row.first() != Some(&0x00) || row.len() < 1 + bitmap_len {
        return Err(malformed);
    }
    let bitmap = &row[1..1 + bitmap_len];
    let mut r = wire::Reader::new(&row[1 + bitmap_len..]);
    let mut out = BytesMut::with_capacity(row.len());
    out.extend_from_slice(&row[..1 + bitmap_len]);
    let mut changed = false;
    for (i, ty) in types.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            continue;
        }
        match framing(*ty).ok_or("a binary value of a type jitgate cannot read")? {
            Framing::Fixed(n) => out.extend_from_slice(r.take(n).ok_or(malformed)?),
            Framing::Short => {
                let n = r.u8().ok_or(malformed)?;
                out.extend_from_slice(&[n]);
                out.extend_from_slice(r.take(usize::from(n)).ok_or(malformed)?);
            }
            Framing::Lenenc => {
                let value = r.lenenc_bytes().ok_or(malformed)?;
                let mut scrubbed = Vec::new();
                if scanner.redact_into(value, &mut scrubbed) {
                    changed = true;
                    wire::put_lenenc(&mut out, scrubbed.len() as u64);
                    out.extend_from_slice(&scrubbed);
                } else {
                    wire::put_lenenc(&mut out, value.len() as u64);
                    out.extend_from_slice(value);
                }
            }
        }
    }
    if !r.rest().is_empty() {
        return Err(malformed);
    }
    Ok(changed.then(|| out.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> Scanner {
        jitgate_masking::MaskingPolicy::disabled().scanner().clone()
    }

    /// A row of (int, NULL, varchar, date): the varchar's SSN is redacted, the rest kept byte
    /// for byte, lengths rewritten.
    #[test]
    fn string_values_pass_the_detectors_and_the_rest_is_kept() {
        let types = [0x03, 0x0f, 0xfd, 0x0a];
        let mut row = vec![0x00, 0b0000_1000];
        row.extend_from_slice(&7i32.to_le_bytes());
        let text = b"ssn 123-45-6789";
        row.push(text.len() as u8);
        row.extend_from_slice(text);
        row.extend_from_slice(&[4, 0xe8, 0x07, 3, 5]);
        let out = scrub(&scanner(), &types, &row).unwrap().expect("changed");
        let shown = String::from_utf8_lossy(&out);
        assert!(!shown.contains("123-45-6789"), "{shown}");
        assert_eq!(&out[..6], &row[..6]);
        assert!(out.ends_with(&[4, 0xe8, 0x07, 3, 5]));
        assert_eq!(
            scrub(&scanner(), &types, &row[..row.len() - 1]),
            Err("a malformed binary row")
        );
        assert!(scrub(&scanner(), &[0x42], &[0x00, 0x00, 1]).is_err());
    }
}
