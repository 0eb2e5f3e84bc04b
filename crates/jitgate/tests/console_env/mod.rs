//! A gateway in front of a real PostgreSQL for the console's tests, headless Chromium driven
//! through chromedriver (W3C WebDriver), and a cookie-keeping HTTP client for the checks that
//! need no browser.
//!
//! Users: alice and mallory (analysts), dana (dba: approver), erin (admins). `app` needs one
//! approval from dba, and a reason with a ticket id (`reason_pattern`).
#![allow(dead_code)]

pub mod slack;

use fantoccini::{Client, ClientBuilder, Locator};
use jitgate_testkit::{free_port, AuthMethod, ClusterOptions, Gateway, PgCluster};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SERVICE_USER: &str = "svc";
pub const SERVICE_PASSWORD: &str = "svc-password-1";
pub const USERS: [(&str, &str); 4] = [
    ("alice", "analysts"),
    ("mallory", "analysts"),
    ("dana", "dba"),
    ("erin", "admins"),
];
pub const PROMPT: &str = "Ticket id (INC-…) and what you will do";

pub fn password(user: &str) -> String {
    format!("{user}-secret-pw")
}

pub struct Env {
    // Field order: the gateway stops before the cluster it relays to.
    pub gateway: Gateway,
    pub cluster: Option<PgCluster>,
    pub base: String,
}

/// A gateway with a real PostgreSQL behind `app`, or none (`with_database` false: everything but
/// connecting works).
pub fn start(with_database: bool) -> Env {
    start_with(with_database, "", "", &[])
}

/// As [`start`], with `api` keys added to `[api]`, `extra` configuration (`{API}` in it becomes
/// the API's `http://` address) and extra environment variables.
pub fn start_with(with_database: bool, api: &str, extra: &str, extra_env: &[(&str, &str)]) -> Env {
    let cluster = with_database.then(|| {
        PgCluster::start(ClusterOptions {
            auth: AuthMethod::ScramSha256,
            service_user: Some((SERVICE_USER.into(), SERVICE_PASSWORD.into())),
            ..ClusterOptions::default()
        })
        .expect("starting PostgreSQL")
    });
    let pg_port = cluster.as_ref().map_or_else(free_port, PgCluster::port);
    let users: String = USERS
        .iter()
        .map(|(user, group)| {
            format!(
                "[users.{user}]\npassword_env = \"JITGATE_PW_{}\"\ngroups = [\"{group}\"]\n\n",
                user.to_uppercase()
            )
        })
        .collect();
    let api_keys = api;
    let api = free_port();
    let extra = extra.replace("{API}", &format!("http://127.0.0.1:{api}"));
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:{api}"
{api_keys}

{users}
[roles]
approver = ["dba"]
admin = ["admins"]

[[access]]
resources = ["app"]
requesters = ["group:analysts"]
max_duration = "2h"
approvals = 1
approver_groups = ["dba"]
reason_prompt = "{PROMPT}"
reason_pattern = "INC-[0-9]+"

[resources.app]
kind = "postgres"
listen = "127.0.0.1:{listen}"

[resources.app.upstream]
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "{SERVICE_USER}"
password_env = "SVC_PASSWORD"
tls = "disable"

[[masking.rules]]
resource = "app"
column = "public.customers.ssn"
mask = "partial"
keep_last = 4
clear_for = ["group:dba"]

{extra}
"#,
        listen = free_port(),
    );
    let env: Vec<(String, String)> = USERS
        .iter()
        .map(|(u, _)| (format!("JITGATE_PW_{}", u.to_uppercase()), password(u)))
        .chain([("SVC_PASSWORD".to_owned(), SERVICE_PASSWORD.to_owned())])
        .chain(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gateway = Gateway::start_with_env(env!("CARGO_BIN_EXE_jitgate").as_ref(), &config, &env)
        .expect("starting jitgate");
    let base = gateway.api_url().expect("api url");
    Env {
        gateway,
        cluster,
        base,
    }
}

/// Where screenshots go (under target/, not committed).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Headless Chromium under its own chromedriver and its own profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    pub base: String,
}

