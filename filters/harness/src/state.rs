//! The host's state for one VM (the wasmtime `Store` data): contexts and
//! their HTTP streams, pending HTTP calls, logs, and the bookkeeping of the
//! callback in progress. Host functions read and change it; the lifecycle
//! driver ([`crate::vm`]) owns the rules of what happens between callbacks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wasmtime::{Memory, TypedFunc};

use crate::abi::{LogLevel, StreamType};
use crate::headers::Headers;
use crate::record::{Callback, DispatchedCall, Event, Forwarded, LocalResponse, LogEntry};
use crate::shared::SharedStore;

/// How the host treats `proxy_http_call` to one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterBehavior {
    /// The call is sent; the test answers it later.
    Accept,
    /// The host fails to send it (Envoy: no healthy upstream):
    /// `proxy_http_call` returns `INTERNAL_FAILURE`.
    FailToSend,
}

/// Settings every VM of a gateway shares.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    pub clusters: BTreeMap<String, ClusterBehavior>,
    pub properties: BTreeMap<Vec<String>, Vec<u8>>,
    pub env_vars: Vec<(String, String)>,
    pub fuel_per_callback: u64,
    pub local_reply_through_filter: bool,
    pub log_level: LogLevel,
    /// Keep each stream's record after it is deleted (for assertions);
    /// long runs turn it off to stay linear and flat.
    pub keep_stream_records: bool,
}

/// The module's allocator and memory, found after instantiation.
#[derive(Clone)]
pub(crate) struct Guest {
    pub memory: Memory,
    pub allocate: TypedFunc<i32, i32>,
}

/// A host action the module asked for during a callback, applied when the
/// callback returns (Envoy defers them the same way: `addAfterVmCallAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deferred {
    Continue { context: u32, stream: StreamType },
    Close { context: u32, stream: StreamType },
    Done { context: u32 },
}

/// The response to an HTTP call, visible during `on_http_call_response`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallResponseData {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

/// One direction of an HTTP stream at the filter.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flow {
    /// The map the filter sees and edits.
    pub headers: Headers,
    pub trailers: Option<Headers>,
    /// Body held at the filter: what `proxy_get_buffer_bytes` returns.
    pub buffered: Vec<u8>,
    /// Every body byte the peer sent, unchanged.
    pub received_body: Vec<u8>,
    pub headers_received: bool,
    /// The peer sent the end of the stream.
    pub end_of_stream: bool,
    /// Iteration is stopped at the filter (a callback returned Pause).
    pub paused: bool,
    /// The body is held at the filter (a body callback returned Pause), so
    /// the filter may still read and rewrite it.
    pub body_held: bool,
    /// What went past the filter.
    pub forwarded: Option<Forwarded>,
    pub body_changed: bool,
}

impl Flow {
    /// Headers already left the filter: changing them now is lost.
    pub fn headers_sent(&self) -> bool {
        self.forwarded.is_some()
    }

    pub fn complete(&self) -> bool {
        self.forwarded.as_ref().is_some_and(|f| f.complete)
    }

    /// Lets everything held at the filter through.
    pub fn continue_iteration(&mut self) {
        let forwarded = self.forwarded.get_or_insert_with(|| Forwarded {
            headers: self.headers.clone(),
            ..Forwarded::default()
        });
        forwarded.body.append(&mut self.buffered);
        if self.end_of_stream {
            forwarded.trailers = self.trailers.clone();
            forwarded.complete = true;
        }
        self.paused = false;
        self.body_held = false;
    }
}

/// An HTTP stream context's request and response.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpState {
    pub request: Flow,
    pub response: Flow,
    pub local_response: Option<LocalResponse>,
    /// The local response went downstream (through the filter or not).
    pub local_delivered: bool,
    /// `proxy_close_stream` reset the stream.
    pub reset: bool,
}

impl HttpState {
    /// The stream is over for the request path: answered locally or reset.
    pub fn ended(&self) -> bool {
        self.local_response.is_some() || self.reset
    }
}

/// A context as the host tracks it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// 0 for a root (plugin) context.
    pub parent: u32,
    pub http: Option<HttpState>,
    pub events: Vec<Event>,
    /// Properties the filter set in this context.
    pub properties: BTreeMap<Vec<String>, Vec<u8>>,
    /// Wasm instructions spent in this context's callbacks.
    pub fuel: u64,
    /// Host functions this context's callbacks called.
    pub host_calls: u64,
    /// `proxy_on_done` returned false: waiting for `proxy_done`.
    pub awaiting_done: bool,
    pub deleted: bool,
}

