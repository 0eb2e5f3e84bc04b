//! `jitgate serve`: the gateway process.

use anyhow::Context;
use jitgate_front::{DrainOutcome, Limiter, Limits, ShutdownController};
use jitgate_pg::PgFront;
use std::path::Path;
use std::time::Duration;

pub fn serve(config_path: &Path) -> anyhow::Result<()> {
    init_logging();
    let config = jitgate_config::load(config_path)?;
    run(&config, async {
        match shutdown_signal().await {
            Ok(()) => tracing::info!("shutting down"),
            Err(e) => tracing::error!("{e:#}"),
        }
    })
}

/// Runs the gateway described by `config` until `shutdown` resolves (or the HTTP API fails),
/// then drains: no new connections, sessions go on for `[server] drain_timeout`, and those
/// still open then are ended, on record, before this returns.
pub fn run(
    config: &jitgate_config::Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let control = crate::admin::open_control(config)?;
    crate::databricks::install_gate(config, &control);
    let recovered = control
        .recover()
        .context("enforcing grants that ended while jitgate was down")?;
    // One thread by default: on a small machine, handing messages between threads costs more
    // than a second core gains, and the database wants that core.
    let runtime = if config.server.workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.server.workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let checks: std::sync::Arc<dyn jitgate_pg::guard::GuardProvider> = std::sync::Arc::new(
            jitgate_pg::guard::SessionChecks::new(control.clone(), config.masking.clone()),
        );
        let front = PgFront::bind(config, control.clone(), Some(checks)).await?;
        // What sessions of a dead process left running upstream is cancelled beside the start.
        tokio::spawn(jitgate_pg::orphans::cancel_orphaned(
            config,
            control.clone(),
            recovered.upstream_cancels,
        ));
        // And what sessions of replicas that stopped answering left running, as this one
        // ends them.
        let lost = tokio::spawn(cancel_lost_upstreams(config.clone(), control.clone()));
        for (name, addr) in front.local_addrs() {
            tracing::info!(resource = %name, "listening for PostgreSQL clients on {addr}");
        }
        let spark = jitgate_spark::SparkFront::bind(config, control.clone()).await?;
        for (name, addr) in spark.local_addrs() {
            tracing::info!(resource = %name, "listening for Spark Connect clients on {addr}");
        }
        let hive = jitgate_hive::HiveFront::bind(config, control.clone()).await?;
        for (name, addr) in hive.local_addrs() {
            tracing::info!(resource = %name, "listening for Databricks SQL clients on {addr}");
        }
        let mysql = jitgate_mysql::MySqlFront::bind(config, control.clone()).await?;
        for (name, addr) in mysql.local_addrs() {
            tracing::info!(resource = %name, "listening for MySQL clients on {addr}");
        }
        let limiter = Limiter::new(limits(&config.server));
        let sessions = ShutdownController::new();
        let fronts = [
            tokio::spawn(front.run(limiter.clone(), sessions.handle())),
            tokio::spawn(spark.run(limiter.clone(), sessions.handle())),
            tokio::spawn(hive.run(limiter.clone(), sessions.handle())),
            tokio::spawn(mysql.run(limiter.clone(), sessions.handle())),
        ];
        let mut api = Api::start(config, control.clone()).await?;
        let enforcement = tokio::spawn(control.clone().enforce());
        let provisioning = crate::databricks::start_provisioning(config, control.clone())?;
        let outcome = tokio::select! {
            ended = &mut api.task => Err(api_ended(ended)),
            _ = shutdown => Ok(()),
        };
        // Grants are still enforced while sessions drain, and the API still answers: `/ready`
        // says `draining`, so load balancers take this replica out of rotation first.
        control.start_draining();
        drain(&sessions, &limiter, config.server.drain_timeout).await;
        api.stop().await;
        enforcement.abort();
        lost.abort();
        if let Some(p) = provisioning {
            p.abort();
        }
        for front in fronts {
            front.abort();
        }
        outcome
    })?;
    // Blocking work still running (a workspace reconcile pass waiting on a slow API) must not
    // hold the exit up for minutes; the ledger makes an interrupted pass safe to resume.
    runtime.shutdown_timeout(BLOCKING_AT_EXIT);
    // Sessions ended above are on record once the audit trail is flushed.
    control.flush();
    control.release_replica_name();
    Ok(())
}

