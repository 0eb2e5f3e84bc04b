//! `jitgate serve`: the gateway process.

use anyhow::Context;
use jitgate_pg::PgFront;
use std::path::Path;

pub fn serve(config_path: &Path) -> anyhow::Result<()> {
    init_logging();
    let config = jitgate_config::load(config_path)?;
    let control = crate::grant::open_control(&config)?;
    control
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
        let front = PgFront::bind(&config, control.clone()).await?;
        for (name, addr) in front.local_addrs() {
            tracing::info!(resource = %name, "listening for PostgreSQL clients on {addr}");
        }
        let enforcement = tokio::spawn(control.clone().enforce());
        tokio::select! {
            _ = front.run() => {}
            signal = shutdown_signal() => {
                signal?;
                tracing::info!("shutting down");
            }
        }
        enforcement.abort();
        anyhow::Ok(())
    })?;
    control.flush();
    Ok(())
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

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JITGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
