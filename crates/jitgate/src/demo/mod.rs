//! `jitgate demo`: the one-command tour. A throwaway PostgreSQL with a realistic dataset, jitgate
//! in front of it on a temporary SQLite store, three local users, and a walk through the
//! product: request, approval, masked and clear queries, an inference attempt that learns
//! nothing, revocation cutting a live session, credential clean-up and the audit check. When
//! MariaDB is installed, a throwaway MariaDB with the same data and masking rules is a second
//! resource (`demo-mysql`).

mod config;
mod seed;
mod story;

use crate::client::Client;
use anyhow::{bail, Context};
use jitgate_pgcluster::{AuthMethod, ClusterOptions, MariaDb, MariaDbOptions, PgCluster};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the command line asked for.
pub struct DemoOptions {
    pub keep_running: bool,
    pub json: bool,
    pub pg_bin: Option<PathBuf>,
    /// Three replicas on a PostgreSQL store.
    pub fleet: bool,
}

/// Everything the story needs to reach.
pub struct Demo {
    pub api: String,
    pub passwords: Vec<(String, String)>,
    pub cluster: PgCluster,
    pub gateway_port: u16,
    /// Every replica's API and PostgreSQL port; the first is `api` and `gateway_port`.
    pub replicas: Vec<(String, u16)>,
    pub interrupted: Arc<AtomicBool>,
    /// The demo's `jitgate.toml` (its masking key beside it), for tools that read its policy.
    pub config: PathBuf,
    /// The MariaDB behind resource `demo-mysql` and the first replica's port for MySQL clients,
    /// when MariaDB is installed.
    pub mysql: Option<(MariaDb, u16)>,
}

impl Demo {
    pub fn password(&self, user: &str) -> &str {
        self.passwords
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
            .unwrap_or_default()
    }

    pub fn login(&self, user: &str) -> anyhow::Result<Client> {
        Client::login(&self.api, user, self.password(user))
            .with_context(|| format!("logging in as {user}"))
    }

    /// Fails once Ctrl-C or SIGTERM arrived, so the tour stops between steps and cleans up.
    pub fn check_interrupted(&self) -> anyhow::Result<()> {
        if self.interrupted.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        Ok(())
    }
}

