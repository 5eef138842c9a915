//! `MCPGatewayExtension`: makes one listener of a Gateway an MCP gateway.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Makes one listener of a Gateway serve MCP: the operator deploys a broker
/// for it and installs the router filter, configured with the route table of
/// every MCPServerRegistration whose HTTPRoute attaches to that listener.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcp.wasm-gateway.io",
    version = "v1alpha1",
    kind = "MCPGatewayExtension",
    namespaced,
    status = "MCPGatewayExtensionStatus",
    shortname = "mcpge",
    derive = "PartialEq",
    doc = "Makes one listener of a Gateway an MCP gateway: a broker plus the router filter.",
    printcolumn = r#"{"name":"Gateway","type":"string","jsonPath":".status.targetRef.name"}"#,
    printcolumn = r#"{"name":"Listener","type":"string","jsonPath":".status.targetRef.sectionName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Servers","type":"integer","jsonPath":".status.servers"}"#,
    printcolumn = r#"{"name":"Tools","type":"integer","jsonPath":".status.tools"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPGatewayExtensionSpec {
    /// The Gateway listener to extend. Without `sectionName`, the Gateway's
    /// only listener. (Or, as Kuadrant's examples also write it,
    /// `gatewayRef` with a top-level `sectionName`; `status.targetRef` shows
    /// the listener in force, in this canonical form.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<GatewayTargetReference>,
    /// Accepted spelling: the Gateway by name and namespace, the listener
    /// in `sectionName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ref: Option<GatewayReference>,
    /// The listener, with `gatewayRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
    /// The public host of the MCP endpoint; default the listener's hostname.
    /// Browser origins `https://publicHost` are allowed by the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_host: Option<String>,
    /// Seconds between the broker's re-lists of each upstream. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 7200))]
    pub backend_ping_interval_seconds: Option<u32>,
    /// A Redis shared by broker replicas (Kuadrant's field): with it the
    /// broker runs two replicas, any of which serves any session; without
    /// it, one replica keeps sessions in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_store: Option<SessionStoreReference>,
    /// The OAuth 2.0 protected resource metadata (RFC 9728) the broker
    /// serves at `/.well-known/oauth-protected-resource[/mcp]`, routed to it
    /// without a token. Tokens themselves are checked in front of the router
    /// (Kuadrant `AuthPolicy`, Istio `RequestAuthentication`; samples in
    /// `wasm-plugins/kubernetes/examples/authentication/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthMetadata>,
    /// Who may use which tools, prompts and resources: identity rules over
    /// the verified JWT's claims, and Kuadrant's signed `x-mcp-authorized`
    /// header. The extension's `MCPVirtualServer`s are added to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessSpec>,
    /// Where the broker exports its spans. The gateway's Envoy starts each
    /// request's trace (the mesh's tracing provider, Istio `Telemetry`);
    /// the broker's spans join it through `traceparent` (W3C Trace Context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,
}

/// The broker's OTLP/HTTP (protobuf) trace export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracingSpec {
    /// The receiver's base URL (`http://otel-collector.observability:4318`);
    /// spans are posted to its `/v1/traces`.
    pub otlp_endpoint: String,
    /// `service.name` prefix: the broker's spans are `<serviceName>-broker`.
    /// Default `mcp-gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// RFC 9728 §2 metadata of the MCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthMetadata {
    /// The resource identifier: the MCP endpoint's URL as clients use it
    /// (`https://mcp.example.com/mcp`).
    pub resource: String,
    /// Issuer URLs of the authorization servers.
    #[schemars(length(min = 1))]
    pub authorization_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// Identity rules and the headers they read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSpec {
    /// Header the authentication in front of the router writes the verified
    /// JWT payload into (Istio `RequestAuthentication.jwtRules[].outputPayloadToHeader`).
    /// Default `x-jwt-payload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_header: Option<String>,
    /// The claim listing the caller's groups. Default `groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Header with the verified subject (Istio `outputClaimToHeaders`),
    /// which binds gateway sessions to their caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
    /// The rules, as the gateway configuration's `policy.rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<router_config::Rule>,
    /// Kuadrant's trusted header: the P-256 public key (PEM) that verifies
    /// `x-mcp-authorized`. Not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_headers_public_key: Option<String>,
    /// Tool calls that wait for the caller's approval (an elicitation), as
    /// the gateway configuration's `policy.approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<router_config::policy::Approval>,
}

/// Where the broker's session records live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStoreReference {
    /// A Secret in the extension's namespace whose `CACHE_CONNECTION_STRING`
    /// key holds the Redis URL (`redis://[user:password@]host:port[/db]`,
    /// `rediss://` for TLS), as Kuadrant's mcp-gateway reads it.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// The key of [`SessionStoreReference::secret_name`] holding the URL.
pub const SESSION_STORE_KEY: &str = "CACHE_CONNECTION_STRING";

/// A listener of a Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayTargetReference {
    /// Always `gateway.networking.k8s.io`.
    #[serde(default = "default_gateway_group")]
    #[schemars(extend("enum" = ["gateway.networking.k8s.io"]))]
    pub group: String,
    /// Always `Gateway`.
    #[serde(default = "default_gateway_kind")]
    #[schemars(extend("enum" = ["Gateway"]))]
    pub kind: String,
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the Gateway; default the extension's. Another namespace
    /// needs a ReferenceGrant there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The listener's name; absent: the Gateway's only listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
}

/// A Gateway by name (`gatewayRef`, an accepted spelling of `targetRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayReference {
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the Gateway; default the extension's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn default_gateway_group() -> String {
    crate::gateway_api::GATEWAY_GROUP.to_owned()
}
fn default_gateway_kind() -> String {
    "Gateway".to_owned()
}

/// What the operator last observed of an extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPGatewayExtensionStatus {
    /// `Ready`: broker and router filter are in place and the broker reports
    /// its discovery; otherwise the reason says why not (`InvalidTarget`,
    /// `ReferenceGrantRequired`, `Conflict`, `BrokerNotReady`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The listener in force, whichever spelling the spec used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<GatewayTargetReference>,
    /// Servers in the route table.
    #[serde(default)]
    pub servers: u32,
    /// Tools routed by exact name.
    #[serde(default)]
    pub tools: u32,
    /// Size of the route table (the filter's configuration), in bytes.
    #[serde(default)]
    pub route_table_bytes: u32,
}
