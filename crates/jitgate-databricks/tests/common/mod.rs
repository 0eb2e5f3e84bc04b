//! What the tests share: an emulated workspace with a user, a governed group and a table, and
//! the workspace binding that points at it.

#![allow(dead_code)]

use std::time::Duration;

use jitgate_config::{
    DatabricksWorkspace, ForeignPolicy, ProvisionRule, Requester, Secret, SecurablePrivileges,
};
use jitgate_control::model::Grant;
use jitgate_control::ControlPlane;
use jitgate_databricks::api::RetryPolicy;
use jitgate_databricks::provision::Binding;
use jitgate_databricks::Workspace;
use jitgate_testkit::{DatabricksEmulator, Fault};

pub const TOKEN: &str = "dapi-test-token";
pub const WAREHOUSE: &str = "wh01";
pub const GROUP: &str = "jit-sales";
pub const TABLE: &str = "main.sales.orders";
/// The service principal a grant's on-behalf-of token is for.
pub const SP: &str = "6f5ccf28-d83a-4957-9bfb-5bbfac551410";

pub struct World {
    pub emu: DatabricksEmulator,
    pub alice: String,
    pub bob: String,
}

pub fn world() -> World {
    let emu = DatabricksEmulator::start(TOKEN, WAREHOUSE).expect("emulator");
    let alice = emu.add_user("alice@example.com");
    let bob = emu.add_user("bob@example.com");
    emu.add_group(GROUP);
    emu.add_securable("table", TABLE);
    emu.add_service_principal(SP);
    World { emu, alice, bob }
}

pub fn workspace(url: &str, foreign: ForeignPolicy) -> DatabricksWorkspace {
    DatabricksWorkspace {
        api_url: url.to_string(),
        token: Secret::new(TOKEN.to_string(), "test"),
        oauth: None,
        account: None,
        warehouse_id: Some(WAREHOUSE.to_string()),
        catalog: Some("main".to_string()),
        identities: vec![("alice".into(), "alice@example.com".into())],
        provision: vec![ProvisionRule {
            requesters: vec![Requester::Anyone],
            group: Some(GROUP.to_string()),
            privileges: vec![SecurablePrivileges {
                securable_type: "table".into(),
                full_name: TABLE.into(),
                privileges: vec!["SELECT".into()],
            }],
            foreign,
            token_for: Some(SP.to_string()),
        }],
        reconcile_interval: Duration::from_secs(1),
        token_max_lifetime: Some(Duration::from_secs(90 * 86_400)),
    }
}

/// Short waits, so that retried calls do not slow the tests down.
pub fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

pub fn binding(url: &str, foreign: ForeignPolicy) -> Binding {
    let config = workspace(url, foreign);
    Binding {
        resource: "dbx".to_string(),
        api: Workspace::new(&config).with_retry(quick()),
        config,
    }
}

/// alice's grant on `dbx` for `secs` seconds, granted by dana.
pub fn grant_alice(control: &ControlPlane, secs: u64) -> Grant {
    control
        .issue_grant("alice", "dbx", Duration::from_secs(secs), "dana")
        .expect("grant")
}

/// The emulated workspace answers `times` calls of `method` to a path containing `path` with
/// `status` (and `Retry-After`), without carrying them out.
pub fn fault(method: &str, path: &str, status: u16, retry_after: Option<u64>, times: u32) -> Fault {
    Fault {
        method: method.into(),
        path_contains: path.into(),
        status,
        retry_after,
        after_applying: false,
        times,
    }
}

/// The emulated workspace carries out `times` calls of `method` to a path containing `path`,
/// then loses the answer (503).
pub fn answer_lost(method: &str, path: &str, times: u32) -> Fault {
    Fault {
        after_applying: true,
        ..fault(method, path, 503, None, times)
    }
}
