//! A MariaDB server with jitgate in front of it as resource `my`, and the clients the tests use.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use jitgate_control::audit::{kind, ChainedEvent};
use jitgate_control::store::{SqliteStore, Store};
use jitgate_testkit::mariadb::MariaDbOptions;
use jitgate_testkit::{free_port, Gateway, GrantInfo, MariaDb};

pub struct Env {
    // Field order: the gateway stops before the server it relays to.
    pub gateway: Gateway,
    pub db: MariaDb,
    pub listen: u16,
    /// The address clients reach jitgate at: 127.0.0.1, or (see [`start_remote`]) one of this
    /// machine's other addresses.
    pub host: String,
}

/// Data every test starts with: customers with values masking must never let out.
pub const SEED: &str = "
CREATE TABLE app.customers (id int PRIMARY KEY, name varchar(40), email varchar(60),
  ssn varchar(11), card varchar(20));
INSERT INTO app.customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111'),
  (2, 'Bob Byte', 'bob@example.org', '234-56-7890', '5500 0000 0000 0004'),
  (3, 'Carla Costa', 'carla@inbox.example', '345-67-8901', '3400 000000 00009');
CREATE TABLE app.orders (id int PRIMARY KEY, customer int, total decimal(10,2));
INSERT INTO app.orders VALUES (10, 1, 12.50), (11, 1, 3.25), (12, 3, 99.00);
CREATE TABLE app.people (id int PRIMARY KEY, full_name varchar(60), born date,
  salary decimal(10,2), score int, nick varchar(30), note text, seen datetime);
INSERT INTO app.people VALUES
  (1, 'Zoë Ünal', '1985-07-23', 52340.50, 731, 'zo', 'likes tea', '2024-03-05 10:11:12'),
  (2, 'Ada Lovelace', '1815-12-10', 100000.00, -5, NULL, NULL, NULL),
  (3, NULL, NULL, NULL, NULL, 'x', '', '1999-12-31 23:59:59');
";

/// Clear values (and fragments of them) a masked subject must never see.
pub const CLEAR: [&str; 6] = [
    "123-45-6789",
    "45-6789",
    "ada@example.com",
    "4111 1111 1111 1111",
    "5500 0000 0000 0004",
    "234-56-7890",
];

fn sections(api_port: u16) -> String {
    format!(
        r#"
[api]
listen = "127.0.0.1:{api_port}"

[users.erin]
password_env = "ERIN_PASSWORD"
groups = ["admins"]

[users.rob]
password_env = "ROB_PASSWORD"
groups = ["readers"]

[[access]]
resources = ["my"]
requesters = ["group:readers"]
max_duration = "1h"
approvals = 0
read_only = true

[masking]
key_env = "MASK_KEY"
clear_groups = ["admins", "readers"]

[[masking.rules]]
resource = "my"
column = "app.customers.ssn"
mask = "partial"
keep_last = 4

[[masking.rules]]
resource = "my"
column = "app.customers.email"
mask = "email"

[[masking.rules]]
resource = "my"
column = "app.people.full_name"
mask = "hash"

[[masking.rules]]
resource = "my"
column = "app.people.score"
mask = "hash"

[[masking.rules]]
resource = "my"
column = "app.people.born"
mask = "generalize"
granularity = "month"

[[masking.rules]]
resource = "my"
column = "app.people.seen"
mask = "generalize"
granularity = "year"

[[masking.rules]]
resource = "my"
column = "app.people.salary"
mask = "generalize"
bucket = 1000

[[masking.rules]]
resource = "my"
column = "app.people.nick"
mask = "tokenize"

[[masking.rules]]
resource = "my"
column = "app.people.note"
mask = "redact"
"#
    )
}

/// Starts MariaDB (seeded) and jitgate; `None` (with a note) when MariaDB is not installed.
pub fn start() -> Option<Env> {
    start_with("")
}

/// Like [`start`], with extra `[server]` lines (TLS).
pub fn start_with(server_extra: &str) -> Option<Env> {
    start_custom(server_extra, MariaDbOptions::default(), &|_| String::new())
}

