//! The systems under test, each started over the same upstreams: the
//! upstream itself, plain Envoy, plain Envoy with the wasm floor filter
//! (doing nothing; holding the body and setting three headers; making our
//! router's host calls), our gateway with that filter in the router's
//! place, our gateway, Envoy's native MCP filters, ContextForge.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::Stack;

use crate::client::McpClient;
use crate::contextforge::{self, ContextForge};
use crate::envoy::{self, Envoy};
use crate::fleet::{Fleet, FleetSpec, Server};
use crate::procstat::Tree;

/// A system under test.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    /// The client talks to the upstream itself.
    Direct,
    /// Plain Envoy in front of the upstream: HTTP routing, no MCP logic.
    Floor,
    /// Plain Envoy plus a proxy-wasm filter that does nothing
    /// (bench/floor-filter, `noop`): the cost of the V8 runtime and the ABI.
    WasmNoop,
    /// Plain Envoy plus a proxy-wasm filter that holds the request, reads
    /// its whole body and sets three request headers, one host call each
    /// (`floor`): the least any wasm MCP router does, the floor our
    /// router's targets are set against.
    WasmFloor,
    /// [`Kind::WasmFloor`] with the three headers set in one map
    /// replacement (`floor-map`). Not in a default run: it answers one
    /// question (one host call or several), asked with `--systems`.
    WasmFloorMap,
    /// Plain Envoy plus the floor filter making every host call a routed
    /// call of our router makes, and nothing else (`router-calls`): what
    /// Envoy spends serving the router's host calls. Not in a default run:
    /// it splits our cost above the floor (`just bench-profile`).
    WasmRouterCalls,
    /// Our gateway with the floor filter's `router-calls` in the router's
    /// place: the same broker, bootstrap, clusters and ECDS configuration,
    /// only the filter's code differs. Between [`Kind::WasmRouterCalls`]
    /// and this is what the gateway's Envoy configuration costs; between
    /// this and [`Kind::Gateway`], the router's own code. Runs the call
    /// workloads of the two-server deployment only ([`Kind::runs`]). Not in
    /// a default run (`just bench-profile`).
    WasmRouterCallsGateway,
    /// Envoy + `mcp_router.wasm` + `mcp-broker`.
    Gateway,
    /// Envoy with `envoy.filters.http.mcp` + `envoy.filters.http.mcp_router`.
    Native,
    /// IBM ContextForge (Python).
    ContextForge,
}

impl Kind {
    /// Every system `--systems` can name.
    pub const ALL: [Kind; 10] = [
        Kind::Direct,
        Kind::Floor,
        Kind::WasmNoop,
        Kind::WasmFloor,
        Kind::WasmFloorMap,
        Kind::WasmRouterCalls,
        Kind::WasmRouterCallsGateway,
        Kind::Gateway,
        Kind::Native,
        Kind::ContextForge,
    ];

    /// The systems of a run without `--systems`.
    pub const DEFAULT: [Kind; 7] = [
        Kind::Direct,
        Kind::Floor,
        Kind::WasmNoop,
        Kind::WasmFloor,
        Kind::Gateway,
        Kind::Native,
        Kind::ContextForge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Direct => "upstream direct",
            Kind::Floor => "plain Envoy (floor)",
            Kind::WasmNoop => "+ no-op wasm",
            Kind::WasmFloor => "+ wasm floor",
            Kind::WasmFloorMap => "+ wasm floor, one map set",
            Kind::WasmRouterCalls => "+ wasm floor, our host calls",
            Kind::WasmRouterCallsGateway => "our host calls, gateway's Envoy",
            Kind::Gateway => "our gateway",
            Kind::Native => "Envoy native MCP",
            Kind::ContextForge => "ContextForge",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Floor => "floor",
            Kind::WasmNoop => "wasm-noop",
            Kind::WasmFloor => "wasm-floor",
            Kind::WasmFloorMap => "wasm-floor-map",
            Kind::WasmRouterCalls => "wasm-router-calls",
            Kind::WasmRouterCallsGateway => "wasm-router-calls-gateway",
            Kind::Gateway => "gateway",
            Kind::Native => "native",
            Kind::ContextForge => "contextforge",
        }
    }

    /// The wasm floor filter's mode (its plugin configuration), for the
    /// plain-Envoy systems that configure it directly
    /// ([`Kind::WasmRouterCallsGateway`] gets the router's configuration).
    pub fn floor_mode(self) -> Option<&'static str> {
        match self {
            Kind::WasmNoop => Some("noop"),
            Kind::WasmFloor => Some("floor"),
            Kind::WasmFloorMap => Some("floor-map"),
            Kind::WasmRouterCalls => Some("router-calls"),
            _ => None,
        }
    }

    /// Whether the system runs `workload`. [`Kind::WasmRouterCallsGateway`]
    /// sends every request to the floor filter's one cluster,
    /// `mcp_upstream_u00`: it aggregates nothing, so it has no catalogue to
    /// list, and the SSE deployment (`v00`, `v01`) has no such cluster. It
    /// runs the two-server deployment's call workloads, as a floor: like
    /// the other floors it passes `initialize` and first calls straight to
    /// the upstream.
    pub fn runs(self, workload: crate::workload::Workload) -> bool {
        self != Kind::WasmRouterCallsGateway
            || (workload.deployment() == Deployment::Two && workload.target() == Target::Calls)
    }

    /// Aggregates several upstreams behind one endpoint.
    pub fn is_gateway(self) -> bool {
        matches!(self, Kind::Gateway | Kind::Native | Kind::ContextForge)
    }
}

