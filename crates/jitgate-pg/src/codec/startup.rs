//! The untagged first message of a connection: StartupMessage, SSLRequest, GSSENCRequest or
//! CancelRequest, told apart by the code that follows the length.

use super::{ProtocolError, PRE_AUTH_MAX_MESSAGE};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3_0: u32 = 3 << 16;
/// Start-up parameters whose names begin so are protocol options (`_pq_.name`), not settings.
pub const PROTOCOL_OPTION_PREFIX: &str = "_pq_.";

/// What a client opened its connection with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupRequest {
    Ssl,
    GssEnc,
    Cancel { process_id: i32, secret_key: i32 },
    Startup(StartupParams),
}

/// The parameters of a StartupMessage (`user`, `database`, `application_name`, `options`, …), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupParams {
    pub minor_version: u16,
    pub params: Vec<(String, String)>,
}

impl StartupParams {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one untagged start-up packet; a declared length over [`PRE_AUTH_MAX_MESSAGE`] is
/// refused before the body is read.
pub async fn read_startup<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<StartupRequest, ProtocolError> {
    let mut len_word = [0u8; 4];
    read_exact_or_closed(reader, &mut len_word).await?;
    let len = u32::from_be_bytes(len_word) as usize;
    if !(8..=PRE_AUTH_MAX_MESSAGE).contains(&len) {
        return Err(ProtocolError::Malformed {
            what: "start-up packet length in",
        });
    }
    let mut body = BytesMut::zeroed(len - 4);
    read_exact_or_closed(reader, &mut body).await?;
    parse_startup(&body)
}

async fn read_exact_or_closed<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), ProtocolError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProtocolError::Closed),
        Err(e) => Err(e.into()),
    }
}

/// Parses the body of a start-up packet (everything after the length word).
pub fn parse_startup(body: &[u8]) -> Result<StartupRequest, ProtocolError> {
    if body.len() < 4 {
        return Err(ProtocolError::Malformed {
            what: "start-up packet",
        });
    }
    let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let rest = &body[4..];
    match code {
        SSL_REQUEST => Ok(StartupRequest::Ssl),
        GSSENC_REQUEST => Ok(StartupRequest::GssEnc),
        CANCEL_REQUEST => {
            if rest.len() != 8 {
                return Err(ProtocolError::Malformed {
                    what: "CancelRequest",
                });
            }
            Ok(StartupRequest::Cancel {
                process_id: i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                secret_key: i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
            })
        }
        _ if code >> 16 == PROTOCOL_3_0 >> 16 => {
            let params = parse_params(rest)?;
            Ok(StartupRequest::Startup(StartupParams {
                minor_version: (code & 0xffff) as u16,
                params,
            }))
        }
        _ => Err(ProtocolError::UnsupportedVersion {
            major: (code >> 16) as u16,
            minor: (code & 0xffff) as u16,
        }),
    }
}

fn parse_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, ProtocolError> {
    let malformed = ProtocolError::Malformed {
        what: "StartupMessage",
    };
    let mut params = Vec::new();
    loop {
        let key = super::take_cstr(&mut rest, "StartupMessage")?;
        if key.is_empty() {
            break;
        }
        let value = super::take_cstr(&mut rest, "StartupMessage")?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| ProtocolError::Malformed {
            what: "StartupMessage",
        })?;
        let value = String::from_utf8_lossy(value).into_owned();
        params.push((key, value));
    }
    if !rest.is_empty() {
        return Err(malformed);
    }
    Ok(params)
}

/// Encodes a StartupMessage for the upstream.
pub fn encode_startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    for (k, v) in params {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out.push(0);
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Encodes an SSLRequest.
pub fn encode_ssl_request() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&8u32.to_be_bytes());
    out[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    out
}

/// Encodes a CancelRequest for the upstream.
pub fn encode_cancel(process_id: i32, secret_key: i32) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&16u32.to_be_bytes());
    out[4..8].copy_from_slice(&CANCEL_REQUEST.to_be_bytes());
    out[8..12].copy_from_slice(&process_id.to_be_bytes());
    out[12..].copy_from_slice(&secret_key.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_round_trip() {
        let packet = encode_startup(&[("user", "alice"), ("database", "app")]);
        let req = parse_startup(&packet[4..]).unwrap();
        let StartupRequest::Startup(p) = req else {
            panic!("expected startup, got {req:?}")
        };
        assert_eq!(p.get("user"), Some("alice"));
        assert_eq!(p.get("database"), Some("app"));
    }

    #[test]
    fn cancel_round_trip() {
        let packet = encode_cancel(42, -7);
        assert_eq!(
            parse_startup(&packet[4..]).unwrap(),
            StartupRequest::Cancel {
                process_id: 42,
                secret_key: -7
            }
        );
    }

    #[test]
    fn unterminated_params_are_malformed() {
        let mut packet = encode_startup(&[("user", "alice")]);
        packet.truncate(packet.len() - 3);
        assert!(parse_startup(&packet[4..]).is_err());
    }

    #[test]
    fn unknown_protocol_refused() {
        let mut body = (2u32 << 16).to_be_bytes().to_vec();
        body.push(0);
        assert!(matches!(
            parse_startup(&body),
            Err(ProtocolError::UnsupportedVersion { major: 2, .. })
        ));
    }
}