/// Like [`start`], with `[server.tls]` in `mode` (`required`, `optional`) on the test kit's
/// certificates, written into `dir`; also the CA file's path, for clients to trust.
pub fn start_tls(dir: &std::path::Path, mode: &str) -> Option<(Env, String)> {
    let [ca, cert, key] = jitgate_testkit::write_certificates(dir);
    let env = start_with(&format!(
        "[server.tls]\nmode = \"{mode}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n"
    ))?;
    Some((env, ca))
}

/// Like [`start_with`], MariaDB started with `options`, and extra lines of the resource's
/// upstream table made from the started server (its CA, for TLS).
pub fn start_custom(
    server_extra: &str,
    options: MariaDbOptions,
    upstream_extra: &dyn Fn(&MariaDb) -> String,
) -> Option<Env> {
    start_full(server_extra, options, upstream_extra, "", "127.0.0.1")
}

/// Like [`start`], the resource listening on every address with `resource_extra` lines in its
/// table, and clients connecting from one of this machine's addresses other than loopback, so
/// that jitgate sees them as another machine's. `None` (with a note) without such an address.
pub fn start_remote(resource_extra: &str) -> Option<Env> {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipping: this machine has no address but loopback");
        return None;
    };
    start_full(
        "",
        MariaDbOptions::default(),
        &|_| String::new(),
        resource_extra,
        &ip.to_string(),
    )
}

/// An address of this machine other than loopback: the source address of its default route
/// (a UDP socket's connect sends nothing).
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

fn start_full(
    server_extra: &str,
    options: MariaDbOptions,
    upstream_extra: &dyn Fn(&MariaDb) -> String,
    resource_extra: &str,
    host: &str,
) -> Option<Env> {
    if !MariaDb::available() {
        eprintln!("skipping: mariadb-install-db is not installed (scripts/install-deps test)");
        return None;
    }
    let db = MariaDb::start_with(options).expect("starting MariaDB");
    db.sql(SEED).expect("seeding");
    let listen = free_port();
    let listen_ip = if host == "127.0.0.1" {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"
{server_extra}

[resources.my]
kind = "mysql"
listen = "{listen_ip}:{listen}"
{resource_extra}

[resources.my.upstream]
{upstream}{upstream_extra}
{sections}
"#,
        upstream = db.upstream_toml(),
        upstream_extra = upstream_extra(&db),
        sections = sections(free_port()),
    );
    let gateway = Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[
            ("ROB_PASSWORD", "rob-pw-123"),
            ("ERIN_PASSWORD", "erin-pw-123"),
            ("MASK_KEY", "a-masking-key-of-enough-length-0123456789"),
        ],
    )
    .expect("starting jitgate");
    Some(Env {
        gateway,
        db,
        listen,
        host: host.to_owned(),
    })
}

