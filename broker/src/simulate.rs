//! What a broker would publish, without running one: its `/status` for a
//! configuration and the tools discovery found, through the broker's own
//! catalogue and route table builder. For the operator's tests, which plan
//! against exactly the table the broker would build (`test-util` feature).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::catalog;
use crate::config::{GatewayConfig, SecretSource};
use crate::upstream::{Capabilities, Definition, Health, PerEntry, UpstreamState};
use router_config::Entry;

/// What discovery found on one server: its tools (it is ready), or why it
/// is down. In JSON, a list of tool names or `{"down": "why"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum Found {
    Tools(Vec<String>),
    Down { down: String },
}

/// The `/status` document of a broker with `config` whose discovery found
/// `found` on the servers named there; the others are still connecting. Credentials are not read (they do not
/// shape the table); a fixed session key makes the table's key id
/// reproducible.
///
/// # Errors
/// The configuration does not resolve (a bad secret source, say).
pub fn status(
    config: &GatewayConfig,
    found: &BTreeMap<String, Found>,
) -> Result<serde_json::Value, crate::config::ConfigError> {
    let mut config = config.clone();
    config.session_key = Some(SecretSource {
        env: None,
        file: None,
        value: Some("simulated broker key".to_owned()),
    });
    for server in &mut config.servers {
        server.credential = None;
    }
    let runtime = crate::supervisor::resolve(config, None)?;
    let states: HashMap<String, UpstreamState> = found
        .iter()
        .map(|(server, found)| {
            let state = match found {
                Found::Tools(names) => {
                    let tools = names
                        .iter()
                        .filter_map(|name| {
                            let raw = serde_json::json!({ "name": name, "inputSchema": { "type": "object" } });
                            Definition::parse(Entry::Tool, &raw.to_string()).ok()
                        })
                        .collect();
                    let catalog = PerEntry {
                        tool: tools,
                        ..PerEntry::default()
                    };
                    UpstreamState {
                        health: Health::Ready,
                        catalog,
                        capabilities: Capabilities {
                            tools: true,
                            ..Capabilities::default()
                        },
                        protocol_version: Some("2025-11-25".to_owned()),
                        last_change: SystemTime::UNIX_EPOCH,
                        ..UpstreamState::connecting()
                    }
                }
                Found::Down { down } => UpstreamState {
                    health: Health::Down,
                    last_error: Some(down.clone()),
                    last_change: SystemTime::UNIX_EPOCH,
                    ..UpstreamState::connecting()
                },
            };
            (server.clone(), state)
        })
        .collect();
    let composite = catalog::compose(
        &runtime.route_table_settings(),
        &runtime.specs,
        &states,
        runtime.clusters(),
    );
    let ready = composite
        .servers
        .iter()
        .all(|s| s.health != Health::Connecting);
    Ok(crate::http::status::document(&composite, ready))
}
