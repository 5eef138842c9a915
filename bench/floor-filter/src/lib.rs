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
//!   (`proxy_set_header_map_pairs`), to measure one host call against three;
//! - `router-calls`: every host call our router makes on a routed
//!   `tools/call` whose upstream session is cached, in its order, with values
//!   of the same sizes, and nothing else: what Envoy's side of the router's
//!   host calls costs, apart from the router's own code. The harness holds
//!   its count to the router's (`filters/harness/tests/router/budget.rs`).
//!
//! A JSON object (the router's own configuration, as the broker writes it
//! over ECDS) reads as `router-calls`: so the filter can stand in for the
//! router inside the gateway's own Envoy, configured by the broker like the
//! router (`--systems wasm-router-calls-gateway`). Anything else reads as
//! `floor`. Natively the crate is empty: it exists only as the `.wasm`.

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::hostcalls;
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Noop,
        Floor,
        FloorMap,
        RouterCalls,
    }

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Warn);
        proxy_wasm::set_root_context(|_| Box::new(Root { mode: Mode::Floor, counters: [0; 3] }));
    }}

    struct Root {
        mode: Mode,
        /// `router-calls`: the three counters a routed call increments.
        counters: [u32; 3],
    }

    /// `router-calls`: the shared-data slot read per call, as large as a
    /// cached upstream session record.
    const RECORD_KEY: &str = "bench_floor.session";
    const RECORD: [u8; 160] = [b'r'; 160];

    impl Context for Root {}

    impl RootContext for Root {
        fn on_configure(&mut self, _: usize) -> bool {
            let config = self.get_plugin_configuration().unwrap_or_default();
            self.mode = match config.as_slice() {
                b"noop" => Mode::Noop,
                b"floor-map" => Mode::FloorMap,
                b"router-calls" | [b'{', ..] => Mode::RouterCalls,
                _ => Mode::Floor,
            };
            if self.mode == Mode::RouterCalls {
                for (id, name) in self.counters.iter_mut().zip(["routed", "hit", "calls"]) {
                    let name = format!("bench_floor.{name}");
                    *id = hostcalls::define_metric(MetricType::Counter, &name).unwrap_or(0);
                }
                let _ = self.set_shared_data(RECORD_KEY, Some(&RECORD), None);
            }
            true
        }

        fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(Stream {
                mode: self.mode,
                counters: self.counters,
                authority: None,
                session: None,
            }))
        }

        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }
    }

    struct Stream {
        mode: Mode,
        counters: [u32; 3],
        /// `router-calls`: the request's authority and session id, set back
        /// unchanged where the router sets the upstream's.
        authority: Option<String>,
        session: Option<String>,
    }

    impl Context for Stream {}

    /// Three headers of the sizes the router sets (method, server, tool).
    const HEADERS: [(&str, &str); 3] = [
        ("x-mcp-method", "tools/call"),
        ("x-mcp-servername", "u00"),
        ("x-mcp-toolname", "echo"),
    ];

    impl Stream {
        /// `router-calls` once the body is read: the clock and the session
        /// cache, the audit value, seven request headers (length, authority,
        /// method, server, tool, cluster, upstream session), the body
        /// replaced, two counters.
        fn route(&mut self, body: &[u8]) {
            let _ = self.get_current_time();
            let record = self.get_shared_data(RECORD_KEY).0.unwrap_or_default();
            let _ = std::hint::black_box(record.len());
            self.set_property(vec!["mcp_session"], Some(b"0123abcd"));
            let length = body.len().to_string();
            let authority = self.authority.take().unwrap_or_default();
            let session = self.session.take().unwrap_or_default();
            self.set_http_request_header("content-length", Some(&length));
            self.set_http_request_header(":authority", Some(&authority));
            for (name, value) in HEADERS {
                self.set_http_request_header(name, Some(value));
            }
            // The cluster the broker names for server `u00`
            // (`mcp_upstream_<name>`): in the gateway's Envoy this routes.
            self.set_http_request_header("x-mcp-cluster", Some("mcp_upstream_u00"));
            self.set_http_request_header("mcp-session-id", Some(&session));
            self.set_http_request_body(0, body.len(), body);
            for &id in &self.counters[..2] {
                let _ = hostcalls::increment_metric(id, 1);
            }
        }
    }

    impl HttpContext for Stream {
        fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
            if self.mode == Mode::RouterCalls {
                // The router reads the whole map once.
                for (name, value) in self.get_http_request_headers_bytes() {
                    match name.as_str() {
                        ":authority" => self.authority = String::from_utf8(value).ok(),
                        "mcp-session-id" => self.session = String::from_utf8(value).ok(),
                        _ => {}
                    }
                }
            }
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
            match self.mode {
                Mode::RouterCalls => self.route(&body),
                Mode::FloorMap => {
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
                }
                _ => {
                    for (name, value) in HEADERS {
                        self.set_http_request_header(name, Some(value));
                    }
                }
            }
            Action::Continue
        }

        /// `router-calls`: the router's response side of a routed call: the
        /// status, the tool-call counter, the session id read and set back,
        /// whether the answer is an event stream.
        fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
            if self.mode == Mode::RouterCalls {
                let _ = self.get_http_response_header(":status");
                let _ = hostcalls::increment_metric(self.counters[2], 1);
                if let Some(id) = self.get_http_response_header("mcp-session-id") {
                    self.set_http_response_header("mcp-session-id", Some(&id));
                }
                let _ = self.get_http_response_header("content-type");
            }
            Action::Continue
        }
    }
}
