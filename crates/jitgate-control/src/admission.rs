//! Admission: whether a client presenting a jitgate credential may start a session on a
//! resource now. One home for every protocol front, so that a new front is mostly its protocol.
//!
//! A front names the login ([`ControlPlane::begin_login`]), proves the secret its own way
//! against the [`LoginAttempt`]'s verifier (a SCRAM exchange, [`LoginAttempt::check_password`]
//! for a secret given in clear, or [`LoginAttempt::check_native_password`] for a MySQL
//! client's `mysql_native_password` response), and hands the outcome to [`LoginAttempt::finish`], which checks
//! the grant, audits every refusal as `login.failed`, and says what the client may be told.
//! Unknown logins get a verifier nothing matches, so they take the same path and time as a wrong
//! secret and look the same to the client; only the audit trail tells them apart.

use crate::audit::{kind, AuditEvent};
use crate::control::{ControlError, ControlPlane};
use crate::model::{Credential, Grant, GrantEnd};
use crate::native_password::NativePasswordHash;
use crate::scram::ScramVerifier;
use jitgate_masking::{MaskingPolicy, SubjectView};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The wire protocol a client logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Postgres,
    SparkConnect,
    /// HiveServer2 TCLIService over HTTP (Databricks SQL warehouses).
    DatabricksSql,
    MySql,
}

impl Protocol {
    /// The name in audit events (`protocol`), as in the configuration's resource kinds.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::SparkConnect => "spark-connect",
            Protocol::DatabricksSql => "databricks-sql",
            Protocol::MySql => "mysql",
        }
    }
}

/// Who is logging in, to what, from where.
#[derive(Debug, Clone, Copy)]
pub struct LoginContext<'a> {
    pub login: &'a str,
    pub resource: &'a str,
    pub peer: SocketAddr,
    pub protocol: Protocol,
}

/// What the front's authentication exchange established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The client proved the secret of the credential the login names.
    Verified,
    /// The secret or proof was wrong (or the login unknown).
    Failed,
    /// The exchange broke off in a way the protocol does not allow; what went wrong.
    ProtocolError(String),
}

/// A subject admitted to a resource under a live grant.
#[derive(Debug, Clone)]
pub struct Admission {
    pub subject: String,
    pub grant: Grant,
    pub credential_id: String,
}

/// Why a proven credential does not admit its holder now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionRefusal {
    #[error("access grant expired")]
    Expired,
    #[error("access grant revoked")]
    Revoked,
    #[error("credential is for resource \"{0}\"")]
    OtherResource(String),
    #[error("access grant not found")]
    NoGrant,
}

impl AdmissionRefusal {
    /// What to tell a client whose credential `login` was refused on `resource`, whatever the
    /// protocol.
    fn client_message(&self, login: &str, resource: &str) -> String {
        match self {
            AdmissionRefusal::OtherResource(r) => {
                format!("credential \"{login}\" is for resource \"{r}\", not \"{resource}\"")
            }
            other => format!("{other}: credential \"{login}\" no longer admits you"),
        }
    }
}

/// Why a login was refused: the credential (unknown login or wrong secret, which the client
/// cannot tell apart), the grant behind a proven credential, or the exchange itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("{}", if *.unknown_login { "unknown login" } else { "wrong secret" })]
    Credential {
        login: String,
        resource: String,
        protocol: Protocol,
        /// No credential has this login (the audit says so; the client is not told).
        unknown_login: bool,
    },
    #[error("{refusal}")]
    Grant {
        login: String,
        resource: String,
        refusal: AdmissionRefusal,
    },
    #[error("authentication protocol error: {0}")]
    Protocol(String),
}

