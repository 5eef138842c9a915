//! The catalog: what every upstream offers, combined into the route table
//! and the aggregated lists of tools, prompts, resources and resource
//! templates.
//!
//! Discovery tasks [`Catalog::publish`] each upstream's state; [`compose`]
//! turns the configured upstreams and their states into a [`Composite`]
//! through [`router_config::build_route_table`] (the one place a route table
//! is built). The composite is what the lists, `initialize`, `/status` and
//! the router's configuration are served from.

mod compose;

pub use compose::{Composite, List, ServerStatus, compose};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use router_config::{Entry, RouteTableSettings};
use tokio::sync::{broadcast, watch};

use crate::upstream::{PerEntry, UpstreamSpec, UpstreamState};

/// Which aggregated lists a catalogue change touched; what `list_changed`
/// notifications announce.
pub type ListsChanged = PerEntry<bool>;

impl ListsChanged {
    /// Whether any list changed.
    pub fn any(&self) -> bool {
        Entry::ALL.iter().any(|entry| *self.get(*entry))
    }

    /// The `notifications/*/list_changed` methods announcing it (resources
    /// and templates share one).
    pub fn notifications(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.tool {
            methods.push(mcp_protocol::methods::NOTIFICATION_TOOLS_LIST_CHANGED);
        }
        if self.prompt {
            methods.push(mcp_protocol::methods::NOTIFICATION_PROMPTS_LIST_CHANGED);
        }
        if self.resource || self.resource_template {
            methods.push(mcp_protocol::methods::NOTIFICATION_RESOURCES_LIST_CHANGED);
        }
        methods
    }

    fn merge(&mut self, other: ListsChanged) {
        for entry in Entry::ALL {
            *self.get_mut(entry) |= *other.get(entry);
        }
    }
}

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

/// Shared catalog state.
#[derive(Debug)]
pub struct Catalog {
    states: Mutex<HashMap<String, UpstreamState>>,
    /// Bumped on every published change; the composer waits on it.
    changes: watch::Sender<u64>,
    composite: ArcSwap<Composite>,
    /// Recent composites, oldest first, for proxies a table behind.
    history: Mutex<std::collections::VecDeque<Arc<Composite>>>,
    /// The table of the last list change not announced yet, when it was
    /// installed, and the lists changed since the last announcement.
    unannounced: Mutex<Option<(String, Instant, ListsChanged)>>,
    /// Fires when exposed lists change (for `list_changed`).
    lists_changed: broadcast::Sender<ListsChanged>,
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
            lists_changed: broadcast::Sender::new(16),
        }
    }

    /// Records a new state for one upstream.
    pub fn publish(&self, server: &str, state: UpstreamState) {
        let changed = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            let previous = states.get(server);
            let changed = previous.is_none_or(|p| {
                p.health != state.health
                    || p.catalog != state.catalog
                    || p.capabilities != state.capabilities
                    || p.rejected != state.rejected
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

    /// Notices of changes of the exposed lists.
    pub fn subscribe_lists_changed(&self) -> broadcast::Receiver<ListsChanged> {
        self.lists_changed.subscribe()
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
    ) -> (Arc<Composite>, ListsChanged) {
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
    /// where the proxy loads it from); returns which exposed lists changed.
    /// The change is announced (`list_changed`) when a proxy reports it
    /// loaded the new table ([`Catalog::table_in_use`]), so a client that
    /// re-lists at once lists what it can call; or, if no proxy reports
    /// (none running, an old router), after [`ANNOUNCE_FALLBACK`]
    /// ([`Catalog::announce_overdue`]); or at once with `announce_now`.
    pub fn install(&self, next: Arc<Composite>, announce_now: bool) -> ListsChanged {
        let previous = self.composite.swap(next.clone());
        let changed = PerEntry {
            tool: previous.lists.tool.definitions != next.lists.tool.definitions,
            prompt: previous.lists.prompt.definitions != next.lists.prompt.definitions,
            resource: previous.lists.resource.definitions != next.lists.resource.definitions,
            resource_template: previous.lists.resource_template.definitions
                != next.lists.resource_template.definitions,
        };
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
        if changed.any() {
            let mut unannounced = self.unannounced.lock().unwrap_or_else(|e| e.into_inner());
            // Lists changed by an earlier table not announced yet are
            // announced with this one.
            let mut pending = unannounced
                .take()
                .map(|(_, _, lists)| lists)
                .unwrap_or_default();
            pending.merge(changed);
            if announce_now {
                let _ = self.lists_changed.send(pending);
            } else {
                *unannounced = Some((next.route_table.id.clone(), Instant::now(), pending));
            }
        }
        changed
    }

    /// A proxy reported that it routes with table `id`: announce the change
    /// that table brought, if it is still unannounced.
    pub fn table_in_use(&self, id: &str) {
        let mut unannounced = self.unannounced.lock().unwrap_or_else(|e| e.into_inner());
        if unannounced
            .as_ref()
            .is_some_and(|(pending, _, _)| pending == id)
            && let Some((_, _, lists)) = unannounced.take()
        {
            let _ = self.lists_changed.send(lists);
        }
    }

    /// Announces a change no proxy reported within [`ANNOUNCE_FALLBACK`].
    pub fn announce_overdue(&self) {
        let mut unannounced = self.unannounced.lock().unwrap_or_else(|e| e.into_inner());
        if unannounced
            .as_ref()
            .is_some_and(|(_, since, _)| since.elapsed() >= ANNOUNCE_FALLBACK)
            && let Some((_, _, lists)) = unannounced.take()
        {
            let _ = self.lists_changed.send(lists);
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

#[cfg(test)]
mod tests;
