//! Benchmarks side by side: what the in-proxy router costs against plain
//! Envoy and the peers, reproducible with one command (`just bench`).
//!
//! Every workload runs through five systems over the same upstreams
//! ([`systems`]): the upstream directly, plain Envoy (the floor), our
//! gateway (Envoy + `mcp_router.wasm` + broker), Envoy's native MCP
//! filters, and ContextForge. Each cell is checked for correctness first
//! ([`workload`]), then loaded with `wrk` ([`wrk`]) while `/proc` gives CPU
//! time and peak memory ([`procstat`]), and with `--profile` `perf`
//! splits the CPU time by object, Envoy's code against the wasm filter's
//! ([`profile`]); the broker is also measured at 100
//! upstreams ([`scale`]). [`report`] and [`plot`] write `docs/benchmarks.md`.

pub mod client;
pub mod contextforge;
pub mod envoy;
pub mod fleet;
pub mod machine;
pub mod plot;
pub mod procstat;
pub mod profile;
pub mod report;
pub mod run;
pub mod scale;
pub mod sessions;
pub mod suite;
pub mod systems;
pub mod workload;
pub mod wrk;
