//! A plain MCP client (Streamable HTTP, handshake era) for the correctness
//! checks and for preparing sessions: the same requests the load generator
//! sends, answers read whether they come as JSON or as SSE.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// One MCP endpoint and the headers every request to it carries.
#[derive(Debug, Clone)]
pub struct McpClient {
    http: reqwest::Client,
    pub url: String,
    /// E.g. ContextForge's `Authorization`.
    pub headers: Vec<(String, String)>,
}

/// An answer: HTTP status, the session header, the JSON-RPC message.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub session_id: Option<String>,
    pub message: Value,
}

impl McpClient {
    pub fn new(url: &str, headers: Vec<(String, String)>) -> Self {
        McpClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            url: url.to_owned(),
            headers,
        }
    }

    /// POSTs one JSON-RPC message.
    ///
    /// # Errors
    /// Transport failure, or a body that is neither JSON nor SSE with JSON.
    pub async fn post(&self, session: Option<&str>, body: &Value) -> anyhow::Result<Reply> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(body.to_string());
        if let Some(id) = session {
            request = request.header("mcp-session-id", id);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status().as_u16();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await?;
        let message = if text.trim().is_empty() {
            Value::Null
        } else if content_type.starts_with("text/event-stream") {
            last_sse_message(&text).unwrap_or(Value::Null)
        } else {
            match serde_json::from_str(&text) {
                Ok(message) => message,
                Err(_) if content_type.starts_with("application/json") => bail!(
                    "answered HTTP {status} as application/json with a body that is not JSON: {:?}",
                    &text[..text.floor_char_boundary(120)]
                ),
                Err(_) => Value::Null,
            }
        };
        Ok(Reply {
            status,
            session_id,
            message,
        })
    }

    /// `initialize` then `notifications/initialized`; the session id, if the
    /// server gave one.
    ///
    /// # Errors
    /// Transport failure or an error answer.
    pub async fn initialize(&self) -> anyhow::Result<Option<String>> {
        let reply = self
            .post(
                None,
                &json!({
                    "jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {
                        "protocolVersion": PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": { "name": "mcp-bench", "version": "0" }
                    }
                }),
            )
            .await?;
        if reply.status != 200 || reply.message.get("result").is_none() {
            bail!("initialize answered {}: {}", reply.status, reply.message);
        }
        let session = reply.session_id;
        let notified = self
            .post(
                session.as_deref(),
                &json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
            )
            .await?;
        if !(200..300).contains(&notified.status) {
            bail!("notifications/initialized answered {}", notified.status);
        }
        Ok(session)
    }

    /// `tools/call` of `tool` with `{"text": text}`; the text blocks of the result.
    ///
    /// # Errors
    /// Transport failure, a JSON-RPC error or a result without content.
    pub async fn call(
        &self,
        session: Option<&str>,
        tool: &str,
        text: &str,
    ) -> anyhow::Result<Vec<String>> {
        let reply = self.post(session, &call_body(1, tool, text)).await?;
        if reply.status != 200 {
            bail!(
                "tools/call {tool} answered HTTP {}: {}",
                reply.status,
                short(&reply.message)
            );
        }
        if let Some(error) = reply.message.get("error") {
            bail!("tools/call {tool} answered a JSON-RPC error: {error}");
        }
        let content = reply
            .message
            .pointer("/result/content")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                anyhow!(
                    "tools/call {tool}: no result.content in {}",
                    short(&reply.message)
                )
            })?;
        Ok(content
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Every tool name of `tools/list`, following `nextCursor`.
    ///
    /// # Errors
    /// Transport failure or an answer without `result.tools`.
    pub async fn list(&self, session: Option<&str>) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        for page in 0..1000 {
            let mut body = json!({ "jsonrpc": "2.0", "id": page + 1, "method": "tools/list" });
            if let Some(cursor) = &cursor {
                body["params"] = json!({ "cursor": cursor });
            }
            let reply = self.post(session, &body).await?;
            let tools = reply
                .message
                .pointer("/result/tools")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    anyhow!(
                        "tools/list answered {}: {}",
                        reply.status,
                        short(&reply.message)
                    )
                })?;
            names.extend(
                tools
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned)),
            );
            cursor = reply
                .message
                .pointer("/result/nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        Ok(names)
    }
}

/// The `tools/call` request body the checks and the load generator send.
pub fn call_body(id: u64, tool: &str, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": { "text": text } }
    })
}

/// The last JSON `data:` message of an SSE body.
fn last_sse_message(text: &str) -> Option<Value> {
    let mut last = None;
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(value) = serde_json::from_str::<Value>(&data) {
                last = Some(value);
            }
            data.clear();
        }
    }
    last
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 300 {
        format!("{}…", &text[..text.floor_char_boundary(300)])
    } else {
        text
    }
}
