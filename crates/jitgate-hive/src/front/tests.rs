use http::HeaderValue;

use super::*;

fn headers(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(value).expect("header"),
    );
    h
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// The credential comes as bearer token (the Databricks connector), as Basic with user `token`
/// (ODBC/JDBC drivers), or as Basic login and secret (beeline `-n LOGIN -p SECRET`).
#[test]
fn credentials_are_read_from_bearer_and_basic_auth() {
    assert_eq!(
        credential(&headers("Bearer alice-x.s3")).as_deref(),
        Some("alice-x.s3")
    );
    assert_eq!(
        credential(&headers(&basic("token", "alice-x.s3"))).as_deref(),
        Some("alice-x.s3")
    );
    assert_eq!(
        credential(&headers(&basic("alice-x", "s3"))).as_deref(),
        Some("alice-x.s3")
    );
    for bad in ["Bearer ", "Digest x", "Basic !!!", &basic("token", "")] {
        assert_eq!(credential(&headers(bad)), None, "{bad}");
    }
    assert_eq!(credential(&HeaderMap::new()), None);
}
