//! Three `jitgate serve` replicas on one PostgreSQL store, as real processes: a revocation made
//! through one replica cuts a psql session on another within a second; a replica killed with
//! SIGKILL leaves the others serving and the audit chain verifiable; `/metrics` parses with the
//! official Prometheus text parser.

mod common;

use common::{SERVICE_PASSWORD, SERVICE_USER};
use jitgate_control::audit::ChainVerifier;
use jitgate_control::store::{PostgresStore, PostgresStoreOptions, Store};
use jitgate_testkit::{free_port, AuthMethod, ClusterOptions, Gateway, PgCluster};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Fleet {
    // Field order: the replicas stop before the clusters they use.
    replicas: Vec<Gateway>,
    store_url: String,
    /// The store's own cluster, when it is not the upstream's.
    store_cluster: Option<PgCluster>,
    cluster: PgCluster,
}

const DANA_PASSWORD: &str = "dana-secret-pw";

fn replica_config(name: &str, store_url: &str, pg_port: u16, server_extra: &str) -> String {
    format!(
        r#"
[server]
store = "{store_url}"
replica = "{name}"
store_grace = "5s"
{server_extra}

[users.dana]
password_env = "DANA_PW"
groups = ["dba"]

[roles]
approver = ["dba"]
admin = ["dba"]

[[access]]
resources = ["app"]
requesters = ["group:dba"]
max_duration = "1h"
approvals = 1
approver_groups = ["dba"]

[resources.app]
kind = "postgres"
listen = "127.0.0.1:{listen}"

[resources.app.upstream]
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "{SERVICE_USER}"
password_env = "SVC_PASSWORD"
tls = "disable"
"#,
        listen = free_port(),
    )
}

/// One cluster is both the upstream (`app`) and the store (`jitgate_store`).
fn start_fleet() -> Fleet {
    start_fleet_of(&["a", "b", "c"], false)
}

/// Replicas `names`; with `separate_store`, the store has a cluster of its own (which a test
/// may stop without stopping the upstream).
fn start_fleet_of(names: &[&str], separate_store: bool) -> Fleet {
    start_fleet_with(names, separate_store, false, "")
}

/// [`start_fleet_of`], with the store's cluster serving TLS (a certificate of a test CA) when
/// `store_tls`, and `server_extra` added to every replica's `[server]` (where `{CA}` stands
/// for the store's CA file).
fn start_fleet_with(
    names: &[&str],
    separate_store: bool,
    store_tls: bool,
    server_extra: &str,
) -> Fleet {
    let cluster = PgCluster::start(ClusterOptions {
        auth: AuthMethod::ScramSha256,
        service_user: Some((SERVICE_USER.into(), SERVICE_PASSWORD.into())),
        ..ClusterOptions::default()
    })
    .expect("starting PostgreSQL");
    let store_cluster = separate_store.then(|| {
        PgCluster::start(ClusterOptions {
            tls: store_tls,
            ..ClusterOptions::default()
        })
        .expect("starting the store's PostgreSQL")
    });
    let home = store_cluster.as_ref().unwrap_or(&cluster);
    home.psql("postgres", "CREATE DATABASE jitgate_store")
        .expect("creating the store's database");
    let store_url = home.uri(home.superuser(), None, "jitgate_store");
    let server_extra = match home.ca_cert_path() {
        Some(ca) => server_extra.replace("{CA}", &ca.display().to_string()),
        None => server_extra.to_owned(),
    };
    let env = [
        ("SVC_PASSWORD", SERVICE_PASSWORD),
        ("DANA_PW", DANA_PASSWORD),
    ];
    let replicas = names
        .iter()
        .map(|name| {
            let config = replica_config(name, &store_url, cluster.port(), &server_extra);
            Gateway::start_with_env(env!("CARGO_BIN_EXE_jitgate").as_ref(), &config, &env)
                .expect("starting a replica")
        })
        .collect();
    Fleet {
        replicas,
        store_url,
        store_cluster,
        cluster,
    }
}

impl Fleet {
    fn store(&self) -> PostgresStore {
        PostgresStore::open(&PostgresStoreOptions::new(&self.store_url)).expect("the store")
    }

