//! Checking a database client's jitgate credential, after its StartupMessage.
//!
//! This only runs the password exchange. It neither sends AuthenticationOk nor the error: the
//! caller still has to check the grant behind the login before letting the client in, and
//! answers a failure with FATAL 28P01 itself.

use std::io;

use bytes::BytesMut;
use jitgate_control::scram::ScramVerifier;
use jitgate_sqlstate::SqlState;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::scram::{ScramError, ScramServer};
use crate::codec::{self, backend, ProtocolError};

/// The one SASL mechanism offered: no channel binding, so no "-PLUS".
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// How the client proves it holds the credential's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// SCRAM-SHA-256: the password never crosses the wire.
    Scram,
    /// The password in clear: only over TLS or loopback, or where the configuration allows it.
    Cleartext,
}

/// Why a client was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// Wrong password or proof (or an unknown login, checked against an unmatchable verifier).
    #[error("password authentication failed")]
    Failed,
    /// The client went away, typically a client without a password that will reconnect after
    /// asking its user for one, as psql does.
    #[error("client closed the connection during authentication")]
    Disconnected,
    /// A message that cannot be framed or parsed.
    #[error(transparent)]
    Protocol(ProtocolError),
    /// A message other than the password message expected.
    #[error("expected a password message, got message type '{0}'")]
    Unexpected(char),
    /// The client chose a SASL mechanism that was not offered.
    #[error("client selected an invalid SASL authentication mechanism \"{0}\"")]
    Mechanism(String),
    /// A SCRAM message broke the protocol (never [`ScramError::WrongProof`], which is `Failed`).
    #[error(transparent)]
    Scram(ScramError),
    #[error("I/O error during authentication: {0}")]
    Io(io::Error),
}

impl ClientAuthError {
    /// The SQLSTATE to report this failure to the client with.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            ClientAuthError::Failed => SqlState::INVALID_PASSWORD,
            ClientAuthError::Disconnected | ClientAuthError::Io(_) => SqlState::CONNECTION_FAILURE,
            _ => SqlState::PROTOCOL_VIOLATION,
        }
    }
}

impl From<ProtocolError> for ClientAuthError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::Closed => ClientAuthError::Disconnected,
            ProtocolError::Io(e) => ClientAuthError::Io(e),
            e => ClientAuthError::Protocol(e),
        }
    }
}

impl From<ScramError> for ClientAuthError {
    fn from(e: ScramError) -> Self {
        match e {
            ScramError::WrongProof => ClientAuthError::Failed,
            e => ClientAuthError::Scram(e),
        }
    }
}

impl From<io::Error> for ClientAuthError {
    fn from(e: io::Error) -> Self {
        ClientAuthError::Io(e)
    }
}

/// Runs the password exchange with a client whose StartupMessage has been read; `Ok` means the
/// client knows the password behind `verifier`.
///
/// `buf` holds whatever was read from `stream` beyond the StartupMessage, and keeps what is read
/// beyond the last password message. No message larger than `max_message` is read.
/// For an unknown login pass [`ScramVerifier::unmatchable`], so the exchange looks the same.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    method: ClientAuthMethod,
    verifier: &ScramVerifier,
    max_message: usize,
) -> Result<(), ClientAuthError> {
    match method {
        ClientAuthMethod::Scram => scram(stream, buf, verifier, max_message).await,
        ClientAuthMethod::Cleartext => cleartext(stream, buf, verifier, max_message).await,
    }
}

async fn scram<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    verifier: &ScramVerifier,
    max_message: usize,
) -> Result<(), ClientAuthError> {
    let mut server = ScramServer::new(verifier, ScramServer::random_nonce());
    let mut out = BytesMut::new();
    backend::authentication_sasl(&mut out, &[SCRAM_SHA_256]);
    send(stream, &mut out).await?;

    let initial = read_password_message(stream, buf, max_message).await?;
    let client_first = parse_sasl_initial_response(&initial)?;
    let server_first = server.client_first(client_first)?;
    backend::authentication_sasl_continue(&mut out, server_first.as_bytes());
    send(stream, &mut out).await?;

    // A SASLResponse is nothing but the SCRAM message.
    let client_final = read_password_message(stream, buf, max_message).await?;
    let server_final = server.client_final(&client_final)?;
    backend::authentication_sasl_final(&mut out, server_final.as_bytes());
    send(stream, &mut out).await?;
    Ok(())
}

