use super::*;

use std::collections::HashMap;

use router_config::{BrokerRoute, BuildIssue, Limits, ServerRoute};

use crate::upstream::{Capabilities, Definition, Health};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::TryRecvError;

fn settings() -> RouteTableSettings {
    RouteTableSettings {
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
    }
}

fn spec(name: &str, url: &str, prefix: &str) -> Arc<UpstreamSpec> {
    Arc::new(UpstreamSpec {
        name: name.to_owned(),
        url: url.parse().expect("test URLs parse"),
        prefix: prefix.to_owned(),
        authorization: None,
        forward_authorization: false,
        forward_headers: Vec::new(),
        gateway_route: None,
        era: Default::default(),
    })
}

/// A minimal tool definition named `name`.
fn tool(name: &str) -> Value {
    json!({ "name": name, "inputSchema": { "type": "object" } })
}

fn definitions(entry: Entry, items: &[String]) -> Vec<Definition> {
    items
        .iter()
        .map(|raw| Definition::parse(entry, raw).expect("test definitions are well formed"))
        .collect()
}

/// A ready upstream with these tools, each as the JSON text given.
fn ready_raw(tools: &[String]) -> UpstreamState {
    let catalog = PerEntry {
        tool: definitions(Entry::Tool, tools),
        ..PerEntry::default()
    };
    UpstreamState {
        health: Health::Ready,
        catalog,
        capabilities: Capabilities {
            tools: true,
            ..Capabilities::default()
        },
        protocol_version: Some("2025-06-18".to_owned()),
        server_info: Some(json!({ "name": "upstream", "version": "1" })),
        ..UpstreamState::connecting()
    }
}

fn ready(tools: Vec<Value>) -> UpstreamState {
    let raw: Vec<String> = tools.iter().map(Value::to_string).collect();
    ready_raw(&raw)
}

fn down(error: &str) -> UpstreamState {
    UpstreamState {
        health: Health::Down,
        last_error: Some(error.to_owned()),
        ..UpstreamState::connecting()
    }
}

fn states(entries: Vec<(&str, UpstreamState)>) -> HashMap<String, UpstreamState> {
    entries
        .into_iter()
        .map(|(name, state)| (name.to_owned(), state))
        .collect()
}

fn exposed_names(composite: &Composite) -> Vec<String> {
    composite
        .list(Entry::Tool)
        .definitions
        .iter()
        .map(|tool| {
            let tool: Value = serde_json::from_str(tool).expect("JSON");
            tool["name"]
                .as_str()
                .expect("exposed tools have a name")
                .to_owned()
        })
        .collect()
}

fn route<'c>(composite: &'c Composite, server: &str) -> &'c ServerRoute {
    composite
        .route_table
        .servers
        .iter()
        .find(|route| route.name == server)
        .unwrap_or_else(|| panic!("server {server:?} is in the route table"))
}

#[test]
fn ready_servers_contribute_their_tools_under_their_prefix() {
    let specs = [
        spec("weather", "http://127.0.0.1:3001/mcp", "weather_"),
        spec("files", "http://127.0.0.1:3002/mcp", ""),
    ];
    let states = states(vec![
        ("weather", ready(vec![tool("forecast"), tool("alerts")])),
        ("files", ready(vec![tool("read")])),
    ]);
    let composite = compose(&settings(), &specs, &states, Clusters::Unnamed);

    assert!(composite.issues.is_empty(), "{:?}", composite.issues);
    assert_eq!(
        exposed_names(&composite),
        ["weather_forecast", "weather_alerts", "read"]
    );
    assert_eq!(
        route(&composite, "weather").tools,
        ["forecast", "alerts"],
        "the route table keeps upstream names"
    );
    assert_eq!(route(&composite, "weather").prefix, "weather_");
    assert_eq!(route(&composite, "weather").path, "/mcp");
    assert_eq!(composite.route_table.mcp_path, "/mcp");
    assert_eq!(composite.route_table.broker, settings().broker);
}

