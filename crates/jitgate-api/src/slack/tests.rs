use super::signature::{sign, verify, ReplayGuard, SignatureError, WINDOW_SECS};

/// Slack's documented example: secret, timestamp and body give this signature.
#[test]
fn slacks_documented_example_verifies() {
    let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let ts = "1531420618";
    let want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_eq!(sign(secret, ts, body), want);
    assert_eq!(verify(secret, ts, body, want, 1531420618 + 10), Ok(()));
}

#[test]
fn stale_tampered_and_replayed_requests_are_refused() {
    let secret = b"s3cret";
    let now = 1_700_000_000;
    let ts = now.to_string();
    let good = sign(secret, &ts, b"payload=x");
    assert_eq!(
        verify(secret, &ts, b"payload=y", &good, now),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(b"other", &ts, b"payload=x", &good, now),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(secret, &ts, b"payload=x", &good, now + WINDOW_SECS + 1),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(secret, "soon", b"payload=x", &good, now),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(secret, &ts, b"payload=x", "", now),
        Err(SignatureError::Mismatch)
    );
    let replays = ReplayGuard::default();
    assert_eq!(replays.first_time(&good, now, now), Ok(()));
    assert_eq!(
        replays.first_time(&good, now, now + 1),
        Err(SignatureError::Replayed)
    );
}
