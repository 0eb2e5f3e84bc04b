//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, as a state
//! machine without I/O: feed it the client's messages, send back what it returns.
//!
//! Only plain "SCRAM-SHA-256" is offered, never "-PLUS", so channel binding is not supported:
//! a client may say it does not support it (`n`) or that it thinks the server does not (`y`),
//! but a client asking for it (`p=`) is refused.
//!
//! PostgreSQL clients send an empty user name (`n=,`): the login comes from the StartupMessage,
//! so the name here is ignored, as PostgreSQL ignores it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use jitgate_control::scram::{hmac, ScramVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// The proof does not match the verifier: the wrong password (or an unknown login).
    #[error("password authentication failed")]
    WrongProof,
    /// The client asked for channel binding, which is not offered.
    #[error("SCRAM channel binding is not supported; connect without it (channel_binding=disable or prefer)")]
    ChannelBindingRequested,
    /// The client named an authorization identity (`a=`), which PostgreSQL does not support either.
    #[error("SCRAM authorization identity is not supported")]
    AuthzidUnsupported,
    /// The message breaks the SCRAM grammar or contradicts an earlier one.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// A message came in the wrong step of the exchange.
    #[error("unexpected SCRAM message")]
    OutOfOrder,
}

/// What the server remembers between the two client messages.
enum State {
    AwaitingClientFirst,
    AwaitingClientFinal {
        /// The gs2 header exactly as the client sent it; `c=` must repeat it.
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// One SCRAM-SHA-256 exchange, checked against a [`ScramVerifier`].
pub struct ScramServer {
    salt: String,
    iterations: u32,
    stored_key: [u8; 32],
    server_key: [u8; 32],
    server_nonce: String,
    state: State,
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramServer(..)")
    }
}

impl ScramServer {
    /// Starts an exchange. `server_nonce` must be fresh and random for every exchange, of
    /// printable ASCII other than `,` (base64 of 18 random bytes, as PostgreSQL does, is right).
    pub fn new(verifier: &ScramVerifier, server_nonce: impl Into<String>) -> ScramServer {
        ScramServer {
            salt: B64.encode(&verifier.salt),
            iterations: verifier.iterations,
            stored_key: verifier.stored_key,
            server_key: verifier.server_key,
            server_nonce: server_nonce.into(),
            state: State::AwaitingClientFirst,
        }
    }

    /// A fresh server nonce: base64 of 18 random bytes, PostgreSQL's size.
    pub fn random_nonce() -> String {
        B64.encode(rand::random::<[u8; 18]>())
    }

    /// Takes client-first-message (`n,,n=,r=<nonce>`) and returns server-first-message.
    pub fn client_first(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        if !matches!(self.state, State::AwaitingClientFirst) {
            return Err(ScramError::OutOfOrder);
        }
        self.state = State::Done;
        let msg = utf8(msg)?;
        let (gs2_header, client_first_bare) = split_gs2_header(msg)?;
        let client_nonce = parse_client_first_bare(client_first_bare)?;
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", self.salt, self.iterations);
        self.state = State::AwaitingClientFinal {
            gs2_header: gs2_header.to_owned(),
            client_first_bare: client_first_bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first)
    }

    /// Takes client-final-message (`c=...,r=...,p=<proof>`) and, when the proof is right,
    /// returns server-final-message (`v=<signature>`), which proves the server knew the verifier.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        let State::AwaitingClientFinal {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let msg = utf8(msg)?;
        let parsed = parse_client_final(msg)?;
        let channel_binding = B64
            .decode(parsed.channel_binding)
            .map_err(|_| ScramError::Malformed("channel binding is not base64"))?;
        if channel_binding != gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding does not repeat the gs2 header",
            ));
        }
        if parsed.nonce != nonce {
            return Err(ScramError::Malformed("nonce does not match"));
        }
        let proof: [u8; 32] = B64
            .decode(parsed.proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Malformed("proof is not 32 bytes of base64"))?;

        let auth_message = format!(
            "{client_first_bare},{server_first},{}",
            parsed.without_proof
        );
        let client_signature = hmac(&self.stored_key, auth_message.as_bytes());
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(client_signature) {
            *k ^= s;
        }
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        if !bool::from(stored_key.ct_eq(&self.stored_key)) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac(&self.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

fn utf8(msg: &[u8]) -> Result<&str, ScramError> {
    std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))
}

/// Splits `gs2-header` (`n,,` or `y,,`) from `client-first-message-bare`.
fn split_gs2_header(msg: &str) -> Result<(&str, &str), ScramError> {
    let mut parts = msg.splitn(3, ',');
    let cbind_flag = parts.next().unwrap_or_default();
    let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    match cbind_flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(ScramError::ChannelBindingRequested),
        _ => return Err(ScramError::Malformed("unknown channel binding flag")),
    }
    if !authzid.is_empty() {
        return Err(ScramError::AuthzidUnsupported);
    }
    let header_len = cbind_flag.len() + authzid.len() + 2;
    Ok((&msg[..header_len], bare))
}

/// The client nonce of `n=<user>,r=<nonce>[,ext...]`.
fn parse_client_first_bare(bare: &str) -> Result<&str, ScramError> {
    let mut attrs = bare.split(',');
    let user = attrs.next().unwrap_or_default();
    if user.starts_with("m=") {
        return Err(ScramError::Malformed(
            "mandatory extensions are not supported",
        ));
    }
    if !user.starts_with("n=") {
        return Err(ScramError::Malformed("no user name attribute"));
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::Malformed("no client nonce"))?;
    if nonce.is_empty()
        || !nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::Malformed("client nonce is not printable"));
    }
    Ok(nonce)
}

