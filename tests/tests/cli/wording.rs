//! Words a person reads (issue 13): `--known-at` takes a bare day and any RFC 3339 offset,
//! an implausible year is refused, messages use the right article and say what the id rule
//! is.

use crate::util::{chain_vector, Dir};

/// What a fold as known at `known_at` saw: the instant it took and the last seq it folded.
fn known(dir: &Dir, known_at: &str) -> (String, u64) {
    let r = dir.espp(&["state", "--format", "json", "--known-at", known_at]);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    (
        v["known_at"].as_str().unwrap_or_default().to_string(),
        v["through_seq"].as_u64().unwrap_or_default(),
    )
}

#[test]
fn known_at_takes_a_bare_day_and_any_offset() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    // The vector's records were recorded 2026-01-02T09:00Z (two) and 2026-01-15T17:30Z.
    // A bare day is its start in UTC; 19:00 the evening before at -05:00 is the same instant.
    let day_start = ("2026-01-15T00:00:00Z".to_string(), 2);
    assert_eq!(known(&dir, "2026-01-15"), day_start);
    assert_eq!(known(&dir, "2026-01-14T19:00:00-05:00"), day_start);
    // 12:30 at -05:00 is 17:30Z: the third record is known then, and not a second before.
    assert_eq!(
        known(&dir, "2026-01-15T12:30:00-05:00"),
        ("2026-01-15T17:30:00Z".to_string(), 3)
    );
    assert_eq!(
        known(&dir, "2026-01-15T12:29:59-05:00"),
        ("2026-01-15T17:29:59Z".to_string(), 2)
    );
    dir.espp(&["state", "--known-at", "yesterday"])
        .expect_code(2)
        .stderr_has("expected a day (2026-04-01, its start in UTC) or an RFC 3339 instant");
}

#[test]
fn an_implausible_year_is_refused() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    for cmd in ["form3922", "dispositions"] {
        dir.espp(&[cmd, "--year", "26"])
            .expect_code(2)
            .stderr_has("1900..=9999");
    }
}

#[test]
fn messages_say_an_before_a_vowel_and_that_ids_are_ascii() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    dir.append(
        r#"{"type":"enrolled","date":"2026-01-05","employee":"E1","rate":"0.10","bonus":"1"}"#,
    )
    .expect_code(1)
    .stderr_has("an `enrolled` event has no such field");
    dir.append(
        r#"{"type":"payroll","date":"2026-01-05","employee":"E1","gross_pay":"1.00","x":"1"}"#,
    )
    .expect_code(1)
    .stderr_has("a `payroll` event has no such field");
    dir.append(r#"{"type":"payroll","date":"2026-01-05","employee":"Zoë","gross_pay":"1.00"}"#)
        .expect_code(1)
        .stderr_has("1-64 ASCII letters, digits");
}
