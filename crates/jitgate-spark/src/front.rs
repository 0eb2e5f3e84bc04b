//! The Spark Connect front: an HTTP/2 (h2c) listener per `kind = "spark-connect"` resource that
//! passes every call of `spark.connect.SparkConnectService` to the upstream under a live grant.
//! Calls are relayed as HTTP/2 streams, not re-implemented, so every RPC (and future ones) pass;
//! only ExecutePlan, AnalyzePlan and Config requests are decoded, for the audit trail and the
//! plan policy, which may rewrite them (masking) after reading table schemas from the upstream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jitgate_config::{ClientTlsMode, Config, Upstream as UpstreamConfig};
use jitgate_control::ControlPlane;
use jitgate_front::{BindError, Connection, Handler, Limiter, Listeners, Shutdown};
use jitgate_masking::MaskingPolicy;
use jitgate_spark_sql::Namespace;
use jitgate_tls::sniff::{self, Opened};
use prost::Message;
use serde_json::json;
use spark_connect_proto::{AnalyzePlanRequest, ConfigRequest, ExecutePlanRequest};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::body::{Counted, OutBody, PlanAudit};
use crate::catalog::SessionContext;
use crate::edit::{self, MessageEdit};
use crate::grpc::{self, Code, FrameError, RowCounter, Status};
use crate::plan::{self, Schemas, Verdict};
use crate::scrub;
use crate::session::{Conn, Live};
use crate::upstream::{Upstream, UpstreamError};

const SERVICE: &str = "/spark.connect.SparkConnectService/";
/// Largest ExecutePlan/AnalyzePlan request read whole (plans with local data embed it).
const MAX_PLAN_BYTES: usize = 128 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("resource {resource}: {source}")]
    Upstream {
        resource: String,
        source: UpstreamError,
    },
    #[error("Spark Connect TLS ([server.tls]): {0}")]
    Tls(#[from] jitgate_tls::TlsSetupError),
}

/// What the connections of one resource share.
pub struct ResourceFront {
    pub name: Arc<str>,
    pub control: Arc<ControlPlane>,
    pub masking: MaskingPolicy,
    pub upstream: Upstream,
    /// Where unqualified table names resolve for masking.
    pub namespace: Namespace,
    pub allow_cleartext_without_tls: bool,
    /// From `[server.tls]`; plaintext clients are refused when TLS is `required`.
    pub tls: Option<TlsAcceptor>,
    pub tls_required: bool,
}

pub struct SparkFront {
    listeners: Listeners<ResourceListener>,
}

impl SparkFront {
    /// Binds every spark-connect resource's listen address.
    pub async fn bind(
        config: &Config,
        control: Arc<ControlPlane>,
    ) -> Result<SparkFront, FrontError> {
        let resources: Vec<_> = config
            .resources
            .iter()
            .filter_map(|r| match &r.upstream {
                UpstreamConfig::SparkConnect(cfg) => Some((r.name.as_str(), r.listen, cfg)),
                _ => None,
            })
            .collect();
        let tls = if resources.is_empty() {
            None
        } else {
            // gRPC clients insist on HTTP/2 being negotiated. One port serves both: a
            // connection that opens with a TLS handshake gets TLS, any other is plaintext.
            jitgate_tls::server_acceptor(&config.server.client_tls, b"h2")?
        };
        let listeners = Listeners::bind(resources, |name, upstream_cfg| {
            let upstream = Upstream::new(upstream_cfg).map_err(|source| FrontError::Upstream {
                resource: name.to_owned(),
                source,
            })?;
            Ok::<_, FrontError>(ResourceListener(Arc::new(ResourceFront {
                name: Arc::from(name),
                control: control.clone(),
                masking: config.masking.clone(),
                upstream,
                namespace: Namespace {
                    catalog: "spark_catalog".into(),
                    database: upstream_cfg.default_database.clone(),
                },
                allow_cleartext_without_tls: config.server.allow_cleartext_without_tls,
                tls: tls.clone(),
                tls_required: config.server.client_tls.mode == ClientTlsMode::Required,
            })))
        })
        .await?;
        Ok(SparkFront { listeners })
    }

