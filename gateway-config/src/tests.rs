use super::*;

/// Parses `yaml` as if it were `/etc/mcp/gateway.yaml`. A configuration
/// that says nothing of it gets `routerAuthentication: { mode: mesh }`, the
/// shortest way to a valid one without an `envoy` section.
fn parse(yaml: &str) -> Result<GatewayConfig, ConfigError> {
    let yaml = if yaml.contains("routerAuthentication") || yaml.contains("envoy") {
        yaml.to_owned()
    } else {
        format!("routerAuthentication: {{ mode: mesh }}\n{yaml}")
    };
    GatewayConfig::parse(
        &yaml,
        Path::new("/etc/mcp/gateway.yaml"),
        Path::new("/etc/mcp"),
    )
}

/// The problem text of a configuration that must be refused.
fn refusal(yaml: &str) -> String {
    match parse(yaml) {
        Ok(config) => panic!("accepted a bad configuration: {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn server_with_credential(credential: SecretSource) -> GatewayConfig {
    let mut config = parse("servers:\n- name: weather\n  url: http://127.0.0.1:3001/mcp\n")
        .expect("a one-server configuration parses");
    config.servers[0].credential = Some(credential);
    config
}

fn value(value: &str) -> SecretSource {
    SecretSource {
        env: None,
        file: None,
        value: Some(value.to_owned()),
    }
}

const FULL: &str = r#"
listen: 127.0.0.1:18090
mcpPath: /gateway/mcp
sessionKey: { value: "k3y" }
sessionMaxAgeSeconds: 3600
allowedOrigins: ["https://app.example"]
limits:
  maxRequestBodyBytes: 65536
  sessionApiTimeoutMs: 2500
discovery:
  refreshIntervalSeconds: 5
  requestTimeoutSeconds: 3
envoy:
  listen: 127.0.0.1:18080
  adminListen: 127.0.0.1:19901
  routeTableFile: /run/mcp/ecds/router.json
  wasmFile: /opt/mcp/mcp_router.wasm
  brokerCluster: broker
servers:
- name: weather
  url: http://127.0.0.1:3001/mcp
  prefix: weather_
  credential: { value: "Bearer w" }
  forwardAuthorization: true
- name: files
  url: https://files.example/mcp
"#;

#[test]
fn a_full_configuration_parses_every_field() {
    let config = parse(FULL).expect("the full example parses");
    assert_eq!(config.listen, "127.0.0.1:18090".parse().expect("address"));
    assert_eq!(config.mcp_path, "/gateway/mcp");
    assert_eq!(config.session_key, Some(value("k3y")));
    assert_eq!(config.session_max_age_seconds, 3600);
    assert_eq!(config.allowed_origins, ["https://app.example"]);
    assert_eq!(
        config.limits,
        LimitsConfig {
            max_request_body_bytes: 65536,
            session_api_timeout_ms: 2500,
            ..LimitsConfig::default()
        }
    );
    assert_eq!(config.discovery.refresh_interval(), Duration::from_secs(5));
    assert_eq!(config.discovery.request_timeout(), Duration::from_secs(3));
    let envoy = config.envoy.expect("envoy section");
    assert_eq!(envoy.listen, "127.0.0.1:18080".parse().expect("address"));
    assert_eq!(
        envoy.admin_listen,
        "127.0.0.1:19901".parse().expect("address")
    );
    assert_eq!(
        envoy.route_table_file,
        Path::new("/run/mcp/ecds/router.json")
    );
    assert_eq!(envoy.wasm_file, Path::new("/opt/mcp/mcp_router.wasm"));
    assert_eq!(envoy.broker_cluster, "broker");

    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["weather", "files"], "servers keep their order");
    let weather = &config.servers[0];
    assert_eq!(weather.url.as_str(), "http://127.0.0.1:3001/mcp");
    assert_eq!(weather.prefix, "weather_");
    assert_eq!(weather.credential, Some(value("Bearer w")));
    assert!(weather.forward_authorization);
    let files = &config.servers[1];
    assert_eq!(files.prefix, "", "no prefix by default");
    assert_eq!(files.credential, None);
    assert!(!files.forward_authorization, "no passthrough by default");
}

#[test]
fn omitted_fields_take_their_documented_defaults() {
    let config = parse(
        "envoy:\n  routeTableFile: /run/ecds/router.json\n  wasmFile: /opt/mcp_router.wasm\n",
    )
    .expect("a minimal configuration parses");
    assert_eq!(config.listen, "127.0.0.1:8090".parse().expect("address"));
    assert_eq!(config.mcp_path, "/mcp");
    assert_eq!(config.session_key, None);
    assert_eq!(config.session_max_age_seconds, 86_400);
    assert!(config.allowed_origins.is_empty());
    assert_eq!(config.limits.max_request_body_bytes, 4 * 1024 * 1024);
    assert_eq!(config.limits.session_api_timeout_ms, 10_000);
    assert_eq!(config.discovery.refresh_interval_seconds, 30);
    assert_eq!(config.discovery.request_timeout_seconds, 10);
    assert!(config.servers.is_empty());
    let envoy = config.envoy.expect("envoy section");
    assert_eq!(envoy.listen, "127.0.0.1:8080".parse().expect("address"));
    assert_eq!(
        envoy.admin_listen,
        "127.0.0.1:9901".parse().expect("address")
    );
    assert_eq!(envoy.broker_cluster, "mcp_broker");
}

#[test]
fn an_empty_document_is_a_configuration_without_envoy_or_servers() {
    let config = parse("").expect("an empty mapping parses");
    assert_eq!(config.envoy, None);
    assert!(config.servers.is_empty());
}

#[test]
fn zero_discovery_intervals_are_raised_to_one_second() {
    let config = parse("discovery: { refreshIntervalSeconds: 0, requestTimeoutSeconds: 0 }")
        .expect("zero intervals parse");
    assert_eq!(config.discovery.refresh_interval(), Duration::from_secs(1));
    assert_eq!(config.discovery.request_timeout(), Duration::from_secs(1));
}

#[test]
fn relative_paths_resolve_against_the_configuration_files_directory() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("gateway.yaml");
    std::fs::write(
        &path,
        r#"
sessionKey: { file: keys/session.key }
envoy:
  routeTableFile: run/ecds/router.json
  wasmFile: /opt/mcp/mcp_router.wasm
servers:
- name: weather
  url: http://127.0.0.1:3001/mcp
  credential: { file: secrets/weather.token }
"#,
    )
    .expect("write the configuration");
    let config = GatewayConfig::load(&path).expect("the configuration loads");
    let envoy = config.envoy.as_ref().expect("envoy section");
    assert_eq!(
        envoy.route_table_file,
        dir.path().join("run/ecds/router.json")
    );
    assert_eq!(
        envoy.wasm_file,
        Path::new("/opt/mcp/mcp_router.wasm"),
        "absolute paths are kept"
    );
    assert_eq!(
        config.servers[0]
            .credential
            .as_ref()
            .and_then(|c| c.file.clone()),
        Some(dir.path().join("secrets/weather.token"))
    );
    assert_eq!(
        config.session_key.as_ref().and_then(|c| c.file.clone()),
        Some(dir.path().join("keys/session.key"))
    );
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("absent.yaml");
    let error = GatewayConfig::load(&path).expect_err("a missing file is an error");
    assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
    assert!(error.to_string().contains("absent.yaml"), "{error}");
}

