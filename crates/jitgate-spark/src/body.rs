//! The response body jitgate sends a client: either a trailers-only status of its own, or the
//! upstream's response streamed frame by frame — ended with PERMISSION_DENIED the moment the
//! session must stop, its Arrow rows counted on the way, edited for masked subjects (see
//! [`crate::edit`]), and audited when it is over.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use serde_json::json;

use crate::edit::{self, MessageEdit};
use crate::grpc::{self, RowCounter, Status};
use crate::scrub;
use crate::session::Live;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type StopFuture = Pin<Box<dyn Future<Output = Status> + Send>>;

/// One ExecutePlan as the audit trail records it, written when its response ends or is dropped.
pub struct PlanAudit {
    pub live: Arc<Live>,
    pub summary: String,
    /// Whether masking rewrote the plan before it went upstream.
    pub masked: bool,
    pub operation_id: Option<String>,
    pub started: Instant,
    /// gRPC status code and message once known.
    pub status: Option<(i32, String)>,
    pub rows: Option<RowCounter>,
}

impl Drop for PlanAudit {
    fn drop(&mut self) {
        let (code, message) = match &self.status {
            Some((code, message)) => (Some(*code), message.as_str()),
            None => (None, "call cancelled by the client"),
        };
        let outcome = code.map_or("CANCELLED", grpc::code_name);
        let event = self.live.event(
            jitgate_control::audit::kind::STATEMENT,
            json!({
                "text": self.summary,
                "protocol": "spark-connect",
                "rpc": "ExecutePlan",
                "masked": self.masked,
                "operation_id": self.operation_id,
                "duration_us": self.started.elapsed().as_micros() as u64,
                "rows": self.rows.as_ref().map(|r| r.rows),
                "outcome": outcome,
                "error": if code == Some(0) { None } else { Some(message) },
            }),
        );
        self.live.control.audit(event);
    }
}

pub struct OutBody {
    inner: Option<tonic::body::Body>,
    stop: Option<StopFuture>,
    live: Option<Arc<Live>>,
    audit: Option<PlanAudit>,
    edit: Option<MessageEdit>,
    done: bool,
}

impl OutBody {
    /// No body: the status is in the response headers (a trailers-only answer).
    pub fn empty() -> OutBody {
        OutBody {
            inner: None,
            stop: None,
            live: None,
            audit: None,
            edit: None,
            done: true,
        }
    }

    pub fn relay(
        inner: tonic::body::Body,
        live: Arc<Live>,
        audit: Option<PlanAudit>,
        edit: Option<MessageEdit>,
    ) -> OutBody {
        OutBody {
            stop: Some(Box::pin(live.stopped())),
            inner: Some(inner),
            live: Some(live),
            audit,
            edit,
            done: false,
        }
    }

    fn finish(&mut self, status: Option<(i32, String)>) {
        self.done = true;
        self.inner = None;
        if let Some(mut audit) = self.audit.take() {
            audit.status = status;
        }
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(stop) = this.stop.as_mut() {
            if let Poll::Ready(status) = stop.as_mut().poll(cx) {
                // Dropping the upstream body resets its stream; the session's end releases the
                // upstream's work.
                this.finish(Some((status.code as i32, status.message.clone())));
                return Poll::Ready(Some(Ok(Frame::trailers(status.to_headers()))));
            }
        }
        loop {
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(inner).poll_frame(cx)) {
                Some(Ok(mut frame)) => {
                    if let Some(data) = frame.data_mut() {
                        if let Some(live) = &this.live {
                            live.bytes_to_client
                                .fetch_add(data.len() as u64, Ordering::Relaxed);
                        }
                        if let Some(counter) = this.audit.as_mut().and_then(|a| a.rows.as_mut()) {
                            counter.feed(data);
                        }
                        if let Some(edit) = this.edit.as_mut() {
                            match edit.feed(data) {
                                // Only part of a message so far.
                                Ok(edited) if edited.is_empty() => continue,
                                Ok(edited) => *data = edited,
                                Err(status) => {
                                    // What cannot be checked is not relayed: the answer ends.
                                    this.finish(Some((status.code as i32, status.message.clone())));
                                    return Poll::Ready(Some(Ok(Frame::trailers(
                                        status.to_headers(),
                                    ))));
                                }
                            }
                        }
                    } else if let Some(trailers) = frame.trailers_mut() {
                        if let Some(live) = &this.live {
                            edit::blot_status(trailers, live.policy.secrets());
                            if let Some(scanner) = live.policy.result_scanner() {
                                scrub::status_headers(trailers, scanner);
                            }
                        }
                        let status = grpc::status_of(trailers);
                        let rest = this.edit.as_mut().map(MessageEdit::rest);
                        this.finish(status);
                        if let Some(rest) = rest.filter(|r| !r.is_empty()) {
                            // A message cut short: relayed as it came, trailers dropped (the
                            // client sees a broken stream either way).
                            return Poll::Ready(Some(Ok(Frame::data(rest))));
                        }
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => {
                    // The upstream broke off: the client gets a status rather than a reset
                    // stream.
                    let status = Status::new(
                        grpc::Code::Unavailable,
                        format!("the upstream Spark Connect server broke off the call: {e}"),
                    );
                    this.finish(Some((status.code as i32, status.message.clone())));
                    return Poll::Ready(Some(Ok(Frame::trailers(status.to_headers()))));
                }
                None => {
                    let status = this.audit.as_ref().and_then(|a| a.status.clone());
                    let rest = this.edit.as_mut().map(MessageEdit::rest);
                    this.finish(status);
                    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // An upstream trailers-only answer (an error before any message) must stay one HEADERS
        // frame with END_STREAM: gRPC clients read its status only then.
        self.done || self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// A client's request body relayed as it streams (artifact uploads and the like), its bytes
/// added to the session's count.
pub struct Counted {
    inner: hyper::body::Incoming,
    live: Arc<Live>,
}

impl Counted {
    pub fn new(inner: hyper::body::Incoming, live: Arc<Live>) -> Counted {
        Counted { inner, live }
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                self.live
                    .bytes_from_client
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
