//! JSON-RPC replies of the broker's endpoints: results, and refusals. What
//! a refusal says and which HTTP status carries it is decided in one place
//! for router and broker alike, [`mcp_protocol::refusal::Refusal`]; error
//! bodies come from [`mcp_protocol::RpcError::to_response_body`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_protocol::refusal::Refusal;
use serde_json::value::RawValue;

/// A refusal and the request id it answers.
#[derive(Debug)]
pub struct RpcFailure {
    pub refusal: Refusal,
    pub id: Option<Box<RawValue>>,
}

impl From<Refusal> for RpcFailure {
    fn from(refusal: Refusal) -> Self {
        RpcFailure { refusal, id: None }
    }
}

impl RpcFailure {
    pub fn with_id(mut self, id: Option<&RawValue>) -> Self {
        self.id = id.map(RawValue::to_owned);
        self
    }
}

impl IntoResponse for RpcFailure {
    fn into_response(self) -> Response {
        let reply = self.refusal.reply(self.id.as_deref());
        let status =
            StatusCode::from_u16(reply.status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, reply.body)
    }
}

/// The response refusing a request whose id is not known (or irrelevant).
pub fn refuse(refusal: Refusal) -> Response {
    RpcFailure::from(refusal).into_response()
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
