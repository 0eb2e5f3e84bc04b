//! jitgate's Databricks SQL front: the SQL connector for Python, the JDBC and ODBC drivers,
//! beeline and the BI tools built on them reach a Databricks SQL warehouse (or any HiveServer2
//! endpoint in HTTP mode) through jitgate, under a live grant. They all speak HiveServer2's
//! `TCLIService`: one Thrift binary-protocol message per HTTP POST. The client's credential is
//! its jitgate credential (bearer token, or Basic with user `token`); the upstream sees
//! jitgate's own.
//!
//! Every call is relayed; jitgate reads what it needs from each (session and operation
//! handles, statement texts, statuses, row counts) for the audit trail and the grant, and ends
//! a session's operations and the session itself upstream the moment its grant ends.
//!
//! Masked subjects' statements go through the same Spark SQL analysis as the Spark Connect
//! front (`jitgate_spark_sql`): protected tables are read through masking subqueries, what
//! cannot be analysed is refused with SQLSTATE 42501; every reply passes the content detectors
//! and key blotting ([`scrub`]); results come back through jitgate only (no direct results,
//! Arrow batches or cloud fetch links).
//!
//! ## Why an own Thrift codec
//! [`thrift`] is a thin codec of Thrift's binary protocol that decodes a message into a generic
//! tree and encodes it back unchanged. The `thrift` crate's generated TCLIService code was the
//! alternative: it is synchronous, adds tens of thousands of generated lines to the build, and —
//! decisive — generated structs drop the fields they do not know when re-encoded, and
//! Databricks adds fields (0x501…) in every release. A generic tree keeps every field, so
//! jitgate only needs to know the few it reads or edits ([`tcli`]). It is bounded by message
//! size, nesting depth and value count, and never panics on input.

pub mod call;
mod front;
pub mod policy;
pub mod schemas;
pub mod scrub;
pub mod session;
pub mod tcli;
pub mod thrift;
mod upstream;

pub use front::{credential, FrontError, HiveFront};
pub use upstream::UpstreamError;
