use super::session::{cookie, same_token, set_cookie, ConsoleSessions};
use std::time::{Duration, Instant};

#[test]
fn idle_sessions_end_and_use_renews() {
    let sessions = ConsoleSessions::new(Duration::from_secs(60));
    let start = Instant::now();
    let id = sessions.open("tok".into(), start).expect("room");
    let later = start + Duration::from_secs(50);
    assert!(sessions.use_session(&id, later, true).is_some());
    // Renewed at 50 s: alive at 100 s, not without renewal past 60 s of idling.
    assert!(sessions
        .use_session(&id, start + Duration::from_secs(100), false)
        .is_some());
    assert!(sessions
        .use_session(&id, start + Duration::from_secs(111), false)
        .is_none());
    assert!(
        sessions.use_session(&id, later, true).is_none(),
        "an idle session is gone for good"
    );
}

#[test]
fn closing_a_session_forgets_it() {
    let sessions = ConsoleSessions::default();
    let id = sessions.open("tok".into(), Instant::now()).expect("room");
    assert_eq!(sessions.close(&id).map(|e| e.token), Some("tok".to_owned()));
    assert!(sessions.use_session(&id, Instant::now(), true).is_none());
}

#[test]
fn csrf_tokens_must_match_exactly_and_never_be_empty() {
    assert!(same_token("abc", "abc"));
    assert!(!same_token("abc", "abd"));
    assert!(!same_token("abc", ""));
    assert!(!same_token("", ""));
}

#[test]
fn cookies_are_http_only_lax_and_secure_over_tls() {
    let plain = set_cookie("c", "v", false, None);
    assert_eq!(plain, "c=v; Path=/; HttpOnly; SameSite=Lax");
    assert!(set_cookie("c", "v", true, None).contains("; Secure"));
    assert_eq!(cookie("a=1; c=v; d=2", "c"), Some("v"));
    assert_eq!(cookie("cc=1", "c"), None);
}

#[test]
fn after_sign_in_only_paths_of_this_console_are_followed() {
    use super::error::local_path;
    for good in ["/", "/requests/r_1", "/inbox?status=pending"] {
        assert_eq!(local_path(good), good);
    }
    for bad in [
        "",
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/a b",
        "/a\nSet-Cookie: x=1",
    ] {
        assert_eq!(local_path(bad), "/", "{bad:?}");
    }
}
