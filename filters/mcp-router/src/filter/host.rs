//! Thin, non-panicking wrappers over the host calls the filter uses.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};

/// A response header as text; `None` if absent or not UTF-8 (the router
/// only reads headers whose valid values are ASCII).
pub fn response_header(name: &str) -> Option<String> {
    match hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

pub fn set_request_header(name: &str, value: Option<&str>) {
    log_failure(
        "set request header",
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value),
    );
}

pub fn set_response_header(name: &str, value: Option<&str>) {
    log_failure(
        "set response header",
        hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value),
    );
}

pub fn remove_request_header(name: &str) {
    log_failure(
        "remove request header",
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name),
    );
}

pub fn log_failure(what: &str, result: Result<(), Status>) {
    if let Err(status) = result {
        log::warn!("mcp-router: {what} failed: {status:?}");
    }
}

pub fn remove_response_header(name: &str) {
    log_failure(
        "remove response header",
        hostcalls::remove_map_value(MapType::HttpResponseHeaders, name),
    );
}

/// Sets the request's filter-state value `name` (Envoy: `wasm.<name>`,
/// which the access log reads as `%FILTER_STATE(wasm.<name>:PLAIN)%`).
pub fn set_audit_value(name: &str, value: &str) {
    log_failure(
        "set filter state",
        proxy_wasm::hostcalls::set_property(vec![name], Some(value.as_bytes())),
    );
}
