//! The proxy-wasm glue: Envoy callbacks in, core decisions out.
//!
//! Host calls go through `proxy_wasm::hostcalls` and their `Result`s are
//! handled here: the SDK's trait helpers `unwrap()` host errors and decode
//! header values as UTF-8 with a panic, and a panic would kill the VM for
//! every request on this worker.

mod cache;
mod host;
mod http;
mod metrics;
mod root;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::RouterRoot::new())
    });
}}
