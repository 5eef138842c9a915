//! Who may call what, on real Envoy (`jwt_authn`) with real ES256 JWTs the
//! test signs, the real `mcp_router.wasm`, the broker and two upstreams:
//! the 401 challenge and the RFC 9728 metadata, identity-filtered lists
//! and calls, virtual servers by header and by path.

use e2e::client::RawSession;
use e2e::jwt::{ISSUER, Issuer};
use e2e::{Stack, UpstreamKind};
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.test/mcp";
const METADATA_URL: &str = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp";

/// The stack, the issuer whose keys Envoy trusts, and the directory
/// holding its JWK Set.
async fn stack() -> (Stack, Issuer, tempfile::TempDir) {
    let issuer = Issuer::new("test-key");
    let keys = tempfile::tempdir().expect("a directory");
    let mut authentication = issuer.authentication(keys.path(), RESOURCE);
    authentication["resourceMetadata"]["scopesSupported"] = json!(["mcp:tools"]);
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .upstream("math", UpstreamKind::TestServer, "math_")
        .setting("authentication", authentication)
        .setting(
            "policy",
            json!({
                "rules": [
                    { "name": "admins", "groups": ["admins"], "allow": [{ "server": "*" }] },
                    { "name": "users", "groups": ["users"],
                      "allow": [{ "server": "echo", "tools": ["echo"], "prompts": ["greeting"] }] }
                ],
                "virtualServers": [{ "name": "team/echo-only", "tools": ["echo_echo", "math_add"] }]
            }),
        )
        .start()
        .await
        .expect("stack starts");
    (stack, issuer, keys)
}

/// A session of `token`'s bearer on `url`, initialized.
async fn open_session(url: &str, token: &str) -> RawSession {
    let mut session = RawSession::new(url).with_header("authorization", &format!("Bearer {token}"));
    let answer = session.initialize().await.expect("initialize");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    session
}

async fn names(session: &RawSession, method: &str, member: &str) -> Vec<String> {
    session
        .list_all(method, member)
        .await
        .iter()
        .map(|d| {
            let d: Value = serde_json::from_str(d.get()).expect("a definition");
            d["name"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

async fn call(session: &RawSession, tool: &str, arguments: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments } });
    session
        .post(body.to_string().as_bytes())
        .await
        .expect("call")
        .message()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn without_a_valid_token_the_answer_is_401_pointing_at_the_metadata() {
    let (stack, issuer, _keys) = stack().await;
    let mut anonymous = RawSession::new(&stack.gateway_url());
    let other_key = Issuer::new("test-key");
    let expired = issuer.token("ann", json!({ "exp": 1_000_000 }));
    let wrong_audience = issuer.token("ann", json!({ "aud": "someone-else" }));
    for (what, token) in [
        ("no token", None),
        (
            "another key's token",
            Some(other_key.token("ann", json!({}))),
        ),
        ("an expired token", Some(expired)),
    ] {
        let answer = match &token {
            None => anonymous.initialize().await.expect("answered"),
            Some(token) => {
                let mut session = RawSession::new(&stack.gateway_url())
                    .with_header("authorization", &format!("Bearer {token}"));
                session.initialize().await.expect("answered")
            }
        };
        assert_eq!(answer.status, 401, "{what}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(
                format!("Bearer resource_metadata=\"{METADATA_URL}\", scope=\"mcp:tools\"")
                    .as_str()
            ),
            "{what}"
        );
        let error = &answer.json()["error"];
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Unauthorized")),
            "{what}: {error}"
        );
    }
    // A token for another audience is refused too (jwt_authn: 403).
    let mut session = RawSession::new(&stack.gateway_url())
        .with_header("authorization", &format!("Bearer {wrong_audience}"));
    let answer = session.initialize().await.expect("answered");
    assert!(matches!(answer.status, 401 | 403), "{}", answer.status);

    // The metadata, at both well-known paths, without a token.
    let http = reqwest::Client::new();
    let base = stack.gateway_url().trim_end_matches("/mcp").to_owned();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let answer = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("metadata");
        assert_eq!(answer.status(), 200, "{path}");
        let document: Value = answer.json().await.expect("JSON");
        assert_eq!(
            document,
            json!({
                "resource": RESOURCE,
                "authorization_servers": [ISSUER],
                "scopes_supported": ["mcp:tools"],
                "bearer_methods_supported": ["header"],
            }),
            "{path}"
        );
    }
    let elsewhere = http
        .get(format!("{base}/.well-known/oauth-protected-resource/other"))
        .send()
        .await
        .expect("answered");
    assert_eq!(elsewhere.status(), 404);

    // The next request, with a good token, is served.
    let admin = open_session(
        &stack.gateway_url(),
        &issuer.token("root", json!({ "groups": ["admins"] })),
    )
    .await;
    let sum = call(&admin, "math_add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!(sum["result"]["content"][0]["text"], "5", "{sum}");
}

