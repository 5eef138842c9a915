//! The router's session API, against a scripted upstream on a loopback port.

use super::*;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

/// A scripted upstream MCP server: answers `initialize` (or refuses it),
/// accepts `notifications/initialized`, and records what it was sent.
#[derive(Debug, Default)]
struct Upstream {
    refuse: bool,
    initializes: AtomicUsize,
    /// Every request, in order.
    seen: Mutex<Vec<Seen>>,
    /// The headers and body of every `tools/call`, as received.
    calls: Mutex<Vec<(HeaderMap, Bytes)>>,
    deleted: Notify,
}

/// One request the upstream received: its JSON-RPC method (or `DELETE`),
/// `Authorization` and `Mcp-Session-Id`.
type Seen = (String, Option<String>, Option<String>);

impl Upstream {
    fn record(&self, what: &str, request_headers: &HeaderMap) {
        let header = |name: &str| {
            request_headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.seen.lock().expect("not poisoned").push((
            what.to_owned(),
            header("authorization"),
            header(SESSION_ID),
        ));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

async fn upstream_post(
    State(upstream): State<Arc<Upstream>>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap_or_default();
    let method = message["method"].as_str().unwrap_or("?");
    upstream.record(method, &request_headers);
    match method {
        "initialize" => {
            let n = upstream.initializes.fetch_add(1, Ordering::SeqCst) + 1;
            let (reply, session) = if upstream.refuse {
                let error = json!({ "code": -32603, "message": "not today" });
                (
                    json!({ "jsonrpc": "2.0", "id": message["id"], "error": error }),
                    None,
                )
            } else {
                let result = json!({
                    "protocolVersion": message["params"]["protocolVersion"],
                    "capabilities": { "tools": {} },
                    "serverInfo": { "name": "scripted", "version": "1" }
                });
                let reply = json!({ "jsonrpc": "2.0", "id": message["id"], "result": result });
                (reply, Some(format!("up-{n}")))
            };
            let mut response = (
                [(header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
                .into_response();
            if let Some(session) = session {
                response
                    .headers_mut()
                    .insert(SESSION_ID, session.parse().expect("a valid header value"));
            }
            response
        }
        "notifications/initialized" => StatusCode::ACCEPTED.into_response(),
        "tools/call" => {
            upstream
                .calls
                .lock()
                .expect("not poisoned")
                .push((request_headers.clone(), body.clone()));
            let reply =
                json!({ "jsonrpc": "2.0", "id": message["id"], "result": { "content": [] } });
            let session = request_headers.get(SESSION_ID).cloned();
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    // An upstream cannot hand the router a session.
                    (
                        header::HeaderName::from_static(
                            mcp_protocol::headers::X_MCP_UPSTREAM_SESSION,
                        ),
                        "{\"sessionId\":\"forged\",\"protocolVersion\":\"x\"}",
                    ),
                ],
                reply.to_string(),
            )
                .into_response();
            if let Some(session) = session {
                response.headers_mut().insert(SESSION_ID, session);
            }
            response
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn upstream_delete(
    State(upstream): State<Arc<Upstream>>,
    request_headers: HeaderMap,
) -> StatusCode {
    upstream.record("DELETE", &request_headers);
    upstream.deleted.notify_one();
    StatusCode::OK
}

/// Starts `upstream` on a loopback port; its MCP URL.
async fn serve(upstream: Arc<Upstream>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    let router = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(upstream_post).delete(upstream_delete),
        )
        .with_state(upstream);
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/mcp")
}

/// A broker with one server, "weather", at `url`, with a credential.
fn broker_of(url: &str) -> Arc<AppState> {
    broker(&format!(
        "servers:\n- name: weather\n  url: {url}\n  credential: {{ value: \"Bearer upstream-secret\" }}\n"
    ))
}

/// A session API call for `server`, as the router makes it.
fn session_api(gateway: Option<&str>, body: Value) -> Request<Body> {
    let mut request = Request::post(SESSION_API_PATH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN, GATEWAY_TOKEN);
    if let Some(gateway) = gateway {
        request = request.header(mcp_protocol::headers::X_MCP_GATEWAY_SESSION, gateway);
    }
    request
        .body(Body::from(body.to_string()))
        .expect("a valid request")
}

#[tokio::test]
async fn a_call_without_the_gateway_session_header_is_a_bad_request() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, session_api(None, json!({ "server": "weather" }))).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32600, Value::Null);
}

#[tokio::test]
async fn a_call_with_a_malformed_body_is_a_bad_request() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(
        &state,
        session_api(Some(&session), json!({ "serverName": "x" })),
    )
    .await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32600, Value::Null);
}

#[tokio::test]
async fn a_call_for_an_unknown_or_ended_session_is_not_found() {
    let state = broker(NO_SERVERS);
    let forged = send(
        &state,
        session_api(Some("forged"), json!({ "server": "weather" })),
    )
    .await;
    forged.assert_rpc_error(StatusCode::NOT_FOUND, -32001, Value::Null);

    let session = start_session(&state, "2025-06-18").await;
    let delete = mcp(Method::DELETE)
        .header(SESSION_ID, &session)
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(&state, delete).await.status, StatusCode::OK);
    let ended = send(
        &state,
        session_api(Some(&session), json!({ "server": "weather" })),
    )
    .await;
    ended.assert_rpc_error(StatusCode::NOT_FOUND, -32001, Value::Null);
}

