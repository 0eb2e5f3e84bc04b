//! Listings page: `limit` (1 to 1000, default 1000) and `after` (a cursor) in the query; when
//! more rows follow, the answer carries `Link: <URL>; rel="next"` (RFC 8288), the same call with
//! the next cursor. The bodies stay JSON arrays, as they always were, so existing clients keep
//! working and simply see the first page.

use crate::error::{ApiError, ApiResult};
use crate::limits;
use axum::http::header::LINK;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jitgate_control::lifecycle::paging::MAX_PAGE;
use jitgate_control::lifecycle::{Page, PageRequest};
use jitgate_control::store::Cursor;
use serde::Serialize;

fn invalid_query(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// The page a listing's `limit` and `after` ask for.
pub fn request(limit: Option<usize>, after: Option<&str>) -> ApiResult<PageRequest> {
    let limit = limit.unwrap_or(MAX_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(invalid_query(format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = after.map(parse_cursor).transpose()?;
    Ok(PageRequest { limit, after })
}

/// A cursor as the API writes it: `MILLIS.ID`. Clients pass back what `Link` gave them.
pub fn cursor_text(cursor: &Cursor) -> String {
    format!("{}.{}", cursor.at, cursor.id)
}

fn parse_cursor(text: &str) -> ApiResult<Cursor> {
    let bad = || invalid_query("after must be a cursor from a previous page's Link".into());
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    limits::id("after", id).map_err(|_| bad())?;
    Ok(Cursor {
        at,
        id: id.to_owned(),
    })
}

/// A page as a JSON array of views, with the link to the next page when there is one.
pub fn answer<T, V: Serialize>(uri: &Uri, page: Page<T>, view: impl Fn(&T) -> V) -> Response {
    let views: Vec<V> = page.items.iter().map(view).collect();
    let next = page.next.as_ref().map(cursor_text);
    with_next(axum::Json(views).into_response(), uri, next.as_deref())
}

/// Adds `Link: <URI with after=NEXT>; rel="next"` to `response`.
pub fn with_next(mut response: Response, uri: &Uri, next: Option<&str>) -> Response {
    if let Some(next) = next {
        if let Ok(value) =
            HeaderValue::from_str(&format!("<{}>; rel=\"next\"", next_uri(uri, next)))
        {
            response.headers_mut().insert(LINK, value);
        }
    }
    response
}

/// The same path and query, with `after` set to `next`.
fn next_uri(uri: &Uri, next: &str) -> String {
    let mut pairs: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && *p != "after" && !p.starts_with("after="))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("after={}", crate::percent_encode(next)));
    format!("{}?{}", uri.path(), pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_odd_ones_are_refused() {
        let cursor = Cursor {
            at: 1_733_000_000_123,
            id: "s_7k2m".into(),
        };
        let parsed = request(Some(5), Some(&cursor_text(&cursor))).expect("a page");
        assert_eq!(parsed.after, Some(cursor));
        for bad in ["", "123", "x.s_1", "12.", "12.a b", "12.../etc"] {
            assert!(request(None, Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_one_to_a_thousand() {
        assert_eq!(request(None, None).expect("default").limit, 1000);
        assert!(request(Some(0), None).is_err());
        assert!(request(Some(1001), None).is_err());
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_the_cursor() {
        let uri: Uri = "/api/v1/sessions?open=true&after=1.s_a&limit=2"
            .parse()
            .expect("a URI");
        assert_eq!(
            next_uri(&uri, "0.s_b"),
            "/api/v1/sessions?open=true&limit=2&after=0.s_b"
        );
    }
}
