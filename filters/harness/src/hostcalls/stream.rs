//! Stream control: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response`, `proxy_set_effective_context`, `proxy_done`.
//!
//! Like Envoy, resuming, closing and finishing are deferred until the
//! callback returns (`addAfterVmCallAction`); the local response is
//! recorded at once and ends the stream when the callback returns.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::{Status, StreamType};
use crate::headers::Headers;
use crate::memory;
use crate::pairs;
use crate::record::{Event, LocalResponse};
use crate::state::{Deferred, HostState};

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_continue_stream",
        |mut caller: Caller<'_, HostState>, stream: i32| {
            status(defer(caller.data_mut(), stream, true))
        },
    )?;
    r.func(
        "env",
        "proxy_close_stream",
        |mut caller: Caller<'_, HostState>, stream: i32| {
            status(defer(caller.data_mut(), stream, false))
        },
    )?;
    r.func(
        "env",
        "proxy_send_local_response",
        |mut caller: Caller<'_, HostState>,
         code: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32| {
            status((|| {
                let details = memory::read_string(&caller, details_ptr, details_len)?;
                let body = memory::read(&caller, body_ptr, body_len)?;
                let raw_headers = memory::read(&caller, headers_ptr, headers_len)?;
                let state = caller.data_mut();
                let headers = match pairs::decode(&raw_headers) {
                    Ok(pairs) => pairs
                        .iter()
                        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.clone()))
                        .collect::<Headers>(),
                    Err(pairs::Malformed(why)) => {
                        state.violation(format!("malformed local response headers: {why}"));
                        return Err(Status::BadArgument);
                    }
                };
                let response = LocalResponse {
                    status: code as u32,
                    details,
                    headers,
                    body,
                    grpc_status,
                };
                send_local_response(state, response);
                Ok(())
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_set_effective_context",
        |mut caller: Caller<'_, HostState>, context: i32| {
            let state = caller.data_mut();
            let id = context as u32;
            status(match state.contexts.get(&id).filter(|c| !c.deleted) {
                Some(_) => {
                    state.effective = id;
                    Ok(())
                }
                None => Err(Status::BadArgument),
            })
        },
    )?;
    r.func("env", "proxy_done", |mut caller: Caller<'_, HostState>| {
        let state = caller.data_mut();
        let context = state.effective;
        status(match state.contexts.get(&context) {
            Some(c) if c.awaiting_done && !c.deleted => {
                state.deferred.push(Deferred::Done { context });
                Ok(())
            }
            _ => Err(Status::NotFound),
        })
    })?;
    Ok(())
}

fn defer(state: &mut HostState, raw: i32, resume: bool) -> Result<(), Status> {
    let stream = StreamType::from_raw(raw).ok_or(Status::BadArgument)?;
    if matches!(stream, StreamType::Downstream | StreamType::Upstream) {
        // TCP streams do not exist in an HTTP filter chain.
        return Err(Status::Unimplemented);
    }
    let what = if resume {
        "continue_stream"
    } else {
        "close_stream"
    };
    if state.effective_http().is_none() {
        state.violation(format!(
            "{what}({stream:?}) from a context without an HTTP stream"
        ));
        return Ok(());
    }
    let context = state.effective;
    if resume {
        state.deferred.push(Deferred::Continue { context, stream });
        state.record(Event::Resumed(stream));
    } else {
        state.deferred.push(Deferred::Close { context, stream });
        state.record(Event::Closed(stream));
    }
    Ok(())
}

fn send_local_response(state: &mut HostState, response: LocalResponse) {
    let problem = match state.effective_http() {
        None => Some("send_local_response from a context without an HTTP stream"),
        Some(http) if http.local_response.is_some() => {
            Some("a second send_local_response on one stream")
        }
        Some(http) if http.response.headers_sent() => {
            Some("send_local_response after the response headers went downstream")
        }
        Some(http) => {
            http.local_response = Some(response.clone());
            None
        }
    };
    match problem {
        Some(problem) => state.violation(problem),
        None => state.record(Event::LocalResponse(response)),
    }
}
