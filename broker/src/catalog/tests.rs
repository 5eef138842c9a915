use super::*;

use router_config::{BrokerRoute, Limits};
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
        },
        sessions: Default::default(),
        access: Default::default(),
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
    })
}

/// A minimal tool definition named `name`.
fn tool(name: &str) -> Value {
    json!({ "name": name, "inputSchema": { "type": "object" } })
}

fn objects(tools: Vec<Value>) -> Vec<serde_json::Map<String, Value>> {
    tools
        .into_iter()
        .map(|tool| match tool {
            Value::Object(map) => map,
            other => panic!("a tool definition is an object, not {other}"),
        })
        .collect()
}

fn ready(tools: Vec<Value>) -> UpstreamState {
    UpstreamState {
        health: Health::Ready,
        tools: objects(tools),
        protocol_version: Some("2025-06-18".to_owned()),
        server_info: Some(json!({ "name": "upstream", "version": "1" })),
        last_error: None,
        last_change: SystemTime::now(),
    }
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

fn exposed_names(composite: &Composite) -> Vec<&str> {
    composite
        .tools
        .iter()
        .map(|tool| tool["name"].as_str().expect("exposed tools have a name"))
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
    files.tools = objects(vec![tool("read")]);
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
fn exposed_definitions_keep_every_upstream_field_and_only_change_the_name() {
    let upstream = json!({
        "name": "forecast",
        "title": "Forecast",
        "description": "Weather for a city",
        "inputSchema": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] },
        "outputSchema": { "type": "object" },
        "annotations": { "readOnlyHint": true },
        "icons": [{ "src": "https://example.com/i.png" }],
        "_meta": { "vendor/x": 1 },
        "someFutureField": [1, 2, 3]
    });
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    let states = states(vec![("weather", ready(vec![upstream.clone()]))]);
    let composite = compose(&settings(), &specs, &states, Clusters::Unnamed);

    let mut expected = upstream;
    expected["name"] = json!("weather_forecast");
    assert_eq!(composite.tools, [expected.clone()]);
    // tools/list serves these bytes as they are.
    let served: serde_json::Value =
        serde_json::from_str(composite.tools_list_result.get()).expect("JSON");
    assert_eq!(served, json!({ "tools": [expected] }));
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
            name: "search".to_owned(),
            kept: "docs".to_owned(),
            dropped: "web".to_owned(),
        }]
    );
    assert_eq!(exposed_names(&composite), ["search", "fetch"]);
    assert_eq!(composite.tools[0]["description"], "from docs");
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
    let mut announcements = catalog.subscribe_tools_changed();
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    let recompose = || catalog.recompose(&settings(), &specs, Clusters::Unnamed);

    let (composite, changed) = recompose();
    assert!(!changed, "nothing discovered yet: still no tools");
    assert!(composite.tools.is_empty());
    assert_eq!(
        composite.route_table.servers.len(),
        1,
        "the connecting server is routed"
    );
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));

    catalog.publish("weather", ready(vec![tool("forecast")]));
    let (composite, changed) = recompose();
    assert!(changed);
    assert_eq!(exposed_names(&composite), ["weather_forecast"]);
    assert_eq!(announcements.try_recv(), Ok(()));
    assert_eq!(
        exposed_names(&catalog.current()),
        ["weather_forecast"],
        "current() serves the new composite"
    );

    let (_, changed) = recompose();
    assert!(!changed, "same list again");
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));

    catalog.publish("weather", down("timed out"));
    let (composite, changed) = recompose();
    assert!(changed, "the down server's tools were withdrawn");
    assert!(composite.tools.is_empty());
    assert_eq!(announcements.try_recv(), Ok(()));
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
    let mut announcements = catalog.subscribe_tools_changed();
    let specs = [spec("weather", "http://127.0.0.1:3001/mcp", "weather_")];
    catalog.publish("weather", ready(vec![tool("forecast")]));
    let next = catalog.compose_current(&settings(), &specs, Clusters::Unnamed);
    let id = next.route_table.id.clone();
    assert!(catalog.install(next, false));
    assert_eq!(
        announcements.try_recv(),
        Err(TryRecvError::Empty),
        "not yet: no proxy has the table"
    );
    catalog.table_in_use("some older table");
    assert_eq!(announcements.try_recv(), Err(TryRecvError::Empty));
    catalog.table_in_use(&id);
    assert_eq!(announcements.try_recv(), Ok(()));
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