#[test]
fn unknown_fields_are_refused_and_named() {
    let top = refusal("listen: 127.0.0.1:8090\nlisten_port: 8091\n");
    assert!(top.contains("listen_port"), "{top}");
    let nested =
        refusal("servers:\n- name: weather\n  url: http://127.0.0.1:3001/mcp\n  prefx: w_\n");
    assert!(nested.contains("prefx"), "{nested}");
    let secret = refusal("sessionKey: { value: k, envVar: K }\n");
    assert!(secret.contains("envVar"), "{secret}");
}

#[test]
fn a_server_name_used_twice_is_refused() {
    let problem = refusal(
        r#"
servers:
- { name: weather, url: "http://127.0.0.1:3001/mcp" }
- { name: weather, url: "http://127.0.0.1:3002/mcp" }
"#,
    );
    assert!(
        problem.contains("\"weather\"") && problem.contains("used twice"),
        "{problem}"
    );
}

#[test]
fn a_prefix_outside_the_pattern_is_refused() {
    for prefix in ["Weather_", "_weather", "wea-ther"] {
        let problem = refusal(&format!(
            "servers:\n- {{ name: weather, url: \"http://127.0.0.1:3001/mcp\", prefix: \"{prefix}\" }}\n"
        ));
        assert!(
            problem.contains(&format!("{prefix:?}")) && problem.contains("prefix"),
            "{prefix}: {problem}"
        );
    }
}

