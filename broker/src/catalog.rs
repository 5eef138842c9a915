//! The catalog: what every upstream offers, combined into the route table
//! and the aggregated tool list.
//!
//! Discovery tasks [`Catalog::publish`] each upstream's state; [`compose`]
//! turns the configured upstreams and their states into a [`Composite`]
//! through [`router_config::build_route_table`] (the one place a route table
//! is built). The composite is what `tools/list`, `/status` and the router's
//! configuration are served from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use router_config::{BuildIssue, RouteTableSettings, RouterConfig, ServerRoute};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::upstream::{Health, UpstreamSpec, UpstreamState};

/// How route table entries name Envoy clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clusters {
    /// No cluster names: routes match on `:authority` (Istio).
    Unnamed,
    /// The local Envoy's cluster of each server (`envoy::upstream_cluster`).
    LocalEnvoy,
}

impl Clusters {
    fn cluster_of(self, spec: &UpstreamSpec) -> Option<String> {
        if let Some(cluster) = spec.gateway_route.as_ref().and_then(|r| r.cluster.clone()) {
            return Some(cluster);
        }
        match self {
            Clusters::Unnamed => None,
            Clusters::LocalEnvoy => Some(crate::envoy::upstream_cluster(&spec.name)),
        }
    }
}

/// Everything served from the current catalog.
#[derive(Debug, Clone)]
pub struct Composite {
    pub route_table: RouterConfig,
    pub issues: Vec<BuildIssue>,
    /// Exposed tool definitions (upstream definitions with the exposed
    /// name), in route table order.
    pub tools: Vec<serde_json::Value>,
    /// The `tools/list` result, `{"tools":[...]}`, serialised once.
    pub tools_list_result: Box<serde_json::value::RawValue>,
    pub servers: Vec<ServerStatus>,
}

/// One upstream as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub name: String,
    pub url: String,
    pub prefix: String,
    pub health: Health,
    /// Upstream names of the tools it offers (empty unless ready).
    pub tools: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_info: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the state last changed, Unix seconds.
    pub since: u64,
}

/// Shared catalog state.
#[derive(Debug)]
pub struct Catalog {
    states: Mutex<HashMap<String, UpstreamState>>,
    /// Bumped on every published change; the composer waits on it.
    changes: watch::Sender<u64>,
    composite: ArcSwap<Composite>,
    /// Recent composites, oldest first, for proxies a table behind.
    history: Mutex<std::collections::VecDeque<Arc<Composite>>>,
    /// The table of the last tool-list change not announced yet, and when
    /// it was installed.
    unannounced: Mutex<Option<(String, Instant)>>,
    /// Fires when the exposed tool list changes (for `list_changed`).
    tools_changed: broadcast::Sender<()>,
}

impl Catalog {
    pub fn new(settings: RouteTableSettings) -> Self {
        let empty = compose(&settings, &[], &HashMap::new(), Clusters::Unnamed);
        Catalog {
            states: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            composite: ArcSwap::from_pointee(empty),
            history: Mutex::new(std::collections::VecDeque::new()),
            unannounced: Mutex::new(None),
            tools_changed: broadcast::Sender::new(16),
        }
    }

