//! Throwaway PostgreSQL clusters.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::Context as _;

use crate::{free_port, run_checked};

/// How roles other than the superuser authenticate over TCP.
///
/// The superuser always gets `trust`, so the kit can set things up without a
/// password; this is the method a gateway's service user must get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// No password at all.
    #[default]
    Trust,
    /// Cleartext password (`password` in pg_hba.conf).
    Password,
    /// MD5 challenge; the role's password is stored as an MD5 hash.
    Md5,
    /// SCRAM-SHA-256, PostgreSQL's default.
    ScramSha256,
}

impl AuthMethod {
    fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }
}

/// What kind of cluster [`PgCluster::start`] should make.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Method for every role except the superuser on `host 127.0.0.1/32`.
    pub auth: AuthMethod,
    /// `(name, password)`: a LOGIN role that owns a database called `app`,
    /// the kind of account jitgate logs into upstream with.
    pub service_user: Option<(String, String)>,
    /// Turn on `ssl` with a certificate signed by a fresh CA; see
    /// [`PgCluster::ca_cert_path`].
    pub tls: bool,
    /// `max_connections`; tests of connection limits lower it.
    pub max_connections: u32,
    /// Extra `postgresql.conf` settings, applied last so they win.
    pub settings: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            auth: AuthMethod::Trust,
            service_user: None,
            tls: false,
            max_connections: 100,
            settings: Vec::new(),
        }
    }
}

/// A running PostgreSQL cluster in a temporary directory.
///
/// Dropping it stops the server (`pg_ctl -m immediate stop`: the data is
/// thrown away, so there is no point in a clean shutdown) and deletes the
/// directory.
pub struct PgCluster {
    port: u16,
    superuser: String,
    /// OS user the server runs as, when we are root and must switch.
    run_as: Option<&'static str>,
    ca_cert: Option<PathBuf>,
    // Declared last so it is removed after the server has been stopped.
    dir: tempfile::TempDir,
}

const HOST: &str = "127.0.0.1";
/// Used when the tests run as root: PostgreSQL refuses to run as root.
const SERVER_OS_USER: &str = "postgres";
const START_ATTEMPTS: usize = 5;

impl PgCluster {
    /// Creates (`initdb`) and starts a cluster on a free port of 127.0.0.1.
    ///
    /// Blocks until the server accepts connections (about a second).
    pub fn start(opts: ClusterOptions) -> anyhow::Result<PgCluster> {
        let root = is_root();
        let run_as = root.then_some(SERVER_OS_USER);
        let superuser = match run_as {
            Some(user) => user.to_string(),
            None => current_os_user()?,
        };
        // As root, stay out of a possibly private $TMPDIR the postgres user
        // could not enter. Either way the path must stay short: it holds the
        // Unix socket, whose path is limited to ~107 bytes.
        let base = if root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("jitgate-pg-")
            .tempdir_in(&base)
            .with_context(|| format!("creating a temp dir in {}", base.display()))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;

        let mut cluster = PgCluster {
            port: 0,
            superuser,
            run_as,
            ca_cert: None,
            dir,
        };
        std::fs::create_dir(cluster.socket_dir())?;
        if opts.tls {
            cluster.ca_cert = Some(write_tls_files(&cluster.tls_dir())?);
        }
        if let Some(user) = run_as {
            run_checked(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{user}:"))
                    .arg(cluster.dir.path()),
                "chown of the cluster directory",
            )?;
        }

        cluster.initdb()?;
        std::fs::write(cluster.data_dir().join("pg_hba.conf"), cluster.hba(&opts))?;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data_dir().join("postgresql.conf"))?;
        std::io::Write::write_all(&mut conf, b"\ninclude 'jitgate_testkit.conf'\n")?;

