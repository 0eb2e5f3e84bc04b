//! The upstream Spark Connect server: one multiplexed HTTP/2 channel per resource (TLS when
//! configured), the metadata jitgate adds to every call, and session releases.

use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use jitgate_config::SparkConnectUpstream;
use spark_connect_proto::spark_connect_service_client::SparkConnectServiceClient;
use spark_connect_proto::{
    AnalyzePlanRequest, AnalyzePlanResponse, ReleaseSessionRequest, UserContext,
};
use tonic::codegen::Service;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// How long a call jitgate makes itself (reading a table's schema) may take.
const OWN_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a session release may take before jitgate gives up on it (the upstream also ends
/// idle sessions on its own).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream {0}: {1}")]
    Endpoint(String, String),
    #[error("header {0}: {1}")]
    Header(String, String),
}

/// A Spark Connect session as the upstream keys it: session id and user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SparkSession {
    pub session_id: String,
    pub user_id: String,
}

#[derive(Clone)]
pub struct Upstream {
    channel: Channel,
    /// What jitgate puts in place of the client's `authorization` (which carries the jitgate
    /// credential and must never reach the upstream).
    authorization: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Upstream {
    /// Prepares the channel; it connects on first use, so a down upstream does not stop the
    /// gateway from starting.
    pub fn new(cfg: &SparkConnectUpstream) -> Result<Upstream, UpstreamError> {
        let scheme = if cfg.tls { "https" } else { "http" };
        let host = if cfg.host.contains(':') {
            format!("[{}]", cfg.host)
        } else {
            cfg.host.clone()
        };
        let uri = format!("{scheme}://{host}:{}", cfg.port);
        let endpoint_error =
            |e: tonic::transport::Error| UpstreamError::Endpoint(uri.clone(), e.to_string());
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(endpoint_error)?
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if cfg.tls {
            let tls = ClientTlsConfig::new()
                .with_native_roots()
                .domain_name(cfg.host.clone());
            endpoint = endpoint.tls_config(tls).map_err(endpoint_error)?;
        }
        let authorization = match &cfg.token {
            Some(token) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                        UpstreamError::Header(
                            "authorization".into(),
                            format!(
                                "the token from {} is not a valid header value",
                                token.origin()
                            ),
                        )
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let headers = cfg
            .headers
            .iter()
            .map(|(name, value)| {
                let n = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| UpstreamError::Header(name.clone(), e.to_string()))?;
                let v = HeaderValue::from_str(value)
                    .map_err(|e| UpstreamError::Header(name.clone(), e.to_string()))?;
                Ok((n, v))
            })
            .collect::<Result<_, UpstreamError>>()?;
        Ok(Upstream {
            channel: endpoint.connect_lazy(),
            authorization,
            headers,
        })
    }

    /// Turns the client's metadata into the upstream's: the jitgate credential out, the
    /// upstream's token and configured headers in.
    pub fn prepare(&self, headers: &mut HeaderMap) {
        headers.remove(AUTHORIZATION);
        headers.remove(http::header::HOST);
        if let Some(auth) = &self.authorization {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// Sends one call; the response body streams.
    pub async fn call(
        &self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, tonic::transport::Error> {
        let mut channel = self.channel.clone();
        std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
        channel.call(request).await
    }

    /// An `AnalyzePlan` call of jitgate's own, with the upstream's metadata; failures become the
    /// status the client's call ends with.
    pub async fn analyze(
        &self,
        message: AnalyzePlanRequest,
    ) -> Result<AnalyzePlanResponse, crate::grpc::Status> {
        use crate::grpc::{Code, Status};
        let mut client = SparkConnectServiceClient::new(self.channel.clone());
        let request = tonic::Request::from_parts(self.metadata(), Default::default(), message);
        match tokio::time::timeout(OWN_CALL_TIMEOUT, client.analyze_plan(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            // The upstream's own words (say, a table that does not exist): the client's plan
            // would have failed the same way.
            Ok(Err(status)) => Err(Status::new(
                Code::from_i32(status.code() as i32),
                status.message().to_string(),
            )),
            Err(_) => Err(Status::new(
                Code::Unavailable,
                "the upstream Spark Connect server did not answer jitgate's schema request in time",
            )),
        }
    }

    fn metadata(&self) -> tonic::metadata::MetadataMap {
        let mut headers = HeaderMap::new();
        self.prepare(&mut headers);
        tonic::metadata::MetadataMap::from_headers(headers)
    }

    /// Releases Spark sessions whose grant ended: the upstream interrupts what they still run
    /// and frees their state. Failures are logged; the upstream times idle sessions out anyway.
    pub async fn release(&self, sessions: Vec<SparkSession>) {
        let mut client = SparkConnectServiceClient::new(self.channel.clone());
        for s in sessions {
            let message = ReleaseSessionRequest {
                session_id: s.session_id.clone(),
                user_context: Some(UserContext {
                    user_id: s.user_id.clone(),
                    ..Default::default()
                }),
                client_type: Some("jitgate".into()),
                ..Default::default()
            };
            // The same metadata as relayed calls: the upstream's token and configured headers.
            let request = tonic::Request::from_parts(self.metadata(), Default::default(), message);
            match tokio::time::timeout(RELEASE_TIMEOUT, client.release_session(request)).await {
                Ok(Ok(_)) => {
                    tracing::info!(session = %s.session_id, "released Spark session upstream")
                }
                Ok(Err(status)) => tracing::warn!(
                    session = %s.session_id,
                    "releasing Spark session upstream: {}",
                    status.message()
                ),
                Err(_) => {
                    tracing::warn!(session = %s.session_id, "releasing Spark session upstream timed out")
                }
            }
        }
    }
}
