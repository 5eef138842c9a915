//! The root context: loads the route table from the plugin configuration
//! and hands it to each request's context.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};
use router_config::RouterConfig;
use router_config::session_api::{TABLE_LOADED_PATH, TableLoaded};

use super::http::McpHttp;
use super::metrics::Metrics;
use crate::table::RouteTable;

pub struct RouterRoot {
    /// The table in force; replaced whole on each accepted configuration,
    /// while in-flight requests keep the one they started with.
    table: Option<Rc<RouteTable>>,
    metrics: Rc<Metrics>,
    /// The loaded table's id, until the broker has heard of it.
    unreported: Option<String>,
    /// The report in flight.
    report: Option<u32>,
}

/// How often the root retries telling the broker which table it loaded.
const REPORT_PERIOD: Duration = Duration::from_millis(500);

impl RouterRoot {
    pub fn new() -> Self {
        RouterRoot {
            table: None,
            metrics: Rc::new(Metrics::default()),
            unreported: None,
            report: None,
        }
    }

    /// Tells the broker the table this VM routes with: it announces a
    /// changed catalogue only once a proxy can route it.
    fn report_table(&mut self) {
        let (Some(id), Some(table), None) = (&self.unreported, &self.table, self.report) else {
            return;
        };
        let broker = table.broker();
        let body = serde_json::to_vec(&TableLoaded { id: id.clone() }).unwrap_or_default();
        match hostcalls::dispatch_http_call(
            &broker.cluster,
            vec![
                (":method", "POST"),
                (":path", TABLE_LOADED_PATH),
                (":authority", &broker.authority),
                ("content-type", "application/json"),
            ],
            Some(&body),
            vec![],
            Duration::from_millis(u64::from(broker.timeout_ms)),
        ) {
            Ok(token) => self.report = Some(token),
            Err(status) => log::debug!("mcp-router: cannot report the route table yet: {status:?}"),
        }
    }
}

impl Context for RouterRoot {
    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize, _: usize, _: usize) {
        if self.report != Some(token_id) {
            return;
        }
        self.report = None;
        let accepted = num_headers > 0
            && matches!(
                hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status"),
                Ok(Some(status)) if status.starts_with(b"2")
            );
        if accepted {
            self.unreported = None;
            let _ = hostcalls::set_tick_period(Duration::ZERO);
        }
    }
}

impl RootContext for RouterRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        self.metrics = Rc::new(Metrics::define());
        true
    }

    /// Returning `false` makes the host refuse this configuration; a table
    /// already in force on this root context stays in force.
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        ) {
            Ok(Some(bytes)) => bytes,
            _ => {
                log::error!("mcp-router: no plugin configuration; the route table is required");
                Metrics::inc(self.metrics.config_rejected);
                return false;
            }
        };
        match RouterConfig::from_json(&bytes) {
            Ok(config) => {
                let table = RouteTable::new(config);
                log::info!(
                    "mcp-router: route table loaded: {} servers, {} tools, MCP path {}",
                    table.servers().len(),
                    table.tool_count(),
                    table.mcp_path()
                );
                let id = table.config().id.clone();
                self.table = Some(Rc::new(table));
                Metrics::inc(self.metrics.config_loaded);
                if !id.is_empty() {
                    // Reported from the timer: the host may not accept
                    // calls while it configures the plugin.
                    self.unreported = Some(id);
                    let _ = hostcalls::set_tick_period(REPORT_PERIOD);
                }
                true
            }
            Err(error) => {
                log::error!(
                    "mcp-router: configuration rejected, {}: {error}",
                    if self.table.is_some() {
                        "keeping the previous route table"
                    } else {
                        "no route table in force"
                    }
                );
                Metrics::inc(self.metrics.config_rejected);
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never `None`: the SDK panics on it. Without a table the context
        // passes everything through.
        Some(Box::new(McpHttp::new(
            self.table.clone(),
            self.metrics.clone(),
        )))
    }

    fn on_tick(&mut self) {
        self.report_table();
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
