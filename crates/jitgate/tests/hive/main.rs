//! jitgate's Databricks SQL front (HiveServer2 TCLIService over HTTP) against a real Spark
//! Thrift server (HiveThriftServer2 from the pyspark package, HTTP mode) and real clients
//! (PyHive over HTTP, beeline, the Databricks SQL connector for Python; PySpark's Connect client
//! for the parity with the Spark Connect front, which the same server also serves). One test
//! binary, so one server serves every test.
//!
//! Needs `java` and `python3` with pyspark, PyHive and databricks-sql-connector
//! (`scripts/install-deps test` installs them); without java the tests print why and pass.

mod connect;
mod connector;
mod env;
mod masked;
mod metadata;
mod parity;
