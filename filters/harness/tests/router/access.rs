//! The router's guards on every request of the MCP path: browser origins
//! and hosts it does not serve are refused (DNS rebinding), and client
//! credentials reach only the upstreams that opted into them.

use crate::common::*;
use proxy_wasm_harness::{Gateway, Request};

fn guarded_gateway() -> Gateway {
    let mut table = route_table_json();
    table["access"] = serde_json::json!({
        "allowedOrigins": ["https://app.example"],
        "allowedHosts": ["mcp.example", "gateway.local:8080"]
    });
    // files may receive the client's cookies.
    table["servers"][1]["forwardHeaders"] = serde_json::json!(["cookie"]);
    let gateway = gateway_with(table.to_string().as_bytes(), 1);
    for server in ["weather", "files", "search"] {
        seed_session(&gateway, server, SESSION, &upstream_session("up-1"));
    }
    gateway
}

#[test]
fn foreign_origins_and_hosts_are_refused_on_every_method() {
    let gateway = guarded_gateway();
    let requests = || {
        [
            tools_call(1, "weather_get_alerts"),
            Request::get("/mcp")
                .header("mcp-session-id", SESSION)
                .header("accept", "text/event-stream"),
            Request::delete("/mcp").header("mcp-session-id", SESSION),
        ]
    };
    for request in requests() {
        let stream = gateway
            .send(
                &request
                    .header(":authority", "mcp.example")
                    .header("origin", "https://evil.example"),
            )
            .expect("runs");
        let body = stream.expect_jsonrpc_error(403, -32003);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("evil.example"))
        );
    }
    for host in ["evil.example", "gateway.local:9999", "gateway.local"] {
        for request in requests() {
            let stream = gateway
                .send(&request.header(":authority", host))
                .expect("runs");
            stream.expect_jsonrpc_error(403, -32003);
        }
    }
    // Served: listed and loopback origins, listed and loopback hosts.
    for (host, origin) in [
        ("mcp.example", Some("https://app.example")),
        ("mcp.example:443", Some("http://localhost:5173")),
        ("gateway.local:8080", None),
        ("127.0.0.1:8080", None),
    ] {
        let mut request = tools_call(2, "weather_get_alerts").header(":authority", host);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        gateway
            .send(&request)
            .expect("runs")
            .expect_routed_to("weather");
    }
    // The next request on the VM is still served.
    gateway
        .send(
            &mcp_post(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)
                .header(":authority", "mcp.example"),
        )
        .expect("runs")
        .expect_to_broker(Some("ping"));
}

#[test]
fn client_credentials_reach_only_upstreams_that_opted_in() {
    let gateway = guarded_gateway();
    let with_credentials = |request: Request| {
        request
            .header(":authority", "mcp.example")
            .header("cookie", "sid=secret")
            .header("proxy-authorization", "Basic cHJveHk=")
            .header("x-api-key", "key-123")
            .header("api-key", "key-456")
            .header("x-auth-token", "tok")
    };
    let weather = gateway
        .send(&with_credentials(tools_call(1, "weather_get_alerts")))
        .expect("runs");
    weather.expect_routed_to("weather");
    for name in [
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-auth-token",
    ] {
        weather.expect_no_upstream_header(name);
    }
    let files = gateway
        .send(&with_credentials(tools_call(2, "read_file")))
        .expect("runs");
    files
        .expect_routed_to("files")
        .expect_upstream_header("cookie", "sid=secret")
        .expect_no_upstream_header("x-api-key");
    // The broker keeps what it needs to know who asks.
    gateway
        .send(&with_credentials(mcp_post(
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
        )))
        .expect("runs")
        .expect_to_broker(Some("tools/list"))
        .expect_upstream_header("x-api-key", "key-123");
}
