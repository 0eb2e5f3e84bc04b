//! The workspace client against the emulator: retries that honour `Retry-After`, errors with
//! the API's body, SCIM look-ups, statements polled and read chunk by chunk.

mod common;

use std::time::Duration;

use common::*;
use jitgate_config::ForeignPolicy;
use jitgate_databricks::{ApiError, Workspace};
use jitgate_testkit::EmulatedColumn;

#[test]
fn a_429_is_retried_no_sooner_than_its_retry_after_says() {
    let w = world();
    let api = Workspace::new(&workspace(&w.emu.url(), ForeignPolicy::Alert)).with_retry(quick());
    w.emu.fail(fault("GET", "/Users", 429, Some(1), 1));
    let user = api
        .user_by_name("alice@example.com")
        .expect("user after the retry");
    assert_eq!(user.id, w.alice);
    let seen: Vec<_> = w
        .emu
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/Users"))
        .collect();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 200]
    );
    // The back-off alone would have retried after 20 ms; Retry-After asked for a second.
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(950));
}

#[test]
fn server_errors_are_retried_until_the_attempts_run_out_then_reported_with_the_body() {
    let w = world();
    let api = Workspace::new(&workspace(&w.emu.url(), ForeignPolicy::Alert)).with_retry(quick());
    w.emu.fail(fault("", "/Groups", 503, None, 2));
    assert!(api.group_by_name(GROUP).is_ok(), "two 503s, then success");
    w.emu.fail(fault("", "/Groups", 503, None, 10));
    match api.group_by_name(GROUP) {
        Err(ApiError::Status {
            status: 503,
            error_code,
            body,
            ..
        }) => {
            assert_eq!(error_code, "TEMPORARILY_UNAVAILABLE");
            assert_eq!(body["message"], "injected fault");
        }
        other => panic!("expected the final 503, got {other:?}"),
    }
    let attempts = w.emu.seen().iter().filter(|s| s.status == 503).count();
    assert_eq!(attempts, 2 + 4, "four attempts in all for the second call");
}

#[test]
fn client_errors_are_not_retried_and_a_bad_token_says_so() {
    let w = world();
    let mut config = workspace(&w.emu.url(), ForeignPolicy::Alert);
    config.token = jitgate_config::Secret::new("wrong".into(), "test");
    let api = Workspace::new(&config).with_retry(quick());
    match api.user_by_name("alice@example.com") {
        Err(ApiError::Status {
            status: 401,
            error_code,
            ..
        }) => assert_eq!(error_code, "UNAUTHENTICATED"),
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(w.emu.seen().len(), 1);
    let api = Workspace::new(&workspace(&w.emu.url(), ForeignPolicy::Alert)).with_retry(quick());
    match api.permissions("table", "main.nope.nope") {
        Err(ApiError::Status {
            status: 404,
            error_code,
            ..
        }) => assert_eq!(error_code, "NOT_FOUND"),
        other => panic!("expected 404, got {other:?}"),
    }
    assert!(matches!(
        api.user_by_name("nobody@example.com"),
        Err(ApiError::NotFound(_))
    ));
}

#[test]
fn scim_filters_quote_what_they_look_up() {
    let w = world();
    let tricky = w.emu.add_user("o\"hara\\x@example.com");
    let api = Workspace::new(&workspace(&w.emu.url(), ForeignPolicy::Alert)).with_retry(quick());
    assert_eq!(
        api.user_by_name("o\"hara\\x@example.com").expect("user").id,
        tricky
    );
    // A value that would widen an unquoted filter finds nobody.
    assert!(api.user_by_name("x\" or userName pr \"").is_err());
}

#[test]
fn statements_are_polled_to_the_end_and_read_chunk_by_chunk() {
    let w = world();
    for c in ["a", "b", "c", "d", "e"] {
        w.emu.add_column(EmulatedColumn {
            catalog: "main".into(),
            schema: "sales".into(),
            table: "orders".into(),
            column: c.into(),
            data_type: "string".into(),
        });
    }
    let api = Workspace::new(&workspace(&w.emu.url(), ForeignPolicy::Alert)).with_retry(quick());
    let result = api
        .execute(&jitgate_databricks::masks::columns_query("main"), &[])
        .expect("statement");
    let names: Vec<_> = result
        .rows
        .iter()
        .map(|r| r[2].clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["a", "b", "c", "d", "e"],
        "three chunks of at most two rows"
    );
    let failed = api.execute("DROP TABLE main.sales.orders", &[]);
    assert!(
        matches!(failed, Err(ApiError::Status { ref error_code, .. }) if error_code == "PARSE_SYNTAX_ERROR")
    );
}

#[test]
fn oauth_client_credentials_are_exchanged_once_and_the_access_token_reused() {
    let w = world();
    w.emu.with_oauth("sp-client", "sp-secret");
    let mut config = workspace(&w.emu.url(), ForeignPolicy::Alert);
    // The configured token is wrong: only the OAuth access token works.
    config.token = jitgate_config::Secret::new("not-this-one".into(), "test");
    config.oauth = Some(jitgate_config::OAuthClient {
        client_id: "sp-client".into(),
        client_secret: jitgate_config::Secret::new("sp-secret".into(), "test"),
    });
    let api = Workspace::new(&config).with_retry(quick());
    assert_eq!(
        api.user_by_name("alice@example.com").expect("user").id,
        w.alice
    );
    assert!(api.group_by_name(GROUP).is_ok());
    let token_calls = w
        .emu
        .seen()
        .iter()
        .filter(|s| s.path == "/oidc/v1/token")
        .count();
    assert_eq!(token_calls, 1);

    config.oauth = Some(jitgate_config::OAuthClient {
        client_id: "sp-client".into(),
        client_secret: jitgate_config::Secret::new("wrong".into(), "test"),
    });
    let api = Workspace::new(&config).with_retry(quick());
    match api.user_by_name("alice@example.com") {
        Err(ApiError::Status {
            status: 401,
            error_code,
            ..
        }) => assert_eq!(error_code, "invalid_client"),
        other => panic!("expected invalid_client, got {other:?}"),
    }
}