impl LoginRefused {
    /// Why, for the audit trail and the log.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The reason as a metric label: one of a few fixed words (never a login name).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            LoginRefused::Credential { .. } => "bad_credential",
            LoginRefused::Grant { refusal, .. } => match refusal {
                AdmissionRefusal::Expired => "grant_expired",
                AdmissionRefusal::Revoked => "grant_revoked",
                AdmissionRefusal::OtherResource(_) => "other_resource",
                AdmissionRefusal::NoGrant => "no_grant",
            },
            LoginRefused::Protocol(_) => "protocol",
        }
    }

    /// What the client is told.
    pub fn client_message(&self) -> String {
        match self {
            LoginRefused::Credential {
                login,
                resource,
                protocol: Protocol::SparkConnect,
                ..
            } => format!(
                "credential \"{login}\" is not valid: use the token `jitgate connect {resource} --uri` prints"
            ),
            // MySQL's own words, which drivers and people recognise.
            LoginRefused::Credential {
                login,
                protocol: Protocol::MySql,
                ..
            } => format!("Access denied for user '{login}' (using password: YES)"),
            // PostgreSQL's own words, which drivers and people recognise.
            LoginRefused::Credential { login, .. } => {
                format!("password authentication failed for user \"{login}\"")
            }
            LoginRefused::Grant {
                login,
                resource,
                refusal,
            } => refusal.client_message(login, resource),
            LoginRefused::Protocol(why) => why.clone(),
        }
    }

    /// True when the credential itself was refused (unknown or wrong), false when the grant
    /// behind it or the exchange was.
    pub fn is_credential(&self) -> bool {
        matches!(self, LoginRefused::Credential { .. })
    }
}

