//! The host functions, one file per group of the ABI, registered on one
//! `Linker`. The registrar remembers every name it defines so that a module
//! importing anything else is refused by name before it is instantiated.

mod buffers;
mod calls;
mod maps;
mod metrics;
mod runtime;
mod shared;
mod stream;
mod wasi;

use std::collections::BTreeSet;

use wasmtime::{IntoFunc, Linker};

use crate::abi::Status;
use crate::state::HostState;

/// Registers host functions and remembers their names.
pub(crate) struct Registrar<'l> {
    linker: &'l mut Linker<HostState>,
    names: BTreeSet<(String, String)>,
}

impl Registrar<'_> {
    fn func<Params, Args>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<HostState, Params, Args>,
    ) -> crate::Result<()> {
        self.linker
            .func_wrap(module, name, func)
            .map_err(|e| crate::Error::Link {
                detail: format!("{module}.{name}: {e}"),
            })?;
        self.names.insert((module.to_owned(), name.to_owned()));
        Ok(())
    }
}

/// Defines every host function on `linker`; returns the (module, name)
/// pairs defined.
pub(crate) fn link(linker: &mut Linker<HostState>) -> crate::Result<BTreeSet<(String, String)>> {
    let mut registrar = Registrar {
        linker,
        names: BTreeSet::new(),
    };
    runtime::add(&mut registrar)?;
    buffers::add(&mut registrar)?;
    maps::add(&mut registrar)?;
    stream::add(&mut registrar)?;
    calls::add(&mut registrar)?;
    shared::add(&mut registrar)?;
    metrics::add(&mut registrar)?;
    wasi::add(&mut registrar)?;
    Ok(registrar.names)
}

/// A host function's status as the `i32` the module receives.
fn status(result: Result<(), Status>) -> wasmtime::Result<i32> {
    Ok(match result {
        Ok(()) => Status::Ok.raw(),
        Err(status) => status.raw(),
    })
}
