//! `MCPVirtualServer`: a named subset of the gateway's tools and prompts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A named subset of the tools (and prompts) of the MCP gateway served by
/// the MCPGatewayExtension in the same namespace.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcp.wasm-gateway.io",
    version = "v1alpha1",
    kind = "MCPVirtualServer",
    namespaced,
    status = "MCPVirtualServerStatus",
    shortname = "mcpvs",
    derive = "PartialEq",
    doc = "A named subset of the MCP gateway's tools and prompts.",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPVirtualServerSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Exposed tool names (prefix included).
    #[schemars(length(min = 1))]
    pub tools: Vec<String>,
    /// Prompt names; absent for all prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
}

/// What the operator last observed of a virtual server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPVirtualServerStatus {
    /// `Ready` when every listed tool is exposed by the gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
