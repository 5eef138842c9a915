//! Who may call the broker, in the mesh. The broker's session API hands out
//! upstream sessions and credentials, and its MCP endpoint must not be a way
//! around the router, so in Kubernetes (where the broker runs with
//! `routerAuthentication: { mode: mesh }`) the mesh proves the caller:
//!
//! - a `PeerAuthentication` makes mutual TLS mandatory on the broker's
//!   pods, so every caller presents its workload certificate;
//! - an `AuthorizationPolicy` admits the gateway's workload (its Istio
//!   service account, `<gateway>-istio`, the one Istio's automated Gateway
//!   deployment runs as) to everything, and anyone else only to the
//!   read-only endpoints operators and probes use (`/status`, `/healthz`,
//!   `/readyz`, `/metrics`).
//!
//! Both are enforced by the broker pod's sidecar or, in ambient mode, by
//! ztunnel (principals are L4; the path rule needs a sidecar or waypoint).
//! Without a mesh on the broker, nothing enforces them: then put the broker
//! behind a `NetworkPolicy` admitting only the gateway's pods.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;

use super::{metadata, typed};
use crate::Result;
use crate::plan::{self, Settings};

/// Endpoints of the broker anyone in the mesh may read.
pub const OPEN_PATHS: &[&str] = &["/status", "/healthz", "/readyz", "/metrics"];

/// The service account Istio gives the pods of the Gateway it deploys.
pub fn gateway_service_account(gateway: &str) -> String {
    format!("{gateway}-istio")
}

/// The PeerAuthentication and AuthorizationPolicy of the broker's pods.
///
/// # Errors
/// An object does not deserialise as a `DynamicObject` (a bug).
pub fn broker_policies(
    deployment: &plan::Deployment,
    settings: &Settings,
    owner: Option<&OwnerReference>,
) -> Result<Vec<DynamicObject>> {
    let n = &deployment.names;
    let (gateway_namespace, gateway) = &deployment.gateway;
    let selector = serde_json::json!({ "matchLabels": super::broker::selector(deployment) });
    let principal = format!(
        "{}/ns/{gateway_namespace}/sa/{}",
        settings.trust_domain,
        gateway_service_account(gateway)
    );
    let instance = n.broker.trim_end_matches("-broker");
    Ok(vec![
        typed(
            "PeerAuthentication",
            serde_json::json!({
                "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": metadata(&n.broker, &n.namespace, instance, owner),
                "spec": { "selector": selector, "mtls": { "mode": "STRICT" } }
            }),
        )?,
        typed(
            "AuthorizationPolicy",
            serde_json::json!({
                "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                "metadata": metadata(&n.broker, &n.namespace, instance, owner),
                "spec": {
                    "selector": selector,
                    "action": "ALLOW",
                    "rules": [
                        { "from": [{ "source": { "principals": [principal] } }] },
                        { "to": [{ "operation": { "methods": ["GET"], "paths": OPEN_PATHS } }] }
                    ]
                }
            }),
        )?,
    ])
}
