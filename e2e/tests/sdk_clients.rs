//! Official MCP clients other than Rust against the gateway: the Python SDK
//! (2.x, which probes the 2026-07-28 era first and keeps it: the gateway
//! speaks it) and the
//! MCP Inspector's CLI (TypeScript SDK), the command the README gives users.

use std::process::Command;

use e2e::{Stack, paths};
use serde_json::Value;

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("the client starts");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_python_sdk_negotiates_the_stateless_era_and_calls_both_upstreams() {
    let stack = Stack::standard().await.expect("stack starts");
    let python = paths::python();
    assert!(
        python.exists(),
        "{} missing: run `just setup`",
        python.display()
    );
    let script = paths::repo_root().join("e2e/python/sdk_client.py");
    let url = stack.gateway_url();
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(Command::new(python).arg(script).arg(url)))
            .await
            .expect("join");
    assert!(ok, "python client failed:\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["era"], "modern", "{report}");
    assert_eq!(report["serverName"], "mcp-wasm-gateway");
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"echo_whoami") && tools.contains(&"everything_get-sum"),
        "{tools:?}"
    );
    assert_eq!(report["echo"], "from python");
    assert!(
        report["sum"].as_str().unwrap_or_default().contains("42"),
        "{report}"
    );
    assert!(
        report["unknown"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no_such_tool"),
        "{report}"
    );
}

#[tokio::test]
async fn the_inspector_cli_lists_and_calls_tools_as_the_readme_says() {
    let stack = Stack::standard().await.expect("stack starts");
    let cli = paths::node_peers().join("@modelcontextprotocol/inspector/cli/build/cli.js");
    assert!(cli.exists(), "{} missing: run `just setup`", cli.display());
    let url = stack.gateway_url();

    let list_cli = cli.clone();
    let list_url = url.clone();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(Command::new("node").arg(list_cli).args([
            "--cli",
            &list_url,
            "--transport",
            "http",
            "--method",
            "tools/list",
        ]))
    })
    .await
    .expect("join");
    assert!(ok, "inspector tools/list failed:\n{stdout}\n{stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("inspector prints JSON");
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"everything_echo") && names.contains(&"echo_echo"),
        "{names:?}"
    );

    for (tool, arg, expected) in [
        ("echo_echo", "text=hello inspector", "hello inspector"),
        (
            "everything_echo",
            "message=hello everything",
            "Echo: hello everything",
        ),
    ] {
        let call_cli = cli.clone();
        let call_url = url.clone();
        let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
            run(Command::new("node").arg(call_cli).args([
                "--cli",
                &call_url,
                "--transport",
                "http",
                "--method",
                "tools/call",
                "--tool-name",
                tool,
                "--tool-arg",
                arg,
            ]))
        })
        .await
        .expect("join");
        assert!(
            ok,
            "inspector tools/call {tool} failed:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains(expected), "{tool}: {stdout}");
    }
}
