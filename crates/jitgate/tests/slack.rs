//! Slack interactive approvals against a local stand-in for Slack that checks messages as
//! Slack documents them (Slack's servers cannot be reached from the tests): the request
//! webhook's Block Kit buttons and link, signed button clicks decided under the API's rules, the
//! message updated with the outcome, and forged, stale and replayed clicks refused.

mod console_env;

use console_env::slack::{click, sign, SlackServer, BOT_TOKEN};
use console_env::{agent, start_with, Answer, WebUser};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "slack-signing-secret-for-tests";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Posts `body` to the interactivity endpoint, signed at `ts` with `secret`.
fn post_click(base: &str, body: &str, ts: i64, secret: &str) -> Answer {
    let ts = ts.to_string();
    let response = agent()
        .post(format!("{base}/api/v1/slack/actions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sign(secret, &ts, body))
        .send(body)
        .expect("answer");
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers: Vec::new(),
        body,
    }
}

fn wait_calls(slack: &SlackServer, n: usize) -> Vec<console_env::slack::Call> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let calls = slack.calls();
        if calls.len() >= n {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "Slack got {} calls, not {n}: {calls:?}",
            calls.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slack_buttons_decide_under_the_apis_rules_and_update_the_message() {
    let slack = SlackServer::start();
    let extra = format!(
        r#"
[[webhooks]]
url = "{hooks}/services/T0/B0/incoming"
format = "slack"
events = ["request.created"]
console_url = "{{API}}"

[slack]
signing_secret_env = "SLACK_SIGNING_SECRET"
response_base = "{hooks}/actions/"
bot_token_env = "SLACK_BOT_TOKEN"
api_base = "{hooks}/api/"

[slack.users]
U0DANA = "dana"
U0ALICE = "alice"
U0MALLORY = "mallory"

[users."dana.lee@example.com"]
password_env = "JITGATE_PW_DANA"
groups = ["dba"]
"#,
        hooks = slack.base
    );
    let env = start_with(
        false,
        "",
        &extra,
        &[
            ("SLACK_SIGNING_SECRET", SECRET),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ],
    );
    let alice = WebUser::sign_in(&env.base, "alice");
    let id = alice.request_app("INC-9 <!channel> restore a row");

    // The request's message: text, Approve/Deny buttons carrying the id, and the console link.
    let message = wait_calls(&slack, 1).remove(0);
    assert_eq!(message.path, "/services/T0/B0/incoming");
    let text = message.body["text"].as_str().expect("text");
    assert!(
        text.contains("&lt;!channel&gt;"),
        "user text cannot mention: {text}"
    );
    let buttons = &message.body["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], "jitgate_approve");
    assert_eq!(buttons[0]["value"], id.as_str());
    assert_eq!(buttons[1]["action_id"], "jitgate_deny");
    assert_eq!(buttons[2]["url"], format!("{}/requests/{id}", env.base));

    let respond = format!("{}/actions/T0/1/abc", slack.base);
    let approve = |user: &str| click(user, "jitgate_approve", &id, &respond);

    // Forged, stale and unsigned clicks are refused before anything is decided.
    assert_eq!(
        post_click(&env.base, &approve("U0DANA"), now(), "wrong-secret").status,
        401
    );
    assert_eq!(
        post_click(&env.base, &approve("U0DANA"), now() - 400, SECRET).status,
        401
    );
    let unsigned = agent()
        .post(format!("{}/api/v1/slack/actions", env.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(approve("U0DANA"))
        .expect("answer");
    assert_eq!(unsigned.status().as_u16(), 401);
    // A response_url elsewhere than Slack's is never called.
    let elsewhere = click("U0DANA", "jitgate_approve", &id, "http://127.0.0.1:9/x");
    assert_eq!(post_click(&env.base, &elsewhere, now(), SECRET).status, 400);

    // The API's rules: a non-approver, the requester herself, an unknown Slack user.
    let mut expected = 1;
    for (user, said) in [
        ("U0MALLORY", "no request"),
        ("U0ALICE", "their own request"),
        ("U0STRANGER", "does not know Slack user U0STRANGER"),
    ] {
        assert_eq!(
            post_click(&env.base, &approve(user), now(), SECRET).status,
            200
        );
        expected += 1;
        let reply = wait_calls(&slack, expected).remove(expected - 1);
        assert_eq!(reply.path, "/actions/T0/1/abc");
        assert_eq!(
            reply.body["replace_original"], false,
            "{user}: told to the clicker"
        );
        assert_eq!(reply.body["response_type"], "ephemeral");
        let text = reply.body["text"].as_str().unwrap_or_default();
        assert!(text.contains(said), "{user}: {text}");
    }
    assert!(alice
        .get(&format!("/requests/{id}"))
        .body
        .contains("badge pending"));

    // Dana Lee, not in [slack.users], is found by the e-mail address Slack's users.info gives;
    // she approves, and the message is replaced with the outcome and who decided.
    let body = approve("U0DANALEE");
    let ts = now();
    assert_eq!(post_click(&env.base, &body, ts, SECRET).status, 200);
    expected += 1;
    let outcome = wait_calls(&slack, expected).remove(expected - 1);
    assert_eq!(outcome.body["replace_original"], true);
    let text = outcome.body["text"].as_str().unwrap_or_default();
    assert!(text.contains("approved by dana.lee@example.com"), "{text}");
    assert!(alice
        .get(&format!("/requests/{id}"))
        .body
        .contains("badge approved"));
    assert!(
        slack
            .api_calls()
            .contains(&"/api/users.info?user=U0DANALEE".to_owned()),
        "{:?}",
        slack.api_calls()
    );

    // The very same signed request again is a replay.
    assert_eq!(post_click(&env.base, &body, ts, SECRET).status, 409);
}
