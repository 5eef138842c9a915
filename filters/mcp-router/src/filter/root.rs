//! The root context: loads the route table from the plugin configuration
//! and hands it to each request's context.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use router_config::RouterConfig;

use super::http::McpHttp;
use super::metrics::Metrics;
use crate::table::RouteTable;

pub struct RouterRoot {
    /// The table in force; replaced whole on each accepted configuration,
    /// while in-flight requests keep the one they started with.
    table: Option<Rc<RouteTable>>,
    metrics: Rc<Metrics>,
}

impl RouterRoot {
    pub fn new() -> Self {
        RouterRoot {
            table: None,
            metrics: Rc::new(Metrics::default()),
        }
    }
}

impl Context for RouterRoot {}

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
                self.table = Some(Rc::new(table));
                Metrics::inc(self.metrics.config_loaded);
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

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