/// The parts of `c=<cbind>,r=<nonce>[,ext...],p=<proof>` that matter.
struct ClientFinal<'a> {
    channel_binding: &'a str,
    nonce: &'a str,
    proof: &'a str,
    /// Everything before `,p=`: it is part of the signed AuthMessage.
    without_proof: &'a str,
}

fn parse_client_final(msg: &str) -> Result<ClientFinal<'_>, ScramError> {
    let (without_proof, proof) = msg
        .rsplit_once(",p=")
        .ok_or(ScramError::Malformed("no proof"))?;
    let mut attrs = without_proof.split(',');
    let channel_binding = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(ScramError::Malformed("no channel binding attribute"))?;
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::Malformed("no nonce"))?;
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const PROOF: &str = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

    fn rfc_verifier() -> ScramVerifier {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramVerifier::derive("pencil", &salt, 4096)
    }

    fn client_final(proof: &str) -> String {
        format!("c=biws,r={NONCE},p={proof}")
    }

    fn after_first() -> ScramServer {
        let mut server = ScramServer::new(&rfc_verifier(), SERVER_NONCE);
        server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        server
    }

    #[test]
    fn rfc_7677_exchange() {
        let mut server = ScramServer::new(&rfc_verifier(), SERVER_NONCE);
        let server_first = server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(
            server_first,
            format!("r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        );
        let server_final = server.client_final(client_final(PROOF).as_bytes()).unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn wrong_proofs_fail() {
        let mut wrong = B64.decode(PROOF).unwrap();
        wrong[0] ^= 1;
        let mut server = after_first();
        let msg = client_final(&B64.encode(&wrong));
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::WrongProof)
        );

        // The right proof against an unmatchable verifier (an unknown login).
        let mut server = ScramServer::new(&ScramVerifier::unmatchable("user"), SERVER_NONCE);
        server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(
            server.client_final(client_final(PROOF).as_bytes()),
            Err(ScramError::WrongProof)
        );
    }

    #[test]
    fn the_signed_message_covers_the_nonce_and_extensions() {
        // An extension changes the AuthMessage, so the RFC proof no longer matches.
        let mut server = after_first();
        let msg = format!("c=biws,r={NONCE},x=1,p={PROOF}");
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::WrongProof)
        );

        let mut server = after_first();
        let msg = format!("c=biws,r={NONCE}x,p={PROOF}");
        assert!(matches!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::Malformed(_))
        ));
    }

    #[test]
    fn y_flag_is_accepted_and_must_be_repeated() {
        let first = "y,,n=,r=abc";
        let mut server = ScramServer::new(&rfc_verifier(), "xyz");
        server.client_first(first.as_bytes()).unwrap();
        // "biws" is base64 of "n,,", which is not what this client sent.
        let msg = format!("c=biws,r=abcxyz,p={PROOF}");
        assert!(matches!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::Malformed(_))
        ));

        let mut server = ScramServer::new(&rfc_verifier(), "xyz");
        server.client_first(first.as_bytes()).unwrap();
        let msg = format!("c=eSws,r=abcxyz,p={PROOF}");
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::WrongProof)
        );
    }

    #[test]
    fn channel_binding_and_authzid_are_refused() {
        let mut server = ScramServer::new(&rfc_verifier(), "x");
        assert_eq!(
            server.client_first(b"p=tls-server-end-point,,n=,r=abc"),
            Err(ScramError::ChannelBindingRequested)
        );
        let mut server = ScramServer::new(&rfc_verifier(), "x");
        assert_eq!(
            server.client_first(b"n,a=admin,n=,r=abc"),
            Err(ScramError::AuthzidUnsupported)
        );
    }

    #[test]
    fn malformed_client_first_messages_are_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"n",
            b"n,,",
            b"x,,n=,r=abc",
            b"n,,r=abc",
            b"n,,n=",
            b"n,,n=,r=",
            b"n,,n=,r=a b",
            b"n,,m=ext,n=,r=abc",
            b"n,,n=,s=abc",
            b"n,,n=,r=\xff",
        ];
        for case in cases {
            let mut server = ScramServer::new(&rfc_verifier(), "x");
            assert!(
                matches!(server.client_first(case), Err(ScramError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn malformed_client_final_messages_are_refused() {
        let cases = [
            String::new(),
            format!("c=biws,r={NONCE}"),
            format!("r={NONCE},p={PROOF}"),
            format!("c=biws,p={PROOF}"),
            format!("c=!!,r={NONCE},p={PROOF}"),
            format!("c=biws,r={NONCE},p=!!"),
            format!("c=biws,r={NONCE},p=AAAA"),
        ];
        for case in cases {
            let mut server = after_first();
            assert!(
                matches!(
                    server.client_final(case.as_bytes()),
                    Err(ScramError::Malformed(_))
                ),
                "{case:?}"
            );
        }
    }

    #[test]
    fn steps_must_come_in_order() {
        let mut server = ScramServer::new(&rfc_verifier(), SERVER_NONCE);
        assert_eq!(
            server.client_final(client_final(PROOF).as_bytes()),
            Err(ScramError::OutOfOrder)
        );
        let mut server = after_first();
        assert_eq!(
            server.client_first(CLIENT_FIRST.as_bytes()),
            Err(ScramError::OutOfOrder)
        );
        // No second try after a failure.
        let mut server = after_first();
        let _ = server.client_final(b"garbage");
        assert_eq!(
            server.client_final(client_final(PROOF).as_bytes()),
            Err(ScramError::OutOfOrder)
        );
    }

    #[test]
    fn random_nonces_are_printable_and_fresh() {
        let a = ScramServer::random_nonce();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','));
        assert_ne!(a, ScramServer::random_nonce());
    }
}
