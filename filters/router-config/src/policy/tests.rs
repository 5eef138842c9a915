use base64::Engine;

use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn claims(json: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json)
        .into_bytes()
}

fn policy() -> Policy {
    serde_json::from_value(serde_json::json!({
        "rules": [
            { "name": "sre", "groups": ["sre"], "allow": [{ "server": "*" }] },
            { "name": "analysts", "groups": ["analysts"],
              "allow": [{ "server": "weather", "tools": ["forecast"], "resources": ["weather://public/"] }] },
            { "name": "reader", "scopes": ["mcp:read", "mcp:prompts"],
              "allow": [{ "server": "weather", "prompts": ["*"] }] },
            { "name": "bob", "subjects": ["bob"], "allow": [{ "server": "files", "tools": ["*"] }] }
        ],
        "virtualServers": [
            { "name": "team/forecasts", "tools": ["w_forecast"], "resources": ["weather://"] }
        ]
    }))
    .expect("a policy")
}

#[test]
fn claims_are_read_from_base64url_json_padded_or_not() {
    let value = claims(
        r#"{"sub":"alice","groups":["sre","ops"],"scope":"mcp:read mcp:prompts","scp":["x"]}"#,
    );
    let caller = Caller::from_claims_header(&value, "groups").expect("claims");
    assert_eq!(caller.subject.as_deref(), Some("alice"));
    assert_eq!(caller.groups, ["sre", "ops"]);
    assert_eq!(caller.scopes, ["mcp:read", "mcp:prompts", "x"]);
    let padded = base64::engine::general_purpose::URL_SAFE.encode(r#"{"sub":"a","team":"blue"}"#);
    let caller = Caller::from_claims_header(padded.as_bytes(), "team").expect("padded");
    assert_eq!(caller.groups, ["blue"]);
}

#[test]
fn claims_that_are_not_base64url_json_objects_are_refused() {
    for bad in [&b"not base64!"[..], &claims("[1,2]"), &claims("{"), b""] {
        let refusal = Caller::from_claims_header(bad, "groups").expect_err("refused");
        assert_eq!(refusal.label(), "invalid_identity", "{bad:?}");
    }
}

#[test]
fn without_rules_or_virtual_servers_everything_is_allowed() {
    let policy = Policy::default();
    assert!(!policy.is_active());
    let access = policy
        .access(None, Authorized::NotConfigured, None)
        .expect("access");
    assert!(access.allows("any", Entry::Tool, "t", "t"));
    assert!(access.allows("any", Entry::Resource, "file:///x", "file:///x"));
}

#[test]
fn rules_allow_the_union_of_what_the_matching_ones_grant() {
    let policy = policy();
    let analyst = Caller {
        subject: Some("ann".into()),
        groups: vec!["analysts".into()],
        scopes: vec!["mcp:read".into(), "mcp:prompts".into()],
    };
    let access = policy
        .access(Some(analyst), Authorized::NotConfigured, None)
        .expect("access");
    assert!(access.allows("weather", Entry::Tool, "forecast", "w_forecast"));
    assert!(!access.allows("weather", Entry::Tool, "alerts", "w_alerts"));
    assert!(
        access.allows("weather", Entry::Prompt, "any", "w_any"),
        "the scope rule"
    );
    assert!(access.allows("weather", Entry::Resource, "weather://public/today", ""));
    assert!(access.allows(
        "weather",
        Entry::ResourceTemplate,
        "weather://public/{city}",
        ""
    ));
    assert!(!access.allows("weather", Entry::Resource, "weather://private/x", ""));
    assert!(!access.allows("files", Entry::Tool, "read", "read"));

    let sre = Caller {
        groups: vec!["sre".into()],
        ..Caller::default()
    };
    let access = policy
        .access(Some(sre.clone()), Authorized::NotConfigured, None)
        .expect("access");
    assert!(access.allows("files", Entry::Tool, "read", "read"));
    assert!(access.allows("anything", Entry::Resource, "x://y", "x://y"));
}

#[test]
fn every_scope_of_a_rule_is_needed_and_subjects_match_exactly() {
    let policy = policy();
    let one_scope = Caller {
        scopes: vec!["mcp:read".into()],
        ..Caller::default()
    };
    let access = policy
        .access(Some(one_scope), Authorized::NotConfigured, None)
        .expect("access");
    assert!(!access.allows("weather", Entry::Prompt, "p", "w_p"));
    let bob = Caller {
        subject: Some("bob".into()),
        ..Caller::default()
    };
    let access = policy
        .access(Some(bob), Authorized::NotConfigured, None)
        .expect("access");
    assert!(access.allows("files", Entry::Tool, "write", "write"));
    assert!(
        !access.allows("files", Entry::Prompt, "p", "p"),
        "tools only"
    );
    let bobby = Caller {
        subject: Some("bobby".into()),
        ..Caller::default()
    };
    let access = policy
        .access(Some(bobby), Authorized::NotConfigured, None)
        .expect("access");
    assert!(!access.allows("files", Entry::Tool, "write", "write"));
}

#[test]
fn an_unidentified_caller_matches_only_rules_without_conditions() {
    let mut policy = policy();
    let access = policy
        .access(None, Authorized::NotConfigured, None)
        .expect("access");
    assert!(!access.allows("weather", Entry::Tool, "forecast", "w_forecast"));
    let refusal = access
        .check("weather", Entry::Tool, "forecast", "w_forecast")
        .expect_err("refused");
    assert_eq!(
        refusal.error().message,
        "Forbidden: tool \"w_forecast\" is not allowed: no rule allows it to an unidentified caller"
    );
    policy.rules.push(Rule {
        name: "everyone".into(),
        subjects: vec![],
        groups: vec![],
        scopes: vec![],
        allow: vec![Grant {
            server: "weather".into(),
            tools: Some(vec!["forecast".into()]),
            prompts: None,
            resources: None,
        }],
    });
    let access = policy
        .access(None, Authorized::NotConfigured, None)
        .expect("access");
    assert!(access.allows("weather", Entry::Tool, "forecast", "w_forecast"));
}

#[test]
fn a_virtual_server_narrows_by_exposed_name_and_rules_still_apply() {
    let policy = policy();
    let sre = Caller {
        groups: vec!["sre".into()],
        ..Caller::default()
    };
    let access = policy
        .access(
            Some(sre.clone()),
            Authorized::NotConfigured,
            Some("team/forecasts"),
        )
        .expect("access");
    assert!(access.allows("weather", Entry::Tool, "forecast", "w_forecast"));
    assert!(!access.allows("weather", Entry::Tool, "alerts", "w_alerts"));
    assert!(
        access.allows("weather", Entry::Prompt, "p", "w_p"),
        "prompts not narrowed"
    );
    assert!(access.allows("weather", Entry::Resource, "weather://x", "weather://x"));
    let refusal = access
        .check("weather", Entry::Tool, "alerts", "w_alerts")
        .expect_err("refused");
    assert_eq!(refusal.label(), "not_allowed");
    assert!(
        refusal
            .error()
            .message
            .contains("virtual server \"team/forecasts\"")
    );

    let nobody = Caller::default();
    let access = policy
        .access(
            Some(nobody),
            Authorized::NotConfigured,
            Some("team/forecasts"),
        )
        .expect("access");
    assert!(
        !access.allows("weather", Entry::Tool, "forecast", "w_forecast"),
        "a member the caller's rules do not allow"
    );
}

#[test]
fn an_unknown_virtual_server_is_refused() {
    let refusal = policy()
        .access(None, Authorized::NotConfigured, Some("nope"))
        .expect_err("refused");
    assert_eq!(refusal.status(), 404);
    assert_eq!(refusal.label(), "unknown_virtual_server");
}

#[test]
fn the_policy_round_trips_and_rejects_unknown_fields() {
    let policy = policy();
    let json = serde_json::to_string(&policy).expect("json");
    assert_eq!(serde_json::from_str::<Policy>(&json).expect("back"), policy);
    assert!(serde_json::from_str::<Policy>(r#"{"rulez":[]}"#).is_err());
}
