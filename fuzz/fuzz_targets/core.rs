//! The router's pure core on arbitrary bytes: the JSON-RPC parser on the
//! raw input, then the input read as a whole request (`METHOD PATH`,
//! header lines, an empty line, the body: `mcp_router::oracle::Input`) and
//! decided against the fixture route table, every invariant of
//! `mcp_router::oracle` checked. A panic or a broken invariant is a crash.
//!
//! Seeds: `fuzz/seeds/core` (the fixture cases, written by
//! `fuzz-wasm --corpus`). Run by `just fuzz`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_router::oracle::{self, Input};
use mcp_router::table::RouteTable;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let config = mcp_router::fixtures::route_table()
            .unwrap_or_else(|e| panic!("the fixture route table: {e}"));
        RouteTable::new(config)
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = mcp_protocol::message::parse(data);
    let input = Input::decode(data);
    if let Err(broken) = oracle::decide(table(), &input) {
        panic!("{broken}\ninput: {input:?}");
    }
});