        // free_port() cannot reserve the port, so another process may take
        // it before the server binds it: then try again with another one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.port = free_port();
            std::fs::write(
                cluster.data_dir().join("jitgate_testkit.conf"),
                cluster.settings(&opts),
            )?;
            let _ = std::fs::remove_file(cluster.log_path());
            match cluster.pg_ctl_start() {
                Ok(()) => break,
                Err(_) if attempt < START_ATTEMPTS && cluster.lost_port_race() => continue,
                Err(e) => return Err(e),
            }
        }

        if let Some((user, password)) = &opts.service_user {
            let user = quote_ident(user);
            let sql = format!(
                "CREATE ROLE {user} LOGIN PASSWORD {};\n\
                 CREATE DATABASE app OWNER {user};\n\
                 GRANT CONNECT ON DATABASE app TO {user};\n",
                quote_literal(password)
            );
            cluster
                .psql("postgres", &sql)
                .context("creating the service user")?;
        }
        Ok(cluster)
    }

    /// Stops the server (fast shutdown: sessions are ended) and keeps its data, for tests of a
    /// server that goes away and comes back ([`start_again`](Self::start_again)).
    pub fn stop(&self) -> anyhow::Result<()> {
        run_checked(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        )
        .map(drop)
    }

    /// Starts a server [`stop`](Self::stop) stopped, on the same port.
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.pg_ctl_start()
    }

    /// TCP port on [`host`](Self::host).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Always "127.0.0.1": the cluster listens on loopback only.
    pub fn host(&self) -> &str {
        HOST
    }

    /// Directory holding the cluster's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Name of the bootstrap superuser: the OS user the server runs as.
    pub fn superuser(&self) -> &str {
        &self.superuser
    }

    /// PEM file of the CA that signed the server certificate, when the
    /// cluster was started with `tls: true`. The certificate names
    /// `127.0.0.1` and `localhost`, so `sslmode=verify-full` works.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// Runs `sql` with psql as the superuser over TCP and returns its stdout
    /// unchanged (`-A -t`: unaligned, no headers; rows end in newlines).
    ///
    /// The SQL is fed on stdin, so several statements, including ones that
    /// cannot run in a transaction block (CREATE DATABASE), are fine; the
    /// first error stops it and the error carries psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let mut cmd = Command::new(psql_program());
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", HOST, "-p", &self.port.to_string()])
            .args(["-U", &self.superuser, "-d", db, "-f", "-"]);
        clear_libpq_env(&mut cmd);
        cmd.env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("running psql")?;
        {
            let mut stdin = child.stdin.take().expect("piped stdin");
            std::io::Write::write_all(&mut stdin, sql.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            anyhow::bail!(
                "psql on {db} failed ({}): {}\nSQL: {sql}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A `postgresql://` URI for this cluster, with user and password
    /// percent-encoded.
    pub fn uri(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let mut s = format!("postgresql://{}", percent_encode(user));
        if let Some(pw) = password {
            let _ = write!(s, ":{}", percent_encode(pw));
        }
        let _ = write!(s, "@{HOST}:{}/{}", self.port, percent_encode(db));
        s
    }

    /// The server log so far (empty if there is none yet).
    pub fn log_contents(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// A command for a server program, run as the server's OS user.
    fn server_command(&self, program: &str) -> Command {
        let program = server_program(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new(runuser_program());
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // The postgres user may not be allowed into our working directory.
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        cmd
    }

    fn initdb(&self) -> anyhow::Result<()> {
        run_checked(
            self.server_command("initdb")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-U", &self.superuser])
                .args(["--auth=trust", "--encoding=UTF8", "--locale=C"])
                .args(["--no-sync", "--no-instructions"]),
            "initdb",
        )
        .map(drop)
        .context("is PostgreSQL installed? (set JITGATE_PG_BINDIR to its bin directory)")
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let res = run_checked(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_path())
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        );
        res.map(drop)
            .map_err(|e| e.context(format!("server log:\n{}", self.log_contents())))
    }

    fn lost_port_race(&self) -> bool {
        let log = self.log_contents();
        log.contains("could not bind") || log.contains("Address already in use")
    }

    fn hba(&self, opts: &ClusterOptions) -> String {
        let su = quote_hba(&self.superuser);
        format!(
            "# written by jitgate-testkit\n\
             local all all trust\n\
             host all {su} 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 {}\n",
            opts.auth.hba_name()
        )
    }

    fn settings(&self, opts: &ClusterOptions) -> String {
        let sock = self.socket_dir().display().to_string();
        let password_encryption = match opts.auth {
            AuthMethod::Md5 => "md5",
            _ => "scram-sha-256",
        };
        let mut settings: Vec<(&str, String)> = vec![
            ("listen_addresses", HOST.into()),
            ("port", self.port.to_string()),
            ("unix_socket_directories", sock),
            ("max_connections", opts.max_connections.to_string()),
            ("password_encryption", password_encryption.into()),
            // The data is thrown away: durability only costs time.
            ("fsync", "off".into()),
            ("synchronous_commit", "off".into()),
            ("full_page_writes", "off".into()),
            ("log_line_prefix", "%m [%p] %q%u@%d ".into()),
        ];
        if opts.tls {
            let tls = self.tls_dir();
            settings.push(("ssl", "on".into()));
            settings.push((
                "ssl_cert_file",
                tls.join("server.crt").display().to_string(),
            ));
            settings.push(("ssl_key_file", tls.join("server.key").display().to_string()));
        }
        let mut out = String::from("# written by jitgate-testkit\n");
        let extra = opts.settings.iter().map(|(k, v)| (k.as_str(), v.clone()));
        for (key, value) in settings.into_iter().chain(extra) {
            let _ = writeln!(out, "{key} = {}", quote_literal(&value));
        }
        out
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Writes a CA and a server certificate signed by it into `dir`; returns the
/// CA certificate's path. A separate CA (rather than one self-signed server
/// certificate) is what clients verify against in real deployments.
pub(crate) fn write_tls_files(dir: &Path) -> anyhow::Result<PathBuf> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    std::fs::create_dir(dir)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "jitgate-testkit CA");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;

    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca_cert.pem())?;
    std::fs::write(dir.join("server.crt"), cert.pem())?;
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, key.serialize_pem())?;
    // PostgreSQL refuses a key file that others can read.
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
    Ok(ca_path)
}

pub(crate) fn is_root() -> bool {
    // /proc/self belongs to the process's effective user; no libc needed.
    match std::fs::metadata("/proc/self") {
        Ok(m) => m.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false),
    }
}

