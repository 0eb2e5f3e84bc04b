//! `jitgate login --oidc PROVIDER [--device | --browser]`: tokens from the company's identity
//! provider, exchanged for a short-lived jitgate token. The provider's refresh token goes to the
//! server, which re-reads the subject's groups with it; the CLI keeps the renewal token the
//! server gives instead, and commands renew the jitgate token with it when it runs out (the
//! server asks the provider again each time).

use super::login::LoginAnswer;
use crate::client::{CachedToken, Client, Failure, OidcRenewal, TokenCache};
use crate::output::emit;
use anyhow::Context;
use jitgate_oidc::flows::{PublicClient, Tokens};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// How long the browser may take to come back with a code.
const BROWSER_WAIT: Duration = Duration::from_secs(300);
/// A cached token this close to its end is renewed before use.
const RENEW_MARGIN: Duration = Duration::from_secs(30);

/// How the user proves who they are to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A code to enter on any device with a browser (RFC 8628).
    Device,
    /// A browser on this machine comes back to a loopback port (PKCE, RFC 7636 and 8252).
    Browser,
}

impl Flow {
    /// What the user asked for; otherwise the browser in a graphical session, else the device
    /// flow (which works over SSH too).
    pub fn choose(device: bool, browser: bool) -> Flow {
        let graphical =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        match (device, browser) {
            (true, _) => Flow::Device,
            (_, true) => Flow::Browser,
            _ if graphical => Flow::Browser,
            _ => Flow::Device,
        }
    }
}

#[derive(Deserialize)]
struct ProviderInfo {
    name: String,
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    /// Only for installed-application clients whose provider wants it (Google).
    #[serde(default)]
    client_secret: Option<String>,
}

pub fn login(server: &str, provider: &str, flow: Flow, as_json: bool) -> anyhow::Result<()> {
    let client = Client::anonymous(server);
    let idp = public_client(&client, provider)?;
    let (tokens, nonce) = match flow {
        Flow::Device => {
            let device = idp.start_device()?;
            eprintln!(
                "To log in, open {} and enter the code {}",
                device.verification_uri, device.user_code
            );
            if let Some(complete) = &device.verification_uri_complete {
                eprintln!("(or open {complete})");
            }
            eprintln!("Waiting for you to approve …");
            (idp.poll_device(&device)?, None)
        }
        Flow::Browser => {
            let code = idp.start_code()?;
            eprintln!("Log in with your browser at:\n  {}", code.url);
            open_browser(&code.url);
            let nonce = code.nonce.clone();
            (idp.finish_code(code, BROWSER_WAIT)?, Some(nonce))
        }
    };
    let (cached, answer) = exchange(&client, provider, &tokens, nonce.as_deref())?;
    TokenCache::open()?.put(client.server(), cached)?;
    emit(as_json, &answer.summary(client.server()), |_| {
        format!(
            "logged in to {} as {} through {provider} (groups: {}; roles: {}) until {}",
            client.server(),
            answer.subject,
            answer.groups.join(", "),
            answer.roles_shown(),
            answer.expires_at
        )
    });
    Ok(())
}

/// The provider as the server describes it, discovered.
fn public_client(client: &Client, provider: &str) -> anyhow::Result<PublicClient> {
    #[derive(Deserialize)]
    struct Providers {
        providers: Vec<ProviderInfo>,
    }
    let list: Providers = client.get("/oidc/providers")?;
    let names: Vec<&str> = list.providers.iter().map(|p| p.name.as_str()).collect();
    let names = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    let info = list
        .providers
        .iter()
        .find(|p| p.name == provider)
        .ok_or_else(|| {
            Failure::new(
                "not_found",
                format!(
                    "{} has no provider {provider} (it has: {names})",
                    client.server()
                ),
            )
        })?;
    let metadata = jitgate_oidc::discover(&info.issuer)
        .with_context(|| format!("discovering {} at {}", info.name, info.issuer))?;
    Ok(PublicClient::new(metadata, &info.client_id, &info.scopes)
        .with_secret(info.client_secret.clone()))
}

/// Trades the provider's ID token for a jitgate token.
fn exchange(
    client: &Client,
    provider: &str,
    tokens: &Tokens,
    nonce: Option<&str>,
) -> anyhow::Result<(CachedToken, LoginAnswer)> {
    let id_token = tokens.id_token.as_deref().ok_or_else(|| {
        Failure::new(
            "bad_response",
            "the provider answered without an ID token; is \"openid\" among the scopes?",
        )
    })?;
    let answer: LoginAnswer = client.post(
        "/login/oidc",
        &json!({"provider": provider, "id_token": id_token, "nonce": nonce,
                "refresh_token": tokens.refresh_token}),
    )?;
    Ok((cached(provider, &answer), answer))
}

fn cached(provider: &str, answer: &LoginAnswer) -> CachedToken {
    CachedToken {
        token: answer.token.clone(),
        subject: answer.subject.clone(),
        expires_at: answer.expires_at.clone(),
        oidc: answer.renewal_token.as_ref().map(|r| OidcRenewal {
            provider: provider.to_owned(),
            renewal_token: r.clone(),
        }),
    }
}

/// Whether a cached token has run out (or nearly).
pub fn needs_renewal(cached: &CachedToken) -> bool {
    match humantime::parse_rfc3339(&cached.expires_at) {
        Ok(end) => SystemTime::now() + RENEW_MARGIN >= end,
        // Unreadable: let the server decide.
        Err(_) => false,
    }
}

/// A fresh jitgate token for an OIDC login whose token ran out: the server refreshes with the
/// provider (so it sees the groups of now) and answers with a new one.
pub fn renew(server: &str, cached_token: &CachedToken) -> anyhow::Result<CachedToken> {
    let renewal = cached_token
        .oidc
        .as_ref()
        .context("this login cannot be renewed")?;
    let client = Client::anonymous(server);
    let answer: LoginAnswer = client
        .post(
            "/login/oidc/renew",
            &json!({ "renewal_token": renewal.renewal_token }),
        )
        .with_context(|| {
            format!(
                "your login through {0} has ended; run `jitgate login --oidc {0}`",
                renewal.provider
            )
        })?;
    let fresh = cached(&renewal.provider, &answer);
    TokenCache::open()?.put(client.server(), fresh.clone())?;
    Ok(fresh)
}

/// Opens the URL in the desktop's browser if there is an opener; the URL is printed anyway.
fn open_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("(open it yourself: no browser opener found)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(expires_at: SystemTime) -> CachedToken {
        CachedToken {
            token: "jgt_x".into(),
            subject: "carol".into(),
            expires_at: humantime::format_rfc3339_millis(expires_at).to_string(),
            oidc: None,
        }
    }

    #[test]
    fn tokens_are_renewed_shortly_before_they_run_out() {
        let now = SystemTime::now();
        assert!(!needs_renewal(&cached(now + Duration::from_secs(600))));
        assert!(needs_renewal(&cached(now + Duration::from_secs(10))));
        assert!(needs_renewal(&cached(now - Duration::from_secs(10))));
        let mut garbled = cached(now);
        garbled.expires_at = "soon".into();
        assert!(!needs_renewal(&garbled), "the server decides then");
    }

    #[test]
    fn an_explicit_flow_wins() {
        assert_eq!(Flow::choose(true, false), Flow::Device);
        assert_eq!(Flow::choose(false, true), Flow::Browser);
    }
}
