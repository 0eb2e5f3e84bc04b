//! jitgate's MySQL/MariaDB front: clients log in with a jitgate credential, jitgate logs in
//! upstream as the resource's service account, and relays commands one at a time under the
//! session's live grant: statements audited, read-only grants enforced, masked subjects'
//! statements rewritten so that protected tables are read through masking derived tables
//! (`masked.rs`, with `jitgate_mysql_sql::rewrite`), replication, CHANGE_USER and LOCAL INFILE
//! refused, KILL ids mapped.
//!
//! Framing is jitgate's own (a few hundred lines): the relay passes packets as they come and
//! reads only their first bytes, which a packet library's decoded messages would not make
//! simpler, and the build stays lean.

mod auth;
mod binary_rows;
mod front;
mod login;
mod masked;
mod packet;
mod session;
mod upstream;
mod wire;

pub use front::{FrontError, MySqlFront};
