//! `tracing` in the local Envoy: the connection manager's OpenTelemetry
//! tracer (OTLP/HTTP, protobuf) sampling `samplingPercent` of requests,
//! which starts each request's trace and passes it on in `traceparent` to
//! the broker and the upstreams; and the receiver's cluster.

use serde_json::json;

use crate::config::GatewayConfig;

/// Cluster of the OTLP receiver.
pub const OTLP_CLUSTER: &str = "mcp_otlp";

/// The connection manager's `tracing` field (a YAML line), or nothing.
pub fn tracing(config: &GatewayConfig) -> String {
    let Some(tracing) = &config.tracing else {
        return String::new();
    };
    let value = json!({
        "random_sampling": { "value": f64::from(tracing.sampling_percent) },
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "http_service": {
                    "http_uri": { "uri": tracing.traces_url(), "cluster": OTLP_CLUSTER, "timeout": "2s" }
                },
                "service_name": tracing.service_name,
            }
        }
    });
    format!("          tracing: {value}")
}

/// The receiver's cluster (TLS for `https`), or nothing.
pub fn cluster(config: &GatewayConfig) -> String {
    let Some(tracing) = &config.tracing else {
        return String::new();
    };
    let cluster = super::resources::url_cluster(OTLP_CLUSTER, &tracing.otlp_endpoint, None);
    format!("  - {cluster}")
}
