//! Buffers: `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`,
//! `proxy_get_buffer_status`.
//!
//! Availability follows the spec's "Buffers" section and Envoy: the request
//! body inside `on_request_body` or while the body is held at the filter
//! (the whole buffered body, not just the last chunk); the configurations
//! inside `on_vm_start` / `on_configure`; the call response body inside
//! `on_http_call_response`. Otherwise `NOT_FOUND`. Writes follow Envoy's
//! `Buffer::copyFrom`: `start == 0` replaces the first `size` bytes (or
//! prepends), `start >= len` appends, anything else is `BAD_ARGUMENT`.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::{BufferType, Status};
use crate::memory::{self, ReturnError};
use crate::record::{Callback, Event};
use crate::state::{Flow, HostState};

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         buffer: i32,
         start: i32,
         max_size: i32,
         ptr_ptr: i32,
         size_ptr: i32| {
            let bytes = BufferType::from_raw(buffer)
                .ok_or(Status::BadArgument)
                .and_then(|buffer| read_buffer(caller.data(), buffer))
                .map(|all| {
                    let start = (start as u32 as usize).min(all.len());
                    let end = start
                        .saturating_add(max_size as u32 as usize)
                        .min(all.len());
                    all.get(start..end).map(<[u8]>::to_vec).unwrap_or_default()
                });
            memory::finish(match bytes {
                Ok(bytes) => memory::return_bytes(&mut caller, &bytes, ptr_ptr, size_ptr),
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    r.func(
        "env",
        "proxy_get_buffer_status",
        |mut caller: Caller<'_, HostState>, buffer: i32, length_ptr: i32, flags_ptr: i32| {
            let length = BufferType::from_raw(buffer)
                .ok_or(Status::BadArgument)
                .and_then(|buffer| read_buffer(caller.data(), buffer))
                .map(|all| all.len());
            status(length.and_then(|length| {
                memory::write_u32(&mut caller, length_ptr, length as u32)?;
                memory::write_u32(&mut caller, flags_ptr, 0)
            }))
        },
    )?;
    r.func(
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         buffer: i32,
         start: i32,
         size: i32,
         data_ptr: i32,
         data_len: i32| {
            status((|| {
                let buffer = BufferType::from_raw(buffer).ok_or(Status::BadArgument)?;
                let data = memory::read(&caller, data_ptr, data_len)?;
                let state = caller.data_mut();
                let (start, size) = (start as u32, size as u32);
                write_buffer(state, buffer, start as usize, size as usize, &data)?;
                state.record(Event::BodyChanged {
                    buffer,
                    start,
                    size,
                    data,
                });
                Ok(())
            })())
        },
    )?;
    Ok(())
}

/// The bytes of `buffer` as the effective context sees them now.
fn read_buffer(state: &HostState, buffer: BufferType) -> Result<Vec<u8>, Status> {
    match buffer {
        BufferType::PluginConfiguration if state.callback == Some(Callback::Configure) => {
            Ok(state.plugin_configuration.clone())
        }
        BufferType::VmConfiguration if state.callback == Some(Callback::VmStart) => {
            Ok(state.vm_configuration.clone())
        }
        BufferType::HttpCallResponseBody => state
            .call_response
            .as_ref()
            .map(|r| r.body.clone())
            .ok_or(Status::NotFound),
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => body_flow(state, buffer)
            .map(|flow| flow.buffered.clone())
            .ok_or(Status::NotFound),
        _ => Err(Status::NotFound),
    }
}

/// The flow whose body is readable now, if any.
fn body_flow(state: &HostState, buffer: BufferType) -> Option<&Flow> {
    let http = state
        .contexts
        .get(&state.effective)
        .filter(|c| !c.deleted)?
        .http
        .as_ref()?;
    let (flow, callback) = match buffer {
        BufferType::HttpRequestBody => (&http.request, Callback::RequestBody),
        _ => (&http.response, Callback::ResponseBody),
    };
    let in_callback = state.callback == Some(callback) && state.current == state.effective;
    (in_callback || flow.body_held).then_some(flow)
}

fn write_buffer(
    state: &mut HostState,
    buffer: BufferType,
    start: usize,
    size: usize,
    data: &[u8],
) -> Result<(), Status> {
    match buffer {
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => {}
        BufferType::PluginConfiguration
        | BufferType::VmConfiguration
        | BufferType::HttpCallResponseBody => {
            // Present but read-only (Envoy: a const buffer).
            read_buffer(state, buffer)?;
            return Err(Status::BadArgument);
        }
        _ => return Err(Status::NotFound),
    }
    if body_flow(state, buffer).is_none() {
        return Err(Status::NotFound);
    }
    let effective = state.effective;
    let http = state
        .contexts
        .get_mut(&effective)
        .and_then(|c| c.http.as_mut())
        .ok_or(Status::NotFound)?;
    let flow = match buffer {
        BufferType::HttpRequestBody => &mut http.request,
        _ => &mut http.response,
    };
    let len = flow.buffered.len();
    if start == 0 {
        let drained = size.min(len);
        flow.buffered.splice(..drained, data.iter().copied());
    } else if start >= len {
        flow.buffered.extend_from_slice(data);
    } else {
        return Err(Status::BadArgument);
    }
    flow.body_changed = true;
    Ok(())
}
