//! Delivery against a tiny local HTTP server: formats, signatures, retries, filtering, overflow.

use super::deliver::{sign, SIGNATURE_HEADER};
use super::queue::DeliveryQueue;
use super::{sentence, slack_message, RetryPolicy, WebhookEvent, APPROVE_ACTION, DENY_ACTION};
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::policy::ControlSettings;
use crate::store::SqliteStore;
use jitgate_config::{AccessRule, Requester, Roles, Secret, Webhook, WebhookFormat};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A loopback HTTP server answering with `statuses` in turn (then 200), one request per
/// connection; it stops by itself after a few seconds.
fn server(statuses: &[u16]) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let mut statuses: std::collections::VecDeque<u16> = statuses.iter().copied().collect();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).expect("blocking");
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut line = String::new();
            // Request line, then headers up to the blank line.
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((n, v)) = line.trim_end().split_once(':') {
                    headers.push((n.trim().to_string(), v.trim().to_string()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            log.lock().expect("log").push(Received { headers, body });
            let status = statuses.pop_front().unwrap_or(200);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, received)
}

fn wait_for(received: &Arc<Mutex<Vec<Received>>>, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = received.lock().expect("log").clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn hook(url: &str, format: WebhookFormat, events: &[&str], secret: Option<&str>) -> Webhook {
    Webhook {
        url: url.to_string(),
        format,
        events: events.iter().map(|e| e.to_string()).collect(),
        secret: secret.map(|s| Secret::new(s.into(), "test")),
        timeout: Duration::from_secs(2),
        console_url: None,
    }
}

fn control(hooks: Vec<Webhook>) -> Arc<ControlPlane> {
    let mut settings = ControlSettings {
        webhooks: hooks,
        webhook_retry: RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(20),
            queue_capacity: 100,
        },
        ..ControlSettings::default()
    };
    settings.policy.resources = vec!["prod-pg".into()];
    settings.policy.roles = Roles::default();
    settings.policy.rules = vec![AccessRule {
        resources: vec!["prod-pg".into()],
        requesters: vec![Requester::Anyone],
        max_duration: Duration::from_secs(3600),
        approvals: 0,
        approver_groups: vec![],
        auto_approve_groups: vec![],
        window: None,
        read_only: false,
        reason: Default::default(),
    }];
    let store = SqliteStore::in_memory().expect("store");
    ControlPlane::with_settings(Arc::new(store), settings)
}

fn alice() -> Subject {
    Subject::new("alice", &["analysts"])
}

#[test]
fn json_events_are_signed_and_retried_after_a_server_error() {
    let (url, received) = server(&[500]);
    let control = control(vec![hook(
        &url,
        WebhookFormat::Json,
        &["request.*"],
        Some("s3cret"),
    )]);
    let request = control
        .request_access(&alice(), "prod-pg", Duration::from_secs(1800), "INC-1234")
        .expect("request");
    assert!(control.shutdown(Duration::from_secs(10)), "delivered");
    let got = wait_for(&received, 2);
    // request.created failed once (500) and was delivered on the second try; request.approved
    // follows. grant.created is not subscribed.
    let kinds: Vec<String> = got
        .iter()
        .map(|r| r.json()["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        kinds,
        ["request.created", "request.created", "request.approved"]
    );
    let first = &got[1];
    assert_eq!(first.body, got[0].body, "a retry sends the same body");
    let body = first.json();
    assert_eq!(body["seq"], json!(1));
    assert_eq!(body["subject"], json!("alice"));
    assert_eq!(body["detail"]["request_id"], json!(request.id));
    assert_eq!(body["detail"]["reason"], json!("INC-1234"));
    assert_eq!(
        first.header(SIGNATURE_HEADER),
        Some(sign("s3cret", &first.body).as_str())
    );
    assert!(sign("s3cret", &first.body).starts_with("sha256="));
    assert_eq!(first.header("X-Jitgate-Event"), Some("request.created"));
    assert_eq!(first.header("Content-Type"), Some("application/json"));
}

#[test]
fn slack_messages_are_sentences() {
    let (url, received) = server(&[]);
    let control = control(vec![hook(
        &url,
        WebhookFormat::Slack,
        &["request.created"],
        None,
    )]);
    let request = control
        .request_access(
            &alice(),
            "prod-pg",
            Duration::from_secs(1800),
            "INC-1234 <!channel>",
        )
        .expect("request");
    assert!(control.shutdown(Duration::from_secs(10)));
    let got = wait_for(&received, 1);
    assert_eq!(got.len(), 1);
    let text = got[0].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let want = format!(
        "alice requested prod-pg for 30m: INC-1234 &lt;!channel&gt; (request {}; approved automatically)",
        request.id
    );
    assert!(text.starts_with(&want), "{text}");
    assert!(got[0].header(SIGNATURE_HEADER).is_none());
}

#[test]
fn refused_events_are_not_retried_and_give_up_after_the_attempts() {
    let (url, received) = server(&[404, 503, 503, 503]);
    let control = control(vec![hook(&url, WebhookFormat::Json, &["token.*"], None)]);
    control.issue_token(&alice()).expect("token");
    control.issue_token(&alice()).expect("token");
    assert!(control.shutdown(Duration::from_secs(10)));
    // One try for the 404, three (the policy's attempts) for the 503s.
    assert_eq!(wait_for(&received, 4).len(), 4);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(received.lock().expect("log").len(), 4);
}

#[test]
fn a_full_queue_drops_the_oldest() {
    let queue = DeliveryQueue::new(2);
    for seq in 1..=3 {
        queue.push(WebhookEvent {
            seq,
            event: AuditEvent::new("request.created", json!({})),
        });
    }
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.take().map(|e| e.seq), Some(2));
    assert!(
        !queue.wait_idle(Instant::now() + Duration::from_millis(10)),
        "busy with 2"
    );
    assert_eq!(queue.take().map(|e| e.seq), Some(3));
    queue.close();
    assert_eq!(queue.take().map(|e| e.seq), None);
}

#[test]
fn sentences_name_who_did_what() {
    let event = |kind: &str, detail: Value| {
        AuditEvent::new(kind, detail)
            .subject("alice")
            .resource("prod-pg")
            .grant("g_1")
    };
    let cases = [
        (
            event(
                "approval.added",
                json!({"request_id": "r_1", "by": "dana", "approvals": 1, "needed": 2}),
            ),
            "dana approved alice's request r_1 for prod-pg (1 of 2) [#7]",
        ),
        (
            event(
                "request.denied",
                json!({"request_id": "r_1", "by": "dana", "comment": "freeze"}),
            ),
            "dana denied alice's request r_1 for prod-pg: freeze [#7]",
        ),
        (
            event("grant.revoked", json!({"by": "dana"})),
            "dana revoked alice's grant g_1 on prod-pg [#7]",
        ),
        (
            event("alert.failed_logins", json!({"message": "5 failed logins"})),
            "ALERT failed_logins: 5 failed logins [#7]",
        ),
        (
            event("session.started", json!({})),
            "session.started by alice on prod-pg [#7]",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(sentence(7, &e), want);
    }
}

#[test]
fn slack_messages_of_waiting_requests_carry_approve_deny_and_a_link() {
    let event = AuditEvent::new(
        kind::REQUEST_CREATED,
        serde_json::json!({"request_id": "r_1", "duration_ms": 1_800_000, "reason": "INC-1",
                           "approvals_required": 1, "auto_approved": false}),
    )
    .subject("alice")
    .resource("prod-pg");
    let m = slack_message(7, &event, Some("https://jitgate.example.com"));
    let buttons = &m["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], APPROVE_ACTION);
    assert_eq!(buttons[0]["value"], "r_1");
    assert_eq!(buttons[1]["action_id"], DENY_ACTION);
    assert_eq!(
        buttons[2]["url"],
        "https://jitgate.example.com/requests/r_1"
    );
    assert_eq!(
        m["text"], m["blocks"][0]["text"]["text"],
        "text is the fallback"
    );
    // Decided at once, or another kind: a plain sentence, no buttons.
    let auto = AuditEvent::new(
        kind::REQUEST_CREATED,
        serde_json::json!({"request_id": "r_2", "auto_approved": true}),
    );
    assert!(slack_message(8, &auto, None).get("blocks").is_none());
    let other = AuditEvent::new(
        kind::GRANT_CREATED,
        serde_json::json!({"request_id": "r_1"}),
    );
    assert!(slack_message(9, &other, None).get("blocks").is_none());
}