/// Cancels, upstream, the work of sessions this replica ended for replicas that stopped
/// answering ([`jitgate_control::liveness`]).
async fn cancel_lost_upstreams(
    config: jitgate_config::Config,
    control: std::sync::Arc<jitgate_control::ControlPlane>,
) {
    let Some(mut lost) = control.take_lost_upstreams() else {
        return;
    };
    while let Some(batch) = lost.recv().await {
        jitgate_pg::orphans::cancel_orphaned(&config, control.clone(), batch).await;
    }
}

/// The `[server]` caps on connections, as the fronts apply them.
fn limits(server: &jitgate_config::Server) -> Limits {
    Limits {
        max_connections: server.max_connections,
        max_logging_in: server.max_logging_in,
        max_logging_in_per_address: server.max_logging_in_per_address,
    }
}

/// How long blocking work may still run once everything else has stopped.
const BLOCKING_AT_EXIT: Duration = Duration::from_secs(5);

/// How long sessions ended at the end of the drain time get to tell their clients, cancel what
/// runs upstream and close their records.
const FORCED_END: Duration = Duration::from_secs(5);

/// Stops accepting on every front, lets sessions finish for `drain_timeout`, then ends the rest.
async fn drain(sessions: &ShutdownController, limiter: &Limiter, drain_timeout: Duration) {
    let (open, _) = limiter.open_and_logging_in();
    tracing::info!(
        "no longer accepting connections; {open} open may go on for {}",
        humantime::format_duration(drain_timeout)
    );
    match sessions.shut_down(drain_timeout, FORCED_END).await {
        DrainOutcome::Drained => tracing::info!("every connection has ended"),
        DrainOutcome::Forced => tracing::info!("ended the connections left after the drain time"),
        DrainOutcome::Abandoned { .. } => {
            let (open, _) = limiter.open_and_logging_in();
            tracing::warn!("{open} connection(s) did not end when told to; leaving them");
        }
    }
}

/// The HTTP API, served beside the PostgreSQL fronts in the same runtime.
struct Api {
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Re-reads the groups of subjects from OpenID Connect providers.
    recheck: tokio::task::JoinHandle<()>,
}

/// How long API calls in flight get to finish at shutdown.
const API_DRAIN: Duration = Duration::from_secs(2);

impl Api {
    async fn start(
        config: &jitgate_config::Config,
        control: std::sync::Arc<jitgate_control::ControlPlane>,
    ) -> anyhow::Result<Api> {
        let addr = config.api.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for the HTTP API on {addr} ([api] listen)"))?;
        tracing::info!("serving the HTTP API on http://{}", listener.local_addr()?);
        let state = jitgate_api::ApiState::new(control, &config.resources)
            .with_oidc(&config.oidc)
            .with_slack(config.slack.as_ref())
            .with_masking(&config.masking)
            .with_client_tls(config.server.client_tls.mode)
            .with_console_idle(config.api.console_idle_timeout);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let recheck = tokio::spawn(jitgate_api::recheck_groups(state.clone()));
        let limits = jitgate_api::ServeLimits::from(&config.api);
        let task = tokio::spawn(jitgate_api::serve(listener, state, limits, async {
            let _ = stopped.await;
        }));
        Ok(Api {
            task,
            stop: Some(stop),
            recheck,
        })
    }

    /// Stops accepting calls and lets those in flight finish, for a moment at most.
    async fn stop(&mut self) {
        self.recheck.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A finished task has given its result already, and must not be awaited again.
        if self.task.is_finished() {
            return;
        }
        if tokio::time::timeout(API_DRAIN, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

fn api_ended(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match ended {
        Ok(Ok(())) => anyhow::anyhow!("the HTTP API stopped unexpectedly"),
        Ok(Err(e)) => anyhow::Error::new(e).context("the HTTP API failed"),
        Err(e) => anyhow::Error::new(e).context("the HTTP API task failed"),
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JITGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
