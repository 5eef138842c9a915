//! Clients of the gateway: the official Rust SDK (rmcp) for what an agent
//! does, and raw JSON-RPC over HTTP for what a well-behaved SDK never sends.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::Notify;

/// The test client's handler: counts `tools/list_changed` notifications.
#[derive(Debug, Clone, Default)]
pub struct Handler {
    pub tools_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-wasm-gateway-e2e", "0.1.0"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_06_18)
    }
}

pub type Client = RunningService<RoleClient, Handler>;

/// Connects an rmcp client (handshake era) to `url`. The client does not
/// silently re-initialize on 404, so tests see what the gateway answers.
///
/// # Errors
/// The `initialize` handshake failed.
pub async fn connect(url: &str) -> Result<Client, rmcp::service::ClientInitializeError> {
    connect_with(url, Handler::default()).await
}

/// Like [`connect`], with a given handler.
///
/// # Errors
/// The `initialize` handshake failed.
pub async fn connect_with(
    url: &str,
    handler: Handler,
) -> Result<Client, rmcp::service::ClientInitializeError> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(url).reinit_on_expired_session(false);
    handler
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
}

/// Calls a tool with JSON arguments.
///
/// # Errors
/// The call failed at the protocol level (JSON-RPC error or transport).
pub async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map);
    }
    client.call_tool(params).await
}

/// The text of a tool result's content, joined.
pub fn text_of(result: &CallToolResult) -> String {
    let value = serde_json::to_value(&result.content).unwrap_or_default();
    value
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// What the broker's discovery declares to upstreams (every client feature
/// a server can use): a client declaring the same sees, directly, the
/// catalogue the gateway lists.
pub fn discovery_capabilities() -> Value {
    serde_json::json!({
        "sampling": { "context": {}, "tools": {} },
        "elicitation": { "form": {}, "url": {} },
        "roots": { "listChanged": true }
    })
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON (error responses of the router and broker are JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC response in the body, as sent: the body itself, or the
    /// data of the event stream's last response event (servers may answer
    /// a POST with an SSE stream, notifications first).
    pub fn message_text(&self) -> String {
        let body = String::from_utf8_lossy(&self.body).into_owned();
        let is_stream = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !is_stream {
            return body;
        }
        body.split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                (!data.is_empty()).then(|| data.join("\n"))
            })
            .filter(|data| data.contains("\"result\"") || data.contains("\"error\""))
            .last()
            .unwrap_or_default()
    }

    /// [`RawResponse::message_text`] as JSON.
    pub fn message(&self) -> Value {
        serde_json::from_str(&self.message_text()).unwrap_or(Value::Null)
    }
}

/// A gateway session driven by hand.
#[derive(Debug, Clone)]
pub struct RawSession {
    http: reqwest::Client,
    url: String,
    pub session_id: Option<String>,
    /// Sent with every request (a client's credential, say).
    headers: Vec<(String, String)>,
}

impl RawSession {
    pub fn new(url: &str) -> Self {
        RawSession {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            url: url.to_owned(),
            session_id: None,
            headers: Vec::new(),
        }
    }

    /// A session on an existing HTTP client (its connection pool), for
    /// tests that open many sessions.
    pub fn with_client(http: reqwest::Client, url: &str) -> Self {
        RawSession {
            http,
            url: url.to_owned(),
            session_id: None,
            headers: Vec::new(),
        }
    }

    /// Sends `name: value` with every request of this session.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn initialize(&mut self) -> Result<RawResponse, reqwest::Error> {
        self.initialize_declaring(&serde_json::json!({})).await
    }

    /// [`RawSession::initialize`] declaring `capabilities`.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn initialize_declaring(
        &mut self,
        capabilities: &Value,
    ) -> Result<RawResponse, reqwest::Error> {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": capabilities,
                "clientInfo": { "name": "raw", "version": "0" }
            }
        });
        let response = self.post(body.to_string().as_bytes()).await?;
        self.session_id = response.header("mcp-session-id").map(str::to_owned);
        self.post(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await?;
        Ok(response)
    }

    /// POSTs `body` with the MCP headers (and the session, once there is one).
    ///
    /// # Errors
    /// Transport failure.
    pub async fn post(&self, body: &[u8]) -> Result<RawResponse, reqwest::Error> {
        self.post_with(body, &[]).await
    }

    /// Like [`RawSession::post`], with extra headers.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn post_with(
        &self,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<RawResponse, reqwest::Error> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_vec());
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }

    /// Every page of a list (`tools/list`, ...): each definition of
    /// `member` as the server sent it, in order.
    ///
    /// # Panics
    /// When the answer is not a list result (the test fails).
    pub async fn list_all(
        &self,
        method: &str,
        member: &str,
    ) -> Vec<Box<serde_json::value::RawValue>> {
        use serde_json::value::RawValue;
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor.as_ref().map_or(
                serde_json::json!({}),
                |c| serde_json::json!({ "cursor": c }),
            );
            let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
            let response = self
                .post(body.to_string().as_bytes())
                .await
                .unwrap_or_else(|e| panic!("{method}: {e}"));
            let text = response.message_text();
            let message: std::collections::HashMap<String, Box<RawValue>> =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: {e}: {text}"));
            let result = message
                .get("result")
                .unwrap_or_else(|| panic!("{method} answered {text}"))
                .get();
            let members: std::collections::HashMap<String, Box<RawValue>> =
                serde_json::from_str(result).unwrap_or_else(|e| panic!("{method}: {e}"));
            let items: Vec<Box<RawValue>> = members
                .get(member)
                .and_then(|items| serde_json::from_str(items.get()).ok())
                .unwrap_or_else(|| panic!("{method} has no {member:?} list: {result}"));
            all.extend(items);
            cursor = members
                .get("nextCursor")
                .and_then(|c| serde_json::from_str::<String>(c.get()).ok());
            if cursor.is_none() {
                return all;
            }
        }
    }

    /// DELETE: ends the session.
    ///
    /// # Errors
    /// Transport failure.
    pub async fn delete(&self) -> Result<u16, reqwest::Error> {
        let mut request = self.http.delete(&self.url);
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        Ok(request.send().await?.status().as_u16())
    }
}
