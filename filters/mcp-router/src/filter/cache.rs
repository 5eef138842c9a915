//! The session cache's shared-data I/O: reading and writing the slots of
//! `crate::session_cache`. Every decision about what a record means is the
//! core's; this file only finds, reads and replaces slots.

use proxy_wasm::hostcalls;

use crate::session_cache::{self, Record, RecordState};
use crate::table::RouteTable;

/// A record found in its slot, with the slot's compare-and-swap token.
pub struct Found {
    pub slot: u32,
    pub cas: Option<u32>,
    pub state: RecordState,
}

fn read(slot: u32) -> (Option<Record>, Option<u32>) {
    match hostcalls::get_shared_data(&session_cache::slot_key(slot)) {
        Ok((Some(value), cas)) => (Record::decode(&value), cas),
        Ok((None, cas)) => (None, cas),
        Err(_) => (None, None),
    }
}

/// The record of (server, gateway session), if one of its two slots holds
/// it. One shared-data read when it sits in its first slot.
pub fn find(table: &RouteTable, server: &str, gateway_session: &str) -> Option<Found> {
    for slot in session_cache::candidate_slots(server, gateway_session, table.cache_slots()) {
        if let Ok((Some(value), cas)) = hostcalls::get_shared_data(&session_cache::slot_key(slot))
            && let Some(state) = Record::decode_for(&value, server, gateway_session)
        {
            return Some(Found { slot, cas, state });
        }
    }
    None
}

/// Writes `state` for (server, gateway session) into the slot the core
/// chooses. A compare-and-swap failure means another worker wrote the slot
/// a moment ago; its record is as good as ours, so it is not retried.
pub fn store(
    table: &RouteTable,
    server: &str,
    gateway_session: &str,
    state: RecordState,
    now: u64,
) {
    let slots = session_cache::candidate_slots(server, gateway_session, table.cache_slots());
    let current = slots.map(read);
    let choice = session_cache::choose_slot(
        [current[0].0.as_ref(), current[1].0.as_ref()],
        server,
        gateway_session,
        now,
    );
    let record = Record {
        gateway_session: gateway_session.to_owned(),
        server: server.to_owned(),
        state,
    };
    let (slot, cas) = (slots[choice], current[choice].1);
    let _ = hostcalls::set_shared_data(&session_cache::slot_key(slot), Some(&record.encode()), cas);
}

/// Replaces the record of (server, gateway session) with `state`, if there
/// is one and `still` holds for it (compare-and-swap, so a newer record
/// another worker wrote meanwhile is kept). Touches nothing otherwise.
pub fn replace_if(
    table: &RouteTable,
    server: &str,
    gateway_session: &str,
    still: impl Fn(&RecordState) -> bool,
    state: RecordState,
) {
    let Some(found) = find(table, server, gateway_session) else {
        return;
    };
    if !still(&found.state) {
        return;
    }
    let record = Record {
        gateway_session: gateway_session.to_owned(),
        server: server.to_owned(),
        state,
    };
    // A compare-and-swap failure: another worker updated it first. Fine.
    let _ = hostcalls::set_shared_data(
        &session_cache::slot_key(found.slot),
        Some(&record.encode()),
        found.cas,
    );
}
