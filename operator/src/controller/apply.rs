//! Writing to the API: server-side apply with one field manager, deletes
//! that tolerate absence, and status writes that publish an event when the
//! `Ready` condition changes.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Context;
use crate::conditions::Readiness;
use crate::{Error, FIELD_MANAGER, Result};

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Server-side applies a typed namespaced object.
pub async fn apply<K>(ctx: &Context, object: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let namespace = object.namespace().unwrap_or_default();
    let api = Api::<K>::namespaced(ctx.client.clone(), &namespace);
    api.patch(&object.name_any(), &apply_params(), &Patch::Apply(object))
        .await?;
    Ok(())
}

/// Server-side applies a dynamic object of `resource`.
pub async fn apply_dynamic(
    ctx: &Context,
    resource: &ApiResource,
    object: &DynamicObject,
) -> Result<()> {
    let namespace = object.namespace().unwrap_or_default();
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &namespace, resource);
    api.patch(&object.name_any(), &apply_params(), &Patch::Apply(object))
        .await?;
    Ok(())
}

/// Deletes an object; absent objects, and resources whose CRD is not
/// installed, count as deleted.
pub async fn delete_dynamic(
    ctx: &Context,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), namespace, resource);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Deletes a typed namespaced object; absence counts as deleted.
pub async fn delete<K>(ctx: &Context, namespace: &str, name: &str) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let api = Api::<K>::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The `Ready` condition for `readiness`, given the object's current
/// conditions.
pub fn ready_condition<K: Resource>(
    object: &K,
    previous: &[Condition],
    readiness: &Readiness,
) -> Condition {
    readiness.condition(object.meta().generation, previous, Timestamp::now())
}

/// Writes `desired` as the object's status when it differs from `current`,
/// and publishes an event when the `Ready` condition's status or reason
/// changes (transitions only: a steady state writes nothing).
pub async fn write_status<K, S>(
    ctx: &Context,
    object: &K,
    previous: &[Condition],
    readiness: &Readiness,
    desired: &S,
    current: Option<&S>,
) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(desired) {
        return Ok(());
    }
    let status = serde_json::to_value(desired).map_err(|source| Error::Serialize {
        what: "status",
        source,
    })?;
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let namespace = object.namespace().unwrap_or_default();
    let api = Api::<K>::namespaced(ctx.client.clone(), &namespace);
    api.patch_status(&object.name_any(), &apply_params(), &Patch::Apply(&patch))
        .await?;
    if readiness.is_transition(previous) {
        let event = Event {
            type_: if readiness.is_ready() {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: readiness.reason.as_str().to_owned(),
            note: Some(readiness.message.chars().take(1000).collect()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
            // Events are for humans; a failure must not fail the reconcile.
            tracing::warn!(%error, object = %object.name_any(), "cannot publish event");
        }
    }
    Ok(())
}
