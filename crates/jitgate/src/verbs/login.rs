//! `jitgate login USER [--password-stdin]`.

use crate::client::{CachedToken, Client, Failure, TokenCache};
use crate::output::emit;
use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use std::io::BufRead;

/// What the server answers a login, by password or through a provider.
#[derive(Deserialize)]
pub(super) struct LoginAnswer {
    pub token: String,
    pub expires_at: String,
    pub subject: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Given by a provider login when the provider issued a refresh token.
    #[serde(default)]
    pub renewal_token: Option<String>,
}

impl LoginAnswer {
    /// What `--json` prints of a login: who and until when, never the token (it is kept in
    /// the private token cache, and standard output ends up in logs).
    pub fn summary(&self, server: &str) -> serde_json::Value {
        json!({
            "server": server,
            "subject": self.subject,
            "groups": self.groups,
            "roles": self.roles,
            "expires_at": self.expires_at,
        })
    }

    /// The roles as the CLI prints them.
    pub fn roles_shown(&self) -> String {
        if self.roles.is_empty() {
            "none".to_owned()
        } else {
            self.roles.join(", ")
        }
    }
}

pub fn login(server: &str, user: &str, password_stdin: bool, as_json: bool) -> anyhow::Result<()> {
    let password = if password_stdin {
        read_stdin_password()?
    } else {
        rpassword::prompt_password(format!("Password for {user}: "))
            .context("reading the password from the terminal (use --password-stdin in scripts)")?
    };
    let client = Client::anonymous(server);
    let answer: LoginAnswer =
        client.post("/login", &json!({"user": user, "password": password}))?;
    let mut cache = TokenCache::open()?;
    cache.put(
        client.server(),
        CachedToken {
            token: answer.token.clone(),
            subject: answer.subject.clone(),
            expires_at: answer.expires_at.clone(),
            oidc: None,
        },
    )?;
    emit(as_json, &answer.summary(client.server()), |_| {
        format!(
            "logged in to {} as {} (roles: {}) until {}",
            client.server(),
            answer.subject,
            answer.roles_shown(),
            answer.expires_at
        )
    });
    Ok(())
}

/// The first line of standard input, without its line ending; a password may contain spaces.
fn read_stdin_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure::new("invalid_input", "no password on standard input").into());
    }
    Ok(password)
}
