//! The glue: three controllers (extensions, registrations, virtual
//! servers) that take a snapshot, ask the pure core what should exist, and
//! apply it. `reconcile` for extensions lives here; registrations and
//! virtual servers in [`status`].

mod apply;
mod snapshot;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{Error as FinalizerError, Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

use crate::crd::{
    MCPGatewayExtension, MCPGatewayExtensionStatus, MCPServerRegistration, MCPVirtualServer,
};
use crate::desired::{self, broker, filter};
use crate::discovery::{BrokerAddress, Discovery, StatusSource};
use crate::gateway_api::http_route_resource;
use crate::plan::{self, BROKER_PORT, Names, Settings};
use crate::resolve::Key;
use crate::{Error, MANAGED_BY, Result};

/// The finalizer that removes what an extension deployed in the Gateway's
/// namespace (owner references cannot cross namespaces).
pub const FINALIZER: &str = "mcp.wasm-gateway.io/cleanup";

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub settings: Settings,
    /// How often each broker's `/status` is read.
    pub discovery_interval: Duration,
    pub status_source: Arc<dyn StatusSource>,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub discovery_interval: Duration,
    pub status_source: Arc<dyn StatusSource>,
    pub recorder: Recorder,
    /// The last discovery of each extension's broker.
    discovery: Mutex<HashMap<Key, Discovery>>,
    /// Bumped when any broker's discovery changes: registrations and
    /// virtual servers are then re-evaluated.
    discovery_changed: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, config: RunConfig) -> Self {
        let reporter = Reporter {
            controller: "mcp-operator".to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings: config.settings,
            discovery_interval: config.discovery_interval,
            status_source: config.status_source,
            discovery: Mutex::new(HashMap::new()),
            discovery_changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The last discovery of an extension's broker.
    pub fn discovery_of(&self, extension: &Key) -> Discovery {
        self.discovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(extension)
            .cloned()
            .unwrap_or_else(|| Discovery::Unknown {
                error: "not read yet".to_owned(),
            })
    }

    fn record_discovery(&self, extension: Key, discovery: Option<Discovery>) {
        let mut all = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
        let changed = match discovery {
            Some(discovery) => {
                all.insert(extension, discovery.clone()).as_ref() != Some(&discovery)
            }
            None => all.remove(&extension).is_some(),
        };
        drop(all);
        if changed {
            self.discovery_changed.send_modify(|n| *n += 1);
        }
    }
}

/// Runs the three controllers until SIGTERM or Ctrl-C.
///
/// # Errors
/// [`Error::CrdMissing`] when this project's CRDs are not installed.
pub async fn run(client: Client, config: RunConfig) -> Result<()> {
    check_crds(&client).await?;
    let ctx = Arc::new(Context::new(client.clone(), config));
    let owned = watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));

    let extensions = Controller::new(
        Api::<MCPGatewayExtension>::all(client.clone()),
        watcher::Config::default(),
    );
    let all_extensions = extensions.store();
    let extensions = extensions
        // Secrets are not watched (that would need list/watch on every
        // Secret in the cluster); they are re-applied every interval.
        .owns(Api::<Deployment>::all(client.clone()), owned)
        .watches(
            Api::<MCPServerRegistration>::all(client.clone()),
            watcher::Config::default(),
            every(&all_extensions),
        )
        // A virtual server changes its namespace's extension's broker
        // configuration (its policy).
        .watches(
            Api::<MCPVirtualServer>::all(client.clone()),
            watcher::Config::default(),
            every(&all_extensions),
        )
        .watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &http_route_resource()),
            http_route_resource(),
            watcher::Config::default(),
            every(&all_extensions),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx.clone())
        .for_each(log_outcome);

    let registrations = Controller::new(
        Api::<MCPServerRegistration>::all(client.clone()),
        watcher::Config::default(),
    );
    let all_registrations = registrations.store();
    let registrations = registrations
        .watches(
            Api::<MCPGatewayExtension>::all(client.clone()),
            watcher::Config::default(),
            every(&all_registrations),
        )
        .watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &http_route_resource()),
            http_route_resource(),
            watcher::Config::default(),
            every(&all_registrations),
        )
        .reconcile_all_on(changes(&ctx))
        .shutdown_on_signal()
        .run(status::reconcile_registration, error_policy, ctx.clone())
        .for_each(log_outcome);

    let virtual_servers = Controller::new(
        Api::<MCPVirtualServer>::all(client.clone()),
        watcher::Config::default(),
    )
    .reconcile_all_on(changes(&ctx))
    .shutdown_on_signal()
    .run(status::reconcile_virtual_server, error_policy, ctx.clone())
    .for_each(log_outcome);

    tracing::info!("mcp-operator started");
    futures::join!(extensions, registrations, virtual_servers);
    Ok(())
}

