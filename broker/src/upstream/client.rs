//! The broker's MCP client of an upstream, over Streamable HTTP (MCP
//! 2025-11-25, "Transports"), on `reqwest` for HTTP and `sse-stream` for
//! event streams.
//!
//! Results are kept as the upstream wrote them ([`RawValue`]): catalogue
//! definitions must reach clients byte for byte, which a typed SDK model
//! (and even `serde_json::Value`, which sorts keys) would not allow. Only
//! what the broker itself reads is decoded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use sse_stream::SseStream;

use super::UpstreamSpec;
use mcp_protocol::headers;

/// Why a request to an upstream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach it: {0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("it answered {method} with an error {code}: {message}")]
    Refused {
        method: String,
        code: i64,
        message: String,
    },
    #[error("its answer to {method} is not a JSON-RPC response: {detail}")]
    Malformed { method: String, detail: String },
    #[error("the upstream session is gone (HTTP 404)")]
    SessionGone,
}

/// One MCP session with an upstream (or none, for servers without
/// sessions), after `initialize`.
#[derive(Debug)]
pub struct Connection {
    http: reqwest::Client,
    spec: std::sync::Arc<UpstreamSpec>,
    pub session_id: Option<String>,
    pub protocol_version: String,
    /// The `initialize` result, as sent.
    pub initialize_result: Box<RawValue>,
    next_id: AtomicU64,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Box<RawValue>>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

fn transport(error: reqwest::Error) -> ClientError {
    ClientError::Transport(error.to_string())
}

/// POSTs one JSON-RPC message; returns the response to `id` (JSON or SSE
/// answers alike), or `None` for a notification (`id` absent: 202).
async fn post(
    http: &reqwest::Client,
    spec: &UpstreamSpec,
    session: Option<&str>,
    version: Option<&str>,
    method: &str,
    id: Option<u64>,
    body: Vec<u8>,
) -> Result<(Option<Box<RawValue>>, Option<String>), ClientError> {
    let mut request = http
        .post(spec.url.as_str())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(session) = session {
        request = request.header(headers::SESSION_ID, session);
    }
    if let Some(version) = version {
        request = request.header(headers::PROTOCOL_VERSION, version);
    }
    if let Some(authorization) = &spec.authorization {
        request = request.header(headers::AUTHORIZATION, authorization);
    }
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let session_id = response
        .headers()
        .get(headers::SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status == reqwest::StatusCode::NOT_FOUND && session.is_some() {
        return Err(ClientError::SessionGone);
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Status {
            status: status.as_u16(),
            body: body.chars().take(300).collect(),
        });
    }
    let Some(id) = id else {
        return Ok((None, session_id));
    };
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let malformed = |detail: String| ClientError::Malformed {
        method: method.to_owned(),
        detail,
    };
    let answer = if is_sse {
        // Notifications (progress, logging) may come first; the answer is
        // the message that carries our id.
        let mut events = SseStream::from_bytes_stream(response.bytes_stream());
        let mut found = None;
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| ClientError::Transport(e.to_string()))?;
            let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            if let Ok(envelope) = serde_json::from_str::<Envelope>(&data)
                && envelope.id.as_deref().map(RawValue::get) == Some(id.to_string().as_str())
            {
                found = Some(envelope);
                break;
            }
        }
        found.ok_or_else(|| malformed("the event stream ended without an answer".to_owned()))?
    } else {
        let bytes = response.bytes().await.map_err(transport)?;
        serde_json::from_slice::<Envelope>(&bytes).map_err(|e| malformed(e.to_string()))?
    };
    match (answer.result, answer.error) {
        (Some(result), None) => Ok((Some(result), session_id)),
        (_, Some(error)) => Err(ClientError::Refused {
            method: method.to_owned(),
            code: error.code,
            message: error.message,
        }),
        (None, None) => Err(malformed("neither result nor error".to_owned())),
    }
}

fn message(id: Option<u64>, method: &str, params: &serde_json::Value) -> Vec<u8> {
    let mut message = serde_json::json!({ "jsonrpc": "2.0", "method": method });
    if let Some(id) = id {
        message["id"] = serde_json::json!(id);
    }
    if !params.is_null() {
        message["params"] = params.clone();
    }
    serde_json::to_vec(&message).unwrap_or_default()
}

