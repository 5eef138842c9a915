//! `bench_floor_filter.wasm`: the wasm floor `just bench` reads our router
//! against (docs/benchmarks.md). Its plugin configuration chooses what it
//! does per request:
//!
//! - `noop`: nothing (every callback continues): what the V8 runtime and
//!   the proxy-wasm ABI cost by themselves;
//! - `floor`: hold the request headers, buffer the whole body, read it once,
//!   then set three request headers with one host call each (what any wasm
//!   MCP router must do at least: it routes on the body and tells Envoy's
//!   route and access log what it found);
//! - `floor-map`: the same, but the three headers go in one map replacement
//!   (`proxy_set_header_map_pairs`), to measure one host call against three.
//!
//! Anything else reads as `floor`. Natively the crate is empty: it exists
//! only as the `.wasm`.

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{Action, ContextType, LogLevel};

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Noop,
        Floor,
        FloorMap,
    }

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Warn);
        proxy_wasm::set_root_context(|_| Box::new(Root { mode: Mode::Floor }));
    }}

    struct Root {
        mode: Mode,
    }

    impl Context for Root {}

    impl RootContext for Root {
        fn on_configure(&mut self, _: usize) -> bool {
            let config = self.get_plugin_configuration().unwrap_or_default();
            self.mode = match config.as_slice() {
                b"noop" => Mode::Noop,
                b"floor-map" => Mode::FloorMap,
                _ => Mode::Floor,
            };
            true
        }

        fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(Stream { mode: self.mode }))
        }

        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }
    }

    struct Stream {
        mode: Mode,
    }

    impl Context for Stream {}

    /// Three headers of the sizes the router sets (method, server, tool).
    const HEADERS: [(&str, &str); 3] = [
        ("x-mcp-method", "tools/call"),
        ("x-mcp-servername", "u00"),
        ("x-mcp-toolname", "echo"),
    ];

    impl HttpContext for Stream {
        fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
            if self.mode == Mode::Noop || end_of_stream {
                Action::Continue
            } else {
                Action::Pause
            }
        }

        fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
            if self.mode == Mode::Noop {
                return Action::Continue;
            }
            if !end_of_stream {
                return Action::Pause;
            }
            // Read it, as a router must; the bytes themselves are not used.
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            let _ = std::hint::black_box(body.len());
            if self.mode == Mode::FloorMap {
                let mut headers = self.get_http_request_headers_bytes();
                for (name, value) in HEADERS {
                    headers.push((name.to_owned(), value.as_bytes().to_vec()));
                }
                self.set_http_request_headers_bytes(
                    headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_slice()))
                        .collect(),
                );
            } else {
                for (name, value) in HEADERS {
                    self.set_http_request_header(name, Some(value));
                }
            }
            Action::Continue
        }
    }
}