/// Which upstreams the gateways aggregate.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Deployment {
    /// `u00`, `u01` (JSON replies).
    Two,
    /// `u00`..`u19` (JSON replies).
    Twenty,
    /// `v00`, `v01`, which answer every POST as an SSE stream.
    TwoSse,
}

impl Deployment {
    pub const ALL: [Deployment; 3] = [Deployment::Two, Deployment::Twenty, Deployment::TwoSse];

    pub fn servers(self) -> usize {
        match self {
            Deployment::Two | Deployment::TwoSse => 2,
            Deployment::Twenty => 20,
        }
    }
}

/// Which endpoint a workload talks to. Direct and plain Envoy cannot
/// aggregate: for listing they talk to one upstream serving as many tools
/// as the gateways aggregate (the same bytes to move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `u00` (and, through a gateway, its siblings).
    Calls,
    /// The whole catalogue of the deployment.
    List,
}

/// The upstream processes of a run, shared by every system.
#[derive(Debug)]
pub struct Upstreams {
    /// `u00`..`u19`, each with `echo` + `tools` generated tools.
    pub fleet: Fleet,
    /// `v00`, `v01`: the same, answering in SSE.
    pub fleet_sse: Fleet,
    /// One server with the tools of two fleet servers (`flat-a00`).
    pub flat_two: Fleet,
    /// One server with the tools of twenty fleet servers (`flat-b00`).
    pub flat_twenty: Fleet,
}

/// Generated tools per upstream.
pub const TOOLS_PER_SERVER: usize = 100;

impl Upstreams {
    /// Starts the fleet (20 servers, one process) and the two flat servers.
    ///
    /// # Errors
    /// A process does not come up.
    pub async fn start(dir: &Path, cpu_list: Option<&str>, servers: usize) -> anyhow::Result<Self> {
        let spec = |label, name_prefix, servers, tools| FleetSpec {
            label,
            name_prefix,
            servers,
            tools,
            sse: false,
            cpu_list,
        };
        let sse = FleetSpec {
            sse: true,
            ..spec("upstreams-sse", "v", 2, TOOLS_PER_SERVER)
        };
        // A flat server's `echo` stands in for the other servers' `echo`s,
        // so every system lists the same number of tools.
        let per_server = TOOLS_PER_SERVER + 1;
        Ok(Upstreams {
            fleet: Fleet::start(&spec("upstreams", "u", servers, TOOLS_PER_SERVER), dir).await?,
            fleet_sse: Fleet::start(&sse, dir).await?,
            flat_two: Fleet::start(&spec("flat-two", "flat-a", 1, 2 * per_server - 1), dir).await?,
            flat_twenty: Fleet::start(&spec("flat-twenty", "flat-b", 1, 20 * per_server - 1), dir)
                .await?,
        })
    }

    pub fn trees(&self) -> Vec<Tree> {
        vec![
            self.fleet.tree(),
            self.fleet_sse.tree(),
            self.flat_two.tree(),
            self.flat_twenty.tree(),
        ]
    }

    /// The servers `deployment`'s gateways aggregate (the first is the one
    /// direct and plain Envoy call).
    pub fn fleet(&self, deployment: Deployment) -> &Fleet {
        match deployment {
            Deployment::Two | Deployment::Twenty => &self.fleet,
            Deployment::TwoSse => &self.fleet_sse,
        }
    }

