//! Node scripts of `testdata/upstreams` that drive an official SDK client
//! (TypeScript) and print one JSON report.

use std::process::Command;

use serde_json::Value;

use crate::paths;

/// Runs `testdata/upstreams/{script}` with `args` and returns the JSON
/// report it prints on stdout.
///
/// # Panics
/// When the script is missing, exits non-zero (its output is shown) or
/// prints something other than one JSON value.
pub async fn report(script: &str, args: Vec<String>) -> Value {
    let path = paths::node_peers()
        .parent()
        .map(|p| p.join(script))
        .unwrap_or_default();
    assert!(path.exists(), "{} missing", path.display());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(path)
            .args(args)
            .output()
            .expect("node starts")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON report")
}
