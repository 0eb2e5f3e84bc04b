//! Who is asking: subjects with groups, the roles groups confer, and identity providers that
//! turn a user name and password into a subject. Local users (argon2 hashes from the
//! configuration) are the embedded provider; subjects from OpenID Connect providers are vouched
//! for by a validated token instead (`lifecycle::external`) and looked up with the groups it
//! proved (the control plane's directory).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use jitgate_config::{LocalUser, Roles};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// An authenticated person or service, with the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub name: String,
    pub groups: Vec<String>,
}

/// What a subject may do beyond requesting access (which everyone may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Approver,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl Subject {
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Subject {
        Subject {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// Whether the subject belongs to any of `groups`.
    pub fn in_any(&self, groups: &[String]) -> bool {
        self.groups.iter().any(|g| groups.contains(g))
    }

    /// Every role the subject holds under `[roles]`; always includes `Requester`.
    pub fn roles(&self, config: &Roles) -> Vec<Role> {
        let mut roles = vec![Role::Requester];
        if self.in_any(&config.approver) {
            roles.push(Role::Approver);
        }
        if self.in_any(&config.admin) {
            roles.push(Role::Admin);
        }
        roles
    }

    pub fn has_role(&self, config: &Roles, role: Role) -> bool {
        match role {
            Role::Requester => true,
            Role::Approver => self.in_any(&config.approver),
            Role::Admin => self.in_any(&config.admin),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Unknown user or wrong password: deliberately the same answer for both.
    #[error("invalid user name or password")]
    InvalidCredentials,
    /// The provider could not answer (e.g. an identity service is down).
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// Turns credentials into subjects. Implementations must take about as long for an unknown user
/// as for a wrong password, so that timing does not reveal which user names exist.
pub trait IdentityProvider: Send + Sync {
    fn authenticate(&self, user: &str, password: &str) -> Result<Subject, IdentityError>;
    /// The subject named `user` as the provider knows it now, without a password.
    fn lookup(&self, user: &str) -> Option<Subject>;
}

/// The `[users.NAME]` of the configuration.
pub struct LocalUsers {
    users: HashMap<String, (String, Vec<String>)>,
    /// Cost parameters of the configured hashes (argon2's defaults if none).
    params: Params,
    /// A hash with the same cost as the real ones, verified for unknown users. Made at the first
    /// such login rather than at start, so that commands that never log anyone in do not pay.
    dummy_hash: OnceLock<String>,
}

impl LocalUsers {
    pub fn new(users: &[LocalUser]) -> LocalUsers {
        let users: HashMap<_, _> = users
            .iter()
            .map(|u| {
                let hash = u.password_hash.expose().to_owned();
                (u.name.clone(), (hash, u.groups.clone()))
            })
            .collect();
        // Same parameters as a configured hash, so an unknown user costs what a known one does.
        let params = users
            .values()
            .find_map(|(hash, _)| {
                PasswordHash::new(hash)
                    .ok()
                    .and_then(|h| Params::try_from(&h).ok())
            })
            .unwrap_or_default();
        LocalUsers {
            users,
            params,
            dummy_hash: OnceLock::new(),
        }
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash
            .get_or_init(|| dummy_hash(self.params.clone()))
    }
}

fn dummy_hash(params: Params) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    SaltString::encode_b64(&salt_bytes)
        .ok()
        .and_then(|salt| {
            argon
                .hash_password(&rand::random::<[u8; 16]>(), &salt)
                .ok()
                .map(|h| h.to_string())
        })
        // Unreachable with valid parameters; an empty hash then simply never verifies.
        .unwrap_or_default()
}

fn verify(hash: &str, password: &str) -> bool {
    // The hash carries its own algorithm and parameters; `Argon2::default` only supplies code.
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl IdentityProvider for LocalUsers {
    fn authenticate(&self, user: &str, password: &str) -> Result<Subject, IdentityError> {
        match self.users.get(user) {
            Some((hash, groups)) if verify(hash, password) => Ok(Subject {
                name: user.to_owned(),
                groups: groups.clone(),
            }),
            Some(_) => Err(IdentityError::InvalidCredentials),
            None => {
                let _ = verify(self.dummy_hash(), password);
                Err(IdentityError::InvalidCredentials)
            }
        }
    }

    fn lookup(&self, user: &str) -> Option<Subject> {
        self.users.get(user).map(|(_, groups)| Subject {
            name: user.to_owned(),
            groups: groups.clone(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jitgate_config::Secret;

    /// A cheap argon2id hash: tests need not pay the production cost.
    pub(crate) fn cheap_hash(password: &str) -> String {
        let params = Params::new(8, 1, 1, None).expect("parameters");
        let salt = SaltString::encode_b64(b"fixed-test-salt!").expect("salt");
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .expect("hash")
            .to_string()
    }

    pub(crate) fn local_user(name: &str, password: &str, groups: &[&str]) -> LocalUser {
        LocalUser {
            name: name.into(),
            password_hash: Secret::new(cheap_hash(password), "test"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn local_users_authenticate_with_their_password_only() {
        let users = LocalUsers::new(&[local_user("alice", "right", &["analysts"])]);
        assert_eq!(
            users.authenticate("alice", "right"),
            Ok(Subject::new("alice", &["analysts"]))
        );
        assert_eq!(
            users.authenticate("alice", "wrong"),
            Err(IdentityError::InvalidCredentials)
        );
        assert_eq!(
            users.authenticate("mallory", "right"),
            Err(IdentityError::InvalidCredentials)
        );
        assert_eq!(
            users.lookup("alice").map(|s| s.groups),
            Some(vec!["analysts".into()])
        );
        assert_eq!(users.lookup("mallory"), None);
    }

    #[test]
    fn unknown_users_are_checked_against_a_hash_of_the_same_cost() {
        let users = LocalUsers::new(&[local_user("alice", "right", &[])]);
        let dummy = PasswordHash::new(users.dummy_hash()).expect("dummy is a PHC string");
        let real = PasswordHash::new(&users.users["alice"].0).expect("PHC");
        assert_eq!(Params::try_from(&dummy).ok(), Params::try_from(&real).ok());
    }

    #[test]
    fn roles_come_from_groups() {
        let roles = Roles {
            approver: vec!["dba".into()],
            admin: vec!["admins".into()],
        };
        let dana = Subject::new("dana", &["dba"]);
        assert_eq!(dana.roles(&roles), [Role::Requester, Role::Approver]);
        assert!(dana.has_role(&roles, Role::Approver) && !dana.has_role(&roles, Role::Admin));
        let root = Subject::new("root", &["admins", "dba"]);
        assert_eq!(
            root.roles(&roles),
            [Role::Requester, Role::Approver, Role::Admin]
        );
        let alice = Subject::new("alice", &[]);
        assert_eq!(alice.roles(&roles), [Role::Requester]);
        assert!(alice.has_role(&roles, Role::Requester));
    }
}