impl Connection {
    /// `initialize` (asking for `protocol_version`, declaring
    /// `capabilities`), then `notifications/initialized` (MCP 2025-11-25,
    /// "Lifecycle › Initialization").
    ///
    /// # Errors
    /// [`ClientError`] when the upstream cannot be reached or refuses; a
    /// session id that is not visible ASCII is malformed.
    pub async fn open(
        http: &reqwest::Client,
        spec: std::sync::Arc<UpstreamSpec>,
        protocol_version: &str,
        capabilities: serde_json::Value,
    ) -> Result<Connection, ClientError> {
        let params = serde_json::json!({
            "protocolVersion": protocol_version,
            "capabilities": capabilities,
            "clientInfo": { "name": super::handshake::CLIENT_NAME, "version": env!("CARGO_PKG_VERSION") }
        });
        let (result, session_id) = post(
            http,
            &spec,
            None,
            None,
            mcp_protocol::methods::INITIALIZE,
            Some(0),
            message(Some(0), mcp_protocol::methods::INITIALIZE, &params),
        )
        .await?;
        let result = result.ok_or_else(|| ClientError::Malformed {
            method: "initialize".to_owned(),
            detail: "no result".to_owned(),
        })?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Agreed {
            protocol_version: String,
        }
        let agreed = serde_json::from_str::<Agreed>(result.get())
            .map_err(|e| ClientError::Malformed {
                method: "initialize".to_owned(),
                detail: format!("no protocolVersion ({e})"),
            })?
            .protocol_version;
        if let Some(id) = &session_id
            && !mcp_protocol::session_id::is_valid(id.as_bytes())
        {
            return Err(ClientError::Malformed {
                method: "initialize".to_owned(),
                detail: format!("session id {id:?} is not visible ASCII"),
            });
        }
        let connection = Connection {
            http: http.clone(),
            spec,
            session_id,
            protocol_version: agreed,
            initialize_result: result,
            next_id: AtomicU64::new(1),
        };
        connection
            .notify(
                mcp_protocol::methods::NOTIFICATION_INITIALIZED,
                &serde_json::Value::Null,
            )
            .await?;
        Ok(connection)
    }

    /// A connection on an upstream session opened elsewhere.
    pub fn resume(
        http: &reqwest::Client,
        spec: std::sync::Arc<UpstreamSpec>,
        session_id: Option<String>,
        protocol_version: String,
    ) -> Connection {
        Connection {
            http: http.clone(),
            spec,
            session_id,
            protocol_version,
            initialize_result: RawValue::from_string("{}".to_owned())
                .unwrap_or_else(|_| Box::<RawValue>::default()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Sends a request; its result, raw.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn request(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<Box<RawValue>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (result, _) = post(
            &self.http,
            &self.spec,
            self.session_id.as_deref(),
            Some(&self.protocol_version),
            method,
            Some(id),
            message(Some(id), method, params),
        )
        .await?;
        result.ok_or_else(|| ClientError::Malformed {
            method: method.to_owned(),
            detail: "no result".to_owned(),
        })
    }

    /// The upstream's name.
    pub fn server(&self) -> &str {
        &self.spec.name
    }

    /// Sends one JSON-RPC notification as the client wrote it (relayed
    /// byte for byte).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn notify_raw(&self, body: Vec<u8>) -> Result<(), ClientError> {
        post(
            &self.http,
            &self.spec,
            self.session_id.as_deref(),
            Some(&self.protocol_version),
            "notification",
            None,
            body,
        )
        .await
        .map(|_| ())
    }

    /// Sends a notification.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn notify(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<(), ClientError> {
        post(
            &self.http,
            &self.spec,
            self.session_id.as_deref(),
            Some(&self.protocol_version),
            method,
            None,
            message(None, method, params),
        )
        .await
        .map(|_| ())
    }

    /// Opens the session's server-to-client stream (`GET`): its events'
    /// data, as sent. `None` when the upstream offers none (405).
    ///
    /// # Errors
    /// [`ClientError`] for other failures.
    pub async fn listen(
        &self,
    ) -> Result<Option<futures::stream::BoxStream<'static, String>>, ClientError> {
        let mut request = self
            .http
            .get(self.spec.url.as_str())
            .header("accept", "text/event-stream")
            .header(headers::PROTOCOL_VERSION, &self.protocol_version);
        if let Some(session) = &self.session_id {
            request = request.header(headers::SESSION_ID, session);
        }
        if let Some(authorization) = &self.spec.authorization {
            request = request.header(headers::AUTHORIZATION, authorization);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status == reqwest::StatusCode::METHOD_NOT_ALLOWED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                body: String::new(),
            });
        }
        let events = SseStream::from_bytes_stream(response.bytes_stream())
            .take_while(|event| std::future::ready(event.is_ok()))
            .filter_map(|event| {
                std::future::ready(event.ok().and_then(|e| e.data).filter(|d| !d.is_empty()))
            });
        Ok(Some(events.boxed()))
    }

    /// Ends the session (HTTP DELETE, MCP "Session Management"), within
    /// `timeout`; failures are only logged: the upstream may already have
    /// forgotten it.
    pub async fn close(&self, timeout: Duration) {
        let Some(session) = &self.session_id else {
            return;
        };
        let mut request = self
            .http
            .delete(self.spec.url.as_str())
            .header(headers::SESSION_ID, session)
            .timeout(timeout);
        if let Some(authorization) = &self.spec.authorization {
            request = request.header(headers::AUTHORIZATION, authorization);
        }
        if let Err(error) = request.send().await {
            tracing::debug!(server = %self.spec.name, %error, "upstream session DELETE failed");
        }
    }
}
