//! `tracing`: OpenTelemetry traces of MCP requests, exported over OTLP/HTTP
//! (protobuf). The local Envoy starts the trace of each request (its
//! `opentelemetry` tracer) and passes it on in `traceparent` (W3C Trace
//! Context); the broker's spans join that trace.

use serde::{Deserialize, Serialize};
use url::Url;

/// Where traces go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/HTTP receiver's base URL (`http://collector:4318`); spans
    /// are posted to its `/v1/traces`.
    pub otlp_endpoint: Url,
    /// `service.name` of the local Envoy's spans; the broker's are
    /// `<serviceName>-broker`. Default `mcp-gateway`.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Percent of requests the local Envoy traces (0 to 100). Default 100.
    #[serde(default = "default_sampling")]
    pub sampling_percent: u8,
}

impl TracingConfig {
    /// Export to `otlp_endpoint`, every request traced, `service.name`
    /// `service_name` (default `mcp-gateway`).
    pub fn new(otlp_endpoint: Url, service_name: Option<String>) -> Self {
        TracingConfig {
            otlp_endpoint,
            service_name: service_name.unwrap_or_else(default_service_name),
            sampling_percent: default_sampling(),
        }
    }

    /// The URL spans are posted to.
    pub fn traces_url(&self) -> String {
        format!(
            "{}/v1/traces",
            self.otlp_endpoint.as_str().trim_end_matches('/')
        )
    }

    /// The broker's `service.name`.
    pub fn broker_service_name(&self) -> String {
        format!("{}-broker", self.service_name)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !matches!(self.otlp_endpoint.scheme(), "http" | "https")
            || self.otlp_endpoint.host_str().is_none()
        {
            return Err(format!(
                "tracing.otlpEndpoint {}: an http(s) URL of an OTLP/HTTP receiver",
                self.otlp_endpoint
            ));
        }
        if self.sampling_percent > 100 {
            return Err("tracing.samplingPercent: 0 to 100".to_owned());
        }
        if self.service_name.is_empty() {
            return Err("tracing.serviceName is empty".to_owned());
        }
        Ok(())
    }
}

fn default_service_name() -> String {
    "mcp-gateway".to_owned()
}
fn default_sampling() -> u8 {
    100
}
