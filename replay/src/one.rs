//! One employee's traced fold (`explain`, issue 15): the records of no employee and of that
//! employee only, from the log's start, with the trace the fold itself fills in — what a
//! traced fold of the whole log gives for that employee, at the cost of their records and
//! the global ones.
//!
//! The accounts fold apart (the one-employee path of `state --employee` rests on the same
//! fact) except at a purchase, whose §13 sums run over every account. Those sums are taken
//! from the purchase's stored part in its own checkpoint (every purchase checkpoint is
//! kept): the shares it bought for all, as bought. Only a purchase not prorated can be served so (there, what all
//! wanted is what all bought); a prorated one, a termination (which can execute a purchase),
//! a capital change after a purchase (it sums every account's lots into the plan's shares),
//! a purchase whose part is missing or does not match, and anything under other rules or
//! another transaction time are left to the whole fold (`None`).

use std::collections::BTreeMap;

use espp_events::{Day, Event, Record};
use espp_projections::parts::purchase_totals;
use espp_projections::{State, Trace};

use crate::fold::{FoldError, OrderedFold, Query};

/// What a whole fold of the query reaches: its last day (deadlines run through it) and its
/// highest seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The latest day of any record the query admits (None: none).
    pub day: Option<Day>,
    /// The highest seq the query admits (0: none).
    pub seq: u64,
}

/// Folds `records` (in seq order; those of other employees are dropped) for `employee`
/// with `trace`, each purchase's every-account sums taken from `purchases(i, day)`: the
/// encoded part of the `i`-th purchase (in fold order), dated `day`, as its own checkpoint
/// (the state through that day) holds it — a later capital change (§25) restates every
/// stored purchase's shares in today's shares, and the purchase summed them as they were.
/// Then reaches `reach`. None when the path cannot serve (see the module's
/// documentation); Err when the records do not fold.
pub fn fold_one_traced(
    records: Vec<Record>,
    employee: &str,
    query: &Query,
    trace: Trace,
    purchases: &mut dyn FnMut(usize, Day) -> Option<Vec<u8>>,
    reach: Reach,
) -> Result<Option<State>, FoldError> {
    if query.rules.is_some() || query.known_at.is_some() || query.through_seq.is_some() {
        return Ok(None);
    }
    let mut records: Vec<Record> = records
        .into_iter()
        .filter(|r| query.admits(r) && r.event.employee().is_none_or(|e| e.as_str() == employee))
        .collect();
    if records
        .iter()
        .any(|r| matches!(r.event, Event::PlanTerminated { .. }))
    {
        return Ok(None);
    }
    records.sort_by_key(|r| r.seq);
    // The purchases in the order they execute: the stored parts' order.
    let mut bought: Vec<(Day, u64, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Purchase { period } => Some((r.date, r.seq, period.to_string())),
            _ => None,
        })
        .collect();
    bought.sort();
    // A capital change after a purchase sums every account's lots into the plan's shares
    // bought (§25): not one account's.
    let first_purchase = bought.first().map(|(d, s, _)| (*d, *s));
    if records.iter().any(|r| {
        matches!(r.event, Event::CapitalChange { .. })
            && first_purchase.is_some_and(|p| (r.date, r.seq) > p)
    }) {
        return Ok(None);
    }
    let mut outside = BTreeMap::new();
    for (i, (date, _, period)) in bought.into_iter().enumerate() {
        let Some(t) = purchases(i, date).and_then(|bytes| purchase_totals(&bytes).ok()) else {
            return Ok(None);
        };
        if t.prorated || t.period != period || t.date != date {
            return Ok(None);
        }
        outside.insert(period, t.shares);
    }
    let mut state = State::with_trace(None, trace);
    state.set_outside_purchases(outside);
    let mut fold = OrderedFold::new(state, query.clone());
    fold.push(records, None)?;
    let mut state = fold.finish_through(reach.day)?;
    state.reach_seq(reach.seq);
    Ok(Some(state))
}
