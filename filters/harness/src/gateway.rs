//! A gateway: one plugin (a configuration) running on one or more VMs that
//! share a key-value store, queues and metrics, as Envoy runs one VM per
//! worker thread.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::LogLevel;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::message::Request;
use crate::record::LogEntry;
use crate::shared::SharedStore;
use crate::state::{ClusterBehavior, Environment};
use crate::stream::HttpStream;
use crate::vm::{Vm, VmCore};

/// Describes a gateway before it starts.
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    host: Host,
    vm_id: String,
    vm_config: Vec<u8>,
    plugin_config: Vec<u8>,
    workers: usize,
    env: Environment,
}

/// Wasm instructions one callback may run before the harness calls it an
/// endless loop (a 1 MiB body costs well under 1% of this).
const DEFAULT_FUEL_PER_CALLBACK: u64 = 20_000_000_000;

impl GatewayBuilder {
    pub(crate) fn new(host: Host) -> Self {
        GatewayBuilder {
            host,
            vm_id: "harness".to_owned(),
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            workers: 1,
            env: Environment {
                clusters: BTreeMap::new(),
                properties: BTreeMap::new(),
                env_vars: Vec::new(),
                fuel_per_callback: DEFAULT_FUEL_PER_CALLBACK,
                local_reply_through_filter: true,
                log_level: LogLevel::Trace,
                keep_stream_records: true,
            },
        }
    }

    /// The plugin configuration (`on_configure`).
    pub fn plugin_config(mut self, config: impl Into<Vec<u8>>) -> Self {
        self.plugin_config = config.into();
        self
    }

    /// The VM configuration (`on_vm_start`).
    pub fn vm_config(mut self, config: impl Into<Vec<u8>>) -> Self {
        self.vm_config = config.into();
        self
    }

    pub fn vm_id(mut self, vm_id: &str) -> Self {
        self.vm_id = vm_id.to_owned();
        self
    }

    /// How many VMs (Envoy worker threads) run the plugin.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// A cluster `proxy_http_call` may reach; calls to others are refused
    /// with `BAD_ARGUMENT`, as Envoy refuses unknown clusters.
    pub fn cluster(mut self, name: &str) -> Self {
        self.env
            .clusters
            .insert(name.to_owned(), ClusterBehavior::Accept);
        self
    }

    /// A known cluster the host cannot send to (`INTERNAL_FAILURE`).
    pub fn unreachable_cluster(mut self, name: &str) -> Self {
        self.env
            .clusters
            .insert(name.to_owned(), ClusterBehavior::FailToSend);
        self
    }

    /// A property `proxy_get_property` answers (path segments).
    pub fn property(mut self, path: &[&str], value: impl Into<Vec<u8>>) -> Self {
        self.env
            .properties
            .insert(path.iter().map(|s| (*s).to_owned()).collect(), value.into());
        self
    }

