//! The PostgreSQL front: one listener per resource, one task per client connection.

use crate::cancel::CancelRegistry;
use crate::guard::GuardProvider;
use crate::resource::ResourceFront;
use crate::session;
use crate::shared::{Front, FrontSettings};
use crate::tls::{client_acceptor, upstream_connector, TlsSetupError};
use jitgate_config::{ClientTlsMode, Config, Upstream};
use jitgate_control::ControlPlane;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("resource {resource}: cannot listen on {addr}: {source}")]
    Bind {
        resource: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// A bound front, ready to accept.
pub struct PgFront {
    front: Arc<Front>,
    listeners: Vec<(TcpListener, Arc<ResourceFront>)>,
}

impl PgFront {
    /// Prepares TLS and binds the listen address of every PostgreSQL resource.
    pub async fn bind(
        config: &Config,
        control: Arc<ControlPlane>,
        guards: Option<Arc<dyn GuardProvider>>,
    ) -> Result<PgFront, FrontError> {
        let server = &config.server;
        let settings = FrontSettings {
            client_tls: client_acceptor(&server.client_tls)?,
            tls_required: server.client_tls.mode == ClientTlsMode::Required,
            allow_cleartext_without_tls: server.allow_cleartext_without_tls,
            password_auth: false,
            max_message_bytes: server.max_message_bytes,
            login_timeout: server.login_timeout,
        };
        let mut resources = Vec::new();
        let mut listeners = Vec::new();
        for r in &config.resources {
            // Other kinds have fronts of their own.
            let Upstream::Postgres(upstream) = &r.upstream else {
                continue;
            };
            let resource = Arc::new(ResourceFront {
                name: Arc::from(r.name.as_str()),
                upstream_tls: upstream_connector(&upstream.tls, &upstream.host)?,
                upstream: upstream.clone(),
                ddl_epoch: AtomicU64::new(0),
            });
            let listener =
                TcpListener::bind(r.listen)
                    .await
                    .map_err(|source| FrontError::Bind {
                        resource: r.name.clone(),
                        addr: r.listen,
                        source,
                    })?;
            resources.push(resource.clone());
            listeners.push((listener, resource));
        }
        let front = Arc::new(Front {
            control,
            settings,
            resources,
            cancels: Arc::new(CancelRegistry::default()),
            guards,
        });
        Ok(PgFront { front, listeners })
    }

    /// The addresses actually bound (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<(Arc<str>, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(l, r)| Some((r.name.clone(), l.local_addr().ok()?)))
            .collect()
    }

    /// Accepts connections until the process ends; without PostgreSQL resources, waits
    /// forever (so that it can stand beside the other fronts in one `select!`).
    pub async fn run(self) {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, resource) in self.listeners {
            let front = self.front.clone();
            tasks.spawn(accept_loop(listener, front, resource));
        }
        while tasks.join_next().await.is_some() {}
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(listener: TcpListener, front: Arc<Front>, resource: Arc<ResourceFront>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let front = front.clone();
                let resource = resource.clone();
                tokio::spawn(session::run(stream, peer, front, resource));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(resource = %resource.name, "accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
