//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! every server scenario) against our conformance upstream directly, then
//! through the gateway with that upstream unprefixed: every scenario that
//! passes directly must pass through the gateway.

use std::collections::BTreeMap;
use std::process::Command;

use e2e::stack::UpstreamKind;
use e2e::{Stack, paths};

/// Runs the suite against `url`; each scenario's outcome (`true`: passed),
/// and the suite's output for the failure message.
async fn run_suite(url: String) -> (BTreeMap<String, bool>, String) {
    let cli = paths::node_peers().join("@modelcontextprotocol/conformance/dist/index.js");
    assert!(cli.exists(), "{} missing: run `just setup`", cli.display());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(cli)
            .args(["server", "--suite", "all", "--url", &url])
            .output()
            .expect("the conformance CLI starts")
    })
    .await
    .expect("join");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (scenarios(&text), text)
}

/// Scenario outcomes from the CLI's summary lines (`✓ name` / `✗ name`).
fn scenarios(text: &str) -> BTreeMap<String, bool> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (passed, rest) = if let Some(rest) = line.strip_prefix('✓') {
                (true, rest)
            } else if let Some(rest) = line.strip_prefix('✗') {
                (false, rest)
            } else {
                return None;
            };
            let name = rest.split_whitespace().next()?.trim_end_matches(':');
            Some((name.to_owned(), passed))
        })
        .collect()
}

#[tokio::test]
async fn every_scenario_that_passes_directly_passes_through_the_gateway() {
    let stack = Stack::builder()
        .upstream("conformance", UpstreamKind::Conformance, "")
        .start()
        .await
        .expect("stack starts");
    let (direct, direct_output) = run_suite(stack.upstreams[0].url()).await;
    let (through, through_output) = run_suite(stack.gateway_url()).await;
    let passed = |results: &BTreeMap<String, bool>| results.values().filter(|p| **p).count();
    eprintln!(
        "conformance: {}/{} directly, {}/{} through the gateway",
        passed(&direct),
        direct.len(),
        passed(&through),
        through.len()
    );
    assert!(
        direct.len() >= 20,
        "too few scenarios read from the suite's output:\n{direct_output}"
    );
    let lost: Vec<&String> = direct
        .iter()
        .filter(|(name, ok)| **ok && through.get(*name) != Some(&true))
        .map(|(name, _)| name)
        .collect();
    assert!(
        lost.is_empty(),
        "pass directly but not through the gateway: {lost:?}\n{through_output}"
    );
}
