//! Metrics: `proxy_define_metric`, `proxy_increment_metric`,
//! `proxy_record_metric`, `proxy_get_metric`, on the gateway's shared store.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::{MetricType, Status};
use crate::memory;
use crate::state::HostState;

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_define_metric",
        |mut caller: Caller<'_, HostState>,
         kind: i32,
         name_ptr: i32,
         name_len: i32,
         id_ptr: i32| {
            status((|| {
                let name = memory::read(&caller, name_ptr, name_len)?;
                let kind = MetricType::from_raw(kind).ok_or(Status::BadArgument)?;
                let id = caller.data().shared.define_metric(kind, &name)?;
                memory::write_u32(&mut caller, id_ptr, id)
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_increment_metric",
        |caller: Caller<'_, HostState>, id: i32, delta: i64| {
            status(ok_or(
                caller.data().shared.increment_metric(id as u32, delta),
            ))
        },
    )?;
    r.func(
        "env",
        "proxy_record_metric",
        |caller: Caller<'_, HostState>, id: i32, value: i64| {
            status(ok_or(
                caller.data().shared.record_metric(id as u32, value as u64),
            ))
        },
    )?;
    r.func(
        "env",
        "proxy_get_metric",
        |mut caller: Caller<'_, HostState>, id: i32, value_ptr: i32| {
            status((|| {
                let value = caller.data().shared.get_metric(id as u32)?;
                memory::write_u64(&mut caller, value_ptr, value)
            })())
        },
    )?;
    Ok(())
}

fn ok_or(status: Status) -> Result<(), Status> {
    match status {
        Status::Ok => Ok(()),
        other => Err(other),
    }
}
