//! The secret behind the keyed masks (hash, tokenize).
//!
//! The configured key is never used directly: one subkey per mask is derived from it with
//! HMAC-SHA256, so a hash pseudonym and a token of the same value are unrelated, and the SQL
//! that carries key material upstream carries only a subkey.

use std::fmt;
use std::sync::Arc;

use crate::blot::KeyBlot;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted: pseudonyms of small value spaces (SSNs, phone numbers) can be
/// enumerated by anyone who can guess the key, so a short key is no key.
pub const MIN_KEY_BYTES: usize = 16;

const BLOCK: usize = 64;

/// Which derived subkey a keyed mask uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Hash,
    Tokenize,
}

/// One derived subkey, ready for both worlds: a keyed HMAC state for Rust (cloned per value, so
/// the key block is absorbed once) and the HMAC inner and outer pad blocks for SQL, where
/// `sha256(opad || sha256(ipad || message))` is HMAC-SHA256 built from core functions only.
#[derive(Clone)]
pub(crate) struct Subkey {
    mac: HmacSha256,
    ipad_hex: String,
    opad_hex: String,
    /// The key-dependent half of each pad (the rest is HMAC's constant padding).
    pad_keys: [[u8; 32]; 2],
}

impl Subkey {
    fn derive(root: &[u8], label: &[u8]) -> Subkey {
        let mut mac = root_mac(root);
        mac.update(label);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        // A 32-byte key is shorter than the 64-byte block, so HMAC pads it with zeros.
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let half = |pad: &[u8; BLOCK]| {
            let mut out = [0u8; 32];
            out.copy_from_slice(&pad[..32]);
            out
        };
        Subkey {
            mac: root_mac(&key),
            ipad_hex: hex(&ipad),
            opad_hex: hex(&opad),
            pad_keys: [half(&ipad), half(&opad)],
        }
    }

    /// HMAC-SHA256 of `message` under this subkey.
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// SQL computing the same HMAC over `message_sql` (a bytea expression); NULL in, NULL out.
    pub(crate) fn sql(&self, message_sql: &str) -> String {
        let inner = format!(
            "pg_catalog.sha256(pg_catalog.byteacat(pg_catalog.decode('{}', 'hex'), {message_sql}))",
            self.ipad_hex
        );
        format!(
            "pg_catalog.sha256(pg_catalog.byteacat(pg_catalog.decode('{}', 'hex'), {inner}))",
            self.opad_hex
        )
    }
}

impl Subkey {
    /// Spark SQL computing the same HMAC over `message_sql` (a binary expression), as 64
    /// lower-case hex digits (what `sha2` returns); NULL in, NULL out. The pads are binary
    /// literals, so no string escaping mode can change them.
    pub(crate) fn spark_hex(&self, message_sql: &str) -> String {
        let inner = format!(
            "unhex(sha2(concat(X'{}', {message_sql}), 256))",
            self.ipad_hex
        );
        format!("sha2(concat(X'{}', {inner}), 256)", self.opad_hex)
    }

    /// MySQL/MariaDB SQL computing the same HMAC over `message_sql` (a binary string
    /// expression), as 64 lower-case hex digits (what `SHA2` returns); NULL in, NULL out. The
    /// pads are hex literals, which neither `sql_mode` nor the character set can change.
    pub(crate) fn mysql_hex(&self, message_sql: &str) -> String {
        let inner = format!(
            "UNHEX(SHA2(CONCAT(X'{}', {message_sql}), 256))",
            self.ipad_hex
        );
        format!("SHA2(CONCAT(X'{}', {inner}), 256)", self.opad_hex)
    }
}

fn root_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of every length"),
    }
}

