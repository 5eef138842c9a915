//! Controller tests against kube's mocked client (`tower_test`), as
//! kube-rs's `controller-rs` does: each test scripts the API calls it
//! expects, in order, and fails on any other call or a call that never
//! comes.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;

use super::{Context, FINALIZER, RunConfig, reconcile, status};
use crate::crd::{MCPGatewayExtension, MCPServerRegistration};
use crate::discovery::{BrokerAddress, BrokerStatus, StatusSource};
use crate::plan::Settings;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A broker that is never reachable: the tests here stop before discovery.
#[derive(Debug)]
struct NoBroker;

impl StatusSource for NoBroker {
    fn fetch<'a>(
        &'a self,
        _broker: &'a BrokerAddress,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<BrokerStatus, String>> + Send + 'a>> {
        Box::pin(async { Err("no broker in this test".to_owned()) })
    }
}

fn context() -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let config = RunConfig {
        settings: Settings::default(),
        discovery_interval: Duration::from_secs(30),
        status_source: Arc::new(NoBroker),
    };
    (Arc::new(Context::new(client, config)), handle)
}

/// One expected API call and the answer to give.
struct Call {
    method: &'static str,
    path: String,
    status: StatusCode,
    response: serde_json::Value,
}

fn call(method: &'static str, path: &str, response: serde_json::Value) -> Call {
    Call {
        method,
        path: path.to_owned(),
        status: StatusCode::OK,
        response,
    }
}

fn not_found(method: &'static str, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        status: StatusCode::NOT_FOUND,
        response: serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "not found", "reason": "NotFound", "code": 404
        }),
    }
}

fn list(items: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": items })
}

/// Answers `calls` in order; returns the request bodies.
fn expect(mut handle: Handle, calls: Vec<Call>) -> tokio::task::JoinHandle<Vec<serde_json::Value>> {
    tokio::spawn(async move {
        let mut bodies = Vec::new();
        for expected in calls {
            let (request, send) =
                tokio::time::timeout(Duration::from_secs(2), handle.next_request())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "timed out waiting for {} {}",
                            expected.method, expected.path
                        )
                    })
                    .expect("the client hung up");
            assert_eq!(
                (request.method().as_str(), request.uri().path()),
                (expected.method, expected.path.as_str()),
                "unexpected call"
            );
            let bytes = request
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            bodies.push(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null));
            let response = Response::builder()
                .status(expected.status)
                .body(Body::from(
                    serde_json::to_vec(&expected.response).expect("json"),
                ))
                .expect("response");
            send.send_response(response);
        }
        bodies
    })
}

fn extension(extra_metadata: serde_json::Value) -> MCPGatewayExtension {
    let mut value = serde_json::json!({
        "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPGatewayExtension",
        "metadata": { "name": "mcp", "namespace": "mcp-system", "uid": "u-1", "generation": 1, "resourceVersion": "1" },
        "spec": { "targetRef": { "name": "gw", "namespace": "gateway-system", "sectionName": "mcp" } }
    });
    if let (Some(meta), Some(extra)) = (
        value["metadata"].as_object_mut(),
        extra_metadata.as_object(),
    ) {
        meta.extend(extra.clone());
    }
    serde_json::from_value(value).expect("extension")
}

const EXTENSION: &str =
    "/apis/mcp.wasm-gateway.io/v1alpha1/namespaces/mcp-system/mcpgatewayextensions/mcp";

#[tokio::test]
async fn an_extension_gets_the_cleanup_finalizer_before_anything_else() {
    let (ctx, handle) = context();
    let with_finalizer =
        serde_json::to_value(extension(serde_json::json!({ "finalizers": [FINALIZER] })))
            .expect("json");
    let api = expect(handle, vec![call("PATCH", EXTENSION, with_finalizer)]);

    let action = reconcile(Arc::new(extension(serde_json::json!({}))), ctx)
        .await
        .expect("reconcile");

    assert_eq!(action, Action::await_change());
    let bodies = api.await.expect("api");
    assert!(
        bodies[0].to_string().contains(FINALIZER),
        "the patch adds the finalizer: {}",
        bodies[0]
    );
}