pub fn run(opts: DemoOptions) -> anyhow::Result<()> {
    if let Some(dir) = &opts.pg_bin {
        // Read once, when the first cluster starts; nothing else runs yet.
        std::env::set_var("JITGATE_PG_BINDIR", dir);
    }
    if !jitgate_pgcluster::server_binaries_found() {
        bail!(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in \
             /usr/lib/postgresql/*/bin.\nInstall them (Debian/Ubuntu: `sudo apt-get install \
             postgresql`) or point to them with `jitgate demo --pg-bin DIR`."
        );
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    watch_signals(interrupted.clone(), stop_tx)?;

    let work = tempfile::Builder::new()
        .prefix("jitgate-demo-")
        .tempdir()
        .context("creating the demo's temporary folder")?;
    // With --json the one JSON line is all that goes to standard output.
    let chatty = !(opts.json && opts.keep_running);
    say(
        chatty,
        "Starting a throwaway PostgreSQL and filling it with 1200 customers…",
    );
    let upstream_password = crate::demo::story::random_secret();
    let mysql_password = story::random_secret();
    let mariadb = MariaDb::available().then(|| {
        let password = mysql_password.clone();
        std::thread::spawn(move || start_mariadb(password))
    });
    let cluster = start_postgres(&upstream_password);
    // Joined before any error goes up, so that a MariaDB started beside it is stopped too.
    let mariadb = match mariadb.map(std::thread::JoinHandle::join) {
        None => None,
        Some(Ok(Ok(db))) => Some(db),
        Some(Ok(Err(e))) => {
            eprintln!("MariaDB is installed but did not start; the demo goes on without it: {e:#}");
            None
        }
        Some(Err(_)) => bail!("starting the demo's MariaDB panicked"),
    };
    let cluster = cluster?;
    if mariadb.is_some() {
        say(
            chatty,
            &format!(
                "A throwaway MariaDB holds the same customers (resource `{}`).",
                config::MYSQL_RESOURCE
            ),
        );
    }

    let (store, names): (String, &[&str]) = if opts.fleet {
        cluster
            .psql("postgres", "CREATE DATABASE jitgate_store")
            .context("creating the store's database")?;
        let url = cluster.uri(cluster.superuser(), None, "jitgate_store");
        (url, &["a", "b", "c"])
    } else {
        ("jitgate.sqlite".to_owned(), &["main"])
    };
    let endpoints: Vec<config::Endpoints> = names
        .iter()
        .map(|name| config::Endpoints {
            api_port: jitgate_pgcluster::free_port(),
            gateway_port: jitgate_pgcluster::free_port(),
            upstream_port: cluster.port(),
            store: store.clone(),
            replica: (*name).to_owned(),
            mysql: mariadb.as_ref().map(|db| config::MySqlEndpoints {
                gateway_port: jitgate_pgcluster::free_port(),
                upstream_port: db.port(),
            }),
        })
        .collect();
    let mut passwords = Vec::new();
    let secrets = work.path().join("secrets");
    std::fs::create_dir(&secrets)?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))?;
    write_secret(&secrets, "upstream", &upstream_password)?;
    write_secret(&secrets, "mysql-upstream", &mysql_password)?;
    write_secret(&secrets, "mask-key", &story::random_secret())?;
    for (user, _, _) in config::USERS {
        let password = story::random_secret();
        write_secret(&secrets, user, &password)?;
        passwords.push((user.to_owned(), password));
    }
    init_logging(work.path())?;
    say(
        chatty,
        if opts.fleet {
            "Starting three jitgate replicas on a temporary PostgreSQL store…"
        } else {
            "Starting jitgate on a temporary SQLite store…"
        },
    );
    let mut gateways = Vec::new();
    let mut replicas = Vec::new();
    let mut config_paths = Vec::new();
    for e in &endpoints {
        let config_path = config::write(work.path(), e)?;
        let config = jitgate_config::load(&config_path)?;
        config_paths.push(config_path);
        let (gw_stop, gw_stopped) = tokio::sync::oneshot::channel::<()>();
        let gateway = std::thread::Builder::new()
            .name(format!("jitgate-gateway-{}", e.replica))
            .spawn(move || {
                crate::serve::run(&config, async {
                    let _ = gw_stopped.await;
                })
            })?;
        let api = format!("http://127.0.0.1:{}", e.api_port);
        wait_for_api(&api, &gateway)?;
        replicas.push((api, e.gateway_port));
        gateways.push((gw_stop, gateway));
    }

    let demo = Demo {
        api: replicas[0].0.clone(),
        passwords,
        cluster,
        gateway_port: replicas[0].1,
        replicas,
        interrupted,
        // The first replica's, as `api` and `postgres` name the first replica.
        config: config_paths.swap_remove(0),
        mysql: mariadb.zip(endpoints[0].mysql.as_ref().map(|m| m.gateway_port)),
    };
    let outcome = if opts.keep_running {
        keep_running(&demo, opts.json, &stop_rx)
    } else {
        story::tell(&demo)
    };
    // Every replica drains at once.
    let (stops, threads): (Vec<_>, Vec<_>) = gateways.into_iter().unzip();
    for stop in stops {
        let _ = stop.send(());
    }
    for gateway in threads {
        match gateway.join() {
            Ok(Err(e)) if outcome.is_ok() => return Err(e.context("the gateway failed")),
            _ => {}
        }
    }
    drop(demo);
    drop(work);
    outcome
}

/// The demo's PostgreSQL, seeded, and its service role.
fn start_postgres(service_password: &str) -> anyhow::Result<PgCluster> {
    let cluster = PgCluster::start(ClusterOptions {
        auth: AuthMethod::ScramSha256,
        service_user: Some(("jitgate_svc".into(), service_password.to_owned())),
        ..ClusterOptions::default()
    })
    .context("starting the demo's PostgreSQL")?;
    cluster
        .psql("app", &seed::sql())
        .context("seeding the demo data")?;
    cluster
        .psql(
            "app",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO jitgate_svc",
        )
        .context("granting the service role access")?;
    Ok(cluster)
}

/// The demo's MariaDB: the same tables and rows as PostgreSQL's, in database `app`, and the
/// service account jitgate logs in as.
fn start_mariadb(service_password: String) -> anyhow::Result<MariaDb> {
    let db = MariaDb::start_with(MariaDbOptions {
        service_user: "jitgate_svc".into(),
        service_password,
        database: config::DATABASE.into(),
        grant: format!("SELECT, INSERT, UPDATE, DELETE ON `{}`.*", config::DATABASE),
        tls: false,
    })
    .context("starting the demo's MariaDB")?;
    db.sql(&seed::mysql_sql(config::DATABASE))
        .context("seeding the demo's MariaDB")?;
    Ok(db)
}

fn say(show: bool, text: &str) {
    if show {
        println!("{text}");
    }
}

fn write_secret(dir: &Path, name: &str, value: &str) -> std::io::Result<()> {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(value.as_bytes())
}

/// The gateway logs to a file in the demo folder, so that the tour reads cleanly.
fn init_logging(dir: &Path) -> anyhow::Result<()> {
    let log = std::fs::File::create(dir.join("jitgate.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("JITGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(log))
        .init();
    Ok(())
}

fn wait_for_api(
    api: &str,
    gateway: &std::thread::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let client = Client::anonymous(api);
    loop {
        if client.get::<serde_json::Value>("/health").is_ok() {
            return Ok(());
        }
        if gateway.is_finished() {
            bail!("the gateway stopped while starting; see its log");
        }
        if Instant::now() > deadline {
            bail!("the gateway's API did not answer within 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ctrl-C and SIGTERM set the flag and wake `--keep-running`.
fn watch_signals(flag: Arc<AtomicBool>, stop: std::sync::mpsc::Sender<()>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("jitgate-demo-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            flag.store(true, Ordering::Relaxed);
            let _ = stop.send(());
        })?;
    Ok(())
}

/// `--keep-running`: print how to use the demo, then wait for Ctrl-C or SIGTERM.
fn keep_running(
    demo: &Demo,
    json: bool,
    stop: &std::sync::mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let users: serde_json::Map<String, serde_json::Value> = config::USERS
        .iter()
        .map(|(name, group, _)| {
            (
                name.to_string(),
                serde_json::json!({"password": demo.password(name), "groups": [group]}),
            )
        })
        .collect();
    let upstream = demo.cluster.uri(demo.cluster.superuser(), None, "app");
    if json {
        let line = serde_json::json!({
            "api": demo.api,
            "resource": "demo",
            "postgres": {"host": "127.0.0.1", "port": demo.gateway_port, "database": "app"},
            "users": users,
            "upstream": {"uri": upstream},
            "config": demo.config,
        });
        let mut line = line;
        if let Some((_, port)) = &demo.mysql {
            line["mysql"] = serde_json::json!({
                "resource": config::MYSQL_RESOURCE,
                "host": "127.0.0.1",
                "port": port,
                "database": config::DATABASE,
            });
        }
        if demo.replicas.len() > 1 {
            line["replicas"] = demo
                .replicas
                .iter()
                .map(|(api, port)| {
                    serde_json::json!({"api": api,
                                       "postgres": {"host": "127.0.0.1", "port": port, "database": "app"}})
                })
                .collect();
        }
        println!("{line}");
    } else {
        println!("\njitgate demo is running. API: {}", demo.api);
        for (i, (api, port)) in demo.replicas.iter().enumerate().skip(1) {
            println!(
                "Replica {}: API {api}, PostgreSQL clients 127.0.0.1:{port}",
                i + 1
            );
        }
        println!(
            "PostgreSQL clients connect to 127.0.0.1:{} (resource `demo`).",
            demo.gateway_port
        );
        if let Some((_, port)) = &demo.mysql {
            println!(
                "MySQL/MariaDB clients connect to 127.0.0.1:{port} (resource `{}`).",
                config::MYSQL_RESOURCE
            );
        }
        println!();
        for (name, _, role) in config::USERS {
            println!("  {name:<6} {role}");
            println!(
                "         echo '{}' | JITGATE_SERVER={} jitgate login {name} --password-stdin",
                demo.password(name),
                demo.api
            );
        }
        println!("\nThen, as alice: jitgate request demo --duration 15m --reason 'INC-1234'");
        println!("as dana: jitgate requests --pending; jitgate approve ID");
        println!("as alice: jitgate connect demo");
        if demo.mysql.is_some() {
            println!(
                "(or request and connect `{}`: a mariadb command line and a mysql:// URI)",
                config::MYSQL_RESOURCE
            );
        }
        println!("\nThe upstream itself (demo only): psql '{upstream}'");
        println!("Press Ctrl-C to stop and remove everything.");
    }
    std::io::stdout().flush()?;
    let _ = stop.recv();
    Ok(())
}
