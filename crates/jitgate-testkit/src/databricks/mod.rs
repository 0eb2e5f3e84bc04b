//! An emulator of the Databricks REST endpoints jitgate's native provisioning uses, written
//! from Databricks' public API reference: SCIM 2.0 Users and Groups (workspace
//! `/api/2.0/preview/scim/v2` and account `/api/2.0/accounts/{id}/scim/v2`; `eq` filters,
//! `startIndex`/`count` paging, PatchOp member changes, SCIM error bodies), token management
//! (list with creation and expiry times, delete, on-behalf-of creation for service
//! principals), Unity Catalog permissions (GET/PATCH with
//! `changes`), and the SQL Statement Execution API (submit, poll, inline chunks) over a small
//! catalog that understands what `jitgate databricks masks` sends: `information_schema`
//! queries, `CREATE OR REPLACE FUNCTION`, `ALTER TABLE … SET|DROP MASK`.
//!
//! Errors carry `{"error_code", "message"}` (SCIM: `{"schemas", "detail", "status"}`); a wrong
//! or missing bearer token is 401. [`DatabricksEmulator::fail`] injects faults: an error status
//! with an optional `Retry-After`, answered before the request is handled, or after it was
//! applied (a change that went through although the answer says otherwise).

mod http;
mod sql;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use http::{query_param, Request, Response};
pub use sql::{EmulatedColumn, EmulatedFunction};

/// An injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Matches requests whose method is this (any when empty).
    pub method: String,
    /// Matches requests whose path contains this.
    pub path_contains: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Apply the request first, then answer with the fault.
    pub after_applying: bool,
    /// How many requests it hits.
    pub times: u32,
}

/// One request the emulator saw: method, path, when.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug, Clone)]
struct Token {
    id: String,
    comment: String,
    created: i64,
    expiry: i64,
    created_by: String,
    /// The secret (on-behalf-of tokens), handed out once when created.
    value: String,
    /// Application id of the service principal it was made for.
    owner: Option<String>,
}

#[derive(Default)]
struct State {
    token: String,
    users: Vec<(String, String)>,
    groups: Vec<(String, String, BTreeSet<String>)>,
    securables: BTreeMap<(String, String), BTreeMap<String, BTreeSet<String>>>,
    tokens: Vec<Token>,
    /// Application ids of the workspace's service principals.
    service_principals: BTreeSet<String>,
    /// Longest lifetime the workspace allows a new token (seconds; none: any).
    max_token_lifetime: Option<i64>,
    faults: VecDeque<Fault>,
    seen: Vec<Seen>,
    sql: sql::Catalog,
    next_id: u64,
    page_size: usize,
    /// OAuth client id and secret the token endpoints accept.
    oauth: Option<(String, String)>,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", 1000 + self.next_id)
    }
}

