//! Unit tests of the Spark SQL analysis: the rewriter's output for each construct, and the
//! helpers they share.

mod rewrite;
pub(crate) mod util;
