//! A local stand-in for Slack's side, written from Slack's public documentation (Slack itself
//! cannot be reached from the tests): it receives incoming-webhook messages and `response_url`
//! posts, checks each the way Slack documents (JSON body; `text` always present as the fallback;
//! Block Kit: `section`/`actions` blocks, buttons with `action_id`, `plain_text` labels of at
//! most 75 characters, `value` at most 2000, at most 25 elements per actions block, `style`
//! `primary` or `danger`, `url` at most 3000), answers `ok` or Slack's `invalid_blocks`/
//! `invalid_payload` with 400, and keeps what it accepted. It answers the Web API's
//! `users.info` as Slack documents it (`GET /api/users.info?user=ID` with the bot token as
//! `Authorization: Bearer`; `{"ok": true, "user": {"profile": {"email"}}}` or `{"ok": false,
//! "error"}` with 200). It also signs interactivity requests as Slack does.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One accepted call.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub body: Value,
}

/// The bot token the stand-in's Web API accepts.
pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
/// The Slack users the stand-in's Web API knows, with their e-mail addresses.
pub const EMAILS: [(&str, &str); 1] = [("U0DANALEE", "dana.lee@example.com")];

pub struct SlackServer {
    pub base: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl SlackServer {
    pub fn start() -> SlackServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        SlackServer { base, calls }
    }

    /// Messages received (incoming webhook and `response_url` posts), in order.
    pub fn calls(&self) -> Vec<Call> {
        let calls = self.calls.lock().expect("log").clone();
        calls
            .into_iter()
            .filter(|c| !c.path.starts_with("/api/"))
            .collect()
    }

    /// Web API calls received (their paths), in order.
    pub fn api_calls(&self) -> Vec<String> {
        let calls = self.calls.lock().expect("log").clone();
        calls
            .into_iter()
            .filter(|c| c.path.starts_with("/api/"))
            .map(|c| c.path)
            .collect()
    }
}

fn serve(stream: std::net::TcpStream, log: &Mutex<Vec<Call>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let method = line.split_whitespace().next().unwrap_or("").to_owned();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut length, mut json, mut auth) = (0usize, false, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if name == "content-type" {
                json = value.starts_with("application/json");
            }
            if name == "authorization" {
                auth = value.to_owned();
            }
        }
    }
    if method == "GET" {
        let answer = users_info(&path, &auth).to_string();
        log.lock().expect("log").push(Call {
            path,
            body: Value::Null,
        });
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = reader.get_mut().write_all(reply.as_bytes());
        return;
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let verdict = match serde_json::from_slice::<Value>(&body) {
        Ok(value) if json => check_message(&value).map(|()| value),
        _ => Err("invalid_payload"),
    };
    let (status, text) = match verdict {
        Ok(value) => {
            log.lock().expect("log").push(Call { path, body: value });
            ("200 OK", "ok")
        }
        Err(why) => ("400 Bad Request", why),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = reader.get_mut().write_all(answer.as_bytes());
}

/// `users.info`: the user's profile with the bot token, Slack's error shapes otherwise.
fn users_info(path: &str, auth: &str) -> Value {
    if auth != format!("Bearer {BOT_TOKEN}") {
        return serde_json::json!({"ok": false, "error": "not_authed"});
    }
    let Some(user) = path.strip_prefix("/api/users.info?user=") else {
        return serde_json::json!({"ok": false, "error": "unknown_method"});
    };
    match EMAILS.iter().find(|(id, _)| *id == user) {
        Some((id, email)) => serde_json::json!({
            "ok": true,
            "user": {"id": id, "name": "dana.lee", "profile": {"email": email, "real_name": "Dana Lee"}},
        }),
        None => serde_json::json!({"ok": false, "error": "user_not_found"}),
    }
}

/// A message as Slack's incoming webhooks and response URLs accept it.
fn check_message(m: &Value) -> Result<(), &'static str> {
    if !m["text"].is_string() {
        return Err("no_text");
    }
    let Some(blocks) = m.get("blocks") else {
        return Ok(());
    };
    let blocks = blocks.as_array().ok_or("invalid_blocks")?;
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    for block in blocks {
        match block["type"].as_str() {
            Some("section") => check_text(&block["text"], 3000)?,
            Some("actions") => {
                let elements = block["elements"].as_array().ok_or("invalid_blocks")?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err("invalid_blocks");
                }
                elements.iter().try_for_each(check_button)?;
            }
            _ => return Err("invalid_blocks"),
        }
    }
    Ok(())
}

fn check_text(t: &Value, max: usize) -> Result<(), &'static str> {
    let kind_ok = matches!(t["type"].as_str(), Some("mrkdwn" | "plain_text"));
    let len = t["text"].as_str().map(|s| s.chars().count());
    if kind_ok && len.is_some_and(|n| n > 0 && n <= max) {
        Ok(())
    } else {
        Err("invalid_blocks")
    }
}

fn check_button(b: &Value) -> Result<(), &'static str> {
    if b["type"] != "button" || b["text"]["type"] != "plain_text" {
        return Err("invalid_blocks");
    }
    check_text(&b["text"], 75)?;
    let id_ok = b["action_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.len() <= 255);
    let value_ok = b
        .get("value")
        .is_none_or(|v| v.as_str().is_some_and(|s| s.len() <= 2000));
    let url_ok = b
        .get("url")
        .is_none_or(|v| v.as_str().is_some_and(|s| s.len() <= 3000));
    let style_ok = b
        .get("style")
        .is_none_or(|v| v == "primary" || v == "danger");
    if id_ok && value_ok && url_ok && style_ok {
        Ok(())
    } else {
        Err("invalid_blocks")
    }
}

/// Slack's signature of an interactivity request: `v0=` HMAC-SHA256 of `v0:{ts}:{body}`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v0={hex}")
}

/// The form body Slack posts when `user` clicks the button `action` of a message about
/// `request_id`, with `response_url`.
pub fn click(user: &str, action: &str, request_id: &str, response_url: &str) -> String {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0JITGATE"},
        "team": {"id": "T0JITGATE", "domain": "example"},
        "api_app_id": "A0JITGATE",
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [{
            "type": "button",
            "block_id": "jitgate_decision",
            "action_id": action,
            "value": request_id,
            "action_ts": "1700000000.000001",
        }],
    });
    format!(
        "payload={}",
        jitgate_api::percent_encode(&payload.to_string())
    )
}
