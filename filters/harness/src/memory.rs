//! Guest memory, read and written with checked ranges: a bad pointer from
//! the module is an `INVALID_MEMORY_ACCESS` status (or a WASI `FAULT`),
//! never a host panic. Values returned to the module are copied into memory
//! it allocates itself (`proxy_on_memory_allocate`), as the ABI requires.

use wasmtime::{AsContext, AsContextMut, Caller};

use crate::abi::Status;
use crate::state::HostState;

type HostCaller<'a> = Caller<'a, HostState>;

fn range(ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize)?;
    Some(start..end)
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read(caller: &HostCaller<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let memory = caller
        .data()
        .guest
        .as_ref()
        .map(|g| g.memory)
        .ok_or(Status::InvalidMemoryAccess)?;
    let range = range(ptr, len).ok_or(Status::InvalidMemoryAccess)?;
    memory
        .data(caller.as_context())
        .get(range)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// Reads a guest string (lossy: names and messages are shown, not trusted).
pub(crate) fn read_string(caller: &HostCaller<'_>, ptr: i32, len: i32) -> Result<String, Status> {
    read(caller, ptr, len).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write(caller: &mut HostCaller<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let memory = caller
        .data()
        .guest
        .as_ref()
        .map(|g| g.memory)
        .ok_or(Status::InvalidMemoryAccess)?;
    let range = range(
        ptr,
        i32::try_from(bytes.len()).map_err(|_| Status::BadArgument)?,
    )
    .ok_or(Status::InvalidMemoryAccess)?;
    memory
        .data_mut(caller.as_context_mut())
        .get_mut(range)
        .ok_or(Status::InvalidMemoryAccess)?
        .copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(caller: &mut HostCaller<'_>, ptr: i32, value: u32) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(caller: &mut HostCaller<'_>, ptr: i32, value: u64) -> Result<(), Status> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Reads a little-endian `u32` at `ptr`.
pub(crate) fn read_u32(caller: &HostCaller<'_>, ptr: i32) -> Result<u32, Status> {
    let bytes = read(caller, ptr, 4)?;
    let mut le = [0u8; 4];
    le.copy_from_slice(&bytes);
    Ok(u32::from_le_bytes(le))
}

/// What went wrong handing bytes back to the module.
pub(crate) enum ReturnError {
    /// A status to return to the module.
    Status(Status),
    /// The module trapped inside its allocator: propagate the trap.
    Trap(wasmtime::Error),
}

impl From<Status> for ReturnError {
    fn from(status: Status) -> Self {
        ReturnError::Status(status)
    }
}

/// Copies `bytes` into memory the module allocates and stores the pointer
/// and size at `ptr_ptr` / `size_ptr` (cpp-host `copyToPointerSize`: an
/// empty value is a null pointer and size 0, nothing is allocated).
pub(crate) fn return_bytes(
    caller: &mut HostCaller<'_>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> Result<(), ReturnError> {
    let size = u32::try_from(bytes.len()).map_err(|_| Status::BadArgument)?;
    let mut pointer = 0u32;
    if size > 0 {
        let allocate = caller
            .data()
            .guest
            .as_ref()
            .map(|g| g.allocate.clone())
            .ok_or(Status::InvalidMemoryAccess)?;
        let raw = allocate
            .call(caller.as_context_mut(), size as i32)
            .map_err(ReturnError::Trap)?;
        if raw == 0 {
            return Err(Status::InvalidMemoryAccess.into());
        }
        pointer = raw as u32;
        write(caller, raw, bytes)?;
    }
    write_u32(caller, ptr_ptr, pointer)?;
    write_u32(caller, size_ptr, size)?;
    Ok(())
}

/// Turns the outcome of a host function into its `i32` status, or the
/// trap that must unwind the module.
pub(crate) fn finish(result: Result<(), ReturnError>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.raw()),
        Err(ReturnError::Status(status)) => Ok(status.raw()),
        Err(ReturnError::Trap(trap)) => Err(trap),
    }
}
