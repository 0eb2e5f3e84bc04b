//! jitgate's MySQL front against a real MariaDB (a throwaway server per test, from the test
//! kit) with real clients: the `mariadb` command-line client and PyMySQL. Needs
//! `mariadb-server`, `mariadb-client` and PyMySQL (`scripts/install-deps test`); without a
//! MariaDB server the tests print why and pass.

mod auth;
mod env;
mod guarded;
mod masking;
mod prepared;
mod sessions;
mod tls;
mod upstream_tls;
