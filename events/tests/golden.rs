//! Golden bytes: one stored record of every event type, frozen. A change to the stored
//! format fails here before it can reach a user's ledger (bump RECORD_FORMAT_VERSION and add
//! an upcaster instead). `GOLDEN_BLESS=1 cargo test -p espp-events --test golden` rewrites
//! the file after a deliberate format change.

use std::fmt::Write as _;

use espp_events::{
    decode, encode, parse_line, Actor, DecodeError, Event, Hash, Instant, Line, Record,
};
use uuid::Uuid;

/// One line of every event type, with every optional field somewhere.
const SAMPLES: &[&str] = &[
    r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"SAVVIS ESPP","share_reserve":"6000000","max_rate":"0.10","rate_step":"0.01","price_factor":"0.85","par_value":"0.01","price_decimals":4,"annual_limit":"25000","min_service_months":3,"min_customary_months":5,"min_weekly_hours":"20","ownership_limit":"0.05","whole_shares":true,"share_decimals":4,"residual":"carry_forward","leave_limit_months":3,"approval_window_months":12,"term_years":10}}"#,
    r#"{"type":"stockholders_approved","date":"2026-02-01"}"#,
    r#"{"type":"plan_amended","date":"2026-03-01","changes":{"share_reserve":"7000000","residual":"refund"},"stockholder_approved":true}"#,
    r#"{"type":"plan_terminated","date":"2030-01-01","reason":"change_in_control","assumed":false}"#,
    r#"{"type":"period_scheduled","date":"2026-01-02","period":"2026H1","start":"2026-01-01","end":"2026-06-30","share_limit":"1000","value_limit":"12500.00","price_factor":"0.90"}"#,
    r#"{"type":"market_price","date":"2026-01-02","closes":["10.25","10.50"],"bid":"10.1","ask":"10.3","high":"11","low":"9.5","board_fmv":"10","no_sale":false}"#,
    r#"{"type":"shares_outstanding","date":"2026-01-02","shares":"100000000"}"#,
    r#"{"type":"capital_change","date":"2026-04-01","kind":"reverse_split","ratio":"1:3"}"#,
    r#"{"type":"dividend","date":"2026-05-01","per_share":"0.125"}"#,
    r#"{"type":"purchase","date":"2026-06-30","period":"2026H1"}"#,
    r#"{"type":"employee_hired","date":"2026-01-02","employee":"E1","weekly_hours":"40","months_per_year":"12","hire_date":"2024-03-01"}"#,
    r#"{"type":"employee_changed","date":"2026-02-02","employee":"E1","weekly_hours":"19.5"}"#,
    r#"{"type":"ownership_reported","date":"2026-01-02","employee":"E1","shares":"1500"}"#,
    r#"{"type":"enrolled","date":"2026-01-05","employee":"E1","rate":"0.10"}"#,
    r#"{"type":"rate_changed","date":"2026-02-05","employee":"E1","rate":"0.05"}"#,
    r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00"}"#,
    r#"{"type":"deductions_stopped","date":"2026-03-01","employee":"E1","option":"reduce"}"#,
    r#"{"type":"employment_ended","date":"2026-03-02","employee":"E1","reason":"retired"}"#,
    r#"{"type":"leave_started","date":"2026-03-03","employee":"E1","kind":"disability","cash_payments":true,"reemployment_guaranteed":true}"#,
    r#"{"type":"leave_ended","date":"2026-03-04","employee":"E1","returned":true}"#,
    r#"{"type":"cash_payment","date":"2026-03-05","employee":"E1","amount":"250.00"}"#,
    r#"{"type":"election","date":"2026-03-06","employee":"E1","choice":"make_up"}"#,
    r#"{"type":"died","date":"2026-03-07","employee":"E1"}"#,
    r#"{"type":"certificate_requested","date":"2028-03-08","employee":"E1","shares":"10"}"#,
    r#"{"type":"shares_sold","date":"2028-03-09","employee":"E1","shares":"2.5","price":"30.00"}"#,
    r#"{"type":"deduction_reversed","date":"2026-03-10","employee":"E1","amount":"12.34"}"#,
    r#"{"type":"other_plan_purchase","date":"2026-03-11","employee":"E1","value":"5000.00"}"#,
];

fn records() -> Vec<Record> {
    let mut prev = Hash::ZERO;
    SAMPLES
        .iter()
        .zip(1u64..)
        .map(|(line, seq)| {
            let Ok(Line::Bare(input)) = parse_line(line) else {
                panic!("sample {seq} does not parse")
            };
            let Ok(at) = Instant::parse("2026-01-02T09:00:00.123456789Z") else {
                panic!()
            };
            let Ok(actor) = Actor::new("golden") else {
                panic!()
            };
            let id = Uuid::from_u128(0x0193f0a4_7c00_7000_8000_000000000000 + u128::from(seq));
            let r = Record::chain(seq, id, input.date, at, actor, prev, input.event);
            prev = r.hash;
            r
        })
        .collect()
}

fn golden_text() -> String {
    let mut out = String::new();
    for r in records() {
        let _ = writeln!(out, "{} {}", r.event.type_name(), hex::encode(encode(&r)));
    }
    out
}

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/golden-records-v1.txt"
);

#[test]
fn every_event_type_has_a_sample() {
    let types: Vec<&str> = records().iter().map(|r| r.event.type_name()).collect();
    assert_eq!(
        types,
        Event::TYPES,
        "one sample per type, in catalogue order"
    );
}

#[test]
fn stored_bytes_match_the_golden_file() {
    let now = golden_text();
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        std::fs::write(GOLDEN, &now).unwrap_or_else(|e| panic!("writing {GOLDEN}: {e}"));
    }
    let frozen =
        std::fs::read_to_string(GOLDEN).unwrap_or_else(|e| panic!("reading {GOLDEN}: {e}"));
    for (a, b) in frozen.lines().zip(now.lines()) {
        assert_eq!(a, b, "the stored format changed");
    }
    assert_eq!(frozen.lines().count(), now.lines().count());
}

#[test]
fn golden_bytes_decode_to_the_same_records() {
    let frozen =
        std::fs::read_to_string(GOLDEN).unwrap_or_else(|e| panic!("reading {GOLDEN}: {e}"));
    for (line, expected) in frozen.lines().zip(records()) {
        let (_, hexed) = line.split_once(' ').unwrap_or_default();
        let bytes = hex::decode(hexed).unwrap_or_default();
        let record = decode(&bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(record, expected);
        assert_eq!(
            record.compute_hash(),
            record.hash,
            "the hash still covers the content"
        );
    }
}

#[test]
fn unknown_version_and_garbage_are_clear_errors() {
    let mut bytes = encode(&records()[0]);
    bytes[0] = 9;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownVersion(9)));
    assert_eq!(decode(&[]), Err(DecodeError::Empty));
    assert!(matches!(
        decode(&[1, 0xff, 0xff]),
        Err(DecodeError::Corrupt(_))
    ));
    let mut long = encode(&records()[1]);
    long.push(0);
    assert!(matches!(decode(&long), Err(DecodeError::Corrupt(_))));
}
