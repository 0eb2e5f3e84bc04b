//! jitgate's MySQL front against a real MariaDB (a throwaway server per test, from the test
//! kit) with real clients: the `mariadb` command-line client, PyMySQL, MySQL
//! Connector/Python and `mysql_async`. Needs `mariadb-server`, `mariadb-client`, PyMySQL and
//! mysql-connector-python (`scripts/install-deps test`); without a MariaDB server the tests
//! print why and pass.

mod auth;
mod connector;
mod env;
mod guarded;
mod masking;
mod prepared;
mod sessions;
mod tls;
mod upstream_tls;