/// The running emulator; stops when dropped.
pub struct DatabricksEmulator {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl DatabricksEmulator {
    /// Starts an emulator that accepts `token` as bearer token and `warehouse_id` for SQL.
    pub fn start(token: &str, warehouse_id: &str) -> std::io::Result<DatabricksEmulator> {
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            page_size: 2,
            sql: sql::Catalog::new(warehouse_id),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let handler_state = state.clone();
        let addr = http::serve(Arc::new(move |r| handle(&handler_state, r)), stop.clone())?;
        Ok(DatabricksEmulator { addr, state, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a workspace user; returns its SCIM id.
    pub fn add_user(&self, user_name: &str) -> String {
        let mut s = lock(&self.state);
        let id = s.id("u");
        s.users.push((id.clone(), user_name.to_string()));
        id
    }

    /// Adds a group; returns its SCIM id.
    pub fn add_group(&self, name: &str) -> String {
        let mut s = lock(&self.state);
        let id = s.id("g");
        s.groups
            .push((id.clone(), name.to_string(), BTreeSet::new()));
        id
    }

    /// Member ids of a group (by name).
    pub fn members(&self, group: &str) -> BTreeSet<String> {
        let s = lock(&self.state);
        s.groups
            .iter()
            .find(|g| g.1 == group)
            .map(|g| g.2.clone())
            .unwrap_or_default()
    }

    /// Changes a group behind jitgate's back (drift).
    pub fn set_member(&self, group: &str, user_id: &str, member: bool) {
        let mut s = lock(&self.state);
        if let Some(g) = s.groups.iter_mut().find(|g| g.1 == group) {
            if member {
                g.2.insert(user_id.to_string());
            } else {
                g.2.remove(user_id);
            }
        }
    }

    /// Registers a securable (`table`, `main.sales.orders`) with no privileges.
    pub fn add_securable(&self, securable_type: &str, full_name: &str) {
        lock(&self.state)
            .securables
            .entry((securable_type.to_string(), full_name.to_string()))
            .or_default();
    }

    /// The privileges of a principal on a securable.
    pub fn privileges(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
    ) -> BTreeSet<String> {
        lock(&self.state)
            .securables
            .get(&(securable_type.to_string(), full_name.to_string()))
            .and_then(|p| p.get(principal).cloned())
            .unwrap_or_default()
    }

    /// Grants or revokes behind jitgate's back (drift).
    pub fn set_privilege(
        &self,
        securable_type: &str,
        full_name: &str,
        principal: &str,
        privilege: &str,
        on: bool,
    ) {
        let mut s = lock(&self.state);
        let holders = s
            .securables
            .entry((securable_type.to_string(), full_name.to_string()))
            .or_default();
        let set = holders.entry(principal.to_string()).or_default();
        if on {
            set.insert(privilege.to_string());
        } else {
            set.remove(privilege);
        }
    }

    /// Adds a token (times in ms since the epoch; `expiry` -1 for none); returns its id.
    pub fn add_token(&self, comment: &str, created: i64, expiry: i64, created_by: &str) -> String {
        let mut s = lock(&self.state);
        let id = s.id("tok");
        s.tokens.push(Token {
            id: id.clone(),
            comment: comment.to_string(),
            created,
            expiry,
            created_by: created_by.to_string(),
            value: String::new(),
            owner: None,
        });
        id
    }

    /// Adds a service principal that on-behalf-of tokens may be made for.
    pub fn add_service_principal(&self, application_id: &str) {
        lock(&self.state)
            .service_principals
            .insert(application_id.to_string());
    }

    /// Caps the lifetime of new tokens, as the workspace's `maxTokenLifetimeDays` does.
    pub fn set_max_token_lifetime(&self, seconds: Option<i64>) {
        lock(&self.state).max_token_lifetime = seconds;
    }

    /// An on-behalf-of token the workspace holds: `(owner application id, comment, expiry,
    /// value)`.
    pub fn obo_token(&self, id: &str) -> Option<(String, String, i64, String)> {
        let s = lock(&self.state);
        let t = s.tokens.iter().find(|t| t.id == id)?;
        Some((
            t.owner.clone()?,
            t.comment.clone(),
            t.expiry,
            t.value.clone(),
        ))
    }

    /// Ids of the tokens whose comment contains `text`.
    pub fn tokens_with_comment(&self, text: &str) -> Vec<String> {
        lock(&self.state)
            .tokens
            .iter()
            .filter(|t| t.comment.contains(text))
            .map(|t| t.id.clone())
            .collect()
    }

    /// Ids of the tokens the workspace has.
    pub fn token_ids(&self) -> Vec<String> {
        lock(&self.state)
            .tokens
            .iter()
            .map(|t| t.id.clone())
            .collect()
    }

    /// Lets the token endpoints (`/oidc/v1/token`, `/oidc/accounts/{id}/v1/token`) hand out
    /// the accepted bearer token for these client credentials.
    pub fn with_oauth(&self, client_id: &str, secret: &str) {
        lock(&self.state).oauth = Some((client_id.to_string(), secret.to_string()));
    }

    /// Queues a fault.
    pub fn fail(&self, fault: Fault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Adds a table column to the SQL catalog.
    pub fn add_column(&self, column: EmulatedColumn) {
        lock(&self.state).sql.columns.push(column);
    }

    /// Column masks: `(schema.table.column, catalog.schema.function)`.
    pub fn column_masks(&self) -> BTreeMap<String, String> {
        lock(&self.state).sql.masks.clone()
    }

    /// Functions of the catalog.
    pub fn functions(&self) -> BTreeMap<String, EmulatedFunction> {
        lock(&self.state).sql.functions.clone()
    }

    /// Every statement submitted.
    pub fn statements(&self) -> Vec<String> {
        lock(&self.state).sql.submitted.clone()
    }
}

impl Drop for DatabricksEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response {
        status,
        body: json!({"error_code": code, "message": message}).to_string(),
        retry_after: None,
    }
}

fn scim_error(status: u16, detail: &str) -> Response {
    Response {
        status,
        body: json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                     "detail": detail, "status": status.to_string()})
        .to_string(),
        retry_after: None,
    }
}

fn ok(body: Value) -> Response {
    Response {
        status: 200,
        body: body.to_string(),
        retry_after: None,
    }
}

fn handle(state: &Mutex<State>, r: Request) -> Response {
    let mut s = lock(state);
    let fault = take_fault(&mut s, &r);
    let response = match &fault {
        Some(f) if !f.after_applying => fault_response(f),
        _ => route(&mut s, &r),
    };
    let response = match &fault {
        Some(f) if f.after_applying => fault_response(f),
        _ => response,
    };
    s.seen.push(Seen {
        method: r.method.clone(),
        path: r.path.clone(),
        status: response.status,
        at: Instant::now(),
    });
    response
}

fn take_fault(s: &mut State, r: &Request) -> Option<Fault> {
    let i = s.faults.iter().position(|f| {
        (f.method.is_empty() || f.method == r.method) && r.path.contains(&f.path_contains)
    })?;
    let f = s.faults[i].clone();
    if f.times <= 1 {
        s.faults.remove(i);
    } else {
        s.faults[i].times -= 1;
    }
    Some(f)
}

fn fault_response(f: &Fault) -> Response {
    let code = match f.status {
        429 => "REQUEST_LIMIT_EXCEEDED",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    let mut response = error(f.status, code, "injected fault");
    response.retry_after = f.retry_after;
    response
}

fn is_token_endpoint(path: &str) -> bool {
    path == "/oidc/v1/token"
        || path
            .strip_prefix("/oidc/accounts/")
            .is_some_and(|rest| rest.ends_with("/v1/token") && rest.matches('/').count() == 2)
}

/// The client_credentials grant with HTTP Basic client authentication (RFC 6749 4.4).
fn token_endpoint(s: &State, r: &Request) -> Response {
    use base64::Engine as _;
    let expected = s.oauth.as_ref().map(|(id, secret)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    });
    let form = String::from_utf8_lossy(&r.body);
    if r.method != "POST"
        || !form
            .split('&')
            .any(|kv| kv == "grant_type=client_credentials")
    {
        return Response {
            status: 400,
            body: json!({"error": "invalid_request", "error_description": "client_credentials expected"}).to_string(),
            retry_after: None,
        };
    }
    if expected.is_none() || r.authorization != expected {
        return Response {
            status: 401,
            body: json!({"error": "invalid_client", "error_description": "Client authentication failed"}).to_string(),
            retry_after: None,
        };
    }
    ok(
        json!({"access_token": s.token, "token_type": "Bearer", "expires_in": 3600, "scope": "all-apis"}),
    )
}

fn route(s: &mut State, r: &Request) -> Response {
    if is_token_endpoint(&r.path) {
        return token_endpoint(s, r);
    }
    if r.authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
        return error(401, "UNAUTHENTICATED", "Invalid access token.");
    }
    let body: Value = if r.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&r.body) {
            Ok(v) => v,
            Err(e) => return error(400, "MALFORMED_REQUEST", &format!("Invalid JSON: {e}")),
        }
    };
    let path = r.path.as_str();
    if let Some(rest) = scim_rest(path) {
        return scim(s, r, rest, &body);
    }
    if let Some(rest) = path.strip_prefix("/api/2.1/unity-catalog/permissions/") {
        return permissions(s, &r.method, rest, &body);
    }
    if path == "/api/2.0/token-management/on-behalf-of/tokens" {
        return create_obo_token(s, &r.method, &body);
    }
    if path.starts_with("/api/2.0/token-management/tokens") {
        return tokens(s, &r.method, path);
    }
    if path.starts_with("/api/2.0/sql/statements") {
        return sql::route(&mut s.sql, &r.method, path, &body);
    }
    error(
        404,
        "ENDPOINT_NOT_FOUND",
        &format!("No API found for '{} {}'", r.method, path),
    )
}

