//! The harness's one error type. Errors that come from running the module
//! carry its log, so a failing test shows what the filter said last.

use std::path::PathBuf;

use crate::record::{Callback, LogEntry};

/// Everything that can go wrong loading or driving a module.
#[derive(thiserror::Error)]
pub enum Error {
    #[error(
        "the filter module {path} does not exist: build it with `just build-wasm` \
         (cargo build -p mcp-router --target wasm32-wasip1 --profile wasm), or point \
         MCP_ROUTER_WASM at it"
    )]
    WasmMissing { path: PathBuf },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot set up the wasm engine or linker: {detail}")]
    Link { detail: String },

    #[error("cannot compile the module: {detail}")]
    Compile { detail: String },

    #[error(
        "the module imports {module}.{name}, which this proxy-wasm host does not provide \
         (only the ABI 0.2.1 functions and the WASI calls a filter needs are)"
    )]
    UnknownImport { module: String, name: String },

    #[error("the module is not a proxy-wasm ABI 0.2.1 module: {detail}")]
    Abi { detail: String },

    #[error("cannot instantiate the module: {detail}")]
    Instantiate { detail: String },

    #[error("wasm trap in {callback} (context {context}) on VM {vm}: {trap}{log}")]
    Trap {
        vm: usize,
        callback: Callback,
        context: u32,
        trap: String,
        log: LogTail,
    },

    #[error("the filter broke the proxy-wasm contract on VM {vm}:\n  {}{log}", violations.join("\n  "))]
    Contract {
        vm: usize,
        violations: Vec<String>,
        log: LogTail,
    },

    #[error("{callback} returned {value}, which is not a valid answer{log}")]
    BadReturn {
        callback: Callback,
        value: i32,
        log: LogTail,
    },

    #[error(
        "VM {vm} crashed earlier ({cause}); Envoy would replace it, so the harness drives it no further"
    )]
    VmFailed { vm: usize, cause: String },

    #[error("{what} refused{log}")]
    Refused { what: String, log: LogTail },

    #[error("harness misuse: {detail}")]
    Usage { detail: String },
}

impl std::fmt::Debug for Error {
    /// The same text as `Display`: `Result::expect` and test harnesses
    /// print `Debug`, and the log tail is the useful part.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The harness's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The last lines of a module's log, shown under an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogTail(pub Vec<LogEntry>);

/// How many log lines an error shows.
const TAIL: usize = 40;

impl LogTail {
    pub(crate) fn of(log: &[LogEntry]) -> Self {
        LogTail(log[log.len().saturating_sub(TAIL)..].to_vec())
    }
}

impl std::fmt::Display for LogTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("\n--- the module logged nothing ---");
        }
        f.write_str("\n--- module log (last lines) ---")?;
        for entry in &self.0 {
            write!(f, "\n{entry}")?;
        }
        Ok(())
    }
}
