//! `GET {mcpPath}`: a gateway session's server-to-client stream (MCP
//! 2025-11-25, "Transports › Listening for Messages from the Server").
//!
//! It merges what concerns the session: the gateway's own
//! `notifications/*/list_changed` when an aggregated list changes, and what
//! the upstreams send on the GET streams of the session's upstream sessions
//! (`notifications/message`, `notifications/resources/updated` for its
//! subscriptions, requests such as `roots/list`), including upstream
//! sessions opened after the stream. Upstream requests get relay ids
//! ([`mcp_protocol::relay_id`]) so the client's answer finds its way back
//! through the router. Upstreams' own `list_changed` notifications are not
//! relayed: the broker re-lists on them and announces the aggregated change
//! once the proxy routes it, so a client never lists what it cannot call.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::{methods, relay_id};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::mcp::{check_access, header_str, session};
use super::rpc;
use crate::catalog::ListsChanged;
use crate::sessions::Listened;
use crate::state::AppState;
use crate::upstream::UpstreamSpec;
use crate::upstream::client::Connection;
use crate::upstream::handshake::{self, UpstreamSession};

/// Messages waiting for a slow client before upstream streams are held back.
const BACKLOG: usize = 64;

pub async fn get(State(state): State<Arc<AppState>>, request_headers: HeaderMap) -> Response {
    if let Err(refusal) = check_access(&state, &request_headers) {
        return rpc::refuse(refusal);
    }
    if super::mcp::is_modern(&request_headers) {
        return super::modern::refuse(&Refusal::MethodNotAllowed, None);
    }
    let accepts_sse = header_str(&request_headers, header::ACCEPT.as_str())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if !accepts_sse {
        return rpc::refuse(Refusal::NotAcceptable);
    }
    let gateway = match session(&state, &request_headers).await {
        Ok((gateway, _)) => gateway.to_owned(),
        Err(refusal) => return rpc::refuse(refusal),
    };
    let (sender, receiver) = mpsc::channel::<String>(BACKLOG);
    let cancel = CancellationToken::new();
    // Subscribed before the answer goes out, so nothing announced after the
    // client sees the stream open is missed; and before the upstream
    // sessions are listed, so none opened in between is missed.
    let changes = state.catalog.subscribe_lists_changed();
    let opened = state.sessions.listen(&gateway);
    tokio::spawn(catalogue_changes(changes, sender.clone(), cancel.clone()));
    tokio::spawn(upstream_streams(
        state,
        gateway,
        opened,
        sender,
        cancel.clone(),
    ));
    // The stream owns the guard: a client that goes away stops every task.
    let guard = cancel.drop_guard();
    let events = ReceiverStream::new(receiver).map(move |data| {
        let _ = &guard;
        Ok::<_, Infallible>(Event::default().data(data))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A POST's answer as an event stream: each message as one event.
pub fn events(messages: mpsc::Receiver<String>) -> Response {
    let events =
        ReceiverStream::new(messages).map(|data| Ok::<_, Infallible>(Event::default().data(data)));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The gateway's `list_changed` notifications.
async fn catalogue_changes(
    mut changes: broadcast::Receiver<ListsChanged>,
    sender: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    loop {
        let changed = tokio::select! {
            changed = changes.recv() => changed,
            () = cancel.cancelled() => return,
        };
        let changed = match changed {
            Ok(changed) => changed,
            // Missed announcements: say everything may have changed.
            Err(RecvError::Lagged(_)) => ListsChanged {
                tool: true,
                prompt: true,
                resource: true,
                resource_template: true,
            },
            Err(RecvError::Closed) => return,
        };
        for method in changed.notifications() {
            let notification =
                serde_json::json!({ "jsonrpc": "2.0", "method": method }).to_string();
            if sender.send(notification).await.is_err() {
                return;
            }
        }
    }
}

/// Relays the GET streams of `gateway`'s upstream sessions: those it holds
/// now (opened here), and those it opens later (opened by the session API
/// before the router uses them, see [`attach`]).
async fn upstream_streams(
    state: Arc<AppState>,
    gateway: String,
    mut opened: mpsc::Receiver<Listened>,
    sender: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    let runtime = state.runtime.load_full();
    let held = match state.sessions.upstream_sessions_of(&gateway).await {
        Ok(held) => held,
        Err(error) => {
            tracing::warn!(%error, "upstream GET streams not relayed");
            Vec::new()
        }
    };
    for (server, session) in held {
        let Some(spec) = runtime.spec(&server).cloned() else {
            continue;
        };
        let (http, sender, cancel) = (state.http.clone(), sender.clone(), cancel.clone());
        tokio::spawn(async move {
            let connection = handshake::connection(&http, &spec, &session);
            if let Some(events) = listen(&connection).await {
                relay(server, events, sender, cancel).await;
            }
        });
    }
    loop {
        tokio::select! {
            next = opened.recv() => match next {
                Some((server, events)) => {
                    tokio::spawn(relay(server, events, sender.clone(), cancel.clone()));
                }
                None => return,
            },
            () = cancel.cancelled() => return,
        }
    }
}

/// How long opening an upstream GET stream may take.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the GET stream of a new upstream session of `gateway`, when its
/// client listens, and hands it to the client's stream. Called by the
/// session API before it answers: an upstream may send a request on that
/// stream as soon as the router's first call arrives (server-everything's
/// `roots/list`), and it must find the stream open.
pub async fn attach(
    state: &AppState,
    gateway: &str,
    spec: &Arc<UpstreamSpec>,
    session: &UpstreamSession,
) {
    let Some(listener) = state.sessions.listener(gateway) else {
        return;
    };
    let connection = handshake::connection(&state.http, spec, session);
    if let Some(events) = listen(&connection).await {
        let _ = listener.send((spec.name.clone(), events)).await;
    }
}

/// The upstream session's GET stream; `None` when it has none or it could
/// not be opened in time.
async fn listen(connection: &Connection) -> Option<BoxStream<'static, String>> {
    match tokio::time::timeout(LISTEN_TIMEOUT, connection.listen()).await {
        Ok(Ok(events)) => events,
        Ok(Err(error)) => {
            tracing::debug!(server = %connection.server(), %error, "upstream GET stream not opened");
            None
        }
        Err(_) => {
            tracing::debug!(server = %connection.server(), "upstream GET stream timed out");
            None
        }
    }
}

/// Relays one upstream GET stream until either side ends.
async fn relay(
    server: String,
    mut events: BoxStream<'static, String>,
    sender: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    loop {
        let data = tokio::select! {
            data = events.next() => match data {
                Some(data) => data,
                None => return,
            },
            () = cancel.cancelled() => return,
        };
        if is_list_changed(&data) {
            continue;
        }
        let data = relay_id::relay_request(&server, data.as_bytes())
            .and_then(|relayed| String::from_utf8(relayed).ok())
            .unwrap_or(data);
        if sender.send(data).await.is_err() {
            return;
        }
    }
}

/// Whether an upstream message is one of its `*/list_changed` notifications.
fn is_list_changed(data: &str) -> bool {
    let Ok(message) = mcp_protocol::message::parse(data.as_bytes()) else {
        return false;
    };
    matches!(
        message.kind,
        mcp_protocol::message::MessageKind::Call { ref method, .. }
            if message.id.is_none()
                && [
                    methods::NOTIFICATION_TOOLS_LIST_CHANGED,
                    methods::NOTIFICATION_PROMPTS_LIST_CHANGED,
                    methods::NOTIFICATION_RESOURCES_LIST_CHANGED,
                ]
                .contains(&method.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::is_list_changed;

    #[test]
    fn only_upstream_list_changed_notifications_are_held_back() {
        assert!(is_list_changed(
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#
        ));
        assert!(is_list_changed(
            r#"{"jsonrpc":"2.0","method":"notifications/resources/list_changed","params":{}}"#
        ));
        assert!(!is_list_changed(
            r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x://1"}}"#
        ));
        assert!(!is_list_changed(
            r#"{"jsonrpc":"2.0","id":4,"method":"notifications/tools/list_changed"}"#
        ));
        assert!(!is_list_changed("not json"));
    }
}
