//! `mcp-router`: the proxy-wasm HTTP filter that routes MCP requests inside
//! Envoy, built as `mcp_router.wasm` for `wasm32-wasip1`.
//!
//! The crate is a pure core plus a thin glue layer:
//! - [`table`] compiles the route table (plugin configuration) into lookup
//!   maps and resolves tool names;
//! - [`decision`] parses the body with [`mcp_protocol::message`] (one pass,
//!   keeping the byte span of `params.name`) and turns the request into
//!   what to do with it:
//!   pass to the broker, route to an upstream, or reject;
//! - [`rejection`] maps every refusal to an HTTP status and a JSON-RPC error;
//! - [`splice`] rewrites the tool name in the body without re-serialising it;
//! - [`session_cache`] encodes upstream sessions kept in proxy-wasm shared data;
//! - [`upstream`] reads the broker's session API answers and upstream statuses;
//! - `filter` (wasm only) moves bytes between Envoy and the core.
//!
//! Nothing in the core panics on any input: every path returns a value.

pub mod decision;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod rejection;
pub mod session_cache;
pub mod splice;
pub mod table;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod filter;
