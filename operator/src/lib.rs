//! `mcp-operator`: the gateway's Kubernetes operator. It reads
//! `MCPServerRegistration`, `MCPVirtualServer` and `MCPGatewayExtension`
//! resources and writes, for every extension, the broker (Deployment,
//! Service, ServiceAccount, configuration Secret, `/mcp` HTTPRoute) and the
//! router filter's configuration for the Istio gateway (the route table built
//! by [`router_config::build_route_table`]).
//!
//! Layout, pure core first: [`crd`] (the resource types), [`gateway_api`]
//! (the Gateway API and Istio objects it reads), [`resolve`] (registration →
//! upstream server), [`plan`] (everything an extension should produce, from
//! a snapshot), [`desired`] (the Kubernetes objects of a plan),
//! [`discovery`] (the broker's `/status`); then the glue: [`controller`].
//! Design notes: `operator/README.md`.

pub mod conditions;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod discovery;
pub mod gateway_api;
pub mod plan;
pub mod resolve;

/// The API group of this project's resources.
pub const API_GROUP: &str = "mcp.wasm-gateway.io";
/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "mcp-operator";
/// Label on everything the operator creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "mcp-operator");

/// Everything that can fail in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {source}")]
    Kube {
        #[source]
        source: kube::Error,
    },
    #[error("finalizer of {name}: {message}")]
    Finalizer { name: String, message: String },
    #[error("{kind} {name} has no {field}")]
    MissingField {
        kind: &'static str,
        name: String,
        field: &'static str,
    },
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the {crd} CustomResourceDefinition is not installed: run `kubectl apply -k wasm-plugins/kubernetes` (or `crdgen | kubectl apply -f -`) first"
    )]
    CrdMissing { crd: String },
}

impl From<kube::Error> for Error {
    fn from(source: kube::Error) -> Self {
        Error::Kube { source }
    }
}

/// The operator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
