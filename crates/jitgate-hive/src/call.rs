//! One Thrift call, from the client's request to the reply it gets: which session it belongs to
//! (and whether the caller holds that session's credential), what the session's policy makes of
//! it, the relay upstream, and the bookkeeping of operations for the audit trail.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::{Admission, LoginContext, Proof, Protocol};
use jitgate_masking::SubjectView;
use jitgate_spark_sql::Refusal;
use jitgate_sqlstate::SqlState;
use serde_json::json;

use crate::front::{count_out, state, Conn};
use crate::policy::{self, Masked, Policy};
use crate::schemas;
use crate::scrub::Scrub;
use crate::session::{self, Live, Opening, Operation, Statement};
use crate::tcli::{self, op_state, Scope};
use crate::thrift::{self, Message, Struct, Value};
use crate::upstream::{self, UpstreamError};

/// What goes back to the client.
pub enum Reply {
    /// The upstream's bytes as they came.
    Raw(Bytes),
    Message(Message),
}

fn error(call: &Message, state: SqlState, message: &str) -> Reply {
    Reply::Message(tcli::error_reply(call, state, message))
}

pub async fn dispatch(conn: &Conn, call: Message, credential: Option<String>, size: u64) -> Reply {
    let Some(scope) = tcli::scope(&call.name) else {
        return error(
            &call,
            SqlState::FEATURE_NOT_SUPPORTED,
            &format!("jitgate does not relay {} calls", call.name),
        );
    };
    let Some(credential) = credential else {
        return error(
            &call,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "no jitgate credential: connect with user \"token\" and the credential that \
             `jitgate connect RESOURCE` prints as password (or send it as bearer token)",
        );
    };
    let registry = &conn.front.registry;
    let live = match scope {
        Scope::Open => return open_session(conn, call, credential).await,
        Scope::Session => tcli::request_guid(&call).and_then(|g| registry.session(&g)),
        Scope::Operation => tcli::request_guid(&call).and_then(|g| registry.of_operation(&g)),
    };
    let Some(live) = live else {
        return error(
            &call,
            state::NO_SUCH_SESSION,
            "jitgate knows no such session or operation: open a session through jitgate",
        );
    };
    if !live.same_credential(&credential) {
        return error(
            &call,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "this session belongs to another credential",
        );
    }
    conn.logged_in();
    if let Some(why) = live.ended() {
        return error(&call, SqlState::ADMIN_SHUTDOWN, &why);
    }
    live.touch();
    live.bytes_from_client.fetch_add(size, Ordering::Relaxed);
    let reply = match scope {
        Scope::Session => session_call(conn, &live, call).await,
        _ => operation_call(conn, &live, call).await,
    };
    count_out(&live, &reply);
    reply
}

/// OpenSession: transport, admission, the subject's policy, then the upstream's session.
async fn open_session(conn: &Conn, mut call: Message, credential: String) -> Reply {
    let front = &conn.front;
    if let Some(why) = conn.transport_refusal() {
        return error(&call, SqlState::INVALID_AUTHORIZATION_SPECIFICATION, why);
    }
    if !front.registry.has_room() {
        return error(
            &call,
            SqlState::TOO_MANY_CONNECTIONS,
            "too many open sessions",
        );
    }
    // LOGIN.SECRET: secrets are letters and digits, so the last '.' splits them.
    let (login, secret) = credential.rsplit_once('.').unwrap_or((&credential, ""));
    let admission = match admit(conn, login, secret).await {
        Ok(a) => a,
        Err(message) => {
            return error(
                &call,
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                &message,
            )
        }
    };
    conn.logged_in();
    let policy = policy_for(conn, &admission);
    let Some(req) = tcli::request_mut(&mut call) else {
        return error(
            &call,
            SqlState::PROTOCOL_VIOLATION,
            "OpenSession without a request",
        );
    };
    if let Policy::Masked(m) = &policy {
        if let Err(refusal) = m.open_session(req) {
            front.control.audit(
                AuditEvent::new(
                    kind::MASKING_REFUSED,
                    json!({"text": "OpenSession", "reason": refusal.message, "protocol": "databricks-sql"}),
                )
                .subject(&admission.subject)
                .resource(&front.name)
                .grant(&admission.grant.id),
            );
            return error(&call, SqlState::INSUFFICIENT_PRIVILEGE, &refusal.message);
        }
    }
    // The client's credential never goes upstream: jitgate's own is in the HTTP header.
    req.remove(2);
    req.remove(3);
    let session = front
        .control
        .open_session(&admission, &conn.peer.to_string());
    let (reply, raw) = match front.upstream.call(&call).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(resource = %front.name, "upstream OpenSession failed: {e}");
            session.close(&format!("upstream failed: {e}"), 0, 0);
            return error(
                &call,
                SqlState::CONNECTION_FAILURE,
                &format!("jitgate cannot reach the upstream: {e}"),
            );
        }
    };
    let handle = tcli::response_session(&reply);
    let guid = handle.as_ref().and_then(tcli::handle_guid);
    let (Some(handle), Some(guid)) = (handle, guid) else {
        let why = tcli::status(&reply)
            .and_then(|(_, m)| m)
            .unwrap_or_default();
        session.close(&format!("upstream refused the session: {why}"), 0, 0);
        return finish(&policy, reply, raw);
    };
    let live = session::start(
        &front.registry,
        &front.control,
        &front.upstream,
        &conn.shutdown,
        Opening {
            credential: credential.clone(),
            login: login.to_owned(),
            admission,
            session,
            policy,
            handle,
            guid,
            idle_limit: front.idle_limit,
        },
    );
    finish(&live.policy, reply, raw)
}

