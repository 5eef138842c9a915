use super::*;
use crate::upstream::UpstreamSpec;

use router_config::{BrokerRoute, Limits, RouteTableSettings, RouterConfig, ServerRoute};
use serde_yaml_ng::Value as Yaml;

const CONFIG: &str = r#"
listen: 127.0.0.1:18090
mcpPath: /gateway/mcp
limits: { maxRequestBodyBytes: 65536 }
envoy:
  listen: 0.0.0.0:18080
  adminListen: 127.0.0.1:19901
  routeTableFile: /run/mcp/ecds/router.json
  wasmFile: /opt/mcp/mcp_router.wasm
  brokerCluster: the_broker
"#;

fn config(yaml: &str) -> GatewayConfig {
    GatewayConfig::parse(
        yaml,
        Path::new("/etc/mcp/gateway.yaml"),
        Path::new("/etc/mcp"),
    )
    .expect("the test configuration parses")
}

fn bootstrap(yaml: &str) -> Yaml {
    let text = render_bootstrap(&config(yaml)).expect("the bootstrap renders");
    assert!(!text.contains("{{"), "a placeholder is left:\n{text}");
    serde_yaml_ng::from_str(&text).expect("the bootstrap is YAML")
}

/// The value at a `/`-separated path of mapping keys and list indexes.
fn at<'y>(yaml: &'y Yaml, path: &str) -> &'y Yaml {
    path.split('/').fold(yaml, |node, key| {
        let next = match key.parse::<usize>() {
            Ok(index) => node.get(index),
            Err(_) => node.get(key),
        };
        next.unwrap_or_else(|| panic!("no {key:?} on the way to {path}"))
    })
}

fn route_table() -> RouterConfig {
    let settings = RouteTableSettings {
        mcp_path: "/mcp".to_owned(),
        limits: Limits::default(),
        broker: BrokerRoute {
            cluster: "mcp_broker".to_owned(),
            authority: "127.0.0.1:8090".to_owned(),
            session_path: "/v1/upstream-sessions".to_owned(),
            timeout_ms: 10_000,
            first_call: Default::default(),
        },
        sessions: Default::default(),
        access: Default::default(),
        policy: Default::default(),
    };
    let server = ServerRoute {
        name: "weather".to_owned(),
        prefix: "weather_".to_owned(),
        authority: "127.0.0.1:3001".to_owned(),
        path: "/mcp".to_owned(),
        cluster: Some(upstream_cluster("weather")),
        forward_authorization: false,
        forward_headers: Vec::new(),
        tools: vec!["forecast \"quoted\"".to_owned()],
        ..ServerRoute::new("", "", "", "")
    };
    router_config::build_route_table(settings, vec![server]).config
}

#[test]
fn the_bootstrap_carries_the_configured_addresses_ports_and_paths() {
    let yaml = bootstrap(CONFIG);

    let admin = at(&yaml, "admin/address/socket_address");
    assert_eq!(admin["address"], Yaml::from("127.0.0.1"));
    assert_eq!(admin["port_value"], Yaml::from(19901));

    let listener = at(&yaml, "static_resources/listeners/0");
    assert_eq!(
        at(listener, "address/socket_address/address"),
        &Yaml::from("0.0.0.0")
    );
    assert_eq!(
        at(listener, "address/socket_address/port_value"),
        &Yaml::from(18080)
    );
    assert_eq!(
        listener["per_connection_buffer_limit_bytes"],
        Yaml::from(65536 + 1024 * 1024),
        "Envoy buffers more than the router's limit"
    );

    let manager = at(listener, "filter_chains/0/filters/0/typed_config");
    let routes = at(manager, "route_config/virtual_hosts/0/routes");
    assert_eq!(at(routes, "1/match/path"), &Yaml::from("/gateway/mcp"));
    assert_eq!(
        at(routes, "1/match/headers/0/string_match/exact"),
        &Yaml::from("initialize")
    );
    assert_eq!(at(routes, "1/route/cluster"), &Yaml::from("the_broker"));
    assert_eq!(at(routes, "2/match/path"), &Yaml::from("/gateway/mcp"));
    assert_eq!(at(routes, "2/route/cluster"), &Yaml::from("the_broker"));
    let source = at(
        manager,
        "http_filters/0/config_discovery/config_source/path_config_source",
    );
    assert_eq!(source["path"], Yaml::from("/run/mcp/ecds/router.json"));
    assert_eq!(
        at(source, "watched_directory/path"),
        &Yaml::from("/run/mcp/ecds")
    );

    let broker = at(&yaml, "static_resources/clusters/0");
    assert_eq!(broker["name"], Yaml::from("the_broker"));
    let endpoint = at(
        broker,
        "load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address",
    );
    assert_eq!(endpoint["address"], Yaml::from("127.0.0.1"));
    assert_eq!(endpoint["port_value"], Yaml::from(18090));

    // Upstream clusters come from the CDS file beside the route table.
    assert_eq!(
        at(
            &yaml,
            "dynamic_resources/cds_config/path_config_source/path"
        ),
        &Yaml::from("/run/mcp/ecds/clusters.json")
    );
}