#[test]
fn a_url_that_is_not_http_is_refused() {
    for url in [
        "ftp://files.example/mcp",
        "unix:/run/mcp.sock",
        "mailto:ops@example.com",
    ] {
        let problem = refusal(&format!("servers:\n- {{ name: files, url: \"{url}\" }}\n"));
        assert!(
            problem.contains("\"files\"") && problem.contains("http(s)"),
            "{url}: {problem}"
        );
    }
}

#[test]
fn a_url_that_does_not_parse_is_refused() {
    let problem = refusal("servers:\n- { name: files, url: \"not a url\" }\n");
    assert!(
        problem.contains("not a valid gateway configuration"),
        "{problem}"
    );
}

#[test]
fn an_invalid_server_name_is_refused() {
    let too_long = "w".repeat(64);
    for name in ["-weather", "we ather", "", too_long.as_str()] {
        let problem = refusal(&format!(
            "servers:\n- {{ name: \"{name}\", url: \"http://127.0.0.1:3001/mcp\" }}\n"
        ));
        assert!(
            problem.contains(&format!("server name {name:?}")),
            "{name:?}: {problem}"
        );
    }
}

#[test]
fn an_mcp_path_without_a_leading_slash_is_refused() {
    let problem = refusal("mcpPath: mcp\n");
    assert!(problem.contains("mcpPath \"mcp\""), "{problem}");
}

#[test]
fn a_credential_value_resolves_as_written() {
    let config = server_with_credential(value("Bearer abc"));
    assert_eq!(
        config.credentials().expect("credential resolves"),
        [Some("Bearer abc".to_owned())]
    );
}

#[test]
fn a_server_without_credential_resolves_to_none() {
    let config = parse("servers:\n- { name: a, url: \"http://a.example/mcp\" }\n")
        .expect("configuration parses");
    assert_eq!(config.credentials().expect("no credential to read"), [None]);
}

#[test]
fn a_credential_file_resolves_without_its_trailing_newline() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("token");
    std::fs::write(&file, "Bearer from-file\r\n").expect("write the token");
    let config = server_with_credential(SecretSource {
        env: None,
        file: Some(file),
        value: None,
    });
    assert_eq!(
        config.credentials().expect("credential resolves"),
        [Some("Bearer from-file".to_owned())]
    );
}

#[test]
fn a_credential_from_the_environment_resolves_to_the_variables_value() {
    // Tests cannot set variables (`set_var` is unsafe and this crate forbids
    // unsafe code), so use one the test process already has.
    let (name, expected) = std::env::vars()
        .find(|(_, value)| !value.is_empty() && !value.bytes().any(|b| b < 0x20 || b == 0x7f))
        .expect("the test process has at least one usable environment variable");
    let config = server_with_credential(SecretSource {
        env: Some(name),
        file: None,
        value: None,
    });
    assert_eq!(
        config.credentials().expect("credential resolves"),
        [Some(expected)]
    );
}

#[test]
fn an_unset_environment_variable_is_reported_by_name() {
    let config = server_with_credential(SecretSource {
        env: Some("MCP_BROKER_TEST_VARIABLE_THAT_IS_NEVER_SET".to_owned()),
        file: None,
        value: None,
    });
    let error = config.credentials().expect_err("unset variable");
    let text = error.to_string();
    assert!(
        text.contains("\"weather\"") && text.contains("MCP_BROKER_TEST_VARIABLE_THAT_IS_NEVER_SET"),
        "{text}"
    );
}

