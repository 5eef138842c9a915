//! Logging, clocks, the tick timer and properties: `proxy_log`,
//! `proxy_get_log_level`, `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`, `proxy_get_property`,
//! `proxy_set_property`.
//!
//! Time is the harness's clock (fixed start, advanced by the test), so runs
//! are reproducible. Properties come from the gateway's settings, overlaid
//! by what the filter set in its own context.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::{LogLevel, Status};
use crate::memory::{self, ReturnError};
use crate::pairs;
use crate::record::Event;
use crate::state::HostState;

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
            status((|| {
                let message = memory::read_string(&caller, ptr, len)?;
                let level = LogLevel::from_raw(level).ok_or(Status::BadArgument)?;
                caller.data_mut().log_line(level, message);
                Ok(())
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_get_log_level",
        |mut caller: Caller<'_, HostState>, level_ptr: i32| {
            let level = caller.data().env.log_level as u32;
            status(memory::write_u32(&mut caller, level_ptr, level))
        },
    )?;
    r.func(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut caller: Caller<'_, HostState>, time_ptr: i32| {
            let now = caller.data().time_ns;
            status(memory::write_u64(&mut caller, time_ptr, now))
        },
    )?;
    r.func(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut caller: Caller<'_, HostState>, period: i32| {
            caller.data_mut().tick_period_ms = period as u32;
            status(Ok(()))
        },
    )?;
    r.func(
        "env",
        "proxy_get_property",
        |mut caller: Caller<'_, HostState>,
         path_ptr: i32,
         path_len: i32,
         value_ptr_ptr: i32,
         value_size_ptr: i32| {
            let value = memory::read(&caller, path_ptr, path_len).and_then(|raw| {
                let path = pairs::property_path(&raw);
                property(caller.data(), &path).ok_or(Status::NotFound)
            });
            memory::finish(match value {
                Ok(value) => {
                    memory::return_bytes(&mut caller, &value, value_ptr_ptr, value_size_ptr)
                }
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    r.func(
        "env",
        "proxy_set_property",
        |mut caller: Caller<'_, HostState>,
         path_ptr: i32,
         path_len: i32,
         value_ptr: i32,
         value_len: i32| {
            status((|| {
                let path = pairs::property_path(&memory::read(&caller, path_ptr, path_len)?);
                let value = memory::read(&caller, value_ptr, value_len)?;
                let state = caller.data_mut();
                let context = state.effective_context().ok_or(Status::NotFound)?;
                context.properties.insert(path.clone(), value.clone());
                state.record(Event::PropertySet { path, value });
                Ok(())
            })())
        },
    )?;
    Ok(())
}

/// A property as the effective context sees it: its own, its root's, then
/// the gateway's.
fn property(state: &HostState, path: &[String]) -> Option<Vec<u8>> {
    let context = state.contexts.get(&state.effective);
    let root = context.and_then(|c| state.contexts.get(&c.parent));
    context
        .and_then(|c| c.properties.get(path))
        .or_else(|| root.and_then(|c| c.properties.get(path)))
        .or_else(|| state.env.properties.get(path))
        .cloned()
}