#[test]
fn the_bootstrap_bounds_clients_and_rate_limits_initialize() {
    let yaml = bootstrap(
        "limits: { requestHeadersTimeoutSeconds: 3, requestTimeoutSeconds: 20, maxConnections: 64, initializePerSecond: 7 }\nenvoy: { routeTableFile: /run/ecds/router.json, wasmFile: /opt/mcp_router.wasm }\n",
    );
    let manager = at(
        &yaml,
        "static_resources/listeners/0/filter_chains/0/filters/0/typed_config",
    );
    assert_eq!(manager["request_headers_timeout"], Yaml::from("3s"));
    assert_eq!(manager["request_timeout"], Yaml::from("20s"));
    assert_eq!(
        at(
            manager,
            "common_http_protocol_options/headers_with_underscores_action"
        ),
        &Yaml::from("REJECT_REQUEST")
    );
    assert_eq!(
        at(
            &yaml,
            "overload_manager/resource_monitors/0/typed_config/max_active_downstream_connections"
        ),
        &Yaml::from(64)
    );
    let bucket = at(
        manager,
        "route_config/virtual_hosts/0/routes/1/typed_per_filter_config/envoy.filters.http.local_ratelimit/token_bucket",
    );
    assert_eq!(bucket["tokens_per_fill"], Yaml::from(7));
    assert_eq!(bucket["max_tokens"], Yaml::from(14));
}

#[test]
fn the_broker_cluster_carries_the_gateway_token_unless_a_mesh_proves_the_caller() {
    let yaml = bootstrap(CONFIG);
    let filters = at(
        &yaml,
        "static_resources/clusters/0/typed_extension_protocol_options/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/http_filters",
    );
    let generic = at(filters, "0/typed_config/credential/typed_config");
    assert_eq!(generic["header"], Yaml::from("x-mcp-gateway-token"));
    assert_eq!(
        at(generic, "credential/name"),
        &Yaml::from("mcp_gateway_token")
    );
    assert_eq!(
        at(generic, "credential/sds_config/path_config_source/path"),
        &Yaml::from("/run/mcp/ecds/secret.mcp_gateway_token.json")
    );
    assert_eq!(at(filters, "0/typed_config/overwrite"), &Yaml::from(true));

    let mesh = bootstrap(&format!("{CONFIG}routerAuthentication: {{ mode: mesh }}\n"));
    assert!(
        at(
            &mesh,
            "static_resources/clusters/0/typed_extension_protocol_options"
        )
        .as_mapping()
        .is_some_and(|m| m.is_empty()),
        "no token in mesh mode"
    );
}

fn spec(name: &str, url: &str, authorization: Option<&str>) -> UpstreamSpec {
    UpstreamSpec {
        name: name.to_owned(),
        url: url.parse().expect("test URLs parse"),
        prefix: String::new(),
        authorization: authorization.map(str::to_owned),
        forward_authorization: false,
        forward_headers: Vec::new(),
        gateway_route: None,
        era: Default::default(),
    }
}