#[test]
fn an_unreadable_credential_file_is_reported() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = server_with_credential(SecretSource {
        env: None,
        file: Some(dir.path().join("missing.token")),
        value: None,
    });
    let text = config.credentials().expect_err("missing file").to_string();
    assert!(text.contains("missing.token"), "{text}");
}

#[test]
fn a_secret_needs_exactly_one_source() {
    let none = SecretSource {
        env: None,
        file: None,
        value: None,
    };
    let two = SecretSource {
        env: Some("HOME".to_owned()),
        file: None,
        value: Some("v".to_owned()),
    };
    for source in [none, two] {
        assert_eq!(
            source.resolve(),
            Err("set exactly one of env, file, value".to_owned()),
            "{source:?}"
        );
    }
    let text = server_with_credential(SecretSource {
        env: None,
        file: Some(PathBuf::from("/nonexistent")),
        value: Some("v".to_owned()),
    })
    .credentials()
    .expect_err("two sources")
    .to_string();
    assert!(text.contains("exactly one"), "{text}");
}

#[test]
fn an_empty_secret_is_refused() {
    assert_eq!(value("").resolve(), Err("the value is empty".to_owned()));
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("token");
    std::fs::write(&file, "\n").expect("write the token");
    let from_file = SecretSource {
        env: None,
        file: Some(file),
        value: None,
    };
    assert_eq!(from_file.resolve(), Err("the value is empty".to_owned()));
}

#[test]
fn a_credential_with_control_characters_is_refused() {
    for bad in [
        "Bearer a\r\nX-Injected: 1",
        "Bearer a\0",
        "Bearer\ta",
        "Bearer a\u{7f}",
    ] {
        let error = server_with_credential(value(bad))
            .credentials()
            .expect_err("control characters");
        assert!(
            error.to_string().contains("control characters"),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn without_a_local_envoy_the_router_token_must_be_configured_or_the_mesh_named() {
    let problem = refusal("routerAuthentication: {}\nlisten: 127.0.0.1:8090\n");
    assert!(problem.contains("routerAuthentication"), "{problem}");
    let token = parse("routerAuthentication: { token: { env: GATEWAY_TOKEN } }\n")
        .expect("a configured token is enough");
    assert_eq!(
        token.router_authentication.token,
        Some(SecretSource {
            env: Some("GATEWAY_TOKEN".to_owned()),
            file: None,
            value: None
        })
    );
    assert_eq!(
        parse("").expect("mesh mode").router_authentication.mode,
        RouterAuthMode::Mesh
    );
    // With a local Envoy, the broker makes one.
    parse("envoy: { routeTableFile: /run/ecds/router.json, wasmFile: /opt/mcp_router.wasm }\n")
        .expect("generated token");
}

#[test]
fn limits_that_would_idle_out_routed_sessions_or_bad_identity_headers_are_refused() {
    let problem =
        refusal("limits: { sessionRevalidateSeconds: 600, upstreamSessionIdleSeconds: 900 }\n");
    assert!(problem.contains("sessionRevalidateSeconds"), "{problem}");
    for header in ["x-mcp-identity", "X-User", "x_user", ""] {
        let problem = refusal(&format!(
            "sessionBinding: {{ identityHeader: \"{header}\" }}\n"
        ));
        assert!(problem.contains("identityHeader"), "{header}: {problem}");
    }
    let config = parse("sessionBinding: { identityHeader: x-jwt-sub }\n").expect("valid");
    assert_eq!(
        config.session_binding.identity_header.as_deref(),
        Some("x-jwt-sub")
    );
}

#[test]
fn a_server_may_forward_only_credential_headers_the_router_would_remove() {
    let problem = refusal(
        "servers:\n- name: w\n  url: http://127.0.0.1:1/mcp\n  forwardHeaders: [x-forwarded-for]\n",
    );
    assert!(problem.contains("forwardHeaders"), "{problem}");
    let config = parse(
        "servers:\n- name: w\n  url: http://127.0.0.1:1/mcp\n  forwardHeaders: [cookie, x-api-key]\n",
    )
    .expect("valid");
    assert_eq!(config.servers[0].forward_headers, ["cookie", "x-api-key"]);
}