#[test]
fn servers_that_are_down_or_connecting_keep_their_route_without_tools() {
    let specs = [
        spec("weather", "http://127.0.0.1:3001/mcp", "weather_"),
        spec("files", "http://127.0.0.1:3002/mcp", "files_"),
        spec("search", "http://127.0.0.1:3003/mcp", "search_"),
    ];
    // A down state that still carries tools: they must not be exposed.
    let mut files = down("connection refused");
    files.catalog = ready(vec![tool("read")]).catalog;
    let states = states(vec![
        ("weather", ready(vec![tool("forecast")])),
        ("files", files),
        // "search" has published nothing yet: connecting.
    ]);
    let composite = compose(&settings(), &specs, &states, Clusters::Unnamed);

    let routed: Vec<&str> = composite
        .route_table
        .servers
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        routed,
        ["weather", "files", "search"],
        "every configured server stays routable by prefix"
    );
    assert!(route(&composite, "files").tools.is_empty());
    assert!(route(&composite, "search").tools.is_empty());
    assert_eq!(route(&composite, "search").prefix, "search_");
    assert_eq!(exposed_names(&composite), ["weather_forecast"]);

    let health: Vec<(&str, Health, usize)> = composite
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.health, s.tools.len()))
        .collect();
    assert_eq!(
        health,
        [
            ("weather", Health::Ready, 1),
            ("files", Health::Down, 0),
            ("search", Health::Connecting, 0)
        ]
    );
    assert_eq!(
        composite.servers[1].last_error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(
        composite.servers[0].protocol_version.as_deref(),
        Some("2025-06-18")
    );
}

