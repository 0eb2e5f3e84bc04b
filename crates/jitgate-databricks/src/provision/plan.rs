//! What grants mean in a workspace, and the steps that bring the workspace there. Pure.
//!
//! An [`Entitlement`] is one thing a grant holds in the workspace: a membership of a group or one
//! privilege on a securable, of one principal. The plan compares three sets: what live grants
//! want, what the ledger says jitgate made, and what the workspace has on the governed groups
//! and securables (those named by a provision rule).

use std::collections::{BTreeMap, BTreeSet};

use jitgate_config::{ForeignPolicy, ProvisionRule};

/// Where an entitlement lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// Membership of the group with this display name.
    Member { group: String },
    /// One privilege on a Unity Catalog securable.
    Privilege {
        securable_type: String,
        full_name: String,
        privilege: String,
    },
}

impl Target {
    /// The ledger's key: `member:GROUP` or `privilege:TYPE:PRIVILEGE:FULL_NAME`.
    pub fn key(&self) -> String {
        match self {
            Target::Member { group } => format!("member:{group}"),
            Target::Privilege {
                securable_type,
                full_name,
                privilege,
            } => format!("privilege:{securable_type}:{privilege}:{full_name}"),
        }
    }

    /// The target a ledger key names.
    pub fn from_key(key: &str) -> Option<Target> {
        if let Some(group) = key.strip_prefix("member:") {
            return Some(Target::Member {
                group: group.to_string(),
            });
        }
        let mut parts = key.strip_prefix("privilege:")?.splitn(3, ':');
        Some(Target::Privilege {
            securable_type: parts.next()?.to_string(),
            privilege: parts.next()?.to_string(),
            full_name: parts.next()?.to_string(),
        })
    }
}

/// One principal's membership or privilege. The principal is the SCIM user id for memberships
/// and the userName for privileges (as each API names principals).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entitlement {
    pub target: Target,
    pub principal: String,
}

/// A workspace user, as the SCIM API knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceUser {
    pub id: String,
    pub user_name: String,
}

/// The first rule for a subject with these groups, as access rules match.
pub fn rule_for<'a>(
    rules: &'a [ProvisionRule],
    subject: &str,
    groups: &[String],
) -> Option<&'a ProvisionRule> {
    rules
        .iter()
        .find(|r| r.requesters.iter().any(|q| q.admits(subject, groups)))
}

/// What a grant under `rule` holds for `user`.
pub fn entitlements(rule: &ProvisionRule, user: &WorkspaceUser) -> Vec<Entitlement> {
    let mut out = Vec::new();
    if let Some(group) = &rule.group {
        out.push(Entitlement {
            target: Target::Member {
                group: group.clone(),
            },
            principal: user.id.clone(),
        });
    }
    for p in &rule.privileges {
        for privilege in &p.privileges {
            out.push(Entitlement {
                target: Target::Privilege {
                    securable_type: p.securable_type.clone(),
                    full_name: p.full_name.clone(),
                    privilege: privilege.clone(),
                },
                principal: user.user_name.clone(),
            });
        }
    }
    out
}

/// Every governed target with what to do about foreign entitlements on it (`remove` wins when
/// two rules name the same target).
pub fn governed(rules: &[ProvisionRule]) -> BTreeMap<Target, ForeignPolicy> {
    let mut out = BTreeMap::new();
    let probe = WorkspaceUser {
        id: String::new(),
        user_name: String::new(),
    };
    for rule in rules {
        for e in entitlements(rule, &probe) {
            let policy = out.entry(e.target).or_insert(rule.foreign);
            if rule.foreign == ForeignPolicy::Remove {
                *policy = ForeignPolicy::Remove;
            }
        }
    }
    out
}

/// Why an entitlement is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveWhy {
    /// jitgate made it and no live grant wants it any more.
    Outlived,
    /// jitgate did not make it, and the rule says foreign ones go.
    Foreign,
}

/// One step of a reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make it (live grants want it and the workspace lacks it, or the ledger does not own it).
    Add(Entitlement),
    Remove(Entitlement, RemoveWhy),
    /// jitgate did not make it and leaves it: an alert.
    Alert(Entitlement),
    /// The ledger owns it but it is already gone: drop the ledger's row.
    Forget(Entitlement),
}

/// The steps from the workspace's state to the grants' wanted one. `actual` holds what the
/// workspace has on governed targets only.
pub fn plan(
    wanted: &BTreeSet<Entitlement>,
    ledger: &BTreeSet<Entitlement>,
    actual: &BTreeSet<Entitlement>,
    governed: &BTreeMap<Target, ForeignPolicy>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for e in wanted {
        // Owned and present: nothing to do. Present but not owned: adding (idempotent) makes
        // it jitgate's, so that it goes when the grant ends.
        if !(ledger.contains(e) && actual.contains(e)) {
            steps.push(Step::Add(e.clone()));
        }
    }
    for e in ledger.difference(wanted) {
        steps.push(if actual.contains(e) {
            Step::Remove(e.clone(), RemoveWhy::Outlived)
        } else {
            Step::Forget(e.clone())
        });
    }
    for e in actual {
        if wanted.contains(e) || ledger.contains(e) {
            continue;
        }
        match governed.get(&e.target) {
            Some(ForeignPolicy::Remove) => steps.push(Step::Remove(e.clone(), RemoveWhy::Foreign)),
            Some(ForeignPolicy::Alert) => steps.push(Step::Alert(e.clone())),
            None => {}
        }
    }
    steps
}

#[cfg(test)]
mod tests;
