//! The CLI's side of the HTTP JSON API: one blocking request per call, the cached login token as
//! bearer, and the server's `{"error": {"code", "message"}}` turned into a [`Failure`].

mod token_cache;

pub use token_cache::{CachedToken, OidcRenewal, TokenCache};

use crate::verbs::login_oidc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Where the server is: `--server`, else `JITGATE_SERVER`, else this.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// How long one call may take; the API answers in milliseconds, and a script should not hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure with a stable code, printed as `jitgate: MESSAGE (CODE)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Failure {}

pub type CallResult<T> = Result<T, Failure>;

/// A connection to one jitgate server, with or without a login token.
pub struct Client {
    server: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client without a token, for `login`.
    pub fn anonymous(server: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            // Error statuses carry our JSON error body; read it rather than get a bare code.
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .new_agent();
        Client {
            server: normalise_server(server),
            token: None,
            agent,
        }
    }

    /// A client with the token `jitgate login` cached for this server.
    pub fn logged_in(server: &str) -> anyhow::Result<Client> {
        let mut client = Client::anonymous(server);
        let cache = TokenCache::open()?;
        match cache.get(&client.server) {
            Some(cached) if cached.oidc.is_some() && login_oidc::needs_renewal(&cached) => {
                client.token = Some(login_oidc::renew(&client.server, &cached)?.token)
            }
            Some(cached) => client.token = Some(cached.token),
            None => {
                return Err(Failure::new(
                    "not_logged_in",
                    format!(
                        "not logged in to {}; run `jitgate login USER` (or `jitgate login --oidc PROVIDER`) first",
                        client.server
                    ),
                )
                .into())
            }
        }
        Ok(client)
    }

    /// Logs in as `user` and keeps the token in this client only (no cache file): for the demo
    /// and other programs that act for several people at once.
    pub fn login(server: &str, user: &str, password: &str) -> CallResult<Client> {
        #[derive(serde::Deserialize)]
        struct Answer {
            token: String,
        }
        let mut client = Client::anonymous(server);
        let answer: Answer = client.post(
            "/login",
            &serde_json::json!({"user": user, "password": password}),
        )?;
        client.token = Some(answer.token);
        Ok(client)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CallResult<T> {
        let url = self.url(path);
        let response = self.authorised(self.agent.get(&url)).call();
        self.read(&url, response)
    }

    /// The rows of a paged listing, following each page's `Link: <…>; rel="next"`: all of
    /// them, or the first `limit`.
    pub fn get_all(&self, path: &str, limit: Option<usize>) -> CallResult<Vec<Value>> {
        let mut rows: Vec<Value> = Vec::new();
        let mut next = Some(with_limit(path, limit));
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let response = self.authorised(self.agent.get(&url)).call();
            let (page, link): (Vec<Value>, _) = self.read_linked(&url, response)?;
            rows.extend(page);
            if let Some(limit) = limit.filter(|&l| rows.len() >= l) {
                rows.truncate(limit);
                break;
            }
            // A page that links to itself would never end.
            next = link.as_deref().and_then(next_path).filter(|n| *n != path);
        }
        Ok(rows)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> CallResult<T> {
        let url = self.url(path);
        let response = self.authorised(self.agent.post(&url)).send_json(body);
        self.read(&url, response)
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> CallResult<T> {
        let url = self.url(path);
        let response = self.authorised(self.agent.delete(&url)).call();
        self.read(&url, response)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server)
    }

    fn authorised<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn read<T: DeserializeOwned>(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> CallResult<T> {
        Ok(self.read_linked(url, response)?.0)
    }

    /// The answer and its `Link` header, if any.
    fn read_linked<T: DeserializeOwned>(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> CallResult<(T, Option<String>)> {
        let mut response = response.map_err(|e| {
            Failure::new(
                "unreachable",
                format!("cannot reach jitgate at {}: {e}", self.server),
            )
        })?;
        let status = response.status();
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.body_mut().read_to_string().map_err(|e| {
            Failure::new(
                "bad_response",
                format!("reading the answer from {url}: {e}"),
            )
        })?;
        if status.is_success() {
            let value = serde_json::from_str(&text).map_err(|e| {
                Failure::new("bad_response", format!("unexpected answer from {url}: {e}"))
            })?;
            return Ok((value, link));
        }
        Err(self.failure(status.as_u16(), &text))
    }

    /// The server's error body, or a description of a status without one (a proxy's page).
    fn failure(&self, status: u16, text: &str) -> Failure {
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut failure = match (field("code"), field("message")) {
            (Some(code), Some(message)) => Failure { code, message },
            _ => Failure::new(
                "http_error",
                format!("jitgate at {} answered HTTP {status}", self.server),
            ),
        };
        if status == 401 && self.token.is_some() {
            failure.message.push_str("; run `jitgate login` again");
        }
        failure
    }
}

/// `path` asking for pages no larger than `limit` (the server's largest is 1000).
fn with_limit(path: &str, limit: Option<usize>) -> String {
    match limit {
        None => path.to_owned(),
        Some(limit) => {
            let joiner = if path.contains('?') { '&' } else { '?' };
            format!("{path}{joiner}limit={}", limit.clamp(1, 1000))
        }
    }
}

/// The API path of a `Link: </api/v1/PATH>; rel="next"` header; other links are ignored.
fn next_path(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        is_next
            .then(|| target.strip_prefix("/api/v1").map(str::to_owned))
            .flatten()
    })
}

/// `https://gw.example/` and `https://gw.example` are the same server (and the same cache key).
pub fn normalise_server(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

/// A path segment for an id the user typed; the server validates it too, this only keeps the
/// URL well-formed whatever was typed.
pub fn segment(id: &str) -> String {
    jitgate_api::percent_encode(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_compared_without_trailing_slashes() {
        assert_eq!(normalise_server(" http://h:1/ "), "http://h:1");
    }

    #[test]
    fn typed_ids_cannot_escape_their_segment() {
        assert_eq!(segment("r_abc-1"), "r_abc-1");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
    }

    #[test]
    fn next_links_become_api_paths() {
        let link = r#"</api/v1/sessions?open=true&after=1.s_b>; rel="next""#;
        assert_eq!(
            next_path(link).as_deref(),
            Some("/sessions?open=true&after=1.s_b")
        );
        // Only next links to this API are followed.
        assert_eq!(next_path(r#"</api/v1/x>; rel="prev""#), None);
        assert_eq!(next_path(r#"<https://evil.example/x>; rel="next""#), None);
        assert_eq!(
            with_limit("/grants?active=true", Some(5000)),
            "/grants?active=true&limit=1000"
        );
        assert_eq!(with_limit("/grants", Some(7)), "/grants?limit=7");
    }

    #[test]
    fn error_bodies_become_failures() {
        let client = Client::anonymous("http://h");
        let f = client.failure(403, r#"{"error":{"code":"self_approval","message":"no"}}"#);
        assert_eq!(f, Failure::new("self_approval", "no"));
        assert_eq!(f.to_string(), "no (self_approval)");
        let f = client.failure(502, "<html>bad gateway</html>");
        assert_eq!(f.code, "http_error");
        assert!(f.message.contains("502"), "{f}");
    }
}
