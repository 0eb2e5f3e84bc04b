//! SCRAM-SHA-256 verifiers (RFC 5802/7677): how jitgate stores credential secrets.
//!
//! A verifier holds only the salt, the iteration count and two keys derived from the password, so
//! the store never holds the secret itself, and a client can still prove it with SCRAM without
//! ever sending it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// PostgreSQL's default. Credential secrets are random 256-bit strings, so the count guards
/// against nothing a guess could win; it is kept for clients that expect the usual cost.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// What the store keeps of a credential secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier(..)")
    }
}

impl ScramVerifier {
    /// Derives the verifier of `password`.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        ScramVerifier {
            salt: salt.to_vec(),
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Checks a password given in clear (over TLS or loopback) in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let other = ScramVerifier::derive(password, &self.salt, self.iterations);
        other.stored_key.ct_eq(&self.stored_key).into()
    }

    /// A verifier nothing matches, used for unknown logins so that a failed login takes the same
    /// path and time whether or not the login exists.
    pub fn unmatchable(login: &str) -> ScramVerifier {
        let mut salt = Sha256::digest(login.as_bytes()).to_vec();
        salt.truncate(16);
        ScramVerifier {
            salt,
            iterations: DEFAULT_ITERATIONS,
            stored_key: rand::random(),
            server_key: rand::random(),
        }
    }

    /// The PostgreSQL text form: `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` (base64).
    pub fn encode(&self) -> String {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }

    /// Parses the text form written by [`ScramVerifier::encode`].
    pub fn decode(text: &str) -> Option<ScramVerifier> {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (iter_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iter_salt.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(ScramVerifier {
            salt: B64.decode(salt).ok()?,
            iterations: iterations.parse().ok()?,
            stored_key: B64.decode(stored).ok()?.try_into().ok()?,
            server_key: B64.decode(server).ok()?.try_into().ok()?,
        })
    }
}

/// Hi() of RFC 5802: PBKDF2-HMAC-SHA-256 with one output block.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations.max(1), &mut out);
    out
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_verifies_and_others_do_not() {
        let v = ScramVerifier::derive("s3cret", b"salty", 16);
        assert!(v.verify_password("s3cret"));
        assert!(!v.verify_password("s3cret "));
        assert!(!ScramVerifier::unmatchable("x").verify_password(""));
    }

    #[test]
    fn text_form_round_trips() {
        let v = ScramVerifier::derive("pw", b"0123456789abcdef", 4096);
        assert_eq!(ScramVerifier::decode(&v.encode()), Some(v));
        assert_eq!(ScramVerifier::decode("md5abc"), None);
    }

    #[test]
    fn matches_the_rfc_7677_test_vector() {
        // RFC 7677 section 3: password "pencil"; the server signature proves the server key.
        let salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
        let v = ScramVerifier::derive("pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
        );
        let signature = hmac(&v.server_key, auth_message.as_bytes());
        assert_eq!(
            base64_encode(&signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }
    fn base64_encode(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}
