//! The content detectors over the answers to masked subjects that are not result batches but
//! can carry data all the same: error statuses (`grpc-message` and the `google.rpc.Status` of
//! `grpc-status-details-bin`), `FetchErrorDetails` answers (message, parameters, query
//! contexts, stack traces), observed metrics (`df.observe`) and the rows of SQL command results
//! (`SHOW`, `DESCRIBE`, `SET`). An error quotes values (`raise_error(note)`, a failed cast) and an
//! observed metric is a value: both are data.
//!
//! Every text field is redacted where the detectors find something; a message jitgate cannot
//! decode is not relayed (status details: dropped; answers: the call ends with an error).
//! Nothing is decoded or re-encoded when no detector is configured, and a message is re-encoded
//! only when something in it was redacted.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use jitgate_masking::Scanner;
use prost::Message;
use spark_connect_proto::execute_plan_response::ResponseType;
use spark_connect_proto::expression::literal::LiteralType;
use spark_connect_proto::expression::Literal;
use spark_connect_proto::fetch_error_details_response::Error as ErrorDetail;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{ExecutePlanResponse, FetchErrorDetailsResponse};

use crate::arrow_scan::{scan_ipc_stream, Scanned};
use crate::grpc::{self, Code, Status};

/// `google.rpc.Status`, as `grpc-status-details-bin` carries it.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.ErrorInfo`: Spark puts the error class, its parameters (values quoted) and the
/// id for `FetchErrorDetails` in the metadata.
#[derive(Clone, PartialEq, Message)]
struct ErrorInfo {
    #[prost(string, tag = "1")]
    reason: String,
    #[prost(string, tag = "2")]
    domain: String,
    #[prost(map = "string, string", tag = "3")]
    metadata: HashMap<String, String>,
}

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// Redacts one text in place; whether it changed.
fn text(s: &mut String, scanner: &Scanner) -> bool {
    let redacted = match scanner.redact(s) {
        std::borrow::Cow::Borrowed(_) => return false,
        std::borrow::Cow::Owned(r) => r,
    };
    *s = redacted;
    true
}

/// Redacts a text that may be JSON (Spark's message parameters are): each string inside it is
/// redacted on its own, after JSON's escapes are read (`\n` or `\u0030` could otherwise hide a
/// value from the detectors); text that is not JSON is redacted as it is.
fn json_or_text(s: &mut String, scanner: &Scanner) -> bool {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(s) else {
        return text(s, scanner);
    };
    if !json_value(&mut value, scanner) {
        return false;
    }
    *s = value.to_string();
    true
}

fn json_value(value: &mut serde_json::Value, scanner: &Scanner) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => text(s, scanner),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| json_value(v, scanner) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| json_value(v, scanner) | changed),
        _ => false,
    }
}

/// Runs the detectors over a gRPC status in headers or trailers: `grpc-message` is redacted;
/// `grpc-status-details-bin` is decoded and its message and `ErrorInfo` redacted, and dropped
/// when it cannot be read or holds details of another kind in which something is found.
pub fn status_headers(headers: &mut HeaderMap, scanner: &Scanner) {
    if let Some(raw) = headers.get("grpc-message") {
        let mut message = raw.to_str().map(grpc::percent_decode).ok();
        let redacted = message.as_mut().map(|m| text(m, scanner));
        match (message, redacted) {
            (Some(message), Some(true)) => {
                match HeaderValue::from_str(&grpc::percent_encode(&message)) {
                    Ok(v) => headers.insert("grpc-message", v),
                    Err(_) => headers.remove("grpc-message"),
                };
            }
            (Some(_), _) => {}
            // Not the visible ASCII gRPC allows: jitgate cannot read it, so it goes.
            (None, _) => {
                headers.remove("grpc-message");
            }
        }
    }
    let Some(raw) = headers.get("grpc-status-details-bin") else {
        return;
    };
    let engine = &base64::engine::general_purpose::STANDARD_NO_PAD;
    let raw = raw.as_bytes();
    let trimmed = raw
        .strip_suffix(b"==")
        .or(raw.strip_suffix(b"="))
        .unwrap_or(raw);
    let decoded = engine
        .decode(trimmed)
        .ok()
        .and_then(|bytes| RpcStatus::decode(bytes.as_slice()).ok());
    let Some(mut status) = decoded else {
        headers.remove("grpc-status-details-bin");
        return;
    };
    if !rpc_status(&mut status, scanner) {
        return;
    }
    match HeaderValue::from_str(&engine.encode(status.encode_to_vec())) {
        Ok(v) => {
            headers.insert("grpc-status-details-bin", v);
        }
        Err(_) => {
            headers.remove("grpc-status-details-bin");
        }
    }
}

