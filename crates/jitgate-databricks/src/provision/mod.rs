//! Native provisioning: grants carried out in a Databricks workspace and undone when they end.
//!
//! A reconcile pass, per bound resource: the live grants on the resource and the first
//! provision rule of each subject give the wanted entitlements ([`plan::entitlements`]); the
//! workspace's governed groups and securables give the actual ones; the [`ledger::Ledger`]
//! says which of those jitgate made. [`plan::plan`] gives the steps; each change is written to
//! the ledger before it is made and audited with the API's answer after. A pass runs when a
//! grant starts or ends in this process ([`ControlPlane::grant_changes`]), when the set of live
//! grants in the store changes (ends made by other processes, expiry), and every
//! `reconcile_interval`. Because every pass starts from the workspace and the ledger, a
//! restart resumes where the last one stopped, and repeating a change is harmless.
//!
//! The ledger is in the control plane's store, so replicas sharing a PostgreSQL store share
//! it; the loop runs on one replica of a fleet at a time, the one holding the fleet-wide job
//! [`RECONCILE_JOB`] (claimed and renewed in the store, taken over when its holder stops
//! renewing). On-behalf-of tokens are in [`obo`]; [`gate`] refuses grants up front.

pub mod gate;
pub mod ledger;
mod obo;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jitgate_config::{DatabricksWorkspace, ForeignPolicy, Upstream};
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::ControlPlane;
use serde_json::json;

use crate::api::{ApiError, Workspace};
use ledger::{Ledger, LedgerError, RowState};
use plan::{Entitlement, RemoveWhy, Step, Target, WorkspaceUser};

/// How often the store is looked at for grants ended elsewhere or expired.
const STORE_POLL: Duration = Duration::from_secs(1);

/// The fleet-wide job of reconciling workspaces: one replica at a time holds it.
pub const RECONCILE_JOB: &str = "databricks.reconcile";
/// How long a claim of the job lasts unless renewed (it is renewed every poll and before every
/// change, so a replica that stops holds it this long at most).
const JOB_CLAIM: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("control plane store: {0}")]
    Store(String),
    /// Another process holds the fleet-wide reconcile job.
    #[error("another process reconciles the workspaces now (the fleet-wide job {RECONCILE_JOB} is held)")]
    NotHolder,
}

impl From<ApiError> for ProvisionError {
    fn from(e: ApiError) -> Self {
        ProvisionError::Api(Box::new(e))
    }
}

/// A resource whose grants are carried out in a workspace.
pub struct Binding {
    pub resource: String,
    pub config: DatabricksWorkspace,
    pub api: Workspace,
}

/// Every resource of the configuration with provision rules.
pub fn bindings(config: &jitgate_config::Config) -> Vec<Binding> {
    config
        .resources
        .iter()
        .filter_map(|r| match &r.upstream {
            Upstream::SparkConnect(sc) => sc.databricks.as_ref().map(|d| (r, d)),
            _ => None,
        })
        .filter(|(_, d)| !d.workspace.provision.is_empty())
        .map(|(r, d)| Binding {
            resource: r.name.clone(),
            config: (*d.workspace).clone(),
            api: Workspace::new(&d.workspace),
        })
        .collect()
}

/// What live grants want: each entitlement with its subject and grants.
type Wanted = BTreeMap<Entitlement, (String, Vec<String>)>;

pub struct Provisioner {
    control: Arc<ControlPlane>,
    bindings: Vec<Binding>,
    ledger: Mutex<Ledger>,
    dry_run: bool,
    /// Who claims the fleet-wide job: the replica's name (a CLI pass adds `/cli`).
    holder: String,
    /// Set once the job was given up: a pass still running then claims nothing more.
    released: AtomicBool,
    /// Grants already reported as having no workspace identity.
    reported: Mutex<HashSet<String>>,
}

