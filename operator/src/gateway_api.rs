//! The Gateway API and Istio objects the operator reads and writes, as
//! [`DynamicObject`]s with minimal typed views of the fields it uses: their
//! CRDs belong to other projects, and reading only what is needed keeps the
//! operator working across their versions.

use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde::Deserialize;

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn gateway_resource() -> ApiResource {
    resource(GATEWAY_GROUP, "v1", "Gateway", "gateways")
}
pub fn http_route_resource() -> ApiResource {
    resource(GATEWAY_GROUP, "v1", "HTTPRoute", "httproutes")
}
pub fn reference_grant_resource() -> ApiResource {
    resource(
        GATEWAY_GROUP,
        "v1beta1",
        "ReferenceGrant",
        "referencegrants",
    )
}
pub fn wasm_plugin_resource() -> ApiResource {
    resource(
        "extensions.istio.io",
        "v1alpha1",
        "WasmPlugin",
        "wasmplugins",
    )
}
pub fn envoy_filter_resource() -> ApiResource {
    resource(
        "networking.istio.io",
        "v1alpha3",
        "EnvoyFilter",
        "envoyfilters",
    )
}
pub fn authorization_policy_resource() -> ApiResource {
    resource(
        "security.istio.io",
        "v1",
        "AuthorizationPolicy",
        "authorizationpolicies",
    )
}

pub fn peer_authentication_resource() -> ApiResource {
    resource(
        "security.istio.io",
        "v1",
        "PeerAuthentication",
        "peerauthentications",
    )
}

/// Reads the `spec` of a dynamic object into a typed view.
pub fn spec_of<T: for<'de> Deserialize<'de>>(object: &DynamicObject) -> Result<T, String> {
    let spec = object.data.get("spec").cloned().unwrap_or_default();
    serde_json::from_value(spec).map_err(|e| e.to_string())
}

/// The parts of an `HTTPRoute.spec` the operator reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    #[serde(default)]
    pub parent_refs: Vec<ParentReference>,
    #[serde(default)]
    pub hostnames: Vec<String>,
    #[serde(default)]
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    #[serde(default)]
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// The parts of a `Gateway.spec` the operator reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub name: String,
    #[serde(default)]
    pub hostname: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub protocol: String,
}

/// A `ReferenceGrant.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReferenceGrantSpec {
    #[serde(default)]
    pub from: Vec<ReferenceGrantFrom>,
    #[serde(default)]
    pub to: Vec<ReferenceGrantTo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReferenceGrantFrom {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReferenceGrantTo {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// One reference across namespaces, to be allowed by a ReferenceGrant in
/// `to_namespace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossReference<'a> {
    pub from_group: &'a str,
    pub from_kind: &'a str,
    pub from_namespace: &'a str,
    pub to_group: &'a str,
    pub to_kind: &'a str,
    pub to_namespace: &'a str,
    pub to_name: &'a str,
}

impl CrossReference<'_> {
    /// Whether `grants` (namespace, spec) allow this reference. A reference
    /// within one namespace needs no grant.
    pub fn is_allowed<'g>(
        &self,
        grants: impl IntoIterator<Item = (&'g str, &'g ReferenceGrantSpec)>,
    ) -> bool {
        if self.from_namespace == self.to_namespace {
            return true;
        }
        grants.into_iter().any(|(namespace, grant)| {
            namespace == self.to_namespace
                && grant.from.iter().any(|from| {
                    from.group == self.from_group
                        && from.kind == self.from_kind
                        && from.namespace == self.from_namespace
                })
                && grant.to.iter().any(|to| {
                    to.group == self.to_group
                        && to.kind == self.to_kind
                        && to.name.as_deref().is_none_or(|name| name == self.to_name)
                })
        })
    }

    /// The ReferenceGrant a human would create, as a one-line hint.
    pub fn grant_hint(&self) -> String {
        let group = |g: &str| {
            if g.is_empty() {
                "\"\"".to_owned()
            } else {
                g.to_owned()
            }
        };
        format!(
            "create a ReferenceGrant in namespace {:?} with from {{group: {}, kind: {}, namespace: {}}} and to {{group: {}, kind: {}, name: {}}}",
            self.to_namespace,
            group(self.from_group),
            self.from_kind,
            self.from_namespace,
            group(self.to_group),
            self.to_kind,
            self.to_name
        )
    }
}