/// Redacts a `google.rpc.Status`; whether it changed.
fn rpc_status(status: &mut RpcStatus, scanner: &Scanner) -> bool {
    let mut changed = text(&mut status.message, scanner);
    let before = status.details.len();
    status.details.retain_mut(|any| {
        if any.type_url != ERROR_INFO {
            // A kind jitgate does not read: kept only if nothing is found in its bytes.
            return !scanner.finds_any(&any.value);
        }
        let Ok(mut info) = ErrorInfo::decode(any.value.as_slice()) else {
            return false;
        };
        let mut redacted = text(&mut info.reason, scanner);
        for value in info.metadata.values_mut() {
            redacted |= json_or_text(value, scanner);
        }
        if redacted {
            any.value = info.encode_to_vec();
            changed = true;
        }
        true
    });
    changed || status.details.len() != before
}

/// A `FetchErrorDetails` answer with every text redacted: messages, parameters, query contexts
/// (their fragments and summaries quote the statement) and stack traces.
pub fn error_details(message: Bytes, scanner: &Scanner) -> Result<Bytes, Status> {
    let mut response = FetchErrorDetailsResponse::decode(message.clone())
        .map_err(|e| unreadable("error details", e))?;
    let changed = response
        .errors
        .iter_mut()
        .fold(false, |changed, e| error_detail(e, scanner) | changed);
    Ok(if changed {
        Bytes::from(response.encode_to_vec())
    } else {
        message
    })
}

fn error_detail(error: &mut ErrorDetail, scanner: &Scanner) -> bool {
    let mut changed = text(&mut error.message, scanner);
    for t in &mut error.error_type_hierarchy {
        changed |= text(t, scanner);
    }
    for frame in &mut error.stack_trace {
        changed |= text(&mut frame.declaring_class, scanner);
        changed |= text(&mut frame.method_name, scanner);
        if let Some(file) = frame.file_name.as_mut() {
            changed |= text(file, scanner);
        }
    }
    if let Some(throwable) = error.spark_throwable.as_mut() {
        for value in throwable.message_parameters.values_mut() {
            changed |= json_or_text(value, scanner);
        }
        for context in &mut throwable.query_contexts {
            for t in [
                &mut context.object_type,
                &mut context.object_name,
                &mut context.fragment,
                &mut context.call_site,
                &mut context.summary,
            ] {
                changed |= text(t, scanner);
            }
        }
        if let Some(info) = throwable.breaking_change_info.as_mut() {
            for t in &mut info.migration_message {
                changed |= text(t, scanner);
            }
        }
    }
    changed
}

/// `ExecutePlanResponse.sql_command_result` (5) and `observed_metrics` (6).
const SQL_COMMAND_RESULT: u64 = 5;
const OBSERVED_METRICS: u64 = 6;

/// An `ExecutePlan` answer with its observed metrics' values and its SQL command result's rows
/// redacted (other answers are not decoded; result batches are scanned by `edit::scan_batch`).
pub fn result_extras(message: Bytes, scanner: &Scanner) -> Result<Bytes, Status> {
    if !grpc::may_have_field(&message, OBSERVED_METRICS)
        && !grpc::may_have_field(&message, SQL_COMMAND_RESULT)
    {
        return Ok(message);
    }
    let mut response =
        ExecutePlanResponse::decode(message.clone()).map_err(|e| unreadable("an answer", e))?;
    let mut changed = false;
    for metrics in &mut response.observed_metrics {
        for value in &mut metrics.values {
            changed |= literal(value, scanner);
        }
    }
    if let Some(ResponseType::SqlCommandResult(result)) = response.response_type.as_mut() {
        if let Some(RelType::LocalRelation(local)) =
            result.relation.as_mut().and_then(|r| r.rel_type.as_mut())
        {
            if let Some(data) = local.data.as_mut() {
                let scanned = scan_ipc_stream(data, scanner)
                    .map_err(|e| unreadable("a command's result", e))?;
                if let Scanned::Redacted { ipc, .. } = scanned {
                    *data = ipc.into();
                    changed = true;
                }
            }
        }
    }
    Ok(if changed {
        Bytes::from(response.encode_to_vec())
    } else {
        message
    })
}

