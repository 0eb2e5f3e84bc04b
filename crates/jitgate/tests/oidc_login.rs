//! Single sign-on against a real OpenID provider (`oidc-provider`, started by the test): the
//! device flow and the code flow with PKCE through the real CLI, renewal that re-reads groups,
//! a removed group ending a grant or a masking exemption and cutting a live psql session, the
//! tokens that must be refused — expired, for another audience, tampered, unsigned or
//! HMAC-signed — and key rotation.

mod common;
mod oidc_env;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oidc_env::{have_node, wait_for_exit, wait_for_line, Browser, Idp};
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The gateway's configuration around a provider at `issuer`: dana approves (a local user),
/// analysts may request `app`, auditors see `t.ssn` in clear.
fn sections(issuer: &str, session_ttl: &str) -> String {
    format!(
        r#"
[users.dana]
password_env = "DANA_PASSWORD"
groups = ["dba"]

[oidc.corp]
issuer = "{issuer}"
client_id = "jitgate-cli"
session_ttl = "{session_ttl}"

[oidc.corp.group_map]
"data-analysts" = "analysts"

[roles]
approver = ["dba"]

[[access]]
resources = ["app"]
requesters = ["group:analysts"]
max_duration = "30m"
approvals = 1
approver_groups = ["dba"]

[masking]
key_env = "MASK_KEY"
clear_groups = ["auditors"]

[[masking.rules]]
resource = "app"
column = "public.t.ssn"
mask = "partial"
keep_last = 4
"#
    )
}

const SEED: &str = "CREATE TABLE t (id int, ssn text);
INSERT INTO t VALUES (1, '123-45-6789');
GRANT SELECT ON t TO svc;";

fn start(idp: &Idp, session_ttl: &str) -> common::Env {
    let env = common::start_custom(
        "",
        &sections(&idp.issuer(), session_ttl),
        &[
            ("DANA_PASSWORD", "dana-password-1"),
            ("MASK_KEY", "a-masking-key-of-enough-length-0123456789"),
        ],
    );
    env.cluster.psql("app", SEED).expect("seeding");
    env
}

/// Reads what a finished child printed on standard output.
fn stdout_of(child: &mut Child) -> String {
    let mut said = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut said);
    }
    said
}

/// `jitgate login --oidc corp --device` as `user`, the code confirmed by [`Browser`]; what the
/// CLI printed.
fn device_login(env: &common::Env, user: &str) -> String {
    let mut login = env
        .gateway
        .user(user)
        .spawn(&["login", "--oidc", "corp", "--device"])
        .expect("starting jitgate login");
    let (complete, _rest) = wait_for_line(&mut login, |line| {
        line.trim()
            .strip_prefix("(or open ")
            .and_then(|l| l.strip_suffix(')'))
            .map(str::to_owned)
    });
    let (status, page) = Browser::new(user).confirm_device(&complete);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("device login complete"), "{page}");
    let exit = wait_for_exit(&mut login, Duration::from_secs(60));
    let said = stdout_of(&mut login);
    assert!(
        exit.success(),
        "login failed: {said}\n{}",
        env.gateway.log()
    );
    said
}

/// `jitgate login --oidc corp --browser` as `user`, the browser's part done by [`Browser`];
/// what the CLI printed.
fn browser_login(env: &common::Env, user: &str) -> String {
    let mut login = env
        .gateway
        .user(user)
        .spawn(&["login", "--oidc", "corp", "--browser"])
        .expect("starting jitgate login");
    let (url, _rest) = wait_for_line(&mut login, |line| {
        let line = line.trim();
        line.starts_with("http").then(|| line.to_owned())
    });
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let (status, page) = Browser::new(user).open(&url);
    assert_eq!(status, 200, "{page}");
    let exit = wait_for_exit(&mut login, Duration::from_secs(30));
    let said = stdout_of(&mut login);
    assert!(
        exit.success(),
        "login failed: {said}\n{}",
        env.gateway.log()
    );
    said
}

/// Asks for `app` as `user`, has dana approve, and returns a libpq URI for the grant.
fn granted_uri(env: &common::Env, user: &str) -> String {
    let cli = env.gateway.user(user);
    let request = cli
        .json(&["request", "app", "--duration", "10m", "--reason", "INC-7"])
        .expect("request");
    let id = request["id"].as_str().expect("request id").to_owned();
    let dana = env.gateway.user("dana");
    dana.login("dana-password-1").expect("dana logs in");
    dana.ok(&["approve", &id]).expect("approve");
    let uri = cli.ok(&["connect", "app", "--uri"]).expect("connect");
    uri.trim().to_owned()
}