impl Provisioner {
    /// A provisioner whose passes claim the fleet-wide job as `holder` (the replica's name
    /// for the loop of `serve`).
    pub fn new(
        control: Arc<ControlPlane>,
        bindings: Vec<Binding>,
        dry_run: bool,
        holder: &str,
    ) -> Provisioner {
        Provisioner {
            ledger: Mutex::new(Ledger::new(control.clone())),
            control,
            bindings,
            dry_run,
            holder: holder.to_string(),
            released: AtomicBool::new(false),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// Claims (or renews) the fleet-wide reconcile job; false while another process holds
    /// it. A dry run changes nothing and needs no claim.
    pub fn claim(&self) -> Result<bool, ProvisionError> {
        if self.dry_run {
            return Ok(true);
        }
        if self.released.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let now = self.control.now();
        let until = now + JOB_CLAIM.as_millis() as i64;
        self.control
            .store()
            .claim_job(RECONCILE_JOB, &self.holder, now, until)
            .map_err(|e| ProvisionError::Store(e.to_string()))
    }

    /// Gives the job up (a clean stop), so that another replica takes it over at once.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        if let Err(e) = self
            .control
            .store()
            .release_job(RECONCILE_JOB, &self.holder)
        {
            tracing::warn!("native provisioning: giving up the reconcile job: {e}");
        }
    }

    /// One pass over every binding: the lines say what was done (or, in a dry run, what would
    /// be). A binding whose state cannot be read is left as it is, with an error line. Nothing
    /// is done (and `Err(NotHolder)` returned) while another process holds the job.
    pub fn reconcile_once(&self) -> Result<Vec<String>, ProvisionError> {
        if !self.claim()? {
            return Err(ProvisionError::NotHolder);
        }
        let mut lines = Vec::new();
        for b in &self.bindings {
            match self.reconcile(b) {
                Err(ProvisionError::NotHolder) => return Err(ProvisionError::NotHolder),
                Ok(mut done) => lines.append(&mut done),
                Err(e) => {
                    tracing::error!(resource = %b.resource, "native provisioning: {e}");
                    lines.push(format!("{}: error: {e}", b.resource));
                }
            }
        }
        Ok(lines)
    }

    fn reconcile(&self, b: &Binding) -> Result<Vec<String>, ProvisionError> {
        let wanted = self.wanted(b)?;
        let governed = plan::governed(&b.config.provision);
        let (actual, group_ids) = actual(b, &governed)?;
        let owned = lock(&self.ledger).owned(&b.resource)?;
        let wanted_set: BTreeSet<Entitlement> = wanted.keys().cloned().collect();
        let steps = plan::plan(&wanted_set, &owned, &actual, &governed);
        let mut lines = Vec::new();
        for step in steps {
            lines.push(self.apply(b, &step, &wanted, &group_ids)?);
        }
        let live = self.live_grants_of(&b.resource)?;
        lines.append(&mut obo::reconcile(&self.control, b, &live, self.dry_run)?);
        Ok(lines)
    }

    /// Ids of the live grants on `resource`, now.
    fn live_grants_of(&self, resource: &str) -> Result<HashSet<String>, ProvisionError> {
        let now = self.control.now();
        Ok(self
            .control
            .store()
            .unended_grants()
            .map_err(|e| ProvisionError::Store(e.to_string()))?
            .into_iter()
            .filter(|g| g.resource == resource && g.is_live(now))
            .map(|g| g.id)
            .collect())
    }

    /// The entitlements live grants on the binding's resource want.
    fn wanted(&self, b: &Binding) -> Result<Wanted, ProvisionError> {
        let now = self.control.now();
        let grants = self
            .control
            .store()
            .unended_grants()
            .map_err(|e| ProvisionError::Store(e.to_string()))?;
        let mut wanted = Wanted::new();
        for g in grants
            .iter()
            .filter(|g| g.resource == b.resource && g.is_live(now))
        {
            let groups = self
                .control
                .identity()
                .lookup(&g.subject)
                .map(|s| s.groups)
                .unwrap_or_default();
            let Some(rule) = plan::rule_for(&b.config.provision, &g.subject, &groups) else {
                continue;
            };
            // A rule that only gives tokens wants nothing of the subject's user.
            if !rule.needs_identity() {
                continue;
            }
            let Some(user) = self.workspace_user(b, &g.subject, &g.id)? else {
                continue;
            };
            for e in plan::entitlements(rule, &user) {
                let entry = wanted
                    .entry(e)
                    .or_insert_with(|| (g.subject.clone(), Vec::new()));
                entry.1.push(g.id.clone());
            }
        }
        Ok(wanted)
    }

    /// The subject's workspace user (configured mapping, else the subject's name as userName);
    /// none, audited once per grant, when the workspace has no such user.
    fn workspace_user(
        &self,
        b: &Binding,
        subject: &str,
        grant: &str,
    ) -> Result<Option<WorkspaceUser>, ProvisionError> {
        let user_name = gate::user_name(b, subject);
        match b.api.user_by_name(user_name) {
            Ok(u) => Ok(Some(WorkspaceUser {
                id: u.id,
                user_name: u.user_name,
            })),
            Err(ApiError::NotFound(why)) => {
                if lock(&self.reported).insert(grant.to_string()) {
                    tracing::warn!(resource = %b.resource, "grant {grant}: {why}");
                    self.control.audit(
                        AuditEvent::new(
                            kind::DATABRICKS_NO_IDENTITY,
                            json!({"user_name": user_name, "reason": why,
                                   "hint": "add the user to the workspace, or map the subject under identities"}),
                        )
                        .subject(subject)
                        .resource(&b.resource)
                        .grant(grant),
                    );
                }
                Ok(None)
            }
            // Fail closed: a grant whose user cannot be looked up now wants nothing this pass
            // (what jitgate made for it goes, and comes back once the look-up works), rather
            // than hold up the removals of every other grant.
            Err(e) => {
                tracing::warn!(resource = %b.resource, "grant {grant}: looking up {user_name}: {e}");
                Ok(None)
            }
        }
    }

    /// Carries out one step (or, in a dry run, says what it would do): the ledger first, then
    /// the call, then the audit event with the API's answer.
    fn apply(
        &self,
        b: &Binding,
        step: &Step,
        wanted: &Wanted,
        group_ids: &HashMap<String, String>,
    ) -> Result<String, ProvisionError> {
        let now = self.control.now();
        let prefix = if self.dry_run { "would " } else { "" };
        let (e, line) = match step {
            Step::Alert(e) => {
                if !self.dry_run {
                    self.alert_foreign(b, e);
                }
                return Ok(format!(
                    "{}: foreign {} (left; alert raised)",
                    b.resource,
                    describe(e)
                ));
            }
            Step::Forget(e) => {
                if !self.dry_run {
                    lock(&self.ledger).forget(&b.resource, e)?;
                }
                return Ok(format!(
                    "{}: {prefix}forget {} (already gone)",
                    b.resource,
                    describe(e)
                ));
            }
            Step::Add(e) => (e, format!("{}: {prefix}add {}", b.resource, describe(e))),
            Step::Remove(e, why) => {
                let why = match why {
                    RemoveWhy::Outlived => "its grant ended",
                    RemoveWhy::Foreign => "foreign",
                };
                (
                    e,
                    format!("{}: {prefix}remove {} ({why})", b.resource, describe(e)),
                )
            }
        };
        if self.dry_run {
            return Ok(line);
        }
        // Every change is made under a live claim: a replica that lost the job stops here.
        if !self.claim()? {
            return Err(ProvisionError::NotHolder);
        }
        let add = matches!(step, Step::Add(_));
        let (subject, grants) = wanted.get(e).cloned().unwrap_or_else(|| {
            let subject = lock(&self.ledger)
                .subject(&b.resource, e)
                .unwrap_or_default();
            (subject, Vec::new())
        });
        {
            let ledger = lock(&self.ledger);
            if add {
                ledger.mark(&b.resource, e, &subject, &grants, RowState::Adding, now)?;
            } else if matches!(step, Step::Remove(_, RemoveWhy::Outlived)) {
                ledger.set_state(&b.resource, e, RowState::Removing, now)?;
            }
        }
        let result = change(b, e, add, group_ids);
        let detail = json!({
            "action": if add { "add" } else { "remove" },
            "target": e.target.key(), "principal": e.principal, "grants": grants,
            "foreign": matches!(step, Step::Remove(_, RemoveWhy::Foreign)),
        });
        let mut event = match &result {
            Ok(answer) => AuditEvent::new(kind::DATABRICKS_CHANGED, detail)
                .merge(json!({"answer": {"status": answer.status, "body": answer.body}})),
            Err(err) => AuditEvent::new(kind::DATABRICKS_FAILED, detail)
                .merge(json!({"answer": err.answer(), "error": err.to_string()})),
        }
        .resource(&b.resource);
        if !subject.is_empty() {
            event = event.subject(&subject);
        }
        self.control.audit(event);
        result?;
        let ledger = lock(&self.ledger);
        if add {
            ledger.mark(&b.resource, e, &subject, &grants, RowState::Present, now)?;
        } else {
            ledger.forget(&b.resource, e)?;
        }
        Ok(line)
    }

    fn alert_foreign(&self, b: &Binding, e: &Entitlement) {
        self.control.audit(
            AuditEvent::new(
                kind::ALERT_DATABRICKS_FOREIGN,
                json!({"target": e.target.key(), "principal": e.principal,
                       "message": format!("{} was not made by jitgate", describe(e))}),
            )
            .resource(&b.resource),
        );
    }

    /// Runs passes until the task is dropped: at once, then when grants change, when the set
    /// of live grants in the store changes, and every `reconcile_interval` — while this
    /// process holds the fleet-wide job. The claim is renewed every poll; a process that does
    /// not hold it tries to take it over every poll, and runs a pass as soon as it does.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.control.grant_changes();
        let interval = self
            .bindings
            .iter()
            .map(|b| b.config.reconcile_interval)
            .min()
            .unwrap_or(Duration::from_secs(300));
        loop {
            let live = self.live_grants();
            let started = Instant::now();
            let pass = self.clone();
            let mut holding = match tokio::task::spawn_blocking(move || pass.reconcile_once()).await
            {
                Ok(Ok(lines)) => {
                    lines.iter().for_each(|l| tracing::info!("{l}"));
                    true
                }
                Ok(Err(ProvisionError::NotHolder)) => false,
                Ok(Err(e)) => {
                    tracing::error!("native provisioning pass failed: {e}");
                    true
                }
                Err(e) => {
                    tracing::error!("native provisioning pass failed: {e}");
                    true
                }
            };
            loop {
                tokio::select! {
                    _ = changes.changed() => if holding { break },
                    _ = tokio::time::sleep(STORE_POLL) => {}
                }
                let claimed = self.claim().unwrap_or(false);
                if claimed != holding {
                    tracing::info!(
                        "native provisioning: {} the fleet-wide reconcile job",
                        if claimed { "took over" } else { "lost" }
                    );
                }
                if !holding && claimed {
                    break;
                }
                holding = claimed;
                if holding && (started.elapsed() >= interval || self.live_grants() != live) {
                    break;
                }
            }
        }
    }

