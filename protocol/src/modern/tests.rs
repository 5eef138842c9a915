use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn head<'h>(version: &'h str, method: &'h str, name: Option<&'h str>) -> ModernHead<'h> {
    ModernHead {
        version: Some(version),
        method: Some(method),
        name,
    }
}

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn call(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{{params}}}}}"#)
}

#[test]
fn header_values_decode_from_the_base64_form_and_encode_back() {
    assert_eq!(
        decode_header_value("get_weather").as_deref(),
        Some("get_weather")
    );
    // The specification's examples.
    assert_eq!(
        decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
        Some("Hello, 世界")
    );
    assert_eq!(
        encode_header_value("Hello, 世界"),
        "=?base64?SGVsbG8sIOS4lueVjA==?="
    );
    assert_eq!(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
    assert_eq!(
        encode_header_value("=?base64?literal?="),
        "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
    );
    assert_eq!(encode_header_value("file:///a b.txt"), "file:///a b.txt");
    // Bad base64, non-canonical padding bits, bytes that are not UTF-8.
    assert_eq!(decode_header_value("=?base64?!!?="), None);
    assert_eq!(
        decode_header_value("=?base64?SGk=?=").as_deref(),
        Some("Hi")
    );
    assert_eq!(decode_header_value("=?base64?SGl=?="), None);
    assert_eq!(decode_header_value("=?base64?/w==?="), None);
}

#[test]
fn headers_alone_name_the_version_method_and_target() {
    let checked = check_headers(&head(
        "2026-07-28",
        "tools/call",
        Some("=?base64?d2VhdGhlcl9nZXQ=?="),
    ))
    .expect("valid");
    assert_eq!(checked.name.as_deref(), Some("weather_get"));
    assert_eq!(
        check_headers(&head("2026-07-28", "tools/list", None))
            .expect("no name needed")
            .name,
        None
    );
    let refused = |head: ModernHead<'_>| check_headers(&head).expect_err("refused");
    assert!(matches!(
        refused(head("2026-07-28", "tools/call", None)),
        Refusal::HeaderMismatch { .. }
    ));
    assert!(matches!(
        refused(head("2026-07-28", "resources/read", Some("=?base64?***?="))),
        Refusal::HeaderMismatch { .. }
    ));
    assert!(matches!(
        refused(ModernHead {
            method: None,
            ..head("2026-07-28", "", None)
        }),
        Refusal::HeaderMismatch { .. }
    ));
    let unsupported = refused(head("2099-01-01", "tools/list", None));
    let (status, error) = unsupported.status_and_error();
    assert_eq!((status, error.code.code()), (400, -32022));
    assert_eq!(
        error.data,
        Some(serde_json::json!({ "supported": versions::ALL, "requested": "2099-01-01" }))
    );
}

#[test]
fn the_body_must_agree_with_every_header() {
    let checked =
        check_headers(&head("2026-07-28", "tools/call", Some("weather_get"))).expect("valid");
    let agree = call("tools/call", &format!(r#""name":"weather_get",{META}"#));
    assert_eq!(
        check_body(&checked, &message::parse(agree.as_bytes()).expect("parses")),
        Ok(())
    );

    let mismatched = [
        call("tools/call", &format!(r#""name":"other",{META}"#)),
        call("prompts/get", &format!(r#""name":"weather_get",{META}"#)),
        call(
            "tools/call",
            r#""name":"weather_get","_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}}"#,
        ),
        call("tools/call", &format!(r#""name":7,{META}"#)),
    ];
    for body in mismatched {
        let message = message::parse(body.as_bytes()).expect("parses");
        assert!(
            matches!(
                check_body(&checked, &message),
                Err(Refusal::HeaderMismatch { .. })
            ),
            "{body}"
        );
    }
    let missing = [
        call("tools/call", r#""name":"weather_get""#),
        call(
            "tools/call",
            r#""name":"weather_get","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#,
        ),
        call("tools/call", r#""name":"weather_get","_meta":[1]"#),
    ];
    for body in missing {
        let message = message::parse(body.as_bytes()).expect("parses");
        let refusal = check_body(&checked, &message).expect_err("refused");
        assert!(
            matches!(refusal, Refusal::MissingRequestMeta { .. }),
            "{body}"
        );
        assert_eq!(refusal.status(), 400);
        assert_eq!(refusal.error().code.code(), -32602);
    }
}

#[test]
fn refusals_in_the_stateless_era_carry_the_status_their_code_implies() {
    let unknown = Refusal::UnknownTool { name: "x".into() };
    assert_eq!(unknown.status_and_error_in(versions::Era::Handshake).0, 200);
    assert_eq!(unknown.status_and_error_in(versions::Era::Modern).0, 400);
    let (status, error) = Refusal::UnknownResource {
        uri: "x://y".into(),
    }
    .status_and_error_in(versions::Era::Modern);
    assert_eq!((status, error.code.code()), (400, -32602));
    let (status, _) =
        Refusal::MethodNotFound { method: "m".into() }.status_and_error_in(versions::Era::Modern);
    assert_eq!(status, 404);
}
