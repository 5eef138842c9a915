//! HTTP field maps: `proxy_{get,set}_header_map_pairs`,
//! `proxy_{get,replace,add,remove}_header_map_value`,
//! `proxy_get_header_map_size`.
//!
//! Envoy's rules: a map that is not available in the current context (the
//! request headers of a root context, response headers before they
//! arrived, HTTP call response headers outside `on_http_call_response`) is
//! `BAD_ARGUMENT`; a missing key is `NOT_FOUND`; removing a missing key is
//! `OK`. Changing headers after they left the filter, or writing a name or
//! value Envoy would refuse (CR, LF, NUL: header injection), is a violation
//! the driver reports.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::{MapType, Status};
use crate::headers::{self, Headers};
use crate::memory::{self, ReturnError};
use crate::pairs;
use crate::record::Event;
use crate::state::{HostState, HttpState};

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, HostState>, map: i32, ptr_ptr: i32, size_ptr: i32| {
            let result = map_type(map).and_then(|map| read_map(caller.data(), map));
            memory::finish(match result {
                Ok(map) => {
                    let encoded = pairs::encode(map.iter());
                    memory::return_bytes(&mut caller, &encoded, ptr_ptr, size_ptr)
                }
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    r.func(
        "env",
        "proxy_get_header_map_size",
        |mut caller: Caller<'_, HostState>, map: i32, size_ptr: i32| {
            let result = map_type(map).and_then(|map| read_map(caller.data(), map));
            status(result.and_then(|map| {
                let size = pairs::encode(map.iter()).len();
                memory::write_u32(&mut caller, size_ptr, size as u32)
            }))
        },
    )?;
    r.func(
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Caller<'_, HostState>, map: i32, ptr: i32, size: i32| {
            status((|| {
                let map = map_type(map)?;
                let bytes = memory::read(&caller, ptr, size)?;
                let state = caller.data_mut();
                let decoded = match pairs::decode(&bytes) {
                    Ok(decoded) => decoded,
                    Err(pairs::Malformed(why)) => {
                        state.violation(format!("malformed serialised map: {why}"));
                        return Err(Status::BadArgument);
                    }
                };
                let mut new = Headers::new();
                for (name, value) in &decoded {
                    check_field(state, name, value)?;
                    new.add(&String::from_utf8_lossy(name), value);
                }
                let event = Event::HeadersReplaced {
                    map,
                    headers: new.clone(),
                };
                edit_map(state, map, "set_header_map_pairs", |h| *h = new)?;
                state.record(event);
                Ok(())
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, HostState>,
         map: i32,
         key_ptr: i32,
         key_len: i32,
         ptr_ptr: i32,
         size_ptr: i32| {
            let value = (|| {
                let map = map_type(map)?;
                let key = memory::read_string(&caller, key_ptr, key_len)?;
                let headers = read_map(caller.data(), map)?;
                headers
                    .get(&key)
                    .map(<[u8]>::to_vec)
                    .ok_or(Status::NotFound)
            })();
            memory::finish(match value {
                Ok(value) => memory::return_bytes(&mut caller, &value, ptr_ptr, size_ptr),
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    r.func(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Caller<'_, HostState>,
         map: i32,
         key_ptr: i32,
         key_len: i32,
         value_ptr: i32,
         value_len: i32| {
            status(write_value(
                &mut caller,
                map,
                (key_ptr, key_len),
                (value_ptr, value_len),
                false,
            ))
        },
    )?;
    r.func(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Caller<'_, HostState>,
         map: i32,
         key_ptr: i32,
         key_len: i32,
         value_ptr: i32,
         value_len: i32| {
            status(write_value(
                &mut caller,
                map,
                (key_ptr, key_len),
                (value_ptr, value_len),
                true,
            ))
        },
    )?;
    r.func(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Caller<'_, HostState>, map: i32, key_ptr: i32, key_len: i32| {
            status((|| {
                let map = map_type(map)?;
                let key = memory::read_string(&caller, key_ptr, key_len)?;
                let state = caller.data_mut();
                edit_map(state, map, "remove_header_map_value", |h| h.remove(&key))?;
                state.record(Event::HeaderRemoved {
                    map,
                    name: key.to_ascii_lowercase(),
                });
                Ok(())
            })())
        },
    )?;
    Ok(())
}

fn map_type(raw: i32) -> Result<MapType, Status> {
    MapType::from_raw(raw).ok_or(Status::BadArgument)
}

fn write_value(
    caller: &mut Caller<'_, HostState>,
    map: i32,
    (key_ptr, key_len): (i32, i32),
    (value_ptr, value_len): (i32, i32),
    append: bool,
) -> Result<(), Status> {
    let map = map_type(map)?;
    let key = memory::read(caller, key_ptr, key_len)?;
    let value = memory::read(caller, value_ptr, value_len)?;
    let state = caller.data_mut();
    check_field(state, &key, &value)?;
    let name = String::from_utf8_lossy(&key).to_ascii_lowercase();
    let (what, event) = if append {
        (
            "add_header_map_value",
            Event::HeaderAdded {
                map,
                name: name.clone(),
                value: value.clone(),
            },
        )
    } else {
        (
            "replace_header_map_value",
            Event::HeaderReplaced {
                map,
                name: name.clone(),
                value: value.clone(),
            },
        )
    };
    edit_map(state, map, what, |h| {
        if append {
            h.add(&name, &value);
        } else {
            h.set(&name, &value);
        }
    })?;
    state.record(event);
    Ok(())
}

/// A name or value Envoy would refuse is a violation (and not applied).
fn check_field(state: &mut HostState, name: &[u8], value: &[u8]) -> Result<(), Status> {
    if !headers::is_valid_name(name) {
        state.violation(format!(
            "invalid header name {:?}",
            String::from_utf8_lossy(name)
        ));
        return Err(Status::BadArgument);
    }
    if !headers::is_valid_value(value) {
        state.violation(format!(
            "header injection: the value of {:?} holds CR, LF or NUL: {:?}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value)
        ));
        return Err(Status::BadArgument);
    }
    Ok(())
}

fn stream_of(state: &HostState) -> Option<&HttpState> {
    state
        .contexts
        .get(&state.effective)
        .filter(|c| !c.deleted)
        .and_then(|c| c.http.as_ref())
}

/// A copy of the map, if it is available to the effective context now.
pub(crate) fn read_map(state: &HostState, map: MapType) -> Result<Headers, Status> {
    let call = state.call_response.as_ref();
    match map {
        MapType::HttpCallResponseHeaders => call.map(|r| r.headers.clone()),
        MapType::HttpCallResponseTrailers => call.map(|r| r.trailers.clone()),
        MapType::GrpcReceiveInitialMetadata | MapType::GrpcReceiveTrailingMetadata => None,
        MapType::HttpRequestHeaders | MapType::HttpResponseHeaders => stream_of(state)
            .map(|http| flow(http, map))
            .filter(|f| f.headers_received)
            .map(|f| f.headers.clone()),
        MapType::HttpRequestTrailers | MapType::HttpResponseTrailers => {
            stream_of(state).and_then(|http| flow(http, map).trailers.clone())
        }
    }
    .ok_or(Status::BadArgument)
}

fn flow(http: &HttpState, map: MapType) -> &crate::state::Flow {
    match map {
        MapType::HttpRequestHeaders | MapType::HttpRequestTrailers => &http.request,
        _ => &http.response,
    }
}

/// Applies `change` to the map, if the effective context may change it.
fn edit_map(
    state: &mut HostState,
    map: MapType,
    what: &str,
    change: impl FnOnce(&mut Headers),
) -> Result<(), Status> {
    let effective = state.effective;
    let Some(http) = state
        .contexts
        .get_mut(&effective)
        .filter(|c| !c.deleted)
        .and_then(|c| c.http.as_mut())
    else {
        return Err(Status::BadArgument);
    };
    let (flow, side) = match map {
        MapType::HttpRequestHeaders | MapType::HttpRequestTrailers => {
            (&mut http.request, "upstream")
        }
        MapType::HttpResponseHeaders | MapType::HttpResponseTrailers => {
            (&mut http.response, "downstream")
        }
        _ => return Err(Status::BadArgument),
    };
    let is_headers = matches!(
        map,
        MapType::HttpRequestHeaders | MapType::HttpResponseHeaders
    );
    let (target, sent) = if is_headers {
        if !flow.headers_received {
            return Err(Status::BadArgument);
        }
        let sent = flow.headers_sent();
        (&mut flow.headers, sent)
    } else {
        let sent = flow.complete();
        match flow.trailers.as_mut() {
            Some(trailers) => (trailers, sent),
            None => return Err(Status::BadArgument),
        }
    };
    if sent {
        state.violation(format!(
            "{what} on {map:?} after they were forwarded {side}: the change is lost"
        ));
        return Ok(());
    }
    change(target);
    Ok(())
}
