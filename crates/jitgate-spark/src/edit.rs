//! Edits of the upstream's answers to masked subjects, message by message:
//! - the SQL text the upstream echoes back for `spark.sql` queries is put back to the client's
//!   own text (the text sent upstream holds the masking expressions);
//! - key material of keyed masks is blotted out of everything that could quote a plan: error
//!   statuses and their details, `FetchErrorDetails` and other non-data answers.
//!
//! Blotting replaces each byte of a secret by `*`: the length of every protobuf field stays
//! the same, so messages need no re-encoding.

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use jitgate_masking::Scanner;
use prost::Message;
use spark_connect_proto::execute_plan_response::ResponseType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::ExecutePlanResponse;

use crate::arrow_scan::{scan_ipc_stream, Scanned};
use crate::grpc::{self, Code, Status};

/// Replaces every occurrence of every secret in `buf` by `*`s; whether anything was replaced.
pub fn blot(buf: &mut [u8], secrets: &[Vec<u8>]) -> bool {
    let mut found = false;
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let finder = memchr::memmem::Finder::new(secret);
        let mut from = 0;
        while let Some(at) = finder.find(&buf[from..]) {
            let start = from + at;
            buf[start..start + secret.len()].fill(b'*');
            from = start + secret.len();
            found = true;
        }
    }
    found
}

/// Blots secrets out of a gRPC status in headers or trailers: `grpc-message` (percent-encoding
/// leaves hex digits alone) and `grpc-status-details-bin` (base64 of a `google.rpc.Status`,
/// whose details quote Spark's error message).
pub fn blot_status(headers: &mut HeaderMap, secrets: &[Vec<u8>]) {
    if secrets.is_empty() {
        return;
    }
    if let Some(v) = headers.get("grpc-message") {
        let mut text = v.as_bytes().to_vec();
        if blot(&mut text, secrets) {
            if let Ok(v) = HeaderValue::from_bytes(&text) {
                headers.insert("grpc-message", v);
            }
        }
    }
    if let Some(v) = headers.get("grpc-status-details-bin") {
        let engine = &base64::engine::general_purpose::STANDARD_NO_PAD;
        let raw = v.as_bytes();
        let trimmed = raw
            .strip_suffix(b"==")
            .or(raw.strip_suffix(b"="))
            .unwrap_or(raw);
        match engine.decode(trimmed) {
            Ok(mut details) => {
                if blot(&mut details, secrets) {
                    if let Ok(v) = HeaderValue::from_str(&engine.encode(&details)) {
                        headers.insert("grpc-status-details-bin", v);
                    }
                }
            }
            // Details jitgate cannot read could quote anything: they go.
            Err(_) => {
                headers.remove("grpc-status-details-bin");
            }
        }
    }
}

/// An edit of one message; an error ends the answer with that status (what cannot be checked
/// is not relayed).
type Edit = Box<dyn FnMut(Bytes) -> Result<Bytes, Status> + Send>;

/// Cuts a response body's data into its gRPC messages, edits each, and frames them again.
/// Holds at most one incomplete message.
pub struct MessageEdit {
    pending: BytesMut,
    edit: Edit,
}

impl MessageEdit {
    pub fn new(edit: impl FnMut(Bytes) -> Result<Bytes, Status> + Send + 'static) -> MessageEdit {
        MessageEdit {
            pending: BytesMut::new(),
            edit: Box::new(edit),
        }
    }

    /// The edited messages completed by `data` (possibly none), framed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Bytes, Status> {
        self.pending.extend_from_slice(data);
        let mut out = BytesMut::new();
        while self.pending.len() >= 5 {
            let len = u32::from_be_bytes([
                self.pending[1],
                self.pending[2],
                self.pending[3],
                self.pending[4],
            ]) as usize;
            if self.pending.len() < 5 + len {
                break;
            }
            let compressed = self.pending[0] != 0;
            let mut message = self.pending.split_to(5 + len).freeze();
            message.advance(5);
            // Compressed messages are not asked for (jitgate drops the client's
            // grpc-accept-encoding for masked subjects); one that comes anyway passes as it is.
            let message = if compressed {
                message
            } else {
                (self.edit)(message)?
            };
            out.extend_from_slice(&[u8::from(compressed)]);
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(&message);
        }
        Ok(out.freeze())
    }

    /// Bytes of an incomplete message the body ended with (to be relayed as they are).
    pub fn rest(&mut self) -> Bytes {
        self.pending.split().freeze()
    }
}

/// A message with the secrets blotted out (the same bytes when there are none in it).
/// Every result batch of a masked session passes here: it is copied only when a secret is in it.
pub fn blot_message(message: Bytes, secrets: &[Vec<u8>]) -> Bytes {
    let holds_secret = secrets
        .iter()
        .any(|s| !s.is_empty() && memchr::memmem::find(&message, s).is_some());
    if !holds_secret {
        return message;
    }
    let mut bytes = message.to_vec();
    blot(&mut bytes, secrets);
    Bytes::from(bytes)
}

/// `ExecutePlanResponse.arrow_batch` (field 2).
const ARROW_BATCH: u64 = 2;

