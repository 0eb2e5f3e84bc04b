//! A real OpenID provider for the single sign-on tests (`oidc-provider` on Node.js, see
//! `tests/oidc/provider.js`), and a minimal browser that does over HTTP what a person would:
//! confirm a device code, log in as an account, follow redirects back to the CLI.
#![allow(dead_code)]

use jitgate_testkit::free_port;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `npm ci` runs once per test binary even when tests start together.
static NPM: Mutex<bool> = Mutex::new(false);

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether Node.js is here; the tests skip (and say so) without it.
pub fn have_node() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: Node.js (`node`) is not installed; the OpenID provider needs it");
    }
    found
}

/// Installs the provider's packages from the lock file if `scripts/install-deps test` has not.
fn npm_ci() {
    let mut done = NPM.lock().unwrap_or_else(|e| e.into_inner());
    if *done || provider_dir().join("node_modules/oidc-provider").exists() {
        *done = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(provider_dir())
        .status()
        .expect("running npm ci for the test OpenID provider");
    assert!(
        status.success(),
        "npm ci in {} failed",
        provider_dir().display()
    );
    *done = true;
}

pub struct Idp {
    child: Option<Child>,
    pub port: u16,
    accounts: Value,
}

impl Idp {
    /// Starts the provider with `accounts` (account → groups) and signing key `kid`.
    pub fn start(accounts: Value, kid: &str) -> Idp {
        npm_ci();
        let mut idp = Idp {
            child: None,
            port: free_port(),
            accounts,
        };
        idp.spawn(kid);
        idp
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, kid: &str) {
        let mut child = Command::new("node")
            .arg("provider.js")
            .current_dir(provider_dir())
            .env("PORT", self.port.to_string())
            .env("KID", kid)
            .env("ACCOUNTS", self.accounts.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node provider.js");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.any(|l| l.is_ok_and(|l| l.contains("ready")));
        assert!(ready, "the OpenID provider did not start");
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.child = Some(child);
    }

    /// Stops the provider and starts it again on the same port with a new signing key: the
    /// provider has rotated its keys (its sessions and refresh tokens are gone too).
    pub fn rotate(&mut self, kid: &str) {
        self.stop();
        self.spawn(kid);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Changes an account's groups; tokens issued from now on carry them.
    pub fn set_groups(&mut self, account: &str, groups: &[&str]) {
        if let Some(map) = self.accounts.as_object_mut() {
            map.insert(account.into(), json!(groups));
        }
        self.post(
            "/test/groups",
            &json!({"account": account, "groups": groups}),
        );
    }

    /// Revokes a refresh token at the provider (RFC 7009), as disabling the account would.
    pub fn revoke(&self, token: &str, client_id: &str) {
        let response = ureq::post(&format!("{}/token/revocation", self.issuer()))
            .send_form([
                ("token", token),
                ("token_type_hint", "refresh_token"),
                ("client_id", client_id),
            ])
            .expect("revocation");
        assert_eq!(response.status().as_u16(), 200);
    }

    /// Signs `claims` with the provider's current key.
    pub fn sign(&self, claims: &Value) -> String {
        let answer = self.post("/test/sign", &json!({ "claims": claims }));
        answer["token"].as_str().expect("a token").to_owned()
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let mut response = ureq::post(&format!("{}{path}", self.issuer()))
            .send_json(body)
            .expect("test route of the provider");
        response.body_mut().read_json().expect("JSON")
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Cookies and redirects, nothing more: what the provider's pages need from a browser.
pub struct Browser {
    agent: ureq::Agent,
    cookies: Vec<(String, String)>,
    /// Who logs in when the provider asks.
    account: String,
}

impl Browser {
    pub fn new(account: &str) -> Browser {
        Browser {
            agent: ureq::Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(20)))
                .build()
                .new_agent(),
            cookies: Vec::new(),
            account: account.into(),
        }
    }

    /// Opens `url` and follows redirects, logging in at the provider's interaction page, until
    /// a page is shown; returns its status and body. A redirect to a loopback callback is
    /// delivered there (that is the CLI listening) and ends the walk.
    pub fn open(&mut self, url: &str) -> (u16, String) {
        let mut url = url.to_owned();
        for _ in 0..20 {
            if url.contains("/interaction/") && !url.contains("account=") {
                let separator = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{separator}account={}", self.account);
            }
            let request = self.agent.get(&url).header("Cookie", self.cookie_header());
            let (status, location, body) = self.read(request.call());
            match location {
                Some(next) if (300..400).contains(&status) => url = absolute(&url, &next),
                _ => return (status, body),
            }
        }
        panic!("too many redirects, last at {url}");
    }

    /// Confirms a device login at the provider's verification page (with the code in it).
    pub fn confirm_device(&mut self, verification_uri_complete: &str) -> (u16, String) {
        let (status, page) = self.open(verification_uri_complete);
        assert_eq!(status, 200, "{page}");
        let mut form = hidden_inputs(&page);
        form.push(("confirm".into(), "yes".into()));
        let action = absolute(verification_uri_complete, "/device");
        let request = self
            .agent
            .post(&action)
            .header("Cookie", self.cookie_header());
        let (status, location, body) = self.read(request.send_form(form));
        match location {
            Some(next) if (300..400).contains(&status) => self.open(&absolute(&action, &next)),
            _ => (status, body),
        }
    }

    fn read(
        &mut self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, Option<String>, String) {
        let mut response = response.expect("the provider answers");
        for value in response.headers().get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                self.cookies.push((name.trim().into(), value.trim().into()));
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), location, body)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `Location` may be a path: resolve it against the URL that answered.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}{location}", &base[..origin_end])
}

/// `<input type="hidden" name="N" value="V">` pairs of a page.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let rest = &tag[i + key.len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
        })
    };
    page.split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// Reads the child's standard error line by line until `pick` finds something in a line.
pub fn wait_for_line(
    child: &mut Child,
    pick: impl Fn(&str) -> Option<String>,
) -> (String, BufReader<std::process::ChildStderr>) {
    let stderr = child.stderr.take().expect("piped stderr");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => panic!("the CLI ended without the expected line:\n{seen}"),
            Ok(_) => {}
        }
        seen.push_str(&line);
        if let Some(found) = pick(&line) {
            return (found, reader);
        }
    }
}

/// Waits up to `limit` for a child to end.
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a child process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
