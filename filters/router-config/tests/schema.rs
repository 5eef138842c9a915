//! The committed JSON Schema must match the Rust types. Regenerate with
//! `UPDATE_SCHEMA=1 cargo test -p router-config --test schema` (or `just schema`).

use router_config::{ParseError, RouterConfig};

const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/router-config.schema.json");

#[test]
fn committed_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&RouterConfig::json_schema())
        .expect("schema serialises")
        + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_PATH, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "router-config.schema.json is stale: run `just schema` and commit the result"
    );
}

#[test]
fn minimal_table_gets_defaults_and_unknown_versions_are_refused() {
    let config = RouterConfig::from_json(br#"{"broker":{"cluster":"b","authority":"b"}}"#)
        .expect("minimal table parses");
    assert_eq!(config.mcp_path, "/mcp");
    assert_eq!(config.limits.max_request_body_bytes, 4 * 1024 * 1024);
    assert_eq!(config.broker.session_path, "/v1/upstream-sessions");
    assert!(config.servers.is_empty());

    let err = RouterConfig::from_json(br#"{"version":2,"broker":{"cluster":"b","authority":"b"}}"#)
        .expect_err("version 2 is unknown");
    assert!(matches!(
        err,
        ParseError::Version {
            found: 2,
            expected: 1
        }
    ));
    let err = RouterConfig::from_json(b"[]").expect_err("not an object");
    assert!(err.to_string().contains("not valid JSON for this schema"));
}
