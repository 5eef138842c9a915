//! One VM: a wasmtime `Store` running the module, the callbacks it exports,
//! and the one function every callback goes through ([`VmCore::call`]),
//! which meters fuel, turns traps into errors carrying the module's log,
//! and fails the callback when the module broke the contract.
//!
//! Lifecycle (as proxy-wasm-cpp-host drives it): `_initialize` (then
//! `main` if exported) or `_start`; per root context `on_context_create`,
//! `on_vm_start`, `on_configure`; per request a stream context.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use wasmtime::{CallHook, Instance, Store, Trap, TypedFunc, WasmParams, WasmResults};

use crate::error::{Error, LogTail, Result};
use crate::host::Host;
use crate::record::{Callback, DispatchedCall, Event, LogEntry};
use crate::shared::SharedStore;
use crate::state::{Context, Environment, Guest, HostState};

/// `proxy_on_http_call_response(context, token, headers, body, trailers)`.
type CallResponseFn = TypedFunc<(i32, i32, i32, i32, i32), ()>;

/// The callbacks a module may export; absent ones are skipped, as the spec
/// says ("all callbacks are optional").
pub(crate) struct Exports {
    pub initialize: Option<TypedFunc<(), ()>>,
    pub start: Option<TypedFunc<(), ()>>,
    pub main: Option<TypedFunc<(i32, i32), i32>>,
    pub context_create: Option<TypedFunc<(i32, i32), ()>>,
    pub vm_start: Option<TypedFunc<(i32, i32), i32>>,
    pub configure: Option<TypedFunc<(i32, i32), i32>>,
    pub request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub http_call_response: Option<CallResponseFn>,
    pub tick: Option<TypedFunc<i32, ()>>,
    pub queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    pub done: Option<TypedFunc<i32, i32>>,
    pub log: Option<TypedFunc<i32, ()>>,
    pub delete: Option<TypedFunc<i32, ()>>,
}

impl Exports {
    fn find(instance: &Instance, store: &mut Store<HostState>) -> Result<Exports> {
        fn typed<P: WasmParams, R: WasmResults>(
            instance: &Instance,
            store: &mut Store<HostState>,
            name: &str,
        ) -> Result<Option<TypedFunc<P, R>>> {
            match instance.get_func(&mut *store, name) {
                None => Ok(None),
                Some(func) => func.typed(&*store).map(Some).map_err(|e| Error::Abi {
                    detail: format!("{name} has the wrong signature: {e}"),
                }),
            }
        }
        Ok(Exports {
            initialize: typed(instance, store, "_initialize")?,
            start: typed(instance, store, "_start")?,
            main: typed(instance, store, "main")?,
            context_create: typed(instance, store, "proxy_on_context_create")?,
            vm_start: typed(instance, store, "proxy_on_vm_start")?,
            configure: typed(instance, store, "proxy_on_configure")?,
            request_headers: typed(instance, store, "proxy_on_request_headers")?,
            request_body: typed(instance, store, "proxy_on_request_body")?,
            request_trailers: typed(instance, store, "proxy_on_request_trailers")?,
            response_headers: typed(instance, store, "proxy_on_response_headers")?,
            response_body: typed(instance, store, "proxy_on_response_body")?,
            response_trailers: typed(instance, store, "proxy_on_response_trailers")?,
            http_call_response: typed(instance, store, "proxy_on_http_call_response")?,
            tick: typed(instance, store, "proxy_on_tick")?,
            queue_ready: typed(instance, store, "proxy_on_queue_ready")?,
            done: typed(instance, store, "proxy_on_done")?,
            log: typed(instance, store, "proxy_on_log")?,
            delete: typed(instance, store, "proxy_on_delete")?,
        })
    }
}

/// A VM's store, exports and health.
pub(crate) struct VmCore {
    pub store: Store<HostState>,
    pub exports: Exports,
    /// Why the VM is dead (a trap), if it is.
    pub failed: Option<String>,
    pub peak_pages: u64,
}

