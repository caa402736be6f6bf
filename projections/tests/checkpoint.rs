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

fn blocks(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

/// A new state with `recs` folded in (a record refused after the plan's end skipped).
fn fold_prefix(recs: &[espp_events::Record]) -> Result<State, TestCaseError> {
    let mut state = State::new(None);
    for r in recs {
        common::apply_or_skip_after_end(&mut state, r)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    Ok(state)
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
        let mut state = fold_prefix(&recs[..cut])?;
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A lean state (the global part and the employee blocks only) folds every record that
    /// `folds_without_holdings` admits exactly as the whole state does, and with the
    /// holdings of the state it was cut from filled back in it is the whole state, byte for
    /// byte (what an append's lean acceptance book relies on, issue 15).
    #[test]
    fn a_lean_state_folds_like_the_whole_one(company in history::company(), cut in 0usize..1000) {
        use espp_projections::parts::folds_without_holdings;
        let lines = company.lines();
        let recs = common::records(&lines);
        let cut = cut % (recs.len() + 1);
        let mut state = fold_prefix(&recs[..cut])?;
        let parts = state.to_parts();
        let mut lean = State::from_parts(
            &parts.global,
            parts.employees.iter().map(|(_, b)| b.as_slice()),
            [],
            [],
            [],
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut folded = 0usize;
        for r in recs[cut..].iter().take_while(|r| folds_without_holdings(&r.event)) {
            let a = common::apply_or_skip_after_end(&mut state, r);
            let b = common::apply_or_skip_after_end(&mut lean, r);
            match (a, b) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "seq {}", r.seq),
                (Err(_), Err(_)) => return Ok(()),
                (a, b) => prop_assert!(false, "seq {}: whole {:?}, lean {:?}", r.seq, a, b),
            }
            folded += 1;
        }
        lean.fill_holdings(blocks(&parts.lots), blocks(&parts.purchases), blocks(&parts.dispositions))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(encode(&lean), encode(&state), "after {} lean records", folded);
        prop_assert_eq!(lean.digest(), state.digest());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The hand decoder of employee blocks (issue 15: a payday's append decodes every one)
    /// reads every block of a folded history, and reads it as serde does.
    #[test]
    fn employee_blocks_decode_by_hand_as_by_serde(company in history::company(), cut in 0usize..1000) {
        let lines = company.lines();
        let recs = common::records(&lines);
        let cut = cut % (recs.len() + 1);
        let state = fold_prefix(&recs[..cut])?;
        for (first, bytes) in &state.to_parts().employees {
            let agrees = espp_projections::parts::employee_block_by_hand_agrees(bytes);
            prop_assert_eq!(agrees, Some(true), "the block of {} at cut {}", first, cut);
        }
    }

    /// A changed byte in an employee block: the hand decoder leaves the block to serde, or
    /// reads it as serde does; it never decides alone (and never panics).
    #[test]
    fn a_changed_employee_block_is_read_by_hand_only_as_serde_reads_it(
        company in history::company(),
        cut in 0usize..1000,
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let lines = company.lines();
        let recs = common::records(&lines);
        let cut = cut % (recs.len() + 1);
        let state = fold_prefix(&recs[..cut])?;
        for (_, bytes) in &state.to_parts().employees {
            let mut bytes = bytes.clone();
            for (at, v) in &changes {
                let i = at.index(bytes.len());
                bytes[i] = *v;
            }
            let agrees = espp_projections::parts::employee_block_by_hand_agrees(&bytes);
            prop_assert_ne!(agrees, Some(false));
            // Cut short.
            let short = &bytes[..bytes.len() / 2];
            prop_assert_ne!(espp_projections::parts::employee_block_by_hand_agrees(short), Some(false));
        }
    }
}
