//! Masks as transforms of values in PostgreSQL's binary format.
//!
//! Text types (and json) are sent as the same bytes in both formats, so they share the text
//! transforms; jsonb adds a version byte. Fixed-width types are decoded, masked and encoded.
//! Keyed masks hash the value's text form, exactly as the SQL (`col::text`) and text transforms
//! do, so a pseudonym is the same whichever format a client asked for.

use super::dates::{
    truncate_binary_date, truncate_binary_timestamp, MICROS_PER_DAY, PG_EPOCH_DAYS,
};
use super::keyed::{int2_hash, int4_hash, int8_hash, push_uuid, uuid_hash};
use super::text::{float_bucket_value, int_bucket, push_int, subkey};
use super::{Generalization, Mask, MaskError, Written};
use crate::key::{MaskKey, Purpose};
use crate::types::{PgKind, PgTypeInfo};

/// Version byte of jsonb's binary format.
const JSONB_VERSION: u8 = 1;

pub(super) fn apply(
    mask: &Mask,
    value: &[u8],
    ty: &PgTypeInfo,
    key: &MaskKey,
    out: &mut Vec<u8>,
) -> Result<Written, MaskError> {
    use PgKind::*;
    if *mask == Mask::Null {
        return Ok(Written::Null);
    }
    match ty.kind() {
        Text | Varchar | Bpchar | Name | Json => super::text::apply(mask, value, ty, key, out),
        Jsonb => match value.split_first() {
            Some((&JSONB_VERSION, json)) => {
                out.push(JSONB_VERSION);
                super::text::apply(mask, json, ty, key, out)
            }
            _ => Err(Mask::unrecognised(ty)),
        },
        Int2 => {
            let v = i16::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Hash => int2_hash(subkey(mask, key, Purpose::Hash)?, &int_text(i64::from(v))),
                Mask::Generalize(Generalization::Bucket(w)) => int_bucket(i64::from(v), *w) as i16,
                _ => 0,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Int4 => {
            let v = i32::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Hash => int4_hash(subkey(mask, key, Purpose::Hash)?, &int_text(i64::from(v))),
                Mask::Generalize(Generalization::Bucket(w)) => int_bucket(i64::from(v), *w) as i32,
                _ => 0,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Int8 => {
            let v = i64::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Hash => int8_hash(subkey(mask, key, Purpose::Hash)?, &int_text(v)),
                Mask::Generalize(Generalization::Bucket(w)) => int_bucket(v, *w),
                _ => 0,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Float4 => {
            let v = f32::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Generalize(Generalization::Bucket(w)) if v.is_finite() => {
                    float_bucket_value(f64::from(v), *w, true) as f32
                }
                Mask::Generalize(_) => v,
                _ => 0.0,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Float8 => {
            let v = f64::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Generalize(Generalization::Bucket(w)) if v.is_finite() => {
                    float_bucket_value(v, *w, false)
                }
                Mask::Generalize(_) => v,
                _ => 0.0,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Date => {
            let days = i32::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Generalize(g) => truncate_binary_date(days, *g),
                _ => -(PG_EPOCH_DAYS as i32),
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Timestamp | Timestamptz => {
            let micros = i64::from_be_bytes(fixed(value, ty)?);
            let masked = match mask {
                Mask::Generalize(g) => truncate_binary_timestamp(micros, *g),
                _ => -PG_EPOCH_DAYS * MICROS_PER_DAY,
            };
            out.extend_from_slice(&masked.to_be_bytes());
            Ok(Written::Value)
        }
        Bool => {
            fixed::<1>(value, ty)?;
            out.push(0);
            Ok(Written::Value)
        }
        Uuid => {
            let id: [u8; 16] = fixed(value, ty)?;
            match mask {
                Mask::Hash => {
                    let mut text = Vec::with_capacity(36);
                    push_uuid(&id, &mut text);
                    out.extend_from_slice(&uuid_hash(subkey(mask, key, Purpose::Hash)?, &text));
                }
                _ => out.extend_from_slice(&[0; 16]),
            }
            Ok(Written::Value)
        }
        Bytea => {
            if *mask == Mask::Hash {
                out.extend_from_slice(&subkey(mask, key, Purpose::Hash)?.mac(value));
            }
            Ok(Written::Value)
        }
        Numeric => match mask {
            // ndigits 0, weight 0, sign positive, dscale 0: zero.
            Mask::Redact => {
                out.extend_from_slice(&[0; 8]);
                Ok(Written::Value)
            }
            _ => Err(mask.unsupported(ty)),
        },
        Other => Ok(Written::Null),
    }
}

/// A fixed-width value, or an error when the upstream sent another width.
fn fixed<const N: usize>(value: &[u8], ty: &PgTypeInfo) -> Result<[u8; N], MaskError> {
    value.try_into().map_err(|_| Mask::unrecognised(ty))
}

fn int_text(v: i64) -> Vec<u8> {
    let mut text = Vec::with_capacity(20);
    push_int(&mut text, v);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(mask: &Mask, value: &[u8], oid: u32) -> Result<(Written, Vec<u8>), MaskError> {
        let key = MaskKey::new(b"test key of sixteen+ bytes", "test").expect("key");
        let mut out = Vec::new();
        let written = mask.apply_binary(value, &PgTypeInfo::from_oid(oid), &key, &mut out)?;
        Ok((written, out))
    }

    fn text(mask: &Mask, value: &str, oid: u32) -> String {
        let key = MaskKey::new(b"test key of sixteen+ bytes", "test").expect("key");
        let mut out = Vec::new();
        let _ = mask.apply_text(value.as_bytes(), &PgTypeInfo::from_oid(oid), &key, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn binary_and_text_pseudonyms_agree() {
        let (_, h) = binary(&Mask::Hash, &1234i32.to_be_bytes(), 23).expect("int4");
        let from_binary = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        assert_eq!(from_binary.to_string(), text(&Mask::Hash, "1234", 23));
        let (_, h) = binary(&Mask::Hash, &(-7i64).to_be_bytes(), 20).expect("int8");
        let mut b = [0u8; 8];
        b.copy_from_slice(&h);
        assert_eq!(
            i64::from_be_bytes(b).to_string(),
            text(&Mask::Hash, "-7", 20)
        );
        let id = [0x12u8; 16];
        let (_, h) = binary(&Mask::Hash, &id, 2950).expect("uuid");
        let mut shown = Vec::new();
        push_uuid(&h.try_into().expect("16 bytes"), &mut shown);
        assert_eq!(
            String::from_utf8_lossy(&shown),
            text(&Mask::Hash, "12121212-1212-1212-1212-121212121212", 2950)
        );
    }

    #[test]
    fn binary_dates_and_numbers_stay_valid() {
        // 2024-02-29 = 8825 days after 2000-01-01.
        let month = Mask::Generalize(Generalization::Month);
        let (_, d) = binary(&month, &8825i32.to_be_bytes(), 1082).expect("date");
        assert_eq!(d, 8797i32.to_be_bytes());
        let (_, r) = binary(&Mask::Redact, &8825i32.to_be_bytes(), 1082).expect("date");
        assert_eq!(r, (-10957i32).to_be_bytes());
        let k = Mask::Generalize(Generalization::Bucket(100));
        let (_, n) = binary(&k, &(-250i16).to_be_bytes(), 21).expect("int2");
        assert_eq!(n, (-200i16).to_be_bytes());
        assert!(
            binary(&Mask::Redact, &[1, 2, 3], 23).is_err(),
            "wrong width"
        );
        assert_eq!(
            binary(&Mask::Redact, &[0; 12], 1700).expect("numeric").1,
            [0; 8]
        );
        assert!(matches!(
            binary(&k, &[0; 8], 1700),
            Err(MaskError::Unsupported { .. })
        ));
        let (_, j) = binary(&Mask::Redact, b"\x01{\"a\":1}", 3802).expect("jsonb");
        assert_eq!(j, b"\x01\"***\"");
    }
}
