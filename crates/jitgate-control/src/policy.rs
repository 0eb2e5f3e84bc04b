//! What the control plane needs from the configuration: resources, roles, access rules and
//! lifetimes (the [`Policy`]), plus identity, webhooks, alerts and the clock
//! ([`ControlSettings`]).

use crate::clock::Clock;
use crate::identity::{IdentityProvider, LocalUsers, Role, Subject};
use crate::webhook::RetryPolicy;
use jitgate_config::{AccessRule, AlertRule, Config, Roles, Upstream, Webhook};
use std::sync::Arc;
use std::time::Duration;

/// Who may request what, who decides, and how long things live.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Names of the configured resources.
    pub resources: Vec<String>,
    pub roles: Roles,
    /// In file order: the first rule matching resource and requester applies.
    pub rules: Vec<AccessRule>,
    pub token_ttl: Duration,
    pub pending_ttl: Duration,
    /// Groups that exempt from masking somewhere (`clear_groups`, `group:` in `clear_for`):
    /// losing one of them cuts a subject's live sessions, which may be running in clear.
    pub exemption_groups: Vec<String>,
    /// MySQL resources whose clients may log in with `mysql_native_password` (`native_password
    /// = true`): their credentials keep the hash that needs.
    pub native_password_resources: Vec<String>,
}

impl Default for Policy {
    /// No resources and no rules: only admin commands grant access.
    fn default() -> Self {
        Policy {
            resources: Vec::new(),
            roles: Roles::default(),
            rules: Vec::new(),
            token_ttl: Duration::from_secs(12 * 3600),
            pending_ttl: Duration::from_secs(3600),
            exemption_groups: Vec::new(),
            native_password_resources: Vec::new(),
        }
    }
}

impl Policy {
    pub fn from_config(config: &Config) -> Policy {
        Policy {
            resources: config.resources.iter().map(|r| r.name.clone()).collect(),
            roles: config.roles.clone(),
            rules: config.access.clone(),
            token_ttl: config.api.token_ttl,
            pending_ttl: config.api.pending_ttl,
            exemption_groups: exemption_groups(config),
            native_password_resources: config
                .resources
                .iter()
                .filter(|r| matches!(&r.upstream, Upstream::MySql(m) if m.native_password))
                .map(|r| r.name.clone())
                .collect(),
        }
    }

    /// Whether credentials for `resource` keep a `mysql_native_password` hash.
    pub fn native_password(&self, resource: &str) -> bool {
        self.native_password_resources.iter().any(|r| r == resource)
    }

    pub fn has_resource(&self, name: &str) -> bool {
        self.resources.iter().any(|r| r == name)
    }

    /// The rule that applies to this subject asking for this resource.
    pub fn rule_for(
        &self,
        subject: &str,
        groups: &[String],
        resource: &str,
    ) -> Option<&AccessRule> {
        self.rules
            .iter()
            .find(|rule| rule.matches(subject, groups, resource))
    }

    pub fn is_admin(&self, actor: &Subject) -> bool {
        actor.has_role(&self.roles, Role::Admin)
    }

    /// Whether `actor` may vote on requests under `rule` (never on their own: checked apart).
    pub fn may_approve(&self, actor: &Subject, rule: &AccessRule) -> bool {
        self.is_admin(actor) || actor.in_any(&rule.approver_groups)
    }

    /// Whether `actor` watches over `resource`: sees its grants and sessions, revokes and kills.
    /// Admins, the approver role, and the approvers named by any rule on the resource do.
    pub fn oversees(&self, actor: &Subject, resource: &str) -> bool {
        self.is_admin(actor)
            || actor.has_role(&self.roles, Role::Approver)
            || self
                .rules
                .iter()
                .any(|rule| rule.covers_resource(resource) && actor.in_any(&rule.approver_groups))
    }

    /// Whether `actor` oversees anything at all: decides whether listings look beyond their own.
    pub fn oversees_any(&self, actor: &Subject) -> bool {
        self.is_admin(actor)
            || actor.has_role(&self.roles, Role::Approver)
            || self
                .rules
                .iter()
                .any(|rule| actor.in_any(&rule.approver_groups))
    }
}

/// Every group that gives clear values of some column, or of everything.
fn exemption_groups(config: &Config) -> Vec<String> {
    let masking = &config.masking;
    let mut groups: Vec<String> = masking.clear_groups().to_vec();
    for rule in masking.rules() {
        for principal in &rule.clear_for {
            // Principals print as `user:NAME` or `group:NAME`.
            if let Some(group) = principal.to_string().strip_prefix("group:") {
                groups.push(group.to_owned());
            }
        }
    }
    groups.sort();
    groups.dedup();
    groups
}

/// Everything a control plane is started with besides its store.
#[derive(Clone)]
pub struct ControlSettings {
    pub policy: Policy,
    pub identity: Arc<dyn IdentityProvider>,
    pub webhooks: Vec<Webhook>,
    pub webhook_retry: RetryPolicy,
    pub alerts: Vec<AlertRule>,
    pub clock: Clock,
    /// This gateway's name among the replicas sharing the store.
    pub replica: String,
    /// How long sessions go on while the store cannot be reached.
    pub store_grace: std::time::Duration,
}

impl Default for ControlSettings {
    /// No policy, no users, no webhooks, no alerts, the system clock: what admin commands and
    /// tests of the core need.
    fn default() -> Self {
        ControlSettings {
            policy: Policy::default(),
            identity: Arc::new(LocalUsers::new(&[])),
            webhooks: Vec::new(),
            webhook_retry: RetryPolicy::default(),
            alerts: Vec::new(),
            clock: Clock::system(),
            replica: "main".to_owned(),
            store_grace: std::time::Duration::from_secs(30),
        }
    }
}

impl ControlSettings {
    /// The settings a configuration file describes, with its local users as identity provider.
    pub fn from_config(config: &Config) -> ControlSettings {
        ControlSettings {
            policy: Policy::from_config(config),
            identity: Arc::new(LocalUsers::new(&config.users)),
            webhooks: config.webhooks.clone(),
            webhook_retry: RetryPolicy::default(),
            alerts: config.alerts.clone(),
            clock: Clock::system(),
            replica: config.server.replica.clone(),
            store_grace: config.server.store_grace,
        }
    }
}
