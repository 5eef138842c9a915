//! The MCP and JSON-RPC 2.0 vocabulary shared by the router filter and the
//! broker: method names, HTTP header names, protocol versions, error codes
//! and the one function that writes JSON-RPC error bodies.
//!
//! This crate builds for `wasm32-wasip1` and natively; it has no I/O.

pub mod access;
pub mod error;
pub mod headers;
pub mod identity;
pub mod members;
pub mod message;
pub mod methods;
pub mod modern;
pub mod names;
pub mod refusal;
pub mod relay_id;
pub mod session_id;
pub mod splice;
pub mod versions;

pub use error::{ErrorCode, RpcError};
