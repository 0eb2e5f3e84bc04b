//! The jitgate CLI run as one user against a [`Gateway`]'s API, for end-to-end tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use anyhow::Context as _;

use crate::Gateway;

/// One user's CLI: `JITGATE_SERVER` points at the gateway's API and `XDG_CONFIG_HOME` at a
/// folder of the user's own inside the gateway's directory, so each user has a token cache and
/// several users can take turns in one test.
pub struct CliUser<'g> {
    gateway: &'g Gateway,
    name: String,
}

impl<'g> CliUser<'g> {
    pub(crate) fn new(gateway: &'g Gateway, name: &str) -> CliUser<'g> {
        CliUser {
            gateway,
            name: name.to_owned(),
        }
    }

    /// The user's configuration folder (`XDG_CONFIG_HOME`); the token cache is
    /// `jitgate/token.json` inside it.
    pub fn config_home(&self) -> PathBuf {
        self.gateway.dir().join("users").join(&self.name)
    }

    /// `jitgate login USER --password-stdin`, failing unless it succeeds.
    pub fn login(&self, password: &str) -> anyhow::Result<()> {
        let args = ["login", self.name.as_str(), "--password-stdin"];
        let out = self.run_with_stdin(&args, &format!("{password}\n"))?;
        crate::gateway::checked(out, &args).map(drop)
    }

    /// Runs `jitgate ARGS...` as this user with no standard input; any outcome is returned.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command(args)?
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running jitgate {args:?} as {}", self.name))
    }

    /// Runs `jitgate ARGS...` with `input` on standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> anyhow::Result<Output> {
        let mut child = self
            .command(args)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting jitgate {args:?} as {}", self.name))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input closes the pipe: not our failure.
            let _ = stdin.write_all(input.as_bytes());
        }
        child
            .wait_with_output()
            .with_context(|| format!("waiting for jitgate {args:?} as {}", self.name))
    }

    /// Starts `jitgate ARGS...` (e.g. `audit --follow`) with its standard output piped; the
    /// caller reads it and ends the child.
    pub fn spawn(&self, args: &[&str]) -> anyhow::Result<std::process::Child> {
        self.command(args)?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting jitgate {args:?} as {}", self.name))
    }

    /// Runs `jitgate ARGS...` and returns its standard output, failing unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = crate::gateway::checked(self.run(args)?, args)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `jitgate ARGS... --json` and parses what it prints.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let stdout = self.ok(&with_json)?;
        serde_json::from_str(stdout.trim())
            .with_context(|| format!("parsing the output of jitgate {with_json:?}: {stdout}"))
    }

    fn command(&self, args: &[&str]) -> anyhow::Result<std::process::Command> {
        let home = self.config_home();
        std::fs::create_dir_all(&home)?;
        let mut cmd = self.gateway.command();
        cmd.args(args)
            .env("JITGATE_SERVER", self.gateway.api_url()?)
            .env("XDG_CONFIG_HOME", &home)
            // The CLI must not fall back to the tester's own configuration folder.
            .env("HOME", &home);
        Ok(cmd)
    }
}