/// What a client printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A grant (and credential) for `subject` on `my` from the administrator: erin sees data in
    /// clear (group `admins`), anybody else (alice) is masked.
    pub fn grant(&self, subject: &str) -> GrantInfo {
        self.gateway
            .grant(subject, "my", "10m")
            .expect("jitgate admin grant")
    }

    /// rob's read-only grant, requested (and approved by the access rule) through the API.
    pub fn rob(&self) -> (String, String) {
        let rob = self.gateway.user("rob");
        rob.login("rob-pw-123").expect("rob logs in");
        rob.ok(&["request", "my", "--duration", "10m", "--reason", "red team"])
            .expect("rob's request");
        let printed = rob.ok(&["connect", "my"]).expect("rob's connection");
        let mut lines = printed.lines();
        let command = lines.next().expect("a mysql command line");
        assert!(command.starts_with("mysql -h 127.0.0.1 -P "), "{printed}");
        let uri = lines.next().expect("a mysql:// URI").trim();
        let rest = uri.strip_prefix("mysql://").expect("a mysql:// URI");
        let (login, rest) = rest.split_once(':').expect("login");
        let (password, _) = rest.split_once('@').expect("password");
        (login.to_owned(), password.to_owned())
    }

    /// The `mariadb` client through jitgate, running `sql`.
    pub fn cli(&self, login: &str, password: &str, sql: &str) -> Outcome {
        self.cli_at(self.listen, login, password, sql)
    }

    /// The `mariadb` client through jitgate with extra options (`--default-auth=…`), running
    /// `sql`.
    pub fn cli_opts(&self, login: &str, password: &str, sql: &str, extra: &[&str]) -> Outcome {
        self.cli_with(self.listen, login, password, sql, extra)
    }

    /// The `mariadb` client straight to the server as the service account.
    pub fn cli_direct(&self, sql: &str) -> Outcome {
        self.cli_at(
            self.db.port(),
            jitgate_testkit::mariadb::SERVICE_USER,
            jitgate_testkit::mariadb::SERVICE_PASSWORD,
            sql,
        )
    }

    /// The `mariadb` client through jitgate in utf8mb4, running `sql`.
    pub fn cli_utf8(&self, login: &str, password: &str, sql: &str) -> Outcome {
        self.cli_with(
            self.listen,
            login,
            password,
            sql,
            &["--default-character-set=utf8mb4"],
        )
    }

    /// The `mariadb` client straight to the server in utf8mb4.
    pub fn cli_direct_utf8(&self, sql: &str) -> Outcome {
        self.cli_with(
            self.db.port(),
            jitgate_testkit::mariadb::SERVICE_USER,
            jitgate_testkit::mariadb::SERVICE_PASSWORD,
            sql,
            &["--default-character-set=utf8mb4"],
        )
    }

    fn cli_at(&self, port: u16, login: &str, password: &str, sql: &str) -> Outcome {
        self.cli_with(port, login, password, sql, &[])
    }

    fn cli_with(
        &self,
        port: u16,
        login: &str,
        password: &str,
        sql: &str,
        extra: &[&str],
    ) -> Outcome {
        // jitgate at the address the test reaches it at, the server directly on loopback.
        let host = if port == self.listen {
            self.host.as_str()
        } else {
            "127.0.0.1"
        };
        let out = Command::new("mariadb")
            .args([
                "--no-defaults",
                "--batch",
                "--no-auto-rehash",
                "--protocol=TCP",
            ])
            .args(extra)
            .args(["-h", host, "-P", &port.to_string()])
            .arg(format!("-u{login}"))
            .arg(format!("-p{password}"))
            .args(["--connect-timeout=10", "app", "-e", sql])
            .output()
            .expect("running mariadb");
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a PyMySQL script with `LOGIN`, `PASSWORD` and `PORT` in its globals (jitgate's port).
    pub fn python(&self, login: &str, password: &str, script: &str) -> Outcome {
        let prelude = format!(
            "import pymysql, json, sys\nLOGIN={login:?}\nPASSWORD={password:?}\nHOST={:?}\nPORT={}\n\
             def connect(**kw):\n    return pymysql.connect(host=HOST, port=PORT, user=LOGIN, password=PASSWORD, database='app', **kw)\n\
             {RAW_PACKETS}",
            self.host, self.listen
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .expect("running python3");
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.gateway.dir().join("jitgate.sqlite")).expect("opening the store")
    }

    /// Audit events, waiting up to 5 s until `until` holds for them.
    pub fn audit_until(&self, until: impl Fn(&[ChainedEvent]) -> bool) -> Vec<ChainedEvent> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.store().audit_after(0, 100_000).expect("reading audit");
            if until(&events) || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The details of the `login.failed` events, waiting up to 5 s until there are `at_least`.
    pub fn login_failures(&self, at_least: usize) -> Vec<serde_json::Value> {
        let failed = |e: &&ChainedEvent| e.event.kind == kind::LOGIN_FAILED;
        self.audit_until(|events| events.iter().filter(failed).count() >= at_least)
            .iter()
            .filter(failed)
            .map(|e| e.event.detail_value())
            .collect()
    }

    pub fn sessions(&self) -> Vec<jitgate_control::model::SessionRecord> {
        self.store().sessions(false).expect("reading sessions")
    }
}

pub fn assert_no_clear(what: &str, text: &str) {
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} leaked {clear:?}: {text}");
    }
}

/// Raw MySQL packets for scripts that speak the protocol themselves (`Env::python` defines
/// them): `read(s)` gives one packet's sequence number and payload, `send(s, seq, payload)`
/// frames and sends one.
const RAW_PACKETS: &str = r#"import socket, struct
def read(s):
    h = b''
    while len(h) < 4: h += s.recv(4 - len(h))
    n = h[0] | h[1] << 8 | h[2] << 16
    body = b''
    while len(body) < n: body += s.recv(n - len(body))
    return h[3], body
def send(s, seq, payload):
    s.sendall(struct.pack('<I', len(payload))[:3] + bytes([seq]) + payload)
"#;
