//! The host call that hands the filter a header map's buffer.

use proxy_wasm::types::{MapType, Status};

/// Every header of `map`, in one host call, as the ABI serialises them
/// (read them with [`crate::pairs`]); empty if the host has none or
/// refuses (a map that does not exist in this callback). Not the SDK's
/// `hostcalls::get_map_bytes`: it copies every name and value, and panics
/// on an unexpected status or a name that is not UTF-8.
#[allow(unsafe_code)]
pub fn fetch(map: MapType) -> Vec<u8> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: on `Ok` the host has written into `data` a buffer of `size`
    // bytes it allocated through the module's `proxy_on_memory_allocate`,
    // which the proxy-wasm SDK exports as a leaked `Vec<u8>` of capacity
    // `size`; it is owned by the caller now, and taking it back as that Vec
    // frees it exactly as the SDK's own `get_map_bytes` does.
    unsafe {
        match proxy_get_header_map_pairs(map, &mut data, &mut size) {
            Status::Ok if !data.is_null() => Vec::from_raw_parts(data, size, size),
            _ => Vec::new(),
        }
    }
}

#[allow(unsafe_code)]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    /// proxy-wasm ABI 0.2.1, the import the SDK's `get_map_bytes` wraps.
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
}