#[tokio::test]
async fn a_call_for_an_unknown_server_is_a_bad_gateway() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(
        &state,
        session_api(Some(&session), json!({ "server": "nowhere" })),
    )
    .await;
    reply.assert_rpc_error(StatusCode::BAD_GATEWAY, -32000, Value::Null);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"nowhere\"")),
        "the message names the server"
    );
}

#[tokio::test]
async fn the_first_call_opens_an_upstream_session_that_later_calls_share() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let session = start_session(&state, "2025-06-18").await;

    let calls = (0..8).map(|_| {
        send(
            &state,
            session_api(Some(&session), json!({ "server": "weather" })),
        )
    });
    let expires = state
        .signer()
        .verify(&session)
        .expect("valid")
        .expires_at_unix();
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(
            reply.json(),
            json!({
                "sessionId": "up-1",
                "protocolVersion": "2025-06-18",
                "expiresAt": expires,
                "authorization": "Bearer upstream-secret"
            }),
            "the router gets the session, the agreed version and the credential"
        );
    }
    assert_eq!(upstream.initializes.load(Ordering::SeqCst), 1);
    let secret = Some("Bearer upstream-secret".to_owned());
    assert_eq!(
        upstream.seen(),
        [
            ("initialize".to_owned(), secret.clone(), None),
            (
                "notifications/initialized".to_owned(),
                secret,
                Some("up-1".to_owned())
            ),
        ],
        "one handshake, with the credential and then the new session"
    );

    let status = send(
        &state,
        Request::get("/status")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status.json()["sessions"]["upstream"], 1);
}

#[tokio::test]
async fn a_stale_upstream_session_is_replaced_with_a_new_handshake() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let session = start_session(&state, "2025-06-18").await;
    let first = send(
        &state,
        session_api(Some(&session), json!({ "server": "weather" })),
    )
    .await;
    assert_eq!(first.json()["sessionId"], "up-1");

    let stale = json!({ "server": "weather", "staleSessionId": "up-1" });
    let second = send(&state, session_api(Some(&session), stale.clone())).await;
    assert_eq!(second.json()["sessionId"], "up-2");
    let again = send(&state, session_api(Some(&session), stale)).await;
    assert_eq!(
        again.json()["sessionId"],
        "up-2",
        "up-1 is already replaced"
    );
    assert_eq!(upstream.initializes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_handshake_is_a_bad_gateway_and_is_retried_on_the_next_call() {
    let upstream = Arc::new(Upstream {
        refuse: true,
        ..Upstream::default()
    });
    let state = broker_of(&serve(upstream.clone()).await);
    let session = start_session(&state, "2025-06-18").await;

    for attempt in 1..=2 {
        let reply = send(
            &state,
            session_api(Some(&session), json!({ "server": "weather" })),
        )
        .await;
        reply.assert_rpc_error(StatusCode::BAD_GATEWAY, -32000, Value::Null);
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not today")),
            "the upstream's reason is passed on"
        );
        assert_eq!(upstream.initializes.load(Ordering::SeqCst), attempt);
    }
    assert_eq!(
        state.sessions.counts().map_or(0, |(upstream, _)| upstream),
        0,
        "nothing is held"
    );
}