/// A login under way: the credential its login names (if any) and the verifier to prove the
/// secret against. Owned, so that a key derivation can run on a blocking thread.
pub struct LoginAttempt {
    control: Arc<ControlPlane>,
    login: String,
    resource: String,
    peer: SocketAddr,
    protocol: Protocol,
    credential: Option<Credential>,
    verifier: ScramVerifier,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("login", &self.login)
            .field("resource", &self.resource)
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl LoginAttempt {
    /// What the secret is proven against: the credential's verifier, or one nothing matches for
    /// an unknown login.
    pub fn verifier(&self) -> &ScramVerifier {
        &self.verifier
    }

    /// Checks a secret given in clear: a key derivation of thousands of rounds, so callers run
    /// it off the threads that relay traffic. An empty secret never matches.
    pub fn check_password(&self, secret: &str) -> bool {
        !secret.is_empty() && self.verifier.verify_password(secret)
    }

    /// Checks a `mysql_native_password` response to `scramble` against the credential's hash
    /// (two SHA-1s, in constant time). An unknown login, or a credential without a hash (issued
    /// before its resource accepted `mysql_native_password`), is checked against a hash nothing
    /// matches: the same path and answer as a wrong secret.
    pub fn check_native_password(&self, scramble: &[u8], response: &[u8]) -> bool {
        let hash = self
            .credential
            .as_ref()
            .and_then(|c| c.native_password.clone());
        if let (Some(c), None) = (&self.credential, &hash) {
            tracing::info!(
                credential = %c.id,
                resource = %c.resource,
                "mysql_native_password login with a credential that has no native hash (issued \
                 before native_password was set, or for another resource); a new one has it"
            );
        }
        hash.unwrap_or_else(NativePasswordHash::unmatchable)
            .verify(scramble, response)
    }

    /// Ends the login: with a proven credential, admits its holder if the grant is live now.
    /// Every refusal is audited (`login.failed`, with the login, client address, reason and
    /// protocol).
    pub fn finish(self, proof: Proof) -> Result<Admission, LoginRefused> {
        let outcome = self.judge(proof);
        if let Err(refused) = &outcome {
            self.audit_refusal(refused);
        }
        outcome
    }

    fn judge(&self, proof: Proof) -> Result<Admission, LoginRefused> {
        let credential = match (proof, &self.credential) {
            (Proof::ProtocolError(why), _) => return Err(LoginRefused::Protocol(why)),
            (Proof::Verified, Some(credential)) => credential,
            (Proof::Failed, found) | (Proof::Verified, found @ None) => {
                return Err(LoginRefused::Credential {
                    login: self.login.clone(),
                    resource: self.resource.clone(),
                    protocol: self.protocol,
                    unknown_login: found.is_none(),
                })
            }
        };
        self.control
            .admit(credential, &self.resource)
            .map_err(|refusal| LoginRefused::Grant {
                login: self.login.clone(),
                resource: self.resource.clone(),
                refusal,
            })
    }

    fn audit_refusal(&self, refused: &LoginRefused) {
        self.control.metrics.login_failed(refused.metric_reason());
        self.control.audit(
            AuditEvent::new(
                kind::LOGIN_FAILED,
                json!({"login": audited_login(&self.login, self.credential.is_some()),
                       "client_addr": self.peer.to_string(),
                       "reason": refused.reason(), "protocol": self.protocol.as_str()}),
            )
            .resource(&self.resource),
        );
    }
}

/// The login a refusal's audit record names. A known login as it is; an unknown one as sent,
/// unless it holds a run of characters as long as a secret (a client that sent its whole
/// credential, or more, where the login goes): then only a digest, so no secret reaches the
/// trail.
fn audited_login(login: &str, known: bool) -> String {
    if known || longest_secret_like_run(login) < SECRET_LIKE_RUN {
        return login.to_owned();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(login.as_bytes());
    format!("(unrecognised, sha256:{})", crate::audit::hex(&digest[..8]))
}

/// A run this long of the secrets' alphabet is treated as a possible secret (secrets are 32).
const SECRET_LIKE_RUN: usize = 20;

fn longest_secret_like_run(text: &str) -> usize {
    let secret_char = |c: char| c.is_ascii() && crate::model::TOKEN_ALPHABET.contains(&(c as u8));
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if secret_char(c) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// What an admitted subject sees of the resource: the masking view for their groups now (not at
/// request time: a subject removed from a group loses the exemptions it gave at the next login),
/// and those groups, which identify the view.
#[derive(Debug, Clone)]
pub struct AdmittedView {
    pub view: SubjectView,
    pub groups: Vec<String>,
}

impl ControlPlane {
    /// The masking view of `admission`'s subject on its resource under `masking`, for every
    /// front alike.
    pub fn admitted_view(&self, admission: &Admission, masking: &MaskingPolicy) -> AdmittedView {
        let groups = self
            .identity()
            .lookup(&admission.subject)
            .map(|s| s.groups)
            .unwrap_or_default();
        let view = masking.view_for(&admission.grant.resource, &admission.subject, &groups);
        AdmittedView { view, groups }
    }

    /// Starts a login: looks up the credential the login names. Fails only when the store
    /// cannot be read.
    pub fn begin_login(
        self: &Arc<Self>,
        context: LoginContext<'_>,
    ) -> Result<LoginAttempt, ControlError> {
        let credential = self.find_credential(context.login)?;
        let verifier = credential
            .as_ref()
            .map(|c| c.verifier.clone())
            .unwrap_or_else(|| ScramVerifier::unmatchable(context.login));
        Ok(LoginAttempt {
            control: self.clone(),
            login: context.login.to_owned(),
            resource: context.resource.to_owned(),
            peer: context.peer,
            protocol: context.protocol,
            credential,
            verifier,
        })
    }

    /// The credential a client names by its login, if any.
    pub(crate) fn find_credential(&self, login: &str) -> Result<Option<Credential>, ControlError> {
        Ok(self.store.credential_by_login(login)?)
    }

    /// Whether a credential (already proven by its holder) admits them to `resource` now.
    /// Reads the store, so an end made by another process is seen.
    pub(crate) fn admit(
        &self,
        credential: &Credential,
        resource: &str,
    ) -> Result<Admission, AdmissionRefusal> {
        if credential.resource != resource {
            return Err(AdmissionRefusal::OtherResource(credential.resource.clone()));
        }
        let grant = match self.store.grant(&credential.grant_id) {
            Ok(Some(g)) => g,
            Ok(None) => return Err(AdmissionRefusal::NoGrant),
            Err(e) => {
                // Fail closed: an unreadable store admits nobody.
                tracing::error!("admission: {e}");
                return Err(AdmissionRefusal::NoGrant);
            }
        };
        match grant.end_at(self.now()) {
            None => Ok(Admission {
                subject: grant.subject.clone(),
                credential_id: credential.id.clone(),
                grant,
            }),
            Some(GrantEnd::Expired) => Err(AdmissionRefusal::Expired),
            Some(GrantEnd::Revoked { .. }) => Err(AdmissionRefusal::Revoked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::time::Duration;

    const RESOURCE: &str = "prod-pg";

    fn control() -> Arc<ControlPlane> {
        ControlPlane::new(Arc::new(SqliteStore::in_memory().expect("store")))
    }

    fn context(login: &str, protocol: Protocol) -> LoginContext<'_> {
        LoginContext {
            login,
            resource: RESOURCE,
            peer: "192.0.2.7:50000".parse().expect("address"),
            protocol,
        }
    }

    /// A live credential of alice on `RESOURCE`: its login and secret.
    fn credential(control: &ControlPlane) -> (String, String, String) {
        let grant = control
            .issue_grant("alice", RESOURCE, Duration::from_secs(600), "dana")
            .expect("grant");
        let issued = control.issue_credential(&grant.id).expect("credential");
        (issued.credential.login, issued.secret, grant.id)
    }

    fn failed_logins(control: &ControlPlane) -> Vec<serde_json::Value> {
        control.flush();
        let events = control.audit_page(0, 100).expect("audit");
        events
            .iter()
            .filter(|e| e.event.kind == kind::LOGIN_FAILED)
            .map(|e| e.event.detail_value())
            .collect()
    }

    #[test]
    fn the_right_secret_admits_under_a_live_grant_and_audits_no_failure() {
        let control = control();
        let (login, secret, grant_id) = credential(&control);
        let attempt = control
            .begin_login(context(&login, Protocol::SparkConnect))
            .expect("begin");
        assert!(attempt.check_password(&secret));
        let admission = attempt.finish(Proof::Verified).expect("admitted");
        assert_eq!(admission.subject, "alice");
        assert_eq!(admission.grant.id, grant_id);
        assert!(failed_logins(&control).is_empty());
    }

    use crate::native_password::client_response as native_response;

    /// Credentials keep a `mysql_native_password` hash only for resources with
    /// `native_password = true`; there the right response admits, and a wrong one, an unknown
    /// login or a credential without a hash is refused as a wrong secret.
    #[test]
    fn native_password_hashes_are_kept_only_where_the_resource_accepts_them() {
        let scramble = b"01234567890123456789";
        let plain = control();
        let (login, secret, _) = credential(&plain);
        let stored = plain
            .find_credential(&login)
            .expect("store")
            .expect("found");
        assert!(stored.native_password.is_none());
        let attempt = plain
            .begin_login(context(&login, Protocol::MySql))
            .expect("begin");
        assert!(!attempt.check_native_password(scramble, &native_response(&secret, scramble)));

        let settings = crate::policy::ControlSettings {
            policy: crate::policy::Policy {
                native_password_resources: vec![RESOURCE.into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let native = ControlPlane::with_settings(
            Arc::new(SqliteStore::in_memory().expect("store")),
            settings,
        );
        let (login, secret, _) = credential(&native);
        let stored = native
            .find_credential(&login)
            .expect("store")
            .expect("found");
        assert!(stored.native_password.is_some());
        let attempt = native
            .begin_login(context(&login, Protocol::MySql))
            .expect("begin");
        assert!(attempt.check_native_password(scramble, &native_response(&secret, scramble)));
        assert!(!attempt.check_native_password(scramble, &native_response("guess", scramble)));
        assert!(!attempt
            .check_native_password(b"98765432109876543210", &native_response(&secret, scramble)));
        attempt.finish(Proof::Verified).expect("admitted");
        let unknown = native
            .begin_login(context("alice-nobody", Protocol::MySql))
            .expect("begin");
        assert!(!unknown.check_native_password(scramble, &native_response(&secret, scramble)));
    }

    #[test]
    fn unknown_logins_and_wrong_secrets_look_alike_to_the_client_but_not_in_the_audit() {
        let control = control();
        let (login, secret, _) = credential(&control);
        let mut told = Vec::new();
        for (who, tried) in [(login.as_str(), "guess"), ("alice-nobody", secret.as_str())] {
            let attempt = control
                .begin_login(context(who, Protocol::Postgres))
                .expect("begin");
            assert!(!attempt.check_password(tried));
            let refused = attempt.finish(Proof::Failed).expect_err("refused");
            assert!(refused.is_credential());
            told.push(refused.client_message().replace(who, "LOGIN"));
        }
        assert_eq!(told[0], told[1], "the client cannot tell which");
        let audited = failed_logins(&control);
        assert_eq!(audited.len(), 2);
        assert_eq!(audited[0]["reason"], "wrong secret");
        assert_eq!(audited[1]["reason"], "unknown login");
        for event in &audited {
            assert_eq!(event["client_addr"], "192.0.2.7:50000");
            assert_eq!(event["protocol"], "postgres");
        }
        assert_eq!(audited[1]["login"], "alice-nobody");
    }

    /// A client that puts its whole credential (and more) where the login goes — a token
    /// front splits `LOGIN.SECRET` at the last dot, so `LOGIN.SECRET.x` tries login
    /// `LOGIN.SECRET` — must not write its secret into the audit trail.
    #[test]
    fn a_secret_sent_as_part_of_an_unknown_login_is_not_audited() {
        let control = control();
        let (login, secret, _) = credential(&control);
        let tried = format!("{login}.{secret}");
        let attempt = control
            .begin_login(context(&tried, Protocol::DatabricksSql))
            .expect("begin");
        let refused = attempt.finish(Proof::Failed).expect_err("refused");
        assert!(refused.is_credential());
        let audited = failed_logins(&control);
        let recorded = audited[0]["login"].as_str().expect("login");
        assert!(!recorded.contains(&secret), "{recorded}");
        assert!(recorded.starts_with("(unrecognised, sha256:"), "{recorded}");
        assert_eq!(audited[0]["reason"], "unknown login");
    }

    #[test]
    fn a_proof_claimed_for_an_unknown_login_admits_nobody() {
        let control = control();
        let attempt = control
            .begin_login(context("mallory", Protocol::Postgres))
            .expect("begin");
        let refused = attempt.finish(Proof::Verified).expect_err("refused");
        assert!(refused.is_credential());
        assert_eq!(failed_logins(&control)[0]["reason"], "unknown login");
    }

    #[test]
    fn an_empty_secret_never_matches() {
        let control = control();
        let (login, _, _) = credential(&control);
        let attempt = control
            .begin_login(context(&login, Protocol::SparkConnect))
            .expect("begin");
        assert!(!attempt.check_password(""));
    }

    #[test]
    fn a_proven_credential_of_a_revoked_grant_is_refused_for_its_grant() {
        let control = control();
        let (login, _, grant_id) = credential(&control);
        control
            .end_grant(&grant_id, GrantEnd::Revoked { by: "dana".into() })
            .expect("revoke");
        let attempt = control
            .begin_login(context(&login, Protocol::SparkConnect))
            .expect("begin");
        let refused = attempt.finish(Proof::Verified).expect_err("refused");
        assert!(!refused.is_credential());
        assert_eq!(
            refused.client_message(),
            format!("access grant revoked: credential \"{login}\" no longer admits you")
        );
        let audited = failed_logins(&control);
        assert_eq!(audited[0]["reason"], "access grant revoked");
        assert_eq!(audited[0]["protocol"], "spark-connect");
    }

    #[test]
    fn a_credential_for_another_resource_says_which() {
        let control = control();
        let (login, _, _) = credential(&control);
        let attempt = control
            .begin_login(LoginContext {
                resource: "other-pg",
                ..context(&login, Protocol::Postgres)
            })
            .expect("begin");
        let refused = attempt.finish(Proof::Verified).expect_err("refused");
        assert_eq!(
            refused.client_message(),
            format!("credential \"{login}\" is for resource \"{RESOURCE}\", not \"other-pg\"")
        );
    }

    #[test]
    fn a_broken_exchange_is_audited_with_what_broke() {
        let control = control();
        let (login, _, _) = credential(&control);
        let attempt = control
            .begin_login(context(&login, Protocol::Postgres))
            .expect("begin");
        let refused = attempt
            .finish(Proof::ProtocolError("SASL response too long".into()))
            .expect_err("refused");
        assert_eq!(refused.client_message(), "SASL response too long");
        assert_eq!(
            failed_logins(&control)[0]["reason"],
            "authentication protocol error: SASL response too long"
        );
    }
}
