//! JSON-RPC replies of the broker's endpoints: results, errors and the
//! HTTP status each travels with. Error bodies come from
//! [`mcp_protocol::RpcError::to_response_body`], the one place they are made.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_protocol::{ErrorCode, RpcError};
use serde_json::value::RawValue;

/// A JSON-RPC error with its HTTP status and the request id it answers.
#[derive(Debug)]
pub struct RpcFailure {
    pub status: StatusCode,
    pub error: RpcError,
    pub id: Option<Box<RawValue>>,
}

impl RpcFailure {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        RpcFailure {
            status,
            error: RpcError::new(code, message),
            id: None,
        }
    }

    pub fn with_id(mut self, id: Option<&RawValue>) -> Self {
        self.id = id.map(RawValue::to_owned);
        self
    }
}

impl IntoResponse for RpcFailure {
    fn into_response(self) -> Response {
        json_response(self.status, self.error.to_response_body(self.id.as_deref()))
    }
}

/// A JSON-RPC success response, `{"jsonrpc":"2.0","id":..,"result":..}`.
/// `result` may be an already serialised [`RawValue`] (written as it is).
pub fn result(id: &RawValue, result: impl serde::Serialize) -> Response {
    #[derive(serde::Serialize)]
    struct Success<'a, T> {
        jsonrpc: &'static str,
        id: &'a RawValue,
        result: T,
    }
    let body = Success {
        jsonrpc: "2.0",
        id,
        result,
    };
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
