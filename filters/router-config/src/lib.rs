//! The router filter's configuration, the **route table**: which upstream
//! server owns each exposed tool and prompt name, resource URI and resource
//! template, and how the proxy reaches it.
//!
//! The broker (standalone) and the operator (Kubernetes) write it; the
//! `mcp-router` filter reads it from its plugin configuration. It is built
//! in exactly one place, [`build_route_table`], from declared upstreams plus
//! the catalogues discovered on them. Its JSON Schema is committed as
//! `router-config.schema.json` beside this crate.

mod builder;
pub mod envoy;
pub mod policy;
pub mod resources;
pub mod session_api;
mod types;
pub mod uri_template;

pub use builder::{BuildIssue, RouteTableBuild, RouteTableSettings, build_route_table};
pub use policy::{Access, Caller, Grant, Policy, Rule, VirtualServer};
pub use types::{
    AccessRules, BrokerRoute, Entry, ExposedTool, FirstCall, Limits, ParseError, RouterConfig,
    SCHEMA_VERSION, ServerEra, ServerRoute, SessionSettings,
};