async fn cleartext<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    verifier: &ScramVerifier,
    max_message: usize,
) -> Result<(), ClientAuthError> {
    let mut out = BytesMut::new();
    backend::authentication_cleartext(&mut out);
    send(stream, &mut out).await?;

    let body = read_password_message(stream, buf, max_message).await?;
    let mut rest = &body[..];
    let password = codec::take_cstr(&mut rest, "PasswordMessage")?;
    if !rest.is_empty() {
        return Err(malformed("PasswordMessage"));
    }
    // Not UTF-8 cannot be the password; an empty one never is (PostgreSQL refuses it too).
    let Ok(password) = std::str::from_utf8(password) else {
        return Err(ClientAuthError::Failed);
    };
    if password.is_empty() {
        return Err(ClientAuthError::Failed);
    }
    // Deriving the key is thousands of HMAC rounds: keep it off the threads that relay traffic.
    let password = password.to_owned();
    let verifier = verifier.clone();
    let matches = tokio::task::spawn_blocking(move || verifier.verify_password(&password))
        .await
        .unwrap_or(false);
    if matches {
        Ok(())
    } else {
        Err(ClientAuthError::Failed)
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, out: &mut BytesMut) -> io::Result<()> {
    stream.write_all(out).await?;
    out.clear();
    // TLS streams hold written data until flushed.
    stream.flush().await
}

/// The body of the next message, which must be a password message ('p': PasswordMessage,
/// SASLInitialResponse and SASLResponse all use that tag).
async fn read_password_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    max_message: usize,
) -> Result<BytesMut, ClientAuthError> {
    let msg = codec::read_message(stream, buf, max_message).await?;
    match msg.tag {
        b'p' => Ok(msg.body),
        // Terminate: the client gave up, as libpq does when it has no password to send.
        b'X' => Err(ClientAuthError::Disconnected),
        tag => Err(ClientAuthError::Unexpected(tag as char)),
    }
}

/// The client-first-message inside a SASLInitialResponse: mechanism name, then the length of
/// the data (-1 for none), then the data.
fn parse_sasl_initial_response(body: &[u8]) -> Result<&[u8], ClientAuthError> {
    let mut rest = body;
    let mechanism = codec::take_cstr(&mut rest, "SASLInitialResponse")?;
    if mechanism != SCRAM_SHA_256.as_bytes() {
        return Err(ClientAuthError::Mechanism(
            String::from_utf8_lossy(mechanism).into_owned(),
        ));
    }
    let (len_word, data) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("SASLInitialResponse"))?;
    match i32::from_be_bytes(*len_word) {
        // No data: SCRAM needs it, and the SCRAM parser says why.
        -1 if data.is_empty() => Ok(&[]),
        len if usize::try_from(len) == Ok(data.len()) => Ok(data),
        _ => Err(malformed("SASLInitialResponse")),
    }
}

