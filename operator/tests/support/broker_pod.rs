//! The broker as its Pod would run it, without a kubelet: a real
//! `mcp-broker` reading the configuration the operator wrote into its
//! Secrets, rewritten only where the Pod's world differs from this
//! machine's (the listen address, Service URLs that only resolve in a
//! cluster, files mounted from Secrets), and following the Secrets as a
//! kubelet refreshes a mounted volume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use mcp_broker::config::{GatewayConfig, SecretSource};

use super::cluster::{Process, workspace_binary};

/// A running broker following its Secrets; stops when dropped.
pub struct BrokerPod {
    _process: Process,
    follower: tokio::task::JoinHandle<()>,
    pub url: String,
}

impl Drop for BrokerPod {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// What differs for a broker outside the cluster.
#[derive(Clone)]
pub struct Local {
    pub dir: PathBuf,
    pub port: u16,
    /// Service host (`weather.team-a.svc.cluster.local`) → a loopback MCP URL.
    pub services: BTreeMap<String, String>,
}

impl Local {
    /// The operator's configuration, as this broker runs it.
    fn adapt(&self, text: &str, credentials: &BTreeMap<String, String>) -> Option<String> {
        let mut config: GatewayConfig = serde_yaml_ng::from_str(text).ok()?;
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        config.session_key = Some(value("a session key"));
        for server in &mut config.servers {
            let host = server.url.host_str().unwrap_or_default().to_owned();
            if let Some(local) = self.services.get(&host) {
                server.url = local.parse().ok()?;
            }
            if server.credential.is_some() {
                let file = self.dir.join(format!("credential-{}", server.name));
                std::fs::write(&file, credentials.get(&server.name)?).ok()?;
                server.credential = Some(SecretSource {
                    env: None,
                    file: Some(file),
                    value: None,
                });
            }
        }
        Some(config.to_yaml())
    }
}

fn value(text: &str) -> SecretSource {
    SecretSource {
        env: None,
        file: None,
        value: Some(text.to_owned()),
    }
}

async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    Some(
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect(),
    )
}

/// The broker's configuration from the operator's Secrets, adapted.
async fn desired(client: &Client, namespace: &str, broker: &str, local: &Local) -> Option<String> {
    let config = secret_data(client, namespace, &format!("{broker}-config")).await?;
    let credentials = secret_data(client, namespace, &format!("{broker}-credentials"))
        .await
        .unwrap_or_default();
    local.adapt(config.get("gateway.yaml")?, &credentials)
}

fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the broker configuration");
    std::fs::rename(tmp, path).expect("replace the broker configuration");
}

/// Waits for the operator's Secrets of broker `namespace/broker`, starts
/// the broker from them, and keeps its file in step with them.
pub async fn start(client: &Client, namespace: &str, broker: &str, local: Local) -> BrokerPod {
    let path = local.dir.join("gateway.yaml");
    let first = super::cluster::eventually(
        "the operator writes the broker's Secrets",
        Duration::from_secs(45),
        || desired(client, namespace, broker, &local),
    )
    .await;
    write(&path, &first);
    let child = Command::new(workspace_binary("mcp-broker"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcp-broker");
    let (client, namespace, broker) = (client.clone(), namespace.to_owned(), broker.to_owned());
    let url = format!("http://127.0.0.1:{}", local.port);
    let follower = tokio::spawn(async move {
        let mut current = first;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(next) = desired(&client, &namespace, &broker, &local).await
                && next != current
            {
                write(&path, &next);
                current = next;
            }
        }
    });
    BrokerPod {
        _process: Process(child),
        follower,
        url,
    }
}
