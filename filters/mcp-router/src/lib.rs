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
//! - refusals and their statuses are `mcp_protocol::refusal`, shared with the
//!   broker;
//! - `mcp_protocol::splice` rewrites the name in the body without
//!   re-serialising it;
//! - [`plan`] turns a routed call into the header and body changes to make;
//! - [`session_cache`] keeps upstream sessions in a bounded table of
//!   proxy-wasm shared-data slots, and decides a call from its record;
//! - [`upstream`] writes the broker's session API calls and reads its answers;
//! - [`response`] judges the responses of routed calls and of `DELETE`;
//! - `proxy_header_map` reads the host's header map in place (its crate);
//! - `filter` (wasm32-wasip1 only) moves bytes between Envoy and the core.
//!
//! Nothing in the core panics on any input: every path returns a value.

pub mod decision;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod oracle;
pub mod plan;
pub mod response;
pub mod session_cache;
pub mod sse_relay;
pub mod table;
pub mod upstream;

#[cfg(target_os = "wasi")]
mod filter;
