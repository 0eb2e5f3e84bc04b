//! `jitgate demo` tells the whole story on its own and leaves nothing behind;
//! `--keep-running --json` gives scripts what they need and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn jitgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jitgate"))
}

#[test]
fn the_tour_runs_end_to_end_and_shows_masking_and_revocation() {
    let out = jitgate()
        .arg("demo")
        .output()
        .expect("running jitgate demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[1/8] alice asks for access",
        "is pending",
        "approved: grant",
        "[3/8] alice connects and queries: personal data is masked",
        "→ 0: the predicate only ever saw masked values",
        "refused: ERROR 42501",
        "terminating connection: access grant revoked",
        "audit trail intact:",
        "expired token(s)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // What the tour shows under `$ jitgate …` is what the CLI prints for people: never the
    // API's raw JSON, and listings as tables with their rows.
    assert!(!stdout.contains("{\""), "raw JSON in the tour:\n{stdout}");
    let expired = section(
        &stdout,
        "$ jitgate tokens list --expired",
        "$ jitgate tokens prune",
    );
    assert!(
        expired.contains("LOGIN") && expired.contains("alice"),
        "the expired tokens are listed:\n{expired}"
    );
    // alice's rows show masked SSNs, erin's the clear ones: step 3 has none of step 4's values.
    let masked = section(&stdout, "[3/8]", "[4/8]");
    let clear = section(&stdout, "[4/8]", "[5/8]");
    let clear_ssns: Vec<&str> = clear.split(" | ").filter(|cell| is_ssn(cell)).collect();
    assert_eq!(clear_ssns.len(), 3, "erin sees three clear SSNs:\n{clear}");
    for ssn in clear_ssns {
        assert!(!masked.contains(ssn), "alice saw {ssn}:\n{masked}");
    }
}

fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text.find(from).unwrap_or(0);
    let end = text[start..].find(to).map_or(text.len(), |e| start + e);
    &text[start..end]
}

fn is_ssn(cell: &str) -> bool {
    let b = cell.as_bytes();
    b.len() == 11
        && b[3] == b'-'
        && b[6] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || i == 6 || c.is_ascii_digit())
}