#[tokio::test]
async fn ending_a_gateway_session_closes_its_upstream_sessions() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let session = start_session(&state, "2025-06-18").await;
    let opened = send(
        &state,
        session_api(Some(&session), json!({ "server": "weather" })),
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK);

    let delete = mcp(Method::DELETE)
        .header(SESSION_ID, &session)
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(&state, delete).await.status, StatusCode::OK);
    tokio::time::timeout(PATIENCE, upstream.deleted.notified())
        .await
        .expect("the upstream session is closed");
    assert_eq!(
        upstream.seen().last(),
        Some(&(
            "DELETE".to_owned(),
            Some("Bearer upstream-secret".to_owned()),
            Some("up-1".to_owned())
        ))
    );
    assert_eq!(
        state.sessions.counts().map_or(0, |(upstream, _)| upstream),
        0
    );
}

#[tokio::test]
async fn only_requests_carrying_the_gateway_token_are_served() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    for token in [None, Some("wrong-token"), Some("test-gateway-tokeN")] {
        let mut call = Request::post(SESSION_API_PATH)
            .header(header::CONTENT_TYPE, "application/json")
            .header(mcp_protocol::headers::X_MCP_GATEWAY_SESSION, &session);
        let mut ping = Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(SESSION_ID, &session);
        if let Some(token) = token {
            call = call.header(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN, token);
            ping = ping.header(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN, token);
        }
        let call = call
            .body(Body::from(json!({ "server": "weather" }).to_string()))
            .expect("a valid request");
        let ping = ping
            .body(Body::from(call_body(7)))
            .expect("a valid request");
        send(&state, call)
            .await
            .assert_rpc_error(StatusCode::UNAUTHORIZED, -32600, Value::Null);
        send(&state, ping)
            .await
            .assert_rpc_error(StatusCode::UNAUTHORIZED, -32600, Value::Null);
    }
    // Status stays open to operators and probes.
    let status = Request::get("/status")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&state, status).await.status, StatusCode::OK);
}

fn call_body(id: u64) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": "ping" }).to_string()
}

#[tokio::test]
async fn a_session_opened_by_one_identity_is_refused_to_another() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let opened = send(
        &state,
        mcp(Method::POST)
            .header(header::AUTHORIZATION, "Bearer alice")
            .body(Body::from(initialize_body("2025-06-18")))
            .expect("a valid request"),
    )
    .await;
    let session = opened.header(SESSION_ID).expect("a session").to_owned();
    let as_identity = |authorization: Option<&str>| {
        let mut request = session_api(Some(&session), json!({ "server": "weather" }));
        if let Some(value) = authorization {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                value.parse().expect("a header value"),
            );
        }
        request
    };
    for other in [Some("Bearer mallory"), None] {
        send(&state, as_identity(other)).await.assert_rpc_error(
            StatusCode::FORBIDDEN,
            -32003,
            Value::Null,
        );
        let ping = mcp(Method::POST).header(SESSION_ID, &session);
        let ping = match other {
            Some(value) => ping.header(header::AUTHORIZATION, value),
            None => ping,
        };
        let reply = send(
            &state,
            ping.body(Body::from(call_body(8))).expect("request"),
        )
        .await;
        reply.assert_rpc_error(StatusCode::FORBIDDEN, -32003, json!(8));
    }
    assert_eq!(
        send(&state, as_identity(Some("Bearer alice"))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        upstream.seen().len(),
        2,
        "no handshake for the refused calls"
    );
}

#[tokio::test]
async fn where_envoy_injects_credentials_the_router_never_gets_them() {
    let upstream = Arc::new(Upstream::default());
    let url = serve(upstream.clone()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = broker(&format!(
        "envoy: {{ routeTableFile: {}/ecds/router.json, wasmFile: /opt/mcp_router.wasm }}\nservers:\n- name: weather\n  url: {url}\n  credential: {{ value: \"Bearer upstream-secret\" }}\n",
        dir.path().display()
    ));
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(
        &state,
        session_api(Some(&session), json!({ "server": "weather" })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(
        reply.json().get("authorization").is_none(),
        "{}",
        reply.json()
    );
    // The broker's own handshake still carries it.
    assert!(
        upstream
            .seen()
            .iter()
            .all(|(_, authorization, _)| authorization.as_deref() == Some("Bearer upstream-secret"))
    );
}

mod first_call;