    /// Records a new state for one upstream.
    pub fn publish(&self, server: &str, state: UpstreamState) {
        let changed = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            let previous = states.get(server);
            let changed = previous.is_none_or(|p| {
                p.health != state.health
                    || p.tools != state.tools
                    || p.last_error != state.last_error
            });
            states.insert(server.to_owned(), state);
            changed
        };
        if changed {
            self.changes.send_modify(|generation| *generation += 1);
        }
    }

    /// Forgets upstreams no longer configured.
    pub fn retain(&self, names: &[&str]) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.retain(|name, _| names.contains(&name.as_str()));
        drop(states);
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Notices of published changes.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Notices that the exposed tool list changed.
    pub fn subscribe_tools_changed(&self) -> broadcast::Receiver<()> {
        self.tools_changed.subscribe()
    }

    pub fn current(&self) -> Arc<Composite> {
        self.composite.load_full()
    }

    /// Recomposes from the given configuration and puts the result in
    /// force ([`Catalog::compose_current`] then [`Catalog::install`]).
    pub fn recompose(
        &self,
        settings: &RouteTableSettings,
        specs: &[Arc<UpstreamSpec>],
        clusters: Clusters,
    ) -> (Arc<Composite>, bool) {
        let next = self.compose_current(settings, specs, clusters);
        let changed = self.install(next.clone(), true);
        (next, changed)
    }

    /// The composite of the current upstream states, not yet in force.
    pub fn compose_current(
        &self,
        settings: &RouteTableSettings,
        specs: &[Arc<UpstreamSpec>],
        clusters: Clusters,
    ) -> Arc<Composite> {
        let states = self
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Arc::new(compose(settings, specs, &states, clusters))
    }

    /// Puts `next` in force (the publisher calls it once the route table is
    /// where the proxy loads it from); returns whether the exposed tool
    /// list changed. The change is announced (`list_changed`) when a proxy
    /// reports it loaded the new table ([`Catalog::table_in_use`]), so a
    /// client that re-lists at once lists what it can call; or, if no
    /// proxy reports (none running, an old router), after
    /// [`ANNOUNCE_FALLBACK`] ([`Catalog::announce_overdue`]); or at once
    /// with `announce_now`.
    pub fn install(&self, next: Arc<Composite>, announce_now: bool) -> bool {
        let previous = self.composite.swap(next.clone());
        let tools_changed = previous.tools != next.tools;
        {
            let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if history
                .back()
                .is_none_or(|last| last.route_table.id != next.route_table.id)
            {
                history.push_back(next.clone());
                while history.len() > HISTORY {
                    history.pop_front();
                }
            }
        }
        if tools_changed {
            if announce_now {
                let _ = self.tools_changed.send(());
            } else {
                *self.unannounced.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((next.route_table.id.clone(), Instant::now()));
            }
        }
        tools_changed
    }

    /// A proxy reported that it routes with table `id`: announce the change
    /// that table brought, if it is still unannounced.
    pub fn table_in_use(&self, id: &str) {
        let mut unannounced = self.unannounced.lock().unwrap_or_else(|e| e.into_inner());
        if unannounced
            .as_ref()
            .is_some_and(|(pending, _)| pending == id)
        {
            *unannounced = None;
            let _ = self.tools_changed.send(());
        }
    }

    /// Announces a change no proxy reported within [`ANNOUNCE_FALLBACK`].
    pub fn announce_overdue(&self) {
        let mut unannounced = self.unannounced.lock().unwrap_or_else(|e| e.into_inner());
        if unannounced
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= ANNOUNCE_FALLBACK)
        {
            *unannounced = None;
            let _ = self.tools_changed.send(());
        }
    }

    /// The composite of the route table `id` (what the asking proxy routes
    /// with), if it is recent; else the current one.
    pub fn for_table(&self, id: Option<&str>) -> Arc<Composite> {
        let current = self.current();
        let Some(id) = id.filter(|id| *id != current.route_table.id) else {
            return current;
        };
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|c| c.route_table.id == id)
            .cloned()
            .unwrap_or(current)
    }
}

/// How many recent composites [`Catalog::for_table`] can answer from.
const HISTORY: usize = 16;

/// How long a catalogue change waits for a proxy to report its table before
/// it is announced anyway.
pub const ANNOUNCE_FALLBACK: Duration = Duration::from_secs(5);

/// Builds the composite: a route table of the configured upstreams (ready
/// ones with their tools), the exposed tool definitions, and statuses.
pub fn compose(
    settings: &RouteTableSettings,
    specs: &[Arc<UpstreamSpec>],
    states: &HashMap<String, UpstreamState>,
    clusters: Clusters,
) -> Composite {
    let connecting = UpstreamState::connecting();
    let state_of = |name: &str| states.get(name).unwrap_or(&connecting);
    let routes = specs
        .iter()
        .map(|spec| {
            let state = state_of(&spec.name);
            ServerRoute {
                name: spec.name.clone(),
                prefix: spec.prefix.clone(),
                authority: spec.authority(),
                path: spec.path(),
                cluster: clusters.cluster_of(spec),
                forward_authorization: spec.forward_authorization,
                forward_headers: spec.forward_headers.clone(),
                tools: if state.health == Health::Ready {
                    state.tool_names().map(str::to_owned).collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let build = router_config::build_route_table(settings.clone(), routes);

    // (server, upstream name) → definition: one pass over each server's tools.
    let definitions: HashMap<(&str, &str), &serde_json::Map<String, serde_json::Value>> = specs
        .iter()
        .flat_map(|spec| {
            state_of(&spec.name).tools.iter().filter_map(|tool| {
                let name = tool.get("name")?.as_str()?;
                Some(((spec.name.as_str(), name), tool))
            })
        })
        .collect();
    let tools: Vec<serde_json::Value> = build
        .config
        .exposed_tools()
        .filter_map(|exposed| {
            let definition =
                definitions.get(&(exposed.server.as_str(), exposed.upstream_name.as_str()))?;
            let mut definition = (*definition).clone();
            definition.insert("name".to_owned(), exposed.name.into());
            Some(serde_json::Value::Object(definition))
        })
        .collect();
    // `tools/list` answers with these bytes as they are: serialising the
    // whole list per request was most of the broker's work.
    // (Serialising a `Value` cannot fail.)
    let tools_list_result =
        serde_json::value::to_raw_value(&serde_json::json!({ "tools": tools })).unwrap_or_default();

    let servers = specs
        .iter()
        .map(|spec| {
            let state = state_of(&spec.name);
            ServerStatus {
                name: spec.name.clone(),
                url: spec.url.to_string(),
                prefix: spec.prefix.clone(),
                health: state.health,
                tools: if state.health == Health::Ready {
                    state.tool_names().map(str::to_owned).collect()
                } else {
                    Vec::new()
                },
                protocol_version: state.protocol_version.clone(),
                server_info: state.server_info.clone(),
                last_error: state.last_error.clone(),
                since: state
                    .last_change
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            }
        })
        .collect();

    Composite {
        route_table: build.config,
        issues: build.issues,
        tools,
        tools_list_result,
        servers,
    }
}

#[cfg(test)]
mod tests;
