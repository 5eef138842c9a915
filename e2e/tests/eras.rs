//! Both MCP eras on one gateway, and the bridge between them (MCP
//! 2026-07-28 beside 2025-11-25): a stateless-era client (the Python SDK
//! 2.x, `mode=auto`) and a handshake-era client (the same SDK,
//! `mode=legacy`) against a handshake-era upstream (the Rust test server)
//! and a stateless-era one (the Python SDK's server, which the gateway is
//! told to speak 2026-07-28 to only): the four pairs, each compared with
//! calling the upstream directly; an elicitation round trip across the
//! bridge each way (server-everything asking a modern client, the modern
//! server asking a handshake-era client); and a `subscriptions/listen`
//! stream told of a tool list change by each kind of upstream.

use std::process::Command;

use e2e::stack::UpstreamKind;
use e2e::{Stack, paths};
use serde_json::{Value, json};

async fn eras_client(url: String, mode: &str, prefixes: Value, listen: Option<String>) -> Value {
    let python = paths::python();
    let script = paths::repo_root().join("e2e/python/eras_client.py");
    let mode = mode.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(python);
        command
            .arg(script)
            .arg(url)
            .arg(mode)
            .arg(prefixes.to_string());
        if let Some(admin) = listen {
            command.arg("listen").arg(admin);
        }
        command.output().expect("python starts")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "eras client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON report")
}

async fn stack() -> Stack {
    Stack::builder()
        // rmcp serves both eras: told to speak the handshake era only, it
        // stands for the handshake-era servers most of production is.
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .era("handshake")
        .upstream("modern", UpstreamKind::Modern, "modern_")
        .era("modern")
        .upstream("everything", UpstreamKind::Everything, "everything_")
        .start()
        .await
        .expect("stack starts")
}

fn prefixes() -> Value {
    json!({ "modern": "modern_", "echo": "echo_", "everything": "everything_" })
}

#[tokio::test]
async fn clients_of_both_eras_call_upstreams_of_both_eras_as_directly() {
    let stack = stack().await;
    let url = |name: &str| {
        stack
            .upstreams
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.url())
            .expect("an upstream")
    };
    let modern_direct = eras_client(url("modern"), "auto", json!({ "modern": "" }), None).await;
    let echo_direct = eras_client(url("echo"), "legacy", json!({ "echo": "" }), None).await;
    let everything_direct = eras_client(
        url("everything"),
        "legacy",
        json!({ "everything": "" }),
        None,
    )
    .await;
    assert_eq!(modern_direct["era"], "modern", "{modern_direct}");

    for (mode, era) in [("auto", "modern"), ("legacy", "handshake")] {
        let through = eras_client(stack.gateway_url(), mode, prefixes(), None).await;
        assert_eq!(through["era"], era, "{mode}: {through}");
        for field in ["add", "greet", "haiku", "note"] {
            assert_eq!(
                through[field], modern_direct[field],
                "{mode} {field}: {through}"
            );
        }
        for field in ["echo", "echoResource"] {
            assert_eq!(
                through[field], echo_direct[field],
                "{mode} {field}: {through}"
            );
        }
        assert_eq!(
            through["elicitation"], everything_direct["elicitation"],
            "{mode}: {through}"
        );
        assert_eq!(through["add"], "5");
        assert_eq!(
            through["greet"], "Hello, Ada!",
            "elicited across the bridge"
        );
        assert!(
            through["elicitation"]
                .as_str()
                .is_some_and(|t| t.contains("Ada")),
            "{through}"
        );
    }
}

#[tokio::test]
async fn a_listen_stream_hears_list_changes_of_both_kinds_of_upstream() {
    let stack = stack().await;
    let admin = stack
        .upstreams
        .iter()
        .find(|u| u.name == "echo")
        .map(|u| u.admin_url("/admin/enable-late"))
        .expect("the echo upstream");
    let report = eras_client(
        stack.gateway_url(),
        "auto",
        json!({ "modern": "modern_", "echo": "echo_" }),
        Some(admin),
    )
    .await;
    assert_eq!(
        report["listen"],
        json!({ "honored": true, "modern": true, "handshake": true }),
        "{report}"
    );
}
