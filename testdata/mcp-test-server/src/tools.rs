//! The MCP handler: the fixed tools, the generated benchmark tools, the hidden
//! `late` tool, and the counters behind `/stats`.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler,
    handler::server::{
        common::schema_for_type,
        router::tool::ToolRouter,
        tool::{Extension, ToolCallContext},
        wrapper::Parameters,
    },
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
        ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
    },
    service::{NotificationContext, RequestContext},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;

use crate::catalog;
use serde::{Deserialize, Serialize};

/// The tool that stays hidden until `POST /admin/enable-late`.
const LATE: &str = "late";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    a: f64,
    b: f64,
}

/// What `GET /stats` reports.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Sessions that completed the handshake (`notifications/initialized`).
    pub sessions_initialized: u64,
    /// `tools/call` requests handled, whatever their outcome.
    pub tool_calls: u64,
}

/// State shared by every session and by the admin routes.
pub struct Upstream {
    name: String,
    /// Two prebuilt routers, so a call never rebuilds or clones thousands of
    /// generated routes: one with `late` disabled, one with it visible.
    hidden: ToolRouter<TestServer>,
    visible: ToolRouter<TestServer>,
    late_enabled: AtomicBool,
    sessions_initialized: AtomicU64,
    tool_calls: AtomicU64,
    /// Peers of initialized sessions, for `notifications/tools/list_changed`.
    peers: Mutex<Vec<Peer<RoleServer>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("tools", &self.visible.map.len())
            .field("late_enabled", &self.late_enabled)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// `generated` extra tools `tool_0000`.. are registered beside the fixed ones.
    pub fn new(name: String, generated: usize) -> Arc<Self> {
        let visible = TestServer::tool_router() + generated_tools(generated);
        Arc::new(Self {
            name,
            hidden: visible.clone().with_disabled(LATE),
            visible,
            late_enabled: AtomicBool::new(false),
            sessions_initialized: AtomicU64::new(0),
            tool_calls: AtomicU64::new(0),
            peers: Mutex::new(Vec::new()),
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sessions_initialized: self.sessions_initialized.load(Ordering::SeqCst),
            tool_calls: self.tool_calls.load(Ordering::SeqCst),
        }
    }

    /// Makes `late` visible and tells every live session that the list changed.
    pub async fn enable_late(&self) {
        self.late_enabled.store(true, Ordering::SeqCst);
        let peers = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            peers.retain(|peer| !peer.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            if let Err(error) = peer.notify_tool_list_changed().await {
                tracing::warn!(%error, "could not send notifications/tools/list_changed");
            }
        }
    }
}

/// One per MCP session (rmcp's service factory builds it); all share [`Upstream`].
#[derive(Debug, Clone)]
pub struct TestServer {
    upstream: Arc<Upstream>,
}

#[tool_router]
impl TestServer {
    pub fn new(upstream: Arc<Upstream>) -> Self {
        Self { upstream }
    }

    #[tool(description = "Returns `text` unchanged.")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Returns the sum of `a` and `b`.")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }

    /// rmcp's Streamable HTTP service puts the request's `http::request::Parts`
    /// into the request extensions, so a tool sees the headers of the very POST
    /// that carried its `tools/call`: what the gateway injected, not what the
    /// session was opened with.
    #[tool(
        description = "Returns JSON with this server's name, the Authorization header it received (\"none\" if absent), its x-mcp-* headers and every header."
    )]
    fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map_or("none", |value| value.to_str().unwrap_or("<not utf-8>"));
        // The gateway's routing headers, as the upstream received them: tests
        // check that clients cannot forge them.
        let routing: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-mcp-"))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("<not utf-8>").into(),
                )
            })
            .collect();
        // Every header, for tests that check what must not reach upstreams
        // (client cookies, API keys).
        let all: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("<not utf-8>").into(),
                )
            })
            .collect();
        serde_json::json!({
            "server": self.upstream.name,
            "authorization": authorization,
            "routingHeaders": routing,
            "headers": all,
        })
        .to_string()
    }

    #[tool(description = "Hidden until `POST /admin/enable-late`; returns \"late\".")]
    fn late(&self) -> String {
        LATE.to_owned()
    }

    fn router(&self) -> &ToolRouter<Self> {
        if self.upstream.late_enabled.load(Ordering::SeqCst) {
            &self.upstream.visible
        } else {
            &self.upstream.hidden
        }
    }
}

/// `tool_0000`.. `tool_{n-1}`, each echoing `text`: a large catalogue for benchmarks.
fn generated_tools(n: usize) -> ToolRouter<TestServer> {
    let schema = schema_for_type::<EchoArgs>();
    (0..n).fold(ToolRouter::new(), |router, i| {
        router.with_route((
            Tool::new(
                format!("tool_{i:04}"),
                "Generated benchmark tool: returns `text` unchanged.",
                schema.clone(),
            ),
            |Parameters(EchoArgs { text }): Parameters<EchoArgs>| text,
        ))
    })
}

#[tool_handler(router = self.router())]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            self.upstream.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ))
    }

    // Written out (tool_handler would generate it) only to count the call.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.upstream.tool_calls.fetch_add(1, Ordering::SeqCst);
        let call = ToolCallContext::new(self, request, context);
        self.router().call(call).await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(catalog::prompts())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        catalog::get_prompt(&request).map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(catalog::resources())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(catalog::resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        catalog::read_resource(&self.upstream.name, &request).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(catalog::complete(&request))
    }

    // Sessions are counted here, not in the service factory: rmcp also calls
    // the factory for sessionless requests that never complete a handshake.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.upstream
            .sessions_initialized
            .fetch_add(1, Ordering::SeqCst);
        self.upstream
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(context.peer);
    }
}