/// The masking key, or its absence when no rule needs one.
///
/// Debug and Display show where the key came from, never the key.
#[derive(Clone)]
pub struct MaskKey {
    subkeys: Option<(Subkey, Subkey)>,
    /// Finds the subkeys' pads in server messages; built once, shared by clones.
    blot: Option<Arc<KeyBlot>>,
    origin: String,
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the masking key has {len} bytes; at least {MIN_KEY_BYTES} are required (e.g. `openssl rand -base64 32`)")]
pub struct WeakKey {
    pub len: usize,
}

impl MaskKey {
    /// A key from its secret bytes; `origin` says where they came from (`env NAME`, `file PATH`)
    /// and is what diagnostics show.
    pub fn new(secret: &[u8], origin: impl Into<String>) -> Result<MaskKey, WeakKey> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(WeakKey { len: secret.len() });
        }
        let hash = Subkey::derive(secret, b"jitgate mask hash v1");
        let tokenize = Subkey::derive(secret, b"jitgate mask tokenize v1");
        let pads: Vec<&[u8]> = [&hash, &tokenize]
            .iter()
            .flat_map(|k| k.pad_keys.iter().map(|p| &p[..]))
            .collect();
        let blot = KeyBlot::new(&pads).map(Arc::new);
        Ok(MaskKey {
            subkeys: Some((hash, tokenize)),
            blot,
            origin: origin.into(),
        })
    }

    /// No key: hash and tokenize masks fail with [`crate::MaskError::KeyMissing`]. The
    /// configuration only allows this when no rule uses them.
    pub fn missing() -> MaskKey {
        MaskKey {
            subkeys: None,
            blot: None,
            origin: "none".to_string(),
        }
    }

    pub fn is_set(&self) -> bool {
        self.subkeys.is_some()
    }

    /// Where the key came from; safe to show.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn subkey(&self, purpose: Purpose) -> Option<&Subkey> {
        let (hash, tokenize) = self.subkeys.as_ref()?;
        Some(match purpose {
            Purpose::Hash => hash,
            Purpose::Tokenize => tokenize,
        })
    }

    /// The key-dependent text inside the Spark SQL of keyed masks: the hex of the first 32
    /// bytes of each HMAC pad (the rest of a pad is the constant padding), lower-case. Whoever
    /// reads them can compute every pseudonym, so a front that sends such SQL upstream keeps
    /// these texts out of everything it relays back (error messages quote plans).
    pub fn spark_secrets(&self) -> Vec<String> {
        let Some((hash, tokenize)) = self.subkeys.as_ref() else {
            return Vec::new();
        };
        [hash, tokenize]
            .iter()
            .flat_map(|k| [&k.ipad_hex, &k.opad_hex])
            .map(|pad| pad[..64].to_string())
            .collect()
    }

    /// Replaces, byte for byte with `*`, every piece of this key's material that PostgreSQL
    /// could print in a message (see the `blot` module): the length of `text` is kept, so a
    /// wire message stays well framed. Whether anything was replaced. A key that failed to
    /// build its searcher blots everything that could hold a pad: the whole text, when it has
    /// a long hex run (fail closed).
    pub fn blot(&self, text: &mut [u8]) -> bool {
        match (&self.blot, &self.subkeys) {
            (Some(blot), _) => blot.blot(text),
            (None, None) => false,
            (None, Some(_)) => {
                let long_hex = text
                    .split(|b| !b.is_ascii_hexdigit())
                    .any(|run| run.len() >= crate::blot::PIECE);
                if long_hex {
                    text.fill(b'*');
                }
                long_hex
            }
        }
    }

    /// Whether `text` holds a piece of this key's material that [`MaskKey::blot`] would replace.
    pub fn holds_key_material(&self, text: &[u8]) -> bool {
        match &self.blot {
            Some(blot) => blot.finds_any(text),
            None => {
                let mut copy = text.to_vec();
                self.blot(&mut copy)
            }
        }
    }

    /// A short fingerprint of the key (first bytes of SHA-256 of the hash subkey's pad), so an
    /// operator can tell two gateways use the same key without seeing it.
    pub fn fingerprint(&self) -> Option<String> {
        let (hash, _) = self.subkeys.as_ref()?;
        let digest = Sha256::digest(hash.opad_hex.as_bytes());
        Some(hex(&digest[..6]))
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskKey(from {})", self.origin)
    }
}

impl fmt::Display for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "masking key from {}", self.origin)
    }
}

impl PartialEq for MaskKey {
    /// Keys compare by what they produce, so two loads of the same configuration are equal.
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint() == other.fingerprint()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_secrets_are_the_key_dependent_part_of_every_pad() {
        let key = MaskKey::new(b"0123456789abcdef0123", "test").expect("key");
        let secrets = key.spark_secrets();
        assert_eq!(secrets.len(), 4);
        for purpose in [Purpose::Hash, Purpose::Tokenize] {
            let sql = key.subkey(purpose).expect("subkey").spark_hex("x");
            assert_eq!(
                secrets.iter().filter(|s| sql.contains(s.as_str())).count(),
                2
            );
        }
        assert!(MaskKey::missing().spark_secrets().is_empty());
    }

    #[test]
    fn blotting_removes_every_pad_of_the_sql_and_keeps_its_length() {
        let key = MaskKey::new(b"0123456789abcdef0123", "test").expect("key");
        for purpose in [Purpose::Hash, Purpose::Tokenize] {
            let subkey = key.subkey(purpose).expect("subkey");
            let mut sql = subkey.sql("x").into_bytes();
            let len = sql.len();
            assert!(key.holds_key_material(&sql));
            assert!(key.blot(&mut sql));
            assert_eq!(sql.len(), len);
            let text = String::from_utf8_lossy(&sql);
            for pad in [&subkey.ipad_hex, &subkey.opad_hex] {
                assert!(!text.contains(&pad[..crate::blot::PIECE]), "{text}");
                // The constant half of the pad is not key material and stays.
                assert!(text.contains(&pad[64..]));
            }
        }
        assert!(key.blot.is_some(), "the searcher builds");
        let mut clean = b"select 1".to_vec();
        assert!(!key.blot(&mut clean));
        assert!(!MaskKey::missing().blot(&mut b"36".repeat(40)));
    }

    #[test]
    fn subkeys_match_rfc_hmac_and_differ_by_purpose() {
        let key = MaskKey::new(b"0123456789abcdef0123", "test").expect("key");
        let hash = key.subkey(Purpose::Hash).expect("hash subkey");
        let tok = key.subkey(Purpose::Tokenize).expect("tokenize subkey");
        assert_ne!(hash.mac(b"x"), tok.mac(b"x"));
        // The pads really are HMAC's: recompute HMAC by hand from them.
        let ipad: Vec<u8> = (0..64)
            .map(|i| u8::from_str_radix(&hash.ipad_hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        let opad: Vec<u8> = (0..64)
            .map(|i| u8::from_str_radix(&hash.opad_hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        let inner = Sha256::digest([&ipad[..], b"value"].concat());
        let outer = Sha256::digest([&opad[..], &inner[..]].concat());
        assert_eq!(outer[..], hash.mac(b"value")[..]);
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert_eq!(
            MaskKey::new(b"short", "env K").err(),
            Some(WeakKey { len: 5 })
        );
        let key = MaskKey::new(b"a-long-enough-secret", "env K").expect("key");
        assert_eq!(format!("{key:?}"), "MaskKey(from env K)");
        assert!(!MaskKey::missing().is_set());
    }
}
