//! Where the router's `.wasm` is: `MCP_ROUTER_WASM` if set (the justfile
//! exports it), else `$CARGO_TARGET_DIR` or the workspace's `target/`,
//! under `wasm32-wasip1/wasm/mcp_router.wasm`. A missing file is an error
//! telling how to build it, never a silently skipped test.

use std::path::PathBuf;

use crate::error::{Error, Result};

const RELATIVE: &str = "wasm32-wasip1/wasm/mcp_router.wasm";

/// The path of `mcp_router.wasm`, checked to exist.
///
/// # Errors
/// [`Error::WasmMissing`] naming the path looked at.
pub fn router_wasm() -> Result<PathBuf> {
    let path = match std::env::var_os("MCP_ROUTER_WASM") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join(RELATIVE)
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::WasmMissing { path })
    }
}
