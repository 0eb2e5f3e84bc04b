//! `jitgate databricks …`: native provisioning in Databricks workspaces, for operators, with
//! the configuration (no server needed): one reconcile pass (or a dry run of it), the
//! workspace's tokens, and the masking policy compiled to Unity Catalog column masks. Every
//! change is audited in the store with the API's answer. `serve` runs the reconcile loop
//! itself ([`start_provisioning`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use jitgate_config::{Config, DatabricksWorkspace, Upstream};
use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::model::rfc3339;
use jitgate_control::ControlPlane;
use jitgate_databricks::api::TokenInfo;
use jitgate_databricks::masks::{self, Column, ExistingFunction, ExistingMask};
use jitgate_databricks::provision::gate::WorkspaceGate;
use jitgate_databricks::provision::{bindings, ProvisionError, Provisioner};
use jitgate_databricks::{tokens, Workspace};
use serde_json::json;

use crate::cli::{parse_duration, ConfigArg};
use crate::output::{emit, text, Table};

#[derive(Subcommand)]
pub enum Action {
    /// Compare the workspaces with the grants once and carry out the differences
    Reconcile {
        /// Print the changes without making them
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The workspace's tokens (token management)
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// The [masking] rules as Unity Catalog column masks
    Masks {
        #[command(subcommand)]
        action: MasksAction,
    },
}

#[derive(Subcommand)]
pub enum TokensAction {
    /// List the workspace's tokens
    List {
        /// Resource whose workspace to use
        #[arg(long)]
        resource: String,
        /// Only expired tokens
        #[arg(long)]
        expired: bool,
        /// Only tokens created longer ago than this, e.g. 30d
        #[arg(long, value_name = "D", value_parser = parse_age)]
        older_than: Option<Duration>,
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete one token
    Delete {
        #[arg(long)]
        resource: String,
        /// Token id
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete expired tokens, and tokens older than token_max_lifetime
    Prune {
        #[arg(long)]
        resource: String,
        /// Print what would be deleted without deleting
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
pub enum MasksAction {
    /// Print the SQL that would bring the workspace's column masks in line with the policy
    Plan {
        #[arg(long)]
        resource: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run that SQL on the configured warehouse
    Apply {
        #[arg(long)]
        resource: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .or_else(|_| parse_duration(text))
        .map_err(|e| format!("{e}; e.g. 30d, 12h"))
}

impl Action {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Action::Reconcile { dry_run, config } => reconcile(&config, dry_run),
            Action::Tokens { action } => match action {
                TokensAction::List {
                    resource,
                    expired,
                    older_than,
                    json,
                    config,
                } => tokens_list(&config, &resource, expired, older_than, json),
                TokensAction::Delete {
                    resource,
                    id,
                    config,
                } => tokens_delete(&config, &resource, &id),
                TokensAction::Prune {
                    resource,
                    dry_run,
                    config,
                } => tokens_prune(&config, &resource, dry_run),
            },
            Action::Masks { action } => match action {
                MasksAction::Plan { resource, config } => masks_run(&config, &resource, false),
                MasksAction::Apply { resource, config } => masks_run(&config, &resource, true),
            },
        }
    }
}

/// Lets the control plane ask the workspaces before it makes a grant (requests of subjects
/// without a workspace user are refused) and mint on-behalf-of tokens; before the API serves.
pub fn install_gate(config: &Config, control: &ControlPlane) {
    let bound = bindings(config);
    if !bound.is_empty() {
        control.set_native(Arc::new(WorkspaceGate::new(bound)));
    }
}

/// The reconcile loop of `serve`; stopping it gives the fleet-wide job up.
pub struct Provisioning {
    task: tokio::task::JoinHandle<()>,
    provisioner: Arc<Provisioner>,
}

impl Provisioning {
    /// Stops the loop and gives the fleet-wide job up, so that another replica (or the next
    /// start) takes it over at once.
    pub fn abort(self) {
        self.task.abort();
        self.provisioner.release();
    }
}

/// Starts the reconcile loop beside the fronts when a resource has provision rules.
pub fn start_provisioning(
    config: &Config,
    control: Arc<ControlPlane>,
) -> anyhow::Result<Option<Provisioning>> {
    let bound = bindings(config);
    if bound.is_empty() {
        return Ok(None);
    }
    for b in &bound {
        tracing::info!(resource = %b.resource, "carrying grants out in the Databricks workspace {}", b.config.api_url);
    }
    let holder = control.replica().to_string();
    let provisioner = Arc::new(Provisioner::new(control, bound, false, &holder));
    Ok(Some(Provisioning {
        task: tokio::spawn(provisioner.clone().run()),
        provisioner,
    }))
}

fn reconcile(config: &ConfigArg, dry_run: bool) -> anyhow::Result<()> {
    let config = jitgate_config::load(&config.config)?;
    let bound = bindings(&config);
    if bound.is_empty() {
        bail!("no [[resources.NAME.databricks.provision]] rules: nothing to reconcile");
    }
    let control = crate::admin::open_control(&config)?;
    let holder = format!("{}/cli", control.replica());
    let provisioner = Provisioner::new(control.clone(), bound, dry_run, &holder);
    let result = provisioner.reconcile_once();
    if !dry_run {
        provisioner.release();
    }
    control.flush();
    let lines = match result {
        Ok(lines) => lines,
        Err(ProvisionError::NotHolder) => bail!(
            "a running gateway holds the fleet-wide reconcile job and carries changes out \
             itself within seconds; `--dry-run` shows what it would change"
        ),
        Err(e) => return Err(e.into()),
    };
    if lines.is_empty() {
        println!("the workspaces match the grants");
    }
    for line in &lines {
        println!("{line}");
    }
    if lines.iter().any(|l| l.contains(": error: ")) {
        bail!("some workspaces could not be reconciled");
    }
    Ok(())
}

/// The workspace binding of a resource, and the control plane for the audit trail.
fn open(
    config: &ConfigArg,
    resource: &str,
) -> anyhow::Result<(Config, DatabricksWorkspace, Arc<ControlPlane>)> {
    let config = jitgate_config::load(&config.config)?;
    let workspace = config
        .resources
        .iter()
        .find(|r| r.name == resource)
        .and_then(|r| match &r.upstream {
            Upstream::SparkConnect(sc) => sc.databricks.as_ref(),
            _ => None,
        })
        .map(|d| (*d.workspace).clone());
    let Some(workspace) = workspace else {
        bail!("resource \"{resource}\" has no [resources.{resource}.databricks] workspace");
    };
    let control = crate::admin::open_control(&config)?;
    Ok((config, workspace, control))
}

fn audit_change(
    control: &ControlPlane,
    resource: &str,
    detail: serde_json::Value,
    answer: Result<serde_json::Value, String>,
) {
    let event = match answer {
        Ok(a) => AuditEvent::new(kind::DATABRICKS_CHANGED, detail).merge(json!({"answer": a})),
        Err(e) => AuditEvent::new(kind::DATABRICKS_FAILED, detail).merge(json!({"error": e})),
    };
    control.audit(event.resource(resource));
}

fn token_json(t: &TokenInfo, now: i64) -> serde_json::Value {
    let time = |ms: i64| {
        if ms > 0 {
            json!(rfc3339(ms))
        } else {
            json!(null)
        }
    };
    json!({"token_id": t.token_id, "comment": t.comment, "created_by": t.created_by_username,
           "created_at": time(t.creation_time), "expires_at": time(t.expiry_time),
           "expired": tokens::is_expired(t, now)})
}

fn tokens_list(
    config: &ConfigArg,
    resource: &str,
    expired: bool,
    older_than: Option<Duration>,
    as_json: bool,
) -> anyhow::Result<()> {
    let (_, workspace, _) = open(config, resource)?;
    let now = jitgate_control::model::now_millis();
    let all = Workspace::new(&workspace).tokens()?;
    let shown: Vec<_> = all
        .iter()
        .filter(|t| !expired || tokens::is_expired(t, now))
        .filter(|t| older_than.is_none_or(|d| tokens::is_older_than(t, now, d)))
        .map(|t| token_json(t, now))
        .collect();
    emit(as_json, &json!(shown), |v| {
        let mut table = Table::new(&["ID", "CREATED BY", "CREATED", "EXPIRES", "COMMENT"]);
        for t in v.as_array().into_iter().flatten() {
            let expires = if t["expired"] == true {
                format!("{} (expired)", text(t, "expires_at"))
            } else {
                text(t, "expires_at")
            };
            table.row(vec![
                text(t, "token_id"),
                text(t, "created_by"),
                text(t, "created_at"),
                expires,
                text(t, "comment"),
            ]);
        }
        table.text("no tokens")
    });
    Ok(())
}

fn delete_one(
    api: &Workspace,
    control: &ControlPlane,
    resource: &str,
    t: &TokenInfo,
    why: &str,
) -> anyhow::Result<()> {
    let detail = json!({"action": "delete_token", "token_id": t.token_id, "created_by": t.created_by_username, "why": why});
    match api.delete_token(&t.token_id) {
        Ok(a) => {
            audit_change(
                control,
                resource,
                detail,
                Ok(json!({"status": a.status, "body": a.body})),
            );
            Ok(())
        }
        Err(e) => {
            audit_change(control, resource, detail, Err(e.to_string()));
            Err(e.into())
        }
    }
}

fn tokens_delete(config: &ConfigArg, resource: &str, id: &str) -> anyhow::Result<()> {
    let (_, workspace, control) = open(config, resource)?;
    let api = Workspace::new(&workspace);
    let token = TokenInfo {
        token_id: id.to_string(),
        creation_time: 0,
        expiry_time: -1,
        comment: String::new(),
        created_by_username: String::new(),
        owner_id: serde_json::Value::Null,
    };
    let result = delete_one(&api, &control, resource, &token, "deleted by an operator");
    control.flush();
    result?;
    println!("deleted token {id}");
    Ok(())
}

fn tokens_prune(config: &ConfigArg, resource: &str, dry_run: bool) -> anyhow::Result<()> {
    let (_, workspace, control) = open(config, resource)?;
    let api = Workspace::new(&workspace);
    let now = jitgate_control::model::now_millis();
    let all = api.tokens()?;
    let doomed = tokens::to_prune(&all, now, workspace.token_max_lifetime);
    let mut failed = 0;
    for (t, why) in &doomed {
        if dry_run {
            println!(
                "would delete token {} of {} ({})",
                t.token_id,
                t.created_by_username,
                why.as_str()
            );
            continue;
        }
        match delete_one(&api, &control, resource, t, why.as_str()) {
            Ok(()) => println!(
                "deleted token {} of {} ({})",
                t.token_id,
                t.created_by_username,
                why.as_str()
            ),
            Err(e) => {
                failed += 1;
                eprintln!("jitgate: token {}: {e:#}", t.token_id);
            }
        }
    }
    control.flush();
    if doomed.is_empty() {
        println!("no token to prune");
    }
    if failed > 0 {
        bail!("{failed} token(s) could not be deleted");
    }
    Ok(())
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

/// What the workspace's information_schema says of the catalog.
fn read_catalog(
    api: &Workspace,
    catalog: &str,
) -> anyhow::Result<(Vec<Column>, Vec<ExistingMask>, Vec<ExistingFunction>)> {
    let columns = api
        .execute(&masks::columns_query(catalog), &[])?
        .rows
        .iter()
        .map(|r| Column {
            schema: cell(r, 0),
            table: cell(r, 1),
            column: cell(r, 2),
            data_type: cell(r, 3),
        })
        .collect();
    let existing = api
        .execute(&masks::masks_query(catalog), &[])?
        .rows
        .iter()
        .map(|r| ExistingMask {
            schema: cell(r, 0),
            table: cell(r, 1),
            column: cell(r, 2),
            function: format!("{}.{}.{}", cell(r, 3), cell(r, 4), cell(r, 5)),
        })
        .collect();
    let functions = api
        .execute(&masks::functions_query(catalog), &[])?
        .rows
        .iter()
        .map(|r| ExistingFunction {
            function: format!("{}.{}.{}", cell(r, 0), cell(r, 1), cell(r, 2)),
            comment: cell(r, 3),
        })
        .collect();
    Ok((columns, existing, functions))
}

fn masks_run(config: &ConfigArg, resource: &str, apply: bool) -> anyhow::Result<()> {
    let (cfg, workspace, control) = open(config, resource)?;
    let Some(catalog) = workspace.catalog.clone() else {
        bail!("give catalog under [resources.{resource}.databricks]: the Unity Catalog catalog the masking rules' tables are in");
    };
    let api = Workspace::new(&workspace);
    let (columns, existing, functions) = read_catalog(&api, &catalog)?;
    let (compiled, refused) = masks::compile(
        &cfg.masking,
        resource,
        &catalog,
        &columns,
        &workspace.identities,
    );
    let (statements, conflicts) = masks::plan(&catalog, &compiled, &existing, &functions);
    for r in &refused {
        println!(
            "-- refused: {}.{}.{}: {}",
            r.column.schema, r.column.table, r.column.column, r.reason
        );
    }
    for c in &conflicts {
        println!("-- conflict: {c}");
    }
    if statements.is_empty() {
        println!("-- the column masks of {catalog} match the policy");
    }
    for s in &statements {
        println!("-- {}\n{};", s.why, s.sql);
    }
    if !apply {
        return Ok(());
    }
    if !refused.is_empty() || !conflicts.is_empty() {
        bail!("not applied: the columns above cannot be masked as the policy says; fix the policy or the workspace first");
    }
    for s in &statements {
        let detail = json!({"action": "masks_apply", "why": s.why, "sql": s.sql});
        match api.execute(&s.sql, &[]) {
            Ok(r) => audit_change(
                &control,
                resource,
                detail,
                Ok(json!({"status": r.answer["status"]})),
            ),
            Err(e) => {
                audit_change(&control, resource, detail, Err(e.to_string()));
                control.flush();
                return Err(e).with_context(|| format!("running: {}", s.why));
            }
        }
    }
    control.flush();
    println!("-- applied {} statement(s)", statements.len());
    Ok(())
}