#[tokio::test]
async fn two_identities_see_different_lists_and_calls() {
    let (stack, issuer, _keys) = stack().await;
    let admin = open_session(
        &stack.gateway_url(),
        &issuer.token("root", json!({ "groups": ["admins"] })),
    )
    .await;
    let user = open_session(
        &stack.gateway_url(),
        &issuer.token("ann", json!({ "groups": ["users"] })),
    )
    .await;

    let every_tool = sorted(names(&admin, "tools/list", "tools").await);
    assert!(
        every_tool.contains(&"math_add".to_owned())
            && every_tool.contains(&"echo_whoami".to_owned()),
        "{every_tool:?}"
    );
    assert_eq!(names(&user, "tools/list", "tools").await, ["echo_echo"]);
    assert_eq!(
        sorted(names(&admin, "prompts/list", "prompts").await),
        ["echo_greeting", "math_greeting"]
    );
    assert_eq!(
        names(&user, "prompts/list", "prompts").await,
        ["echo_greeting"]
    );
    assert!(names(&user, "resources/list", "resources").await.is_empty());

    // The call the user may not make is refused before any upstream sees it.
    let refused = call(&user, "math_add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!(refused["id"], 9);
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "Forbidden: tool \"math_add\" is not allowed: no rule allows it to \"ann\""
    );
    let allowed = call(&admin, "math_add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!(allowed["result"]["content"][0]["text"], "5", "{allowed}");
    let echoed = call(&user, "echo_echo", json!({ "text": "hi" })).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");

    // Lists and calls agree for every tool either identity could name.
    for tool in &every_tool {
        let answer = call(&user, tool, json!({ "text": "x", "a": 1, "b": 1 })).await;
        let listed = tool == "echo_echo";
        assert_eq!(
            answer["error"]["code"] != -32003,
            listed,
            "{tool}: {answer}"
        );
    }

    // A client's own claims header is replaced by the verified one.
    let forged = base64_url(r#"{"sub":"root","groups":["admins"]}"#);
    let answer = user
        .post_with(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
            &[("x-jwt-payload", &forged), ("x-jwt-sub", "root")],
        )
        .await
        .expect("list");
    let tools = answer.message()["result"]["tools"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(tools, 1, "{}", answer.message_text());
}

#[tokio::test]
async fn a_virtual_server_by_header_or_by_path_shows_and_calls_only_its_members() {
    let (stack, issuer, _keys) = stack().await;
    let token = issuer.token("root", json!({ "groups": ["admins"] }));
    let by_path = format!("{}/team/echo-only", stack.gateway_url());
    let header = open_session(&stack.gateway_url(), &token)
        .await
        .with_header("x-mcp-virtualserver", "team/echo-only");
    let path = open_session(&by_path, &token).await;
    for (how, session) in [("header", &header), ("path", &path)] {
        assert_eq!(
            sorted(names(session, "tools/list", "tools").await),
            ["echo_echo", "math_add"],
            "{how}"
        );
        assert_eq!(
            sorted(names(session, "prompts/list", "prompts").await),
            ["echo_greeting", "math_greeting"],
            "{how}: a virtual server without prompts narrows none (Kuadrant's reading)"
        );
        let sum = call(session, "math_add", json!({ "a": 1, "b": 2 })).await;
        assert_eq!(sum["result"]["content"][0]["text"], "3", "{how}: {sum}");
        let refused = call(session, "echo_add", json!({ "a": 1, "b": 2 })).await;
        assert_eq!(
            refused["error"]["message"],
            "Forbidden: tool \"echo_add\" is not allowed: it is not in virtual server \"team/echo-only\"",
            "{how}"
        );
    }
    let unknown = RawSession::new(&format!("{}/team/nope", stack.gateway_url()))
        .with_header("authorization", &format!("Bearer {token}"))
        .post(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await
        .expect("answered");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], -32600);
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn kuadrants_signed_header_filters_lists_and_refuses_calls() {
    let keys = e2e::paths::repo_root().join("testdata/policy");
    let read = |name: &str| std::fs::read_to_string(keys.join(name)).expect("test key");
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .upstream("math", UpstreamKind::TestServer, "math_")
        .setting(
            "policy",
            json!({ "authorizedHeader": { "publicKey": read("authorized-signer.pub") } }),
        )
        .start()
        .await
        .expect("stack starts");
    let signer = read("authorized-signer.key");
    let wide = e2e::jwt::authorized_header(
        &signer,
        &json!({ "tools": { "echo": ["echo"], "math": ["add"] }, "prompts": { "math": ["greeting"] } }),
    );
    let narrow = e2e::jwt::authorized_header(&signer, &json!({ "tools": { "math": ["add"] } }));
    let session_with = |value: &str| {
        let url = stack.gateway_url();
        let value = value.to_owned();
        async move {
            let mut session = RawSession::new(&url).with_header("x-mcp-authorized", &value);
            session.initialize().await.expect("initialize");
            session
        }
    };
    let wide = session_with(&wide).await;
    let narrow = session_with(&narrow).await;
    assert_eq!(
        sorted(names(&wide, "tools/list", "tools").await),
        ["echo_echo", "math_add"]
    );
    assert_eq!(
        names(&wide, "prompts/list", "prompts").await,
        ["math_greeting"]
    );
    assert_eq!(names(&narrow, "tools/list", "tools").await, ["math_add"]);
    assert_eq!(
        sorted(names(&narrow, "prompts/list", "prompts").await),
        ["echo_greeting", "math_greeting"],
        "a kind the claim does not name is not restricted (Kuadrant's reading)"
    );
    let echoed = call(&wide, "echo_echo", json!({ "text": "hi" })).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");
    let refused = call(&narrow, "echo_echo", json!({ "text": "hi" })).await;
    assert_eq!(
        refused["error"]["message"],
        "Forbidden: tool \"echo_echo\" is not allowed: its x-mcp-authorized header does not include it"
    );

    // Signed by another key: refused outright; without the header: nothing.
    let forged = e2e::jwt::authorized_header(
        &read("other-signer.key"),
        &json!({ "tools": { "echo": ["echo"] } }),
    );
    let answer = session_with(&forged)
        .await
        .post(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"x"}}}"#)
        .await
        .expect("answered");
    assert_eq!(answer.status, 403, "{}", answer.message_text());
    assert!(answer.message_text().contains("signature does not verify"));
    let mut bare = RawSession::new(&stack.gateway_url());
    bare.initialize().await.expect("initialize");
    assert!(names(&bare, "tools/list", "tools").await.is_empty());
    let refused = call(&bare, "math_add", json!({ "a": 1, "b": 1 })).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("the request carries no x-mcp-authorized header")),
        "{refused}"
    );
}
