//! Support for end-to-end tests: starts real processes on loopback (Envoy
//! with `mcp_router.wasm`, `mcp-broker`, upstream MCP servers), waits for
//! them to be ready, and stops them when dropped.
//!
//! Where things come from: see [`paths`]. `just test` sets the environment
//! (`ENVOY_BIN`, `MCP_ROUTER_WASM`, `MCP_TEST_PEERS`, `MCP_PYTHON`).

pub mod client;
pub mod jwt;
pub mod load;
pub mod metrics;
pub mod node;
pub mod otlp;
pub mod paths;
pub mod process;
pub mod redis;
pub mod stack;
pub mod upstream;

pub use stack::{Stack, StackError, Upstream, UpstreamKind};