/// A watch mapper that triggers every object in `store`: any change of a
/// registration or route may change any extension's table.
fn every<K, O>(store: &Store<K>) -> impl Fn(O) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let store = store.clone();
    move |_| {
        store
            .state()
            .iter()
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect()
    }
}

fn changes(ctx: &Arc<Context>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(
        ctx.discovery_changed.subscribe(),
        |mut receiver| async move {
            receiver.changed().await.ok()?;
            Some(((), receiver))
        },
    )
}

async fn log_outcome<T: std::fmt::Debug, E: std::fmt::Display>(outcome: Result<T, E>) {
    match outcome {
        Ok(object) => tracing::debug!(?object, "reconciled"),
        Err(error) => tracing::warn!(%error, "reconcile failed"),
    }
}

async fn check_crds(client: &Client) -> Result<()> {
    let probe = Api::<MCPGatewayExtension>::all(client.clone())
        .list(&ListParams::default().limit(1))
        .await;
    match probe {
        Err(kube::Error::Api(status)) if status.code == 404 => Err(Error::CrdMissing {
            crd: format!("mcpgatewayextensions.{}", crate::API_GROUP),
        }),
        Err(error) => Err(error.into()),
        Ok(_) => Ok(()),
    }
}

/// On error: log (the controller does), retry soon.
pub fn error_policy<K>(_object: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile error; retrying in 10s");
    Action::requeue(Duration::from_secs(10))
}

/// Reconciles one extension: broker, route, filter, status. Requeued every
/// discovery interval, to follow the broker's discovery.
pub async fn reconcile(extension: Arc<MCPGatewayExtension>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = extension.namespace().ok_or_else(|| Error::MissingField {
        kind: "MCPGatewayExtension",
        name: extension.name_any(),
        field: "metadata.namespace",
    })?;
    let name = extension.name_any();
    let api = Api::<MCPGatewayExtension>::namespaced(ctx.client.clone(), &namespace);
    match finalizer(&api, FINALIZER, extension, |event| async {
        match event {
            Finalizer::Apply(extension) => apply_extension(&extension, &ctx).await,
            Finalizer::Cleanup(extension) => cleanup_extension(&extension, &ctx).await,
        }
    })
    .await
    {
        Ok(action) => Ok(action),
        // A late event for an extension whose cleanup already finished.
        Err(FinalizerError::RemoveFinalizer(kube::Error::Api(status))) if status.code == 404 => {
            Ok(Action::await_change())
        }
        Err(error) => Err(Error::Finalizer {
            name: format!("{namespace}/{name}"),
            message: error.to_string(),
        }),
    }
}

