//! Registrations and virtual servers: their status only. Each is judged
//! with the same pure plan its extension applies, so a registration's
//! condition and the route table never disagree.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{Context, apply, snapshot};
use crate::Result;
use crate::conditions::{Readiness, Reason};
use crate::crd::{
    MCPServerRegistration, MCPServerRegistrationStatus, MCPVirtualServer, MCPVirtualServerStatus,
};
use crate::plan;
use crate::resolve;

/// Re-evaluated on its own changes, its routes', extensions', and on every
/// change of a broker's discovery; the slow requeue is a backstop.
const BACKSTOP: Duration = Duration::from_secs(300);

pub async fn reconcile_registration(
    registration: Arc<MCPServerRegistration>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let snapshot = snapshot::take(&ctx.client).await?;
    let key = (
        registration.namespace().unwrap_or_default(),
        registration.name_any(),
    );
    let claiming = resolve::claiming_extensions(&registration, &snapshot);
    let (readiness, discovered_tools) = match claiming.first() {
        None => (plan::unclaimed(&snapshot, &registration), 0),
        Some(extension) => {
            let extension_key = (
                extension.namespace().unwrap_or_default(),
                extension.name_any(),
            );
            let discovery = ctx.discovery_of(&extension_key);
            let plan = plan::plan_extension(extension, &snapshot, &discovery, &ctx.settings);
            match plan.registrations.into_iter().find(|(k, _)| *k == key) {
                Some((_, outcome)) => (outcome.readiness, outcome.discovered_tools),
                None => (
                    Readiness::new(
                        Reason::NotReady,
                        format!(
                            "MCPGatewayExtension {}/{} cannot serve it: {}",
                            extension_key.0, extension_key.1, plan.readiness.message
                        ),
                    ),
                    0,
                ),
            }
        }
    };
    let previous = registration
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let desired = MCPServerRegistrationStatus {
        conditions: vec![apply::ready_condition(
            registration.as_ref(),
            &previous,
            &readiness,
        )],
        observed_generation: registration.meta().generation,
        discovered_tools,
        server_name: resolve::server_name(&key.0, &key.1),
        // Canonically: whichever of prefix / toolPrefix the spec used.
        prefix: registration
            .spec
            .effective_prefix()
            .unwrap_or_default()
            .to_owned(),
    };
    apply::write_status(
        &ctx,
        registration.as_ref(),
        &previous,
        &readiness,
        &desired,
        registration.status.as_ref(),
    )
    .await?;
    Ok(Action::requeue(BACKSTOP))
}

pub async fn reconcile_virtual_server(
    server: Arc<MCPVirtualServer>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let snapshot = snapshot::take(&ctx.client).await?;
    let namespace = server.namespace().unwrap_or_default();
    let mut extensions: Vec<_> = snapshot
        .extensions
        .iter()
        .filter(|e| e.namespace().as_deref() == Some(namespace.as_str()))
        .collect();
    extensions.sort_by_key(|e| resolve::age_key(*e));
    let exposed = extensions.first().and_then(|extension| {
        let key = (namespace.clone(), extension.name_any());
        let plan =
            plan::plan_extension(extension, &snapshot, &ctx.discovery_of(&key), &ctx.settings);
        plan.deployment.and_then(|d| {
            d.route_table
                .map(|table| table.exposed_tools().map(|t| t.name).collect::<Vec<_>>())
        })
    });
    let readiness = plan::virtual_server_readiness(&server.spec, &namespace, exposed.as_deref());
    let previous = server
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let desired = MCPVirtualServerStatus {
        conditions: vec![apply::ready_condition(
            server.as_ref(),
            &previous,
            &readiness,
        )],
        observed_generation: server.meta().generation,
    };
    apply::write_status(
        &ctx,
        server.as_ref(),
        &previous,
        &readiness,
        &desired,
        server.status.as_ref(),
    )
    .await?;
    Ok(Action::requeue(BACKSTOP))
}