async fn admit(conn: &Conn, login: &str, secret: &str) -> Result<Admission, String> {
    let front = &conn.front;
    let attempt = front
        .control
        .begin_login(LoginContext {
            login,
            resource: &front.name,
            peer: conn.peer,
            protocol: Protocol::DatabricksSql,
        })
        .map_err(|e| {
            tracing::error!("looking up credential: {e}");
            "jitgate cannot read its store".to_owned()
        })?;
    let secret = secret.to_owned();
    // A key derivation of thousands of rounds: off the threads that relay traffic.
    let (attempt, matches) = tokio::task::spawn_blocking(move || {
        let matches = attempt.check_password(&secret);
        (attempt, matches)
    })
    .await
    .map_err(|_| "jitgate could not check the credential".to_owned())?;
    let proof = if matches {
        Proof::Verified
    } else {
        Proof::Failed
    };
    attempt.finish(proof).map_err(|r| r.client_message())
}

fn policy_for(conn: &Conn, admission: &Admission) -> Policy {
    let front = &conn.front;
    let view = front.control.admitted_view(admission, &front.masking).view;
    match view {
        SubjectView::Masked(view) => Policy::Masked(Box::new(Masked {
            view,
            namespace: front.namespace.clone(),
        })),
        // Masked subjects' statements are limited to reads by the analysis; clear ones are not
        // analysed at all, so a read-only grant cannot be enforced for them yet.
        SubjectView::Clear if admission.grant.read_only => Policy::Refuse(
            "read-only grants are enforced on this resource only for masked subjects: jitgate \
             refuses statements rather than risk a write"
                .into(),
        ),
        SubjectView::Clear => Policy::Clear,
    }
}

async fn session_call(conn: &Conn, live: &Arc<Live>, mut call: Message) -> Reply {
    let method = call.name.clone();
    let started = Instant::now();
    let sync = method == "ExecuteStatement" && make_async(&mut call);
    let text: Arc<str> = match method.as_str() {
        "ExecuteStatement" => {
            let client_text = tcli::request(&call)
                .and_then(|r| r.get_str(2))
                .unwrap_or_default();
            if let Err(refusal) = statement_policy(conn, live, &mut call).await {
                let (audit_kind, state) = match &live.policy {
                    Policy::Refuse(_) => {
                        (kind::READ_ONLY_REFUSED, SqlState::INSUFFICIENT_PRIVILEGE)
                    }
                    _ => (kind::MASKING_REFUSED, SqlState::INSUFFICIENT_PRIVILEGE),
                };
                live.auditor
                    .refused(audit_kind, &client_text, &refusal.message);
                return error(&call, state, &refusal.message);
            }
            Arc::from(client_text)
        }
        m if tcli::is_metadata(m) => {
            if let (Policy::Masked(_), Some(req)) = (&live.policy, tcli::request_mut(&mut call)) {
                policy::metadata_request(req);
            }
            Arc::from(metadata_text(&call))
        }
        _ => Arc::from(""),
    };
    let reply = match relay(conn, live, &call).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if method == "CloseSession" {
        live.client_closed();
    }
    let (message, raw) = reply;
    if let Some(handle) = tcli::response_operation(&message).filter(|_| !text.is_empty()) {
        if let Some(guid) = tcli::handle_guid(&handle) {
            let statement = Statement {
                text: text.clone(),
                started,
                rows: 0,
                error: None,
            };
            if !live.add_operation(guid.clone(), Operation { handle, statement }) {
                return error(
                    &call,
                    SqlState::PROGRAM_LIMIT_EXCEEDED,
                    "too many open operations in this session: close some",
                );
            }
            conn.front
                .registry
                .add_operation(&session_guid(live), guid.clone());
            if sync {
                if let Some(failed) = wait_finished(conn, live, &call, &guid).await {
                    return failed;
                }
            }
        }
    } else if !text.is_empty() {
        // Failed before it became an operation.
        let failed = tcli::status(&message)
            .is_some_and(|(c, _)| c != tcli::SUCCESS && c != tcli::SUCCESS_WITH_INFO);
        if failed {
            live.schemas.clear();
        }
        live.audit(Statement {
            text,
            started,
            rows: 0,
            error: failed.then_some(SqlState::INTERNAL_ERROR),
        });
    }
    finish(&live.policy, message, raw)
}

