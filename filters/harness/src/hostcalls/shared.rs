//! Shared data and shared queues, backed by the gateway's
//! [`crate::SharedStore`] so every VM sees the same entries.

use wasmtime::Caller;

use super::{Registrar, status};
use crate::abi::Status;
use crate::memory::{self, ReturnError};
use crate::state::HostState;

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        "env",
        "proxy_get_shared_data",
        |mut caller: Caller<'_, HostState>,
         key_ptr: i32,
         key_len: i32,
         value_ptr_ptr: i32,
         value_size_ptr: i32,
         cas_ptr: i32| {
            let found = memory::read(&caller, key_ptr, key_len)
                .and_then(|key| caller.data().shared.get(&key).ok_or(Status::NotFound));
            memory::finish(match found {
                Ok((value, cas)) => (|| {
                    memory::return_bytes(&mut caller, &value, value_ptr_ptr, value_size_ptr)?;
                    memory::write_u32(&mut caller, cas_ptr, cas)?;
                    Ok(())
                })(),
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    r.func(
        "env",
        "proxy_set_shared_data",
        |caller: Caller<'_, HostState>,
         key_ptr: i32,
         key_len: i32,
         value_ptr: i32,
         value_len: i32,
         cas: i32| {
            status((|| {
                let key = memory::read(&caller, key_ptr, key_len)?;
                let value = memory::read(&caller, value_ptr, value_len)?;
                match caller.data().shared.set(&key, &value, cas as u32) {
                    Status::Ok => Ok(()),
                    other => Err(other),
                }
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_register_shared_queue",
        |mut caller: Caller<'_, HostState>, name_ptr: i32, name_len: i32, token_ptr: i32| {
            status((|| {
                let name = memory::read(&caller, name_ptr, name_len)?;
                let state = caller.data();
                let id = state.shared.register_queue(&state.vm_id, &name, state.vm);
                memory::write_u32(&mut caller, token_ptr, id)
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_resolve_shared_queue",
        |mut caller: Caller<'_, HostState>,
         vm_id_ptr: i32,
         vm_id_len: i32,
         name_ptr: i32,
         name_len: i32,
         token_ptr: i32| {
            status((|| {
                let vm_id = memory::read_string(&caller, vm_id_ptr, vm_id_len)?;
                let name = memory::read(&caller, name_ptr, name_len)?;
                let id = caller
                    .data()
                    .shared
                    .resolve_queue(&vm_id, &name)
                    .ok_or(Status::NotFound)?;
                memory::write_u32(&mut caller, token_ptr, id)
            })())
        },
    )?;
    r.func(
        "env",
        "proxy_enqueue_shared_queue",
        |caller: Caller<'_, HostState>, id: i32, ptr: i32, len: i32| {
            status(memory::read(&caller, ptr, len).and_then(|value| {
                match caller.data().shared.enqueue(id as u32, &value) {
                    Status::Ok => Ok(()),
                    other => Err(other),
                }
            }))
        },
    )?;
    r.func(
        "env",
        "proxy_dequeue_shared_queue",
        |mut caller: Caller<'_, HostState>, id: i32, ptr_ptr: i32, size_ptr: i32| {
            let item = caller.data().shared.dequeue(id as u32);
            memory::finish(match item {
                Ok(value) => memory::return_bytes(&mut caller, &value, ptr_ptr, size_ptr),
                Err(s) => Err(ReturnError::Status(s)),
            })
        },
    )?;
    Ok(())
}
