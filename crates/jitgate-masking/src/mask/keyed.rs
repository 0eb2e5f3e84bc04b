//! The keyed masks in Rust: hash pseudonyms and format-preserving tokens.
//!
//! ## Why tokenize is not FF1, and why that is fine for masking
//!
//! FF1 is format-preserving *encryption*: a keyed permutation, reversible by whoever holds the
//! key. Masking wants the opposite of reversible, and it must run inside PostgreSQL too (the
//! masking subquery), where FF1's ten AES-based Feistel rounds cannot be written with core
//! functions. Tokenize keeps what masking needs from FF1:
//! - deterministic: the same value always gives the same token, so equality, joins and
//!   GROUP BY on tokens behave as on the values;
//! - keyed: without the key, tokens cannot be computed, so values cannot be guessed and checked;
//! - format-preserving: length, digit/letter classes, case and punctuation are kept, so a token
//!   fits the column and the applications that parse it;
//! - not reversible: each character is shifted by a byte of HMAC(key, whole value), which cannot
//!   be undone without the value itself, even with the key.
//!
//! What it does not keep is FF1's injectivity: two values can share a token. For n distinct
//! values in a space of N possible strings of the same shape, about n²/2N pairs collide; for
//! 16-digit card numbers that is nothing, for a million 9-digit SSNs about 500 pairs. Where exact
//! joins over a small space matter, use [`super::Mask::Hash`].

use sha2::{Digest, Sha256};

use crate::key::{push_hex, Subkey};

/// Characters per MAC block: character n uses byte n % 32 of block n / 32.
pub(super) const TOKEN_BLOCK: u32 = 32;

/// Hex digits of the MAC that a text hash shows (128 bits: no collisions in practice).
pub(super) const TEXT_HASH_HEX: usize = 32;

/// Appends the text pseudonym of `message`: the first 32 hex digits of its MAC.
pub(super) fn push_text_hash(subkey: &Subkey, message: &[u8], out: &mut Vec<u8>) {
    let mac = subkey.mac(message);
    push_hex(out, &mac[..TEXT_HASH_HEX / 2]);
}

/// The integer pseudonyms: the MAC's first bytes as a big-endian signed integer (int2 shifts
/// the unsigned 16 bits down by 32768, as the SQL must for lack of a bit(16) to int2 cast).
pub(super) fn int2_hash(subkey: &Subkey, message: &[u8]) -> i16 {
    let mac = subkey.mac(message);
    (i32::from(u16::from_be_bytes([mac[0], mac[1]])) - 32768) as i16
}

pub(super) fn int4_hash(subkey: &Subkey, message: &[u8]) -> i32 {
    let mac = subkey.mac(message);
    i32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]])
}

pub(super) fn int8_hash(subkey: &Subkey, message: &[u8]) -> i64 {
    let mac = subkey.mac(message);
    let mut first = [0u8; 8];
    first.copy_from_slice(&mac[..8]);
    i64::from_be_bytes(first)
}

/// Appends the token of `value` (UTF-8 text). Positions count characters, as PostgreSQL's
/// `substr` does.
pub(super) fn push_token(subkey: &Subkey, value: &str, out: &mut Vec<u8>) {
    let mac = subkey.mac(value.as_bytes());
    let mut block = mac;
    let mut block_no = 0u32;
    for (n, c) in value.chars().enumerate() {
        let n = n as u32;
        if n / TOKEN_BLOCK != block_no {
            block_no = n / TOKEN_BLOCK;
            let mut h = Sha256::new();
            h.update(mac);
            h.update((block_no as i32).to_be_bytes());
            block = h.finalize().into();
        }
        let offset = u32::from(block[(n % TOKEN_BLOCK) as usize]);
        let rotate = |base: u8, size: u32| {
            (u32::from(base) + (c as u32 - u32::from(base) + offset) % size) as u8
        };
        match c {
            '0'..='9' => out.push(rotate(b'0', 10)),
            'A'..='Z' => out.push(rotate(b'A', 26)),
            'a'..='z' => out.push(rotate(b'a', 26)),
            other => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Appends a UUID in PostgreSQL's canonical text form.
pub(super) fn push_uuid(bytes: &[u8; 16], out: &mut Vec<u8>) {
    for (i, chunk) in [
        &bytes[..4],
        &bytes[4..6],
        &bytes[6..8],
        &bytes[8..10],
        &bytes[10..],
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            out.push(b'-');
        }
        push_hex(out, chunk);
    }
}

/// The first 16 bytes of the MAC: the uuid pseudonym.
pub(super) fn uuid_hash(subkey: &Subkey, message: &[u8]) -> [u8; 16] {
    let mac = subkey.mac(message);
    let mut id = [0u8; 16];
    id.copy_from_slice(&mac[..16]);
    id
}
