//! What the filter did, as the host saw it: one [`Event`] per observable
//! act, in order, per context; plus the module's log lines.

use crate::abi::{Action, BufferType, LogLevel, MapType, StreamType};
use crate::headers::Headers;

/// The callbacks the host invokes, named as the ABI exports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Initialize,
    Start,
    Main,
    ContextCreate,
    VmStart,
    Configure,
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    HttpCallResponse,
    Tick,
    QueueReady,
    Done,
    Log,
    Delete,
}

impl Callback {
    /// The export's name.
    pub fn export(self) -> &'static str {
        match self {
            Callback::Initialize => "_initialize",
            Callback::Start => "_start",
            Callback::Main => "main",
            Callback::ContextCreate => "proxy_on_context_create",
            Callback::VmStart => "proxy_on_vm_start",
            Callback::Configure => "proxy_on_configure",
            Callback::RequestHeaders => "proxy_on_request_headers",
            Callback::RequestBody => "proxy_on_request_body",
            Callback::RequestTrailers => "proxy_on_request_trailers",
            Callback::ResponseHeaders => "proxy_on_response_headers",
            Callback::ResponseBody => "proxy_on_response_body",
            Callback::ResponseTrailers => "proxy_on_response_trailers",
            Callback::HttpCallResponse => "proxy_on_http_call_response",
            Callback::Tick => "proxy_on_tick",
            Callback::QueueReady => "proxy_on_queue_ready",
            Callback::Done => "proxy_on_done",
            Callback::Log => "proxy_on_log",
            Callback::Delete => "proxy_on_delete",
        }
    }
}

impl std::fmt::Display for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.export())
    }
}

/// One line the module logged (`proxy_log`, or stdout/stderr via WASI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Index of the VM in its gateway.
    pub vm: usize,
    /// The effective context when the line was logged.
    pub context: u32,
    pub level: LogLevel,
    pub message: String,
}

impl std::fmt::Display for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[vm {} ctx {} {}] {}",
            self.vm, self.context, self.level, self.message
        )
    }
}

/// A response the filter answered with itself (`proxy_send_local_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub details: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub grpc_status: i32,
}

impl LocalResponse {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Value::Null` if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP call the filter dispatched (`proxy_http_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchedCall {
    pub token: u32,
    /// The VM it was dispatched from.
    pub vm: usize,
    /// The effective context that dispatched it (the request's context
    /// when a request callback made the call).
    pub context: u32,
    pub cluster: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
    pub timeout_ms: u32,
}

impl DispatchedCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One observable act of the filter, in a context's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A callback ran and returned (`action` for HTTP callbacks), costing
    /// `fuel` wasm instructions and `host_calls` calls into the host (every
    /// import, WASI included: each is a crossing out of the VM, which is
    /// what Envoy charges for beyond the instructions).
    Returned {
        callback: Callback,
        action: Option<Action>,
        fuel: u64,
        host_calls: u64,
    },
    HeaderReplaced {
        map: MapType,
        name: String,
        value: Vec<u8>,
    },
    HeaderAdded {
        map: MapType,
        name: String,
        value: Vec<u8>,
    },
    HeaderRemoved {
        map: MapType,
        name: String,
    },
    HeadersReplaced {
        map: MapType,
        headers: Headers,
    },
    BodyChanged {
        buffer: BufferType,
        start: u32,
        size: u32,
        data: Vec<u8>,
    },
    LocalResponse(LocalResponse),
    HttpCall(DispatchedCall),
    Resumed(StreamType),
    Closed(StreamType),
    PropertySet {
        path: Vec<String>,
        value: Vec<u8>,
    },
    Log(LogEntry),
}

/// An HTTP message as it left the filter: toward the upstream (the request)
/// or toward the client (the response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Option<Headers>,
    /// Whether the end of the stream went through too.
    pub complete: bool,
}

impl Forwarded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