/// Makes a synchronous ExecuteStatement asynchronous upstream (jitgate then waits for it, see
/// [`wait_finished`]), so that jitgate holds the operation's handle while it runs and can cancel
/// it the moment the grant ends. Whether the client asked for a synchronous call.
fn make_async(call: &mut Message) -> bool {
    let Some(req) = tcli::request_mut(call) else {
        return false;
    };
    if matches!(req.get(4), Some(Value::Bool(true))) {
        return false;
    }
    req.set(4, Value::Bool(true));
    true
}

/// Waits for an operation jitgate made asynchronous to finish, as the client's synchronous call
/// would have: `None` once it finished, else the failed ExecuteStatement's reply (the operation
/// then closed upstream and audited).
async fn wait_finished(
    conn: &Conn,
    live: &Arc<Live>,
    call: &Message,
    guid: &Bytes,
) -> Option<Reply> {
    let handle = live.with_operation(guid, |op| op.handle.clone())?;
    let status = tcli::call("GetOperationStatus", tcli::handle_request(&handle));
    let mut pause = Duration::from_millis(5);
    loop {
        let (reply, _) = match relay(conn, live, &status).await {
            Ok(r) => r,
            Err(reply) => return Some(reply),
        };
        let (state, message) = tcli::operation_state(&reply).unwrap_or((op_state::ERROR, None));
        match state {
            op_state::FINISHED => return None,
            op_state::INITIALIZED | op_state::RUNNING | op_state::PENDING => {}
            _ => {
                let resp = tcli::response(&reply);
                let sqlstate = resp
                    .and_then(|r| r.get_str(3))
                    .and_then(|s| SqlState::from_bytes(s.as_bytes()).ok())
                    .unwrap_or(SqlState::INTERNAL_ERROR);
                live.with_operation(guid, |op| op.statement.error = Some(sqlstate));
                live.schemas.clear();
                live.close_operation(guid);
                conn.front.registry.remove_operation(guid);
                let close = tcli::call("CloseOperation", tcli::handle_request(&handle));
                let upstream = conn.front.upstream.clone();
                tokio::spawn(async move { upstream.own_call(&close).await });
                let text = message.unwrap_or_else(|| "the statement failed".into());
                let failed = tcli::error_reply(call, sqlstate, &text);
                let raw = Bytes::from(thrift::encode(&failed));
                return Some(finish(&live.policy, failed, raw));
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn session_guid(live: &Live) -> Bytes {
    tcli::handle_guid(&live.handle).unwrap_or_default()
}

async fn operation_call(conn: &Conn, live: &Arc<Live>, call: Message) -> Reply {
    let Some(guid) = tcli::request_guid(&call) else {
        return error(&call, state::NO_SUCH_SESSION, "no operation handle");
    };
    if call.name == "FetchResults" && matches!(live.policy, Policy::Clear) {
        return clear_fetch(conn, live, &call, &guid).await;
    }
    let (message, raw) = match relay(conn, live, &call).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match call.name.as_str() {
        "FetchResults" => {
            if let (true, Some(resp)) = (fetches_rows(&call), tcli::response(&message)) {
                let n = tcli::rows_in_fetch(resp);
                live.with_operation(&guid, |op| op.statement.rows += n);
            }
        }
        "GetOperationStatus" => {
            if let Some((st, _)) = tcli::operation_state(&message) {
                let failed = match st {
                    op_state::ERROR => Some(SqlState::INTERNAL_ERROR),
                    op_state::CANCELED => Some(SqlState::QUERY_CANCELED),
                    _ => None,
                };
                if let Some(f) = failed {
                    live.with_operation(&guid, |op| op.statement.error = Some(f));
                    live.schemas.clear();
                }
            }
        }
        "CloseOperation" => {
            live.close_operation(&guid);
            conn.front.registry.remove_operation(&guid);
        }
        _ => {}
    }
    finish(&live.policy, message, raw)
}

/// Sends a call upstream, unless the session ends first: the reply decoded, and as it came.
async fn relay(conn: &Conn, live: &Live, call: &Message) -> Result<(Message, Bytes), Reply> {
    let raw = relay_raw(conn, live, call).await?;
    match thrift::decode(raw.clone(), upstream::REPLY_LIMITS) {
        Ok(m) => Ok((m, raw)),
        Err(e) => Err(upstream_failed(conn, call, UpstreamError::Decode(e))),
    }
}

/// Sends a call upstream, unless the session ends first: the reply as it came.
async fn relay_raw(conn: &Conn, live: &Live, call: &Message) -> Result<Bytes, Reply> {
    let body = Bytes::from(thrift::encode(call));
    let sent = tokio::select! {
        r = conn.front.upstream.post(body) => r,
        why = live.stopped() => return Err(error(call, SqlState::ADMIN_SHUTDOWN, &why)),
    };
    sent.map_err(|e| upstream_failed(conn, call, e))
}

fn upstream_failed(conn: &Conn, call: &Message, e: UpstreamError) -> Reply {
    tracing::warn!(resource = %conn.front.name, "upstream {} failed: {e}", call.name);
    error(
        call,
        SqlState::CONNECTION_FAILURE,
        &format!("jitgate cannot reach the upstream: {e}"),
    )
}

/// Whether a FetchResults call asks for rows (not the query log: `fetchType` 1).
fn fetches_rows(call: &Message) -> bool {
    let fetch_type = tcli::request(call).and_then(|r| r.get(4));
    !matches!(fetch_type, Some(Value::I16(t)) if *t != 0)
}

/// A clear subject's FetchResults: relayed as it came, its rows counted in place (no tree is
/// built of what only passes through).
async fn clear_fetch(conn: &Conn, live: &Live, call: &Message, guid: &Bytes) -> Reply {
    let raw = match relay_raw(conn, live, call).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if fetches_rows(call) {
        match tcli::rows_in_fetch_reply(&raw) {
            Ok(n) => {
                live.with_operation(guid, |op| op.statement.rows += n);
            }
            Err(e) => return upstream_failed(conn, call, UpstreamError::Decode(e)),
        }
    }
    Reply::Raw(raw)
}

/// The reply for the client: as it came for clear subjects; scrubbed for masked ones.
fn finish(policy: &Policy, mut message: Message, raw: Bytes) -> Reply {
    let Policy::Masked(m) = policy else {
        return Reply::Raw(raw);
    };
    let scanner = Some(m.view.scanner()).filter(|s| !s.is_empty());
    let mut scrub = Scrub {
        scanner,
        key: m.view.key(),
        changed: 0,
    };
    let method = message.name.clone();
    let outcome = match tcli::response_mut(&mut message) {
        Some(resp) => scrub.response(&method, resp),
        // An exception: its message is text like any other.
        None => {
            message
                .body
                .fields
                .iter_mut()
                .for_each(|(_, v)| scrub.value(v));
            Ok(())
        }
    };
    match outcome {
        Err(why) => {
            let call = Message {
                name: method,
                kind: thrift::CALL,
                seq: message.seq,
                body: Struct::default(),
            };
            error(
                &call,
                SqlState::INSUFFICIENT_PRIVILEGE,
                &format!("jitgate cannot check this reply for a masked subject: {why}"),
            )
        }
        Ok(()) if scrub.changed == 0 => Reply::Raw(raw),
        Ok(()) => Reply::Message(message),
    }
}

/// The statement policy of ExecuteStatement: masked subjects' texts analysed and rewritten.
async fn statement_policy(conn: &Conn, live: &Live, call: &mut Message) -> Result<(), Refusal> {
    let masked = match &live.policy {
        Policy::Clear => return Ok(()),
        Policy::Refuse(why) => {
            return Err(Refusal {
                message: why.clone(),
            })
        }
        Policy::Masked(m) => m,
    };
    let Some(req) = tcli::request_mut(call) else {
        return Err(Refusal {
            message: "ExecuteStatement without a request".into(),
        });
    };
    masked.statement_request(req)?;
    let text = req.get_str(2).unwrap_or_default();
    let analysed = masked.analyse(&text)?;
    if !analysed.needs_rewrite() {
        // Whatever reads no protected table may change how names resolve (see `schemas`).
        live.schemas.clear();
        return Ok(());
    }
    let mut schemas = HashMap::new();
    for table in analysed.protected() {
        let columns = match live.schemas.get(table) {
            Some(c) => c,
            None => {
                let c = schemas::describe(&conn.front.upstream, &live.handle, table).await?;
                live.schemas.put(table.clone(), c.clone());
                c
            }
        };
        schemas.insert(table.clone(), columns);
    }
    let rewritten = analysed.rewrite(&schemas)?;
    req.set(2, Value::string(&rewritten));
    Ok(())
}

/// A metadata call as audit text: the call and its arguments.
fn metadata_text(call: &Message) -> String {
    let args: Vec<String> = tcli::request(call)
        .map(|r| {
            r.fields
                .iter()
                .filter(|(id, _)| (2..=7).contains(id))
                .filter_map(|(_, v)| {
                    v.as_bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{}({})", call.name, args.join(", "))
}
