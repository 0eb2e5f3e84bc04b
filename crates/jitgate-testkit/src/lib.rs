//! Test fixtures for jitgate's integration tests.
//!
//! jitgate relays the PostgreSQL wire protocol, so the only convincing tests
//! run against a real server. Throwaway clusters come from `jitgate-pgcluster`
//! ([`PgCluster`], re-exported here); this crate adds a harness that runs the
//! jitgate binary against them ([`Gateway`]). Everything lives in temporary
//! directories and is torn down on `Drop`, so tests can run in parallel
//! without sharing state.
//!
//! It is meant to be used only as a dev-dependency.

mod certs;
mod cli_user;
pub mod databricks;
mod gateway;
pub mod mariadb;
pub mod spark;

pub use certs::write_certificates;
pub use cli_user::CliUser;
pub use databricks::{DatabricksEmulator, EmulatedColumn, Fault};
pub use gateway::{Gateway, GrantInfo};
pub use jitgate_pgcluster::{free_port, AuthMethod, ClusterOptions, PgCluster};
pub use mariadb::MariaDb;
