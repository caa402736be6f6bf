//! Property tests of the replay machinery over generated company histories (the generator
//! of `projections/tests/history`): the acceptance book fed in random batches, the streaming
//! fold fed in random chunks, and a book resumed from an encoded checkpoint plus its tail
//! all give the reference fold's digest.
#![allow(clippy::unwrap_used)]

#[path = "../../projections/tests/common/mod.rs"]
mod common;
#[path = "../../projections/tests/history/mod.rs"]
mod history;

use espp_events::Record;
use espp_replay::checkpoint::{decode_state, encode_state};
use espp_replay::{fold_records, Book, OrderedFold, Query};
use proptest::prelude::*;

/// Cuts `n` items into consecutive pieces at the given (sorted, deduplicated) points.
fn pieces(n: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
    points.push(0);
    points.push(n);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The records the generator makes, cut where a prefix does not fold (a generated history
/// may end in something the plan forbids: the property is about what the log accepts).
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_way_of_folding_gives_the_reference_digest(
        company in history::company(),
        batch_cuts in prop::collection::vec(0usize..5000, 0..12),
        chunk_cuts in prop::collection::vec(0usize..5000, 0..12),
        resume_at in 0usize..5000,
    ) {
        let records = accepted(common::records(&company.lines()));
        let n = records.len();
        let reference = fold_records(records.clone(), Query::default()).unwrap().digest();

        // The acceptance book, fed in random batches.
        let mut book = Book::new();
        for (a, b) in pieces(n, &batch_cuts) {
            book.apply(&records[a..b]).unwrap();
        }
        prop_assert_eq!(book.state().digest(), reference.clone());

        // The streaming fold, fed in random chunks with the earliest later day.
        let mut fold = OrderedFold::from_start(Query::default());
        for (a, b) in pieces(n, &chunk_cuts) {
            let later = records[b..].iter().map(|r| r.date).min();
            fold.push(records[a..b].to_vec(), later).unwrap();
        }
        prop_assert_eq!(fold.finish().unwrap().digest(), reference.clone());

        // A checkpoint of the book's closed state, encoded and decoded, plus its tail and
        // the rest of the log, resumed through the streaming fold as the engine does.
        let k = resume_at % (n + 1);
        let mut early = Book::new();
        early.apply(&records[..k]).unwrap();
        let closed = decode_state(&encode_state(early.closed())).unwrap();
        prop_assert_eq!(closed.digest(), early.closed().digest());
        let left_out: Vec<Record> = records[..k].iter().filter(|r| early.wall().is_none_or(|w| r.date > w)).cloned().collect();
        let mut resumed = OrderedFold::new(closed, Query::default());
        resumed.push(left_out, records[k..].iter().map(|r| r.date).min()).unwrap();
        resumed.push(records[k..].to_vec(), None).unwrap();
        prop_assert_eq!(resumed.finish().unwrap().digest(), reference);
    }
}
