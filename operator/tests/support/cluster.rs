//! A real kube-apiserver (v1.20, built from Debian's source package by
//! `scripts/kube-apiserver/build.sh`) with etcd on loopback, and the
//! local processes the integration test runs beside it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// etcd + kube-apiserver started by `up.sh`, stopped on drop.
pub struct ApiServer {
    dir: tempfile::TempDir,
}

impl ApiServer {
    /// Starts the API server named by `MCP_KUBE_APISERVER`; `None` (the
    /// test is skipped) when it is unset, unless `MCP_REQUIRE_KUBE` asks
    /// for the test to run.
    pub fn start() -> Option<ApiServer> {
        let binary = std::env::var_os("MCP_KUBE_APISERVER").map(PathBuf::from);
        let Some(binary) = binary.filter(|b| b.is_file()) else {
            assert!(
                std::env::var_os("MCP_REQUIRE_KUBE").is_none(),
                "MCP_REQUIRE_KUBE is set but MCP_KUBE_APISERVER names no kube-apiserver binary: run `just setup-kube`"
            );
            eprintln!(
                "skipped: set MCP_KUBE_APISERVER to a kube-apiserver binary (`just test` does)"
            );
            return None;
        };
        let tools = std::env::var_os("MCP_KUBE_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("scripts/kube-apiserver"));
        for port in [16443, 23790] {
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "port {port} is taken: another kube-apiserver or etcd from up.sh is running; stop it first"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut up = Command::new("bash")
            .arg(tools.join("up.sh"))
            .arg(&binary)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run up.sh");
        // up.sh waits for readiness without a deadline; this is the deadline.
        let server = ApiServer { dir };
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = up.try_wait().expect("wait for up.sh") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = up.kill();
                panic!("kube-apiserver not ready after 90 s: {}", server.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "up.sh failed: {}", server.log());
        Some(server)
    }

    pub async fn client(&self) -> Client {
        Client::try_from(self.config().await).expect("client")
    }

    /// A client acting as a service account (impersonated by the admin), to
    /// prove a role grants enough.
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Client {
        let mut config = self.config().await;
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
        config.auth_info.impersonate_groups = Some(vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_owned(),
        ]);
        Client::try_from(config).expect("client")
    }

    async fn config(&self) -> kube::Config {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.dir.path().join("kubeconfig"))
            .expect("kubeconfig");
        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("config")
    }
}

impl ApiServer {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("apiserver.log")).unwrap_or_default()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for pid in ["apiserver.pid", "etcd.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pid)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        // Let the next run have the ports.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && [16443, 23790]
                .iter()
                .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of another workspace package, next to this test's directory.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo build -p {name}` first (`just test` does)",
        path.display()
    );
    path
}

/// A child process killed on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mcp-test-server --name NAME`; returns it and its MCP URL.
pub fn test_server(name: &str) -> (Process, String) {
    let mut child = Command::new(workspace_binary("mcp-test-server"))
        .args(["--name", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcp-test-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    (Process(child), url)
}

/// Starts `mcp-broker` with `config` (YAML); returns it and its base URL.
pub fn broker(dir: &Path, config: &str, port: u16) -> (Process, String) {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, config).expect("write broker config");
    let child = Command::new(workspace_binary("mcp-broker"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcp-broker");
    (Process(child), format!("http://127.0.0.1:{port}"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Drops what kube-apiserver 1.20 rejects: CEL rules and `default: ""`
/// (what `strip-crd-for-1.20.py` does).
pub fn strip_for_1_20(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("x-kubernetes-validations");
            if map.get("default") == Some(&serde_json::json!("")) {
                map.remove("default");
            }
            map.values_mut().for_each(strip_for_1_20);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_for_1_20),
        _ => {}
    }
}

/// Installs CRDs from YAML text and waits until they are established.
pub async fn install_crds(client: &Client, yaml: &str) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut names = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let mut value: serde_json::Value =
            serde::Deserialize::deserialize(document).expect("crd yaml");
        if value.is_null() {
            continue;
        }
        strip_for_1_20(&mut value);
        let crd: CustomResourceDefinition = serde_json::from_value(value).expect("crd");
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
        names.push(name);
    }
    for name in names {
        eventually(
            &format!("CRD {name} established"),
            Duration::from_secs(30),
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    crd.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            },
        )
        .await;
    }
}

/// The API resource of the kinds the test applies.
pub fn resource_for(kind: &str) -> ApiResource {
    use mcp_operator::gateway_api as g;
    let core = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("", "v1", kind),
            plural,
        )
    };
    let ours = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(mcp_operator::API_GROUP, "v1alpha1", kind),
            plural,
        )
    };
    match kind {
        "Gateway" => g::gateway_resource(),
        "HTTPRoute" => g::http_route_resource(),
        "ReferenceGrant" => g::reference_grant_resource(),
        "Service" => core("Service", "services"),
        "Secret" => core("Secret", "secrets"),
        "Namespace" => core("Namespace", "namespaces"),
        "MCPGatewayExtension" => ours("MCPGatewayExtension", "mcpgatewayextensions"),
        "MCPServerRegistration" => ours("MCPServerRegistration", "mcpserverregistrations"),
        "MCPVirtualServer" => ours("MCPVirtualServer", "mcpvirtualservers"),
        "ServiceAccount" => core("ServiceAccount", "serviceaccounts"),
        "Deployment" => ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
        "ClusterRole" => ApiResource::erase::<k8s_openapi::api::rbac::v1::ClusterRole>(&()),
        "ClusterRoleBinding" => {
            ApiResource::erase::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(&())
        }
        other => panic!("no API resource for {other}"),
    }
}

/// Server-side applies every document of a multi-document YAML.
pub async fn apply_yaml(client: &Client, yaml: &str) {
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document).expect("yaml");
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(value).expect("object");
        apply(client, &object).await;
    }
}

pub async fn apply(client: &Client, object: &DynamicObject) {
    let kind = object
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let resource = resource_for(&kind);
    let api = match object.namespace() {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource),
        None => Api::<DynamicObject>::all_with(client.clone(), &resource),
    };
    api.patch(
        &object.name_any(),
        &PatchParams::apply("test").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {kind} {}: {e}", object.name_any()));
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
