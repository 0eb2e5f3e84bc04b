//! Getting tokens from a provider as a terminal program (a public client, RFC 8252): the device
//! authorization grant (RFC 8628) for machines without a browser, the authorization code flow
//! with PKCE (RFC 7636) on a loopback redirect when there is one, and refresh.

use crate::discovery::Metadata;
use crate::http;
use crate::OidcError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// RFC 3986's unreserved characters: every other byte is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Tokens from the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// A public client of one provider.
pub struct PublicClient {
    pub metadata: Metadata,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// An installed-application secret some providers (Google) want at the token endpoint
    /// even from clients that cannot keep one.
    client_secret: Option<String>,
    agent: ureq::Agent,
}

/// What the user must do to approve a device login.
#[derive(Debug, Clone)]
pub struct DeviceLogin {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub interval: Duration,
    pub expires_in: Duration,
}

/// A web application's authorization request on its way: the URL to send the browser to, and
/// what checks and redeems the answer (kept by the application until the callback).
#[derive(Debug, Clone)]
pub struct WebLogin {
    pub url: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: String,
    verifier: String,
}

/// An authorization request on its way: the URL to open and what checks the answer.
pub struct CodeLogin {
    pub url: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: String,
    verifier: String,
    listener: TcpListener,
}

impl PublicClient {
    pub fn new(metadata: Metadata, client_id: &str, scopes: &[String]) -> PublicClient {
        PublicClient {
            metadata,
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
            client_secret: None,
            agent: http::agent(),
        }
    }

    /// Sends `secret` at the token endpoint (installed-application clients).
    pub fn with_secret(mut self, secret: Option<String>) -> PublicClient {
        self.client_secret = secret;
        self
    }

    /// POSTs to the token endpoint with the client's id (and secret, if it has one).
    fn token_request(&self, form: &[(&str, &str)]) -> Result<(u16, Value), OidcError> {
        let url = self.token_endpoint()?;
        let mut form = form.to_vec();
        form.push(("client_id", &self.client_id));
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        http::post_form(&self.agent, url, &form)
    }

    fn token_endpoint(&self) -> Result<&str, OidcError> {
        self.metadata
            .token_endpoint
            .as_deref()
            .ok_or_else(|| OidcError::Provider("the provider has no token endpoint".into()))
    }

    /// Starts a device login (RFC 8628 §3.1).
    pub fn start_device(&self) -> Result<DeviceLogin, OidcError> {
        let url = self
            .metadata
            .device_authorization_endpoint
            .as_deref()
            .ok_or_else(|| {
                OidcError::Provider(
                    "the provider does not offer the device flow; use --browser".into(),
                )
            })?;
        let scope = self.scopes.join(" ");
        let (status, body) = http::post_form(
            &self.agent,
            url,
            &[("client_id", &self.client_id), ("scope", &scope)],
        )?;
        if status != 200 {
            return Err(oauth_error(url, status, &body));
        }
        let field = |name| {
            http::string(&body, name)
                .ok_or_else(|| OidcError::Provider(format!("{url}: no {name} in the answer")))
        };
        let seconds = |name, default| {
            Duration::from_secs(body.get(name).and_then(Value::as_u64).unwrap_or(default))
        };
        Ok(DeviceLogin {
            device_code: field("device_code")?,
            user_code: field("user_code")?,
            // Entra ID still says `verification_url` (the draft's name).
            verification_uri: field("verification_uri").or_else(|_| field("verification_url"))?,
            verification_uri_complete: http::string(&body, "verification_uri_complete"),
            interval: seconds("interval", 5).max(Duration::from_secs(1)),
            expires_in: seconds("expires_in", 600),
        })
    }

