//! The harness itself, against small hand-written modules (WAT): import
//! and ABI checks, status codes of the host functions, effective contexts
//! across an HTTP call, traps and endless loops, contract breaches, ticks,
//! shared queues across VMs.
//!
//! Probe modules report each host call's status as one letter: 'A' + the
//! status (A = OK, B = NOT_FOUND, C = BAD_ARGUMENT, G = INVALID_MEMORY_ACCESS,
//! H = EMPTY, I = CAS_MISMATCH, M = UNIMPLEMENTED), logged in one line.

use proxy_wasm_harness::{Error, Headers, Host, Request, Response};

/// Imports, allocator, reporting helpers shared by the probe modules.
const PRELUDE: &str = r#"
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $set_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_eff (param i32) (result i32)))
  (import "env" "proxy_done" (func $done (result i32)))
  (import "env" "proxy_define_metric" (func $def_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg_q (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $n (mut i32) (i32.const 0))
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  (func $r (param $status i32)
    (i32.store8 (i32.add (i32.const 1024) (global.get $n)) (i32.add (i32.const 65) (local.get $status)))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))
  (func $flush
    (drop (call $log (i32.const 2) (i32.const 1024) (global.get $n)))
    (global.set $n (i32.const 0)))
  (data (i32.const 256) "x-a")
  (data (i32.const 272) "key")
  (data (i32.const 288) "q")
  (data (i32.const 300) "cluster")
  (data (i32.const 320) "a\r\nb")
  (data (i32.const 400) "\03\00\00\00\07\00\00\00\04\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\01\00\00\00:method\00POST\00:path\00/\00:authority\00a\00")
"#;

fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PRELUDE} {body})")).expect("valid WAT")
}

fn host(body: &str) -> Host {
    Host::from_bytes(&module(body)).unwrap_or_else(|e| panic!("{e}"))
}

/// The report lines the module logged, in order.
fn reports(logs: &[proxy_wasm_harness::LogEntry]) -> Vec<String> {
    logs.iter().map(|l| l.message.clone()).collect()
}

const PROBE: &str = r#"
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (call $r (call $get_buf (i32.const 7) (i32.const 0) (local.get 1) (i32.const 16) (i32.const 20)))
    (call $r (call $tick_period (i32.const 10)))
    (call $flush)
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (call $r (i32.const 0))
    (call $flush))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (call $r (call $get_hv (i32.const 0) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_hv (i32.const 0) (i32.const 256) (i32.const 3) (i32.const 70000) (i32.const 20)))
    (call $r (call $get_hv (i32.const 0) (i32.const 70000) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_hv (i32.const 9) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_hv (i32.const 2) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_hv (i32.const 0) (i32.const 272) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_buf (i32.const 0) (i32.const 0) (i32.const 10) (i32.const 16) (i32.const 20)))
    (call $r (call $get_buf (i32.const 7) (i32.const 0) (i32.const 10) (i32.const 16) (i32.const 20)))
    (call $r (call $set_eff (i32.const 999)))
    (call $r (call $done))
    (call $r (call $def_metric (i32.const 7) (i32.const 272) (i32.const 3) (i32.const 28)))
    (call $r (call $get_sd (i32.const 272) (i32.const 3) (i32.const 16) (i32.const 20) (i32.const 24)))
    (call $r (call $set_sd (i32.const 272) (i32.const 3) (i32.const 256) (i32.const 3) (i32.const 0)))
    (call $r (call $set_sd (i32.const 272) (i32.const 3) (i32.const 256) (i32.const 3) (i32.const 12345)))
    (call $r (call $reg_q (i32.const 288) (i32.const 1) (i32.const 28)))
    (call $r (call $deq (i32.load (i32.const 28)) (i32.const 16) (i32.const 20)))
    (call $r (call $deq (i32.const 999) (i32.const 16) (i32.const 20)))
    (call $r (call $http_call (i32.const 272) (i32.const 3) (i32.const 400) (i32.const 62)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 28)))
    (call $r (call $http_call (i32.const 300) (i32.const 7) (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 28)))
    (call $r (call $continue (i32.const 7)))
    (call $r (call $continue (i32.const 2)))
    (call $flush)
    (i32.const 1))
  (func (export "proxy_on_request_body") (param $ctx i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $ctx))
    (call $r (call $get_buf (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 16) (i32.const 20)))
    (call $r (call $http_call (i32.const 300) (i32.const 7) (i32.const 400) (i32.const 62)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 28)))
    (call $flush)
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (call $r (call $get_hv (i32.const 0) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $set_eff (global.get $stream)))
    (call $r (call $get_hv (i32.const 0) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_hv (i32.const 6) (i32.const 256) (i32.const 3) (i32.const 16) (i32.const 20)))
    (call $r (call $get_buf (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 16) (i32.const 20)))
    (call $r (call $continue (i32.const 0)))
    (call $flush))
  (func (export "proxy_on_queue_ready") (param i32 i32)
    (call $r (call $deq (local.get 1) (i32.const 16) (i32.const 20)))
    (call $flush))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
