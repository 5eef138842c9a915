//! The broker's traces: `tracing` spans exported over OTLP/HTTP
//! (`opentelemetry-otlp`, protobuf) when the configuration has `tracing`,
//! each request's span a child of the trace its `traceparent` header names
//! (W3C Trace Context: the local Envoy's, so one trace per request).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TracingConfig;

/// The exporter's provider (flushed by [`shutdown`]) and the layer that
/// feeds it, for `tracing_subscriber`.
///
/// # Errors
/// The exporter cannot be built.
pub fn layer<S>(
    config: &TracingConfig,
) -> anyhow::Result<(
    SdkTracerProvider,
    tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
)>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(config.traces_url())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(config.broker_service_name())
                .build(),
        )
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("mcp-broker");
    Ok((provider, tracing_opentelemetry::layer().with_tracer(tracer)))
}

/// Flushes spans not yet exported.
pub fn shutdown(provider: &SdkTracerProvider) {
    if let Err(error) = provider.shutdown() {
        eprintln!("traces not flushed: {error}");
    }
}

/// The span of one HTTP request, joined to the trace its headers carry.
pub fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let headers = request.headers();
    let mcp_method = headers
        .get(mcp_protocol::headers::X_MCP_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        mcp.method = mcp_method,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    let _ = span.set_parent(parent);
    span
}
