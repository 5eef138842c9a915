//! The compiled route table: the plugin configuration turned into lookup
//! structures once per configuration, so each request does one hash lookup
//! (plus a scan of the few server prefixes on a miss).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

use router_config::{BrokerRoute, RouterConfig, ServerRoute};

/// Keys come from trusted configuration, so a fixed-key hasher is safe
/// (clients only look up) and needs no entropy from the host.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// A route table ready for lookups.
#[derive(Debug)]
pub struct RouteTable {
    config: RouterConfig,
    /// Exposed tool name → (server index, tool index in that server's list).
    exact: HashMap<String, (usize, usize), FixedState>,
    /// (prefix, server index) for servers with a prefix, longest first.
    prefixes: Vec<(String, usize)>,
    /// Slots of the session cache (a power of two).
    cache_slots: u32,
}

/// Where one tool call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolRoute<'t> {
    pub server: &'t ServerRoute,
    /// Index of `server` in the table, a stable key for per-server state.
    pub server_index: usize,
    /// The tool's name as the upstream knows it.
    pub upstream_name: &'t str,
    /// Whether the name was found by prefix rather than listed.
    pub by_prefix: bool,
}

impl RouteTable {
    /// Compiles a parsed configuration. Never fails: the route table builder
    /// already resolved conflicts; should a hand-written table list a name
    /// twice, the first listing wins, as the builder's rule says.
    pub fn new(config: RouterConfig) -> Self {
        let mut exact = HashMap::with_capacity_and_hasher(
            config.servers.iter().map(|s| s.tools.len()).sum(),
            FixedState::default(),
        );
        let mut prefixes = Vec::new();
        for (server_index, server) in config.servers.iter().enumerate() {
            for (tool_index, tool) in server.tools.iter().enumerate() {
                exact
                    .entry(mcp_protocol::names::exposed_name(&server.prefix, tool))
                    .or_insert((server_index, tool_index));
            }
            if !server.prefix.is_empty() {
                prefixes.push((server.prefix.clone(), server_index));
            }
        }
        // Longest prefix first, so "a_b_" wins over "a_" for "a_b_tool".
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        RouteTable {
            cache_slots: crate::session_cache::slot_count(config.sessions.cache_slots),
            config,
            exact,
            prefixes,
        }
    }

    /// Finds the route of an exposed tool name: an exact listing first,
    /// then the longest server prefix that leaves a non-empty upstream name.
    pub fn lookup<'a>(&'a self, exposed: &'a str) -> Option<ToolRoute<'a>> {
        if let Some(&(server_index, tool_index)) = self.exact.get(exposed) {
            let server = self.config.servers.get(server_index)?;
            return Some(ToolRoute {
                server,
                server_index,
                upstream_name: server.tools.get(tool_index)?,
                by_prefix: false,
            });
        }
        self.prefixes.iter().find_map(|(prefix, server_index)| {
            let rest = exposed.strip_prefix(prefix.as_str())?;
            if rest.is_empty() {
                return None;
            }
            Some(ToolRoute {
                server: self.config.servers.get(*server_index)?,
                server_index: *server_index,
                upstream_name: rest,
                by_prefix: true,
            })
        })
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    pub fn mcp_path(&self) -> &str {
        &self.config.mcp_path
    }

    pub fn broker(&self) -> &BrokerRoute {
        &self.config.broker
    }

    pub fn max_body_bytes(&self) -> usize {
        self.config.limits.max_request_body_bytes as usize
    }

    pub fn servers(&self) -> &[ServerRoute] {
        &self.config.servers
    }

    /// Slots of the session cache in shared data (a power of two).
    pub fn cache_slots(&self) -> u32 {
        self.cache_slots
    }

    /// Number of tools routed by exact name.
    pub fn tool_count(&self) -> usize {
        self.exact.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(json: &str) -> RouteTable {
        RouteTable::new(RouterConfig::from_json(json.as_bytes()).expect("valid test table"))
    }

    const TABLE: &str = r#"{
        "broker": {"cluster": "broker", "authority": "broker"},
        "servers": [
            {"name": "plain", "authority": "p:1", "path": "/mcp", "tools": ["search", "a_b_x"]},
            {"name": "a", "prefix": "a_", "authority": "a:1", "path": "/mcp", "tools": ["one"]},
            {"name": "ab", "prefix": "a_b_", "authority": "ab:1", "path": "/mcp", "tools": ["two"]}
        ]
    }"#;

    #[test]
    fn exact_names_win_over_prefixes() {
        let t = table(TABLE);
        let r = t.lookup("a_b_x").expect("listed");
        assert_eq!(
            (r.server.name.as_str(), r.upstream_name, r.by_prefix),
            ("plain", "a_b_x", false)
        );
        let r = t.lookup("a_one").expect("listed");
        assert_eq!(
            (r.server.name.as_str(), r.upstream_name, r.by_prefix),
            ("a", "one", false)
        );
    }

    #[test]
    fn unlisted_names_route_by_the_longest_prefix() {
        let t = table(TABLE);
        let r = t.lookup("a_b_new").expect("by prefix");
        assert_eq!(
            (r.server.name.as_str(), r.upstream_name, r.by_prefix),
            ("ab", "new", true)
        );
        let r = t.lookup("a_new").expect("by prefix");
        assert_eq!((r.server.name.as_str(), r.upstream_name), ("a", "new"));
        // The prefix alone names no tool.
        assert!(t.lookup("a_").is_none());
        assert!(t.lookup("missing").is_none());
        assert!(t.lookup("").is_none());
    }
}
