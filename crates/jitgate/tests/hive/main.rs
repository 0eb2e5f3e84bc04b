//! jitgate's Databricks SQL front (HiveServer2 TCLIService over HTTP) against a real Spark
//! Thrift server (HiveThriftServer2 from the pyspark package, HTTP mode) and real clients
//! (PyHive over HTTP, beeline). One test binary, so one server serves every test.
//!
//! Needs `java` and `python3` with pyspark and PyHive (`scripts/install-deps test` installs
//! them); without java the tests print why and pass.

mod connect;
mod connector;
mod env;
mod masked;
mod metadata;
mod parity;
