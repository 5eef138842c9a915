//! Helpers shared by the operator's integration tests.
#![allow(dead_code)]

pub mod broker_pod;
pub mod cluster;

use std::collections::BTreeMap;
use std::path::Path;

use kube::ResourceExt;
use kube::api::DynamicObject;
use mcp_operator::gateway_api;
use mcp_operator::resolve::Snapshot;

/// Plans `extension` as the controller does once its broker has run:
/// planned once to get the broker's configuration, then the broker's
/// `/status` simulated with its own table builder for the tools discovery
/// found (`None`: the broker never answered), then planned again.
pub fn plan_with_broker(
    extension: &mcp_operator::crd::MCPGatewayExtension,
    snapshot: &Snapshot,
    discovered: Option<&BTreeMap<String, mcp_broker::simulate::Found>>,
    settings: &mcp_operator::plan::Settings,
) -> mcp_operator::plan::ExtensionPlan {
    use mcp_operator::discovery::Discovery;
    let unknown = Discovery::Unknown {
        error: "connection refused".to_owned(),
    };
    let first = mcp_operator::plan::plan_extension(extension, snapshot, &unknown, settings);
    let (Some(discovered), Some(deployment)) = (discovered, &first.deployment) else {
        return first;
    };
    let status = mcp_broker::simulate::status(&deployment.broker_config, discovered)
        .expect("the broker resolves the configuration the operator writes");
    let status = serde_json::from_value(status).expect("a broker status");
    mcp_operator::plan::plan_extension(
        extension,
        snapshot,
        &Discovery::Reported(Box::new(status)),
        settings,
    )
}

/// Compares `actual` with the golden file, or rewrites it when
/// `UPDATE_GOLDEN=1`.
pub fn golden(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{} differs (run with UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    ))
}

/// A snapshot from a multi-document YAML of cluster resources.
pub fn snapshot_from_yaml(text: &str) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).expect("yaml document");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "MCPServerRegistration" => snapshot
                .registrations
                .push(serde_json::from_value(value).expect("registration")),
            "MCPGatewayExtension" => snapshot
                .extensions
                .push(serde_json::from_value(value).expect("extension")),
            "MCPVirtualServer" => snapshot
                .virtual_servers
                .push(serde_json::from_value(value).expect("virtual server")),
            "HTTPRoute" => {
                let object: DynamicObject = serde_json::from_value(value).expect("route");
                snapshot.routes.insert(
                    key(&object),
                    gateway_api::spec_of(&object).expect("route spec"),
                );
            }
            "Gateway" => {
                let object: DynamicObject = serde_json::from_value(value).expect("gateway");
                snapshot.gateways.insert(
                    key(&object),
                    gateway_api::spec_of(&object).expect("gateway spec"),
                );
            }
            "ReferenceGrant" => {
                let object: DynamicObject = serde_json::from_value(value).expect("grant");
                snapshot.grants.push((
                    object.namespace().unwrap_or_default(),
                    gateway_api::spec_of(&object).expect("grant spec"),
                ));
            }
            "Service" => {
                let object: DynamicObject = serde_json::from_value(value.clone()).expect("service");
                let ports = value["spec"]["ports"]
                    .as_array()
                    .map(|ports| {
                        ports
                            .iter()
                            .filter_map(|p| p["port"].as_u64())
                            .filter_map(|p| u16::try_from(p).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                snapshot.services.insert(key(&object), ports);
            }
            "Secret" => {
                let object: DynamicObject = serde_json::from_value(value.clone()).expect("secret");
                let data: BTreeMap<String, String> =
                    serde_json::from_value(value["stringData"].clone()).unwrap_or_default();
                snapshot.secrets.insert(key(&object), data);
            }
            // Not read by the operator's pure core.
            "Deployment" => {}
            other => panic!("unexpected kind {other:?} in a case"),
        }
    }
    snapshot
}

fn key(object: &DynamicObject) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}