#[test]
fn each_upstream_has_a_cluster_that_injects_its_own_credential() {
    let config = config(CONFIG);
    let envoy = config.envoy.clone().expect("envoy section");
    let weather = spec("weather", "http://127.0.0.1:3001/mcp", Some("Bearer w"));
    let files = spec("files", "https://files.example/mcp", None);
    let document = cds_document(&config, &envoy, &[&weather, &files]);
    let clusters = document["resources"].as_array().expect("a list");
    assert_eq!(clusters.len(), 2);

    let weather = &clusters[0];
    assert_eq!(weather["name"], "mcp_upstream_weather");
    let address = &weather["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(address["address"], "127.0.0.1");
    assert_eq!(address["port_value"], 3001);
    let options = &weather["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    let generic = &options["http_filters"][0]["typed_config"]["credential"]["typed_config"];
    assert_eq!(generic["credential"]["name"], "mcp_credential_weather");
    assert!(
        generic.get("header").is_none(),
        "Authorization, the default"
    );
    assert!(weather.get("transport_socket").is_none());

    let files = &clusters[1];
    assert_eq!(files["name"], "mcp_upstream_files");
    assert_eq!(
        files["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
            ["port_value"],
        443
    );
    assert!(
        files["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            .get("http_filters")
            .is_none(),
        "nothing to inject without a credential"
    );
    let tls = &files["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "files.example");
    assert_eq!(
        tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]
            ["exact"],
        "files.example"
    );
}

#[test]
fn each_secret_is_a_document_of_its_own_and_stale_ones_are_removed() {
    let weather = spec("weather", "http://127.0.0.1:3001/mcp", Some("Bearer w"));
    let files = spec("files", "https://files.example/mcp", None);
    let documents = sds_documents(Some("t0ken"), &[&weather, &files]);
    let secrets: Vec<(&str, &str, usize)> = documents
        .iter()
        .map(|(name, document)| {
            let resources = document["resources"].as_array().expect("a list");
            (
                name.as_str(),
                resources[0]["generic_secret"]["secret"]["inline_string"]
                    .as_str()
                    .unwrap_or_default(),
                resources.len(),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        [
            ("mcp_gateway_token", "t0ken", 1),
            ("mcp_credential_weather", "Bearer w", 1)
        ]
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let envoy = config(&format!(
        "envoy: {{ routeTableFile: {}/router.json, wasmFile: /opt/mcp_router.wasm }}",
        dir.path().display()
    ))
    .envoy
    .expect("envoy section");
    for name in ["mcp_gateway_token", "mcp_credential_gone"] {
        write_if_changed(&secret_file(&envoy, name), b"{}").expect("write");
    }
    std::fs::write(dir.path().join("router.json"), b"{}").expect("write");
    remove_other_secret_files(&envoy, &["mcp_gateway_token".to_owned()]).expect("removes");
    assert!(secret_file(&envoy, "mcp_gateway_token").exists());
    assert!(!secret_file(&envoy, "mcp_credential_gone").exists());
    assert!(dir.path().join("router.json").exists(), "other files stay");
}

#[cfg(unix)]
#[test]
fn files_for_envoy_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("secrets.json");
    assert!(write_if_changed(&path, b"{}").expect("write"));
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_route_table_file_without_a_directory_is_watched_in_the_current_directory() {
    // `--config gateway.yaml`: the file's directory is "".
    let config = GatewayConfig::parse(
        "envoy: { routeTableFile: router.json, wasmFile: mcp_router.wasm }",
        Path::new("gateway.yaml"),
        Path::new(""),
    )
    .expect("the configuration parses");
    let text = render_bootstrap(&config).expect("the bootstrap renders");
    let yaml: Yaml = serde_yaml_ng::from_str(&text).expect("the bootstrap is YAML");
    let source = at(
        &yaml,
        "static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters/0/config_discovery/config_source/path_config_source",
    );
    assert_eq!(source["path"], Yaml::from("router.json"));
    assert_eq!(at(source, "watched_directory/path"), &Yaml::from("."));
}

#[test]
fn a_configuration_without_an_envoy_section_has_no_bootstrap() {
    let result = render_bootstrap(&config(
        "listen: 127.0.0.1:8090\nrouterAuthentication: { mode: mesh }",
    ));
    assert!(
        matches!(result, Err(BootstrapError::NoEnvoySection)),
        "{result:?}"
    );
}

#[test]
fn the_ecds_document_carries_the_route_table_as_a_string_value() {
    let envoy = config(CONFIG).envoy.expect("envoy section");
    let table = route_table();
    let document = ecds_document(&envoy, &table);

    let resource = &document["resources"][0];
    assert_eq!(
        resource["@type"],
        "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
    );
    assert_eq!(resource["name"], FILTER_NAME);
    let config = &resource["typed_config"]["config"];
    assert_eq!(config["root_id"], FILTER_NAME);
    assert_eq!(config["vm_config"]["vm_id"], FILTER_NAME);
    assert_eq!(
        config["vm_config"]["code"]["local"]["filename"],
        "/opt/mcp/mcp_router.wasm"
    );
    assert_eq!(config["allow_on_headers_stop_iteration"], true);
    assert_eq!(config["fail_open"], false);

    let carried = &config["configuration"];
    assert_eq!(
        carried["@type"],
        "type.googleapis.com/google.protobuf.StringValue"
    );
    let json = carried["value"].as_str().expect("the table is a string");
    assert_eq!(json, table.to_json());
    assert_eq!(
        RouterConfig::from_json(json.as_bytes()).expect("the router can read it"),
        table
    );
}

#[test]
fn write_if_changed_creates_the_directory_and_writes_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("ecds/nested/router.json");
    assert!(write_if_changed(&path, b"one").expect("write"));
    assert_eq!(std::fs::read(&path).expect("read back"), b"one");
}

#[test]
fn write_if_changed_leaves_an_identical_file_alone() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("router.json");
    assert!(write_if_changed(&path, b"one").expect("first write"));
    let before = std::fs::metadata(&path).expect("metadata");

    assert!(!write_if_changed(&path, b"one").expect("second write"));
    let after = std::fs::metadata(&path).expect("metadata");
    assert_eq!(
        before.modified().expect("mtime"),
        after.modified().expect("mtime")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "the file was not replaced");
    }
}

#[test]
fn write_if_changed_replaces_a_changed_file_by_rename() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("router.json");
    assert!(write_if_changed(&path, b"one").expect("first write"));
    // A reader holding the old file keeps seeing the old bytes: the new
    // ones arrive in a new file renamed over it (what Envoy watches for).
    let held = std::fs::File::open(&path).expect("open the first version");

    assert!(write_if_changed(&path, b"two").expect("second write"));
    assert_eq!(std::fs::read(&path).expect("read back"), b"two");
    let mut old = String::new();
    std::io::Read::read_to_string(&mut &held, &mut old).expect("read the held file");
    #[cfg(unix)]
    assert_eq!(old, "one", "the old file was replaced, not overwritten");

    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list the directory")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["router.json"], "no temporary file is left");
}