    /// The flat server standing in for `deployment`'s catalogue.
    pub fn flat(&self, deployment: Deployment) -> &Fleet {
        match deployment {
            Deployment::Two | Deployment::TwoSse => &self.flat_two,
            Deployment::Twenty => &self.flat_twenty,
        }
    }
}

/// Where processes run and what is installed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    pub dir: PathBuf,
    /// CPUs of the servers (Envoy, broker, ContextForge, upstreams).
    pub server_cpus: Option<String>,
    /// ContextForge's `mcpgateway` console script, if installed.
    pub contextforge: Option<PathBuf>,
}

/// A started system. Dropping it stops its processes.
#[derive(Debug)]
pub struct System {
    pub kind: Kind,
    pub deployment: Deployment,
    headers: Vec<(String, String)>,
    calls_url: String,
    list_url: String,
    own: Vec<Tree>,
    /// *upstream direct* lists on the flat server, another process.
    direct_list: Option<Tree>,
    _running: Running,
}

/// The processes of a system, held so that dropping the system stops them.
#[derive(Debug)]
#[expect(dead_code, reason = "held for their Drop, never read")]
enum Running {
    Nothing,
    Envoy(Envoy),
    Gateway(Box<Stack>),
    ContextForge(ContextForge),
}

impl System {
    /// Starts `kind` over `deployment`'s upstreams.
    ///
    /// # Errors
    /// A process is missing or does not come up.
    pub async fn start(
        kind: Kind,
        deployment: Deployment,
        upstreams: &Upstreams,
        env: &Environment,
    ) -> anyhow::Result<System> {
        let fleet = upstreams.fleet(deployment);
        let u00 = &fleet.servers[0];
        let flat = &upstreams.flat(deployment).servers[0];
        let servers = &fleet.servers[..deployment.servers()];
        let cpus = env.server_cpus.as_deref();
        let system = |headers, calls_url, list_url, own, running| System {
            kind,
            deployment,
            headers,
            calls_url,
            list_url,
            own,
            direct_list: (kind == Kind::Direct).then(|| upstreams.flat(deployment).tree()),
            _running: running,
        };
        Ok(match kind {
            Kind::Direct => system(
                Vec::new(),
                u00.url(),
                flat.url(),
                vec![fleet.tree()],
                Running::Nothing,
            ),
            Kind::Floor
            | Kind::WasmNoop
            | Kind::WasmFloor
            | Kind::WasmFloorMap
            | Kind::WasmRouterCalls => {
                let ports = envoy::ports();
                let config = match kind.floor_mode() {
                    Some(mode) => envoy::wasm_floor(ports, u00, &[flat], mode)?,
                    None => envoy::floor(ports, u00, &[flat]),
                };
                let label = format!("envoy-{}", kind.id());
                let envoy = Envoy::start(&label, &config, ports, &env.dir, cpus).await?;
                system(
                    Vec::new(),
                    envoy.url("/mcp"),
                    envoy.url(&format!("/{}/mcp", flat.name)),
                    vec![envoy.tree()],
                    Running::Envoy(envoy),
                )
            }
            Kind::Native => {
                let ports = envoy::ports();
                let config = envoy::native(ports, servers);
                let envoy = Envoy::start("envoy-native", &config, ports, &env.dir, cpus).await?;
                let url = envoy.url("/mcp");
                system(
                    Vec::new(),
                    url.clone(),
                    url,
                    vec![envoy.tree()],
                    Running::Envoy(envoy),
                )
            }
            Kind::Gateway | Kind::WasmRouterCallsGateway => {
                let in_router_place = kind == Kind::WasmRouterCallsGateway;
                let wasm = in_router_place.then(envoy::floor_wasm).transpose()?;
                let stack = gateway_stack(servers, cpus, wasm).await?;
                let url = stack.gateway_url();
                // The floor filter sends every request, `tools/list` too,
                // to `u00`: the gateway lists `u00`'s tools only.
                let expected = if in_router_place {
                    fleet.tools + 1
                } else {
                    servers.len() * (fleet.tools + 1)
                };
                wait_for_tools(
                    &McpClient::new(&url, Vec::new()),
                    expected,
                    Duration::from_secs(60),
                )
                .await?;
                let own = vec![
                    Tree::new("envoy", stack.envoy_pid()),
                    Tree::new("broker", stack.broker_pid()),
                ];
                system(
                    Vec::new(),
                    url.clone(),
                    url,
                    own,
                    Running::Gateway(Box::new(stack)),
                )
            }
            Kind::ContextForge => {
                let Some(mcpgateway) = &env.contextforge else {
                    anyhow::bail!("ContextForge is not installed (`just setup-contextforge`)");
                };
                let expected = servers.len() * (fleet.tools + 1);
                let forge =
                    ContextForge::start(mcpgateway, servers, expected, &env.dir, cpus).await?;
                let url = forge.mcp_url();
                system(
                    vec![forge.auth_header()],
                    url.clone(),
                    url,
                    vec![forge.tree()],
                    Running::ContextForge(forge),
                )
            }
        })
    }