    /// The bound addresses, by resource name.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.local_addrs()
    }

    /// Serves until the gateway drains, under the caps of `limiter`; every connection is handed
    /// `shutdown`, to end its session when the drain time is over. Without spark-connect
    /// resources, returns at once.
    pub async fn run(self, limiter: Arc<Limiter>, shutdown: Shutdown) {
        self.listeners.serve(limiter, shutdown).await
    }
}

/// One resource's listener: what the accept loop hands its connections to. Connections over a
/// cap are closed unanswered: HTTP/2 has nothing cheaper to say before the client's preface.
struct ResourceListener(Arc<ResourceFront>);

impl Handler for ResourceListener {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: Connection,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        self::connection(stream, peer, self.0.clone(), connection)
    }
}

/// How long a new connection may take to send its first byte and finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection: TLS if it opens with a handshake (and TLS is configured), plaintext
/// HTTP/2 otherwise.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    front: Arc<ResourceFront>,
    connection: Connection,
) {
    let opened = sniff::open(
        stream,
        peer,
        front.tls.as_ref(),
        HANDSHAKE_TIMEOUT,
        "Spark Connect",
    );
    match opened.await {
        Some(Opened::Tls(tls)) => serve(tls, peer, front, true, connection).await,
        Some(Opened::Plain(stream)) => serve(stream, peer, front, false, connection).await,
        None => {}
    }
}

/// How long calls in flight get to end with jitgate's status once the drain time is over.
const FORCED_GOODBYE: Duration = Duration::from_secs(2);

async fn serve<S>(io: S, peer: SocketAddr, front: Arc<ResourceFront>, tls: bool, c: Connection)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = c.shutdown.clone();
    let conn = Arc::new(Conn::new(front, peer, tls, c));
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req| handle(conn.clone(), req))
    };
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(served);
    // A drain lets the connection go on; once forced, the session's stop task ends the calls
    // under way with jitgate's status, and GOAWAY tells the client to make no more.
    let served = tokio::select! {
        r = &mut served => r,
        () = shutdown.forced() => {
            served.as_mut().graceful_shutdown();
            tokio::time::timeout(FORCED_GOODBYE, &mut served)
                .await
                .unwrap_or(Ok(()))
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, "Spark Connect connection ended: {e}");
    }
    conn.close();
}

async fn handle(conn: Arc<Conn>, req: Request<Incoming>) -> Result<Response<OutBody>, Infallible> {
    let Some(method) = req.uri().path().strip_prefix(SERVICE).map(str::to_owned) else {
        return Ok(status_response(&Status::new(
            Code::Unimplemented,
            format!("jitgate serves only {}", SERVICE.trim_matches('/')),
        )));
    };
    let live = match conn.authenticate(req.headers()).await {
        Ok(live) => live,
        Err(status) => return Ok(status_response(&status)),
    };
    let (mut parts, body) = req.into_parts();
    conn.front.upstream.prepare(&mut parts.headers);
    if live.policy.edits_answers() {
        // Answers jitgate must read (to edit them) come uncompressed.
        parts.headers.remove("grpc-accept-encoding");
    }
    let inspected = match method.as_str() {
        "ExecutePlan" | "AnalyzePlan" | "Config" => {
            match inspect(&conn.front, &live, &method, body).await {
                Ok(x) => x,
                Err(status) => return Ok(status_response(&status)),
            }
        }
        m => match live.policy.other_call(m) {
            Verdict::Refuse(status) => {
                refused(&live, m, "", &status);
                return Ok(status_response(&status));
            }
            _ => Inspected {
                body: tonic::body::Body::new(Counted::new(body, live.clone())),
                audit: None,
                sql_texts: Vec::new(),
            },
        },
    };
    let Inspected {
        body,
        audit,
        sql_texts,
    } = inspected;
    let upstream = conn.front.upstream.clone();
    let call = upstream.call(Request::from_parts(parts, body));
    // A grant may end while the upstream still works on the call, before its first answer.
    let response = tokio::select! {
        r = call => r,
        status = live.stopped() => return Ok(answer(audit, &status)),
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(resource = %conn.front.name, "upstream call failed: {e}");
            let status = Status::new(
                Code::Unavailable,
                format!("jitgate cannot reach the upstream Spark Connect server: {e}"),
            );
            return Ok(answer(audit, &status));
        }
    };
    let (mut parts, body) = response.into_parts();
    // A trailers-only answer carries its status in the headers.
    edit::blot_status(&mut parts.headers, live.policy.secrets());
    if let Some(scanner) = live.policy.result_scanner() {
        scrub::status_headers(&mut parts.headers, scanner);
    }
    let mut audit = audit;
    if let (Some(a), Some(status)) = (audit.as_mut(), grpc::status_of(&parts.headers)) {
        a.status = Some(status);
    }
    let edit = answer_edit(&live, &method, sql_texts);
    Ok(Response::from_parts(
        parts,
        OutBody::relay(body, live, audit, edit),
    ))
}

