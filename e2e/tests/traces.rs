//! One trace per request across the gateway: the real Envoy's
//! OpenTelemetry tracer starts it, the broker's spans join it through
//! `traceparent`, and both reach an OTLP/HTTP receiver the test runs.

use std::time::{Duration, Instant};

use e2e::client::RawSession;
use e2e::otlp::OtlpReceiver;
use e2e::{Stack, UpstreamKind};
use serde_json::json;

#[tokio::test]
async fn envoy_and_the_broker_export_spans_of_one_trace() {
    let receiver = OtlpReceiver::start().await.expect("receiver");
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting(
            "tracing",
            json!({ "otlpEndpoint": receiver.endpoint(), "serviceName": "mcp-e2e" }),
        )
        .start()
        .await
        .expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    let listed = session
        .post(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await
        .expect("list");
    assert_eq!(listed.status, 200);

    // Both exporters batch: wait for a trace holding spans of both.
    let start = Instant::now();
    let (envoy, broker) = loop {
        let spans = receiver.spans();
        let joined = spans
            .iter()
            .filter(|s| s.service == "mcp-e2e-broker" && !s.parent_span_id.is_empty())
            .find_map(|b| {
                let parent = spans
                    .iter()
                    .find(|e| e.service == "mcp-e2e" && e.trace_id == b.trace_id)?;
                Some((parent.clone(), b.clone()))
            });
        if let Some(pair) = joined {
            break pair;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no trace with spans of both Envoy and the broker: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(envoy.trace_id, broker.trace_id);
    assert!(broker.name.starts_with("POST /mcp"), "{broker:?}");
    assert_eq!(broker.trace_id.len(), 32);
}
