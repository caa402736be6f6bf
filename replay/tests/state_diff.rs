//! `diff_states` (two folds compared from their states) against the oracle, `diff` of the
//! two projections' `Value` trees: the same rows, and `write_json` the very bytes
//! `serde_json` writes for the oracle, over generated company histories and random rules.
#![allow(clippy::unwrap_used)]

#[path = "../../projections/tests/common/mod.rs"]
mod common;
#[path = "../../projections/tests/history/mod.rs"]
mod history;

use espp_events::Record;
use espp_projections::{with_provenance, Provenance, State};
use espp_replay::{
    diff, diff_states, fold_records, write_diff_json, write_diff_json_hashing_other,
    write_diff_json_hashing_other_holding, Book, Query, SkippedRecord,
};
use proptest::prelude::*;
use serde_json::Value;

/// The records the generator makes, cut where a prefix does not fold.
fn accepted(records: Vec<Record>) -> Vec<Record> {
    let mut book = Book::new();
    let mut out = Vec::new();
    for r in records {
        if book.apply(std::slice::from_ref(&r)).is_err() {
            break;
        }
        out.push(r);
    }
    out
}

/// A rules file from a few rules the generated histories exercise (prices, limits,
/// eligibility, rates: some forbid events, which the other fold then skips).
fn rules() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::sample::select(vec!["0.85", "0.9", "0.95", "1"])),
        prop::option::of(prop::sample::select(vec!["0.01", "0.05", "0.15"])),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec!["carry_forward", "refund"])),
        prop::option::of(prop::sample::select(vec!["1", "100", "1000"])),
        prop::option::of(prop::sample::select(vec!["5", "30"])),
        prop::option::of(prop::sample::select(vec!["100", "2000", "25000"])),
        prop::option::of(prop::sample::select(vec!["0.02", "0.05"])),
    )
        .prop_map(
            |(pf, max_rate, whole, residual, reserve, hours, annual, step)| {
                let mut m = serde_json::Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                };
                put("price_factor", pf.map(Value::from));
                put("max_rate", max_rate.map(Value::from));
                put("whole_shares", whole.map(Value::from));
                put("residual", residual.map(Value::from));
                put("share_reserve", reserve.map(Value::from));
                put("min_weekly_hours", hours.map(Value::from));
                put("annual_limit", annual.map(Value::from));
                put("rate_step", step.map(Value::from));
                Value::Object(m).to_string()
            },
        )
}

/// What `espp diff` adds to each skipped event: what the log says of it.
fn record_of(records: &[Record], seq: u64) -> Option<&Record> {
    records.iter().find(|r| r.seq == seq)
}

/// The oracle: both projections as `Value`s with provenance, their `Value` diff, and the
/// skipped events filled in as `espp diff` did before issue 15.
fn oracle(base: &State, other: &State, records: &[Record], query: &Query, head: &str) -> Value {
    let head = records.last().map(|r| (r.seq, head.to_string()));
    let mut b = base.projection(query.as_of);
    with_provenance(&mut b, None, head.clone());
    let mut o = other.projection(query.as_of);
    with_provenance(&mut o, None, head);
    let mut d = diff(&b, &o);
    if let Some(Value::Array(skipped)) = d.get_mut("skipped") {
        for s in skipped.iter_mut() {
            let seq = s["seq"].as_u64().unwrap();
            if let (Some(r), Value::Object(m)) = (record_of(records, seq), &mut *s) {
                m.insert("date".into(), Value::String(r.date.to_string()));
                m.insert("type".into(), Value::String(r.event.type_name().into()));
                m.insert(
                    "employee".into(),
                    r.event
                        .employee()
                        .map_or(Value::Null, |e| Value::String(e.to_string())),
                );
            }
        }
    }
    d
}