impl Browser {
    /// A browser window of `width`×`height` CSS pixels.
    pub async fn open(base: &str, width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver (scripts/install-deps test installs it)");
        let profile = tempfile::tempdir().expect("profile folder");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("chromedriver: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        // The viewport, not the window, is what a phone has.
        let inner: Vec<u32> = serde_json::from_value(
            client
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await
                .expect("viewport"),
        )
        .expect("numbers");
        let (dw, dh) = (width - inner[0].min(width), height - inner[1].min(height));
        client
            .set_window_size(width + dw, height + dh)
            .await
            .expect("window size");
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.to_owned(),
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigating");
    }

    pub async fn sign_in(&self, user: &str) {
        self.goto("/login").await;
        self.fill("input[name=user]", user).await;
        self.fill("input[name=password]", &password(user)).await;
        self.click("form.signin button[type=submit]").await;
        self.wait_for("header.top .who").await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clearing");
        field.send_keys(text).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        for _ in 0..STALE_TRIES {
            match self.find(css).await.click().await {
                Err(e) if e.is_stale_element_reference() => stale_pause().await,
                done => {
                    return done
                        .map(drop)
                        .unwrap_or_else(|e| panic!("clicking {css}: {e}"))
                }
            }
        }
        panic!("{css} kept being replaced by live updates");
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.find(css).await
    }

    pub async fn text(&self, css: &str) -> String {
        for _ in 0..STALE_TRIES {
            match self.find(css).await.text().await {
                Err(e) if e.is_stale_element_reference() => stale_pause().await,
                done => return done.unwrap_or_else(|e| panic!("text of {css}: {e}")),
            }
        }
        panic!("{css} kept being replaced by live updates");
    }

    /// Evaluates `script` (a function body) in the page.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// The page's path once it starts with `prefix` (a click's navigation may still be under
    /// way when the click returns).
    pub async fn wait_path(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) || Instant::now() > deadline {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// A PNG of the viewport, kept under target/.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing screenshot");
        path
    }

    /// Whether the page is wider than the viewport (something would scroll sideways).
    pub async fn overflows(&self) -> bool {
        self.js("return document.documentElement.scrollWidth > window.innerWidth;")
            .await
            .as_bool()
            .unwrap_or(true)
    }

    /// Ends the WebDriver session (the browser quits) and chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop stops chromedriver.
    }
}

impl Drop for Browser {
    /// chromedriver goes with the test, passed or failed.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Polls `check` until it holds, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A signed-in console user over plain HTTP: the session cookie and CSRF token, no redirects
/// followed, every status an answer.
pub struct WebUser {
    agent: ureq::Agent,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.into_body().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET base+path` with optional cookie and extra headers.
pub fn get(base: &str, path: &str, cookie: &str, extra: &[(&str, &str)]) -> Answer {
    let mut request = agent().get(format!("{base}{path}"));
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    answer(request.call().expect("GET"))
}

/// `POST base+path` of a form body.
pub fn post(
    base: &str,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = agent()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", jitgate_api::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    answer(request.send(body).expect("POST"))
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `NAME=VALUE` of a `Set-Cookie` header for `name`.
pub fn cookie_pair<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
}

impl WebUser {
    pub fn sign_in(base: &str, user: &str) -> WebUser {
        let form = get(base, "/login", "", &[]);
        let login_cookie = cookie_pair(&form, "jitgate_login")
            .expect("login cookie")
            .to_owned();
        let token = csrf_of(&form.body);
        let pw = password(user);
        let signed = post(
            base,
            "/login",
            &login_cookie,
            &[("user", user), ("password", &pw), ("csrf", &token)],
            &[],
        );
        assert_eq!(signed.status, 303, "{}", signed.body);
        let cookie = cookie_pair(&signed, "jitgate_console")
            .expect("session cookie")
            .to_owned();
        let home = get(base, "/", &cookie, &[]);
        assert_eq!(home.status, 200, "{}", home.body);
        WebUser {
            agent: agent(),
            base: base.to_owned(),
            cookie,
            csrf: csrf_of(&home.body),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        get(&self.base, path, &self.cookie, &[])
    }

    /// A form post with this user's CSRF token.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut fields = form.to_vec();
        fields.push(("csrf", &self.csrf));
        post(&self.base, path, &self.cookie, &fields, &[])
    }

    /// Requests `app` and returns the new request's id.
    pub fn request_app(&self, reason: &str) -> String {
        let made = self.post(
            "/requests",
            &[
                ("resource", "app"),
                ("duration_seconds", "1800"),
                ("reason", reason),
            ],
        );
        assert_eq!(made.status, 303, "{}", made.body);
        made.header("location")
            .and_then(|l| l.strip_prefix("/requests/"))
            .expect("the request's page")
            .to_owned()
    }
}

/// Live updates replace parts of a page: an element found a moment ago may be gone by the time
/// it is read or clicked, and is then found again, this many times at most.
const STALE_TRIES: usize = 50;

async fn stale_pause() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}
