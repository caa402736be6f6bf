//! Fuzzing of the checkpoint decoder: a checkpoint is a cache that the engine reads back
//! from disk, so damaged header or state bytes must decode to an error (the engine then
//! deletes and rebuilds the checkpoint), never a panic or an allocation the bytes cannot
//! justify. A short run is part of the suite; a long one is
//! `PROPTEST_CASES=100000 cargo test --release -p espp-replay --test fuzz_checkpoint`.

use espp_events::Hash;
#[path = "chained/mod.rs"]
mod chained;
use chained::records;
use espp_replay::checkpoint::{decode_state, encode_state};
use espp_replay::{fold_records, Header, Kind, PartList, Query};
use proptest::prelude::*;

const HISTORY: &[&str] = &[
    r#"{"type":"plan_adopted","date":"2025-12-01","rules":{}}"#,
    r#"{"type":"stockholders_approved","date":"2025-12-01"}"#,
    r#"{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-01-31"}"#,
    r#"{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}"#,
    r#"{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}"#,
    r#"{"type":"market_price","date":"2026-01-02","closes":["10.00"]}"#,
    r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1000.00"}"#,
    r#"{"type":"market_price","date":"2026-01-30","closes":["12.00"]}"#,
    r#"{"type":"purchase","date":"2026-01-30","period":"P1"}"#,
];

/// A state with a plan, an employee, a purchase and a lot, and its header: stored bytes.
fn stored() -> (Vec<u8>, Vec<u8>) {
    let records = records(HISTORY, 1);
    let at = records[0].recorded_at;
    let state = fold_records(records, Query::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.lot_count(), 1, "the history buys shares");
    let bytes = encode_state(&state);
    let header = Header::new(
        9,
        Hash::ZERO,
        Kind::Purchase,
        None,
        vec![],
        Some(at),
        &state,
        PartList::of(&state.to_parts()),
    );
    (header.encode(), bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Header::decode(&bytes);
        let _ = decode_state(&bytes);
    }

    #[test]
    fn damaged_checkpoints_decode_or_fail_cleanly(
        in_header in any::<bool>(),
        at in any::<usize>(),
        xor in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let (mut header, mut state) = stored();
        let bytes = if in_header { &mut header } else { &mut state };
        let i = at % bytes.len();
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] ^= xor;
        }
        let _ = Header::decode(&header);
        if let Ok(s) = decode_state(&state) {
            // Whatever decodes re-encodes and decodes the same.
            let again = encode_state(&s);
            prop_assert_eq!(decode_state(&again).map(|t| encode_state(&t)).ok(), Some(again));
        }
    }
}

#[test]
fn the_stored_checkpoint_round_trips() {
    let (header, state) = stored();
    assert!(Header::decode(&header).is_ok());
    let s = decode_state(&state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(encode_state(&s), state);
}
