//! One local Spark Connect server (from the pyspark package) per test binary, and PySpark's
//! Connect client run step by step by `spark/driver.py`.
//!
//! Needs `java` and `python3` with `pyspark[connect]` (`scripts/install-deps test` installs
//! them); [`spark`] is None, with a message saying why, when this machine has no Java.
#![allow(dead_code)]

use jitgate_testkit::free_port;
pub use jitgate_testkit::spark::python;
use jitgate_testkit::spark::{self as launcher, SparkProcess};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long the Spark server may take to listen (the JVM, then Spark, start on two cores).
const SPARK_START: Duration = Duration::from_secs(120);

pub struct SparkServer {
    pub port: u16,
    /// Held open for the life of the test binary: the launcher stops Spark when it closes.
    _process: SparkProcess,
}

impl SparkServer {
    /// The Connect URI of the server itself, for tests that need no gateway.
    pub fn uri(&self) -> String {
        format!("sc://127.0.0.1:{}", self.port)
    }
}

pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/spark")
}

/// The shared Spark Connect server, started by the first test that needs it; None (with a
/// message) when this machine has no Java. Tests take turns: one Spark server on two cores
/// (`local[2]`) answers one heavy query at a time, and a test whose calls queue behind another's
/// scans would fail on timing it does not test. A test's turn lasts until its thread ends.
pub fn spark() -> Option<&'static SparkServer> {
    launcher::take_turn();
    static SERVER: OnceLock<Option<SparkServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| launcher::has_java("Spark Connect server").then(start_spark))
        .as_ref()
}

pub fn start_spark() -> SparkServer {
    let port = free_port();
    let process = SparkProcess::start(
        &format!("Spark Connect server on port {port}"),
        "jitgate-spark-",
        &tests_dir().join("server.py"),
        &[&port.to_string(), "{dir}"],
        SPARK_START,
        |_| launcher::listening(port),
    );
    SparkServer {
        port,
        _process: process,
    }
}

/// One step's outcome as the driver prints it.
pub fn steps(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

pub fn driver(uri: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(tests_dir().join("driver.py"))
        .arg(uri)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Runs the PySpark driver to the end and returns its steps.
pub fn drive(uri: &str, args: &[&str]) -> Vec<Value> {
    drive_with(driver(uri, args), args)
}

pub fn drive_with(mut cmd: Command, args: &[&str]) -> Vec<Value> {
    let out = cmd.output().expect("running the PySpark driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = steps(&stdout);
    assert_eq!(
        found.len(),
        args.len(),
        "driver output:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    found
}
