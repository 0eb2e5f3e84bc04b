//! jitgate's Spark Connect front: Databricks Connect and PySpark clients reach a Spark Connect
//! server (or a Databricks cluster) through jitgate, under a live grant, with every ExecutePlan
//! audited. The client's bearer token is its jitgate credential (`LOGIN.SECRET`); the upstream
//! sees jitgate's own token instead.
//!
//! Masking of Spark plans is not done yet: subjects whose access to the resource is masked are
//! refused (PERMISSION_DENIED) rather than served in clear. [`plan::PlanPolicy`] is where a plan
//! rewriter goes.

mod body;
mod front;
pub mod grpc;
pub mod plan;
mod session;
mod tls;
mod upstream;

pub use front::{FrontError, SparkFront};
pub use session::MASKING_UNAVAILABLE;
pub use spark_connect_proto as proto;
