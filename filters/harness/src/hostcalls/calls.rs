//! Calls out of the proxy: `proxy_http_call` (validated per cluster, kept
//! pending until the test answers), the gRPC calls (accepted and tracked,
//! never answered), `proxy_get_status`, `proxy_call_foreign_function`.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::Status;
use crate::headers::Headers;
use crate::memory;
use crate::pairs;
use crate::record::{DispatchedCall, Event};
use crate::state::{ClusterBehavior, HostState};

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_http_call",
        |mut caller: Caller<'_, HostState>,
         cluster_ptr: i32,
         cluster_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         body_ptr: i32,
         body_len: i32,
         trailers_ptr: i32,
         trailers_len: i32,
         timeout_ms: i32,
         token_ptr: i32| {
            status((|| {
                let cluster = memory::read_string(&caller, cluster_ptr, cluster_len)?;
                let headers = memory::read(&caller, headers_ptr, headers_len)?;
                let body = memory::read(&caller, body_ptr, body_len)?;
                let trailers = memory::read(&caller, trailers_ptr, trailers_len)?;
                // Like the cpp-host: prove the token slot is writable first.
                memory::write_u32(&mut caller, token_ptr, 0)?;
                let state = caller.data_mut();
                let headers = decode_map(state, &headers, "http call headers")?;
                let trailers = decode_map(state, &trailers, "http call trailers")?;
                match state.env.clusters.get(&cluster) {
                    None => return Err(Status::BadArgument),
                    Some(ClusterBehavior::FailToSend) => return Err(Status::InternalFailure),
                    Some(ClusterBehavior::Accept) => {}
                }
                let required = [":method", ":path", ":authority"];
                if required
                    .iter()
                    .any(|name| headers.get(name).is_none_or(<[u8]>::is_empty))
                {
                    return Err(Status::BadArgument);
                }
                let token = state.next_token;
                state.next_token += 1;
                let call = DispatchedCall {
                    token,
                    vm: state.vm,
                    context: state.effective,
                    cluster,
                    headers,
                    body,
                    trailers,
                    timeout_ms: timeout_ms as u32,
                };
                state.calls.insert(token, call.clone());
                state.record(Event::HttpCall(call));
                memory::write_u32(&mut caller, token_ptr, token)
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_grpc_call",
        |mut caller: Caller<'_, HostState>,
         cluster_ptr: i32,
         cluster_len: i32,
         _service_ptr: i32,
         _service_len: i32,
         _method_ptr: i32,
         _method_len: i32,
         _metadata_ptr: i32,
         _metadata_len: i32,
         _message_ptr: i32,
         _message_len: i32,
         _timeout_ms: i32,
         token_ptr: i32| {
            status(open_grpc(&mut caller, cluster_ptr, cluster_len, token_ptr))
        },
    )?;
    r.func(
        "env",
        "proxy_grpc_stream",
        |mut caller: Caller<'_, HostState>,
         cluster_ptr: i32,
         cluster_len: i32,
         _service_ptr: i32,
         _service_len: i32,
         _method_ptr: i32,
         _method_len: i32,
         _metadata_ptr: i32,
         _metadata_len: i32,
         token_ptr: i32| {
            status(open_grpc(&mut caller, cluster_ptr, cluster_len, token_ptr))
        },
    )?;
    r.func(
        "env",
        "proxy_grpc_send",
        |caller: Caller<'_, HostState>, token: i32, ptr: i32, len: i32, _end: i32| {
            status(
                memory::read(&caller, ptr, len)
                    .and_then(|_| known_grpc(caller.data(), token).map(|_| ())),
            )
        },
    )?;
    r.func(
        "env",
        "proxy_grpc_cancel",
        |mut caller: Caller<'_, HostState>, token: i32| status(close_grpc(&mut caller, token)),
    )?;
    r.func(
        "env",
        "proxy_grpc_close",
        |mut caller: Caller<'_, HostState>, token: i32| status(close_grpc(&mut caller, token)),
    )?;
    r.func(
        "env",
        "proxy_get_status",
        |mut caller: Caller<'_, HostState>, code_ptr: i32, msg_ptr_ptr: i32, msg_size_ptr: i32| {
            let (code, message) = caller.data().status.clone();
            memory::finish((|| {
                memory::write_u32(&mut caller, code_ptr, code)?;
                memory::return_bytes(&mut caller, &message, msg_ptr_ptr, msg_size_ptr)
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_call_foreign_function",
        |caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         args_ptr: i32,
         args_len: i32,
         _results_ptr: i32,
         _results_size_ptr: i32| {
            status(
                memory::read(&caller, name_ptr, name_len)
                    .and_then(|_| memory::read(&caller, args_ptr, args_len))
                    // This host registers no foreign functions.
                    .and(Err(Status::NotFound)),
            )
        },
    )?;
    Ok(())
}

fn decode_map(state: &mut HostState, bytes: &[u8], what: &str) -> Result<Headers, Status> {
    match pairs::decode(bytes) {
        Ok(pairs) => Ok(pairs
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.clone()))
            .collect()),
        Err(pairs::Malformed(why)) => {
            state.violation(format!("malformed {what}: {why}"));
            Err(Status::BadArgument)
        }
    }
}

/// gRPC calls and streams: accepted for a known cluster and remembered so
/// cancel/close/send can find them; this host never answers them.
fn open_grpc(
    caller: &mut Caller<'_, HostState>,
    cluster_ptr: i32,
    cluster_len: i32,
    token_ptr: i32,
) -> Result<(), Status> {
    let cluster = memory::read_string(caller, cluster_ptr, cluster_len)?;
    let state = caller.data_mut();
    if !state.env.clusters.contains_key(&cluster) {
        // The spec's status for an unknown gRPC upstream.
        return Err(Status::ParseFailure);
    }
    let token = state.next_token;
    state.next_token += 1;
    state.grpc_tokens.insert(token);
    memory::write_u32(caller, token_ptr, token)
}

fn known_grpc(state: &HostState, token: i32) -> Result<u32, Status> {
    let token = token as u32;
    if state.grpc_tokens.contains(&token) {
        Ok(token)
    } else {
        Err(Status::NotFound)
    }
}

fn close_grpc(caller: &mut Caller<'_, HostState>, token: i32) -> Result<(), Status> {
    let token = known_grpc(caller.data(), token)?;
    caller.data_mut().grpc_tokens.remove(&token);
    Ok(())
}
