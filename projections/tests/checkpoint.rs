//! A [`State`] stored with bincode 2 in serde mode (the engine's checkpoints) decodes to the
//! same books: the same digest, and folding on from the decoded state gives what folding on
//! from the original gives.
#![allow(clippy::unwrap_used)]

mod common;
mod history;

use espp_projections::State;
use proptest::prelude::*;

fn encode(s: &State) -> Vec<u8> {
    bincode::serde::encode_to_vec(s, bincode::config::standard()).unwrap()
}

fn decode(bytes: &[u8]) -> State {
    let (s, read): (State, usize) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).unwrap();
    assert_eq!(read, bytes.len(), "trailing bytes after the state");
    s
}

#[test]
fn empty_state_round_trips() {
    let s = State::new(None);
    let back = decode(&encode(&s));
    assert_eq!(back.digest(), s.digest());
    assert_eq!(encode(&back), encode(&s));
}

#[test]
fn overridden_state_round_trips() {
    let patch = espp_events::RulesPatch {
        price_factor: Some(espp_events::Fraction::parse("0.90").unwrap()),
        ..Default::default()
    };
    let s = State::new(Some(patch));
    let back = decode(&encode(&s));
    assert_eq!(encode(&back), encode(&s));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn state_round_trips_through_bincode(company in history::company(), cut in 0usize..1000) {
        let lines = company.lines();
        let recs = common::records(&lines);
        let cut = cut % (recs.len() + 1);
        let mut state = State::new(None);
        for r in &recs[..cut] {
            common::apply_or_skip_after_end(&mut state, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let bytes = encode(&state);
        let mut back = decode(&bytes);
        prop_assert_eq!(back.digest(), state.digest());
        prop_assert_eq!(back.projection(None), state.projection(None));
        // Re-encoding is byte-identical: every decimal kept its scale.
        prop_assert_eq!(encode(&back), bytes);
        for r in &recs[cut..] {
            let a = common::apply_or_skip_after_end(&mut state, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = common::apply_or_skip_after_end(&mut back, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(back.digest(), state.digest());
        prop_assert_eq!(encode(&back), encode(&state));
    }
}
