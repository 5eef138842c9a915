//! The Kubernetes objects of a [`plan::Deployment`](crate::plan::Deployment):
//! pure functions, so the exact objects are tested without a cluster.

pub mod access;
pub mod broker;
pub mod filter;
pub mod policies;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;
use serde::de::DeserializeOwned;

use crate::plan::{self, Settings};
use crate::{Error, MANAGED_BY, Result};

/// Everything applied for one extension.
#[derive(Debug, Clone)]
pub struct Objects {
    pub service_account: ServiceAccount,
    pub config_secret: Secret,
    pub credentials_secret: Secret,
    pub deployment: Deployment,
    pub service: Service,
    /// The HTTPRoute sending `/mcp` to the broker.
    pub route: DynamicObject,
    /// In the Gateway's namespace: the EnvoyFilter and its
    /// AuthorizationPolicy, or the WasmPlugin.
    pub filters: Vec<DynamicObject>,
    /// In the broker's namespace: who may call it (`policies`).
    pub broker_policies: Vec<DynamicObject>,
}

/// The objects of a planned deployment. `owner` (the extension) is set on
/// the objects in the extension's namespace, so deleting it deletes them.
///
/// # Errors
/// [`Error::Serialize`] if an object does not match its Kubernetes type (a
/// bug, caught by the tests).
pub fn objects(
    deployment: &plan::Deployment,
    settings: &Settings,
    owner: Option<&OwnerReference>,
) -> Result<Objects> {
    Ok(Objects {
        service_account: broker::service_account(deployment, owner)?,
        config_secret: broker::config_secret(deployment, owner)?,
        credentials_secret: broker::credentials_secret(deployment, owner)?,
        deployment: broker::deployment(deployment, settings, owner)?,
        service: broker::service(deployment, owner)?,
        route: broker::http_route(deployment, owner)?,
        filters: filter::filter_objects(deployment, settings)?,
        broker_policies: policies::broker_policies(deployment, settings, owner)?,
    })
}

/// Labels on every object of an extension.
pub fn labels(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            "mcp-wasm-gateway".to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), instance.to_owned()),
    ])
}

/// Metadata JSON shared by every object.
fn metadata(
    name: &str,
    namespace: &str,
    instance: &str,
    owner: Option<&OwnerReference>,
) -> serde_json::Value {
    let mut meta = serde_json::json!({
        "name": name,
        "namespace": namespace,
        "labels": labels(instance),
    });
    if let Some(owner) = owner {
        meta["ownerReferences"] = serde_json::json!([owner]);
    }
    meta
}

fn typed<T: DeserializeOwned>(what: &'static str, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|source| Error::Serialize { what, source })
}
