//! Route tables replaced at runtime, both ways a host can do it: Envoy's
//! (an ECDS update starts a new root context; in-flight requests finish on
//! the old one) and in place (`on_configure` again on the same root). A bad
//! table is refused with a clear log and the previous one stays in force.

use crate::common::*;
use mcp_protocol::headers;
use proxy_wasm_harness::{Callback, Error, Event, Gateway};

/// The fixture table with a fourth server and other limits and path.
fn new_table(mcp_path: &str, max_body: u32) -> Vec<u8> {
    let mut table = route_table_json();
    table["mcpPath"] = mcp_path.into();
    table["limits"]["maxRequestBodyBytes"] = max_body.into();
    table["servers"]
        .as_array_mut()
        .expect("servers")
        .push(serde_json::json!({
            "name": "calendar", "prefix": "cal_", "authority": "calendar.local",
            "path": "/mcp", "tools": ["list_events"]
        }));
    table.to_string().into_bytes()
}

const BAD_TABLES: &[(&str, &[u8])] = &[
    ("not JSON", b"{not json"),
    (
        "wrong schema version",
        br#"{"version": 2, "broker": {"cluster": "b", "authority": "b"}}"#,
    ),
    ("no broker", br#"{"servers": []}"#),
    (
        "servers not a list",
        br#"{"broker": {"cluster": "b", "authority": "b"}, "servers": 3}"#,
    ),
    ("empty", b""),
];

fn routes_calendar(gateway: &Gateway) -> bool {
    seed_session(gateway, "calendar", SESSION, &upstream_session("up-cal"));
    let routed: Vec<bool> = gateway
        .vms()
        .iter()
        .map(|vm| {
            let stream = vm.send(&tools_call(1, "cal_list_events")).expect("no trap");
            let routed = stream.local_response().is_none();
            stream.finish().expect("ends");
            routed
        })
        .collect();
    routed.iter().all(|r| *r)
}

#[test]
fn an_envoy_style_update_swaps_the_table_and_in_flight_requests_keep_theirs() {
    let gateway = session_api_gateway(2);
    assert!(!routes_calendar(&gateway), "unknown before the update");
    // A request waiting for the broker under the old table.
    let in_flight = gateway
        .vm(0)
        .send(&tools_call(2, "weather_get_alerts"))
        .expect("runs");
    let call = in_flight.expect_call_to(BROKER_CLUSTER);
    let old_root = gateway.vm(0).root_context();

    assert!(
        gateway
            .push_config(&new_table("/mcp", 4096))
            .expect("no trap")
    );
    assert_ne!(gateway.vm(0).root_context(), old_root);
    assert!(
        routes_calendar(&gateway),
        "the new table is in force on every VM"
    );

    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("up-1")))
        .expect("the old root's request resumes");
    in_flight.expect_routed_to("weather");
    in_flight.finish().expect("ends");
    // The old root context was retired once its last request ended.
    assert!(
        gateway.vm(0).events(old_root).iter().any(|e| matches!(
            e,
            Event::Returned {
                callback: Callback::Delete,
                ..
            }
        )),
        "the old root context is deleted"
    );
    assert_eq!(gateway.metric("mcp_router.config_loaded"), Some(4));
}

#[test]
fn a_bad_update_is_refused_and_the_previous_table_stays_in_force() {
    let gateway = gateway(2);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    for (label, table) in BAD_TABLES {
        let accepted = gateway.push_config(table).expect("no trap");
        assert!(!accepted, "{label}: must be refused");
        for vm in gateway.vms() {
            vm.send(&tools_call(3, "weather_get_alerts"))
                .expect("runs")
                .expect_routed_to("weather");
        }
    }
    let rejected: Vec<_> = gateway
        .logs()
        .into_iter()
        .filter(|l| l.level >= proxy_wasm_harness::LogLevel::Error)
        .filter(|l| {
            l.message.contains("configuration rejected")
                || l.message.contains("the route table is required")
        })
        .collect();
    assert_eq!(
        rejected.len(),
        BAD_TABLES.len() * 2,
        "one clear line per VM and update"
    );
    assert!(
        rejected
            .iter()
            .any(|l| l.message.contains("schema version 2")),
        "the log says why: {rejected:?}"
    );
}

#[test]
fn reconfiguring_in_place_swaps_or_keeps_the_table() {
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    for (label, table) in BAD_TABLES {
        assert!(!gateway.reconfigure(table).expect("no trap"), "{label}");
    }
    assert!(
        gateway
            .logs()
            .iter()
            .any(|l| l.message.contains("keeping the previous route table")),
        "the log says the old table stays"
    );
    gateway
        .send(&tools_call(4, "weather_get_alerts"))
        .expect("runs")
        .expect_routed_to("weather");
    assert!(
        gateway
            .reconfigure(&new_table("/v2/mcp", 1 << 20))
            .expect("no trap")
    );
    // The old path is no longer the MCP endpoint...
    gateway
        .send(&tools_call(5, "weather_get_alerts"))
        .expect("runs")
        .expect_untouched();
    // ...the new one is, with the new limit.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"weather_get_alerts","arguments":{{"pad":"{}"}}}}}}"#,
        "x".repeat(10_000)
    );
    gateway
        .send(
            &proxy_wasm_harness::Request::post("/v2/mcp")
                .header(headers::SESSION_ID, SESSION)
                .body(big),
        )
        .expect("runs")
        .expect_routed_to("weather");
}

#[test]
fn a_gateway_whose_first_table_is_bad_does_not_start() {
    for (label, table) in BAD_TABLES {
        let started = host()
            .gateway()
            .plugin_config(*table)
            .cluster(BROKER_CLUSTER)
            .start();
        match started {
            Err(Error::Refused { log, .. }) => assert!(
                log.0.iter().any(|l| {
                    l.message.contains("no route table in force")
                        || l.message.contains("the route table is required")
                }),
                "{label}: {log}"
            ),
            other => panic!("{label}: a bad first table must refuse to start, got {other:?}"),
        }
    }
}

#[test]
fn a_loaded_table_is_reported_to_the_broker_until_it_answers() {
    let mut table = route_table_json();
    table["id"] = serde_json::json!("table-7");
    let gateway = gateway_with(table.to_string().as_bytes(), 1);
    let vm = gateway.vm(0);
    assert!(
        vm.pending_calls().is_empty(),
        "nothing is sent while configuring"
    );
    vm.tick().expect("tick");
    let [report] = vm.pending_calls().try_into().expect("one report");
    assert_eq!(report.cluster, BROKER_CLUSTER);
    assert_eq!(report.header(":path"), Some("/v1/route-tables/loaded"));
    assert_eq!(report.json(), serde_json::json!({ "id": "table-7" }));
    // A failed report is sent again on the next tick; an answered one is not.
    vm.fail_call(report.token).expect("no trap");
    vm.tick().expect("tick");
    let [again] = vm.pending_calls().try_into().expect("reported again");
    vm.answer(again.token, &proxy_wasm_harness::Response::status(204))
        .expect("no trap");
    vm.tick().expect("tick");
    assert!(vm.pending_calls().is_empty(), "reported once it was heard");
    // The VM serves requests all along.
    gateway
        .send(&mcp_post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#))
        .expect("runs")
        .expect_to_broker(Some("ping"));
}
