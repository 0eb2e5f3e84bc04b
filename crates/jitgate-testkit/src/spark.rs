//! One local Spark per test binary, started by a Python launcher from the pyspark package (the
//! Spark Connect server, or the Thrift server that also serves Spark Connect), and the tests'
//! turns at it: one Spark on two cores answers one heavy query at a time, and a test whose calls
//! queue behind another's scans would fail on timing it does not test.

use std::cell::RefCell;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The Python that runs the launchers and drivers: `$PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

thread_local! {
    static TURN: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
}

/// Waits for this test's turn at the Spark server; the turn lasts until the test's thread ends.
pub fn take_turn() {
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
}

/// Whether this machine runs `java`; when not, says that there is no `what` to test against.
pub fn has_java(what: &str) -> bool {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let found = matches!(java, Ok(s) if s.success());
    if !found {
        eprintln!("SKIPPED: no java on this machine, so no {what} to test against");
    }
    found
}

/// A running launcher: Spark stops when the launcher's stdin closes, so both are held for the
/// life of the test binary, with the folder of its data and `spark.log`.
pub struct SparkProcess {
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
    dir: tempfile::TempDir,
}

impl SparkProcess {
    /// Runs `python3 script args… ` with a fresh folder (named `prefix…`) appended to `args`
    /// where `{dir}` stands, and waits until `ready` (given the folder) says the server is up;
    /// panics with the server's log when the launcher exits or `within` passes first. `what`
    /// names the server in messages.
    pub fn start(
        what: &str,
        prefix: &str,
        script: &Path,
        args: &[&str],
        within: Duration,
        ready: impl Fn(&Path) -> bool,
    ) -> SparkProcess {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temporary folder");
        let started = Instant::now();
        let mut child = Command::new(python())
            .arg(script)
            .args(args.iter().map(|a| {
                if *a == "{dir}" {
                    dir.path().as_os_str().to_owned()
                } else {
                    std::ffi::OsString::from(*a)
                }
            }))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {what} launcher (python3 with pyspark): {e}"));
        let stdin = child.stdin.take().expect("launcher stdin");
        let log = || std::fs::read_to_string(dir.path().join("spark.log")).unwrap_or_default();
        while !ready(dir.path()) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the {what} launcher exited ({status}):\n{}", log());
            }
            assert!(
                started.elapsed() < within,
                "no {what} within {within:?}:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("{what} up after {:?}", started.elapsed());
        SparkProcess {
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
            dir,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("spark.log")).unwrap_or_default()
    }
}

/// Whether something listens on `port` of this machine.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}
