//! Who is who across identity sources: the configured provider (local users) first, then
//! subjects known from an OpenID Connect provider, with the groups their last validated token
//! proved. Protocol fronts ask this at every database login (masking exemptions), so an IdP
//! group change reaches new sessions as soon as jitgate has seen a token without the group.

use crate::identity::{IdentityError, IdentityProvider, Subject};
use crate::store::Store;
use std::sync::Arc;

pub(crate) struct Directory {
    local: Arc<dyn IdentityProvider>,
    store: Arc<dyn Store>,
}

impl Directory {
    pub fn new(local: Arc<dyn IdentityProvider>, store: Arc<dyn Store>) -> Directory {
        Directory { local, store }
    }

    /// Whether `name` is a user of the configured provider: an IdP must not log in as one.
    pub fn is_local(&self, name: &str) -> bool {
        self.local.lookup(name).is_some()
    }
}

impl IdentityProvider for Directory {
    fn authenticate(&self, user: &str, password: &str) -> Result<Subject, IdentityError> {
        // Subjects from an IdP have no password here; they log in through their provider.
        self.local.authenticate(user, password)
    }

    fn lookup(&self, user: &str) -> Option<Subject> {
        if let Some(subject) = self.local.lookup(user) {
            return Some(subject);
        }
        match self.store.external_subject(user) {
            Ok(found) => found.map(|s| Subject {
                name: s.name,
                groups: s.groups,
            }),
            Err(e) => {
                // Fail closed: without groups a subject has no exemption.
                tracing::error!("looking up subject {user}: {e}");
                None
            }
        }
    }
}
