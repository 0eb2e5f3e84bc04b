//! jitgate's Spark Connect front: Databricks Connect and PySpark clients reach a Spark Connect
//! server (or a Databricks cluster) through jitgate, under a live grant, with every ExecutePlan
//! audited. The client's bearer token is its jitgate credential (`LOGIN.SECRET`); the upstream
//! sees jitgate's own token instead.
//!
//! Subjects whose access to the resource is masked get their plans masked before the upstream
//! evaluates them ([`plan::Masked`]); what cannot be checked is refused (PERMISSION_DENIED).

mod arrow_scan;
mod body;
mod catalog;
mod edit;
mod front;
pub mod grpc;
pub mod plan;
mod scrub;
mod session;
mod upstream;

pub use front::{FrontError, SparkFront};
pub use spark_connect_proto as proto;