impl VmCore {
    /// Instantiates the module and runs its start functions.
    pub fn instantiate(
        host: &Host,
        index: usize,
        vm_id: &str,
        shared: Arc<SharedStore>,
        env: Arc<Environment>,
    ) -> Result<VmCore> {
        let inner = host.inner();
        let mut state = HostState::new(index, shared, env);
        state.vm_id = vm_id.to_owned();
        let mut store = Store::new(&inner.engine, state);
        // Every import the module calls is one crossing into the host: the
        // count the cost budget keeps beside the instructions.
        store.call_hook(|mut ctx, hook| {
            if matches!(hook, CallHook::CallingHost) {
                let state = ctx.data_mut();
                state.host_calls = state.host_calls.saturating_add(1);
            }
            Ok(())
        });
        let instance = inner
            .linker
            .instantiate(&mut store, &inner.module)
            .map_err(|e| Error::Instantiate {
                detail: format!("{e:?}"),
            })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| Error::Abi {
                detail: "no exported memory".to_owned(),
            })?;
        let allocate = ["proxy_on_memory_allocate", "malloc"]
            .iter()
            .find_map(|name| instance.get_typed_func::<i32, i32>(&mut store, name).ok())
            .ok_or_else(|| Error::Abi {
                detail: "no allocator with signature (i32) -> i32".to_owned(),
            })?;
        store.data_mut().guest = Some(Guest { memory, allocate });
        let exports = Exports::find(&instance, &mut store)?;
        let mut core = VmCore {
            store,
            exports,
            failed: None,
            peak_pages: 0,
        };
        if core.exports.initialize.is_some() {
            let f = core.exports.initialize.clone();
            core.call(Callback::Initialize, 0, 0, &f, ())?;
            let main = core.exports.main.clone();
            core.call(Callback::Main, 0, 0, &main, (0, 0))?;
        } else {
            let f = core.exports.start.clone();
            core.call(Callback::Start, 0, 0, &f, ())?;
        }
        Ok(core)
    }

    pub fn state(&self) -> &HostState {
        self.store.data()
    }

    pub fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// Runs one callback in `context`, charging its fuel to `charge_to`.
    /// `Ok(None)` when the module does not export it.
    pub fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        callback: Callback,
        context: u32,
        charge_to: u32,
        func: &Option<TypedFunc<P, R>>,
        params: P,
    ) -> Result<Option<R>> {
        let vm = self.state().vm;
        if let Some(cause) = &self.failed {
            return Err(Error::VmFailed {
                vm,
                cause: cause.clone(),
            });
        }
        let Some(func) = func else {
            return Ok(None);
        };
        let limit = self.state().env.fuel_per_callback;
        let fuel_error = |e: wasmtime::Error| Error::Link {
            detail: e.to_string(),
        };
        self.store.set_fuel(limit).map_err(fuel_error)?;
        {
            let state = self.state_mut();
            state.callback = Some(callback);
            state.current = context;
            state.effective = context;
            state.host_calls = 0;
        }
        let outcome = func.call(&mut self.store, params);
        let fuel = limit.saturating_sub(self.store.get_fuel().map_err(fuel_error)?);
        let pages = self
            .state()
            .guest
            .as_ref()
            .map_or(0, |g| g.memory.size(&self.store));
        self.peak_pages = self.peak_pages.max(pages);
        let state = self.state_mut();
        state.callback = None;
        state.effective = 0;
        let host_calls = std::mem::take(&mut state.host_calls);
        if let Some(c) = state.contexts.get_mut(&charge_to) {
            c.fuel = c.fuel.saturating_add(fuel);
            c.host_calls = c.host_calls.saturating_add(host_calls);
            c.events.push(Event::Returned {
                callback,
                action: None,
                fuel,
                host_calls,
            });
        }
        let value = match outcome {
            Ok(value) => value,
            Err(error) => {
                let trap = describe_trap(&error, limit, state.exit_code);
                self.failed = Some(format!("{trap} in {callback}"));
                return Err(Error::Trap {
                    vm,
                    callback,
                    context,
                    trap,
                    log: LogTail::of(&self.state().log),
                });
            }
        };
        let violations = std::mem::take(&mut self.state_mut().violations);
        if !violations.is_empty() {
            return Err(Error::Contract {
                vm,
                violations,
                log: LogTail::of(&self.state().log),
            });
        }
        Ok(Some(value))
    }

    /// Replaces the action of the last `Returned` event of `context`.
    pub fn note_action(&mut self, context: u32, action: crate::abi::Action) {
        if let Some(Event::Returned { action: slot, .. }) = self
            .state_mut()
            .contexts
            .get_mut(&context)
            .and_then(|c| c.events.last_mut())
        {
            *slot = Some(action);
        }
    }

    pub fn log_tail(&self) -> LogTail {
        LogTail::of(&self.state().log)
    }

    /// Creates a root context and starts it: `on_context_create`,
    /// `on_vm_start`, `on_configure`, as cpp-host's `WasmBase::start` and
    /// `configure` do for every plugin (configuration).
    pub fn start_root(&mut self, vm_config: &[u8], plugin_config: &[u8]) -> Result<(u32, bool)> {
        let id = self.state_mut().alloc_context_id();
        self.state_mut().contexts.insert(id, Context::default());
        let f = self.exports.context_create.clone();
        self.call(Callback::ContextCreate, id, id, &f, (id as i32, 0))?;
        self.state_mut().vm_configuration = vm_config.to_vec();
        let f = self.exports.vm_start.clone();
        let started = self
            .call(
                Callback::VmStart,
                id,
                id,
                &f,
                (id as i32, vm_config.len() as i32),
            )?
            .is_none_or(|ok| ok != 0);
        if !started {
            return Err(Error::Refused {
                what: format!("proxy_on_vm_start (root context {id})"),
                log: self.log_tail(),
            });
        }
        let configured = self.configure(id, plugin_config)?;
        Ok((id, configured))
    }

    /// `on_configure` on root context `id` with `plugin_config`.
    pub fn configure(&mut self, id: u32, plugin_config: &[u8]) -> Result<bool> {
        self.state_mut().plugin_configuration = plugin_config.to_vec();
        let f = self.exports.configure.clone();
        let result = self.call(
            Callback::Configure,
            id,
            id,
            &f,
            (id as i32, plugin_config.len() as i32),
        )?;
        Ok(result.is_none_or(|ok| ok != 0))
    }

    /// Ends a context: `on_done`, then `on_log` and `on_delete` unless the
    /// module asked to finish later with `proxy_done`.
    pub fn finish_context(&mut self, id: u32) -> Result<()> {
        let f = self.exports.done.clone();
        let done = self
            .call(Callback::Done, id, id, &f, id as i32)?
            .is_none_or(|d| d != 0);
        if done {
            self.delete_context(id)
        } else {
            if let Some(c) = self.state_mut().contexts.get_mut(&id) {
                c.awaiting_done = true;
            }
            Ok(())
        }
    }

    /// `on_log` then `on_delete`.
    pub fn delete_context(&mut self, id: u32) -> Result<()> {
        let f = self.exports.log.clone();
        self.call(Callback::Log, id, id, &f, id as i32)?;
        let f = self.exports.delete.clone();
        self.call(Callback::Delete, id, id, &f, id as i32)?;
        if let Some(c) = self.state_mut().contexts.get_mut(&id) {
            c.deleted = true;
            c.awaiting_done = false;
        }
        let state = self.state_mut();
        if !state.env.keep_stream_records && state.contexts.get(&id).is_some_and(|c| c.parent != 0)
        {
            state.contexts.remove(&id);
            let excess = state.log.len().saturating_sub(1_000);
            state.log.drain(..excess);
        }
        Ok(())
    }
}