fn check(records: &[Record], rules_json: &str, as_of: Option<espp_events::Day>) {
    let patch = espp_events::json::parse_rules(rules_json).unwrap();
    let base_query = Query {
        as_of,
        ..Query::default()
    };
    let other_query = Query {
        rules: Some(patch),
        ..base_query.clone()
    };
    let Ok(base) = fold_records(records.to_vec(), base_query.clone()) else {
        return;
    };
    // Rules the fold cannot skip past refuse the whole fold: `espp diff` then fails too.
    let Ok(other) = fold_records(records.to_vec(), other_query) else {
        return;
    };
    let head = "ab".repeat(32);
    let expected = oracle(&base, &other, records, &base_query, &head);
    let p = Provenance {
        known_at: None,
        head: records.last().map(|r| (r.seq, head.as_str())),
    };
    let (bd, od) = (
        base.projection_digest(as_of, p),
        other.projection_digest(as_of, p),
    );
    let mut d = diff_states(&base, &other, bd.clone(), od.clone());
    // Skipping leaves a trace the test can see: every skipped seq is in the log.
    for s in &mut d.skipped {
        let r = record_of(records, s.seq).unwrap();
        s.record = Some(SkippedRecord {
            date: r.date.to_string(),
            event_type: r.event.type_name().to_string(),
            employee: r.event.employee().map(|e| e.to_string()),
        });
    }
    assert_eq!(d.to_value(), expected, "rules {rules_json}");
    let mut bytes = Vec::new();
    d.write_json(&mut bytes).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        expected.to_string(),
        "rules {rules_json}"
    );
    // Written row by row as the states are compared: the same bytes.
    let mut streamed = Vec::new();
    write_diff_json(&base, &other, &bd, &od, &d.skipped, &mut streamed).unwrap();
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        expected.to_string(),
        "rules {rules_json}"
    );
    // And with the other digest hashed on a second thread meanwhile (the rows after it
    // held until it is done, however the two threads run).
    let mut streamed = Vec::new();
    write_diff_json_hashing_other(&base, &other, &bd, as_of, p, &d.skipped, &mut streamed).unwrap();
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        expected.to_string(),
        "rules {rules_json}"
    );
    // With only the base's rows kept (what `espp diff` holds of it): the same bytes.
    let rows = base.clone().into_rows();
    let mut streamed = Vec::new();
    write_diff_json_hashing_other(&rows, &other, &bd, as_of, p, &d.skipped, &mut streamed).unwrap();
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        expected.to_string(),
        "rules {rules_json}"
    );
    // However few rows may be held while the digest is hashed (none, or one row's bytes):
    // the same bytes (espp diff holds at most 8 MiB, then waits for the digest).
    for held_max in [0, 1, 300] {
        let mut streamed = Vec::new();
        write_diff_json_hashing_other_holding(
            &rows,
            &other,
            &bd,
            (as_of, p),
            &d.skipped,
            held_max,
            &mut streamed,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            expected.to_string(),
            "rules {rules_json}, holding at most {held_max} bytes"
        );
    }
    let mut from_rows = diff_states(&rows, &other, bd.clone(), od.clone());
    from_rows.skipped.clone_from(&d.skipped);
    assert_eq!(from_rows, d, "rules {rules_json}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_state_diff_is_the_projection_diff(
        company in history::company(),
        rules_json in rules(),
        as_of_at in prop::option::of(0usize..5000),
    ) {
        let records = accepted(common::records(&company.lines()));
        let as_of = as_of_at
            .filter(|_| !records.is_empty())
            .map(|i| records[i % records.len()].date);
        check(&records, &rules_json, as_of);
    }
}

/// A fixed case whose other rules change prices, eligibility and forbid events, so every
/// kind of row (employee, purchase, allocation, total, skipped) is present.
#[test]
fn every_kind_of_row_on_a_fixed_company() {
    let lines = common::with(
        common::company(""),
        &[
            common::hire("2025-03-01", "E2", "2024-01-01", "40"),
            common::ev("enrolled", "2025-12-11", r#""employee":"E2","rate":"0.04""#),
            common::pay("2026-01-15", "E1", "5000.00"),
            common::pay("2026-01-15", "E2", "5000.00"),
        ],
    );
    let lines = common::with(lines, &common::purchase());
    let records = accepted(common::records(&lines));
    assert!(records.len() > 5);
    let rules_json = r#"{"price_factor":"0.9","max_rate":"0.05"}"#;
    check(&records, rules_json, None);
    let other = fold_records(
        records.clone(),
        Query {
            rules: Some(espp_events::json::parse_rules(rules_json).unwrap()),
            ..Query::default()
        },
    )
    .unwrap();
    let base = fold_records(records, Query::default()).unwrap();
    let d = diff_states(&base, &other, String::new(), String::new());
    assert!(!d.skipped.is_empty(), "{d:?}");
    assert!(!d.employees.is_empty(), "{d:?}");
    assert!(!d.totals.is_empty(), "{d:?}");
}