/// The part after a workspace or account SCIM prefix.
fn scim_rest(path: &str) -> Option<&str> {
    if let Some(rest) = path.strip_prefix("/api/2.0/preview/scim/v2") {
        return Some(rest);
    }
    let rest = path.strip_prefix("/api/2.0/accounts/")?;
    let (_, rest) = rest.split_once('/')?;
    rest.strip_prefix("scim/v2")
}

/// `ATTR eq "VALUE"`, the only filter form jitgate sends.
fn parse_filter(filter: &str) -> Option<(String, String)> {
    let (attribute, rest) = filter.trim().split_once(' ')?;
    let quoted = rest.trim().strip_prefix("eq")?.trim();
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            '"' => return None,
            c => value.push(c),
        }
    }
    Some((attribute.to_string(), value))
}

fn scim(s: &mut State, r: &Request, rest: &str, body: &Value) -> Response {
    match (r.method.as_str(), rest) {
        ("GET", "/Users") => {
            let items: Vec<Value> = s
                .users
                .iter()
                .map(|(id, name)| json!({"id": id, "userName": name, "active": true}))
                .collect();
            scim_list(items, &r.query, "userName", &s.page_size)
        }
        ("GET", "/Groups") => {
            let items: Vec<Value> = s
                .groups
                .iter()
                .map(|(id, name, _)| json!({"id": id, "displayName": name}))
                .collect();
            scim_list(items, &r.query, "displayName", &s.page_size)
        }
        ("GET", g) if g.starts_with("/Groups/") => match group(s, &g[8..]) {
            Some(v) => ok(v),
            None => scim_error(404, &format!("Group with id {} not found.", &g[8..])),
        },
        ("PATCH", g) if g.starts_with("/Groups/") => patch_group(s, &g[8..], body),
        _ => scim_error(404, "No such SCIM endpoint"),
    }
}

