//! Throwaway MariaDB servers for the MySQL front's tests: `jitgate-pgcluster`'s, which
//! `jitgate demo` runs too.

pub use jitgate_pgcluster::mariadb::{MariaDb, MariaDbOptions, SERVICE_PASSWORD, SERVICE_USER};
