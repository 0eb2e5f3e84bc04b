//! The routes under `/api/v1`, one module per kind of thing.

pub(crate) mod audit;
mod credentials;
mod grants;
mod login;
mod meta;
pub(crate) mod oidc;
mod requests;
mod sessions;

use crate::ApiState;
use axum::routing::{delete, get, post};
use axum::Router;

/// Every route, with its full path: the method-not-allowed fallback is applied to the routes a
/// router has when it is set, so nesting a second router would leave its routes without it.
pub fn api_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/health", get(meta::health))
        .route("/health", get(meta::health))
        .route("/ready", get(meta::ready))
        .route("/metrics", get(meta::metrics))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/login", post(login::login))
        .route("/api/v1/logout", post(login::logout))
        .route("/api/v1/login/oidc", post(oidc::login))
        .route("/api/v1/login/oidc/renew", post(oidc::renew))
        .route("/api/v1/oidc/providers", get(oidc::providers))
        .route(
            "/api/v1/requests",
            get(requests::list).post(requests::create),
        )
        .route("/api/v1/requests/{id}", get(requests::show))
        .route("/api/v1/requests/{id}/approve", post(requests::approve))
        .route("/api/v1/requests/{id}/deny", post(requests::deny))
        .route("/api/v1/requests/{id}/cancel", post(requests::cancel))
        .route("/api/v1/grants", get(grants::list))
        .route("/api/v1/grants/{id}", get(grants::show))
        .route("/api/v1/grants/{id}/revoke", post(grants::revoke))
        .route(
            "/api/v1/grants/{id}/platform-token",
            post(grants::platform_token),
        )
        .route("/api/v1/connect", post(grants::connect))
        .route("/api/v1/credentials", get(credentials::list))
        .route("/api/v1/credentials/prune", post(credentials::prune))
        .route("/api/v1/credentials/{id}", delete(credentials::remove))
        .route("/api/v1/sessions", get(sessions::list))
        .route("/api/v1/sessions/{id}/kill", post(sessions::kill))
        .route("/api/v1/audit", get(audit::page))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route("/api/v1/slack/actions", post(crate::slack::actions))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
}