#[tokio::test]
async fn a_deleted_extension_removes_what_it_deployed_then_its_finalizer() {
    let (ctx, handle) = context();
    let deleting = extension(serde_json::json!({
        "finalizers": [FINALIZER], "deletionTimestamp": "2026-01-01T00:00:00Z"
    }));
    let gone = serde_json::to_value(extension(serde_json::json!({}))).expect("json");
    let ok = serde_json::json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" });
    let filter = "mcp-router-mcp-system-mcp";
    let api = expect(
        handle,
        vec![
            // Absent objects count as deleted.
            not_found(
                "DELETE",
                &format!(
                    "/apis/extensions.istio.io/v1alpha1/namespaces/gateway-system/wasmplugins/{filter}"
                ),
            ),
            call(
                "DELETE",
                &format!(
                    "/apis/networking.istio.io/v1alpha3/namespaces/gateway-system/envoyfilters/{filter}"
                ),
                ok.clone(),
            ),
            call(
                "DELETE",
                &format!(
                    "/apis/security.istio.io/v1/namespaces/gateway-system/authorizationpolicies/{filter}"
                ),
                ok.clone(),
            ),
            call(
                "DELETE",
                "/apis/gateway.networking.k8s.io/v1/namespaces/mcp-system/httproutes/mcp-mcp",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/apis/security.istio.io/v1/namespaces/mcp-system/authorizationpolicies/mcp-broker",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/apis/security.istio.io/v1/namespaces/mcp-system/peerauthentications/mcp-broker",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/apis/apps/v1/namespaces/mcp-system/deployments/mcp-broker",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/api/v1/namespaces/mcp-system/services/mcp-broker",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/api/v1/namespaces/mcp-system/serviceaccounts/mcp-broker",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/api/v1/namespaces/mcp-system/secrets/mcp-broker-config",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/api/v1/namespaces/mcp-system/secrets/mcp-broker-credentials",
                ok.clone(),
            ),
            call(
                "DELETE",
                "/api/v1/namespaces/mcp-system/secrets/mcp-broker-session",
                ok,
            ),
            call("PATCH", EXTENSION, gone),
        ],
    );

    reconcile(Arc::new(deleting), ctx).await.expect("reconcile");

    let bodies = api.await.expect("api");
    let last = bodies.last().expect("finalizer patch").to_string();
    assert!(
        last.contains("remove") || last.contains("finalizers"),
        "the last call drops the finalizer: {last}"
    );
}

#[tokio::test]
async fn a_registration_no_extension_serves_says_which_gateway_it_waits_for() {
    let (ctx, handle) = context();
    let registration: MCPServerRegistration = serde_json::from_value(serde_json::json!({
        "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPServerRegistration",
        "metadata": { "name": "weather", "namespace": "team-a", "uid": "u-2", "generation": 3 },
        "spec": { "targetRef": { "name": "weather" }, "prefix": "weather_" }
    }))
    .expect("registration");
    let route = serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": "weather", "namespace": "team-a" },
        "spec": {
            "parentRefs": [{ "name": "public", "namespace": "edge", "sectionName": "mcp" }],
            "hostnames": ["weather.internal"],
            "rules": [{ "backendRefs": [{ "name": "weather", "port": 8080 }] }]
        }
    });
    let event = serde_json::json!({ "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": { "name": "e" }, "eventTime": null });
    let api = expect(
        handle,
        vec![
            call(
                "GET",
                "/apis/mcp.wasm-gateway.io/v1alpha1/mcpserverregistrations",
                list(serde_json::json!([registration])),
            ),
            call(
                "GET",
                "/apis/mcp.wasm-gateway.io/v1alpha1/mcpgatewayextensions",
                list(serde_json::json!([])),
            ),
            call(
                "GET",
                "/apis/mcp.wasm-gateway.io/v1alpha1/mcpvirtualservers",
                list(serde_json::json!([])),
            ),
            call(
                "GET",
                "/apis/gateway.networking.k8s.io/v1/httproutes",
                list(serde_json::json!([route])),
            ),
            call(
                "GET",
                "/apis/gateway.networking.k8s.io/v1/gateways",
                list(serde_json::json!([])),
            ),
            // No ReferenceGrant CRD installed: no grants.
            not_found(
                "GET",
                "/apis/gateway.networking.k8s.io/v1beta1/referencegrants",
            ),
            not_found("GET", "/api/v1/namespaces/team-a/services/weather"),
            call(
                "PATCH",
                "/apis/mcp.wasm-gateway.io/v1alpha1/namespaces/team-a/mcpserverregistrations/weather/status",
                serde_json::to_value(&registration).expect("json"),
            ),
            call(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/team-a/events",
                event,
            ),
        ],
    );

    status::reconcile_registration(Arc::new(registration), ctx)
        .await
        .expect("reconcile");

    let bodies = api.await.expect("api");
    let written = &bodies[7]["status"];
    assert_eq!(written["conditions"][0]["status"], "False");
    assert_eq!(written["conditions"][0]["reason"], "NotReady");
    assert_eq!(written["observedGeneration"], 3);
    assert_eq!(written["serverName"], "team-a.weather");
    let message = written["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("edge/public listener mcp"), "{message}");
    assert_eq!(bodies[8]["reason"], "NotReady");
    assert_eq!(bodies[8]["type"], "Warning");
}