/// How the upstream's answer to a masked subject is edited, message by message: the
/// client's SQL texts put back; result batches through the content detectors (second line behind
/// the masks); key material blotted out of everything — error details and analyses, but also
/// data, since `DESCRIBE` of a temporary view the subject made shows the view's masked text.
fn answer_edit(live: &Live, method: &str, sql_texts: Vec<(String, String)>) -> Option<MessageEdit> {
    if !live.policy.edits_answers() {
        return None;
    }
    let policy = live.policy.clone();
    let results = matches!(method, "ExecutePlan" | "ReattachExecute");
    let error_details = method == "FetchErrorDetails";
    Some(MessageEdit::new(move |mut message| {
        if !sql_texts.is_empty() {
            message = edit::restore_sql_text(message, &sql_texts);
        }
        if let Some(scanner) = policy.result_scanner() {
            if results {
                message = edit::scan_batch(message, scanner)?;
                message = scrub::result_extras(message, scanner)?;
            } else if error_details {
                message = scrub::error_details(message, scanner)?;
            }
        }
        Ok(edit::blot_message(message, policy.secrets()))
    }))
}

/// Answers with jitgate's own status, auditing the call (if audited) with it.
fn answer(audit: Option<PlanAudit>, status: &Status) -> Response<OutBody> {
    if let Some(mut a) = audit {
        a.status = Some((status.code as i32, status.message.clone()));
    }
    status_response(status)
}

/// What is sent upstream for one call, and what answering it needs.
struct Inspected {
    body: tonic::body::Body,
    /// For ExecutePlan.
    audit: Option<PlanAudit>,
    /// SQL texts the policy replaced, as (sent, client's): put back in the answer.
    sql_texts: Vec<(String, String)>,
}

