//! The few `wasi_snapshot_preview1` functions a proxy-wasm module built for
//! `wasm32-wasip1` imports, with the spec's semantics: stdout and stderr
//! become log lines (info and error), the environment is the plugin's
//! configured variables, there are no arguments, clocks are the harness's,
//! randomness is deterministic, and `proc_exit` stops the module.

use wasmtime::Caller;

use super::Registrar;
use crate::abi::{LogLevel, errno};
use crate::memory;
use crate::state::HostState;

const WASI: &str = "wasi_snapshot_preview1";

pub(super) fn add(r: &mut Registrar<'_>) -> crate::Result<()> {
    r.func(
        WASI,
        "fd_write",
        |mut caller: Caller<'_, HostState>, fd: i32, iovs: i32, iovs_len: i32, written_ptr: i32| {
            let level = match fd {
                1 => LogLevel::Info,
                2 => LogLevel::Error,
                _ => return Ok(errno::BADF),
            };
            let mut text = Vec::new();
            for index in 0..iovs_len.max(0) {
                let Some(at) = index.checked_mul(8).and_then(|o| iovs.checked_add(o)) else {
                    return Ok(errno::FAULT);
                };
                let (Ok(ptr), Ok(len)) = (
                    memory::read_u32(&caller, at),
                    memory::read_u32(&caller, at.wrapping_add(4)),
                ) else {
                    return Ok(errno::FAULT);
                };
                match memory::read(&caller, ptr as i32, len as i32) {
                    Ok(bytes) => text.extend_from_slice(&bytes),
                    Err(_) => return Ok(errno::FAULT),
                }
            }
            let written = text.len() as u32;
            if text.last() == Some(&b'\n') {
                text.pop();
            }
            if !text.is_empty() {
                let message = String::from_utf8_lossy(&text).into_owned();
                caller.data_mut().log_line(level, message);
            }
            Ok(fault_or(memory::write_u32(
                &mut caller,
                written_ptr,
                written,
            )))
        },
    )?;
    r.func(
        WASI,
        "environ_sizes_get",
        |mut caller: Caller<'_, HostState>, count_ptr: i32, size_ptr: i32| {
            let vars = caller.data().env.env_vars.clone();
            let size: usize = vars.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            Ok(fault_or(
                memory::write_u32(&mut caller, count_ptr, vars.len() as u32)
                    .and_then(|()| memory::write_u32(&mut caller, size_ptr, size as u32)),
            ))
        },
    )?;
    r.func(
        WASI,
        "environ_get",
        |mut caller: Caller<'_, HostState>, array_ptr: i32, buf_ptr: i32| {
            let vars = caller.data().env.env_vars.clone();
            let (mut slot, mut at) = (array_ptr, buf_ptr);
            for (key, value) in vars {
                let entry = format!("{key}={value}\0");
                let wrote = memory::write_u32(&mut caller, slot, at as u32)
                    .and_then(|()| memory::write(&mut caller, at, entry.as_bytes()));
                if wrote.is_err() {
                    return Ok(errno::FAULT);
                }
                slot = slot.wrapping_add(4);
                at = at.wrapping_add(entry.len() as i32);
            }
            Ok(errno::SUCCESS)
        },
    )?;
    r.func(
        WASI,
        "args_sizes_get",
        |mut caller: Caller<'_, HostState>, argc_ptr: i32, size_ptr: i32| {
            Ok(fault_or(
                memory::write_u32(&mut caller, argc_ptr, 0)
                    .and_then(|()| memory::write_u32(&mut caller, size_ptr, 0)),
            ))
        },
    )?;
    r.func(
        WASI,
        "args_get",
        |_: Caller<'_, HostState>, _argv: i32, _buf: i32| Ok(errno::SUCCESS),
    )?;
    r.func(
        WASI,
        "clock_time_get",
        |mut caller: Caller<'_, HostState>, clock: i32, _precision: i64, time_ptr: i32| {
            let now = match clock {
                0 => caller.data().time_ns,
                1 => caller.data().monotonic_ns,
                _ => return Ok(errno::NOTSUP),
            };
            Ok(fault_or(memory::write_u64(&mut caller, time_ptr, now)))
        },
    )?;
    r.func(
        WASI,
        "random_get",
        |mut caller: Caller<'_, HostState>, buf: i32, len: i32| {
            if len as u32 > 1 << 16 {
                return Ok(errno::INVAL);
            }
            let mut bytes = Vec::with_capacity(len as usize);
            while bytes.len() < len as usize {
                bytes.extend_from_slice(&caller.data_mut().next_random().to_le_bytes());
            }
            bytes.truncate(len as usize);
            Ok(fault_or(memory::write(&mut caller, buf, &bytes)))
        },
    )?;
    r.func(WASI, "sched_yield", |_: Caller<'_, HostState>| {
        Ok(errno::SUCCESS)
    })?;
    r.func(
        WASI,
        "proc_exit",
        |mut caller: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
            caller.data_mut().exit_code = Some(code);
            Err(wasmtime::Error::msg(format!(
                "the module called proc_exit({code})"
            )))
        },
    )?;
    Ok(())
}

fn fault_or<E>(result: Result<(), E>) -> i32 {
    match result {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    }
}
