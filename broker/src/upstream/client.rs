//! The broker's MCP client of an upstream, over Streamable HTTP, in either
//! era: the handshake era (MCP 2025-11-25: `initialize`, a session) or the
//! stateless era (MCP 2026-07-28: every request carries its version and
//! capabilities; no session). Wire details are in [`super::wire`].
//!
//! Results are kept as the upstream wrote them ([`RawValue`]): catalogue
//! definitions must reach clients byte for byte, which a typed SDK model
//! (and even `serde_json::Value`, which sorts keys) would not allow. Only
//! what the broker itself reads is decoded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use mcp_protocol::versions::Era;
use mcp_protocol::{headers, modern};
use serde::Deserialize;
use serde_json::value::RawValue;
use sse_stream::SseStream;

use super::UpstreamSpec;
use super::wire::{self, Envelope, ModernHeaders, Post};

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

/// One MCP session with an upstream (or none: servers without sessions,
/// and every stateless-era upstream), after `initialize` where there is
/// one.
#[derive(Debug)]
pub struct Connection {
    http: reqwest::Client,
    spec: std::sync::Arc<UpstreamSpec>,
    pub session_id: Option<String>,
    pub protocol_version: String,
    pub era: Era,
    /// The `initialize` or `server/discover` result, as sent.
    pub initialize_result: Box<RawValue>,
    next_id: AtomicU64,
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
        let method = mcp_protocol::methods::INITIALIZE;
        let body = wire::message(Some("0"), method, &params, None);
        let (result, session_id) =
            exchange(http, &spec, None, None, None, method, "0", body).await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Agreed {
            protocol_version: String,
        }
        let agreed = serde_json::from_str::<Agreed>(result.get())
            .map_err(|e| ClientError::Malformed {
                method: method.to_owned(),
                detail: format!("no protocolVersion ({e})"),
            })?
            .protocol_version;
        if let Some(id) = &session_id
            && !mcp_protocol::session_id::is_valid(id.as_bytes())
        {
            return Err(ClientError::Malformed {
                method: method.to_owned(),
                detail: format!("session id {id:?} is not visible ASCII"),
            });
        }
        let connection = Connection {
            http: http.clone(),
            spec,
            session_id,
            protocol_version: agreed,
            era: Era::Handshake,
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

    /// `server/discover` at `version` (MCP 2026-07-28, "Discover"): a
    /// connection of the stateless era when the upstream speaks it.
    ///
    /// # Errors
    /// [`ClientError`] when the upstream cannot be reached, refuses, or its
    /// result names no stateless-era version.
    pub async fn discover(
        http: &reqwest::Client,
        spec: std::sync::Arc<UpstreamSpec>,
        version: &str,
    ) -> Result<Connection, ClientError> {
        let method = modern::SERVER_DISCOVER;
        let body = wire::message(Some("0"), method, &serde_json::json!({}), Some(version));
        let modern_headers = ModernHeaders { method, name: None };
        let (result, _) = exchange(
            http,
            &spec,
            None,
            Some(version),
            Some(modern_headers),
            method,
            "0",
            body,
        )
        .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Discovered {
            supported_versions: Vec<String>,
        }
        let supported = serde_json::from_str::<Discovered>(result.get())
            .map_err(|e| ClientError::Malformed {
                method: method.to_owned(),
                detail: format!("no supportedVersions ({e})"),
            })?
            .supported_versions;
        if !supported.iter().any(|v| v == version) {
            return Err(ClientError::Malformed {
                method: method.to_owned(),
                detail: format!("it does not speak {version} (it lists {supported:?})"),
            });
        }
        Ok(Connection {
            http: http.clone(),
            spec,
            session_id: None,
            protocol_version: version.to_owned(),
            era: Era::Modern,
            initialize_result: result,
            next_id: AtomicU64::new(1),
        })
    }

    /// A connection on an upstream session opened elsewhere (or, with
    /// `era` modern, a stateless one).
    pub fn resume(
        http: &reqwest::Client,
        spec: std::sync::Arc<UpstreamSpec>,
        session_id: Option<String>,
        protocol_version: String,
    ) -> Connection {
        let era = if mcp_protocol::versions::is_modern(&protocol_version) {
            Era::Modern
        } else {
            Era::Handshake
        };
        Connection {
            http: http.clone(),
            spec,
            session_id,
            protocol_version,
            era,
            initialize_result: RawValue::from_string("{}".to_owned())
                .unwrap_or_else(|_| Box::<RawValue>::default()),
            next_id: AtomicU64::new(1),
        }
    }

    /// The upstream's name.
    pub fn server(&self) -> &str {
        &self.spec.name
    }

    /// The upstream.
    pub fn spec(&self) -> &std::sync::Arc<UpstreamSpec> {
        &self.spec
    }

    fn modern_version(&self) -> Option<&str> {
        (self.era == Era::Modern).then_some(self.protocol_version.as_str())
    }

    /// Sends a request the broker writes itself; its result, raw.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn request(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<Box<RawValue>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let body = wire::message(Some(&id), method, params, self.modern_version());
        let name = modern::name_member(method)
            .and_then(|member| params.get(member))
            .and_then(|v| v.as_str());
        let modern_headers = (self.era == Era::Modern).then_some(ModernHeaders { method, name });
        let (result, _) = exchange(
            &self.http,
            &self.spec,
            self.session_id.as_deref(),
            Some(&self.protocol_version),
            modern_headers,
            method,
            &id,
            body,
        )
        .await?;
        Ok(result)
    }

