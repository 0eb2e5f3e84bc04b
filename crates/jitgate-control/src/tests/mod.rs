//! Unit tests of this crate, one file per topic.

mod alerts;
