//! What every connection of the PostgreSQL front shares: the control plane, the settings, the
//! resources served, the cancel keys handed out, and the guard provider.

use crate::cancel::CancelRegistry;
use crate::guard::GuardProvider;
use crate::resource::ResourceFront;
use jitgate_control::ControlPlane;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// Settings shared by every connection of the process.
pub struct FrontSettings {
    pub client_tls: Option<TlsAcceptor>,
    pub tls_required: bool,
    pub allow_cleartext_without_tls: bool,
    /// Ask clients for the credential in clear (over TLS) instead of SCRAM-SHA-256.
    pub password_auth: bool,
    pub max_message_bytes: usize,
    pub login_timeout: Duration,
}

/// Everything a connection needs to reach.
pub struct Front {
    pub control: Arc<ControlPlane>,
    pub settings: FrontSettings,
    pub resources: Vec<Arc<ResourceFront>>,
    pub cancels: Arc<CancelRegistry>,
    /// Decides which sessions are masked or read-only; `None` serves everyone in the clear.
    pub guards: Option<Arc<dyn GuardProvider>>,
}

impl Front {
    pub fn resource(&self, name: &str) -> Option<&Arc<ResourceFront>> {
        self.resources.iter().find(|r| &*r.name == name)
    }
}
