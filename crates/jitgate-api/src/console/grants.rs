//! Active grants (revoke) and the connect panel: a fresh credential for the viewer's live grant,
//! shown once, with the command or URL each client kind takes.

use super::error::{ConsoleError, ConsoleResult};
use super::layout::{self, countdown, csrf};
use super::viewer::{Post, Viewer};
use super::{call, see_other};
use crate::connection::ConnectionInfo;
use crate::limits;
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use jitgate_config::Upstream;
use jitgate_control::lifecycle::PageRequest;
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ConnectForm {
    resource: String,
}

pub async fn page(State(state): State<ApiState>, viewer: Viewer) -> ConsoleResult<Html<String>> {
    let subject = viewer.subject.clone();
    let grants = call(&state, move |c| {
        Ok(c.list_grants_page(&subject, true, &PageRequest::first())?
            .items)
    })
    .await?;
    let now = state.control.now();
    let body = html! {
        section #grants data-live {
            @if grants.is_empty() { p.empty { "No active grant." } }
            @for g in &grants {
                article.card.grant id={ "grant-" (g.id) } {
                    div.line { strong.title { (g.subject) " → " (g.resource) } (countdown(g.expires_at, now)) }
                    p.meta { "granted by " (g.granted_by) @if g.read_only { " · read only" } }
                    form method="post" action={ "/grants/" (g.id) "/revoke" } {
                        (csrf(&viewer)) button.danger type="submit" { "Revoke" }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &state,
        &viewer,
        "/grants",
        "Active grants",
        body,
    ))
}

pub async fn revoke(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    post: Post<super::login::Nothing>,
) -> ConsoleResult<Response> {
    limits::id("id", &id)?;
    let subject = post.viewer.subject;
    call(&state, move |c| Ok(c.revoke_grant(&subject, &id)?)).await?;
    Ok(see_other("/grants"))
}

/// Mints a credential for the viewer's live grant on the resource (`POST /api/v1/connect`).
pub async fn connect(
    State(state): State<ApiState>,
    post: Post<ConnectForm>,
) -> ConsoleResult<Html<String>> {
    let name = post.form.resource;
    limits::name("resource", &name, limits::MAX_RESOURCE)?;
    let Some(resource) = state.resources.get(&name).cloned() else {
        return Err(ConsoleError::refused(
            StatusCode::NOT_FOUND,
            format!("no resource {name}"),
        ));
    };
    let subject = post.viewer.subject.clone();
    let issued = call(&state, move |c| Ok(c.connect(&subject, &name)?)).await?;
    let info = ConnectionInfo::new(
        &resource,
        state.client_tls,
        &issued.credential.login,
        &issued.secret,
    );
    let command = info.command.clone().unwrap_or_default();
    let body = html! {
        section.card.connect {
            p { "A credential for " strong { (resource.name) } ", valid until the grant ends. It is shown only now: copy what your client needs." }
            @match resource.upstream {
                Upstream::SparkConnect(_) => {
                    (copyable("Spark Connect URI", "sc", &info.uri))
                }
                Upstream::Postgres(_) => {
                    (copyable("psql", "psql", &command))
                    (copyable("libpq URI", "uri", &info.uri))
                    (copyable("JDBC URL", "jdbc", &jdbc(&info)))
                    (copyable("User", "user", &info.login))
                    (copyable("Password", "password", &info.password))
                }
                Upstream::MySql(_) => {
                    (copyable("mysql", "mysql", &command))
                    (copyable("MySQL URI", "uri", &info.uri))
                    (copyable("User", "user", &info.login))
                    (copyable("Password", "password", &info.password))
                }
                Upstream::DatabricksSql(_) => {
                    (copyable("JDBC URL", "jdbc", &info.uri))
                    (copyable("beeline", "beeline", &command))
                    (copyable("User", "user", "token"))
                    (copyable("Password or token", "password", &format!("{}.{}", info.login, info.password)))
                }
            }
            p { a href="/" { "Back" } }
        }
    };
    Ok(layout::page(&state, &post.viewer, "/", "Connect", body))
}

fn jdbc(info: &ConnectionInfo) -> String {
    let host = if info.host.contains(':') {
        format!("[{}]", info.host)
    } else {
        info.host.clone()
    };
    format!(
        "jdbc:postgresql://{host}:{}/{}?user={}&password={}",
        info.port,
        crate::percent_encode(&info.database),
        crate::percent_encode(&info.login),
        crate::percent_encode(&info.password)
    )
}

fn copyable(label: &str, id: &str, value: &str) -> Markup {
    html! {
        div.copyable {
            span.label { (label) }
            code id={ "connect-" (id) } { (value) }
            button type="button" data-copy={ "connect-" (id) } { "Copy" }
        }
    }
}