/// psql running `select pg_sleep(60)` through jitgate, once its session is open.
fn sleeping_psql(env: &common::Env, uri: &str) -> Child {
    // Sessions known before, open or not: an earlier session's end may still be on its way to
    // the store.
    let before: Vec<String> = env.sessions().into_iter().map(|s| s.id).collect();
    let psql = Command::new("psql")
        .arg(uri)
        .args(["-X", "-A", "-t", "-c", "select pg_sleep(60)"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env
        .sessions()
        .iter()
        .any(|s| s.ended_at.is_none() && !before.contains(&s.id))
    {
        assert!(Instant::now() < deadline, "the psql session did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    psql
}

/// Waits for a psql child to end; whether it succeeded, and its standard error.
fn psql_ended(mut psql: Child, limit: Duration) -> (bool, String) {
    let exit = wait_for_exit(&mut psql, limit);
    let mut err = String::new();
    if let Some(mut e) = psql.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (exit.success(), err)
}

/// The detail of the last audit event of `kind`, waiting for one to appear.
fn last_detail(env: &common::Env, kind: &str) -> Value {
    let events = env.audit_until(|events| events.iter().any(|e| e.event.kind == kind));
    let event = events
        .iter()
        .rev()
        .find(|e| e.event.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} event"));
    serde_json::from_str(event.event.detail.get()).expect("JSON detail")
}

#[test]
fn device_login_then_a_removed_group_ends_the_grant_and_its_session() {
    if !have_node() {
        return;
    }
    // The IdP calls the group data-analysts; the gateway maps it to analysts.
    let mut idp = Idp::start(json!({"carol": ["data-analysts"]}), "k1");
    // Short, so that the gateway re-reads the groups within seconds.
    let env = start(&idp, "4s");
    let said = device_login(&env, "carol");
    assert!(
        said.contains("as carol through corp (groups: analysts;"),
        "{said}"
    );
    // The provider's refresh token went to the gateway; the CLI keeps a renewal token.
    let cache = std::fs::read_to_string(
        env.gateway
            .user("carol")
            .config_home()
            .join("jitgate/token.json"),
    )
    .expect("token cache");
    assert!(
        cache.contains("jgr_") && !cache.contains("refresh_token"),
        "{cache}"
    );

    // Requested as an OIDC subject, approved by a local approver, connected with psql.
    let psql = sleeping_psql(&env, &granted_uri(&env, "carol"));

    // Removed from the group at the IdP. carol does nothing more: the gateway re-reads her
    // groups itself, ends the grant the group justified, and psql is cut.
    idp.set_groups("carol", &[]);
    let (ok, err) = psql_ended(psql, Duration::from_secs(20));
    assert!(!ok && err.contains("access grant revoked"), "{err}");
    let changed = last_detail(&env, "subject.groups_changed");
    assert_eq!(changed["removed"], json!(["analysts"]));
    assert_eq!(changed["ended_grants"].as_array().map(Vec::len), Some(1));
    // Her next command renews through the gateway and sees it; nothing to request any more.
    let carol = env.gateway.user("carol");
    let grants = carol.json(&["grants"]).expect("grants after renewal");
    assert_eq!(grants[0]["status"], "revoked", "{grants}");
    let again = carol
        .run(&["request", "app", "--duration", "5m", "--reason", "again"])
        .expect("run");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && stderr.contains("no_matching_rule"),
        "{stderr}"
    );
}

#[test]
fn a_provider_that_no_longer_honours_the_login_ends_every_grant() {
    if !have_node() {
        return;
    }
    let idp = Idp::start(json!({"gus": ["data-analysts"]}), "k1");
    let env = start(&idp, "4s");
    browser_login(&env, "gus");
    let psql = sleeping_psql(&env, &granted_uri(&env, "gus"));
    // The account is disabled at the provider: here, its refresh token revoked there.
    let store =
        rusqlite::Connection::open(env.gateway.dir().join("jitgate.sqlite")).expect("store");
    let refresh: String = store
        .query_row(
            "SELECT refresh_token FROM external_subjects WHERE name = 'gus'",
            [],
            |r| r.get(0),
        )
        .expect("the gateway holds the refresh token");
    idp.revoke(&refresh, "jitgate-cli");
    let (ok, err) = psql_ended(psql, Duration::from_secs(20));
    assert!(!ok && err.contains("access grant revoked"), "{err}");
    let disowned = last_detail(&env, "subject.disowned");
    assert_eq!(disowned["provider"], "corp");
    // The CLI's renewal is refused too: log in again.
    let out = env.gateway.user("gus").run(&["grants"]).expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("run `jitgate login --oidc corp`"),
        "{stderr}"
    );
}

#[test]
fn a_lost_masking_exemption_cuts_the_clear_session_and_the_next_one_is_masked() {
    if !have_node() {
        return;
    }
    let mut idp = Idp::start(json!({"frank": ["data-analysts", "auditors"]}), "k1");
    let env = start(&idp, "20s");
    let said = browser_login(&env, "frank");
    assert!(said.contains("(groups: analysts, auditors;"), "{said}");
    let uri = granted_uri(&env, "frank");
    let (ok, clear, err) = env.psql(&uri, &["-c", "select ssn from t"]);
    assert!(ok && clear.trim() == "123-45-6789", "{clear} {err}");
    let psql = sleeping_psql(&env, &uri);

    // Still an analyst (the grant stands), no longer an auditor (no clear values).
    idp.set_groups("frank", &["data-analysts"]);
    let frank = env.gateway.user("frank");
    let grants = frank.json(&["grants"]).expect("grants after renewal");
    assert_eq!(grants[0]["status"], "active", "{grants}");
    let (ok, err) = psql_ended(psql, Duration::from_secs(5));
    assert!(
        !ok && err.contains("terminating connection: session ended (masking exemption lost)"),
        "the client is told why: {err}"
    );
    let ends = env.audit_until(|events| {
        events.iter().any(|e| {
            e.event.kind == "session.ended" && e.event.detail.get().contains("masking exemption")
        })
    });
    assert!(
        ends.iter().any(|e| e
            .event
            .detail
            .get()
            .contains("killed: masking exemption lost")),
        "the session's end names the reason"
    );
    let (ok, masked, err) = env.psql(&uri, &["-c", "select ssn from t"]);
    assert!(ok && masked.trim() != "123-45-6789", "{masked} {err}");
    assert!(masked.trim().ends_with("6789"), "{masked}");
    let changed = last_detail(&env, "subject.groups_changed");
    assert_eq!(changed["removed"], json!(["auditors"]));
    assert_eq!(changed["cut_sessions"].as_array().map(Vec::len), Some(1));
}

#[test]
fn browser_login_with_pkce_and_what_tokens_are_refused() {
    if !have_node() {
        return;
    }
    let mut idp = Idp::start(json!({"erin": ["data-analysts"]}), "k1");
    let env = start(&idp, "15m");
    let said = browser_login(&env, "erin");
    assert!(
        said.contains("as erin through corp (groups: analysts;"),
        "{said}"
    );
    let grants = env
        .gateway
        .user("erin")
        .json(&["grants"])
        .expect("logged in");
    assert_eq!(grants, json!([]));

    let api = env.gateway.api_url().expect("api url");
    let real = id_token(&idp, "jitgate-cli", "erin");
    let (status, body) = exchange(&api, "corp", &real);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "erin");
    assert_eq!(body["groups"], json!(["analysts"]));

    // Tampered: the payload says admins, the signature is still the provider's.
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut claims = payload(&real);
    claims["groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    refused(&api, &parts.join("."), "signature does not verify");

    // A real token of the same provider, issued to another client.
    refused(
        &api,
        &id_token(&idp, "other-app", "erin"),
        "another audience",
    );

    // Signed by the provider, but expired (well beyond the leeway).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut expired = payload(&real);
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    refused(&api, &idp.sign(&expired), "expired");

    // Unsigned, and HMAC-signed as if the provider's key were a shared secret.
    let forged = |alg: &str| {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        format!("{header}.{}.c2lnbmF0dXJl", parts[1])
    };
    refused(&api, &forged("none"), "not a signed JWT");
    refused(&api, &forged("HS256"), "not allowed");
    let (status, body) = exchange(&api, "nobody", &real);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // Key rotation: a token signed with a key the gateway has never seen is accepted after
    // one refetch of the provider's keys; one signed with the retired key no longer is.
    idp.rotate("k2");
    let rotated = id_token(&idp, "jitgate-cli", "erin");
    let (status, body) = exchange(&api, "corp", &rotated);
    assert_eq!(status, 200, "{body}\n{}", env.gateway.log());
    refused(&api, &real, "does not publish");
    let failed = last_detail(&env, "login.failed");
    assert_eq!(failed["via"], "oidc:corp");
}

/// A real ID token for `account` from `client_id`, by the code flow with PKCE.
fn id_token(idp: &Idp, client_id: &str, account: &str) -> String {
    use jitgate_oidc::flows::PublicClient;
    let metadata = jitgate_oidc::discover(&idp.issuer()).expect("discovery");
    let scopes = ["openid", "profile", "email"].map(String::from);
    let client = PublicClient::new(metadata, client_id, &scopes);
    let code = client.start_code().expect("authorization request");
    let url = code.url.clone();
    let finished = std::thread::spawn(move || client.finish_code(code, Duration::from_secs(20)));
    let (status, page) = Browser::new(account).open(&url);
    assert_eq!(status, 200, "{page}");
    let tokens = finished.join().expect("thread").expect("tokens");
    tokens.id_token.expect("an ID token")
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn exchange(api: &str, provider: &str, token: &str) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .post(&format!("{api}/api/v1/login/oidc"))
        .send_json(json!({"provider": provider, "id_token": token}))
        .expect("the API answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

fn refused(api: &str, token: &str, why: &str) {
    let (status, body) = exchange(api, "corp", token);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(why), "expected {why:?} in {message:?}");
}
