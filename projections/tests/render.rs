//! The projection written straight from the state (`State::write_projection`, issue 15) is
//! byte for byte the old rendering — `State::projection` as a `serde_json::Value`, with
//! `with_provenance`, printed — and its digest the same, on generated company histories
//! after every event, with and without provenance and an as-of day, and on awkward strings;
//! and the same whatever the split of its two pieces rendered on two threads.
#![allow(clippy::unwrap_used)]

mod common;
mod history;

use espp_projections::{canonical_json, with_provenance, Provenance, State};
use proptest::prelude::*;
use serde_json::Value;

/// The old path, kept as the oracle: the `Value` tree, provenance set, printed as the
/// engine printed it (`{projection}`), and its canonical form.
fn oracle(state: &State, as_of: Option<espp_events::Day>, p: Provenance<'_>) -> (String, String) {
    let mut v = state.projection(as_of);
    with_provenance(
        &mut v,
        p.known_at.map(str::to_string),
        p.head.map(|(s, h)| (s, h.to_string())),
    );
    let digest = v["digest"].as_str().unwrap().to_string();
    assert_eq!(
        v.to_string(),
        canonical_json(&v),
        "the Value prints canonically"
    );
    (v.to_string(), digest)
}

fn check(
    state: &State,
    as_of: Option<espp_events::Day>,
    p: Provenance<'_>,
) -> Result<(), TestCaseError> {
    let (want, want_digest) = oracle(state, as_of, p);
    let mut got = Vec::new();
    let digest = state.write_projection(as_of, p, &mut got).unwrap();
    let got = String::from_utf8(got).unwrap();
    prop_assert_eq!(&got, &want);
    prop_assert_eq!(&digest, &want_digest);
    prop_assert_eq!(&state.projection_digest(as_of, p), &want_digest);
    // The tail is rendered in two pieces on two threads, split among the lots: every split
    // gives the same bytes.
    let lots = state.lot_count();
    for split in [0, 1, lots / 2, lots, lots + 1] {
        let mut at = Vec::new();
        let d = state
            .write_projection_split(as_of, p, split, &mut at)
            .unwrap();
        prop_assert_eq!(
            &String::from_utf8(at).unwrap(),
            &want,
            "split after {} lots",
            split
        );
        prop_assert_eq!(&d, &want_digest);
    }
    Ok(())
}

const HEAD: Provenance<'static> = Provenance {
    known_at: Some("2026-03-01T12:00:00Z"),
    head: Some((42, "00ab\"\\\u{1}é")),
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn direct_rendering_equals_the_value_rendering(company in history::company()) {
        let lines = company.lines();
        let recs = common::records(&lines);
        let mut state = State::new(None);
        for (i, r) in recs.iter().enumerate() {
            common::apply_or_skip_after_end(&mut state, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Every event in the first forty, then every seventh and the last.
            if i < 40 || i % 7 == 0 || i + 1 == recs.len() {
                check(&state, None, Provenance::default())?;
            }
        }
        check(&state, None, HEAD)?;
        check(&state, state.day(), HEAD)?;
        let books = state.projection(None);
        prop_assert_eq!(state.digest(), books["digest"].as_str().unwrap());
    }
}

/// Strings that need escaping (a plan name with quotes, a backslash, a slash and
/// non-ASCII; names refuse control characters, the provenance hash here carries one), an
/// empty state.
#[test]
fn escaped_strings_and_edge_states() {
    check(&State::new(None), None, Provenance::default()).unwrap();
    check(&State::new(None), None, HEAD).unwrap();
    let lines = common::with(
        common::company(r#""name":"Acme \"Q\" \\ / é ✓""#),
        &common::purchase(),
    );
    let state = common::fold(&lines).unwrap();
    let (json, _) = oracle(&state, None, Provenance::default());
    assert!(json.contains(r#"Acme \"Q\""#), "{json}");
    check(&state, None, Provenance::default()).unwrap();
    check(&state, state.day(), HEAD).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["plan"]["name"], "Acme \"Q\" \\ / é ✓");
}