/// The store data of one VM.
pub(crate) struct HostState {
    pub vm: usize,
    pub vm_id: String,
    pub shared: Arc<SharedStore>,
    pub env: Arc<Environment>,
    pub guest: Option<Guest>,
    pub vm_configuration: Vec<u8>,
    pub plugin_configuration: Vec<u8>,
    pub contexts: BTreeMap<u32, Context>,
    pub next_context_id: u32,
    /// The root context new streams are created under.
    pub active_root: u32,
    /// Replaced root contexts, finished once no stream uses them.
    pub retired: BTreeSet<u32>,
    /// The callback in progress, its context, and the effective context.
    pub callback: Option<Callback>,
    pub current: u32,
    pub effective: u32,
    pub calls: BTreeMap<u32, DispatchedCall>,
    pub grpc_tokens: BTreeSet<u32>,
    pub next_token: u32,
    pub call_response: Option<CallResponseData>,
    /// `proxy_get_status` answer: code and message.
    pub status: (u32, Vec<u8>),
    pub log: Vec<LogEntry>,
    pub tick_period_ms: u32,
    /// Time advanced since start, for firing ticks.
    pub tick_elapsed_ms: u64,
    pub time_ns: u64,
    pub monotonic_ns: u64,
    pub random: u64,
    pub deferred: Vec<Deferred>,
    pub violations: Vec<String>,
    /// `proc_exit` was called with this code.
    pub exit_code: Option<i32>,
    /// Host functions called since the callback in progress began (counted
    /// by the store's call hook).
    pub host_calls: u64,
}

/// 2025-01-01T00:00:00Z: a fixed start keeps runs reproducible.
/// The harness clock at start, Unix nanoseconds (2025-01-01T00:00:00Z).
pub const START_TIME_NS: u64 = 1_735_689_600_000_000_000;

impl HostState {
    pub fn new(vm: usize, shared: Arc<SharedStore>, env: Arc<Environment>) -> Self {
        HostState {
            vm,
            vm_id: String::new(),
            shared,
            env,
            guest: None,
            vm_configuration: Vec::new(),
            plugin_configuration: Vec::new(),
            contexts: BTreeMap::new(),
            next_context_id: 1,
            active_root: 0,
            retired: BTreeSet::new(),
            callback: None,
            current: 0,
            effective: 0,
            calls: BTreeMap::new(),
            grpc_tokens: BTreeSet::new(),
            next_token: 1,
            call_response: None,
            status: (0, Vec::new()),
            log: Vec::new(),
            tick_period_ms: 0,
            tick_elapsed_ms: 0,
            time_ns: START_TIME_NS,
            monotonic_ns: 0,
            random: 0x9e37_79b9_7f4a_7c15 ^ vm as u64,
            deferred: Vec::new(),
            violations: Vec::new(),
            exit_code: None,
            host_calls: 0,
        }
    }

    pub fn alloc_context_id(&mut self) -> u32 {
        let id = self.next_context_id;
        self.next_context_id += 1;
        id
    }

    /// The context host functions act on.
    pub fn effective_context(&mut self) -> Option<&mut Context> {
        self.contexts.get_mut(&self.effective)
    }

    /// The HTTP stream of the effective context, if it is one.
    pub fn effective_http(&mut self) -> Option<&mut HttpState> {
        self.effective_context()
            .filter(|c| !c.deleted)
            .and_then(|c| c.http.as_mut())
    }

    /// Records an event in the effective context's record.
    pub fn record(&mut self, event: Event) {
        if let Some(context) = self.contexts.get_mut(&self.effective) {
            context.events.push(event);
        }
    }

    /// Notes a breach of the ABI or of Envoy's rules; the driver fails the
    /// callback with it.
    pub fn violation(&mut self, detail: impl std::fmt::Display) {
        let callback = self.callback.map_or("a host call", Callback::export);
        self.violations.push(format!(
            "in {callback} (context {}): {detail}",
            self.effective
        ));
    }

    pub fn log_line(&mut self, level: LogLevel, message: String) {
        let entry = LogEntry {
            vm: self.vm,
            context: self.effective,
            level,
            message,
        };
        self.record(crate::record::Event::Log(entry.clone()));
        self.log.push(entry);
    }

    /// A deterministic pseudo-random stream (xorshift64*), for `random_get`.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
