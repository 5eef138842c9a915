//! JSON-RPC 2.0 error objects and the one function that writes error
//! response bodies (JSON-RPC 2.0 §5.1 "Error object").

use serde::Serialize;
use serde_json::value::RawValue;

/// JSON-RPC error codes used by the gateway.
///
/// The first five are fixed by JSON-RPC 2.0 §5.1; the range -32000 to
/// -32099 is reserved there for implementation-defined server errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700: the body is not valid JSON (or not UTF-8).
    ParseError,
    /// -32600: valid JSON, but not a valid JSON-RPC request object.
    InvalidRequest,
    /// -32601: the method does not exist or is not offered.
    MethodNotFound,
    /// -32602: invalid method parameters; MCP uses it for unknown tools
    /// (MCP 2025-11-25, "Tools › Error Handling").
    InvalidParams,
    /// -32603: internal error.
    InternalError,
    /// -32000: the gateway could not reach or use an upstream server.
    UpstreamUnavailable,
    /// -32001: the gateway session is unknown or has ended.
    SessionNotFound,
    /// -32002: the resource does not exist (MCP 2025-11-25, "Resources ›
    /// Error Handling").
    ResourceNotFound,
    /// -32003: the gateway refuses this caller: a session opened by another
    /// identity, a browser origin or host it does not serve.
    Forbidden,
    /// -32020: the `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name`
    /// header is missing, malformed, or disagrees with the body (MCP
    /// 2026-07-28, "Streamable HTTP › Server Validation").
    HeaderMismatch,
    /// -32021: the request needs a client capability the client did not
    /// declare (MCP 2026-07-28, "Per-request protocol fields").
    MissingRequiredClientCapability,
    /// -32022: the protocol version is not one the gateway speaks; `data`
    /// lists the supported ones (MCP 2026-07-28, "Versioning").
    UnsupportedProtocolVersion,
}

impl ErrorCode {
    /// The numeric code carried in the error object.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::UpstreamUnavailable => -32000,
            ErrorCode::SessionNotFound => -32001,
            ErrorCode::ResourceNotFound => -32002,
            ErrorCode::Forbidden => -32003,
            ErrorCode::HeaderMismatch => -32020,
            ErrorCode::MissingRequiredClientCapability => -32021,
            ErrorCode::UnsupportedProtocolVersion => -32022,
        }
    }
}

/// A JSON-RPC error object: code, human-readable message, optional data.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The complete JSON-RPC error response:
    /// `{"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..,"data":..}}`.
    ///
    /// `id` is the request's id exactly as the client wrote it (a JSON
    /// string or number); `None` writes `null`, as JSON-RPC 2.0 §5 requires
    /// when the id could not be determined.
    pub fn to_response_body(&self, id: Option<&RawValue>) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            jsonrpc: &'static str,
            id: Option<&'a RawValue>,
            error: ErrorObject<'a>,
        }
        #[derive(Serialize)]
        struct ErrorObject<'a> {
            code: i32,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a serde_json::Value>,
        }
        let body = Body {
            jsonrpc: "2.0",
            id,
            error: ErrorObject {
                code: self.code.code(),
                message: &self.message,
                data: self.data.as_ref(),
            },
        };
        // Serialising these plain structs cannot fail: no maps with
        // non-string keys, no failing Serialize impls.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn error_body_echoes_the_raw_id_and_escapes_the_message() {
        let id = RawValue::from_string("\"abc-1\"".to_owned()).expect("valid raw id");
        let body = RpcError::new(ErrorCode::InvalidParams, "unknown tool \"x\"")
            .to_response_body(Some(&id));
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            r#"{"jsonrpc":"2.0","id":"abc-1","error":{"code":-32602,"message":"unknown tool \"x\""}}"#
        );
    }

    #[test]
    fn error_body_without_id_writes_null_and_keeps_data() {
        let body = RpcError::new(ErrorCode::ParseError, "bad")
            .with_data(serde_json::json!({"offset": 3}))
            .to_response_body(None);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["id"], serde_json::Value::Null);
        assert_eq!(v["error"]["code"], -32700);
        assert_eq!(v["error"]["data"]["offset"], 3);
    }
}
