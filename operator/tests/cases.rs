//! Table-driven tests of the pure core: each directory of
//! `testdata/kubernetes/cases/` holds cluster resources (`input.yaml`) and
//! optionally what the broker's discovery found (`discovered.json`: server
//! → tool names; the broker's own table builder then makes its `/status`);
//! the test plans every extension and compares, byte for byte, with
//! `expected/`: the conditions, the broker's configuration, the route table
//! the broker built and the operator distributes (`pluginConfig`) and every
//! object applied. `UPDATE_GOLDEN=1` rewrites `expected/`.

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kube::ResourceExt;
use mcp_operator::desired;
use mcp_operator::plan::{self, FilterApi, Settings};
use mcp_operator::resolve;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/kubernetes/cases")
}

#[test]
fn every_case_plans_exactly_its_expected_outputs() {
    let mut cases: Vec<_> = std::fs::read_dir(cases_dir())
        .expect("cases directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.yaml").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 3,
        "expected the sample cases, found {cases:?}"
    );
    let mut failures = Vec::new();
    for case in &cases {
        for (file, actual) in outputs(case) {
            if let Err(failure) = support::golden(&case.join("expected").join(&file), &actual) {
                failures.push(failure);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every output of a case: `(file under expected/, contents)`.
fn outputs(case: &Path) -> Vec<(String, String)> {
    let snapshot = support::snapshot_from_yaml(
        &std::fs::read_to_string(case.join("input.yaml")).expect("input.yaml"),
    );
    let discovered: Option<std::collections::BTreeMap<String, mcp_broker::simulate::Found>> =
        std::fs::read_to_string(case.join("discovered.json"))
            .ok()
            .map(|text| serde_json::from_str(&text).expect("discovered.json"));
    let settings = Settings::default();
    let mut out = Vec::new();
    let mut status = String::new();
    let mut extensions = snapshot.extensions.clone();
    extensions.sort_by_key(resolve::age_key);
    for extension in &extensions {
        let plan = support::plan_with_broker(extension, &snapshot, discovered.as_ref(), &settings);
        let id = format!(
            "{}.{}",
            extension.namespace().unwrap_or_default(),
            extension.name_any()
        );
        let _ = writeln!(
            status,
            "MCPGatewayExtension {id}: {:?} — {}",
            plan.readiness.reason, plan.readiness.message
        );
        for ((ns, name), outcome) in &plan.registrations {
            let _ = writeln!(
                status,
                "  MCPServerRegistration {ns}/{name} ({} tools): {:?} — {}",
                outcome.discovered_tools, outcome.readiness.reason, outcome.readiness.message
            );
        }
        let Some(deployment) = &plan.deployment else {
            continue;
        };
        let config = deployment.broker_config.to_yaml();
        // The broker itself must accept what the operator writes for it.
        mcp_broker::config::GatewayConfig::parse(
            &config,
            Path::new("gateway.yaml"),
            Path::new("/"),
        )
        .unwrap_or_else(|e| panic!("{id}: the broker rejects its configuration: {e}"));
        out.push((format!("{id}/broker-config.yaml"), config));
        if let Some(table) = &deployment.route_table {
            let table = table.to_json();
            router_config::RouterConfig::from_json(table.as_bytes())
                .unwrap_or_else(|e| panic!("{id}: the router rejects its table: {e}"));
            out.push((
                format!("{id}/plugin-config.json"),
                pretty(&serde_json::from_str(&table).expect("json")),
            ));
        }
        let owner = extension_owner(extension);
        let objects = desired::objects(deployment, &settings, owner.as_ref()).expect("objects");
        out.push((format!("{id}/objects.yaml"), objects_yaml(&objects)));
        let wasm = Settings {
            filter_api: FilterApi::WasmPlugin,
            ..settings.clone()
        };
        let wasm_objects = desired::filter::filter_objects(deployment, &wasm).expect("wasm plugin");
        out.push((format!("{id}/wasm-plugin.yaml"), yaml(&wasm_objects)));
    }
    let mut unclaimed: Vec<_> = snapshot
        .registrations
        .iter()
        .filter(|r| resolve::claiming_extensions(r, &snapshot).is_empty())
        .collect();
    unclaimed.sort_by_key(|r| resolve::age_key(*r));
    for registration in unclaimed {
        let readiness = plan::unclaimed(&snapshot, registration);
        let _ = writeln!(
            status,
            "unclaimed MCPServerRegistration {}/{}: {:?} — {}",
            registration.namespace().unwrap_or_default(),
            registration.name_any(),
            readiness.reason,
            readiness.message
        );
    }
    out.push(("conditions.txt".to_owned(), status));
    out
}

fn extension_owner(
    extension: &mcp_operator::crd::MCPGatewayExtension,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    use kube::Resource;
    extension.controller_owner_ref(&())
}

fn objects_yaml(objects: &desired::Objects) -> String {
    let mut all = vec![
        serde_json::to_value(&objects.service_account).expect("sa"),
        serde_json::to_value(&objects.config_secret).expect("secret"),
        serde_json::to_value(&objects.credentials_secret).expect("secret"),
        serde_json::to_value(&objects.deployment).expect("deployment"),
        serde_json::to_value(&objects.service).expect("service"),
        serde_json::to_value(&objects.route).expect("route"),
    ];
    all.extend(
        objects
            .filters
            .iter()
            .chain(&objects.broker_policies)
            .map(|f| serde_json::to_value(f).expect("filter")),
    );
    yaml(&all)
}

fn yaml<T: serde::Serialize>(documents: &[T]) -> String {
    documents
        .iter()
        .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).expect("yaml")))
        .collect()
}

fn pretty(value: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).expect("json"))
}
