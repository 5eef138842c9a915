//! The benchmark upstream speaks enough MCP for every gateway in the
//! comparison: sessions, `tools/list`, an echo `tools/call` that names the
//! server and tool, JSON or SSE replies, `list_changed` on a GET stream.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    urls: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(servers: usize, extra: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-bench-upstream"));
    command.args(["--tools", "3"]).args(extra);
    for _ in 0..servers {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = command.stdout(Stdio::piped()).spawn().expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut urls = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line == "ready" {
            break;
        }
        urls.push(line.rsplit(' ').next().expect("url").to_owned());
    }
    Server { child, urls }
}

async fn post(url: &str, session: Option<&str>, body: Value) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, session, response.text().await.expect("body"))
}

async fn initialize(url: &str) -> String {
    let (status, session, _) = post(
        url,
        None,
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}),
    )
    .await;
    assert_eq!(status, 200);
    session.expect("a session id")
}

#[tokio::test]
async fn each_listener_is_its_own_server_with_sessions_tools_and_echo() {
    let server = start(2, &[]);
    let (u00, u01) = (&server.urls[0], &server.urls[1]);
    let session = initialize(u00).await;

    let (status, _, body) = post(
        u00,
        Some(&session),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["echo", "tool_0000", "tool_0001", "tool_0002"]);

    let text = "h\u{e9}llo \"quoted\" \\ ☃";
    let (status, _, body) = post(
        u00,
        Some(&session),
        json!({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"tool_0001","arguments":{"text":text}}}),
    )
    .await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(reply["id"], "x");
    assert_eq!(reply["result"]["content"][0]["text"], text);
    assert_eq!(
        reply["result"]["content"][1]["text"],
        "served-by u00 tool_0001"
    );

    // Sessions belong to one server.
    let (status, _, _) = post(
        u01,
        Some(&session),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = post(
        u00,
        None,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = post(
        u00,
        Some(&session),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope","arguments":{}}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Unknown tool: nope"), "{body}");
}

#[tokio::test]
async fn sse_replies_carry_the_same_message_as_one_event() {
    let server = start(1, &["--sse"]);
    let url = &server.urls[0];
    let session = initialize(url).await;
    let (status, _, body) = post(
        url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"sse"}}}),
    )
    .await;
    assert_eq!(status, 200);
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let reply: Value = serde_json::from_str(data).expect("json");
    assert_eq!(reply["result"]["content"][0]["text"], "sse");
}

#[tokio::test]
async fn an_added_tool_is_announced_on_the_session_stream() {
    let server = start(1, &[]);
    let url = &server.urls[0];
    let session = initialize(url).await;
    let mut stream = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("stream opens");
    assert_eq!(stream.status(), 200);
    let admin = url.replace("/mcp", "/admin/tools?add=late");
    let added = reqwest::Client::new()
        .post(admin)
        .send()
        .await
        .expect("added");
    assert_eq!(added.status(), 204);
    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("an event in time")
        .expect("readable")
        .expect("not closed");
    assert!(
        String::from_utf8_lossy(&chunk).contains("notifications/tools/list_changed"),
        "{chunk:?}"
    );
    let (_, _, body) = post(
        url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert!(body.contains("\"late\""), "{body}");
}
