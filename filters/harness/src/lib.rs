//! `proxy-wasm-harness`: a proxy-wasm ABI 0.2.1 host on wasmtime that loads
//! a real filter module (our `mcp_router.wasm`), plays Envoy's part, and
//! records what the filter did.
//!
//! ```no_run
//! use proxy_wasm_harness::{Host, Request, locate};
//! # fn main() -> proxy_wasm_harness::Result<()> {
//! let host = Host::load(locate::router_wasm()?)?;
//! let gateway = host
//!     .gateway()
//!     .plugin_config(std::fs::read("testdata/router/route-table.json").unwrap_or_default())
//!     .cluster("mcp_broker")
//!     .workers(2)
//!     .start()?;
//! let stream = gateway.send(&Request::post("/mcp").body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#))?;
//! stream.expect_forwarded().expect_upstream_header("x-mcp-method", "ping");
//! # Ok(()) }
//! ```
//!
//! The parts, each in its own file:
//! - [`host`]: engine (fuel metering on), module, linker, import checks;
//! - `hostcalls/*`: the host functions, one file per ABI group, with the
//!   spec's status codes and Envoy's behaviour where the spec is silent;
//! - `state`: a VM's contexts, streams, pending calls, log;
//! - `vm`: instantiation, start functions, the one callback runner
//!   (fuel, traps, contract violations);
//! - `stream` + `driver`: the request/response lifecycle and the test's
//!   handles ([`Vm`], [`HttpStream`]);
//! - [`gateway`]: several VMs sharing one [`SharedStore`];
//! - `record` + `expect`: what the filter did, and assertions on it;
//! - [`cost`]: the requests the filter's cost figures and budget measure;
//! - [`fuzz`]: mutated requests through the real `.wasm`, each answer checked.
//!
//! The harness never panics on module behaviour: traps, contract breaches
//! and misuse are [`Error`]s carrying the module's log; only the `expect_*`
//! assertions panic, as assertions do.

mod abi;
pub mod cost;
mod driver;
mod error;
mod expect;
pub mod fuzz;
pub mod gateway;
pub mod headers;
pub mod host;
mod hostcalls;
pub mod locate;
mod memory;
mod message;
mod pairs;
mod record;
pub mod session_memory;
mod shared;
mod state;
mod stream;
mod vm;

pub use abi::{Action, BufferType, LogLevel, MapType, MetricType, Status, StreamType};
pub use error::{Error, LogTail, Result};
pub use gateway::{Gateway, GatewayBuilder};
pub use headers::Headers;
pub use host::Host;
pub use message::{Request, Response};
pub use record::{Callback, DispatchedCall, Event, Forwarded, LocalResponse, LogEntry};
pub use shared::{Metric, SharedStore};
pub use state::{ClusterBehavior, START_TIME_NS};
pub use stream::HttpStream;
pub use vm::Vm;
