use super::*;
use router_config::resources::ResourceMatch;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn table(json: &str) -> RouteTable {
    RouteTable::new(RouterConfig::from_json(json.as_bytes()).expect("valid test table"))
}

const TABLE: &str = r#"{
    "broker": {"cluster": "broker", "authority": "broker"},
    "servers": [
        {"name": "plain", "authority": "p:1", "path": "/mcp", "tools": ["search", "a_b_x"],
         "resources": ["file:///readme", "mem://shared"]},
        {"name": "a", "prefix": "a_", "authority": "a:1", "path": "/mcp", "tools": ["one"],
         "prompts": ["greet"], "resources": ["mem://shared", "test://static/1"],
         "resourceTemplates": ["test://static/{id}", "bad{"]},
        {"name": "ab", "prefix": "a_b_", "authority": "ab:1", "path": "/mcp", "tools": ["two"],
         "resourceTemplates": ["test://{+any}"]}
    ]
}"#;

#[test]
fn exact_names_win_over_prefixes() {
    let t = table(TABLE);
    let r = t.lookup("a_b_x").expect("listed");
    assert_eq!(
        (r.server.name.as_str(), r.upstream_name, r.by_prefix),
        ("plain", "a_b_x", false)
    );
    let r = t.lookup("a_one").expect("listed");
    assert_eq!(
        (r.server.name.as_str(), r.upstream_name, r.by_prefix),
        ("a", "one", false)
    );
}

#[test]
fn unlisted_names_route_by_the_longest_prefix() {
    let t = table(TABLE);
    let r = t.lookup("a_b_new").expect("by prefix");
    assert_eq!(
        (r.server.name.as_str(), r.upstream_name, r.by_prefix),
        ("ab", "new", true)
    );
    let r = t.lookup("a_new").expect("by prefix");
    assert_eq!((r.server.name.as_str(), r.upstream_name), ("a", "new"));
    // The prefix alone names no tool.
    assert!(t.lookup("a_").is_none());
    assert!(t.lookup("missing").is_none());
    assert!(t.lookup("").is_none());
}

#[test]
fn prompts_route_like_tools_in_their_own_namespace() {
    let t = table(TABLE);
    let r = t.lookup_prompt("a_greet").expect("listed");
    assert_eq!(
        (r.server.name.as_str(), r.upstream_name, r.by_prefix),
        ("a", "greet", false)
    );
    // A tool name is not a prompt name; unprefixed servers route no
    // unlisted prompt.
    assert!(t.lookup_prompt("search").is_none());
    let r = t.lookup_prompt("a_b_other").expect("by prefix");
    assert_eq!((r.server.name.as_str(), r.upstream_name), ("ab", "other"));
}

#[test]
fn a_uri_goes_to_its_lister_then_a_matching_template_then_its_schemes_only_user() {
    let t = table(TABLE);
    let owner = |uri: &str| {
        t.lookup_resource(uri)
            .map(|r| (r.server.name.clone(), r.matched))
    };
    assert_eq!(
        owner("file:///readme"),
        Some(("plain".into(), ResourceMatch::Listed))
    );
    // Listed by two: the first listed keeps it.
    assert_eq!(
        owner("mem://shared"),
        Some(("plain".into(), ResourceMatch::Listed))
    );
    assert_eq!(
        owner("test://static/1"),
        Some(("a".into(), ResourceMatch::Listed))
    );
    // Matches the templates of "a" and "ab": the first in table order.
    assert_eq!(
        owner("test://static/7"),
        Some(("a".into(), ResourceMatch::Template))
    );
    assert_eq!(
        owner("test://dynamic/7/x"),
        Some(("ab".into(), ResourceMatch::Template))
    );
    // `file` is used by "plain" alone; `mem` by two servers.
    assert_eq!(
        owner("file:///tmp/written.txt"),
        Some(("plain".into(), ResourceMatch::Scheme))
    );
    assert_eq!(owner("mem://other"), None);
    assert_eq!(owner("unknown://x"), None);
    assert_eq!(owner("no scheme"), None);
    assert_eq!(owner(""), None);
}

#[test]
fn a_completion_reference_may_name_a_template_as_listed() {
    let t = table(TABLE);
    let r = t
        .lookup_resource_reference("test://static/{id}")
        .expect("a template");
    assert_eq!(r.server.name, "a");
    let r = t
        .lookup_resource_reference("file:///readme")
        .expect("a resource");
    assert_eq!(
        (r.server.name.as_str(), r.matched),
        ("plain", ResourceMatch::Listed)
    );
    assert_eq!(t.server_index("ab"), Some(2));
}