"#;

#[test]
fn host_functions_answer_with_the_spec_status_codes() {
    let host = host(PROBE);
    let gateway = host
        .gateway()
        .plugin_config("config")
        .cluster("cluster")
        .start()
        .expect("starts");
    assert_eq!(reports(&gateway.vm(0).logs()), vec!["AA"], "on_configure");
    let stream = gateway
        .send(&Request::post("/").header("x-a", "1").body("hello"))
        .expect("runs");
    let logs = reports(&gateway.vm(0).logs());
    // headers: found, bad out pointer, bad key pointer, unknown map,
    // response headers not yet there, missing key, no body yet, plugin
    // config outside on_configure, unknown context, proxy_done unasked,
    // bad metric type, missing shared key, set, CAS mismatch, queue,
    // empty queue, unknown queue, unknown cluster, missing pseudo-headers,
    // bad stream type, TCP stream in HTTP.
    assert_eq!(logs[1], "AGGCCBBBCBCBAIAHBCCCM");
    // body: the whole body, call dispatched; the request is held.
    assert_eq!(logs[2], "AA");
    assert!(stream.request_held());
    let call = stream.expect_call_to("cluster");
    assert_eq!(call.header(":authority"), Some("a"));
    gateway
        .vm(0)
        .answer(call.token, &Response::ok().header("x-a", "2").body("reply"))
        .expect("answered");
    // call response: root context first (no request headers), then the
    // request's context after proxy_set_effective_context; resume.
    assert_eq!(reports(&gateway.vm(0).logs())[3], "CAAAAA");
    stream.expect_forwarded().expect_upstream_body("hello");
    stream.finish().expect("ends");
}

#[test]
fn ticks_and_queues_reach_the_right_vm() {
    let host = host(PROBE);
    let gateway = host
        .gateway()
        .plugin_config("c")
        .cluster("cluster")
        .workers(2)
        .start()
        .expect("starts");
    gateway
        .advance_time(std::time::Duration::from_millis(35))
        .expect("ticks");
    for vm in gateway.vms() {
        assert_eq!(vm.tick_period_ms(), 10);
        let ticks = reports(&vm.logs()).iter().filter(|l| *l == "A").count();
        assert_eq!(ticks, 3, "three 10 ms ticks in 35 ms on VM {}", vm.index());
    }
    // VM 0 registers the queue (in on_request_headers); an item enqueued
    // elsewhere is announced to VM 0 only, which dequeues it.
    gateway
        .vm(0)
        .send(&Request::get("/").header("x-a", "1"))
        .expect("runs");
    let queue = gateway
        .shared()
        .resolve_queue("harness", b"q")
        .expect("registered");
    assert_eq!(
        gateway.shared().enqueue(queue, b"item"),
        proxy_wasm_harness::Status::Ok
    );
    let before = (gateway.vm(0).logs().len(), gateway.vm(1).logs().len());
    gateway.deliver_queue_notifications().expect("delivered");
    assert_eq!(reports(&gateway.vm(0).logs()[before.0..]), vec!["A"]);
    assert_eq!(gateway.vm(1).logs().len(), before.1);
    assert_eq!(
        gateway.shared().dequeue(queue),
        Err(proxy_wasm_harness::Status::Empty)
    );
}