fn group(s: &State, id: &str) -> Option<Value> {
    let (id, name, members) = s.groups.iter().find(|g| g.0 == id)?;
    let members: Vec<Value> = members
        .iter()
        .map(|m| {
            let display = s.users.iter().find(|u| &u.0 == m).map(|u| u.1.clone());
            json!({"value": m, "display": display})
        })
        .collect();
    Some(json!({"id": id, "displayName": name, "members": members,
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}))
}

fn scim_list(items: Vec<Value>, query: &str, attribute: &str, page: &usize) -> Response {
    let items: Vec<Value> = match query_param(query, "filter") {
        Some(f) => match parse_filter(&f) {
            Some((a, v)) if a == attribute => items
                .into_iter()
                .filter(|i| i.get(&a).and_then(Value::as_str) == Some(v.as_str()))
                .collect(),
            _ => return scim_error(400, &format!("invalidFilter: {f}")),
        },
        None => items,
    };
    let start = query_param(query, "startIndex")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let count = query_param(query, "count")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(*page);
    let pageful: Vec<Value> = items.iter().skip(start - 1).take(count).cloned().collect();
    ok(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
              "totalResults": items.len(), "startIndex": start,
              "itemsPerPage": pageful.len(), "Resources": pageful}),
    )
}

fn patch_group(s: &mut State, id: &str, body: &Value) -> Response {
    let schemas_ok = body["schemas"].as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x == "urn:ietf:params:scim:api:messages:2.0:PatchOp")
    });
    let Some(ops) = body["Operations"].as_array().filter(|_| schemas_ok) else {
        return scim_error(400, "invalidSyntax: a PatchOp request is expected");
    };
    let users: BTreeSet<String> = s.users.iter().map(|u| u.0.clone()).collect();
    let Some(g) = s.groups.iter_mut().find(|g| g.0 == id) else {
        return scim_error(404, &format!("Group with id {id} not found."));
    };
    for op in ops {
        match (
            op["op"].as_str().map(str::to_ascii_lowercase).as_deref(),
            op["path"].as_str(),
        ) {
            (Some("add"), Some("members")) => {
                for v in op["value"].as_array().into_iter().flatten() {
                    let Some(m) = v["value"].as_str() else {
                        return scim_error(400, "invalidValue");
                    };
                    if !users.contains(m) {
                        return scim_error(404, &format!("Member {m} not found."));
                    }
                    g.2.insert(m.to_string());
                }
            }
            (Some("remove"), Some(p)) => {
                let Some(m) = p
                    .strip_prefix("members[value eq \"")
                    .and_then(|x| x.strip_suffix("\"]"))
                else {
                    return scim_error(400, &format!("invalidPath: {p}"));
                };
                g.2.remove(m);
            }
            _ => return scim_error(400, "invalidSyntax: unsupported operation"),
        }
    }
    Response {
        status: 204,
        body: String::new(),
        retry_after: None,
    }
}

fn decode_segment(text: &str) -> String {
    http::decode(&text.replace('+', "%2B"))
}

