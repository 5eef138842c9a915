//! Health, readiness, status and metrics.

use super::*;

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .body(Body::empty())
        .expect("a valid request")
}

#[tokio::test]
async fn healthz_answers_while_the_process_serves() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "ok\n");
}

#[tokio::test]
async fn readyz_is_unavailable_until_the_broker_is_ready() {
    let state = broker(NO_SERVERS);
    assert_eq!(
        send(&state, get("/readyz")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.set_ready(true);
    assert_eq!(send(&state, get("/readyz")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn status_shows_servers_tools_issues_and_sessions() {
    let state = broker(
        r#"
servers:
- { name: weather, url: "http://127.0.0.1:9/mcp", prefix: weather_ }
- { name: files, url: "https://files.example/mcp" }
"#,
    );
    let runtime = state.runtime.load();
    state.catalog.recompose(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
    let reply = send(&state, get("/status")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let status = reply.json();

    assert_eq!(status["ready"], false);
    let servers = status["servers"].as_array().expect("servers are a list");
    assert_eq!(servers.len(), 2);
    let weather = &servers[0];
    assert_eq!(weather["name"], "weather");
    assert_eq!(weather["url"], "http://127.0.0.1:9/mcp");
    assert_eq!(weather["prefix"], "weather_");
    assert_eq!(weather["health"], "connecting");
    assert_eq!(weather["tools"], json!([]));
    assert!(weather["since"].is_u64(), "{weather}");
    assert_eq!(servers[1]["name"], "files");

    assert_eq!(status["tools"], json!([]));
    assert_eq!(status["issues"], json!([]));
    assert_eq!(status["routeTable"]["servers"], 2);
    assert_eq!(status["routeTable"]["tools"], 0);
    assert!(
        status["routeTable"]["bytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{status}"
    );
    assert_eq!(
        status["sessions"],
        json!({ "store": "memory", "upstream": 0, "ended": 0 })
    );
}

#[tokio::test]
async fn metrics_count_started_sessions() {
    let state = broker(NO_SERVERS);
    start_session(&state, "2025-06-18").await;
    let reply = send(&state, get("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{reply:?}"
    );
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        text.lines()
            .any(|line| line == "mcp_broker_sessions_started_total 1"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line == "mcp_broker_requests_total{method=\"initialize\"} 1"),
        "{text}"
    );
}