fn current_os_user() -> anyhow::Result<String> {
    let out = run_checked(Command::new("id").arg("-un"), "id -un")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Where the server binaries are, or `None` to rely on `PATH`.
fn pg_bindir() -> Option<&'static Path> {
    static BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINDIR
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("JITGATE_PG_BINDIR") {
                return Some(PathBuf::from(dir));
            }
            if on_path("initdb") {
                return None;
            }
            // Debian keeps server binaries off PATH.
            let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|v| Path::new(&format!("/usr/lib/postgresql/{v}/bin/initdb")).exists())
                .collect();
            versions.sort_unstable();
            let v = if versions.contains(&15) {
                15
            } else {
                *versions.last()?
            };
            Some(PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        })
        .as_deref()
}

/// Whether `initdb` and `pg_ctl` can be found where [`PgCluster::start`] looks.
pub fn server_binaries_found() -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|name| match pg_bindir() {
            Some(dir) => dir.join(name).is_file(),
            None => on_path(name),
        })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

fn server_program(name: &str) -> PathBuf {
    match pg_bindir() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

fn psql_program() -> PathBuf {
    match pg_bindir() {
        Some(dir) if dir.join("psql").is_file() => dir.join("psql"),
        _ => PathBuf::from("psql"),
    }
}

fn runuser_program() -> &'static OsStr {
    // Root's PATH in CI may lack the sbin directories.
    if Path::new("/usr/sbin/runuser").exists() {
        OsStr::new("/usr/sbin/runuser")
    } else {
        OsStr::new("runuser")
    }
}

/// Keeps the developer's libpq environment from changing what psql does.
fn clear_libpq_env(cmd: &mut Command) {
    for var in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGSSLMODE",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_hba(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved() {
        assert_eq!(percent_encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