    /// An environment variable the module sees through WASI.
    pub fn env_var(mut self, key: &str, value: &str) -> Self {
        self.env.env_vars.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn fuel_per_callback(mut self, fuel: u64) -> Self {
        self.env.fuel_per_callback = fuel;
        self
    }

    /// Whether a local response sent during the request is encoded through
    /// the filter's response callbacks (Envoy does; default true).
    pub fn local_reply_through_filter(mut self, yes: bool) -> Self {
        self.env.local_reply_through_filter = yes;
        self
    }

    /// Whether a deleted stream's record (events, headers) is kept for
    /// assertions (default true). Runs of millions of streams turn it off:
    /// each stream is then forgotten at `on_delete`, and the module's log
    /// keeps only its last 1,000 lines.
    pub fn keep_stream_records(mut self, yes: bool) -> Self {
        self.env.keep_stream_records = yes;
        self
    }

    /// Starts every VM: instantiate, start functions, root context,
    /// `on_vm_start`, `on_configure`.
    ///
    /// # Errors
    /// Whatever fails on any VM; [`Error::Refused`] if the module refuses
    /// its configuration.
    pub fn start(self) -> Result<Gateway> {
        let shared = Arc::new(SharedStore::default());
        let mut env = self.env;
        for (key, value) in [
            ("plugin_name", self.vm_id.as_str()),
            ("plugin_root_id", ""),
            ("plugin_vm_id", self.vm_id.as_str()),
        ] {
            env.properties
                .entry(vec![key.to_owned()])
                .or_insert_with(|| value.as_bytes().to_vec());
        }
        let env = Arc::new(env);
        let mut vms = Vec::with_capacity(self.workers);
        for index in 0..self.workers {
            let mut core =
                VmCore::instantiate(&self.host, index, &self.vm_id, shared.clone(), env.clone())?;
            let (root, configured) = core.start_root(&self.vm_config, &self.plugin_config)?;
            if !configured {
                return Err(Error::Refused {
                    what: format!("proxy_on_configure on VM {index} (the plugin configuration)"),
                    log: core.log_tail(),
                });
            }
            core.state_mut().active_root = root;
            vms.push(Vm {
                core: Rc::new(RefCell::new(core)),
                index,
            });
        }
        Ok(Gateway {
            shared,
            vm_config: RefCell::new(self.vm_config),
            vms,
            next: Cell::new(0),
        })
    }
}

/// A running plugin on its VMs.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<SharedStore>,
    vm_config: RefCell<Vec<u8>>,
    vms: Vec<Vm>,
    next: Cell<usize>,
}

impl Gateway {
    pub fn vm(&self, index: usize) -> &Vm {
        &self.vms[index % self.vms.len()]
    }

    pub fn vms(&self) -> &[Vm] {
        &self.vms
    }

    /// Sends a request on the next VM in turn (Envoy spreads connections
    /// over its workers).
    pub fn send(&self, request: &Request) -> Result<HttpStream> {
        let index = self.next.get();
        self.next.set(index.wrapping_add(1));
        self.vm(index).send(request)
    }

    /// The store every VM shares.
    pub fn shared(&self) -> &SharedStore {
        &self.shared
    }

    /// A metric's current value (counter or gauge).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.shared.metric(name).map(|m| m.value)
    }

    /// Applies a new plugin configuration on every VM the way Envoy does
    /// (new root contexts); true if every VM accepted it.
    pub fn push_config(&self, plugin_config: &[u8]) -> Result<bool> {
        let vm_config = self.vm_config.borrow().clone();
        let mut all = true;
        for vm in &self.vms {
            all &= vm.push_config(&vm_config, plugin_config)?;
        }
        Ok(all)
    }

    /// Calls `on_configure` again on every VM's root context; true if
    /// every VM accepted the configuration.
    pub fn reconfigure(&self, plugin_config: &[u8]) -> Result<bool> {
        let mut all = true;
        for vm in &self.vms {
            all &= vm.reconfigure(plugin_config)?;
        }
        Ok(all)
    }

    /// Moves every VM's clock forward, firing `on_tick` on each VM once
    /// per tick period that elapses.
    pub fn advance_time(&self, by: Duration) -> Result<()> {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        for vm in &self.vms {
            let ticks = {
                let mut core = vm.core.borrow_mut();
                let state = core.state_mut();
                let nanos = by_ms.saturating_mul(1_000_000);
                state.time_ns = state.time_ns.saturating_add(nanos);
                state.monotonic_ns = state.monotonic_ns.saturating_add(nanos);
                let before = state.tick_elapsed_ms;
                state.tick_elapsed_ms = before.saturating_add(by_ms);
                match u64::from(state.tick_period_ms) {
                    0 => 0,
                    period => state.tick_elapsed_ms / period - before / period,
                }
            };
            for _ in 0..ticks {
                vm.tick()?;
            }
        }
        Ok(())
    }

    /// Delivers queued `proxy_on_queue_ready` notifications on every VM.
    pub fn deliver_queue_notifications(&self) -> Result<()> {
        for vm in &self.vms {
            vm.deliver_queue_notifications()?;
        }
        Ok(())
    }

    /// Every VM's log, VM by VM.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.vms.iter().flat_map(Vm::logs).collect()
    }
}
