//! The frame of every console page: head (stylesheet, the one script, no inline code), the
//! navigation the viewer's roles call for, and helpers shared by the pages.

use super::viewer::Viewer;
use crate::ApiState;
use axum::http::StatusCode;
use axum::response::Html;
use jitgate_control::model::{rfc3339, Millis};
use maud::{html, Markup, DOCTYPE};

/// Which sections the navigation offers: decided by the policy, as the control plane decides
/// what each section then shows.
pub struct Nav {
    pub oversees: bool,
    pub admin: bool,
}

impl Nav {
    pub fn of(state: &ApiState, viewer: &Viewer) -> Nav {
        let policy = state.control.policy();
        Nav {
            oversees: policy.oversees_any(&viewer.subject),
            admin: policy.is_admin(&viewer.subject),
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · jitgate" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// A signed-in page: `active` names the navigation entry it belongs to.
pub fn page(
    state: &ApiState,
    viewer: &Viewer,
    active: &str,
    title: &str,
    body: Markup,
) -> Html<String> {
    let nav = Nav::of(state, viewer);
    let entries: [(&str, &str, bool); 6] = [
        ("/", "My access", true),
        ("/inbox", "Inbox", nav.oversees),
        ("/grants", "Grants", true),
        ("/sessions", "Sessions", true),
        ("/audit", "Audit", nav.admin),
        ("/policy", "Policy", nav.admin),
    ];
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live-updates="/events" {
                header.top {
                    a.brand href="/" { "jitgate" }
                    nav {
                        @for (href, label, shown) in entries {
                            @if shown {
                                a href=(href) aria-current=[(href == active).then_some("page")] { (label) }
                            }
                        }
                    }
                    form.signout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        span.who { (viewer.subject.name) }
                        button type="submit" { "Sign out" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A page for someone not signed in (sign-in form, errors).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "jitgate" } }
                main { h1 { (title) } (body) }
            }
        }
    };
    Html(markup.into_string())
}

pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            p.error role="alert" { (message) }
            p { a href="/" { "Back to the console" } }
        },
    )
}

/// A hidden CSRF field for a form of `viewer`'s.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A time, readable and machine-readable.
pub fn time(ms: Millis) -> Markup {
    let text = rfc3339(ms);
    html! { time datetime=(text) { (text.get(..16).unwrap_or(&text).replace('T', " ")) " UTC" } }
}

/// A live countdown to `until` (the script ticks it; the text is right at render time).
pub fn countdown(until: Millis, now: Millis) -> Markup {
    html! {
        span.countdown data-until=(until) { (left(until.saturating_sub(now))) }
    }
}

/// `1h 02m 03s left`, `expired`.
pub fn left(ms: Millis) -> String {
    if ms <= 0 {
        return "expired".into();
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s left")
    } else {
        format!("{m}m {s:02}s left")
    }
}

/// `30m`, `2h`, `1h 30m` for a duration in milliseconds.
pub fn duration(ms: Millis) -> String {
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// A status word as a badge.
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status) } }
}
