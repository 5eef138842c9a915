//! `GET /.well-known/oauth-protected-resource[/{resource path}]`: the OAuth
//! 2.0 protected resource metadata (RFC 9728 §3) of `authentication`, from
//! which MCP clients find the authorization server (MCP 2025-11-25
//! "Authorization › Protected Resource Metadata Discovery"). Public: the
//! gateway's Envoy serves it without a token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The metadata document (`application/json`, RFC 9728 §3.2), or `404`
/// when authentication is off or the path is not one it is served at.
pub async fn get(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    let runtime = state.runtime.load();
    let Some(authentication) = &runtime.config.authentication else {
        return (StatusCode::NOT_FOUND, "no authentication is configured\n").into_response();
    };
    if !authentication
        .metadata_paths()
        .iter()
        .any(|p| p == uri.path())
    {
        return (StatusCode::NOT_FOUND, "no metadata at this path\n").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        authentication.metadata_document().to_string(),
    )
        .into_response()
}