    /// Ids of the live grants on bound resources, now.
    fn live_grants(&self) -> BTreeSet<String> {
        let now = self.control.now();
        let resources: HashSet<&str> = self.bindings.iter().map(|b| b.resource.as_str()).collect();
        self.control
            .store()
            .unended_grants()
            .unwrap_or_default()
            .into_iter()
            .filter(|g| resources.contains(g.resource.as_str()) && g.is_live(now))
            .map(|g| g.id)
            .collect()
    }
}

/// What the workspace has on the governed targets, and the ids of the governed groups.
fn actual(
    b: &Binding,
    governed: &BTreeMap<Target, ForeignPolicy>,
) -> Result<(BTreeSet<Entitlement>, HashMap<String, String>), ApiError> {
    let mut have = BTreeSet::new();
    let mut group_ids = HashMap::new();
    let mut securables: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for target in governed.keys() {
        match target {
            Target::Member { group } => {
                let g = b.api.group_by_name(group)?;
                for member in g.members {
                    have.insert(Entitlement {
                        target: target.clone(),
                        principal: member,
                    });
                }
                group_ids.insert(group.clone(), g.id);
            }
            Target::Privilege {
                securable_type,
                full_name,
                privilege,
            } => securables
                .entry((securable_type.clone(), full_name.clone()))
                .or_default()
                .push(privilege.clone()),
        }
    }
    for ((securable_type, full_name), privileges) in securables {
        for a in b.api.permissions(&securable_type, &full_name)? {
            for p in a.privileges.iter().filter(|p| privileges.contains(p)) {
                have.insert(Entitlement {
                    target: Target::Privilege {
                        securable_type: securable_type.clone(),
                        full_name: full_name.clone(),
                        privilege: p.clone(),
                    },
                    principal: a.principal.clone(),
                });
            }
        }
    }
    Ok((have, group_ids))
}

/// The API call that adds or removes one entitlement.
fn change(
    b: &Binding,
    e: &Entitlement,
    add: bool,
    group_ids: &HashMap<String, String>,
) -> Result<crate::api::Answer, ApiError> {
    match &e.target {
        Target::Member { group } => {
            let id = group_ids
                .get(group)
                .ok_or_else(|| ApiError::NotFound(format!("no group {group:?}")))?;
            if add {
                b.api.add_member(id, &e.principal)
            } else {
                b.api.remove_member(id, &e.principal)
            }
        }
        Target::Privilege {
            securable_type,
            full_name,
            privilege,
        } => b
            .api
            .change_privilege(securable_type, full_name, &e.principal, privilege, add),
    }
}

fn describe(e: &Entitlement) -> String {
    match &e.target {
        Target::Member { group } => format!("member {} of group {group}", e.principal),
        Target::Privilege {
            securable_type,
            full_name,
            privilege,
        } => format!(
            "{privilege} on {securable_type} {full_name} for {}",
            e.principal
        ),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
