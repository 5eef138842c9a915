//! `MCPServerRegistration`: one upstream MCP server, reached through an
//! `HTTPRoute`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Registers an upstream MCP server with the gateway: its tools appear on
/// the gateway's `/mcp`, prefixed with `prefix`.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcp.wasm-gateway.io",
    version = "v1alpha1",
    kind = "MCPServerRegistration",
    namespaced,
    status = "MCPServerRegistrationStatus",
    shortname = "mcpsr",
    derive = "PartialEq",
    doc = "Registers an upstream MCP server, reached through an HTTPRoute, with the MCP gateway.",
    printcolumn = r#"{"name":"Prefix","type":"string","jsonPath":".status.prefix"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.targetRef.name"}"#,
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.path"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Tools","type":"integer","jsonPath":".status.discoveredTools"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerRegistrationSpec {
    /// The HTTPRoute in front of the MCP server: a Service backendRef (the
    /// first one, when it has several) reached through the mesh. Its first
    /// hostname without wildcard is the `:authority` the router sets; a
    /// route without one is reached by the Service's cluster-local name.
    pub target_ref: TargetReference,
    /// Prefix added to this server's tool names, e.g. `weather_`. Immutable.
    /// Empty for none: tools are then routed by their exact names, as the
    /// broker discovers them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        regex(pattern = r"^[a-z0-9][a-z0-9_]*$"),
        length(max = 63),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "prefix is immutable"}])
    )]
    pub prefix: String,
    /// Accepted spelling of `prefix` (Kuadrant's examples use both);
    /// `status.prefix` shows the prefix in force. Immutable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        regex(pattern = r"^[a-z0-9][a-z0-9_]*$"),
        length(max = 63),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "toolPrefix is immutable"}])
    )]
    pub tool_prefix: String,
    /// HTTP path of the server's MCP endpoint. Default `/mcp`.
    #[serde(default = "default_path")]
    #[schemars(regex(pattern = r"^/[^\s]*$"))]
    pub path: String,
    /// A Secret key holding the `Authorization` value the gateway sends to
    /// this server (e.g. `Bearer …`), in the registration's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<SecretReference>,
    /// `Disabled` removes the server's tools and stops the broker connecting
    /// to it. Default `Enabled`.
    #[serde(default)]
    pub state: ServerState,
    /// Accepted for compatibility with Kuadrant manifests; not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// Accepted for compatibility with Kuadrant manifests; not used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    /// Accepted for compatibility with Kuadrant manifests; not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn default_path() -> String {
    "/mcp".to_owned()
}

/// The HTTPRoute a registration points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetReference {
    /// Always `gateway.networking.k8s.io`.
    #[serde(default = "default_gateway_group")]
    #[schemars(extend("enum" = ["gateway.networking.k8s.io"]))]
    pub group: String,
    /// Always `HTTPRoute`.
    #[serde(default = "default_route_kind")]
    #[schemars(extend("enum" = ["HTTPRoute"]))]
    pub kind: String,
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the HTTPRoute; default the registration's. Another
    /// namespace needs a ReferenceGrant there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn default_gateway_group() -> String {
    crate::gateway_api::GATEWAY_GROUP.to_owned()
}
fn default_route_kind() -> String {
    "HTTPRoute".to_owned()
}

/// A key of a Secret in the registration's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretReference {
    #[schemars(length(min = 1))]
    pub name: String,
    /// Default `token`.
    #[serde(default = "default_secret_key")]
    pub key: String,
}

fn default_secret_key() -> String {
    "token".to_owned()
}

/// Whether the gateway serves a registered server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServerState {
    #[default]
    Enabled,
    Disabled,
}

/// What the operator last observed of a registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerRegistrationStatus {
    /// `Ready`: the server is routed and its tools discovered; otherwise the
    /// reason says why not (`NotReady`, `Disabled`, `PrefixConflict`,
    /// `InvalidTarget`, `ReferenceGrantRequired`, `InvalidCredential`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many tools the broker discovered on the server.
    #[serde(default)]
    pub discovered_tools: u32,
    /// The server's name in the route table and in `x-mcp-servername`
    /// (`namespace.name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    /// The tool prefix in force, whichever spelling the spec used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

impl MCPServerRegistrationSpec {
    /// The prefix in force: `prefix`, or its accepted spelling `toolPrefix`.
    ///
    /// # Errors
    /// Both are set, to different values.
    pub fn effective_prefix(&self) -> Result<&str, String> {
        match (self.prefix.as_str(), self.tool_prefix.as_str()) {
            (p, t) if !p.is_empty() && !t.is_empty() && p != t => Err(format!(
                "prefix {p:?} and toolPrefix {t:?} disagree: set one of them"
            )),
            (p, _) if !p.is_empty() => Ok(p),
            (_, t) => Ok(t),
        }
    }
}