#[test]
fn a_trap_fails_the_call_with_the_module_log_and_kills_the_vm() {
    let host = host(
        r#"
        (data (i32.const 600) "about to fail")
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (drop (call $log (i32.const 4) (i32.const 600) (i32.const 13)))
          unreachable)"#,
    );
    let gateway = host.gateway().start().expect("starts");
    let error = gateway.send(&Request::get("/")).expect_err("traps");
    let text = error.to_string();
    assert!(matches!(error, Error::Trap { .. }), "{text}");
    assert!(text.contains("proxy_on_request_headers"), "{text}");
    assert!(text.contains("about to fail"), "the log is shown: {text}");
    assert!(gateway.vm(0).failure().is_some());
    assert!(matches!(
        gateway.send(&Request::get("/")),
        Err(Error::VmFailed { .. })
    ));
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let host = host(
        r#"
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (loop $forever (br $forever))
          (i32.const 0))"#,
    );
    let gateway = host
        .gateway()
        .fuel_per_callback(1_000_000)
        .start()
        .expect("starts");
    let error = gateway.send(&Request::get("/")).expect_err("stops");
    assert!(error.to_string().contains("ran out of fuel"), "{error}");
}

#[test]
fn contract_breaches_are_errors_naming_the_breach() {
    // Header injection, and a change to headers already forwarded.
    let host = host(
        r#"
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (i32.const 0))
        (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
          (drop (call $set_hv (i32.const 0) (i32.const 256) (i32.const 3) (i32.const 256) (i32.const 3)))
          (i32.const 0))
        (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
          (drop (call $set_hv (i32.const 2) (i32.const 256) (i32.const 3) (i32.const 320) (i32.const 4)))
          (i32.const 0))"#,
    );
    let gateway = host.gateway().start().expect("starts");
    let error = gateway
        .send(&Request::post("/").body("x"))
        .expect_err("late header change");
    assert!(
        error
            .to_string()
            .contains("after they were forwarded upstream"),
        "{error}"
    );
    let stream = gateway.vm(0).new_stream().expect("stream");
    stream
        .send_request_headers(
            Headers::from([(":method", "GET"), (":path", "/"), (":authority", "a")]),
            true,
        )
        .expect("headers pass");
    let error = stream
        .send_response_headers([(":status", "200")].into(), true)
        .expect_err("injection");
    assert!(error.to_string().contains("header injection"), "{error}");
    assert_eq!(gateway.vm(0).failure(), None, "a breach is not a crash");
}

#[test]
fn a_resume_without_a_pause_is_a_breach() {
    let host = host(
        r#"
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (drop (call $continue (i32.const 0)))
          (i32.const 0))"#,
    );
    let gateway = host.gateway().start().expect("starts");
    let error = gateway.send(&Request::get("/")).expect_err("breach");
    assert!(error.to_string().contains("was not paused"), "{error}");
}

#[test]
fn unknown_imports_and_foreign_abis_are_refused_by_name() {
    let unknown = wat::parse_str(
        r#"(module
          (import "env" "proxy_frobnicate" (func (param i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .expect("WAT");
    match Host::from_bytes(&unknown) {
        Err(Error::UnknownImport { module, name }) => {
            assert_eq!(
                (module.as_str(), name.as_str()),
                ("env", "proxy_frobnicate")
            );
        }
        other => panic!("expected UnknownImport, got {other:?}"),
    }
    let old_abi = wat::parse_str(
        r#"(module
          (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_1_0"))
          (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .expect("WAT");
    let error = Host::from_bytes(&old_abi).expect_err("refused");
    assert!(
        error.to_string().contains("proxy_abi_version_0_1_0"),
        "{error}"
    );
    assert!(matches!(
        Host::load("/nonexistent/mcp_router.wasm"),
        Err(Error::WasmMissing { .. })
    ));
}