    pub fn url(&self, target: Target) -> &str {
        match target {
            Target::Calls => &self.calls_url,
            Target::List => &self.list_url,
        }
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn client(&self, target: Target) -> McpClient {
        McpClient::new(self.url(target), self.headers.clone())
    }

    /// The system's own processes (not the upstreams) serving `target`:
    /// for *upstream direct*, the upstream process that `target` reaches.
    pub fn own(&self, target: Target) -> Vec<Tree> {
        match (self.kind, target) {
            (Kind::Direct, Target::List) => vec![
                self.direct_list
                    .clone()
                    .unwrap_or_else(|| self.own[0].clone()),
            ],
            _ => self.own.clone(),
        }
    }

    /// The name a client calls `tool` of `server` by.
    pub fn tool(&self, server: &Server, tool: &str) -> String {
        match self.kind {
            Kind::Direct
            | Kind::Floor
            | Kind::WasmNoop
            | Kind::WasmFloor
            | Kind::WasmFloorMap
            | Kind::WasmRouterCalls
            | Kind::WasmRouterCallsGateway => tool.to_owned(),
            Kind::Gateway => format!("{}_{tool}", server.name),
            Kind::Native => format!("{}__{tool}", server.name),
            Kind::ContextForge => contextforge::tool_name(&server.name, tool),
        }
    }

    /// The names `tools/list` must answer for the deployment's catalogue.
    pub fn expected_tools(&self, upstreams: &Upstreams) -> Vec<String> {
        let names = |fleet: &Fleet| -> Vec<String> {
            std::iter::once("echo".to_owned())
                .chain((0..fleet.tools).map(|i| format!("tool_{i:04}")))
                .collect()
        };
        if self.kind.is_gateway() {
            let fleet = upstreams.fleet(self.deployment);
            fleet.servers[..self.deployment.servers()]
                .iter()
                .flat_map(|server| names(fleet).into_iter().map(move |t| (server, t)))
                .map(|(server, tool)| self.tool(server, &tool))
                .collect()
        } else {
            names(upstreams.flat(self.deployment))
        }
    }
}

/// Our gateway over `servers` (`wasm` in the router's place when given),
/// its limits raised out of the benchmark's way.
async fn gateway_stack(
    servers: &[Server],
    cpus: Option<&str>,
    wasm: Option<PathBuf>,
) -> anyhow::Result<Stack> {
    // The open-session and first-call workloads mint sessions (and
    // upstream sessions) far faster than the default initialize rate limit
    // and upstream-session bound allow; the benchmark measures routing,
    // not the limits.
    let mut builder = Stack::builder()
        .refresh_seconds(30)
        .envoy_concurrency(1)
        .setting(
            "limits",
            serde_json::json!({
                "initializePerSecond": 1_000_000,
                "maxUpstreamSessions": 10_000_000
            }),
        )
        .quiet();
    if let Some(wasm) = wasm {
        builder = builder.setting("envoy", serde_json::json!({ "wasmFile": wasm }));
    }
    if let Some(cpus) = cpus {
        builder = builder.cpu_list(cpus);
    }
    for server in servers {
        builder = builder.server(&server.name, &server.url(), &format!("{}_", server.name));
    }
    Ok(builder.start().await?)
}

/// Waits until `client`'s `tools/list` has `expected` tools.
///
/// # Errors
/// It does not within `timeout`.
pub async fn wait_for_tools(
    client: &McpClient,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut seen = 0;
    while start.elapsed() < timeout {
        if let Ok(session) = client.initialize().await
            && let Ok(names) = client.list(session.as_deref()).await
        {
            seen = names.len();
            if seen == expected {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "{} listed {seen} of {expected} tools after 60 s",
        client.url
    )
}