#[test]
fn keep_running_prints_json_and_stops_on_sigterm() {
    let mut child = jitgate()
        .args(["demo", "--keep-running", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting jitgate demo");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(info["resource"], "demo");
    assert!(info["api"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(info["postgres"]["port"].as_u64().is_some());
    for user in ["alice", "dana", "erin"] {
        assert!(info["users"][user]["password"].as_str().unwrap().len() >= 16);
    }
    // The demo's configuration, for tools that read its masking policy (the Python package).
    let config = std::path::PathBuf::from(info["config"].as_str().unwrap());
    let masking = jitgate_config::load_masking(&config).expect("the demo's [masking]");
    let mysql = jitgate_testkit::MariaDb::available();
    if mysql {
        assert_eq!(masking.resources, ["demo", "demo-mysql"]);
    } else {
        assert_eq!(masking.resources, ["demo"]);
        assert!(
            info.get("mysql").is_none(),
            "no MariaDB, no mysql key: {info}"
        );
    }
    assert!(!masking.masking.rules().is_empty());
    let upstream = info["upstream"]["uri"].as_str().unwrap().to_owned();
    let direct = Command::new("psql")
        .args([
            upstream.as_str(),
            "-X",
            "-A",
            "-t",
            "-c",
            "select count(*) from customers",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&direct.stdout).trim(), "1200");
    if mysql {
        let clear_ssn = Command::new("psql")
            .args([upstream.as_str(), "-X", "-A", "-t", "-c"])
            .arg("select ssn from customers where id = 1")
            .output()
            .unwrap();
        let clear_ssn = String::from_utf8_lossy(&clear_ssn.stdout).trim().to_owned();
        assert!(is_ssn(&clear_ssn), "{clear_ssn}");
        the_mariadb_resource_serves_the_same_customers(&info, &clear_ssn);
    } else {
        eprintln!("MariaDB is not installed: the demo's MySQL resource is not tested");
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "demo exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "demo did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The throwaway PostgreSQL is gone with it.
    let after = Command::new("psql")
        .args([upstream.as_str(), "-X", "-c", "select 1"])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    assert!(
        !after.status.success(),
        "the demo's PostgreSQL still answers"
    );
}

/// `jitgate CLI` as one of the demo's users: its own token cache in `home`.
fn cli(info: &serde_json::Value, home: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = jitgate()
        .args(args)
        .env("JITGATE_SERVER", info["api"].as_str().unwrap())
        .env("XDG_CONFIG_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jitgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Logs `user` in, requests the MariaDB resource and returns what `jitgate connect` printed
/// once the grant is live (`approver` approves it when the user's requests need approval).
fn connect_mysql(info: &serde_json::Value, user: &str, approver: Option<&str>) -> String {
    let resource = info["mysql"]["resource"].as_str().unwrap();
    let homes = tempfile::tempdir().unwrap();
    let home = |u: &str| homes.path().join(u);
    let password = |u: &str| format!("{}\n", info["users"][u]["password"].as_str().unwrap());
    cli(
        info,
        &home(user),
        &["login", user, "--password-stdin"],
        &password(user),
    );
    let request = cli(
        info,
        &home(user),
        &[
            "request",
            resource,
            "--duration",
            "10m",
            "--reason",
            "demo test",
            "--json",
        ],
        "",
    );
    if let Some(approver) = approver {
        let request: serde_json::Value = serde_json::from_str(&request).unwrap();
        let id = request["id"].as_str().unwrap();
        cli(
            info,
            &home(approver),
            &["login", approver, "--password-stdin"],
            &password(approver),
        );
        cli(info, &home(approver), &["approve", id], "");
    }
    cli(info, &home(user), &["connect", resource], "")
}

/// Runs `sql` with the real `mariadb` client on the command line `jitgate connect` printed
/// (`mysql -h H -P P -u LOGIN -pPASSWORD DB`); its output and whether it succeeded.
fn mariadb(printed: &str, sql: &str) -> (bool, String) {
    let command = printed.lines().next().unwrap();
    let args: Vec<&str> = command.split(' ').collect();
    assert_eq!(args[0], "mysql", "{printed}");
    assert!(
        printed.lines().nth(1).unwrap().starts_with("mysql://"),
        "{printed}"
    );
    let out = Command::new("mariadb")
        .args([
            "--no-defaults",
            "--batch",
            "--skip-column-names",
            "--protocol=TCP",
        ])
        .args(&args[1..])
        .args(["-e", sql])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The MariaDB resource holds the PostgreSQL resource's customers: erin (clear access) counts
/// them and reads customer 1's SSN as PostgreSQL has it; alice (masked) never reads it.
fn the_mariadb_resource_serves_the_same_customers(info: &serde_json::Value, clear_ssn: &str) {
    let mysql = &info["mysql"];
    assert_eq!(mysql["resource"], "demo-mysql");
    assert_eq!(mysql["host"], "127.0.0.1");
    assert_eq!(mysql["database"], "app");
    let port = mysql["port"].as_u64().expect("a port");
    let erin = connect_mysql(info, "erin", None);
    assert!(erin.contains(&format!(" -P {port} ")), "{erin}");
    let (ok, count) = mariadb(&erin, "SELECT count(*) FROM customers");
    assert!(ok, "{count}");
    assert_eq!(count.trim(), "1200");
    let (ok, ssn) = mariadb(&erin, "SELECT ssn FROM customers WHERE id = 1");
    assert!(ok, "{ssn}");
    assert_eq!(ssn.trim(), clear_ssn);
    // alice's rules mask the SSN (or, where a query cannot be masked, refuse it): either way
    // the clear value never reaches her.
    let alice = connect_mysql(info, "alice", Some("dana"));
    let (_, seen) = mariadb(&alice, "SELECT ssn FROM customers WHERE id = 1");
    assert!(!seen.contains(clear_ssn), "alice read {clear_ssn}: {seen}");
    assert!(!seen.trim().is_empty());
}

/// `--fleet`: three replicas on a PostgreSQL store; the JSON line keeps its keys (pointing at the
/// first replica) and gains `replicas`, each of which answers `/ready`.
#[test]
fn keep_running_fleet_lists_three_ready_replicas() {
    let mut child = jitgate()
        .args(["demo", "--fleet", "--keep-running", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting jitgate demo --fleet");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(info["resource"], "demo");
    let replicas = info["replicas"].as_array().expect("replicas");
    assert_eq!(replicas.len(), 3);
    assert_eq!(replicas[0]["api"], info["api"]);
    assert_eq!(replicas[0]["postgres"]["port"], info["postgres"]["port"]);
    for r in replicas {
        let api = r["api"].as_str().unwrap();
        let ready = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{api}/ready"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&ready.stdout), "200", "{api}");
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "demo exited with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "demo --fleet did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
