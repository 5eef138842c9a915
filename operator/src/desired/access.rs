//! Who may call what, in the broker's configuration: the extension's
//! `oauth` (the metadata the broker serves) and `access` (identity rules,
//! the headers they read, Kuadrant's trusted-header key), and the
//! `MCPVirtualServer`s of its namespace, each named `namespace/name` (the
//! `X-Mcp-Virtualserver` value Kuadrant's clients send, and the path
//! `/mcp/namespace/name`); and where the broker's spans go (`tracing`).

use gateway_config::{AuthenticationConfig, GatewayConfig, ResourceMetadataConfig, TracingConfig};
use kube::ResourceExt;
use router_config::policy::{AuthorizedHeader, VirtualServer};

use crate::crd::{MCPGatewayExtension, MCPVirtualServer};

/// Adds the extension's access settings, virtual servers and trace export
/// to `config`. A metadata `resource` or an OTLP endpoint that is not an
/// http(s) URL is left out (logged).
pub fn apply(
    config: &mut GatewayConfig,
    extension: &MCPGatewayExtension,
    virtual_servers: &[MCPVirtualServer],
) {
    if let Some(oauth) = &extension.spec.oauth {
        match url::Url::parse(&oauth.resource) {
            Ok(resource) => {
                config.authentication = Some(AuthenticationConfig {
                    jwt: None,
                    resource_metadata: ResourceMetadataConfig {
                        resource,
                        authorization_servers: oauth.authorization_servers.clone(),
                        scopes_supported: oauth.scopes_supported.clone(),
                        bearer_methods_supported: vec!["header".to_owned()],
                        resource_name: oauth.resource_name.clone(),
                        resource_documentation: None,
                    },
                });
            }
            Err(error) => tracing::warn!(
                extension = extension.name_any(),
                %error,
                "spec.oauth.resource is not a URL: no metadata is served"
            ),
        }
    }
    if let Some(access) = &extension.spec.access {
        let policy = &mut config.policy;
        if let Some(header) = &access.claims_header {
            policy.claims_header = header.clone();
        }
        if let Some(claim) = &access.groups_claim {
            policy.groups_claim = claim.clone();
        }
        policy.rules = access.rules.clone();
        policy.authorized_header =
            access
                .trusted_headers_public_key
                .as_ref()
                .map(|key| AuthorizedHeader {
                    public_key: key.clone(),
                    required: true,
                });
        policy.approval = access.approval.clone();
        config.session_binding.identity_header = access.identity_header.clone();
    }
    if let Some(tracing) = &extension.spec.tracing {
        let endpoint = url::Url::parse(&tracing.otlp_endpoint)
            .map_err(|e| e.to_string())
            .and_then(|url| match url.scheme() {
                "http" | "https" if url.host_str().is_some() => Ok(url),
                _ => Err("not an http(s) URL".to_owned()),
            });
        match endpoint {
            Ok(endpoint) => {
                config.tracing = Some(TracingConfig::new(endpoint, tracing.service_name.clone()));
            }
            Err(error) => tracing::warn!(
                extension = extension.name_any(),
                %error,
                "spec.tracing.otlpEndpoint: the broker exports no spans"
            ),
        }
    }
    let namespace = extension.namespace().unwrap_or_default();
    let mut members: Vec<VirtualServer> = virtual_servers
        .iter()
        .filter(|v| v.namespace().as_deref() == Some(namespace.as_str()))
        .map(|v| VirtualServer {
            name: format!("{namespace}/{}", v.name_any()),
            tools: v.spec.tools.clone(),
            prompts: v.spec.prompts.clone(),
            resources: None,
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    config.policy.virtual_servers = members;
}