    /// Polls until the user approved or denied the device login, or it expired (§3.4, §3.5).
    pub fn poll_device(&self, login: &DeviceLogin) -> Result<Tokens, OidcError> {
        let url = self.token_endpoint()?;
        let deadline = Instant::now() + login.expires_in;
        let mut interval = login.interval;
        loop {
            std::thread::sleep(interval);
            let (status, body) = self.token_request(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &login.device_code),
            ])?;
            if status == 200 {
                return tokens(url, &body);
            }
            match http::string(&body, "error").as_deref() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("access_denied") => {
                    return Err(OidcError::Flow("the login was denied".into()))
                }
                Some("expired_token") => {
                    return Err(OidcError::Flow(
                        "the code expired before it was used".into(),
                    ))
                }
                _ => return Err(oauth_error(url, status, &body)),
            }
            if Instant::now() >= deadline {
                return Err(OidcError::Flow(
                    "the code expired before it was used".into(),
                ));
            }
        }
    }

    /// Prepares an authorization code login with PKCE: listens on a free loopback port for the
    /// redirect (RFC 8252 §7.3) and builds the URL the browser must open.
    pub fn start_code(&self) -> Result<CodeLogin, OidcError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| OidcError::Flow(format!("cannot listen on loopback: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| OidcError::Flow(format!("cannot listen on loopback: {e}")))?
            .port();
        let web = self.start_web(&format!("http://127.0.0.1:{port}/callback"))?;
        Ok(CodeLogin {
            url: web.url,
            redirect_uri: web.redirect_uri,
            state: web.state,
            nonce: web.nonce,
            verifier: web.verifier,
            listener,
        })
    }

    /// Prepares an authorization code login with PKCE (S256), state and nonce, answered at
    /// `redirect_uri` (a web application's callback): the caller keeps the [`WebLogin`],
    /// sends the browser to its `url`, and calls [`PublicClient::finish_web`] with the code.
    pub fn start_web(&self, redirect_uri: &str) -> Result<WebLogin, OidcError> {
        let endpoint = self
            .metadata
            .authorization_endpoint
            .as_deref()
            .ok_or_else(|| {
                OidcError::Provider("the provider has no authorization endpoint".into())
            })?;
        let verifier = random_text();
        let state = random_text();
        let nonce = random_text();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let query = [
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &self.scopes.join(" ")),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Ok(WebLogin {
            url: format!("{endpoint}{separator}{query}"),
            redirect_uri: redirect_uri.to_owned(),
            state,
            nonce,
            verifier,
        })
    }

    /// Exchanges the code a web login's callback received (the caller has checked `state`).
    pub fn finish_web(&self, login: &WebLogin, code: &str) -> Result<Tokens, OidcError> {
        self.exchange(code, &login.redirect_uri, &login.verifier)
    }

    fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Tokens, OidcError> {
        let url = self.token_endpoint()?;
        let (status, body) = self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])?;
        if status != 200 {
            return Err(oauth_error(url, status, &body));
        }
        tokens(url, &body)
    }

    /// Waits (up to `wait`) for the browser to come back to the loopback redirect, checks the
    /// state, and exchanges the code with its PKCE verifier.
    pub fn finish_code(&self, login: CodeLogin, wait: Duration) -> Result<Tokens, OidcError> {
        let code = wait_for_code(&login, wait)?;
        self.exchange(&code, &login.redirect_uri, &login.verifier)
    }

    /// New tokens for a refresh token (the provider re-reads the subject's groups). A refresh
    /// token the provider no longer honours (`invalid_grant`: revoked, expired, account
    /// disabled) is [`OidcError::Refused`]; other failures are [`OidcError::Provider`].
    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, OidcError> {
        let url = self.token_endpoint()?;
        let (status, body) = self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])?;
        if status == 200 {
            return tokens(url, &body);
        }
        if http::string(&body, "error").as_deref() == Some("invalid_grant") {
            let detail = http::string(&body, "error_description").unwrap_or_default();
            return Err(OidcError::Refused(format!(
                "the provider no longer honours the refresh token (invalid_grant) {detail}"
            )));
        }
        Err(oauth_error(url, status, &body))
    }
}

/// Accepts connections on the loopback listener until one carries `code` and the right
/// `state` (others, e.g. a browser asking for a favicon, are answered and ignored).
fn wait_for_code(login: &CodeLogin, wait: Duration) -> Result<String, OidcError> {
    let deadline = Instant::now() + wait;
    login
        .listener
        .set_nonblocking(true)
        .map_err(|e| OidcError::Flow(format!("loopback listener: {e}")))?;
    loop {
        let stream = match login.listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(OidcError::Flow(
                        "no answer from the browser in time; try --device".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(OidcError::Flow(format!("loopback listener: {e}"))),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let Some(query) = target.strip_prefix("/callback?") else {
            respond(&stream, 404, "Not found.");
            continue;
        };
        let params = parse_query(query);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if get("state").as_deref() != Some(login.state.as_str()) {
            respond(&stream, 400, "This answer is not for this login.");
            continue;
        }
        if let Some(error) = get("error") {
            respond(&stream, 200, "Login failed; see the terminal.");
            let detail = get("error_description").unwrap_or_default();
            return Err(OidcError::Flow(format!(
                "the provider refused: {error} {detail}"
            )));
        }
        let Some(code) = get("code") else {
            respond(&stream, 400, "No code in this answer.");
            continue;
        };
        respond(&stream, 200, "Logged in; you may close this window.");
        return Ok(code);
    }
}

fn respond(mut stream: &std::net::TcpStream, status: u16, text: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} jitgate\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn tokens(url: &str, body: &Value) -> Result<Tokens, OidcError> {
    let tokens = Tokens {
        id_token: http::string(body, "id_token"),
        access_token: http::string(body, "access_token"),
        refresh_token: http::string(body, "refresh_token"),
    };
    if tokens.id_token.is_none() && tokens.access_token.is_none() {
        return Err(OidcError::Provider(format!(
            "{url} answered without tokens"
        )));
    }
    Ok(tokens)
}

fn oauth_error(url: &str, status: u16, body: &Value) -> OidcError {
    let error = http::string(body, "error").unwrap_or_else(|| format!("HTTP {status}"));
    match http::string(body, "error_description") {
        Some(d) => OidcError::Provider(format!("{url}: {error}: {d}")),
        None => OidcError::Provider(format!("{url}: {error}")),
    }
}

/// 32 random bytes, base64url: a PKCE verifier (43 characters), state or nonce.
fn random_text() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `a=1&b=x%20y` → pairs, percent- and plus-decoded.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len()
                && text.is_char_boundary(i + 1)
                && text.is_char_boundary(i + 3) =>
            {
                match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_round_trip() {
        let q = format!("code={}&state=a%2Bb&x=1+2&bad=%zz", encode("a b/c"));
        assert_eq!(
            parse_query(&q),
            [
                ("code".to_string(), "a b/c".to_string()),
                ("state".into(), "a+b".into()),
                ("x".into(), "1 2".into()),
                ("bad".into(), "%zz".into()),
            ]
        );
        assert_eq!(parse_query("e=%4"), [("e".to_string(), "%4".to_string())]);
    }
}
