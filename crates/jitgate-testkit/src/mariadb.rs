//! Throwaway MariaDB servers for the MySQL front's tests: `mariadb-install-db` and `mariadbd` in
//! a temporary directory, on a free loopback port, as the `mysql` OS user when run as root.
//! Dropping the server kills it and deletes the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jitgate_pgcluster::{free_port, run_checked};

/// How long a new server gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The service account every server gets: the account jitgate logs in upstream as.
pub const SERVICE_USER: &str = "svc";
pub const SERVICE_PASSWORD: &str = "svc-secret";

/// A running MariaDB server with a database `app` and the service account
/// ([`SERVICE_USER`], `mysql_native_password`, all privileges).
pub struct MariaDb {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as the `mysql` user when we are root (mariadbd refuses root).
fn command(program: &str) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "mysql", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn server_binary() -> String {
    for candidate in ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"] {
        if Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    "mariadbd".to_owned()
}

impl MariaDb {
    /// Whether a MariaDB server can be started here (tests skip with a message otherwise).
    pub fn available() -> bool {
        Command::new("mariadb-install-db")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }

    pub fn start() -> anyhow::Result<MariaDb> {
        let dir = tempfile::Builder::new()
            .prefix("jitgate-mariadb-")
            .tempdir()?;
        // Servers of tests running at once must not share temporary files.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        if as_root() {
            run_checked(
                Command::new("chown")
                    .arg("-R")
                    .arg("mysql:mysql")
                    .arg(dir.path()),
                "chown the server directory",
            )?;
        }
        let tmpdir = format!("--tmpdir={}", tmp.display());
        let data = dir.path().join("data");
        run_checked(
            command("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .arg(&tmpdir),
            "mariadb-install-db",
        )?;
        let port = free_port();
        let mut db = MariaDb {
            port,
            dir,
            child: None,
        };
        let log = std::fs::File::create(db.dir.path().join("stdout.log"))?;
        let child = command(&server_binary())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg(&tmpdir)
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", db.socket().display()))
            .arg(format!(
                "--pid-file={}",
                db.dir.path().join("pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                db.dir.path().join("error.log").display()
            ))
            .args([
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
                "--skip-log-bin",
            ])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mariadbd")?;
        db.child = Some(child);
        db.wait_ready()?;
        db.sql(&format!(
            "CREATE DATABASE app; \
             CREATE USER '{SERVICE_USER}'@'%' IDENTIFIED VIA mysql_native_password \
               USING PASSWORD('{SERVICE_PASSWORD}'); \
             GRANT ALL ON *.* TO '{SERVICE_USER}'@'%';"
        ))?;
        Ok(db)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ok = self.root_client().arg("-e").arg("SELECT 1").output();
            if matches!(&ok, Ok(o) if o.status.success()) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                anyhow::bail!("mariadbd exited ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                anyhow::bail!("mariadbd did not start in time:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn root_client(&self) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .arg("-uroot")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("--batch")
            .arg("--skip-column-names");
        c
    }

    /// Runs SQL as the server's root, over its socket; returns what the client printed.
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        let out = run_checked(self.root_client().arg("-e").arg(sql), "SQL as root")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `kind = "mysql"` resource's upstream table for this server, logging in as the service
    /// account.
    pub fn upstream_toml(&self) -> String {
        format!(
            "host = \"127.0.0.1\"\nport = {}\ndatabase = \"app\"\nuser = \"{SERVICE_USER}\"\npassword = \"{SERVICE_PASSWORD}\"\n",
            self.port
        )
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
