//! The password proofs jitgate computes as a client of the upstream (the service account's
//! login), and the plugin names of both sides.

use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const NATIVE: &[u8] = b"mysql_native_password";
pub const CACHING_SHA2: &[u8] = b"caching_sha2_password";
pub const CLEAR: &[u8] = b"mysql_clear_password";

/// `mysql_native_password`: SHA1(password) XOR SHA1(scramble, SHA1(SHA1(password))).
pub fn native(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    xor(&stage1, &h.finalize())
}

/// `caching_sha2_password`'s fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)),
/// scramble).
pub fn caching_sha2(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(scramble);
    xor(&stage1, &h.finalize())
}

/// The proof for `plugin`, if jitgate speaks it.
pub fn proof(plugin: &[u8], password: &[u8], scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        NATIVE => Some(native(password, scramble)),
        CACHING_SHA2 => Some(caching_sha2(password, scramble)),
        _ => None,
    }
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// 20 random bytes for a greeting, printable and without NUL, as servers make them.
pub fn scramble() -> Vec<u8> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..20).map(|_| rng.gen_range(0x21u8..0x7f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native proof matches the server's check: SHA1(proof XOR SHA1(scramble, stored)) equals
    /// the stored SHA1(SHA1(password)).
    #[test]
    fn native_proofs_verify_as_the_server_checks_them() {
        let scramble = scramble();
        let proof = native(b"secret", &scramble);
        let stored = Sha1::digest(Sha1::digest(b"secret"));
        let mut h = Sha1::new();
        h.update(&scramble);
        h.update(stored);
        let stage1 = xor(&proof, &h.finalize());
        assert_eq!(Sha1::digest(stage1).as_slice(), stored.as_slice());
        assert!(native(b"", &scramble).is_empty());
    }

    #[test]
    fn caching_sha2_proofs_verify_as_the_server_checks_them() {
        let scramble = scramble();
        let proof = caching_sha2(b"secret", &scramble);
        let stored = Sha256::digest(Sha256::digest(b"secret"));
        let mut h = Sha256::new();
        h.update(stored);
        h.update(&scramble);
        let stage1 = xor(&proof, &h.finalize());
        assert_eq!(Sha256::digest(stage1).as_slice(), stored.as_slice());
    }
}