async fn apply_extension(extension: &MCPGatewayExtension, ctx: &Context) -> Result<Action> {
    let key = (
        extension.namespace().unwrap_or_default(),
        extension.name_any(),
    );
    let names = Names::of(extension);
    let snapshot = snapshot::take(&ctx.client).await?;
    let address = BrokerAddress {
        namespace: names.namespace.clone(),
        service: names.broker.clone(),
        host: names.broker_host(&ctx.settings.cluster_domain),
        port: BROKER_PORT,
    };
    let discovery = match ctx.status_source.fetch(&address).await {
        Ok(status) => Discovery::Reported(Box::new(status)),
        Err(error) => Discovery::Unknown { error },
    };
    ctx.record_discovery(key.clone(), Some(discovery.clone()));
    let plan = plan::plan_extension(extension, &snapshot, &discovery, &ctx.settings);

    if let Some(deployment) = &plan.deployment {
        let owner = extension.controller_owner_ref(&());
        let objects = desired::objects(deployment, &ctx.settings, owner.as_ref())?;
        apply::apply(ctx, &objects.service_account).await?;
        ensure_session_secret(ctx, deployment, owner.as_ref()).await?;
        apply::apply(ctx, &objects.config_secret).await?;
        apply::apply(ctx, &objects.credentials_secret).await?;
        apply::apply(ctx, &objects.deployment).await?;
        apply::apply(ctx, &objects.service).await?;
        apply::apply_dynamic(ctx, &http_route_resource(), &objects.route).await?;
        for object in objects.filters.iter().chain(&objects.broker_policies) {
            let resource = resource_of(object);
            apply::apply_dynamic(ctx, &resource, object).await?;
        }
        for (resource, namespace, name) in filter::stale_filters(&names, ctx.settings.filter_api) {
            apply::delete_dynamic(ctx, &resource, &namespace, &name).await?;
        }
    }

    let previous = extension
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let table = plan
        .deployment
        .as_ref()
        .and_then(|d| d.route_table.as_ref());
    let desired = MCPGatewayExtensionStatus {
        target_ref: plan.deployment.as_ref().map(|d| d.target.clone()),
        conditions: vec![apply::ready_condition(
            extension,
            &previous,
            &plan.readiness,
        )],
        observed_generation: extension.meta().generation,
        servers: table.map_or(0, |t| u32::try_from(t.servers.len()).unwrap_or(u32::MAX)),
        tools: table.map_or(0, |t| {
            u32::try_from(t.exposed_tools().count()).unwrap_or(u32::MAX)
        }),
        route_table_bytes: table
            .map_or(0, |t| u32::try_from(t.to_json().len()).unwrap_or(u32::MAX)),
    };
    apply::write_status(
        ctx,
        extension,
        &previous,
        &plan.readiness,
        &desired,
        extension.status.as_ref(),
    )
    .await?;
    Ok(Action::requeue(ctx.discovery_interval))
}

/// The session-signing key: created once, never replaced.
async fn ensure_session_secret(
    ctx: &Context,
    deployment: &plan::Deployment,
    owner: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
) -> Result<()> {
    let names = &deployment.names;
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &names.namespace);
    if api.get_opt(&names.session_secret).await?.is_some() {
        return Ok(());
    }
    let key: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let secret = broker::session_secret(deployment, &key, owner)?;
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn resource_of(object: &DynamicObject) -> kube::api::ApiResource {
    let kind = object
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or_default();
    match kind {
        "EnvoyFilter" => crate::gateway_api::envoy_filter_resource(),
        "AuthorizationPolicy" => crate::gateway_api::authorization_policy_resource(),
        "PeerAuthentication" => crate::gateway_api::peer_authentication_resource(),
        _ => crate::gateway_api::wasm_plugin_resource(),
    }
}

/// Deletes everything an extension deployed. Objects in its own namespace
/// also carry owner references; deleting them here does not wait for the
/// garbage collector and covers clusters without one.
async fn cleanup_extension(extension: &MCPGatewayExtension, ctx: &Context) -> Result<Action> {
    let names = Names::of(extension);
    for (resource, namespace, name) in filter::all_filters(&names) {
        apply::delete_dynamic(ctx, &resource, &namespace, &name).await?;
    }
    apply::delete_dynamic(ctx, &http_route_resource(), &names.namespace, &names.route).await?;
    for resource in [
        crate::gateway_api::authorization_policy_resource(),
        crate::gateway_api::peer_authentication_resource(),
    ] {
        apply::delete_dynamic(ctx, &resource, &names.namespace, &names.broker).await?;
    }
    apply::delete::<Deployment>(ctx, &names.namespace, &names.broker).await?;
    apply::delete::<Service>(ctx, &names.namespace, &names.broker).await?;
    apply::delete::<ServiceAccount>(ctx, &names.namespace, &names.broker).await?;
    for secret in [
        &names.config_secret,
        &names.credentials_secret,
        &names.session_secret,
    ] {
        apply::delete::<Secret>(ctx, &names.namespace, secret).await?;
    }
    ctx.record_discovery((names.namespace.clone(), extension.name_any()), None);
    tracing::info!(extension = %extension.name_any(), namespace = %names.namespace, "cleaned up");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests;