    /// A connection URI of `grant` pointed at replica `i`'s PostgreSQL front.
    fn uri_on(&self, uri: &str, i: usize) -> String {
        let (head, rest) = uri.split_once('@').expect("uri with credentials");
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        format!("{head}@{}/{path}", self.replicas[i].listen_addrs()[0])
    }

    /// Waits until an open session of `replica` is in the store.
    fn wait_for_session_on(&self, replica: &str) -> String {
        let store = self.store();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let open = store.sessions(true).expect("sessions");
            if let Some(s) = open.iter().find(|s| s.replica == replica) {
                return s.id.clone();
            }
            assert!(Instant::now() < deadline, "no session opened on {replica}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn verify_chain(&self) -> u64 {
        let events = self.store().audit_after(0, 1_000_000).expect("audit");
        let mut verifier = ChainVerifier::default();
        for e in &events {
            verifier.check(e).expect("the fleet's chain is unbroken");
        }
        verifier.checked
    }
}

fn long_psql(uri: &str) -> Child {
    Command::new("psql")
        .arg(uri)
        .args(["-X", "-c", "select pg_sleep(60)"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running psql")
}

fn psql_ok(uri: &str) -> bool {
    Command::new("psql")
        .arg(uri)
        .args(["-X", "-A", "-t", "-c", "select 1"])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("running psql")
        .status
        .success()
}

fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// `/metrics` of the API at `api`, parsed with Prometheus' own parser: one line per sample,
/// `name {labels} value`.
fn prometheus_samples(api: &str) -> String {
    let (code, text) = http_get(&format!("{api}/metrics"));
    assert_eq!(code, 200);
    let parsed = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
             for f in p(sys.stdin.read()):\n    for s in f.samples: print(s.name, s.labels, s.value)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("running the Prometheus parser");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    String::from_utf8_lossy(&parsed.stdout).into_owned()
}

/// A webhook endpoint that accepts every POST with 204 and counts them.
struct WebhookSink {
    addr: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl WebhookSink {
    fn start() -> WebhookSink {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        WebhookSink { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> usize {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The behaviour the fleet exists for: revoke anywhere, cut everywhere, within a second.
#[test]
fn a_revocation_through_replica_a_cuts_a_psql_session_on_replica_c() {
    let fleet = start_fleet();
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let mut on_c = long_psql(&fleet.uri_on(&grant.uri, 2));
    fleet.wait_for_session_on("c");

    let dana = fleet.replicas[0].user("dana");
    dana.login(DANA_PASSWORD)
        .expect("dana logs in on replica a");
    let revoked_at = Instant::now();
    dana.ok(&["revoke", &grant.grant_id]).expect("revoke on a");
    let status = loop {
        if let Some(status) = on_c.try_wait().expect("psql") {
            break status;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "the session on replica c outlived the revocation"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let cut_after = revoked_at.elapsed();
    let out = on_c.wait_with_output().expect("psql output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(stderr.contains("revoked"), "{stderr}");
    // Generous for a loaded machine; the change feed usually does it in milliseconds.
    assert!(
        cut_after < Duration::from_secs(2),
        "cut after {cut_after:?}"
    );
    eprintln!("session on replica c cut {cut_after:?} after the revocation on replica a");
    // Replica c measured the cut from the grant's end.
    let api = fleet.replicas[2].api_url().expect("api");
    let samples = prometheus_samples(&api);
    assert!(
        samples.contains("jitgate_grant_end_to_session_cut_seconds_count {} 1.0"),
        "{samples}"
    );
}

/// A session killed through one replica's API ends on the replica that runs it.
#[test]
fn a_kill_through_replica_a_ends_a_session_on_replica_b_and_metrics_parse() {
    let hook = WebhookSink::start();
    let extra = format!(
        "[[webhooks]]\nurl = \"{}\"\nevents = [\"session.*\"]\n",
        hook.url()
    );
    let fleet = start_fleet_with(&["a", "b", "c"], false, false, &extra);
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let mut on_b = long_psql(&fleet.uri_on(&grant.uri, 1));
    let session = fleet.wait_for_session_on("b");

    let dana = fleet.replicas[0].user("dana");
    dana.login(DANA_PASSWORD)
        .expect("dana logs in on replica a");
    let listed = dana.ok(&["sessions"]).expect("sessions on a");
    assert!(listed.contains(&session), "{listed}");
    dana.ok(&["sessions", "kill", &session]).expect("kill on a");
    let deadline = Instant::now() + Duration::from_secs(5);
    while on_b.try_wait().expect("psql").is_none() {
        assert!(Instant::now() < deadline, "the killed session went on");
        std::thread::sleep(Duration::from_millis(20));
    }

    // /metrics needs no login and parses with Prometheus' own parser.
    let api = fleet.replicas[1].api_url().expect("api");
    let samples = prometheus_samples(&api);
    assert!(
        samples.contains("jitgate_sessions_total {'resource': 'app'} 1.0"),
        "{samples}"
    );
    assert!(samples.contains("jitgate_store_up {} 1.0"), "{samples}");
    assert!(
        samples.contains("jitgate_requests_pending {} 0.0"),
        "{samples}"
    );
    // The webhook hears session.started and session.ended from replica b, which ran it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivered = "jitgate_webhook_deliveries_total {'outcome': 'delivered'} 2.0";
    while !prometheus_samples(&api).contains(delivered) {
        assert!(Instant::now() < deadline, "{}", prometheus_samples(&api));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(hook.received() >= 2);
    let (code, ready) = http_get(&format!("{api}/ready"));
    assert_eq!(code, 200, "{ready}");
}

/// A replica dying with SIGKILL mid-session: the others go on serving, and the audit chain all
/// of them wrote stays verifiable.
#[test]
fn a_replica_killed_mid_session_leaves_the_others_serving_and_the_chain_whole() {
    let mut fleet = start_fleet();
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let mut on_b = long_psql(&fleet.uri_on(&grant.uri, 1));
    fleet.wait_for_session_on("b");
    for i in 0..3 {
        assert!(psql_ok(&fleet.uri_on(&grant.uri, i)));
    }
    let pid = fleet.replicas[1].pid().expect("replica b runs");
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill -9");
    let _ = on_b.wait();
    for i in [0, 2] {
        assert!(psql_ok(&fleet.uri_on(&grant.uri, i)), "replica {i} serves");
    }
    // Let the survivors' recorders write, then check the one chain.
    std::thread::sleep(Duration::from_millis(500));
    assert!(fleet.verify_chain() > 0);
    let dana = fleet.replicas[0].user("dana");
    dana.login(DANA_PASSWORD)
        .expect("dana logs in on replica a");
    dana.ok(&["audit", "verify"]).expect("jitgate audit verify");
    // Replica b's restart closes what it left open, and only that.
    fleet.replicas[1].restart().expect("restarting b");
    assert!(psql_ok(&fleet.uri_on(&grant.uri, 1)));
}

/// Waits for a child to exit, up to `within`; its stderr, or `None` if it still runs.
fn exited_within(child: &mut Child, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while child.try_wait().expect("psql").is_none() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    Some(stderr)
}

/// The store stopped and started again: meanwhile new logins are refused, a session whose grant
/// ends still ends on time, and the others end after the grace (`store_grace = "5s"`); once the
/// store is back, the replica is ready and admits again.
#[test]
fn a_lost_store_refuses_logins_and_never_extends_access() {
    let fleet = start_fleet_of(&["a", "b"], true);
    let store = fleet.store_cluster.as_ref().expect("a store cluster");
    let long = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let short = fleet.replicas[0].grant("bob", "app", "3s").expect("grant");
    let mut on_long = long_psql(&fleet.uri_on(&long.uri, 0));
    let mut on_short = long_psql(&fleet.uri_on(&short.uri, 1));
    fleet.wait_for_session_on("a");
    fleet.wait_for_session_on("b");

    store.stop().expect("stopping the store");
    let stopped = Instant::now();
    assert!(
        !psql_ok(&fleet.uri_on(&long.uri, 1)),
        "a login without the store"
    );
    let api = fleet.replicas[0].api_url().expect("api");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(&format!("{api}/ready")).0 != 503 {
        assert!(Instant::now() < deadline, "still ready without a store");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The short grant ends at its deadline, store or no store.
    let short_end = exited_within(&mut on_short, Duration::from_secs(10)).expect("short ended");
    assert!(short_end.contains("expired"), "{short_end}");
    // The long one goes on for the grace, then ends: it can no longer be checked.
    let long_end = exited_within(&mut on_long, Duration::from_secs(20)).expect("long ended");
    assert!(
        stopped.elapsed() >= Duration::from_secs(4),
        "ended before the grace"
    );
    assert!(long_end.contains("control plane"), "{long_end}");

    store.start_again().expect("starting the store again");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&format!("{api}/ready")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready again after the store came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(psql_ok(&fleet.uri_on(&long.uri, 0)), "logins work again");
}

/// Store connections use `store_tls = "verify-full"` against the store's test CA: the server
/// sees every jitgate connection encrypted. Without the CA (the system's roots), the
/// certificate is refused and the replica does not start.
#[test]
fn the_store_is_reached_over_verified_tls() {
    let extra = "store_tls = \"verify-full\"\nstore_ca_file = \"{CA}\"";
    let fleet = start_fleet_with(&["a"], true, true, extra);
    let store = fleet.store_cluster.as_ref().expect("a store cluster");
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    assert!(psql_ok(&fleet.uri_on(&grant.uri, 0)));
    let counts = store
        .psql(
            "postgres",
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'jitgate'",
        )
        .expect("asking the store");
    let (encrypted, plain) = counts.trim().split_once('|').expect("two counts");
    assert!(encrypted.parse::<u32>().expect("a count") > 0, "{counts}");
    assert_eq!(plain, "0", "{counts}");

    let config = replica_config(
        "b",
        &fleet.store_url,
        fleet.cluster.port(),
        "store_tls = \"verify-full\"",
    );
    let refused = Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[
            ("SVC_PASSWORD", SERVICE_PASSWORD),
            ("DANA_PW", DANA_PASSWORD),
        ],
    );
    let Err(e) = refused else {
        panic!("a replica trusting only the system's roots reached a store with a test CA")
    };
    let log = format!("{e:#}");
    assert!(log.contains("opening the store"), "{log}");
}

/// Two live processes may not run under one replica name: the second refuses to start, and
/// says why. The first goes on serving.
#[test]
fn a_second_process_under_a_live_replica_name_refuses_to_start() {
    let fleet = start_fleet_of(&["a"], false);
    let config = replica_config("a", &fleet.store_url, fleet.cluster.port(), "");
    let second = Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[
            ("SVC_PASSWORD", SERVICE_PASSWORD),
            ("DANA_PW", DANA_PASSWORD),
        ],
    );
    let Err(e) = second else {
        panic!("a second process started as replica a")
    };
    let log = format!("{e:#}");
    assert!(
        log.contains("another jitgate is running as replica \"a\""),
        "{log}"
    );
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    assert!(psql_ok(&fleet.uri_on(&grant.uri, 0)), "replica a serves");
}

/// After a SIGKILL, the dead replica's sessions do not linger as open in the store: once its
/// heartbeat is older than its bound (`store_grace` 5s + 10s), a surviving replica ends them,
/// once for the whole fleet (one `session.ended` each), and `jitgate sessions` shows no ghost.
#[test]
fn sessions_of_a_replica_killed_with_sigkill_are_ended_once_by_the_others() {
    let fleet = start_fleet();
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let mut on_b = long_psql(&fleet.uri_on(&grant.uri, 1));
    let session = fleet.wait_for_session_on("b");
    let pid = fleet.replicas[1].pid().expect("replica b runs");
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill -9");
    let _ = on_b.wait();

    let store = fleet.store();
    let record = loop {
        let record = store.session(&session).expect("session").expect("its row");
        if record.ended_at.is_some() {
            break record;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the dead replica's session is still open in the store"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        killed.elapsed() >= Duration::from_secs(5),
        "ended before the dead replica's own grace was over"
    );
    assert_eq!(
        record.end_reason.as_deref(),
        Some("its replica stopped answering")
    );
    let dana = fleet.replicas[0].user("dana");
    dana.login(DANA_PASSWORD)
        .expect("dana logs in on replica a");
    let listed = dana.ok(&["sessions"]).expect("sessions on a");
    let line = listed
        .lines()
        .find(|l| l.contains(&session))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("its replica stopped answering"), "{listed}");
    // Let both survivors' recorders write; then the end is in the chain exactly once.
    std::thread::sleep(Duration::from_millis(500));
    let ends = store
        .audit_after(0, 1_000_000)
        .expect("audit")
        .into_iter()
        .filter(|e| {
            e.event.kind == "session.ended" && e.event.session_id.as_deref() == Some(&*session)
        })
        .count();
    assert_eq!(ends, 1);
    assert!(fleet.verify_chain() > 0);
}

/// Shutting a replica down: from the SIGTERM on, `/ready` answers 503 `draining` while its
/// sessions go on, so a load balancer takes it out of rotation before they are ended.
#[test]
fn a_draining_replica_is_unready_while_its_sessions_finish() {
    let extra = "drain_timeout = \"30s\"";
    let mut fleet = start_fleet_with(&["a"], false, false, extra);
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let api = fleet.replicas[0].api_url().expect("api");
    assert_eq!(http_get(&format!("{api}/ready")).0, 200);
    let mut session = long_psql(&fleet.uri_on(&grant.uri, 0));
    fleet.wait_for_session_on("a");
    let pid = fleet.replicas[0].pid().expect("replica a runs");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (code, body) = http_get(&format!("{api}/ready"));
        if code == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "still ready after SIGTERM: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("\"draining\""), "{body}");
    assert!(
        session.try_wait().expect("psql").is_none(),
        "the session was cut instead of drained"
    );
    // The session ends on its own; the replica then exits.
    let _ = session.kill();
    let _ = session.wait();
    let status = fleet.replicas[0].stop().expect("the replica exits");
    assert!(status.success(), "{status}");
    // A clean stop released the name: the next start takes it without watching for life.
    fleet.replicas[0].restart().expect("restarting a");
    let log = fleet.replicas[0].log();
    assert!(
        !log.contains("held this replica name until recently"),
        "{log}"
    );
    assert_eq!(http_get(&format!("{api}/ready")).0, 200);
}

/// A `long_statement` rule with `cancel = true`: a runaway `pg_sleep` is cancelled upstream
/// once it has run past the threshold, the client gets SQLSTATE 57014 with the rule's reason,
/// the cancel is audited, and the session goes on (short statements are left alone).
#[test]
fn a_long_statement_rule_cancels_a_runaway_statement() {
    let extra = "[[alerts]]\nkind = \"long_statement\"\nthreshold = \"1s\"\ncancel = true\n";
    let fleet = start_fleet_with(&["a"], false, false, extra);
    let grant = fleet.replicas[0]
        .grant("alice", "app", "10m")
        .expect("grant");
    let started = Instant::now();
    let out = Command::new("psql")
        .arg(fleet.uri_on(&grant.uri, 0))
        .args(["-X", "-v", "VERBOSITY=verbose", "-v", "ON_ERROR_STOP=0"])
        .args(["-c", "select pg_sleep(60)", "-c", "select 'still here'"])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("running psql");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(30), "not cancelled: {took:?}");
    assert!(stderr.contains("57014"), "{stderr}");
    assert!(stderr.contains("long_statement rule"), "{stderr}");
    // The same session runs its next statement.
    assert!(stdout.contains("still here"), "{stdout}");
    assert!(psql_ok(&fleet.uri_on(&grant.uri, 0)));

    std::thread::sleep(Duration::from_millis(500));
    let events = fleet.store().audit_after(0, 1_000_000).expect("audit");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "statement.cancelled")
            .count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"alert.long_statement"), "{kinds:?}");
    let sleep = events
        .iter()
        .find(|e| e.event.kind == "statement" && e.event.detail.get().contains("pg_sleep"))
        .expect("the statement's record");
    assert!(
        sleep.event.detail.get().contains("57014"),
        "{}",
        sleep.event.detail.get()
    );
}