fn describe_trap(error: &wasmtime::Error, fuel_limit: u64, exit: Option<i32>) -> String {
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return format!(
            "the module ran out of fuel ({fuel_limit} wasm instructions in one callback): an endless loop?\n{error:?}"
        );
    }
    if let Some(code) = exit {
        return format!("the module exited with proc_exit({code})");
    }
    format!("{error:?}")
}

/// A handle on one VM of a gateway. Clones share the VM.
#[derive(Clone)]
pub struct Vm {
    pub(crate) core: Rc<RefCell<VmCore>>,
    pub(crate) index: usize,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm").field("index", &self.index).finish()
    }
}

impl Vm {
    pub fn index(&self) -> usize {
        self.index
    }

    /// The root context new requests are created under.
    pub fn root_context(&self) -> u32 {
        self.core.borrow().state().active_root
    }

    /// Every line the module logged on this VM.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.core.borrow().state().log.clone()
    }

    /// HTTP calls dispatched on this VM and not answered yet.
    pub fn pending_calls(&self) -> Vec<DispatchedCall> {
        self.core.borrow().state().calls.values().cloned().collect()
    }

    /// Linear memory now, in 64 KiB pages (wasm memory never shrinks, so
    /// this is also the peak so far).
    pub fn memory_pages(&self) -> u64 {
        self.core.borrow().peak_pages
    }

    /// The tick period the module asked for, in milliseconds (0: none).
    pub fn tick_period_ms(&self) -> u32 {
        self.core.borrow().state().tick_period_ms
    }

    /// Why the VM died, if a trap killed it.
    pub fn failure(&self) -> Option<String> {
        self.core.borrow().failed.clone()
    }

    /// Wasm instructions spent so far in context `id`'s callbacks.
    pub fn context_fuel(&self, id: u32) -> u64 {
        self.core
            .borrow()
            .state()
            .contexts
            .get(&id)
            .map_or(0, |c| c.fuel)
    }

    /// Host functions called so far by context `id`'s callbacks.
    pub fn context_host_calls(&self, id: u32) -> u64 {
        self.core
            .borrow()
            .state()
            .contexts
            .get(&id)
            .map_or(0, |c| c.host_calls)
    }

    /// The record of context `id` (root or stream).
    pub fn events(&self, id: u32) -> Vec<Event> {
        self.core
            .borrow()
            .state()
            .contexts
            .get(&id)
            .map(|c| c.events.clone())
            .unwrap_or_default()
    }
}
