//! Throwaway MariaDB servers: `mariadb-install-db` and `mariadbd` in a temporary directory, on a
//! free loopback port, as the `mysql` OS user when run as root (mariadbd refuses root). Dropping
//! the server kills it and deletes the directory. `jitgate demo` runs its MariaDB resource's
//! upstream this way, and the MySQL front's tests run theirs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::{free_port, run_checked};

/// How long a new server gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The service account a server gets by default: the account jitgate logs in upstream as.
pub const SERVICE_USER: &str = "svc";
pub const SERVICE_PASSWORD: &str = "svc-secret";

/// What a server is started with.
#[derive(Debug, Clone)]
pub struct MariaDbOptions {
    /// The service account (`mysql_native_password`).
    pub service_user: String,
    pub service_password: String,
    /// The database created at start.
    pub database: String,
    /// What the service account may do, as the `GRANT` privileges on `ON` (e.g. `ALL ON *.*`).
    pub grant: String,
    /// A certificate for `127.0.0.1`/`localhost` signed by a CA of its own
    /// ([`MariaDb::ca_cert_path`]): the server then speaks TLS.
    pub tls: bool,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        MariaDbOptions {
            service_user: SERVICE_USER.into(),
            service_password: SERVICE_PASSWORD.into(),
            database: "app".into(),
            grant: "ALL ON *.*".into(),
            tls: false,
        }
    }
}

/// A running MariaDB server with a database and a service account (see [`MariaDbOptions`]).
pub struct MariaDb {
    port: u16,
    options: MariaDbOptions,
    child: Option<Child>,
    // Declared last so it is removed after the server has been stopped.
    dir: tempfile::TempDir,
}

/// `program args…`, as the `mysql` user when we are root (mariadbd refuses root).
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    if crate::cluster::is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "mysql", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn server_binary() -> PathBuf {
    ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| which("mariadbd"))
        .unwrap_or_else(|| PathBuf::from("mariadbd"))
}

/// `program`'s path on `PATH` (without running it: some of MariaDB's tools act on a bare run).
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn on_path(program: &str) -> bool {
    which(program).is_some()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

impl MariaDb {
    /// Whether a MariaDB server can be started here (the server and its client are installed).
    pub fn available() -> bool {
        on_path("mariadb-install-db") && on_path("mariadb") && Path::new(&server_binary()).exists()
    }

    /// Starts a server with the default options: database `app`, the service account
    /// [`SERVICE_USER`] with all privileges.
    pub fn start() -> anyhow::Result<MariaDb> {
        MariaDb::start_with(MariaDbOptions::default())
    }

    pub fn start_with(options: MariaDbOptions) -> anyhow::Result<MariaDb> {
        let dir = tempfile::Builder::new()
            .prefix("jitgate-mariadb-")
            .tempdir()?;
        // Servers running at once must not share temporary files.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let tls = if options.tls {
            Some(crate::cluster::write_tls_files(&dir.path().join("tls"))?)
        } else {
            None
        };
        if crate::cluster::is_root() {
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
            options,
            child: None,
            dir,
        };
        let log = std::fs::File::create(db.dir.path().join("stdout.log"))?;
        let mut server = command(server_binary());
        server
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
            ]);
        if let Some(ca) = &tls {
            let tls_dir = ca.parent().unwrap_or(Path::new("."));
            server
                .arg(format!("--ssl-ca={}", ca.display()))
                .arg(format!(
                    "--ssl-cert={}",
                    tls_dir.join("server.crt").display()
                ))
                .arg(format!(
                    "--ssl-key={}",
                    tls_dir.join("server.key").display()
                ));
        }
        let child = server
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mariadbd")?;
        db.child = Some(child);
        db.wait_ready()?;
        let o = &db.options;
        db.sql(&format!(
            "CREATE DATABASE `{database}`; \
             CREATE USER {user}@'%' IDENTIFIED VIA mysql_native_password \
               USING PASSWORD({password}); \
             GRANT {grant} TO {user}@'%';",
            database = o.database.replace('`', "``"),
            user = quote(&o.service_user),
            password = quote(&o.service_password),
            grant = o.grant,
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

    /// Runs SQL (of any length: it goes on standard input) as the server's root, over its
    /// socket; returns what the client printed.
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        use std::io::Write as _;
        let mut child = self
            .root_client()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running the mariadb client")?;
        let mut stdin = child.stdin.take().context("the client's standard input")?;
        let input = sql.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output()?;
        let written = writer.join();
        if !out.status.success() {
            anyhow::bail!(
                "SQL as root failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if !matches!(written, Ok(Ok(()))) {
            anyhow::bail!("SQL as root: the client did not read the whole script");
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service account's name and password.
    pub fn service_account(&self) -> (&str, &str) {
        (&self.options.service_user, &self.options.service_password)
    }

    /// The CA that signed the server's certificate, when started with `tls`.
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        let ca = self.dir.path().join("tls").join("ca.crt");
        (self.options.tls && ca.exists()).then_some(ca)
    }

    /// A `kind = "mysql"` resource's upstream table for this server, logging in as the service
    /// account.
    pub fn upstream_toml(&self) -> String {
        format!(
            "host = \"127.0.0.1\"\nport = {}\ndatabase = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\n",
            self.port, self.options.database, self.options.service_user, self.options.service_password
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
