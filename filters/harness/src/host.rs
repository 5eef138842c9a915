//! The compiled module and everything built once per module: the engine
//! (with fuel metering, so every callback's cost is counted in wasm
//! instructions), the module, and the linker holding the host functions.
//! Each VM gets its own `Store` from these.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use wasmtime::{Config, Engine, ExternType, Linker, Module, OptLevel};

use crate::error::{Error, Result};
use crate::gateway::GatewayBuilder;
use crate::hostcalls;
use crate::state::HostState;

/// A proxy-wasm module, compiled and linked, ready to start VMs from.
/// Cheap to clone; compile once per test binary.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    pub module: Module,
    pub linker: Linker<HostState>,
    pub module_size: usize,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("module_size", &self.inner.module_size)
            .finish_non_exhaustive()
    }
}

/// The ABI version this host implements, as modules advertise it.
const ABI_MARKER: &str = "proxy_abi_version_0_2_1";

impl Host {
    /// Compiles the module at `path`.
    ///
    /// # Errors
    /// [`Error::WasmMissing`] if there is no file, and whatever
    /// [`Host::from_bytes`] refuses.
    pub fn load(path: impl AsRef<Path>) -> Result<Host> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::WasmMissing {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Host::from_bytes(&bytes)
    }

    /// Compiles a module from its binary form.
    ///
    /// # Errors
    /// [`Error::Compile`] for invalid wasm, [`Error::UnknownImport`] naming
    /// the first import this host does not provide, [`Error::Abi`] when the
    /// module does not advertise ABI 0.2.1 or lacks memory or an allocator.
    pub fn from_bytes(bytes: &[u8]) -> Result<Host> {
        let mut config = Config::new();
        // Fuel: every wasm instruction costs one unit, so each callback's
        // cost is counted exactly, whatever the machine's load.
        config.consume_fuel(true);
        // Compile quickly: tests start many binaries, and fuel counts wasm
        // instructions, not machine code, so optimising gains nothing here.
        config.cranelift_opt_level(OptLevel::None);
        // `PROXY_WASM_HARNESS_PERFMAP=1`: optimised code and a perf map
        // (/tmp/perf-<pid>.map), so `perf record` names the filter's own
        // functions in a profile of a harness run (how docs/benchmarks.md's
        // breakdown of a routed call was made).
        if std::env::var_os("PROXY_WASM_HARNESS_PERFMAP").is_some_and(|v| v == "1") {
            config.cranelift_opt_level(OptLevel::Speed);
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| Error::Link {
            detail: e.to_string(),
        })?;
        let module = Module::from_binary(&engine, bytes).map_err(|e| Error::Compile {
            detail: format!("{e:?}"),
        })?;
        let mut linker = Linker::new(&engine);
        let provided = hostcalls::link(&mut linker)?;
        check_imports(&module, &provided)?;
        check_exports(&module)?;
        Ok(Host {
            inner: Arc::new(Inner {
                engine,
                module,
                linker,
                module_size: bytes.len(),
            }),
        })
    }

    /// Size of the module in bytes.
    pub fn module_size(&self) -> usize {
        self.inner.module_size
    }

    /// Starts describing a gateway (a plugin on one or more VMs).
    pub fn gateway(&self) -> GatewayBuilder {
        GatewayBuilder::new(self.clone())
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

fn check_imports(module: &Module, provided: &BTreeSet<(String, String)>) -> Result<()> {
    for import in module.imports() {
        let key = (import.module().to_owned(), import.name().to_owned());
        let is_func = matches!(import.ty(), ExternType::Func(_));
        if !is_func || !provided.contains(&key) {
            return Err(Error::UnknownImport {
                module: key.0,
                name: key.1,
            });
        }
    }
    Ok(())
}

fn check_exports(module: &Module) -> Result<()> {
    let exports: BTreeSet<&str> = module.exports().map(|e| e.name()).collect();
    if !exports.contains(ABI_MARKER) {
        let advertised: Vec<&str> = exports
            .iter()
            .copied()
            .filter(|n| n.starts_with("proxy_abi_version_"))
            .collect();
        return Err(Error::Abi {
            detail: format!("it does not export {ABI_MARKER} (it advertises {advertised:?})"),
        });
    }
    if !exports.contains("memory") {
        return Err(Error::Abi {
            detail: "it exports no memory".to_owned(),
        });
    }
    if !exports.contains("proxy_on_memory_allocate") && !exports.contains("malloc") {
        return Err(Error::Abi {
            detail: "it exports neither proxy_on_memory_allocate nor malloc".to_owned(),
        });
    }
    Ok(())
}
