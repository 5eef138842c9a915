//! Filling a [`Snapshot`] from the API: lists of the resources every
//! decision may depend on, then the Services and Secrets registrations
//! reference.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, ResourceExt};

use crate::Result;
use crate::crd::{MCPGatewayExtension, MCPServerRegistration, MCPVirtualServer};
use crate::gateway_api::{
    self, GatewaySpec, HttpRouteSpec, ReferenceGrantSpec, gateway_resource, http_route_resource,
    reference_grant_resource,
};
use crate::resolve::{Key, Snapshot, route_key};

/// Reads everything the pure core needs.
///
/// # Errors
/// API errors other than "not found" (a missing ReferenceGrant CRD counts
/// as no grants).
pub async fn take(client: &Client) -> Result<Snapshot> {
    let registrations = Api::<MCPServerRegistration>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let extensions = Api::<MCPGatewayExtension>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let virtual_servers = Api::<MCPVirtualServer>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let routes: BTreeMap<Key, HttpRouteSpec> = list_dynamic(client, &http_route_resource())
        .await?
        .iter()
        .filter_map(|o| Some((key(o), gateway_api::spec_of(o).ok()?)))
        .collect();
    let gateways: BTreeMap<Key, GatewaySpec> = list_dynamic(client, &gateway_resource())
        .await?
        .iter()
        .filter_map(|o| Some((key(o), gateway_api::spec_of(o).ok()?)))
        .collect();
    let grants: Vec<(String, ReferenceGrantSpec)> =
        list_dynamic(client, &reference_grant_resource())
            .await?
            .iter()
            .filter_map(|o| Some((o.namespace()?, gateway_api::spec_of(o).ok()?)))
            .collect();

    let mut services = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for registration in &registrations {
        let route = route_key(registration);
        if let Some(spec) = routes.get(&route) {
            for backend in spec.rules.iter().flat_map(|r| &r.backend_refs) {
                let service = (
                    backend.namespace.clone().unwrap_or_else(|| route.0.clone()),
                    backend.name.clone(),
                );
                if services.contains_key(&service) {
                    continue;
                }
                let api = Api::<Service>::namespaced(client.clone(), &service.0);
                if let Some(found) = api.get_opt(&service.1).await? {
                    let ports = found
                        .spec
                        .and_then(|s| s.ports)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|p| u16::try_from(p.port).ok())
                        .collect();
                    services.insert(service, ports);
                }
            }
        }
        if let Some(reference) = &registration.spec.credential_ref {
            let secret = (
                registration.namespace().unwrap_or_default(),
                reference.name.clone(),
            );
            if secrets.contains_key(&secret) {
                continue;
            }
            let api = Api::<Secret>::namespaced(client.clone(), &secret.0);
            if let Some(found) = api.get_opt(&secret.1).await? {
                let data = found
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| {
                        Some((
                            k,
                            String::from_utf8(v.0)
                                .ok()?
                                .trim_end_matches(['\r', '\n'])
                                .to_owned(),
                        ))
                    })
                    .collect();
                secrets.insert(secret, data);
            }
        }
    }
    Ok(Snapshot {
        registrations,
        extensions,
        routes,
        gateways,
        services,
        secrets,
        grants,
        virtual_servers,
    })
}

fn key(object: &DynamicObject) -> Key {
    (object.namespace().unwrap_or_default(), object.name_any())
}

/// Lists a resource in every namespace; a resource whose CRD is not
/// installed lists as empty.
async fn list_dynamic(
    client: &Client,
    resource: &kube::api::ApiResource,
) -> Result<Vec<DynamicObject>> {
    let api = Api::<DynamicObject>::all_with(client.clone(), resource);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}
