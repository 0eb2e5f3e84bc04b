//! Runs the jitgate binary the way an operator would, for end-to-end tests.

use std::ffi::OsString;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;

/// How long `serve` gets to open all its listeners.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `serve` gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What `jitgate admin grant ... --json` prints: one issued credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GrantInfo {
    pub grant_id: String,
    pub subject: String,
    pub resource: String,
    pub login: String,
    pub password: String,
    /// RFC 3339 timestamp.
    pub expires_at: String,
    /// `postgresql://LOGIN:PASSWORD@HOST:PORT/DATABASE`, ready for a client.
    pub uri: String,
}

/// A `jitgate serve` process with its own config and working directory.
///
/// The config is written to `jitgate.toml` in a temp dir that is also the
/// process's working directory, so relative paths in it (the store) land
/// there too. Stdout and stderr both go to `jitgate.log` in that dir, so a
/// failing test can print what the server said. Dropping it kills the
/// process and deletes the directory.
///
/// Every gateway serves the HTTP API. A config without an `[api]` table gets
/// one on a free loopback port (rather than the default 8080), so that
/// gateways of tests running in parallel do not fight over one port.
pub struct Gateway {
    bin: PathBuf,
    config_path: PathBuf,
    env: Vec<(OsString, OsString)>,
    listen: Vec<SocketAddr>,
    api: Option<SocketAddr>,
    child: Option<Child>,
    last_status: Option<ExitStatus>,
    dir: tempfile::TempDir,
}

impl Gateway {
    /// Writes `config_toml` and starts `BIN serve --config FILE`, waiting
    /// until every `listen` address in the config accepts TCP connections.
    pub fn start(bin: &Path, config_toml: &str) -> anyhow::Result<Gateway> {
        Self::start_with_env(bin, config_toml, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables (for
    /// `password_env`, `RUST_LOG`, ...) given to every command it runs.
    pub fn start_with_env(
        bin: &Path,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Gateway> {
        let dir = tempfile::Builder::new().prefix("jitgate-gw-").tempdir()?;
        let config_path = dir.path().join("jitgate.toml");
        let config_toml = with_api_section(config_toml);
        std::fs::write(&config_path, &config_toml)?;
        let mut gw = Gateway {
            bin: bin.to_path_buf(),
            config_path,
            env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
            api: api_addr(&config_toml),
            // The API is waited for too, but kept apart: tests index these as the resources'.
            listen: listen_addrs(&config_toml)
                .into_iter()
                .filter(|a| Some(*a) != api_addr(&config_toml))
                .collect(),
            child: None,
            last_status: None,
            dir,
        };
        gw.spawn()?;
        Ok(gw)
    }

    /// The config file the process was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The process's working directory (config, log, relative store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The addresses waited for at start besides the API's: every `listen`
    /// (or `*_listen`) key in the config other than `[api] listen`, with
    /// 0.0.0.0/:: mapped to loopback.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen
    }

    /// `http://HOST:PORT` of the HTTP API (`[api] listen`).
    pub fn api_url(&self) -> anyhow::Result<String> {
        let addr = self
            .api
            .context("the config has no usable [api] listen address")?;
        Ok(format!("http://{addr}"))
    }

    /// The CLI as `user`: commands run with `JITGATE_SERVER` set to this gateway's API and a
    /// configuration folder (and so a token cache) of that user's own.
    pub fn user(&self, user: &str) -> crate::CliUser<'_> {
        crate::CliUser::new(self, user)
    }

    /// A command for the jitgate binary with the gateway's directory and environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Plain logs are easier to search in assertions; callers may override.
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `BIN ARGS... --config FILE` to completion (any subcommand other
    /// than `serve`), with the gateway's directory and environment.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command()
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} {args:?}", self.bin.display()))
    }

    /// `jitgate admin grant SUBJECT RESOURCE --duration D --json` (offline, on the store), parsed.
    pub fn grant(
        &self,
        subject: &str,
        resource: &str,
        duration: &str,
    ) -> anyhow::Result<GrantInfo> {
        let args = [
            "admin",
            "grant",
            subject,
            resource,
            "--duration",
            duration,
            "--json",
        ];
        let out = checked(self.run(&args)?, &args)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Take the last JSON-looking line, in case logs share stdout.
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .with_context(|| format!("no JSON line in `jitgate grant` output:\n{stdout}"))?;
        serde_json::from_str(line)
            .with_context(|| format!("parsing `jitgate grant` output: {line}"))
    }

    /// `jitgate admin revoke GRANT_ID` (offline, on the store), failing unless it exits
    /// successfully.
    pub fn revoke(&self, grant_id: &str) -> anyhow::Result<()> {
        let args = ["admin", "revoke", grant_id];
        checked(self.run(&args)?, &args).map(drop)
    }

    /// Everything the server printed so far (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit (killing it after 10s), so tests
    /// can check graceful shutdown. Returns how it exited; calling it again
    /// returns the same status.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return self.last_status.context("the gateway was never started");
        };
        // `sh -c kill` rather than a libc dependency; the builtin always exists.
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait()?;
                self.last_status = Some(status);
                anyhow::bail!(
                    "jitgate serve ignored SIGTERM for {STOP_TIMEOUT:?}; killed it. Log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.last_status = Some(status);
        Ok(status)
    }

