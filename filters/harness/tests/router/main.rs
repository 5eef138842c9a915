//! The router's harness suite: the real `mcp_router.wasm` (built by
//! `just build-wasm`) on the proxy-wasm host, one test binary so the module
//! is compiled once.
//!
//! - `access`: origins, hosts and client credentials;
//! - `routing`: every fixture of `testdata/router/cases.json`, exact
//!   upstream headers and body bytes;
//! - `bad_input`: every class of bad input answered with the right
//!   JSON-RPC error, no trap, the next request served;
//! - `sessions`: cache hit, miss → session API → resume, broker failures,
//!   concurrent requests, 404 invalidation, session id mapping;
//! - `first_call`: a miss forwarded by the broker (the default), its
//!   session cached from the answer, the broker's refusals;
//! - `config_swap`: route tables replaced at runtime, bad ones refused;
//! - `generated`: thousands of generated and mutated bodies (proptest);
//! - `lifecycle`: the host's side: tick, metrics, multiple VMs, teardown;
//! - `budget`: instructions and host calls per request within the
//!   committed budget (`cost-budget.json`).

mod access;
mod bad_input;
mod budget;
mod common;
mod config_swap;
mod first_call;
mod generated;
mod lifecycle;
mod mutation;
mod relay;
mod routing;
mod sessions;
