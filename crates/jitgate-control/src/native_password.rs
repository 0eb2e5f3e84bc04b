//! `mysql_native_password` verifiers: SHA1(SHA1(secret)), what a MySQL server keeps of a
//! password, kept beside the SCRAM verifier only for credentials of resources with
//! `native_password = true` (a MySQL client's opt-in).
//!
//! The trade-off, plainly: the protocol makes this hash a password equivalent once one handshake
//! is seen. A client proves SHA1(secret) XOR SHA1(scramble, hash); whoever reads the hash from the
//! store and sniffs one handshake (scramble and response) recovers SHA1(secret), and with it can
//! answer any later scramble: log in to that resource while the grant lives. The hash alone does
//! not give the secret back: secrets are 32 random characters (about 190 bits), beyond any
//! brute force, and the hash is useless for every other protocol (they check the SCRAM verifier).

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The text form's prefix, like SCRAM's `SCRAM-SHA-256$`.
const PREFIX: &str = "mysql_native_password$";

/// SHA1(SHA1(secret)): what a `mysql_native_password` response is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct NativePasswordHash([u8; 20]);

impl std::fmt::Debug for NativePasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativePasswordHash(..)")
    }
}

impl NativePasswordHash {
    /// The hash of `secret`.
    pub fn derive(secret: &str) -> NativePasswordHash {
        NativePasswordHash(Sha1::digest(Sha1::digest(secret.as_bytes())).into())
    }

    /// A hash nothing matches (random: the SHA-1 preimage of a random value is out of reach),
    /// for logins without one, so that they take the path of a wrong response.
    pub fn unmatchable() -> NativePasswordHash {
        NativePasswordHash(rand::random())
    }

    /// Checks a client's response to `scramble` as a MySQL server does, in constant time:
    /// response XOR SHA1(scramble, hash) must be a value whose SHA-1 is the hash.
    pub fn verify(&self, scramble: &[u8], response: &[u8]) -> bool {
        let Ok(response) = <&[u8; 20]>::try_from(response) else {
            return false;
        };
        let mut h = Sha1::new();
        h.update(scramble);
        h.update(self.0);
        let mask = h.finalize();
        let mut stage1 = [0u8; 20];
        for (i, b) in stage1.iter_mut().enumerate() {
            *b = response[i] ^ mask[i];
        }
        let candidate: [u8; 20] = Sha1::digest(stage1).into();
        candidate.ct_eq(&self.0).into()
    }

    /// The stored text form: `mysql_native_password$<base64>`.
    pub fn encode(&self) -> String {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        format!("{PREFIX}{}", B64.encode(self.0))
    }

    /// Parses the text form written by [`NativePasswordHash::encode`].
    pub fn decode(text: &str) -> Option<NativePasswordHash> {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        let bytes = B64.decode(text.strip_prefix(PREFIX)?).ok()?;
        Some(NativePasswordHash(bytes.try_into().ok()?))
    }
}

/// A client's response to `scramble` as MySQL clients compute it: SHA1(secret) XOR
/// SHA1(scramble, SHA1(SHA1(secret))).
#[cfg(test)]
pub(crate) fn client_response(secret: &str, scramble: &[u8]) -> Vec<u8> {
    let stage1 = Sha1::digest(secret.as_bytes());
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(Sha1::digest(stage1));
    stage1
        .iter()
        .zip(h.finalize())
        .map(|(a, b)| a ^ b)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::client_response as response;

    #[test]
    fn the_right_response_verifies_and_others_do_not() {
        let hash = NativePasswordHash::derive("s3cret");
        let scramble = b"0123456789abcdefghij";
        assert!(hash.verify(scramble, &response("s3cret", scramble)));
        assert!(!hash.verify(scramble, &response("s3cret ", scramble)));
        // A response to another scramble (a replayed handshake) does not verify.
        assert!(!hash.verify(b"jihgfedcba9876543210", &response("s3cret", scramble)));
        assert!(!hash.verify(scramble, &[]));
        assert!(!hash.verify(scramble, &response("s3cret", scramble)[..19]));
        assert!(!NativePasswordHash::unmatchable().verify(scramble, &response("s3cret", scramble)));
    }

    #[test]
    fn the_text_form_round_trips_and_shows_nothing_in_debug() {
        let hash = NativePasswordHash::derive("s3cret");
        let text = hash.encode();
        assert!(text.starts_with("mysql_native_password$"), "{text}");
        assert_eq!(NativePasswordHash::decode(&text), Some(hash.clone()));
        assert_eq!(
            NativePasswordHash::decode("SCRAM-SHA-256$1:AA==$AA==:AA=="),
            None
        );
        assert_eq!(
            NativePasswordHash::decode("mysql_native_password$AAAA"),
            None
        );
        assert_eq!(format!("{hash:?}"), "NativePasswordHash(..)");
    }
}
