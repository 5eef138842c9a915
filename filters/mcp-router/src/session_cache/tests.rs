use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn session(id: Option<&str>, auth: Option<&str>) -> UpstreamSessionResponse {
    UpstreamSessionResponse {
        session_id: id.map(str::to_owned),
        protocol_version: "2025-06-18".to_owned(),
        expires_at: 1_000,
        authorization: auth.map(str::to_owned),
    }
}

fn live(valid_until: u64, key_id: &str, binding: u64) -> Record {
    Record {
        gateway_session: "gw-1".to_owned(),
        server: "weather".to_owned(),
        state: RecordState::Live {
            valid_until,
            key_id: key_id.to_owned(),
            binding,
            session: session(Some("up-1"), None),
        },
    }
}

#[test]
fn records_round_trip() {
    let mut with_auth = live(1_000, "k1", 0xdead_beef);
    if let RecordState::Live { session: s, .. } = &mut with_auth.state {
        *s = session(None, Some("Bearer x y"));
    }
    for record in [
        live(1_000, "k1", u64::MAX),
        with_auth,
        Record {
            state: RecordState::Stale {
                session_id: "old".to_owned(),
            },
            ..live(0, "", 0)
        },
        Record {
            state: RecordState::Ended { until: 77 },
            ..live(0, "", 0)
        },
    ] {
        assert_eq!(Record::decode(&record.encode()), Some(record));
    }
}

#[test]
fn empty_foreign_or_damaged_values_are_misses() {
    for value in [
        &b""[..],
        b"1\nup-1\n2025-06-18\n",
        b"2\ngw\nweather\nL\n10\nk\nzz\nid\nv\n",
        b"2\ngw\nweather\nL\n10\nk\n0\nid\n\n",
        b"2\ngw\nweather\nX\n",
        b"2\n\nweather\nE\n5",
        b"2\ngw\nweather\nE\n5\nextra",
        &[0xff, 0xfe],
    ] {
        assert_eq!(
            Record::decode(value),
            None,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

#[test]
fn slots_are_two_distinct_indices_within_the_table() {
    let slots = slot_count(1000);
    assert_eq!(slots, 1024);
    assert_eq!(slot_count(0), 2);
    assert_eq!(slot_count(u32::MAX), 1 << 20);
    for i in 0..2_000 {
        let [a, b] = candidate_slots("weather", &format!("gw-{i}"), slots);
        assert!(a < slots && b < slots && a != b);
    }
    // Deterministic: every worker's VM computes the same slots.
    assert_eq!(
        candidate_slots("weather", "gw-1", slots),
        candidate_slots("weather", "gw-1", slots)
    );
    assert_ne!(
        candidate_slots("weather", "gw-1", 1 << 20),
        candidate_slots("files", "gw-1", 1 << 20)
    );
}

#[test]
fn a_live_record_routes_only_in_time_under_its_key_and_for_its_identity() {
    let binding = binding_hash("k1", Identity::Credential(b"Bearer alice"));
    let record = live(100, "k1", binding);
    assert!(matches!(
        decide(Some(record.state.clone()), 99, "k1", binding),
        Lookup::Hit(s) if s.session_id.as_deref() == Some("up-1")
    ));
    // Expired or due for revalidation: the broker decides.
    assert_eq!(
        decide(Some(record.state.clone()), 100, "k1", binding),
        Lookup::AskBroker { stale: None }
    );
    // A new signing key: every record verified under the old one is void.
    assert_eq!(
        decide(Some(record.state.clone()), 1, "k2", binding),
        Lookup::AskBroker { stale: None }
    );
    // Another credential: refused without asking.
    let other = binding_hash("k1", Identity::Credential(b"Bearer mallory"));
    assert_eq!(
        decide(Some(record.state.clone()), 1, "k1", other),
        Lookup::Refuse(Refusal::SessionOfAnotherIdentity)
    );
    assert_eq!(
        decide(None, 1, "k1", binding),
        Lookup::AskBroker { stale: None }
    );
}

#[test]
fn ended_and_stale_records_refuse_or_name_the_session_to_replace() {
    let ended = Record {
        state: RecordState::Ended { until: 50 },
        ..live(0, "", 0)
    };
    assert_eq!(
        decide(Some(ended.state.clone()), 49, "k", 0),
        Lookup::Refuse(Refusal::SessionNotFound)
    );
    assert_eq!(
        decide(Some(ended.state.clone()), 50, "k", 0),
        Lookup::AskBroker { stale: None }
    );
    let stale = Record {
        state: RecordState::Stale {
            session_id: "up-old".to_owned(),
        },
        ..live(0, "", 0)
    };
    assert_eq!(
        decide(Some(stale.state.clone()), 1, "k", 0),
        Lookup::AskBroker {
            stale: Some("up-old".to_owned())
        }
    );
}

#[test]
fn binding_hashes_differ_by_identity_kind_and_key() {
    let a = binding_hash("k1", Identity::Credential(b"t"));
    assert_ne!(a, binding_hash("k1", Identity::Verified(b"t")));
    assert_ne!(a, binding_hash("k2", Identity::Credential(b"t")));
    assert_ne!(a, binding_hash("k1", Identity::Anonymous));
    assert_eq!(a, binding_hash("k1", Identity::Credential(b"t")));
}

#[test]
fn new_records_go_to_their_pair_then_empty_then_outdated_slots() {
    let mine = live(100, "k", 1);
    let other = Record {
        gateway_session: "gw-2".to_owned(),
        ..live(100, "k", 1)
    };
    let old_other = Record {
        gateway_session: "gw-3".to_owned(),
        ..live(10, "k", 1)
    };
    let pick = |a, b| choose_slot([a, b], "weather", "gw-1", 50);
    assert_eq!(pick(Some(&other), Some(&mine)), 1);
    assert_eq!(pick(Some(&other), None), 1);
    assert_eq!(pick(None, Some(&other)), 0);
    assert_eq!(pick(Some(&other), Some(&old_other)), 1);
    assert_eq!(pick(Some(&other), Some(&other)), 0);
}

#[test]
fn broker_answers_with_unsafe_header_text_are_refused() {
    let ok = session(Some("s-1"), Some("Bearer t"));
    assert!(is_well_formed(&ok));
    let mut bad = ok.clone();
    bad.session_id = Some("a\nb".into());
    assert!(!is_well_formed(&bad));
    let mut bad = ok.clone();
    bad.authorization = Some("Bearer t\r\nx: y".into());
    assert!(!is_well_formed(&bad));
    let mut bad = ok;
    bad.protocol_version = String::new();
    assert!(!is_well_formed(&bad));
}

#[test]
fn slot_keys_name_their_index_in_decimal() {
    for index in [0, 7, 10, 4096, 1 << 20, u32::MAX] {
        assert_eq!(slot_key(index), format!("mcp-router/slot/{index}"));
    }
}