fn malformed(what: &'static str) -> ClientAuthError {
    ClientAuthError::Protocol(ProtocolError::Malformed { what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::startup::{read_startup, StartupRequest};
    use bytes::BufMut;
    use tokio::io::{duplex, AsyncReadExt, DuplexStream};

    const PASSWORD: &str = "correct horse battery staple";
    const MAX: usize = 1 << 16;

    fn verifier() -> ScramVerifier {
        ScramVerifier::derive(PASSWORD, b"0123456789abcdef", 256)
    }

    /// A minimal server: reads the StartupMessage, authenticates, then lets the client in with
    /// AuthenticationOk and ReadyForQuery, or turns it away with FATAL 28P01.
    async fn serve(
        mut stream: DuplexStream,
        method: ClientAuthMethod,
        verifier: ScramVerifier,
    ) -> Result<(), ClientAuthError> {
        let StartupRequest::Startup(params) = read_startup(&mut stream).await.unwrap() else {
            panic!("expected a StartupMessage");
        };
        assert_eq!(params.get("user"), Some("alice"));
        let mut buf = BytesMut::new();
        let result = authenticate(&mut stream, &mut buf, method, &verifier, MAX).await;
        let mut out = BytesMut::new();
        match &result {
            Ok(()) => {
                backend::authentication_ok(&mut out);
                out.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
            }
            Err(e) => {
                backend::error_response(&mut out, backend::Severity::Fatal, e.sqlstate(), "no")
            }
        }
        let _ = stream.write_all(&out).await;
        result
    }

    /// Connects tokio-postgres as `alice` with `password` to [`serve`].
    async fn login(
        method: ClientAuthMethod,
        verifier: ScramVerifier,
        password: &str,
    ) -> (
        Result<(), ClientAuthError>,
        Result<(), tokio_postgres::Error>,
    ) {
        let (client_side, server_side) = duplex(4096);
        let server = tokio::spawn(serve(server_side, method, verifier));
        let client = tokio_postgres::Config::new()
            .user("alice")
            .password(password)
            .dbname("app")
            .connect_raw(client_side, tokio_postgres::NoTls)
            .await
            .map(drop);
        (server.await.unwrap(), client)
    }

    #[tokio::test]
    async fn tokio_postgres_logs_in_with_the_right_password() {
        for method in [ClientAuthMethod::Scram, ClientAuthMethod::Cleartext] {
            let (server, client) = login(method, verifier(), PASSWORD).await;
            assert!(server.is_ok(), "{method:?}: {server:?}");
            assert!(client.is_ok(), "{method:?}: {client:?}");
        }
    }

    #[tokio::test]
    async fn tokio_postgres_is_refused_with_a_wrong_password() {
        for method in [ClientAuthMethod::Scram, ClientAuthMethod::Cleartext] {
            let (server, client) = login(method, verifier(), "correct horse").await;
            assert!(matches!(server, Err(ClientAuthError::Failed)), "{server:?}");
            let err = client.unwrap_err();
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_logins_fail_the_same_way() {
        for method in [ClientAuthMethod::Scram, ClientAuthMethod::Cleartext] {
            let (server, client) =
                login(method, ScramVerifier::unmatchable("alice"), PASSWORD).await;
            assert!(matches!(server, Err(ClientAuthError::Failed)), "{server:?}");
            assert!(client.is_err());
        }
    }

    /// Runs `authenticate` against raw bytes from a scripted client.
    async fn against_raw(method: ClientAuthMethod, client_bytes: &[u8]) -> ClientAuthError {
        let (mut client, mut server) = duplex(1 << 16);
        client.write_all(client_bytes).await.unwrap();
        drop(client.shutdown().await);
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        });
        let mut buf = BytesMut::new();
        let result = authenticate(&mut server, &mut buf, method, &verifier(), 64).await;
        drop(server);
        reader.await.unwrap();
        result.unwrap_err()
    }

    fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.put_u32(body.len() as u32 + 4);
        m.extend_from_slice(body);
        m
    }

    fn sasl_initial(mechanism: &[u8], len: i32, data: &[u8]) -> Vec<u8> {
        let mut body = mechanism.to_vec();
        body.push(0);
        body.put_i32(len);
        body.extend_from_slice(data);
        tagged(b'p', &body)
    }

    #[tokio::test]
    async fn protocol_violations_are_told_apart() {
        use ClientAuthMethod::{Cleartext, Scram};
        let e = against_raw(Scram, b"").await;
        assert!(matches!(e, ClientAuthError::Disconnected), "{e:?}");
        let e = against_raw(Scram, &tagged(b'X', b"")).await;
        assert!(matches!(e, ClientAuthError::Disconnected), "{e:?}");
        let e = against_raw(Scram, &tagged(b'Q', b"select 1\0")).await;
        assert!(matches!(e, ClientAuthError::Unexpected('Q')), "{e:?}");
        let e = against_raw(Scram, &tagged(b'p', &[b'x'; 100])).await;
        assert!(
            matches!(e, ClientAuthError::Protocol(ProtocolError::TooLarge { .. })),
            "{e:?}"
        );
        let e = against_raw(Scram, &sasl_initial(b"SCRAM-SHA-256-PLUS", 3, b"abc")).await;
        assert!(matches!(e, ClientAuthError::Mechanism(_)), "{e:?}");
        let e = against_raw(Scram, &sasl_initial(b"SCRAM-SHA-256", 4, b"abc")).await;
        assert!(matches!(e, ClientAuthError::Protocol(_)), "{e:?}");
        let e = against_raw(Scram, &sasl_initial(b"SCRAM-SHA-256", -1, b"")).await;
        assert!(matches!(e, ClientAuthError::Scram(_)), "{e:?}");
        let e = against_raw(Scram, &tagged(b'p', b"SCRAM-SHA-256")).await;
        assert!(matches!(e, ClientAuthError::Protocol(_)), "{e:?}");
        let e = against_raw(
            Scram,
            &sasl_initial(b"SCRAM-SHA-256", 14, b"p=x,,n=,r=abcd"),
        )
        .await;
        assert!(
            matches!(
                e,
                ClientAuthError::Scram(ScramError::ChannelBindingRequested)
            ),
            "{e:?}"
        );
        // A good first message, then the client leaves.
        let e = against_raw(Scram, &sasl_initial(b"SCRAM-SHA-256", 11, b"n,,n=,r=abc")).await;
        assert!(matches!(e, ClientAuthError::Disconnected), "{e:?}");

        let e = against_raw(Cleartext, &tagged(b'p', b"pw")).await;
        assert!(matches!(e, ClientAuthError::Protocol(_)), "{e:?}");
        let e = against_raw(Cleartext, &tagged(b'p', b"pw\0extra")).await;
        assert!(matches!(e, ClientAuthError::Protocol(_)), "{e:?}");
        let e = against_raw(Cleartext, &tagged(b'p', b"\0")).await;
        assert!(matches!(e, ClientAuthError::Failed), "{e:?}");
        let e = against_raw(Cleartext, &tagged(b'p', b"\xff\0")).await;
        assert!(matches!(e, ClientAuthError::Failed), "{e:?}");
    }
}
