use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn settings() -> RouteTableSettings {
    RouteTableSettings {
        mcp_path: "/mcp".to_owned(),
        limits: Limits::default(),
        broker: BrokerRoute {
            cluster: "broker".to_owned(),
            authority: "broker".to_owned(),
            session_path: "/v1/upstream-sessions".to_owned(),
            timeout_ms: 1000,
            first_call: Default::default(),
        },
        sessions: SessionSettings::default(),
        access: AccessRules::default(),
        policy: Default::default(),
    }
}

fn server(name: &str, prefix: &str, tools: &[&str]) -> ServerRoute {
    ServerRoute {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        authority: format!("{name}.example:8080"),
        path: "/mcp".to_owned(),
        cluster: None,
        forward_authorization: false,
        forward_headers: Vec::new(),
        tools: tools.iter().map(|t| (*t).to_owned()).collect(),
        ..ServerRoute::new("", "", "", "")
    }
}

fn exposed(build: &RouteTableBuild) -> Vec<(String, String, String)> {
    build
        .config
        .exposed_tools()
        .map(|t| (t.name, t.server, t.upstream_name))
        .collect()
}

#[test]
fn prefixes_are_prepended_and_order_is_kept() {
    let build = build_route_table(
        settings(),
        vec![
            server("weather", "weather_", &["forecast", "alerts"]),
            server("files", "", &["read"]),
        ],
    );
    assert!(build.issues.is_empty(), "{:?}", build.issues);
    assert_eq!(
        exposed(&build),
        vec![
            (
                "weather_forecast".into(),
                "weather".into(),
                "forecast".into()
            ),
            ("weather_alerts".into(), "weather".into(), "alerts".into()),
            ("read".into(), "files".into(), "read".into()),
        ]
    );
}

#[test]
fn the_server_listed_first_keeps_a_conflicting_name() {
    let build = build_route_table(
        settings(),
        vec![
            server("a", "", &["search", "x"]),
            server("b", "", &["search", "y"]),
        ],
    );
    assert_eq!(
        build.issues,
        vec![BuildIssue::NameConflict {
            entry: Entry::Tool,
            name: "search".into(),
            kept: "a".into(),
            dropped: "b".into()
        }]
    );
    assert_eq!(build.config.servers[1].tools, vec!["y".to_owned()]);
    // Reversing the input reverses the winner: the rule is the order.
    let reversed = build_route_table(
        settings(),
        vec![
            server("b", "", &["search", "y"]),
            server("a", "", &["search", "x"]),
        ],
    );
    assert_eq!(reversed.config.servers[0].tools, vec!["search", "y"]);
}

#[test]
fn invalid_and_duplicate_servers_and_shared_prefixes_are_left_out() {
    let mut bad_path = server("badpath", "bp_", &["t"]);
    bad_path.path = "no-slash".into();
    let build = build_route_table(
        settings(),
        vec![
            server("one", "p_", &["t"]),
            server("one", "q_", &["t"]),
            server("two", "p_", &["t"]),
            server("-bad", "", &["t"]),
            server("three", "Bad-Prefix", &["t"]),
            bad_path,
        ],
    );
    let names: Vec<_> = build
        .config
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, vec!["one"]);
    assert_eq!(build.issues.len(), 5);
    assert_eq!(
        build.issues[0],
        BuildIssue::DuplicateServer {
            server: "one".into()
        }
    );
    assert_eq!(
        build.issues[1],
        BuildIssue::PrefixConflict {
            server: "two".into(),
            prefix: "p_".into(),
            owner: "one".into()
        }
    );
    assert!(
        matches!(&build.issues[2], BuildIssue::InvalidServer { server, .. } if server == "-bad")
    );
    assert!(
        matches!(&build.issues[3], BuildIssue::InvalidServer { server, .. } if server == "three")
    );
    assert!(
        matches!(&build.issues[4], BuildIssue::InvalidServer { server, .. } if server == "badpath")
    );
}

