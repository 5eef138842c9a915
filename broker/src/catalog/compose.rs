//! [`compose`]: the configured upstreams and what discovery found on them,
//! turned into a [`Composite`] through [`router_config::build_route_table`]
//! (the one place a route table is built).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use router_config::{
    Access, BuildIssue, Entry, ExposedTool, RouteTableSettings, RouterConfig, ServerEra,
    ServerRoute,
};
use serde::Serialize;
use serde_json::value::RawValue;

use super::Clusters;
use crate::upstream::discovery::list_method;
use crate::upstream::{
    CacheHint, Capabilities, Definition, Health, PerEntry, Rejected, UpstreamSpec, UpstreamState,
};

/// One aggregated list (`tools/list`, `prompts/list`, `resources/list`,
/// `resources/templates/list`).
#[derive(Debug, Clone)]
pub struct List {
    /// The exposed definitions, in route table order: each upstream
    /// definition byte for byte, with only its exposed name spliced in.
    pub definitions: Vec<Arc<str>>,
    /// Whose each definition is, in the same order: what the policy is
    /// asked about when a list depends on who asks.
    pub owners: Vec<ExposedTool>,
    /// The list result (`{"tools":[...]}`), serialised once: serialising
    /// the whole list per request was most of the broker's work.
    pub result: Arc<RawValue>,
}

/// Everything served from the current catalog.
#[derive(Debug, Clone)]
pub struct Composite {
    pub route_table: RouterConfig,
    pub issues: Vec<BuildIssue>,
    /// The aggregated list of each kind.
    pub lists: PerEntry<List>,
    /// What the upstreams in the table offer together: what `initialize`
    /// advertises.
    pub capabilities: Capabilities,
    /// The upstreams' caching hints of each list, combined.
    pub cache: PerEntry<CacheHint>,
    /// Each list as a stateless-era result (with `resultType` and caching
    /// hints), made on first use.
    pub modern_lists: PerEntry<OnceLock<Arc<RawValue>>>,
    pub servers: Vec<ServerStatus>,
}

impl Composite {
    /// The aggregated list of `entry`'s kind.
    pub fn list(&self, entry: Entry) -> &List {
        self.lists.get(entry)
    }
}

/// One upstream as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub name: String,
    pub url: String,
    pub prefix: String,
    pub health: Health,
    /// The MCP eras it was found to speak (`handshake`, `modern`, `both`).
    pub era: ServerEra,
    /// Upstream names of the tools it offers (empty unless ready).
    pub tools: Vec<String>,
    /// Upstream names of its prompts (empty unless ready).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// URIs of its resources (empty unless ready).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// URI templates of its resource templates (empty unless ready).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_templates: Vec<String>,
    /// Definitions discovery left out (malformed), with their reasons.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_info: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the state last changed, Unix seconds.
    pub since: u64,
}