    /// Sends one JSON-RPC message as given (a notification, or an answer
    /// to the upstream's request), on this session.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn notify_raw(&self, body: Vec<u8>) -> Result<(), ClientError> {
        let answer = wire::send(
            &self.http,
            &self.spec,
            Post {
                session: self.session_id.as_deref(),
                version: Some(&self.protocol_version),
                modern: None,
                body,
            },
        )
        .await?;
        if answer.status == 404 && self.session_id.is_some() {
            return Err(ClientError::SessionGone);
        }
        if !(200..300).contains(&answer.status) {
            return Err(ClientError::Status {
                status: answer.status,
                body: String::new(),
            });
        }
        Ok(())
    }

    /// Sends a request or notification as given and returns the upstream's
    /// answer as it arrives (the bridge reads what the upstream sends
    /// before its response). `modern` gives the stateless-era headers.
    ///
    /// # Errors
    /// [`ClientError::Transport`]; a `404` on a session is
    /// [`ClientError::SessionGone`].
    pub async fn send_raw(
        &self,
        modern: Option<ModernHeaders<'_>>,
        body: Vec<u8>,
    ) -> Result<wire::Answer, ClientError> {
        let answer = wire::send(
            &self.http,
            &self.spec,
            Post {
                session: self.session_id.as_deref(),
                version: Some(&self.protocol_version),
                modern,
                body,
            },
        )
        .await?;
        if answer.status == 404 && self.session_id.is_some() {
            return Err(ClientError::SessionGone);
        }
        Ok(answer)
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
        self.notify_raw(wire::message(None, method, params, self.modern_version()))
            .await
    }

    /// Opens the session's server-to-client stream (`GET`, handshake era):
    /// its events' data, as sent. `None` when the upstream offers none
    /// (405), and always in the stateless era (`subscriptions/listen`
    /// replaced it).
    ///
    /// # Errors
    /// [`ClientError`] for other failures.
    pub async fn listen(
        &self,
    ) -> Result<Option<futures::stream::BoxStream<'static, String>>, ClientError> {
        if self.era == Era::Modern {
            return Ok(None);
        }
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
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
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
    /// forgotten it. A stateless-era connection has nothing to end.
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

/// Sends a request and waits for the response to `id`: its result, and
/// the answer's session id.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    http: &reqwest::Client,
    spec: &UpstreamSpec,
    session: Option<&str>,
    version: Option<&str>,
    modern_headers: Option<ModernHeaders<'_>>,
    method: &str,
    id: &str,
    body: Vec<u8>,
) -> Result<(Box<RawValue>, Option<String>), ClientError> {
    let answer = wire::send(
        http,
        spec,
        Post {
            session,
            version,
            modern: modern_headers,
            body,
        },
    )
    .await?;
    if answer.status == 404 && session.is_some() {
        return Err(ClientError::SessionGone);
    }
    let malformed = |detail: String| ClientError::Malformed {
        method: method.to_owned(),
        detail,
    };
    let status = answer.status;
    let session_id = answer.session_id;
    let mut messages = answer.messages;
    let mut last = String::new();
    while let Some(message) = messages.next().await {
        let message = message?;
        let Some(envelope) = Envelope::read(&message) else {
            last = message;
            continue;
        };
        if !envelope.answers(id) {
            last = message;
        }
        // Notifications (progress, logging) may come first; the answer is
        // the message that carries our id.
        if !envelope.answers(id) {
            continue;
        }
        return match (envelope.result, envelope.error) {
            (Some(result), None) if (200..300).contains(&status) => Ok((result, session_id)),
            (_, Some(error)) => Err(ClientError::Refused {
                method: method.to_owned(),
                code: error.code,
                message: error.message,
            }),
            _ => Err(malformed(format!("HTTP {status} without a result"))),
        };
    }
    if !(200..300).contains(&status) {
        return Err(ClientError::Status {
            status,
            body: last.chars().take(300).collect(),
        });
    }
    Err(malformed("the answer carries no response".to_owned()))
}
