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

/// What `Ledger::fold_employee` does, in memory: from a checkpoint of `checkpoint` (its
/// parts encoded), the global part, the employee's block and its lots only, folding the
/// records of no employee or of `id` (the checkpoint's `left_out`, then `rest`). None when
/// a purchase or a termination is among them (the engine then folds everything).
fn employee_view(
    checkpoint: &espp_projections::State,
    left_out: &[Record],
    rest: &[Record],
    query: &Query,
    id: &str,
) -> Option<Vec<u8>> {
    use espp_events::Event;
    let (parts, list) = espp_replay::checkpoint::encode_parts(checkpoint);
    let block = list.block_of(id).map(|i| parts.employees[i].1.as_slice());
    let state = espp_projections::State::for_employee(&parts.global, block, id, &mut |i| {
        Ok(parts.lots[i].clone())
    })
    .unwrap();
    let mut everyone = false;
    let mut reached = None;
    let mut keep = |r: &Record| {
        if matches!(
            r.event,
            Event::Purchase { .. } | Event::PlanTerminated { .. }
        ) && query.admits(r)
        {
            everyone = true;
        }
        let kept = r.event.employee().is_none_or(|e| e.as_str() == id);
        if !kept && query.admits(r) {
            reached = reached.max(Some(r.date));
        }
        kept
    };
    let left: Vec<Record> = left_out.iter().filter(|r| keep(r)).cloned().collect();
    let after: Vec<Record> = rest.iter().filter(|r| keep(r)).cloned().collect();
    if everyone {
        return None;
    }
    let mut fold = OrderedFold::new(state, query.clone());
    fold.push(left, rest.iter().map(|r| r.date).min()).unwrap();
    fold.push(after, None).unwrap();
    let state = fold.finish_through(reached).unwrap();
    let mut out = Vec::new();
    state
        .write_employee_projection(id, query.as_of, Default::default(), &mut out)
        .unwrap();
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A state cut into checkpoint parts and put back together is the same state (the
    /// same encoding, the same digest); and one employee's account folded from a
    /// checkpoint's global part and that employee's parts, with only the records of no
    /// employee or of that one, is that employee's entry of the whole projection — as of
    /// any day, across purchases, leaves and capital changes.
    #[test]
    fn parts_reassemble_and_one_employee_folds_alone(
        company in history::company(),
        resume_at in 0usize..5000,
        as_of_at in prop::option::of(0usize..5000),
    ) {
        let records = accepted(common::records(&company.lines()));
        let n = records.len();
        prop_assume!(n > 0);
        let whole = fold_records(records.clone(), Query::default()).unwrap();
        let (parts, list) = espp_replay::checkpoint::encode_parts(&whole);
        let again = decode_state(&encode_state(&whole)).unwrap();
        prop_assert_eq!(espp_replay::checkpoint::encode_parts(&again), (parts, list));
        prop_assert_eq!(again.digest(), whole.digest());

        let query = Query {
            as_of: as_of_at.map(|i| records[i % n].date),
            ..Query::default()
        };
        let reference = fold_records(records.clone(), query.clone()).unwrap();
        let mut full = Vec::new();
        reference.write_projection(query.as_of, Default::default(), &mut full).unwrap();
        let full: serde_json::Value = serde_json::from_slice(&full).unwrap();

        // A purchase checkpoint taken after `k` records, as the engine takes them: after a
        // random record, and right after the last purchase (or termination) the query
        // folds (where the engine's path starts).
        let last_purchase = records
            .iter()
            .rposition(|r| {
                matches!(r.event, espp_events::Event::Purchase { .. } | espp_events::Event::PlanTerminated { .. })
                    && query.admits(r)
            })
            .map_or(0, |i| i + 1);
        for k in [resume_at % (n + 1), last_purchase] {
            let mut early = Book::new();
            early.apply(&records[..k]).unwrap();
            let serves = query
                .as_of
                .is_none_or(|d| early.closed().day().is_none_or(|f| f <= d));
            let (checkpoint, left_out, rest) = if serves {
                let left_out: Vec<Record> = records[..k]
                    .iter()
                    .filter(|r| early.wall().is_none_or(|w| r.date > w))
                    .cloned()
                    .collect();
                (early.closed().clone(), left_out, records[k..].to_vec())
            } else {
                (espp_projections::State::new(None), Vec::new(), records.clone())
            };
            let mut ids: Vec<String> = reference.employee_ids().map(str::to_string).collect();
            ids.push("never-hired".into());
            for id in ids {
                let Some(view) = employee_view(&checkpoint, &left_out, &rest, &query, &id) else {
                    continue;
                };
                let view: serde_json::Value = serde_json::from_slice(&view).unwrap();
                prop_assert_eq!(&view["as_of"], &full["as_of"]);
                let entry = full["employees"].get(&id).cloned().unwrap_or(serde_json::Value::Null);
                prop_assert_eq!(&view["employee"], &entry, "employee {}", id);
            }
        }
    }
}

/// The traced fold `explain` runs over the whole log (the reference): from the start, every
/// record, the trace the fold fills in.
fn traced_whole(records: &[Record], query: &Query, id: &str) -> espp_projections::State {
    let trace = espp_projections::Trace::employee(espp_events::EmployeeId::new(id).unwrap());
    let mut fold = OrderedFold::new(
        espp_projections::State::with_trace(None, trace),
        query.clone(),
    );
    fold.push(records.to_vec(), None).unwrap();
    fold.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `explain`'s one-employee fold (`fold_one_traced`: the records of no employee or of
    /// that one, each purchase's every-account sums from the stored purchase parts, reaching
    /// the whole fold's day and seq) gives what the traced fold of the whole log gives —
    /// the trail, the account, the periods and the highest seq — for every employee, as of
    /// any day; and it serves every query but those with a prorated purchase, a
    /// termination or a capital change.
    #[test]
    fn one_employee_trail_is_the_whole_folds(
        company in history::company(),
        as_of_at in prop::option::of(0usize..5000),
        shift in -3i64..4,
    ) {
        use espp_events::Event;
        let records = accepted(common::records(&company.lines()));
        let n = records.len();
        prop_assume!(n > 0);
        let query = Query {
            as_of: as_of_at.and_then(|i| records[i % n].date.add_days(shift)),
            ..Query::default()
        };
        // Each purchase's part as its own checkpoint holds it (the state through its day).
        let latest = fold_records(records.clone(), Query::default()).unwrap();
        let (parts, _) = espp_replay::checkpoint::encode_parts(&latest);
        let prorated = parts.purchases.iter().any(|p| {
            espp_projections::parts::purchase_totals(p).unwrap().prorated
        });
        let own_part = |i: usize, day: espp_events::Day| {
            let through = Query { as_of: Some(day), ..Query::default() };
            let state = fold_records(records.clone(), through).ok()?;
            espp_replay::checkpoint::encode_parts(&state).0.purchases.get(i).cloned()
        };
        let terminated = records
            .iter()
            .any(|r| matches!(r.event, Event::PlanTerminated { .. } | Event::CapitalChange { .. }) && query.admits(r));
        let admitted: Vec<&Record> = records.iter().filter(|r| query.admits(r)).collect();
        let reach = espp_replay::Reach {
            day: match query.as_of {
                Some(_) => None,
                None => admitted.iter().map(|r| r.date).max(),
            },
            seq: admitted.iter().map(|r| r.seq).max().unwrap_or(0),
        };
        let mut ids: Vec<String> = latest.employee_ids().map(str::to_string).collect();
        ids.push("never-hired".into());
        for id in ids {
            let reference = traced_whole(&records, &query, &id);
            let trace = espp_projections::Trace::employee(espp_events::EmployeeId::new(&id).unwrap());
            let one = espp_replay::fold_one_traced(
                records.clone(),
                &id,
                &query,
                trace,
                &mut |i, day| own_part(i, day),
                reach,
            )
            .unwrap();
            let Some(one) = one else {
                prop_assert!(prorated || terminated, "{} not served", id);
                continue;
            };
            prop_assert_eq!(one.explanation(None), reference.explanation(None), "{}", id);
            prop_assert_eq!(one.through_seq(), reference.through_seq());
            prop_assert_eq!(one.day(), reference.day());
            prop_assert_eq!(one.period_infos(), reference.period_infos());
            for p in reference.period_infos() {
                let between = Some((p.start, p.end));
                prop_assert_eq!(one.explanation(between), reference.explanation(between));
            }
        }
    }
}

/// The partial book a process starts with, as the engine makes it for a batch that needs
/// the holdings: the latest state put together lean from `state`'s checkpoint parts (the
/// global part and the employee blocks), its holdings filled in from the same parts.
fn lean_then_filled(state: &espp_projections::State, wall: Option<espp_events::Day>) -> Book {
    let (parts, _) = espp_replay::checkpoint::encode_parts(state);
    let lean = espp_projections::State::from_parts(
        &parts.global,
        parts.employees.iter().map(|(_, b)| b.as_slice()),
        std::iter::empty::<&[u8]>(),
        std::iter::empty::<&[u8]>(),
        std::iter::empty::<&[u8]>(),
    )
    .unwrap();
    let mut book = Book::partial(lean, wall);
    book.fill_holdings(
        parts.lots.iter().map(Vec::as_slice),
        parts.purchases.iter().map(Vec::as_slice),
        parts.dispositions.iter().map(Vec::as_slice),
    )
    .unwrap();
    book
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Each batch judged as one process judges it (issue 15): on a partial book (the
    /// latest state, put together lean from a checkpoint and its holdings filled in), or,
    /// for a back-dated batch, on a book loaded from the log before it. A partial book that
    /// folds a purchase encodes the closed books where the batch crosses the new wall, and
    /// they are byte for byte the parts of the whole book's `closed` (what the engine
    /// stores as the purchase checkpoint), with its tail; and the state is the whole
    /// book's.
    #[test]
    fn a_partial_book_folds_a_purchase_as_the_whole_book_does(
        company in history::company(),
        batch_cuts in prop::collection::vec(0usize..5000, 0..24),
    ) {
        use espp_replay::checkpoint::encode_parts;
        let records = accepted(common::records(&company.lines()));
        let n = records.len();
        let mut whole = Book::new();
        for (a, b) in pieces(n, &batch_cuts) {
            let batch = &records[a..b];
            let wall_before = whole.wall();
            let mut book = lean_then_filled(whole.state(), wall_before);
            if book.needs_full(batch) {
                book = Book::load(records[..a].to_vec()).unwrap();
            }
            book.apply(batch).unwrap();
            whole.apply(batch).unwrap();
            prop_assert_eq!(book.wall(), whole.wall());
            prop_assert_eq!(encode_parts(book.state()), encode_parts(whole.state()));
            if let Some(closed) = book.take_closed() {
                prop_assert!(book.is_partial());
                prop_assert_eq!((closed.parts, closed.list), encode_parts(whole.closed()));
                prop_assert_eq!(closed.day, whole.closed().day());
                prop_assert_eq!(closed.left_out, whole.tail_seqs());
            } else if book.is_partial() {
                prop_assert_eq!(wall_before, whole.wall(), "the wall moved: closed books left");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `verify`'s part-list cache names a state as `part_list` does, at any points of a fold
    /// (purchases, sales and capital changes between them), and a clone folded apart from
    /// the original under the same cache is named right too.
    #[test]
    fn the_part_cache_names_states_as_part_list_does(
        company in history::company(),
        looks in prop::collection::vec(0usize..5000, 1..16),
        fork_at in 0usize..5000,
    ) {
        use espp_replay::checkpoint::{part_list, PartCache};
        let records = accepted(common::records(&company.lines()));
        let n = records.len();
        let mut looks: Vec<usize> = looks.iter().map(|l| l % (n + 1)).collect();
        looks.sort_unstable();
        let fork_at = fork_at % (n + 1);
        let mut cache = PartCache::default();
        let mut state = espp_projections::State::new(None);
        let mut fork: Option<espp_projections::State> = None;
        let mut next = looks.iter().peekable();
        for (i, r) in records.iter().enumerate() {
            if i == fork_at {
                fork = Some(state.clone());
            }
            while next.peek().is_some_and(|l| **l == i) {
                next.next();
                prop_assert_eq!(cache.list(&state), part_list(&state));
                if let Some(f) = &fork {
                    prop_assert_eq!(cache.list(f), part_list(f));
                }
            }
            state.apply(r).unwrap();
            if let Some(f) = &mut fork {
                // The fork skips every third record: it grows apart from the original (what
                // it refuses after that is its own business: it is named as it stands).
                if i % 3 != 0 {
                    let _ = f.apply(r);
                }
            }
        }
        prop_assert_eq!(cache.list(&state), part_list(&state));
    }
}
