//! The Debian package installed with dpkg on this machine: the binary (stripped), the `jitgate`
//! system user, the unit and the example configuration; the unit's command, run as that user,
//! serves and answers `/ready`; purging removes the user and the state.
//!
//! It installs system-wide, so it is ignored by a plain `cargo test`: `.ci/run` builds the
//! package with `scripts/build-deb` and runs it as root with `JITGATE_DEB` naming the package
//! (`cargo test -p jitgate --test deb -- --ignored`); run that way without either, it fails.
//! Without systemd running (as in containers), the unit's `ExecStart` is run directly as the
//! unit's user.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ready(api: &str) -> bool {
    Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{api}/ready"),
        ])
        .output()
        .is_ok_and(|o| o.stdout == b"200")
}

#[test]
#[ignore = "installs a package system-wide: .ci/run builds it and runs this as root"]
fn the_package_installs_a_service_that_becomes_ready() {
    let deb = std::env::var("JITGATE_DEB")
        .expect("JITGATE_DEB names the package to install (scripts/build-deb prints it)");
    assert_eq!(
        run(Command::new("id").arg("-u")).trim(),
        "0",
        "the package test installs system-wide and needs root"
    );
    run(Command::new("dpkg").args(["-i", &deb]));
    let file = run(Command::new("file").arg("/usr/bin/jitgate"));
    assert!(!file.contains("with debug_info"), "{file}");
    run(Command::new("getent").args(["passwd", "jitgate"]));
    let unit = std::fs::read_to_string("/lib/systemd/system/jitgate.service").expect("unit");
    assert!(unit.contains("User=jitgate"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    assert_eq!(
        exec,
        "/usr/bin/jitgate serve --config /etc/jitgate/jitgate.toml"
    );

    // The installed configuration with free ports (tests never take fixed ones).
    let api_port = jitgate_testkit::free_port();
    let pg_port = jitgate_testkit::free_port();
    let config = std::fs::read_to_string("/etc/jitgate/jitgate.toml")
        .expect("the example configuration")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{api_port}"))
        .replace("127.0.0.1:6432", &format!("127.0.0.1:{pg_port}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jitgate.toml");
    std::fs::write(&path, config).expect("config");
    run(Command::new("chmod").arg("755").arg(dir.path()));
    run(Command::new("chmod").arg("644").arg(&path));

    // As the unit's user, directly (a wrapper such as runuser would outlive a kill).
    use std::os::unix::process::CommandExt;
    let uid: u32 = run(Command::new("id").args(["-u", "jitgate"]))
        .trim()
        .parse()
        .expect("uid");
    let gid: u32 = run(Command::new("id").args(["-g", "jitgate"]))
        .trim()
        .parse()
        .expect("gid");
    let log = std::fs::File::create(dir.path().join("jitgate.log")).expect("log");
    let mut server = Command::new("/usr/bin/jitgate")
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir("/var/lib/jitgate")
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting the service's command");
    let api = format!("http://127.0.0.1:{api_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut is_ready = false;
    while Instant::now() < deadline && !is_ready {
        is_ready = ready(&api);
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(dir.path().join("jitgate.log")).unwrap_or_default();
    run(Command::new("dpkg").args(["--purge", "jitgate"]));
    assert!(is_ready, "never ready: {log}");
    assert!(!std::path::Path::new("/usr/bin/jitgate").exists());
    assert!(Command::new("getent")
        .args(["passwd", "jitgate"])
        .output()
        .is_ok_and(|o| !o.status.success()));
}
