//! The web console end to end: the real `jitgate` binary, a real PostgreSQL, headless Chromium
//! through chromedriver, psql; and its security properties over plain HTTP.

mod console_env;
mod oidc_env;

use console_env::{cookie_pair, csrf_of, get, post, start, start_with, Browser, WebUser, PROMPT};
use std::process::{Command, Stdio};
use std::time::Duration;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Script and HTML in a reason, a comment and a kill reason: must show as text, never run.
const XSS_REASON: &str =
    "INC-42 <script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
const XSS_COMMENT: &str = "fine <b>bold</b><script>window.__xss=3</script>";
const XSS_STATEMENT: &str = "select '<script>window.__xss=4</script>' as x";

/// The story of the issue: alice requests in one browser; dana's inbox shows it without a
/// reload and she approves at phone size; alice's page turns approved by itself, shows the
/// countdown and the URI, psql connects with it; dana kills the session; the audit page shows
/// it all and the chain verifies. Screenshots are kept under target/tmp/console-screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_approve_connect_kill_and_audit_in_a_real_browser() {
    let env = start(true);
    let alice = Browser::open(&env.base, 1280, 900).await;
    let dana = Browser::open(&env.base, 390, 844).await;

    alice.goto("/").await;
    assert_eq!(
        alice.path().await,
        "/login",
        "signed out pages send to sign-in"
    );
    alice.screenshot("sign-in").await;
    alice.sign_in("alice").await;
    dana.sign_in("dana").await;

    dana.goto("/inbox").await;
    assert_eq!(dana.text("#inbox .empty").await, "Nothing waiting for you.");
    dana.js("window.__stay = 'same page'; return true;").await;

    // The form offers what the rule allows, with its prompt; the pattern holds on the server.
    assert_eq!(alice.text("#new .prompt").await, PROMPT);
    let longest = alice
        .js("return Math.max(...Array.from(document.querySelectorAll('select[name=duration_seconds] option')).map(o => +o.value));")
        .await;
    assert_eq!(
        longest, 7200,
        "durations are capped by the rule's max_duration"
    );
    alice.fill("input[name=reason]", "no ticket here").await;
    alice.click("#new button[type=submit]").await;
    let refused = alice.text("p.error").await;
    assert!(refused.contains("INC-[0-9]+"), "{refused}");

    alice.goto("/").await;
    alice
        .js("document.querySelector('select[name=duration_seconds]').value = '1800'; return true;")
        .await;
    alice.fill("input[name=reason]", XSS_REASON).await;
    alice.click("#new button[type=submit]").await;
    let path = alice.wait_path("/requests/").await;
    let id = path
        .strip_prefix("/requests/")
        .unwrap_or_else(|| panic!("not the request's page: {path}"))
        .to_owned();
    assert!(alice.text(".badge").await.contains("pending"));
    alice.screenshot("request-pending").await;

    // dana's inbox shows it without a reload (server-sent event, then the live section).
    let card = format!("#inbox #req-{id}");
    dana.find(&card).await;
    assert_eq!(
        dana.js("return window.__stay;").await,
        "same page",
        "no reload"
    );
    let shown = dana.text(&format!("{card} .reason")).await;
    assert_eq!(shown, XSS_REASON, "the reason is shown as text");
    assert!(!dana.overflows().await, "the inbox fits 390 px");
    dana.screenshot("inbox-phone").await;

    // Two taps: Review, Approve (with a comment).
    dana.click(&format!("a[href='/requests/{id}']")).await;
    dana.fill("textarea[name=comment]", XSS_COMMENT).await;
    assert!(!dana.overflows().await, "the request page fits 390 px");
    dana.screenshot("request-phone").await;
    dana.click("button.approve").await;
    dana.find("#request .badge.approved").await;

    // alice's page turned approved by itself, with who and the comment as text.
    alice.find("#request .badge.approved").await;
    let comment = alice.text("#request blockquote.comment").await;
    assert!(comment.contains(XSS_COMMENT), "{comment}");
    for browser in [&alice, &dana] {
        assert_eq!(
            browser.js("return window.__xss === undefined;").await,
            true,
            "script ran"
        );
    }

    // The grant counts down; connect shows the URI, and psql connects with it.
    alice.goto("/").await;
    let before = alice.text("#my-grants .countdown").await;
    assert!(before.ends_with("left"), "{before}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_ne!(
        alice.text("#my-grants .countdown").await,
        before,
        "the countdown ticks"
    );
    alice.screenshot("my-access").await;
    alice.click("#my-grants button.primary").await;
    let uri = alice.text("#connect-uri").await;
    assert!(uri.starts_with("postgresql://alice-"), "{uri}");
    assert!(alice.text("#connect-psql").await.contains(&uri));
    assert!(alice
        .text("#connect-jdbc")
        .await
        .starts_with("jdbc:postgresql://"));
    alice.screenshot("connect").await;

    let psql = Command::new("psql")
        .args([
            uri.as_str(),
            "-X",
            "-c",
            XSS_STATEMENT,
            "-c",
            "select pg_sleep(120)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");

    // dana kills it from the sessions page, with a reason psql is shown.
    dana.goto("/sessions").await;
    dana.find("#sessions article.session").await;
    assert!(!dana.overflows().await, "the sessions page fits 390 px");
    dana.screenshot("sessions-phone").await;
    dana.fill("#sessions input[name=reason]", "stopped from the console")
        .await;
    dana.click("#sessions button.danger").await;
    let ended = tokio::task::spawn_blocking(move || psql.wait_with_output());
    let out = tokio::time::timeout(Duration::from_secs(60), ended)
        .await
        .expect("psql is cut within a minute")
        .expect("join")
        .expect("psql ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "psql must be cut");
    assert!(stderr.contains("stopped from the console"), "{stderr}");
    dana.find("#sessions .empty").await;

    // The admin's audit page shows it all, and the chain verifies.
    alice.goto("/").await;
    alice.click("form.signout button").await;
    assert_eq!(alice.wait_path("/login").await, "/login");
    alice.sign_in("erin").await;
    alice.goto("/audit?kind=&subject=alice").await;
    let chain = alice.text("#chain").await;
    assert!(chain.starts_with("Hash chain verified"), "{chain}");
    let trail = alice.text("#audit").await;
    for kind in [
        "request.created",
        "request.approved",
        "grant.created",
        "session.started",
    ] {
        assert!(trail.contains(kind), "{kind} missing from {trail}");
    }
    assert!(trail.contains("stopped from the console"), "{trail}");
    assert!(
        trail.contains("<script>window.__xss=4</script>"),
        "the statement, as text"
    );
    alice.screenshot("audit").await;
    // The audit page follows the trail live: a new request shows without a reload.
    alice.goto("/audit").await;
    alice.js("window.__stay = 'audit'; return true;").await;
    let mallory = tokio::task::spawn_blocking({
        let base = env.base.clone();
        move || WebUser::sign_in(&base, "mallory").request_app("INC-77 live follow")
    });
    let live = mallory.await.expect("mallory's request");
    alice.find("#audit .event code.detail").await;
    let mut followed = false;
    for _ in 0..100 {
        if alice.text("#audit").await.contains("INC-77 live follow") {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(followed, "request {live} did not show on the audit page");
    assert_eq!(
        alice.js("return window.__stay;").await,
        "audit",
        "no reload"
    );
    alice.goto("/policy").await;
    let policy = alice.text("main").await;
    assert!(
        policy.contains(PROMPT) && policy.contains("INC-[0-9]+"),
        "{policy}"
    );
    assert!(
        policy.contains("public.customers.ssn") && policy.contains("clear for group:dba"),
        "{policy}"
    );
    alice.screenshot("policy").await;
    assert_eq!(alice.js("return window.__xss === undefined;").await, true);

    alice.close().await;
    dana.close().await;
}

/// The session cookie is HttpOnly and SameSite=Lax, Secure behind TLS; every console answer
/// carries the strict CSP and refuses framing.
#[test]
fn cookies_and_security_headers() {
    let env = start(false);
    let form = get(&env.base, "/login", "", &[]);
    assert_eq!(form.header("content-security-policy"), Some(CSP));
    assert_eq!(form.header("x-frame-options"), Some("DENY"));
    let login_cookie = cookie_pair(&form, "jitgate_login")
        .expect("login cookie")
        .to_owned();
    let token = csrf_of(&form.body);
    let pw = console_env::password("alice");
    for (tls, proto) in [(false, "http"), (true, "https")] {
        let signed = post(
            &env.base,
            "/login",
            &login_cookie,
            &[("user", "alice"), ("password", &pw), ("csrf", &token)],
            &[("x-forwarded-proto", proto)],
        );
        assert_eq!(signed.status, 303, "{}", signed.body);
        let set = signed
            .headers("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("jitgate_console="))
            .expect("session cookie")
            .to_owned();
        assert!(
            set.contains("; HttpOnly") && set.contains("; SameSite=Lax"),
            "{set}"
        );
        assert_eq!(set.contains("; Secure"), tls, "{set}");
    }
    let user = WebUser::sign_in(&env.base, "alice");
    for path in ["/", "/inbox", "/grants", "/sessions", "/assets/console.js"] {
        let page = user.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-security-policy"), Some(CSP), "{path}");
    }
    let page = user.get("/");
    assert!(
        !page.body.contains("<script>") && !page.body.contains(" onclick="),
        "no inline script"
    );
}

/// State changes without the session's CSRF token, with a wrong one, or from another origin are
/// refused; with it they pass. A wrong sign-in form token is refused too.
#[test]
fn csrf_missing_wrong_or_cross_origin_is_refused() {
    let env = start(false);
    let alice = WebUser::sign_in(&env.base, "alice");
    let fields = [
        ("resource", "app"),
        ("duration_seconds", "600"),
        ("reason", "INC-1 check"),
    ];
    let missing = post(&env.base, "/requests", &alice.cookie, &fields, &[]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    let mut wrong = fields.to_vec();
    wrong.push(("csrf", "not-the-token"));
    let wrong = post(&env.base, "/requests", &alice.cookie, &wrong, &[]);
    assert_eq!(wrong.status, 403);
    let mut right = fields.to_vec();
    right.push(("csrf", &alice.csrf));
    let foreign = post(
        &env.base,
        "/requests",
        &alice.cookie,
        &right,
        &[("origin", "https://evil.example")],
    );
    assert_eq!(foreign.status, 403);
    let cross = post(
        &env.base,
        "/requests",
        &alice.cookie,
        &right,
        &[("sec-fetch-site", "cross-site")],
    );
    assert_eq!(cross.status, 403);
    let listed = alice.get("/");
    assert!(
        !listed.body.contains("/cancel"),
        "nothing was created by the refused posts"
    );
    assert_eq!(
        post(&env.base, "/requests", &alice.cookie, &right, &[]).status,
        303
    );

    // Sign-out is a state change too; afterwards the cookie is worthless.
    assert_eq!(
        post(&env.base, "/logout", &alice.cookie, &[], &[]).status,
        403
    );
    assert_eq!(alice.post("/logout", &[]).status, 303);
    let after = alice.get("/");
    assert_eq!(
        (after.status, after.header("location")),
        (303, Some("/login"))
    );

    let form = get(&env.base, "/login", "", &[]);
    let login_cookie = cookie_pair(&form, "jitgate_login")
        .expect("login cookie")
        .to_owned();
    let pw = console_env::password("alice");
    let forged = post(
        &env.base,
        "/login",
        &login_cookie,
        &[("user", "alice"), ("password", &pw), ("csrf", "forged")],
        &[],
    );
    assert_eq!(forged.status, 403);
}

/// The console applies the API's rules: another requester's request page is not found, a
/// non-approver's approve and a self-approval are refused, the audit trail is for admins; the
/// API sees the same outcome.
#[test]
fn the_apis_rules_hold_in_the_console() {
    let env = start(false);
    let alice = WebUser::sign_in(&env.base, "alice");
    let mallory = WebUser::sign_in(&env.base, "mallory");
    let id = alice.request_app("INC-7 <script>alert(1)</script>");

    let page = alice.get(&format!("/requests/{id}"));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("INC-7 &lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped"
    );
    assert!(!page.body.contains("<script>alert(1)"), "never raw");

    let peek = mallory.get(&format!("/requests/{id}"));
    assert_eq!(peek.status, 404, "another user's request is not readable");
    assert!(!peek.body.contains("INC-7"));
    let approve = mallory.post(&format!("/requests/{id}/approve"), &[("comment", "sure")]);
    assert_eq!(approve.status, 404, "{}", approve.body);
    let own = alice.post(&format!("/requests/{id}/approve"), &[]);
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(own.body.contains("their own request"), "{}", own.body);
    assert_eq!(mallory.get("/audit").status, 403);
    assert_eq!(mallory.get("/audit/export?format=csv").status, 403);
    let still = alice.get(&format!("/requests/{id}"));
    assert!(still.body.contains("badge pending"), "nothing was decided");

    // The pattern binds the API too: same rule, same refusal.
    let login: serde_json::Value = ureq::post(format!("{}/api/v1/login", env.base))
        .send_json(serde_json::json!({"user": "alice", "password": console_env::password("alice")}))
        .expect("API login")
        .into_body()
        .read_json()
        .expect("JSON");
    let token = login["token"].as_str().expect("token");
    let refused = console_env::agent()
        .post(format!("{}/api/v1/requests", env.base))
        .header("authorization", format!("Bearer {token}"))
        .send_json(
            serde_json::json!({"resource": "app", "duration_seconds": 60, "reason": "no ticket"}),
        )
        .expect("API answer");
    assert_eq!(refused.status().as_u16(), 400);

    let dana = WebUser::sign_in(&env.base, "dana");
    let decided = dana.post(
        &format!("/requests/{id}/deny"),
        &[("comment", "no <i>way</i>")],
    );
    assert_eq!(decided.status, 303);
    let erin = WebUser::sign_in(&env.base, "erin");
    let csv = erin.get("/audit/export?format=csv&kind=request.");
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("seq,at,kind,"), "{}", csv.body);
    assert!(csv.body.contains("request.denied"), "{}", csv.body);
    let jsonl = erin.get("/audit/export?format=jsonl&subject=alice");
    for line in jsonl.body.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(event["subject"], "alice");
    }
}

/// Sign-in with OpenID Connect in the browser: the authorization code flow with PKCE through a
/// real provider's pages, the provider's groups mapped (the mapped group may request `app`); a
/// callback that this browser did not start is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_openid_connect_in_a_real_browser() {
    if !oidc_env::have_node() {
        return;
    }
    let idp = oidc_env::Idp::start(serde_json::json!({"olivia": ["data-analysts"]}), "k1");
    let extra = format!(
        "[oidc.corp]\nissuer = \"{}\"\nclient_id = \"jitgate-console\"\n\n\
         [oidc.corp.group_map]\n\"data-analysts\" = \"analysts\"\n",
        idp.issuer()
    );
    let env = start_with(false, "", &extra, &[]);
    let browser = Browser::open(&env.base, 390, 844).await;
    browser.goto("/login").await;
    browser.click("a[href^='/login/oidc/corp']").await;
    // The test provider's login page: `?account=NAME` signs that account in.
    let mut at_provider = String::new();
    for _ in 0..100 {
        at_provider = browser.client.current_url().await.expect("url").to_string();
        if at_provider.contains("/interaction/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(at_provider.contains("/interaction/"), "{at_provider}");
    browser
        .client
        .goto(&format!("{at_provider}?account=olivia"))
        .await
        .expect("provider login");
    assert_eq!(browser.text("header.top .who").await, "olivia");
    assert_eq!(browser.wait_path("/").await, "/");
    browser
        .find("#new select[name=resource] option[value=app]")
        .await;

    let forged = get(&env.base, "/login/oidc/callback?code=x&state=y", "", &[]);
    assert_eq!(forged.status, 403, "a callback not bound to this browser");
    browser.close().await;
}

/// A request page opened signed out (a link from chat) comes back after sign-in, so that
/// approving is the second tap; a `next` that leaves the console is ignored.
#[test]
fn a_link_opened_signed_out_returns_after_sign_in_and_never_elsewhere() {
    let env = start(false);
    let alice = WebUser::sign_in(&env.base, "alice");
    let id = alice.request_app("INC-5 nightly job");
    let link = format!("/requests/{id}");
    let opened = get(&env.base, &link, "", &[]);
    assert_eq!(opened.status, 303);
    let to_login = opened.header("location").expect("to sign-in").to_owned();
    assert_eq!(to_login, format!("/login?next=%2Frequests%2F{id}"));
    for (next, lands) in [(link.as_str(), link.as_str()), ("//evil.example/", "/")] {
        let form = get(
            &env.base,
            &format!("/login?next={}", jitgate_api::percent_encode(next)),
            "",
            &[],
        );
        let login_cookie = cookie_pair(&form, "jitgate_login")
            .expect("login cookie")
            .to_owned();
        let pw = console_env::password("dana");
        let signed = post(
            &env.base,
            "/login",
            &login_cookie,
            &[
                ("user", "dana"),
                ("password", &pw),
                ("csrf", &csrf_of(&form.body)),
                ("next", next),
            ],
            &[],
        );
        assert_eq!(
            (signed.status, signed.header("location")),
            (303, Some(lands))
        );
    }
}

/// Idle and absolute timeouts: a session unused for `console_idle_timeout` is signed out, one
/// kept busy still ends with its token (`token_ttl`); the live-update stream does not keep a
/// session alive.
#[test]
fn idle_and_absolute_timeouts_sign_out() {
    let env = start_with(
        false,
        "token_ttl = \"10s\"\nconsole_idle_timeout = \"3s\"",
        "",
        &[],
    );
    let idle = WebUser::sign_in(&env.base, "alice");
    let busy = WebUser::sign_in(&env.base, "alice");
    let start = std::time::Instant::now();
    // One kept in use past the idle timeout; the other only watched (live re-reads).
    while start.elapsed() < Duration::from_secs(5) {
        assert_eq!(busy.get("/").status, 200, "in use: alive");
        let _ = get(
            &env.base,
            "/",
            &idle.cookie,
            &[("x-jitgate-live-refresh", "1")],
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let gone = idle.get("/");
    assert_eq!(
        (gone.status, gone.header("location")),
        (303, Some("/login")),
        "idle: signed out"
    );
    while start.elapsed() < Duration::from_secs(8) {
        assert_eq!(busy.get("/").status, 200, "in use: alive");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Past the token's lifetime (counted from sign-in, before `start`), still in use.
    while start.elapsed() < Duration::from_secs(11) {
        let _ = busy.get("/");
        std::thread::sleep(Duration::from_millis(300));
    }
    let ended = busy.get("/");
    assert_eq!(
        (ended.status, ended.header("location")),
        (303, Some("/login")),
        "the token's lifetime ends even a busy session"
    );
}