#[test]
fn exposed_definitions_keep_every_upstream_byte_and_only_change_the_name() {
    // Key order, spacing, number spelling and fields no model knows.
    let upstream = r#"{ "title":"Forecast", "name" : "forecast", "inputSchema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","maximum":1.50e1}},"required":["city"]},"execution":{"taskSupport":"optional"},"_meta":{"vendor/x":1},"someFutureField":[1, 2, 3] }"#;
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    let states = states(vec![("weather", ready_raw(&[upstream.to_owned()]))]);
    let composite = compose(&settings(), &specs, &states, Clusters::Unnamed);

    let expected = upstream.replace(r#""name" : "forecast""#, r#""name" : "weather_forecast""#);
    assert_eq!(
        composite.list(Entry::Tool).definitions,
        [Arc::<str>::from(expected.as_str())]
    );
    // tools/list serves these bytes as they are.
    assert_eq!(
        composite.list(Entry::Tool).result.get(),
        format!(r#"{{"tools":[{expected}]}}"#)
    );
}

#[test]
fn every_kind_is_listed_and_routed_and_capabilities_add_up() {
    let mut state = ready(vec![tool("echo")]);
    state.catalog.prompt = definitions(
        Entry::Prompt,
        &[r#"{"name":"greet","arguments":[{"name":"who"}]}"#.to_owned()],
    );
    state.catalog.resource = definitions(
        Entry::Resource,
        &[r#"{"uri":"test://static/1","name":"one"}"#.to_owned()],
    );
    state.catalog.resource_template = definitions(
        Entry::ResourceTemplate,
        &[r#"{"uriTemplate":"test://static/{id}","name":"any"}"#.to_owned()],
    );
    state.capabilities = Capabilities {
        tools: true,
        prompts: true,
        resources: true,
        resources_subscribe: true,
        completions: false,
        logging: true,
    };
    let specs = [
        spec("everything", "http://127.0.0.1:3001/mcp", "e_"),
        spec("plain", "http://127.0.0.1:3002/mcp", "p_"),
    ];
    let mut plain = ready(vec![tool("echo")]);
    plain.capabilities.completions = true;
    let composite = compose(
        &settings(),
        &specs,
        &states(vec![("everything", state), ("plain", plain)]),
        Clusters::Unnamed,
    );
    assert!(composite.issues.is_empty(), "{:?}", composite.issues);
    assert_eq!(
        composite.list(Entry::Prompt).result.get(),
        r#"{"prompts":[{"name":"e_greet","arguments":[{"name":"who"}]}]}"#
    );
    assert_eq!(
        composite.list(Entry::Resource).result.get(),
        r#"{"resources":[{"uri":"test://static/1","name":"one"}]}"#,
        "URIs are exposed unchanged"
    );
    assert_eq!(
        composite.list(Entry::ResourceTemplate).result.get(),
        r#"{"resourceTemplates":[{"uriTemplate":"test://static/{id}","name":"any"}]}"#
    );
    let route = route(&composite, "everything");
    assert_eq!(route.prompts, ["greet"]);
    assert_eq!(route.resources, ["test://static/1"]);
    assert_eq!(route.resource_templates, ["test://static/{id}"]);
    assert_eq!(
        composite.capabilities,
        Capabilities {
            tools: true,
            prompts: true,
            resources: true,
            resources_subscribe: true,
            completions: true,
            logging: true,
        }
    );
    let status = serde_json::to_value(&composite.servers[0]).expect("JSON");
    assert_eq!(status["prompts"], json!(["greet"]));
    assert_eq!(status["resourceTemplates"], json!(["test://static/{id}"]));
}

#[test]
fn a_name_two_servers_expose_goes_to_the_first_listed_and_is_reported() {
    let mut first = tool("search");
    first["description"] = json!("from docs");
    let mut second = tool("search");
    second["description"] = json!("from web");
    let specs = [
        spec("docs", "http://127.0.0.1:3001/mcp", ""),
        spec("web", "http://127.0.0.1:3002/mcp", ""),
    ];
    let states = states(vec![
        ("docs", ready(vec![first])),
        ("web", ready(vec![second, tool("fetch")])),
    ]);
    let composite = compose(&settings(), &specs, &states, Clusters::Unnamed);

    assert_eq!(
        composite.issues,
        [BuildIssue::NameConflict {
            entry: Entry::Tool,
            name: "search".to_owned(),
            kept: "docs".to_owned(),
            dropped: "web".to_owned(),
        }]
    );
    assert_eq!(exposed_names(&composite), ["search", "fetch"]);
    assert!(composite.list(Entry::Tool).definitions[0].contains("from docs"));
    assert_eq!(route(&composite, "web").tools, ["fetch"]);
}

#[test]
fn local_envoy_clusters_are_one_per_server() {
    let specs = [
        spec("plain", "http://plain.example/mcp", "plain_"),
        spec("tls", "https://tls.example/mcp", "tls_"),
    ];
    let local = compose(&settings(), &specs, &HashMap::new(), Clusters::LocalEnvoy);
    assert_eq!(
        route(&local, "plain").cluster.as_deref(),
        Some("mcp_upstream_plain")
    );
    assert_eq!(
        route(&local, "tls").cluster.as_deref(),
        Some("mcp_upstream_tls")
    );

    let unnamed = compose(&settings(), &specs, &HashMap::new(), Clusters::Unnamed);
    assert!(
        unnamed
            .route_table
            .servers
            .iter()
            .all(|r| r.cluster.is_none()),
        "Istio routes on :authority, without cluster names"
    );
}

#[test]
fn authorities_always_carry_a_port_and_paths_keep_their_query() {
    let specs = [
        spec("a", "http://a.example/mcp", "a_"),
        spec("b", "https://b.example/mcp?tenant=7", "b_"),
        spec("c", "http://127.0.0.1:3001/", "c_"),
        spec("d", "http://[::1]:3002/mcp", "d_"),
        spec("e", "https://e.example:8443/mcp", "e_"),
    ];
    let composite = compose(&settings(), &specs, &HashMap::new(), Clusters::Unnamed);
    let routes: Vec<(&str, &str)> = composite
        .route_table
        .servers
        .iter()
        .map(|r| (r.authority.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("a.example:80", "/mcp"),
            ("b.example:443", "/mcp?tenant=7"),
            ("127.0.0.1:3001", "/"),
            ("[::1]:3002", "/mcp"),
            ("e.example:8443", "/mcp"),
        ]
    );
}

#[test]
fn publish_signals_a_change_only_when_health_or_tools_change() {
    let catalog = Catalog::new(settings());
    let mut changes = catalog.subscribe_changes();
    assert!(!changes.has_changed().expect("catalog alive"));

    catalog.publish("weather", ready(vec![tool("forecast")]));
    assert!(changes.has_changed().expect("catalog alive"), "first state");
    changes.borrow_and_update();

    // A re-list that found the same tools (only the timestamp differs).
    catalog.publish("weather", ready(vec![tool("forecast")]));
    assert!(
        !changes.has_changed().expect("catalog alive"),
        "an identical re-list is not a change"
    );

    catalog.publish("weather", ready(vec![tool("forecast"), tool("alerts")]));
    assert!(
        changes.has_changed().expect("catalog alive"),
        "tools changed"
    );
    changes.borrow_and_update();

    catalog.publish("weather", down("gone"));
    assert!(
        changes.has_changed().expect("catalog alive"),
        "health changed"
    );
    changes.borrow_and_update();

    catalog.publish("files", UpstreamState::connecting());
    assert!(
        changes.has_changed().expect("catalog alive"),
        "a server's first state is a change"
    );
}

#[test]
fn recompose_reports_and_announces_only_changes_of_the_exposed_list() {
    let catalog = Catalog::new(settings());
    let mut announcements = catalog.subscribe_lists_changed();
    let tools_only = PerEntry {
        tool: true,
        ..PerEntry::default()
    };
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    let recompose = || catalog.recompose(&settings(), &specs, Clusters::Unnamed);

    let (composite, changed) = recompose();
    assert!(!changed.any(), "nothing discovered yet: still no tools");
    assert!(composite.list(Entry::Tool).definitions.is_empty());
    assert_eq!(
        composite.route_table.servers.len(),
        1,
        "the connecting server is routed"
    );
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));

    catalog.publish("weather", ready(vec![tool("forecast")]));
    let (composite, changed) = recompose();
    assert_eq!(changed, tools_only);
    assert_eq!(exposed_names(&composite), ["weather_forecast"]);
    assert_eq!(announcements.try_recv(), Ok(tools_only));
    assert_eq!(
        exposed_names(&catalog.current()),
        ["weather_forecast"],
        "current() serves the new composite"
    );

    let (_, changed) = recompose();
    assert!(!changed.any(), "same list again");
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));

    catalog.publish("weather", down("timed out"));
    let (composite, changed) = recompose();
    assert_eq!(
        changed, tools_only,
        "the down server's tools were withdrawn"
    );
    assert!(composite.list(Entry::Tool).definitions.is_empty());
    assert_eq!(announcements.try_recv(), Ok(tools_only));
}

#[test]
fn retain_forgets_servers_that_are_no_longer_configured() {
    let catalog = Catalog::new(settings());
    catalog.publish("weather", ready(vec![tool("forecast")]));
    catalog.publish("files", ready(vec![tool("read")]));
    let changes = catalog.subscribe_changes();

    catalog.retain(&["files"]);
    assert!(changes.has_changed().expect("catalog alive"));
    // Were "weather" configured again, it would start over as connecting.
    let specs = [
        spec("weather", "http://127.0.0.1:3001/mcp", "weather_"),
        spec("files", "http://127.0.0.1:3002/mcp", ""),
    ];
    let (composite, _) = catalog.recompose(&settings(), &specs, Clusters::Unnamed);
    assert_eq!(exposed_names(&composite), ["read"]);
    assert_eq!(composite.servers[0].health, Health::Connecting);
}

#[test]
fn a_change_is_announced_once_a_proxy_routes_with_its_table() {
    let catalog = Catalog::new(settings());
    let mut announcements = catalog.subscribe_lists_changed();
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    catalog.publish("weather", ready(vec![tool("forecast")]));
    let next = catalog.compose_current(&settings(), &specs, Clusters::Unnamed);
    let id = next.route_table.id.clone();
    assert!(catalog.install(next, false).tool);
    assert_eq!(
        announcements.try_recv(),
        Err(TryRecvError::Empty),
        "not yet: no proxy has the table"
    );
    catalog.table_in_use("some older table");
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));
    catalog.table_in_use(&id);
    assert!(announcements.try_recv().expect("announced").tool);
    catalog.table_in_use(&id);
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty), "once");
}

#[test]
fn lists_answer_from_the_table_the_asking_proxy_routes_with() {
    let catalog = Catalog::new(settings());
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    catalog.publish("weather", ready(vec![tool("forecast")]));
    let (old, _) = catalog.recompose(&settings(), &specs, Clusters::Unnamed);
    catalog.publish("weather", ready(vec![tool("forecast"), tool("alerts")]));
    let (new, _) = catalog.recompose(&settings(), &specs, Clusters::Unnamed);
    assert_ne!(old.route_table.id, new.route_table.id);
    assert_eq!(
        exposed_names(&catalog.for_table(Some(&old.route_table.id))),
        ["weather_forecast"]
    );
    assert_eq!(
        exposed_names(&catalog.for_table(Some(&new.route_table.id))),
        ["weather_forecast", "weather_alerts"]
    );
    // No id, or one too old to know: the current catalogue.
    assert_eq!(exposed_names(&catalog.for_table(None)).len(), 2);
    assert_eq!(exposed_names(&catalog.for_table(Some("unknown"))).len(), 2);
}
