//! One local Spark Thrift server (HiveServer2 in HTTP mode, from the pyspark package) per test
//! binary, which serves Spark Connect too (same Spark, same catalog); PyHive driven step by step
//! by `hive/driver.py`, PySpark's Connect client by `spark/driver.py`.
#![allow(dead_code)]

use jitgate_testkit::free_port;
pub use jitgate_testkit::spark::python;
use jitgate_testkit::spark::{self as launcher, SparkProcess};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long the server may take to listen (the JVM, then Spark, start on two cores).
const START: Duration = Duration::from_secs(180);

pub struct ThriftServer {
    pub port: u16,
    /// Spark Connect of the same Spark (its plugin): the same catalog and warehouse.
    pub connect_port: u16,
    _process: SparkProcess,
}

impl ThriftServer {
    /// The server's own HTTP endpoint, for direct connections.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cliservice", self.port)
    }
}

pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hive")
}

/// The shared server, started by the first test that needs it; None (with a message) when this
/// machine has no Java. Tests take turns (one Spark on two cores), each until its thread ends.
pub fn server() -> Option<&'static ThriftServer> {
    launcher::take_turn();
    static SERVER: OnceLock<Option<ThriftServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| launcher::has_java("Spark Thrift server").then(start))
        .as_ref()
}

fn start() -> ThriftServer {
    let port = free_port();
    let connect_port = free_port();
    let process = SparkProcess::start(
        &format!("Spark Thrift server on port {port}"),
        "jitgate-hs2-",
        &tests_dir().join("server.py"),
        &[&port.to_string(), "{dir}", &connect_port.to_string()],
        START,
        |dir| {
            std::fs::read_to_string(dir.join("spark.log"))
                .unwrap_or_default()
                .contains("HiveThriftServer2 started")
        },
    );
    ThriftServer {
        port,
        connect_port,
        _process: process,
    }
}

/// One step's outcome as the driver prints it (the first line says whether the session opened).
pub fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

pub fn driver(url: &str, user: &str, password: &str, steps: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(tests_dir().join("driver.py"))
        .args([url, user, password])
        .args(steps)
        .stdin(Stdio::null());
    cmd
}

/// Runs PyHive to the end: the session line, then one line per step.
pub fn drive(url: &str, user: &str, password: &str, steps: &[&str]) -> Vec<Value> {
    let out = driver(url, user, password, steps)
        .output()
        .expect("running the PyHive driver");
    let v = lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        !v.is_empty(),
        "driver printed nothing:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// Like [`drive`] against the server directly, as its administrator (seeding tables).
pub fn direct(server: &ThriftServer, steps: &[&str]) -> Vec<Value> {
    let v = drive(&server.url(), "admin", "x", steps);
    assert!(
        v.iter().skip(1).all(|s| s["ok"] == true),
        "seeding failed: {v:?}"
    );
    v
}

/// Runs the Spark Connect tests' PySpark driver (`spark/driver.py`) against `uri` to the end:
/// one JSON line per step.
pub fn drive_spark(uri: &str, steps: &[&str]) -> Vec<Value> {
    let out = Command::new(python())
        .arg(tests_dir().join("../spark/driver.py"))
        .arg(uri)
        .args(steps)
        .stdin(Stdio::null())
        .output()
        .expect("running the PySpark driver");
    let v = lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        v.len(),
        steps.len(),
        "PySpark driver:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// Runs pyspark's beeline (the Hive JDBC driver) with `url` and one statement; its output.
pub fn beeline(url: &str, sql: &str) -> String {
    let home = Command::new(python())
        .args([
            "-c",
            "import pyspark,os;print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
        .expect("finding pyspark");
    let home = String::from_utf8_lossy(&home.stdout).trim().to_string();
    let out = Command::new(format!("{home}/bin/beeline"))
        .env("SPARK_HOME", &home)
        .args(["-u", url, "--silent=true", "--outputformat=csv2", "-e", sql])
        .stdin(Stdio::null())
        .output()
        .expect("running beeline");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
