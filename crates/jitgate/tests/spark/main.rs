//! jitgate's Spark Connect front against a real Spark Connect server (from the pyspark
//! package) and PySpark's own Connect client. One test binary, so one Spark server serves every
//! test (starting one takes 8–15 s on two cores).
//!
//! Needs `java` and `python3` with `pyspark[connect]` (`scripts/install-deps test` installs
//! them); without java the tests print why and pass.

mod connect;
mod databricks_udf;
mod env;
#[path = "../../../jitgate-masking/tests/generate/mod.rs"]
mod generate;
mod parity;
mod redteam;