/// Builds the composite: a route table of the configured upstreams (ready
/// ones with their catalogues), the exposed lists, and statuses.
pub fn compose(
    settings: &RouteTableSettings,
    specs: &[Arc<UpstreamSpec>],
    states: &HashMap<String, UpstreamState>,
    clusters: Clusters,
) -> Composite {
    let connecting = UpstreamState::connecting();
    let state_of = |name: &str| states.get(name).unwrap_or(&connecting);
    let ready = |name: &str| Some(state_of(name)).filter(|s| s.health == Health::Ready);
    let routes = specs
        .iter()
        .map(|spec| {
            let mut route =
                ServerRoute::new(&spec.name, &spec.prefix, &spec.authority(), &spec.path());
            route.cluster = clusters.cluster_of(spec);
            route.forward_authorization = spec.forward_authorization;
            route.forward_headers = spec.forward_headers.clone();
            // Where no Envoy of ours injects credentials, the router sets
            // them from the session API's answer.
            route.credential_via_router =
                clusters == Clusters::Unnamed && spec.authorization.is_some();
            route.era = match (ready(&spec.name), spec.era) {
                (Some(state), _) => state.era,
                (None, crate::config::EraChoice::Modern) => ServerEra::Modern,
                (None, _) => ServerEra::Handshake,
            };
            if let Some(state) = ready(&spec.name) {
                route.tools = state.keys(Entry::Tool).map(str::to_owned).collect();
                route.prompts = state.keys(Entry::Prompt).map(str::to_owned).collect();
                route.resources = state.keys(Entry::Resource).map(str::to_owned).collect();
                route.resource_templates = state
                    .keys(Entry::ResourceTemplate)
                    .map(str::to_owned)
                    .collect();
                if let Some(approval) = &settings.policy.approval {
                    route.approval = state
                        .catalog
                        .get(Entry::Tool)
                        .iter()
                        .filter(|d| needs_approval(approval, &spec.prefix, d))
                        .map(|d| d.key.clone())
                        .collect();
                }
            }
            route
        })
        .collect();
    let build = router_config::build_route_table(settings.clone(), routes);

    let list = |entry: Entry| -> List {
        // (server, key) → definition: one pass over each server's entries.
        let definitions: HashMap<(&str, &str), &Definition> = specs
            .iter()
            .flat_map(|spec| {
                state_of(&spec.name)
                    .catalog
                    .get(entry)
                    .iter()
                    .map(|d| ((spec.name.as_str(), d.key.as_str()), d))
            })
            .collect();
        let (exposed, owners): (Vec<Arc<str>>, Vec<ExposedTool>) = build
            .config
            .exposed(entry)
            .filter_map(|exposed| {
                let definition =
                    definitions.get(&(exposed.server.as_str(), exposed.upstream_name.as_str()))?;
                Some((definition.exposed(&exposed.name), exposed))
            })
            .unzip();
        List {
            result: list_result(list_method(entry).1, &exposed),
            definitions: exposed,
            owners,
        }
    };
    let lists = PerEntry {
        tool: list(Entry::Tool),
        prompt: list(Entry::Prompt),
        resource: list(Entry::Resource),
        resource_template: list(Entry::ResourceTemplate),
    };
    let capabilities = build
        .config
        .servers
        .iter()
        .filter_map(|route| ready(&route.name))
        .fold(Capabilities::default(), |all, state| {
            all.union(state.capabilities)
        });
    let cache = build
        .config
        .servers
        .iter()
        .filter_map(|route| ready(&route.name))
        .fold(PerEntry::<CacheHint>::default(), |mut all, state| {
            for entry in Entry::ALL {
                *all.get_mut(entry) = all.get(entry).combine(*state.cache.get(entry));
            }
            all
        });

    let servers = specs
        .iter()
        .map(|spec| {
            let state = state_of(&spec.name);
            let keys = |entry: Entry| -> Vec<String> {
                ready(&spec.name)
                    .map(|s| s.keys(entry).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            ServerStatus {
                name: spec.name.clone(),
                url: spec.url.to_string(),
                prefix: spec.prefix.clone(),
                health: state.health,
                era: state.era,
                tools: keys(Entry::Tool),
                prompts: keys(Entry::Prompt),
                resources: keys(Entry::Resource),
                resource_templates: keys(Entry::ResourceTemplate),
                rejected: state.rejected.clone(),
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
        lists,
        capabilities,
        cache,
        modern_lists: PerEntry::default(),
        servers,
    }
}

impl Composite {
    /// The list of `entry`'s kind as a stateless-era result: the list with
    /// `resultType: "complete"` and caching hints (MCP 2026-07-28,
    /// "Caching"): the shortest `ttlMs` of the upstreams' and
    /// `default_ttl_ms` (how stale the gateway's own view may be), and
    /// `cacheScope` `private` if any upstream's list is, else `public` (the
    /// list does not depend on who asks).
    pub fn modern_list(&self, entry: Entry, default_ttl_ms: u64) -> Arc<RawValue> {
        self.modern_lists
            .get(entry)
            .get_or_init(|| {
                let hint = self.cache.get(entry);
                let scope = if hint.private { "private" } else { "public" };
                modern_result(&self.list(entry).result, hint, default_ttl_ms, scope)
            })
            .clone()
    }

    /// The list of `entry`'s kind as `access` sees it (the policy's
    /// identity rules and virtual server, the ones the router checks calls
    /// with): the shared list when the policy restricts nothing, else only
    /// the definitions `access` allows, each byte for byte.
    pub fn list_for(&self, entry: Entry, access: &Access<'_>, restricted: bool) -> Arc<RawValue> {
        let list = self.list(entry);
        if !restricted {
            return list.result.clone();
        }
        let allowed: Vec<Arc<str>> = list
            .definitions
            .iter()
            .zip(&list.owners)
            .filter(|(_, owner)| {
                access.allows(&owner.server, entry, &owner.upstream_name, &owner.name)
            })
            .map(|(definition, _)| definition.clone())
            .collect();
        list_result(list_method(entry).1, &allowed)
    }

    /// [`Composite::list_for`] as a stateless-era result; `private`, since
    /// a restricted list depends on who asks.
    pub fn modern_list_for(
        &self,
        entry: Entry,
        access: &Access<'_>,
        restricted: bool,
        default_ttl_ms: u64,
    ) -> Arc<RawValue> {
        if !restricted {
            return self.modern_list(entry, default_ttl_ms);
        }
        let list = self.list_for(entry, access, true);
        modern_result(&list, self.cache.get(entry), default_ttl_ms, "private")
    }
}

/// A list result with the stateless era's `resultType` and caching hints:
/// the shortest `ttlMs` of the upstreams' and `default_ttl_ms`.
fn modern_result(
    list: &RawValue,
    hint: &CacheHint,
    default_ttl_ms: u64,
    scope: &str,
) -> Arc<RawValue> {
    let ttl = hint
        .ttl_ms
        .map_or(default_ttl_ms, |t| t.min(default_ttl_ms));
    let list = list.get();
    // The list result is a JSON object: its hints go before the closing
    // brace, nothing in it re-encoded.
    let body = list.strip_suffix('}').unwrap_or(list);
    let text = format!(r#"{body},"resultType":"complete","ttlMs":{ttl},"cacheScope":"{scope}"}}"#);
    Arc::from(RawValue::from_string(text).unwrap_or_default())
}

/// Whether calls of the tool `definition` (of a server with `prefix`) wait
/// for the caller's approval: named in `approval.tools` (by its exposed
/// name), or, with `approval.destructive`, annotated `destructiveHint:
/// true` (MCP 2025-06-18 "Tools › Tool Annotations").
fn needs_approval(
    approval: &router_config::policy::Approval,
    prefix: &str,
    definition: &Definition,
) -> bool {
    let exposed = mcp_protocol::names::exposed_name(prefix, &definition.key);
    if approval.tools.contains(&exposed) {
        return true;
    }
    if !approval.destructive {
        return false;
    }
    let destructive = |raw: &str| -> Option<bool> {
        let [annotations] = mcp_protocol::members::probe(raw, ["annotations"]).ok()?;
        let annotations = annotations?;
        let [hint] =
            mcp_protocol::members::probe(annotations.raw.get(), ["destructiveHint"]).ok()?;
        Some(hint?.raw.get() == "true")
    };
    destructive(&definition.raw).unwrap_or(false)
}

/// `{"<member>":[<definitions>]}`, concatenated from the raw definitions
/// (each already valid JSON), so nothing in them is re-encoded.
fn list_result(member: &str, definitions: &[Arc<str>]) -> Arc<RawValue> {
    let length = definitions.iter().map(|d| d.len() + 1).sum::<usize>() + member.len() + 8;
    let mut text = String::with_capacity(length);
    text.push_str("{\"");
    text.push_str(member);
    text.push_str("\":[");
    for (index, definition) in definitions.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(definition);
    }
    text.push_str("]}");
    // Definitions were parsed as JSON objects by discovery; should one not
    // be, the list is answered empty rather than malformed.
    let raw = RawValue::from_string(text).unwrap_or_else(|_| {
        RawValue::from_string(format!("{{\"{member}\":[]}}")).unwrap_or_default()
    });
    Arc::from(raw)
}

#[cfg(test)]
mod approval_tests {
    use super::*;
    use router_config::policy::Approval;

    fn tool(raw: &str) -> Definition {
        Definition::parse(Entry::Tool, raw).expect("a tool")
    }

    #[test]
    fn named_tools_and_opted_in_destructive_ones_need_approval() {
        let named = Approval {
            tools: vec!["fs_delete".to_owned()],
            destructive: false,
        };
        let destructive = Approval {
            tools: Vec::new(),
            destructive: true,
        };
        let delete = tool(r#"{"name":"delete","inputSchema":{"type":"object"}}"#);
        let wipe = tool(
            r#"{"name":"wipe","inputSchema":{"type":"object"},"annotations":{"destructiveHint":true}}"#,
        );
        let read = tool(
            r#"{"name":"read","inputSchema":{"type":"object"},"annotations":{"destructiveHint":false}}"#,
        );
        assert!(needs_approval(&named, "fs_", &delete));
        assert!(!needs_approval(&named, "", &delete), "by the exposed name");
        assert!(!needs_approval(&named, "fs_", &wipe), "hints are opt-in");
        assert!(needs_approval(&destructive, "fs_", &wipe));
        assert!(!needs_approval(&destructive, "fs_", &read));
        assert!(
            !needs_approval(&destructive, "fs_", &delete),
            "no annotations"
        );
    }
}