    /// Stops the server (SIGTERM) and starts it again with the same config,
    /// store and environment. The log is appended to.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.spawn()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("jitgate.log")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = self
            .command()
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} serve", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait()? {
                self.child = None;
                self.last_status = Some(status);
                anyhow::bail!(
                    "jitgate serve exited early ({status}). Log:\n{}",
                    self.log()
                );
            }
            let probed: Vec<&SocketAddr> = self.listen.iter().chain(&self.api).collect();
            let ready = if probed.is_empty() {
                // Nothing to probe: settle for "still alive after a moment".
                start.elapsed() >= Duration::from_millis(300)
            } else {
                probed.iter().all(|addr| {
                    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
                })
            };
            if ready {
                // Someone else may own the port: give a server that failed to
                // bind a moment to exit, and look once more.
                std::thread::sleep(Duration::from_millis(100));
                if child.try_wait()?.is_none() {
                    return Ok(());
                }
                continue;
            }
            if start.elapsed() >= READY_TIMEOUT {
                let _ = child.kill();
                self.last_status = child.wait().ok();
                self.child = None;
                anyhow::bail!(
                    "jitgate serve did not accept connections on {:?} (API {:?}) within {READY_TIMEOUT:?}. Log:\n{}",
                    self.listen,
                    self.api,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn checked(out: Output, args: &[&str]) -> anyhow::Result<Output> {
    if !out.status.success() {
        anyhow::bail!(
            "jitgate {args:?} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// The config with an `[api]` table on a free loopback port added, unless it has one.
fn with_api_section(config_toml: &str) -> String {
    let has_api = config_toml
        .parse::<toml::Table>()
        .map_or(true, |t| t.contains_key("api"));
    if has_api {
        return config_toml.to_owned();
    }
    format!(
        "{config_toml}\n[api]\nlisten = \"127.0.0.1:{}\"\n",
        crate::free_port()
    )
}

/// `[api] listen` of the config, with 0.0.0.0/:: mapped to loopback.
fn api_addr(config_toml: &str) -> Option<SocketAddr> {
    let table = config_toml.parse::<toml::Table>().ok()?;
    let listen = table.get("api")?.get("listen")?.as_str()?;
    let mut addr: SocketAddr = listen.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Some(addr)
}

/// Every `listen`/`*_listen` string (or array of strings) anywhere in the
/// config that parses as a socket address with a non-zero port. An invalid
/// config yields none: the server will then fail on its own, with a better
/// message than ours.
fn listen_addrs(config_toml: &str) -> Vec<SocketAddr> {
    fn walk(value: &toml::Value, key: Option<&str>, out: &mut Vec<SocketAddr>) {
        match value {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(v, Some(k), out)),
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, key, out)),
            toml::Value::String(s)
                if key.is_some_and(|k| k == "listen" || k.ends_with("_listen")) =>
            {
                if let Ok(mut addr) = s.parse::<SocketAddr>() {
                    if addr.port() != 0 {
                        if addr.ip().is_unspecified() {
                            addr.set_ip(match addr.ip() {
                                IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                                IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                            });
                        }
                        out.push(addr);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = config_toml.parse::<toml::Table>() {
        walk(&toml::Value::Table(table), None, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listen_addresses() {
        let cfg = r#"
            [server]
            store = "x.sqlite"
            admin_listen = "0.0.0.0:7000"
            [resources.a]
            listen = "127.0.0.1:6543"
            [resources.b]
            listen = ["127.0.0.1:6544", "127.0.0.1:0"]
            [resources.b.upstream]
            host = "127.0.0.1"
            port = 5432
        "#;
        let addrs: Vec<String> = listen_addrs(cfg).iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs.len(), 3, "{addrs:?}");
        for want in ["127.0.0.1:7000", "127.0.0.1:6543", "127.0.0.1:6544"] {
            assert!(
                addrs.contains(&want.to_string()),
                "{want} missing from {addrs:?}"
            );
        }
        assert!(listen_addrs("not [valid toml").is_empty());
    }

    #[test]
    fn configs_without_an_api_get_one_on_a_free_port() {
        let added = with_api_section("[server]\nworkers = 1\n");
        let addr = api_addr(&added).expect("an [api] listen address");
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{added}");
        assert_eq!(listen_addrs(&added), vec![addr]);

        let own = "[api]\nlisten = \"0.0.0.0:9999\"\n";
        assert_eq!(with_api_section(own), own);
        assert_eq!(api_addr(own), Some("127.0.0.1:9999".parse().unwrap()));
        // An unparsable config is left for the server to complain about.
        assert_eq!(with_api_section("not [valid"), "not [valid");
    }
}