/// Reads an ExecutePlan, AnalyzePlan or Config request whole, lets the plan policy see it (and
/// reads the schemas it asks for from the upstream), and gives back what to forward.
async fn inspect(
    front: &ResourceFront,
    live: &Arc<Live>,
    method: &str,
    body: Incoming,
) -> Result<Inspected, Status> {
    let started = Instant::now();
    let bytes = read_request(method, body).await?;
    live.bytes_from_client
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let message = match grpc::single_message(bytes.clone()) {
        Ok(m) => m,
        Err(FrameError::Compressed) => {
            return Err(Status::new(
                Code::Unimplemented,
                "jitgate does not accept compressed requests: turn request compression off",
            ))
        }
        Err(FrameError::Malformed) => {
            return Err(Status::new(
                Code::InvalidArgument,
                format!("{method}: the request is not one gRPC message"),
            ))
        }
    };
    let undecodable = |e: prost::DecodeError| {
        Status::new(
            Code::InvalidArgument,
            format!("{method}: jitgate cannot read the request: {e}"),
        )
    };
    let forward = |verdict: Verdict, encode: &dyn Fn() -> Vec<u8>, summary: &str| match verdict {
        Verdict::Pass => Ok((bytes.clone(), Vec::new())),
        Verdict::Rewritten(rewrite) => Ok((grpc::frame(&encode()), rewrite.sql_texts)),
        Verdict::Refuse(status) => {
            refused(live, method, summary, &status);
            Err(status)
        }
        Verdict::NeedSchemas(_) => Err(Status::new(
            Code::Internal,
            format!("{method}: jitgate could not settle the schemas masking needs"),
        )),
    };
    let inspected = |(out, sql_texts), audit| Inspected {
        body: tonic::body::Body::new(Full::new(out)),
        audit,
        sql_texts,
    };
    match method {
        "Config" => {
            let request = ConfigRequest::decode(message).map_err(undecodable)?;
            live.saw_session(&SessionContext::of(
                &request.session_id,
                &request.user_context,
            ));
            let verdict = live.policy.config(&request);
            Ok(inspected(
                forward(verdict, &|| request.encode_to_vec(), "")?,
                None,
            ))
        }
        "AnalyzePlan" => {
            let mut request = AnalyzePlanRequest::decode(message).map_err(undecodable)?;
            let session = SessionContext::of(&request.session_id, &request.user_context);
            live.saw_session(&session);
            let verdict = settle(front, live, &session, |schemas| {
                live.policy.analyze(&mut request, schemas)
            })
            .await;
            Ok(inspected(
                forward(verdict, &|| request.encode_to_vec(), "")?,
                None,
            ))
        }
        _ => {
            let mut request = ExecutePlanRequest::decode(message).map_err(undecodable)?;
            let session = SessionContext::of(&request.session_id, &request.user_context);
            live.saw_session(&session);
            let summary = plan::summarize(request.plan.as_ref());
            let verdict = settle(front, live, &session, |schemas| {
                live.policy.execute(&mut request, schemas)
            })
            .await;
            let masked = matches!(verdict, Verdict::Rewritten(_));
            let out = forward(verdict, &|| request.encode_to_vec(), &summary)?;
            let audit = PlanAudit {
                live: live.clone(),
                summary,
                masked,
                operation_id: request.operation_id.clone(),
                started,
                status: None,
                rows: Some(RowCounter::default()),
            };
            Ok(inspected(out, Some(audit)))
        }
    }
}

/// How many rounds of schema reading a request may take (a SQL text's tables are known after
/// one; the bound only stops a policy that keeps asking).
const SCHEMA_ROUNDS: usize = 3;

/// Asks the policy until it decides, reading the schemas it asks for from the upstream in the
/// client's Spark session. A table the upstream cannot read ends the call with the upstream's
/// words, as the client's own plan would have.
async fn settle(
    front: &ResourceFront,
    live: &Live,
    session: &SessionContext,
    mut ask: impl FnMut(&Schemas) -> Verdict,
) -> Verdict {
    let mut schemas = Schemas::new();
    for _ in 0..SCHEMA_ROUNDS {
        match ask(&schemas) {
            Verdict::NeedSchemas(tables) => {
                for table in tables {
                    match live.schemas.columns(&front.upstream, session, &table).await {
                        Ok(columns) => {
                            schemas.insert(table, columns);
                        }
                        Err(status) => return Verdict::Refuse(status),
                    }
                }
            }
            decided => return decided,
        }
    }
    ask(&schemas)
}

async fn read_request(method: &str, body: Incoming) -> Result<Bytes, Status> {
    Ok(Limited::new(body, MAX_PLAN_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Status::new(
                    Code::ResourceExhausted,
                    format!("{method}: jitgate reads plans of at most {MAX_PLAN_BYTES} bytes"),
                )
            } else {
                Status::new(
                    Code::Cancelled,
                    format!("{method}: reading the request: {e}"),
                )
            }
        })?
        .to_bytes())
}

fn refused(live: &Live, rpc: &str, summary: &str, status: &Status) {
    live.control.audit(live.event(
        jitgate_control::audit::kind::MASKING_REFUSED,
        json!({"text": summary, "rpc": rpc, "reason": status.message, "protocol": "spark-connect"}),
    ));
}

/// A trailers-only answer: HTTP 200 with the gRPC status in the headers and no body.
fn status_response(status: &Status) -> Response<OutBody> {
    let mut response = Response::new(OutBody::empty());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.extend(status.to_headers());
    response
}
