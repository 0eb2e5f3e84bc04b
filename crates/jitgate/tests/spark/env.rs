//! One local Spark Connect server (from the pyspark package) per test binary, and PySpark's
//! Connect client run step by step by `spark/driver.py`.
//!
//! Needs `java` and `python3` with `pyspark[connect]` (`scripts/install-deps test` installs
//! them); [`spark`] is None, with a message saying why, when this machine has no Java.
#![allow(dead_code)]

use jitgate_testkit::free_port;
use serde_json::Value;
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long the Spark server may take to listen (the JVM, then Spark, start on two cores).
const SPARK_START: Duration = Duration::from_secs(120);

pub struct SparkServer {
    pub port: u16,
    /// Held open for the life of the test binary: the launcher stops Spark when it closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
    _dir: tempfile::TempDir,
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

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

thread_local! {
    /// This test's turn at the Spark server (see [`spark`]), held until its thread ends.
    static TURN: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
}

/// The shared Spark Connect server, started by the first test that needs it; None (with a
/// message) when this machine has no Java. Tests take turns: one Spark server on two cores
/// (`local[2]`) answers one heavy query at a time, and a test whose calls queue behind another's
/// scans would fail on timing it does not test. A test's turn lasts until its thread ends.
pub fn spark() -> Option<&'static SparkServer> {
    static TURNS: Mutex<()> = Mutex::new(());
    TURN.with(|turn| {
        let mut turn = turn.borrow_mut();
        if turn.is_none() {
            // A test that failed during its turn leaves the lock poisoned; the server is fine.
            *turn = Some(
                TURNS
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
        }
    });
    server()
}

fn server() -> Option<&'static SparkServer> {
    static SERVER: OnceLock<Option<SparkServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let java = Command::new("java")
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(java, Ok(s) if s.success()) {
                eprintln!(
                    "SKIPPED: no java on this machine, so no Spark Connect server to test against"
                );
                return None;
            }
            Some(start_spark())
        })
        .as_ref()
}

pub fn start_spark() -> SparkServer {
    let dir = tempfile::Builder::new()
        .prefix("jitgate-spark-")
        .tempdir()
        .expect("temporary folder");
    let port = free_port();
    let started = Instant::now();
    let mut child = Command::new(python())
        .arg(tests_dir().join("server.py"))
        .arg(port.to_string())
        .arg(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .expect("starting the Spark Connect launcher (python3 with pyspark)");
    let stdin = child.stdin.take().expect("launcher stdin");
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the Spark Connect launcher exited ({status}):\n{}",
                std::fs::read_to_string(dir.path().join("spark.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < SPARK_START,
            "Spark Connect did not listen within {SPARK_START:?}:\n{}",
            std::fs::read_to_string(dir.path().join("spark.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "Spark Connect server up on port {port} after {:?}",
        started.elapsed()
    );
    SparkServer {
        port,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
        _dir: dir,
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