fn permissions(s: &mut State, method: &str, rest: &str, body: &Value) -> Response {
    let Some((kind, name)) = rest.split_once('/') else {
        return error(
            400,
            "INVALID_PARAMETER_VALUE",
            "securable type and full name expected",
        );
    };
    let key = (
        decode_segment(kind).to_ascii_lowercase(),
        decode_segment(name),
    );
    let Some(holders) = s.securables.get_mut(&key) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("{} '{}' does not exist.", key.0, key.1),
        );
    };
    if method == "PATCH" {
        let Some(changes) = body["changes"].as_array() else {
            return error(400, "INVALID_PARAMETER_VALUE", "changes is required");
        };
        for c in changes {
            let Some(principal) = c["principal"].as_str() else {
                return error(400, "INVALID_PARAMETER_VALUE", "principal is required");
            };
            let set = holders.entry(principal.to_string()).or_default();
            for p in c["add"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !p.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    return error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Privilege {p} is not valid"),
                    );
                }
                set.insert(p.to_string());
            }
            for p in c["remove"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                set.remove(p);
            }
        }
        holders.retain(|_, set| !set.is_empty());
    } else if method != "GET" {
        return error(405, "METHOD_NOT_ALLOWED", "GET or PATCH");
    }
    let assignments: Vec<Value> = holders
        .iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(p, set)| json!({"principal": p, "privileges": set}))
        .collect();
    ok(json!({"privilege_assignments": assignments}))
}

fn tokens(s: &mut State, method: &str, path: &str) -> Response {
    let id = path
        .strip_prefix("/api/2.0/token-management/tokens/")
        .map(decode_segment);
    match (method, id) {
        ("GET", None) => {
            let infos: Vec<Value> = s
                .tokens
                .iter()
                .map(|t| {
                    json!({"token_id": t.id, "comment": t.comment, "creation_time": t.created,
                                "expiry_time": t.expiry, "created_by_username": t.created_by,
                                "owner_id": 4242})
                })
                .collect();
            ok(json!({"token_infos": infos}))
        }
        ("DELETE", Some(id)) => {
            let before = s.tokens.len();
            s.tokens.retain(|t| t.id != id);
            if s.tokens.len() == before {
                return error(
                    404,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("Token {id} does not exist."),
                );
            }
            ok(json!({}))
        }
        _ => error(405, "METHOD_NOT_ALLOWED", "unsupported"),
    }
}

/// `POST /api/2.0/token-management/on-behalf-of/tokens` `{application_id, lifetime_seconds,
/// comment}` → `{token_value, token_info}`. An unknown service principal is 404
/// `RESOURCE_DOES_NOT_EXIST`; a missing id, or a lifetime that is not positive or exceeds the
/// workspace's maximum, 400 `INVALID_PARAMETER_VALUE`.
fn create_obo_token(s: &mut State, method: &str, body: &Value) -> Response {
    if method != "POST" {
        return error(405, "METHOD_NOT_ALLOWED", "POST");
    }
    let Some(application_id) = body["application_id"].as_str().filter(|a| !a.is_empty()) else {
        return error(400, "INVALID_PARAMETER_VALUE", "application_id is required");
    };
    if !s.service_principals.contains(application_id) {
        return error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Service principal with application ID {application_id} does not exist."),
        );
    }
    let lifetime = body["lifetime_seconds"].as_i64();
    if lifetime.is_some_and(|l| l <= 0) {
        return error(
            400,
            "INVALID_PARAMETER_VALUE",
            "lifetime_seconds must be positive",
        );
    }
    if let (Some(l), Some(max)) = (lifetime, s.max_token_lifetime) {
        if l > max {
            return error(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!("Token lifetime {l}s exceeds the maximum lifetime of {max}s."),
            );
        }
    }
    let created = now_millis();
    let id = s.id("tok");
    let value = format!("dapi{}", sha_hex(&format!("{id}{created}{}", s.token)));
    let token = Token {
        id: id.clone(),
        comment: body["comment"].as_str().unwrap_or("").to_string(),
        created,
        expiry: lifetime.map_or(-1, |l| created + l * 1000),
        created_by: "jitgate-sp".to_string(),
        value: value.clone(),
        owner: Some(application_id.to_string()),
    };
    let info = json!({"token_id": token.id, "creation_time": token.created,
                      "expiry_time": token.expiry, "comment": token.comment,
                      "created_by_id": 4242, "created_by_username": token.created_by,
                      "owner_id": 5151});
    s.tokens.push(token);
    ok(json!({"token_value": value, "token_info": info}))
}

/// A hex digest, for token values that differ per token.
fn sha_hex(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for salt in 0..2u8 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, text).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
