//! Every API endpoint fed bad input — malformed JSON, unknown ids, over-long fields, the wrong
//! role, a missing, forged or expired token — answers with a 4xx JSON error carrying a stable
//! code, and changes nothing.

mod access_env;

use access_env::{password, start_without_database, Lifetimes, NORMAL};
use serde_json::{json, Value};

/// One HTTP answer: status and parsed JSON body (`Null` when the body is not JSON).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(base: String) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        Api { base, agent }
    }

    /// Sends `body` as is (it may be malformed on purpose) with the given content type.
    fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Answer {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let request = request
            .body(body.unwrap_or("").to_owned())
            .expect("building a request");
        let mut response = self.agent.run(request).expect("the gateway answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            content_type,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let text = body.map(Value::to_string);
        let ct = body.map(|_| "application/json");
        self.raw(method, path, token, text.as_deref(), ct)
    }

    fn ok(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Value {
        let answer = self.call(method, path, Some(token), body);
        assert!(
            (200..300).contains(&answer.status),
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
        answer.body
    }

    fn login(&self, user: &str) -> String {
        let body = json!({"user": user, "password": password(user)});
        self.ok("POST", "/api/v1/login", "", Some(&body))["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }
}

/// A bad call and the answer it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<String>,
    content_type: Option<&'static str>,
    status: u16,
    code: &'static str,
}

fn case(what: &'static str, method: &'static str, path: impl Into<String>) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        token: None,
        body: None,
        content_type: None,
        status: 0,
        code: "",
    }
}

impl Case {
    fn by(mut self, token: &str) -> Case {
        self.token = Some(token.to_owned());
        self
    }
    fn json(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.content_type = Some("application/json");
        self
    }
    fn text(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.content_type = Some("text/plain");
        self
    }
    fn raw_body(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.content_type = None;
        self
    }
    fn typed(mut self, content_type: &'static str, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.content_type = Some(content_type);
        self
    }
    fn expect(mut self, status: u16, code: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self
    }
}

/// What the admin sees of every kind of state the API can change.
fn snapshot(api: &Api, admin: &str) -> Value {
    json!({
        "requests": api.ok("GET", "/api/v1/requests", admin, None),
        "grants": api.ok("GET", "/api/v1/grants", admin, None),
        "credentials": api.ok("GET", "/api/v1/credentials", admin, None),
        "sessions": api.ok("GET", "/api/v1/sessions", admin, None),
    })
}

#[test]
fn every_endpoint_refuses_bad_input_with_a_json_error_and_no_change() {
    let env = start_without_database(&NORMAL);
    let api = Api::new(env.gateway.api_url().unwrap());
    let [alice, dana, erin] = ["alice", "dana", "erin"].map(|u| api.login(u));

    // Some state to protect: alice's pending request, dana's pending request, and a grant of
    // alice's with a credential.
    let new = |reason: &str| json!({"resource": "app", "duration_seconds": 600, "reason": reason});
    let pending = api.ok(
        "POST",
        "/api/v1/requests",
        &alice,
        Some(&new("pending one")),
    );
    let pending = pending["id"].as_str().unwrap().to_owned();
    let danas = api.ok("POST", "/api/v1/requests", &dana, Some(&new("dana's own")));
    let danas = danas["id"].as_str().unwrap().to_owned();
    let approved = api.ok(
        "POST",
        "/api/v1/requests",
        &alice,
        Some(&new("approved one")),
    );
    let approved = approved["id"].as_str().unwrap().to_owned();
    let approved = api.ok(
        "POST",
        &format!("/api/v1/requests/{approved}/approve"),
        &dana,
        None,
    );
    let grant = approved["grant_id"].as_str().unwrap().to_owned();
    let connection = api.ok(
        "POST",
        "/api/v1/connect",
        &alice,
        Some(&json!({"resource": "app"})),
    );
    let credential = connection["credential_id"].as_str().unwrap().to_owned();

    let before = snapshot(&api, &erin);
    let long = |n: usize| "x".repeat(n);
    let long_id = long(65);
    let r = |tail: &str| format!("/api/v1/requests/{pending}{tail}");
    let cases = vec![
        // Malformed, mistyped and misspelt JSON.
        case("login: malformed JSON", "POST", "/api/v1/login")
            .json("{\"user\":")
            .expect(400, "invalid_json"),
        case("login: missing password", "POST", "/api/v1/login")
            .json(r#"{"user":"alice"}"#)
            .expect(400, "invalid_json"),
        case("request: malformed JSON", "POST", "/api/v1/requests")
            .by(&alice)
            .json("{resource: app}")
            .expect(400, "invalid_json"),
        case("request: duration as text", "POST", "/api/v1/requests")
            .by(&alice)
            .json(r#"{"resource":"app","duration_seconds":"soon","reason":"x"}"#)
            .expect(400, "invalid_json"),
        case("request: unknown field", "POST", "/api/v1/requests")
            .by(&alice)
            .json(r#"{"resource":"app","duration_seconds":60,"reason":"x","approved":true}"#)
            .expect(400, "invalid_json"),
        case("request: not JSON at all", "POST", "/api/v1/requests")
            .by(&alice)
            .text(r#"{"resource":"app","duration_seconds":60,"reason":"x"}"#)
            .expect(415, "unsupported_media_type"),
        case("approve: malformed JSON", "POST", r("/approve"))
            .by(&dana)
            .json("not json")
            .expect(400, "invalid_json"),
        // One rule for optional bodies: none, or declared JSON.
        case("approve: a text/plain body", "POST", r("/approve"))
            .by(&dana)
            .text(r#"{"comment":"ok"}"#)
            .expect(415, "unsupported_media_type"),
        case("deny: a text/plain body", "POST", r("/deny"))
            .by(&dana)
            .text("{}")
            .expect(415, "unsupported_media_type"),
        case(
            "cancel: a body without a content type",
            "POST",
            r("/cancel"),
        )
        .by(&alice)
        .raw_body("{}")
        .expect(415, "unsupported_media_type"),
        case("prune: a form body", "POST", "/api/v1/credentials/prune")
            .by(&alice)
            .typed("application/x-www-form-urlencoded", "a=1")
            .expect(415, "unsupported_media_type"),
        case("deny: malformed JSON", "POST", r("/deny"))
            .by(&dana)
            .json("{\"comment\": }")
            .expect(400, "invalid_json"),
        case("cancel: a body where none belongs", "POST", r("/cancel"))
            .by(&alice)
            .json(r#"{"force":true}"#)
            .expect(400, "invalid_json"),
        case(
            "revoke: malformed JSON",
            "POST",
            format!("/api/v1/grants/{grant}/revoke"),
        )
        .by(&dana)
        .json("[")
        .expect(400, "invalid_json"),
        case("connect: malformed JSON", "POST", "/api/v1/connect")
            .by(&alice)
            .json("{")
            .expect(400, "invalid_json"),
        case("prune: malformed JSON", "POST", "/api/v1/credentials/prune")
            .by(&alice)
            .json("{{")
            .expect(400, "invalid_json"),
        case(
            "kill: malformed JSON",
            "POST",
            "/api/v1/sessions/s_abc/kill",
        )
        .by(&dana)
        .json("}")
        .expect(400, "invalid_json"),
        case("listing: bad flag", "GET", "/api/v1/requests?pending=maybe")
            .by(&alice)
            .expect(400, "invalid_query"),
        case(
            "listing: unknown parameter",
            "GET",
            "/api/v1/grants?everything=true",
        )
        .by(&alice)
        .expect(400, "invalid_query"),
        case("audit: zero limit", "GET", "/api/v1/audit?limit=0")
            .by(&erin)
            .expect(400, "invalid_query"),
        case("audit: negative after", "GET", "/api/v1/audit?after=-5")
            .by(&erin)
            .expect(400, "invalid_query"),
        // Unknown ids and names.
        case("show: unknown request", "GET", "/api/v1/requests/r_unknown")
            .by(&alice)
            .expect(404, "not_found"),
        case(
            "approve: unknown request",
            "POST",
            "/api/v1/requests/r_unknown/approve",
        )
        .by(&dana)
        .expect(404, "not_found"),
        case(
            "deny: unknown request",
            "POST",
            "/api/v1/requests/r_unknown/deny",
        )
        .by(&dana)
        .json(r#"{"comment":"no"}"#)
        .expect(404, "not_found"),
        case(
            "cancel: unknown request",
            "POST",
            "/api/v1/requests/r_unknown/cancel",
        )
        .by(&alice)
        .expect(404, "not_found"),
        case("show: unknown grant", "GET", "/api/v1/grants/g_unknown")
            .by(&alice)
            .expect(404, "not_found"),
        case(
            "revoke: unknown grant",
            "POST",
            "/api/v1/grants/g_unknown/revoke",
        )
        .by(&dana)
        .expect(404, "not_found"),
        case(
            "delete: unknown credential",
            "DELETE",
            "/api/v1/credentials/c_unknown",
        )
        .by(&alice)
        .expect(404, "not_found"),
        case(
            "kill: unknown session",
            "POST",
            "/api/v1/sessions/s_unknown/kill",
        )
        .by(&dana)
        .expect(404, "not_found"),
        case("connect: unknown resource", "POST", "/api/v1/connect")
            .by(&alice)
            .json(r#"{"resource":"nope"}"#)
            .expect(404, "not_found"),
        case("request: unknown resource", "POST", "/api/v1/requests")
            .by(&alice)
            .json(r#"{"resource":"nope","duration_seconds":60,"reason":"x"}"#)
            .expect(404, "not_found"),
        // Over-long and out-of-range fields.
        case(
            "request: reason over 1000 characters",
            "POST",
            "/api/v1/requests",
        )
        .by(&alice)
        .json(json!({"resource": "app", "duration_seconds": 60, "reason": long(1001)}).to_string())
        .expect(400, "invalid_input"),
        case("request: empty reason", "POST", "/api/v1/requests")
            .by(&alice)
            .json(json!({"resource": "app", "duration_seconds": 60, "reason": " "}).to_string())
            .expect(400, "invalid_input"),
        case("request: resource name over 63", "POST", "/api/v1/requests")
            .by(&alice)
            .json(json!({"resource": long(64), "duration_seconds": 60, "reason": "x"}).to_string())
            .expect(400, "invalid_input"),
        case("request: zero duration", "POST", "/api/v1/requests")
            .by(&alice)
            .json(r#"{"resource":"app","duration_seconds":0,"reason":"x"}"#)
            .expect(400, "invalid_input"),
        case(
            "request: longer than the rule allows",
            "POST",
            "/api/v1/requests",
        )
        .by(&alice)
        .json(r#"{"resource":"app","duration_seconds":10800,"reason":"x"}"#)
        .expect(400, "duration_too_long"),
        case("request: 999999 hours", "POST", "/api/v1/requests")
            .by(&alice)
            .json(r#"{"resource":"app","duration_seconds":3599996400,"reason":"x"}"#)
            .expect(400, "duration_too_long"),
        case("request: control characters", "POST", "/api/v1/requests")
            .by(&alice)
            .json(
                json!({"resource": "app", "duration_seconds": 60, "reason": "bell\u{7}"})
                    .to_string(),
            )
            .expect(400, "invalid_input"),
        case("approve: comment over 1000", "POST", r("/approve"))
            .by(&dana)
            .json(json!({"comment": long(1001)}).to_string())
            .expect(400, "invalid_input"),
        case(
            "kill: reason over 1000",
            "POST",
            "/api/v1/sessions/s_abc/kill",
        )
        .by(&dana)
        .json(json!({"reason": long(1001)}).to_string())
        .expect(400, "invalid_input"),
        case(
            "show: id over 64",
            "GET",
            format!("/api/v1/requests/{long_id}"),
        )
        .by(&alice)
        .expect(400, "invalid_input"),
        case(
            "approve: id over 64",
            "POST",
            format!("/api/v1/requests/{long_id}/approve"),
        )
        .by(&dana)
        .expect(400, "invalid_input"),
        case(
            "revoke: id with odd characters",
            "POST",
            "/api/v1/grants/g%20x%3B/revoke",
        )
        .by(&dana)
        .expect(400, "invalid_input"),
        case(
            "delete: id over 64",
            "DELETE",
            format!("/api/v1/credentials/{long_id}"),
        )
        .by(&alice)
        .expect(400, "invalid_input"),
        case("login: user over 128", "POST", "/api/v1/login")
            .json(json!({"user": long(129), "password": "x"}).to_string())
            .expect(400, "invalid_input"),
        case("login: password over 1024 bytes", "POST", "/api/v1/login")
            .json(json!({"user": "alice", "password": long(2000)}).to_string())
            .expect(400, "invalid_input"),
        case("request: body over 64 KiB", "POST", "/api/v1/requests")
            .by(&alice)
            .json(
                json!({"resource": "app", "duration_seconds": 60, "reason": long(70_000)})
                    .to_string(),
            )
            .expect(413, "payload_too_large"),
        // The wrong role (or the wrong person).
        case("approve: requester approving own", "POST", r("/approve"))
            .by(&alice)
            .expect(403, "self_approval"),
        case(
            "approve: requester approving another's",
            "POST",
            format!("/api/v1/requests/{danas}/approve"),
        )
        .by(&alice)
        .expect(404, "not_found"),
        case(
            "deny: own request",
            "POST",
            format!("/api/v1/requests/{danas}/deny"),
        )
        .by(&dana)
        .json(r#"{"comment":"no"}"#)
        .expect(403, "self_approval"),
        case("cancel: someone else's request", "POST", r("/cancel"))
            .by(&dana)
            .expect(403, "forbidden"),
        case(
            "revoke: any approver of the resource may (the one change)",
            "POST",
            format!("/api/v1/grants/{grant}/revoke"),
        )
        .by(&api.login("dave"))
        .expect(200, ""),
        case("audit: requester", "GET", "/api/v1/audit")
            .by(&alice)
            .expect(403, "forbidden"),
        case("audit: approver", "GET", "/api/v1/audit")
            .by(&dana)
            .expect(403, "forbidden"),
        case("verify: requester", "GET", "/api/v1/audit/verify")
            .by(&alice)
            .expect(403, "forbidden"),
        case(
            "delete: another's credential",
            "DELETE",
            format!("/api/v1/credentials/{credential}"),
        )
        .by(&dana)
        .expect(404, "not_found"),
        // Missing, malformed and forged tokens, on every route that needs one.
        case("no token: requests", "GET", "/api/v1/requests").expect(401, "unauthenticated"),
        case("no token: request", "POST", "/api/v1/requests")
            .json(new("x").to_string())
            .expect(401, "unauthenticated"),
        case("no token: approve", "POST", r("/approve")).expect(401, "unauthenticated"),
        case("no token: connect", "POST", "/api/v1/connect")
            .json(r#"{"resource":"app"}"#)
            .expect(401, "unauthenticated"),
        case("no token: audit", "GET", "/api/v1/audit").expect(401, "unauthenticated"),
        case("forged token: grants", "GET", "/api/v1/grants")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case(
            "forged token: revoke",
            "POST",
            format!("/api/v1/grants/{grant}/revoke"),
        )
        .by("not-even-ours")
        .expect(401, "invalid_token"),
        case("forged token: credentials", "GET", "/api/v1/credentials")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("forged token: prune", "POST", "/api/v1/credentials/prune")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("forged token: sessions", "GET", "/api/v1/sessions")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("forged token: kill", "POST", "/api/v1/sessions/s_abc/kill")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("forged token: verify", "GET", "/api/v1/audit/verify")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("forged token: logout", "POST", "/api/v1/logout")
            .by("jgt_forged")
            .expect(401, "invalid_token"),
        case("login: wrong password", "POST", "/api/v1/login")
            .json(r#"{"user":"alice","password":"nope"}"#)
            .expect(401, "unauthenticated"),
        case("login: unknown user", "POST", "/api/v1/login")
            .json(r#"{"user":"mallory","password":"nope"}"#)
            .expect(401, "unauthenticated"),
        // Routes and methods that do not exist.
        case("unknown route", "GET", "/api/v1/everything")
            .by(&erin)
            .expect(404, "unknown_route"),
        // `/` is the web console; other paths outside the API get the API's JSON 404.
        case("outside the API", "GET", "/not-a-page").expect(404, "unknown_route"),
        case("wrong method on a listing", "DELETE", "/api/v1/requests")
            .by(&erin)
            .expect(405, "method_not_allowed"),
        case("wrong method on login", "GET", "/api/v1/login").expect(405, "method_not_allowed"),
        case(
            "wrong method on prune",
            "DELETE",
            "/api/v1/credentials/prune",
        )
        .by(&erin)
        .expect(405, "method_not_allowed"),
    ];

    let mut failures = Vec::new();
    for c in &cases {
        let answer = api.raw(
            c.method,
            &c.path,
            c.token.as_deref(),
            c.body.as_deref(),
            c.content_type,
        );
        let code = answer.body["error"]["code"].as_str().unwrap_or("");
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        let ok = if c.status == 200 {
            // The one allowed call above: an approver may revoke. It is the last change made.
            answer.status == 200
        } else {
            answer.status == c.status
                && code == c.code
                && !message.is_empty()
                && answer.content_type.starts_with("application/json")
        };
        if !ok {
            failures.push(format!(
                "{}: {} {} → {} {} (wanted {} {})",
                c.what, c.method, c.path, answer.status, answer.body, c.status, c.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing changed, except the one revocation an approver was entitled to.
    let mut after = snapshot(&api, &erin);
    let revoked = after["grants"]
        .as_array_mut()
        .and_then(|g| g.iter_mut().find(|g| g["id"] == grant.as_str()))
        .expect("the grant is still listed");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"], "dave");
    *revoked = before["grants"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["id"] == grant.as_str()))
        .cloned()
        .unwrap();
    assert_eq!(before, after, "bad calls changed state");

    // Failed logins are in the trail.
    let audit = api.ok("GET", "/api/v1/audit?limit=1000", &erin, None);
    let failed = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "login.failed")
        .count();
    assert!(failed >= 4, "{failed} login.failed events");
}

#[test]
fn public_routes_answer_without_a_token_and_describe_the_api() {
    let env = start_without_database(&NORMAL);
    let api = Api::new(env.gateway.api_url().unwrap());
    let health = api.call("GET", "/api/v1/health", None, None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");

    let doc = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/login",
        "/requests",
        "/requests/{id}/approve",
        "/requests/{id}/deny",
        "/requests/{id}/cancel",
        "/grants",
        "/grants/{id}/revoke",
        "/connect",
        "/credentials",
        "/credentials/{id}",
        "/credentials/prune",
        "/sessions",
        "/sessions/{id}/kill",
        "/audit",
        "/audit/verify",
        "/health",
    ] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} undocumented");
    }
}

#[test]
fn expired_tokens_and_pending_requests_expire() {
    let short = Lifetimes {
        token_ttl: "3s",
        pending_ttl: "2s",
    };
    let env = start_without_database(&short);
    let alice = env.gateway.user("alice");
    alice.login(&password("alice")).unwrap();
    let request = env.request("alice", "app", "10m");
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["status"], "pending");

    std::thread::sleep(std::time::Duration::from_millis(3300));

    // The token has run out: the CLI says so, with the code, and how to go on.
    let said = env.cli("alice", &["requests"]);
    assert!(!said.ok);
    assert!(
        said.stderr.contains("(invalid_token)") && said.stderr.contains("jitgate login"),
        "{}",
        said.stderr
    );
    // Over HTTP the same: 401 with a JSON error.
    let api = Api::new(env.gateway.api_url().unwrap());
    let token = std::fs::read_to_string(alice.config_home().join("jitgate/token.json")).unwrap();
    let token: Value = serde_json::from_str(&token).unwrap();
    let token = token["servers"][env.gateway.api_url().unwrap()]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = api.call("GET", "/api/v1/grants", Some(&token), None);
    assert_eq!(
        (answer.status, &answer.body["error"]["code"]),
        (401, &json!("invalid_token"))
    );

    // Nobody decided in time: the request expired and can no longer be approved.
    env.login_all();
    let mine = env.json("alice", &["requests"]);
    assert_eq!(
        access_env::find(&mine, &id).unwrap()["status"],
        "expired",
        "{mine}"
    );
    let said = env.cli("dana", &["approve", &id]);
    assert!(
        !said.ok && said.stderr.contains("(already_decided)"),
        "{}",
        said.stderr
    );
    assert!(env
        .json("dana", &["requests", "--pending"])
        .as_array()
        .unwrap()
        .is_empty());
    let audit = env.ok("erin", &["audit"]);
    assert!(audit.contains("request.expired"), "{audit}");
}