/// Runs the content detectors over the string columns of a result message's Arrow batch,
/// redacting what they find; a batch that cannot be read ends the answer.
pub fn scan_batch(message: Bytes, scanner: &Scanner) -> Result<Bytes, Status> {
    if !grpc::may_have_field(&message, ARROW_BATCH) {
        return Ok(message);
    }
    let unreadable = |why: String| {
        Status::new(
            Code::Internal,
            format!("jitgate cannot check a result batch, so it does not relay it: {why}"),
        )
    };
    let mut response =
        ExecutePlanResponse::decode(message.clone()).map_err(|e| unreadable(e.to_string()))?;
    let Some(ResponseType::ArrowBatch(batch)) = response.response_type.as_mut() else {
        return Ok(message);
    };
    match scan_ipc_stream(&batch.data, scanner).map_err(|e| unreadable(e.to_string()))? {
        Scanned::Unchanged => Ok(message),
        Scanned::Redacted { ipc, values } => {
            tracing::debug!(values, "detectors redacted values in a result batch");
            batch.data = ipc.into();
            Ok(Bytes::from(response.encode_to_vec()))
        }
    }
}

/// `ExecutePlanResponse.sql_command_result` (field 5).
const SQL_COMMAND_RESULT: u64 = 5;

/// A result message with the client's SQL text put back into a `SqlCommandResult` relation,
/// given (sent, client's) pairs. Other messages (Arrow batches) are not decoded.
pub fn restore_sql_text(message: Bytes, texts: &[(String, String)]) -> Bytes {
    if !grpc::may_have_field(&message, SQL_COMMAND_RESULT) {
        return message;
    }
    let Ok(mut response) = ExecutePlanResponse::decode(message.clone()) else {
        return message;
    };
    let Some(ResponseType::SqlCommandResult(result)) = response.response_type.as_mut() else {
        return message;
    };
    let Some(RelType::Sql(sql)) = result.relation.as_mut().and_then(|r| r.rel_type.as_mut()) else {
        return message;
    };
    match texts.iter().find(|(sent, _)| *sent == sql.query) {
        Some((_, original)) => {
            sql.query = original.clone();
            Bytes::from(response.encode_to_vec())
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spark_connect_proto::execute_plan_response::SqlCommandResult;
    use spark_connect_proto::{Relation, Sql};

    fn secrets() -> Vec<Vec<u8>> {
        vec![b"abcd1234".to_vec(), b"ABCD1234".to_vec()]
    }

    #[test]
    fn secrets_are_blotted_in_place() {
        let mut text = b"x'abcd1234' and 0xABCD1234 and abcd123".to_vec();
        assert!(blot(&mut text, &secrets()));
        assert_eq!(text, b"x'********' and 0x******** and abcd123");
        let mut clean = b"nothing here".to_vec();
        assert!(!blot(&mut clean, &secrets()));
    }

    #[test]
    fn statuses_lose_secrets_in_message_and_details() {
        let engine = &base64::engine::general_purpose::STANDARD_NO_PAD;
        let mut headers = HeaderMap::new();
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("cannot resolve X'abcd1234'"),
        );
        let details = engine.encode(b"\x0a\x10plan: abcd1234 ok");
        headers.insert(
            "grpc-status-details-bin",
            HeaderValue::from_str(&details).expect("header"),
        );
        blot_status(&mut headers, &secrets());
        assert_eq!(
            headers.get("grpc-message").map(|v| v.as_bytes()),
            Some(&b"cannot resolve X'********'"[..])
        );
        let details = headers
            .get("grpc-status-details-bin")
            .and_then(|v| engine.decode(v.as_bytes()).ok())
            .expect("details");
        assert_eq!(details, b"\x0a\x10plan: ******** ok");
    }

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        messages
            .iter()
            .flat_map(|m| grpc::frame(m).to_vec())
            .collect()
    }

    #[test]
    fn messages_split_across_frames_are_edited_whole() {
        let body = framed(&[b"abcd1234 first", b"second"]);
        let secrets = secrets();
        let mut edit = MessageEdit::new(move |m| Ok(blot_message(m, &secrets)));
        let mut out = Vec::new();
        for chunk in body.chunks(3) {
            out.extend_from_slice(&edit.feed(chunk).expect("edits"));
        }
        assert!(edit.rest().is_empty());
        assert_eq!(out, framed(&[b"******** first", b"second"]));
    }

    #[test]
    fn the_clients_sql_text_comes_back() {
        let response = |query: &str| ExecutePlanResponse {
            session_id: "s".into(),
            response_type: Some(ResponseType::SqlCommandResult(SqlCommandResult {
                relation: Some(Relation {
                    common: None,
                    rel_type: Some(RelType::Sql(Sql {
                        query: query.into(),
                        ..Default::default()
                    })),
                }),
            })),
            ..Default::default()
        };
        let texts = [("SENT".to_string(), "MINE".to_string())];
        let restore = |m: Bytes| restore_sql_text(m, &texts);
        let out = restore(Bytes::from(response("SENT").encode_to_vec()));
        assert_eq!(
            ExecutePlanResponse::decode(out).expect("decodes"),
            response("MINE")
        );
        let other = Bytes::from(response("OTHER").encode_to_vec());
        assert_eq!(restore(other.clone()), other);
    }
}