/// Redacts the strings of a literal, to any depth; whether it changed.
fn literal(value: &mut Literal, scanner: &Scanner) -> bool {
    let Some(kind) = value.literal_type.as_mut() else {
        return false;
    };
    let all = |items: &mut Vec<Literal>| {
        items
            .iter_mut()
            .fold(false, |changed, v| literal(v, scanner) | changed)
    };
    match kind {
        LiteralType::String(s) => text(s, scanner),
        LiteralType::Array(a) => all(&mut a.elements),
        LiteralType::Map(m) => all(&mut m.keys) | all(&mut m.values),
        LiteralType::Struct(s) => all(&mut s.elements),
        _ => false,
    }
}

fn unreadable(what: &str, e: impl std::fmt::Display) -> Status {
    Status::new(
        Code::Internal,
        format!("jitgate cannot check {what} of the upstream, so it does not relay it: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spark_connect_proto::execute_plan_response::ObservedMetrics;
    use spark_connect_proto::fetch_error_details_response::{QueryContext, SparkThrowable};

    fn scanner() -> &'static Scanner {
        Scanner::builtin()
    }

    fn string(s: &str) -> Literal {
        Literal {
            literal_type: Some(LiteralType::String(s.into())),
            ..Default::default()
        }
    }

    #[test]
    fn status_messages_and_details_are_redacted() {
        let engine = &base64::engine::general_purpose::STANDARD_NO_PAD;
        let info = ErrorInfo {
            reason: "CAST_INVALID_INPUT".into(),
            domain: "org.apache.spark".into(),
            metadata: HashMap::from([
                (
                    "messageParameters".to_string(),
                    r#"{"expression":"'card 4012 8888\n8888 1881 or 078-05-1120'"}"#.to_string(),
                ),
                ("errorId".to_string(), "e-1".to_string()),
            ]),
        };
        let status = RpcStatus {
            code: 2,
            message: "The value 'my ssn is 078-05-1120' cannot be cast".into(),
            details: vec![
                Any {
                    type_url: ERROR_INFO.into(),
                    value: info.encode_to_vec(),
                },
                Any {
                    type_url: "type.googleapis.com/other".into(),
                    value: b"\x0a\x0b078-05-1120".to_vec(),
                },
            ],
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("The value 'my ssn is 078-05-1120' cannot be cast"),
        );
        headers.insert(
            "grpc-status-details-bin",
            HeaderValue::from_str(&engine.encode(status.encode_to_vec())).expect("header"),
        );
        headers.insert("grpc-status", HeaderValue::from_static("2"));
        status_headers(&mut headers, scanner());
        let (_, message) = grpc::status_of(&headers).expect("status");
        assert_eq!(message, "The value 'my ssn is [ssn]' cannot be cast");
        let details = headers
            .get("grpc-status-details-bin")
            .and_then(|v| engine.decode(v.as_bytes()).ok())
            .and_then(|b| RpcStatus::decode(b.as_slice()).ok())
            .expect("details");
        assert_eq!(
            details.message,
            "The value 'my ssn is [ssn]' cannot be cast"
        );
        assert_eq!(
            details.details.len(),
            1,
            "the unread detail with a finding goes"
        );
        let info = ErrorInfo::decode(details.details[0].value.as_slice()).expect("info");
        let params = &info.metadata["messageParameters"];
        assert!(!params.contains("078-05-1120"), "{params}");
        assert_eq!(info.metadata["errorId"], "e-1");

        let mut junk = HeaderMap::new();
        junk.insert("grpc-status-details-bin", HeaderValue::from_static("%%%"));
        status_headers(&mut junk, scanner());
        assert!(junk.get("grpc-status-details-bin").is_none());
    }

    #[test]
    fn error_details_are_redacted_everywhere() {
        let response = FetchErrorDetailsResponse {
            errors: vec![ErrorDetail {
                message: "[USER_RAISED_EXCEPTION] my ssn is 078-05-1120".into(),
                spark_throwable: Some(SparkThrowable {
                    message_parameters: HashMap::from([(
                        "errorMessage".to_string(),
                        "card 4012 8888 8888 1881".to_string(),
                    )]),
                    query_contexts: vec![QueryContext {
                        fragment: "raise_error('078-05-1120')".into(),
                        summary: "SELECT raise_error('078-05-1120')".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let out = error_details(Bytes::from(response.encode_to_vec()), scanner()).expect("ok");
        let text = String::from_utf8_lossy(&out).to_string();
        assert!(
            !text.contains("078-05-1120") && !text.contains("4012 8888"),
            "{text}"
        );
        assert!(text.contains("[ssn]") && text.contains("[card]"), "{text}");
        let clean = FetchErrorDetailsResponse::default().encode_to_vec();
        assert_eq!(
            error_details(Bytes::from(clean.clone()), scanner()).expect("ok"),
            clean
        );
        assert!(error_details(Bytes::from_static(b"\xff\xff"), scanner()).is_err());
    }

    /// The rows of a `DESCRIBE` whose table comment quotes an SSN, as an Arrow IPC stream.
    fn command_rows() -> Vec<u8> {
        use arrow_array::{RecordBatch, StringArray};
        use arrow_ipc::writer::StreamWriter;
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("col_name", DataType::Utf8, true),
            Field::new("data_type", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["Comment", "Owner"])),
                Arc::new(StringArray::from(vec!["kept by 078-05-1120", "bob"])),
            ],
        )
        .expect("batch");
        let mut writer = StreamWriter::try_new(Vec::new(), &schema).expect("writer");
        writer.write(&batch).expect("write");
        writer.into_inner().expect("finish")
    }

    #[test]
    fn sql_command_results_rows_are_redacted() {
        use spark_connect_proto::execute_plan_response::SqlCommandResult;
        use spark_connect_proto::{LocalRelation, Relation};
        let response = |data: Vec<u8>| ExecutePlanResponse {
            response_type: Some(ResponseType::SqlCommandResult(SqlCommandResult {
                relation: Some(Relation {
                    common: None,
                    rel_type: Some(RelType::LocalRelation(LocalRelation {
                        data: Some(data.into()),
                        schema: None,
                    })),
                }),
            })),
            ..Default::default()
        };
        let message = Bytes::from(response(command_rows()).encode_to_vec());
        let out = result_extras(message, scanner()).expect("ok");
        let text = String::from_utf8_lossy(&out).to_string();
        assert!(!text.contains("078-05-1120"), "{text}");
        assert!(text.contains("kept by [ssn]"), "{text}");
        let broken = Bytes::from(response(b"not arrow".to_vec()).encode_to_vec());
        assert!(
            result_extras(broken, scanner()).is_err(),
            "unreadable rows are not relayed"
        );
    }

    #[test]
    fn observed_metrics_are_redacted_to_any_depth() {
        use spark_connect_proto::expression::literal::Array;
        let response = ExecutePlanResponse {
            observed_metrics: vec![ObservedMetrics {
                name: "m".into(),
                values: vec![
                    string("my ssn is 078-05-1120"),
                    Literal {
                        literal_type: Some(LiteralType::Array(Array {
                            elements: vec![string("ann@example.com")],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                    Literal {
                        literal_type: Some(LiteralType::Integer(7)),
                        ..Default::default()
                    },
                ],
                keys: vec!["mx".into(), "l".into(), "n".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let out = result_extras(Bytes::from(response.encode_to_vec()), scanner()).expect("ok");
        let out = ExecutePlanResponse::decode(out).expect("decodes");
        let values = &out.observed_metrics[0].values;
        assert_eq!(values[0], string("my ssn is [ssn]"));
        assert!(format!("{:?}", values[1]).contains("[email]"));
        assert_eq!(values[2].literal_type, Some(LiteralType::Integer(7)));
        let plain = Bytes::from(
            ExecutePlanResponse {
                session_id: "s".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        assert_eq!(result_extras(plain.clone(), scanner()).expect("ok"), plain);
    }
}
