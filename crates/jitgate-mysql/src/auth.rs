//! The password proofs jitgate computes as a client of the upstream (the service account's
//! login), and the plugin names of both sides.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

pub const NATIVE: &[u8] = b"mysql_native_password";
pub const CACHING_SHA2: &[u8] = b"caching_sha2_password";
pub const CLEAR: &[u8] = b"mysql_clear_password";
/// MariaDB's `ed25519` plugin, as its client side is named in an auth switch.
pub const ED25519: &[u8] = b"client_ed25519";

/// caching_sha2_password's "perform full authentication": the server asks for the password.
pub const PERFORM_FULL_AUTH: [u8; 2] = [0x01, 0x04];
/// caching_sha2_password's "perform full authentication" answered with a request for the
/// server's RSA public key (a client without TLS).
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;

/// An AuthSwitchRequest: `plugin` with its `data` (a scramble, NUL-terminated as servers send
/// it; none for `mysql_clear_password`).
pub fn switch_request(plugin: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(3 + plugin.len() + data.len());
    p.push(0xfe);
    p.extend_from_slice(plugin);
    p.push(0);
    if !data.is_empty() {
        p.extend_from_slice(data);
        p.push(0);
    }
    p
}

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

/// MariaDB's `ed25519`: an Ed25519 signature of the 32-byte scramble (the server's nonce) whose
/// expanded secret key is SHA-512(password) (the password stands where RFC 8032 has a 32-byte
/// seed); the server keeps only the public key.
pub fn ed25519(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
    let expanded: [u8; 64] = Sha512::digest(password).into();
    let key = ExpandedSecretKey::from_bytes(&expanded);
    let public = ed25519_dalek::VerifyingKey::from(&key);
    raw_sign::<Sha512>(&key, scramble, &public)
        .to_bytes()
        .to_vec()
}

/// The proof for `plugin`, if jitgate speaks it.
pub fn proof(plugin: &[u8], password: &[u8], scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        NATIVE => Some(native(password, scramble)),
        CACHING_SHA2 => Some(caching_sha2(password, scramble)),
        ED25519 => Some(ed25519(password, scramble)),
        _ => None,
    }
}

/// The scramble a plugin's proof signs, from an auth switch's data: MariaDB's ed25519 takes a
/// 32-byte nonce (random bytes, which may end in NUL), the others 20 bytes NUL-terminated.
pub fn switch_scramble<'a>(plugin: &[u8], data: &'a [u8]) -> &'a [u8] {
    match plugin {
        ED25519 => data.get(..32).unwrap_or(data),
        _ => data.strip_suffix(&[0]).unwrap_or(data),
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

    /// The ed25519 proof is a standard Ed25519 signature of the scramble under the public key
    /// MariaDB stores for the password (`ed25519_password('secret')`: base64 of the point
    /// [clamp(SHA-512(secret)[..32])]B), checked with the plain verifier.
    #[test]
    fn ed25519_proofs_verify_under_the_passwords_public_key() {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        let scramble: Vec<u8> = (0..32).collect();
        let mut a: [u8; 32] = Sha512::digest(b"secret")[..32]
            .try_into()
            .expect("32 bytes");
        a[0] &= 248;
        a[31] &= 63;
        a[31] |= 64;
        let point = curve25519_dalek::EdwardsPoint::mul_base_clamped(a);
        let public = VerifyingKey::from_bytes(&point.compress().to_bytes()).expect("a point");
        let proof = ed25519(b"secret", &scramble);
        let signature = Signature::from_slice(&proof).expect("64 bytes");
        assert!(public.verify(&scramble, &signature).is_ok());
        assert!(public.verify(b"another scramble", &signature).is_err());
        let other = Signature::from_slice(&ed25519(b"secret2", &scramble)).expect("64 bytes");
        assert!(public.verify(&scramble, &other).is_err());
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