#[test]
fn unroutable_tool_names_are_reported_and_repeats_count_once() {
    let build = build_route_table(
        settings(),
        vec![server("s", "", &["ok", "bad\r\nname", "ok", ""])],
    );
    assert_eq!(build.config.servers[0].tools, vec!["ok".to_owned()]);
    assert_eq!(build.issues.len(), 2);
    assert!(
        build
            .issues
            .iter()
            .all(|i| matches!(i, BuildIssue::InvalidEntry { .. }))
    );
}

#[test]
fn a_server_without_tools_stays_routable_by_prefix() {
    let build = build_route_table(settings(), vec![server("down", "down_", &[])]);
    assert!(build.issues.is_empty());
    assert_eq!(build.config.servers.len(), 1);
}

#[test]
fn equal_inputs_give_identical_json_and_it_parses_back() {
    let input = || {
        vec![
            server("weather", "weather_", &["forecast"]),
            server("files", "", &["read"]),
        ]
    };
    let a = build_route_table(settings(), input()).config.to_json();
    let b = build_route_table(settings(), input()).config.to_json();
    assert_eq!(a, b);
    let parsed = RouterConfig::from_json(a.as_bytes()).expect("parses");
    assert_eq!(parsed, build_route_table(settings(), input()).config);
}

#[test]
fn a_server_may_only_opt_into_the_credential_headers_the_router_removes() {
    let mut cookie = server("a", "a_", &["t"]);
    cookie.forward_headers = vec!["cookie".to_owned()];
    let mut odd = server("b", "b_", &["t"]);
    odd.forward_headers = vec!["x-forwarded-for".to_owned()];
    let mut auth = server("c", "c_", &["t"]);
    auth.forward_headers = vec!["authorization".to_owned()];
    let build = build_route_table(settings(), vec![cookie, odd, auth]);
    let left_out: Vec<&str> = build
        .issues
        .iter()
        .filter_map(|issue| match issue {
            BuildIssue::InvalidServer { server, reason } if reason.contains("forwardHeaders") => {
                Some(server.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(left_out, ["b", "c"]);
    assert_eq!(build.config.servers.len(), 1);
}

#[test]
fn prompts_are_prefixed_and_uris_kept_kind_by_kind() {
    let mut a = server("a", "a_", &["echo"]);
    a.prompts = vec!["greet".into()];
    a.resources = vec!["file:///readme".into(), "mem://1".into()];
    a.resource_templates = vec!["mem://{id}".into()];
    let mut b = server("b", "b_", &["echo"]);
    // The same prompt name under another prefix is another exposed name;
    // the same URI or template is a conflict the first server wins.
    b.prompts = vec!["greet".into()];
    b.resources = vec!["mem://1".into(), "bad uri".into()];
    b.resource_templates = vec!["mem://{id}".into()];
    let build = build_route_table(settings(), vec![a, b]);

    let prompts: Vec<String> = build
        .config
        .exposed(Entry::Prompt)
        .map(|p| p.name)
        .collect();
    assert_eq!(prompts, ["a_greet", "b_greet"]);
    assert_eq!(
        build.config.servers[0].resources,
        ["file:///readme", "mem://1"]
    );
    assert!(build.config.servers[1].resources.is_empty());
    assert!(build.config.servers[1].resource_templates.is_empty());
    assert_eq!(
        build.issues,
        vec![
            BuildIssue::NameConflict {
                entry: Entry::Resource,
                name: "mem://1".into(),
                kept: "a".into(),
                dropped: "b".into(),
            },
            BuildIssue::InvalidEntry {
                entry: Entry::Resource,
                server: "b".into(),
                name: "bad uri".into(),
                reason: format!(
                    "a routable URI is 1 to {} bytes with no control characters or spaces",
                    names::MAX_URI_LEN
                ),
            },
            BuildIssue::NameConflict {
                entry: Entry::ResourceTemplate,
                name: "mem://{id}".into(),
                kept: "a".into(),
                dropped: "b".into(),
            },
        ]
    );
    assert_eq!(
        build.issues[0].to_string(),
        "resource \"mem://1\" is exposed by servers \"a\" and \"b\"; \"a\" keeps it (listed first)"
    );
}
