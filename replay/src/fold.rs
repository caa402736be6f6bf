//! Folds a log read in seq order into a [`State`] in `(date, seq)` order, streaming: the
//! reader hands over chunks of records with the earliest day of everything still to come,
//! and only the records that must wait for a back-dated one are held in memory.
//!
//! Bitemporal queries (DOMAIN.md §1): `as_of` keeps the events dated on or before a day and
//! applies the deadlines through it (valid time); `known_at` keeps the events recorded at or
//! before an instant, `through_seq` those up to a seq (transaction time).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use espp_events::{Day, Instant, Record, RulesPatch};
use espp_projections::{Rejection, State};

/// Which part of the log to fold, and under which rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Valid time: the events dated on or before this day, deadlines through it.
    pub as_of: Option<Day>,
    /// Transaction time: the events recorded at or before this instant.
    pub known_at: Option<Instant>,
    /// Transaction time: the events up to this seq.
    pub through_seq: Option<u64>,
    /// Rules overriding the log's for this fold only (a compliance replay).
    pub rules: Option<RulesPatch>,
}

impl Query {
    /// Whether the record belongs to this fold.
    pub fn admits(&self, r: &Record) -> bool {
        self.through_seq.is_none_or(|n| r.seq <= n)
            && self.known_at.is_none_or(|t| r.recorded_at <= t)
            && self.as_of.is_none_or(|d| r.date <= d)
    }

    /// Whether the fold can stop reading at `seq` (nothing later is admitted).
    pub fn past_end(&self, seq: u64) -> bool {
        self.through_seq.is_some_and(|n| seq > n)
    }
}

/// A record the fold refused: the stored log no longer folds (or the rules file forbids
/// something it cannot skip).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {rejection}")]
pub struct FoldError {
    /// The refused record.
    pub seq: u64,
    /// Why.
    pub rejection: Rejection,
}

#[derive(Debug)]
struct Keyed(Record);

impl Keyed {
    fn key(&self) -> (Day, u64) {
        (self.0.date, self.0.seq)
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The streaming fold.
/// What [`OrderedFold::push_observed`] hands each watched day's state to.
pub type Observer<'a> = &'a mut dyn FnMut(Day, &State);

#[derive(Debug)]
pub struct OrderedFold {
    state: State,
    query: Query,
    waiting: BinaryHeap<Reverse<Keyed>>,
    /// Splitting: records dated after the wall (all of them when there is none) are set
    /// aside, not folded (the acceptance book's tail).
    split: bool,
    wall: Option<Day>,
    beyond: Vec<Record>,
    /// Days before whose first later record a copy of the state is kept (ascending): what
    /// `verify` compares a purchase checkpoint with, in the same pass as the whole fold.
    watch: std::collections::VecDeque<Day>,
    snapshots: Vec<(Day, State)>,
}

impl OrderedFold {
    /// A fold of `query` starting from `state` (a new one, or a checkpoint's).
    pub fn new(state: State, query: Query) -> Self {
        OrderedFold {
            state,
            query,
            waiting: BinaryHeap::new(),
            split: false,
            wall: None,
            beyond: Vec::new(),
            watch: std::collections::VecDeque::new(),
            snapshots: Vec::new(),
        }
    }

    /// Sets records dated after `wall` (every record, when there is no wall yet) aside
    /// instead of folding them: they come back, in `(date, seq)` order, from
    /// [`OrderedFold::finish_split`].
    pub fn split_at(mut self, wall: Option<Day>) -> Self {
        self.split = true;
        self.wall = wall;
        self
    }

    /// Keeps a copy of the state as it stands before the first record dated after each of
    /// `days` is folded (or at the end, [`OrderedFold::finish_snapshots`]): the fold of
    /// every record dated on or before the day, in `(date, seq)` order, no deadline after
    /// it applied. Taken with [`OrderedFold::take_snapshots`].
    pub fn snapshot_before(mut self, mut days: Vec<Day>) -> Self {
        days.sort();
        days.dedup();
        self.watch = days.into();
        self
    }

    /// The snapshots taken so far (see [`OrderedFold::snapshot_before`]).
    pub fn take_snapshots(&mut self) -> Vec<(Day, State)> {
        std::mem::take(&mut self.snapshots)
    }

    /// Folds what is left (nothing more will be pushed) and takes the snapshots of the days
    /// no record came after. The fold can still be finished.
    pub fn finish_snapshots(&mut self) -> Result<(), FoldError> {
        self.push(std::iter::empty(), None)?;
        while let Some(d) = self.watch.pop_front() {
            self.snapshots.push((d, self.state.clone()));
        }
        Ok(())
    }

    /// [`OrderedFold::finish_snapshots`], handing each snapshot's state to `observe` in
    /// place instead of keeping a copy (see [`OrderedFold::push_observed`]), but for the days
    /// no record came after: those are returned, in order, and their state is the one the
    /// fold holds now, which [`OrderedFold::finish`] returns unchanged when the query has no
    /// `as_of` (`verify` compares them with it while the projection's digest is rendered on
    /// the other core).
    pub fn finish_observed(&mut self, observe: Observer<'_>) -> Result<Vec<Day>, FoldError> {
        self.push_with(Vec::new(), None, &mut Some(&mut *observe))?;
        Ok(self.watch.drain(..).collect())
    }

    /// Calls `f` with the state [`OrderedFold::state_so_far`] gives, without copying the
    /// state when no record waits (the usual case: a log appended in date order).
    pub fn with_state_so_far<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, FoldError> {
        if self.waiting.is_empty() {
            return Ok(f(&self.state));
        }
        Ok(f(&self.state_so_far()?))
    }

    /// The state if the records pushed so far were the whole log: a copy, with the records
    /// still waiting folded in `(date, seq)` order (no deadline applied). What a fold with
    /// `through_seq` at the last pushed record gives before it finishes.
    pub fn state_so_far(&self) -> Result<State, FoldError> {
        let mut state = self.state.clone();
        let mut waiting: Vec<&Record> = self.waiting.iter().map(|Reverse(k)| &k.0).collect();
        waiting.sort_by_key(|r| (r.date, r.seq));
        for r in waiting {
            state.apply(r).map_err(|rejection| FoldError {
                seq: r.seq,
                rejection,
            })?;
        }
        Ok(state)
    }

    fn apply(&mut self, r: &Record, observe: &mut Option<Observer<'_>>) -> Result<(), FoldError> {
        while self.watch.front().is_some_and(|d| r.date > *d) {
            if let Some(d) = self.watch.pop_front() {
                match observe {
                    Some(f) => f(d, &self.state),
                    None => self.snapshots.push((d, self.state.clone())),
                }
            }
        }
        self.state.apply(r).map_err(|rejection| FoldError {
            seq: r.seq,
            rejection,
        })
    }

    /// A fold of `query` from the beginning of the log.
    pub fn from_start(query: Query) -> Self {
        OrderedFold::new(State::new(query.rules.clone()), query)
    }

    /// Takes the next records in seq order; `later_min_date` is the earliest day of any
    /// record after them (None when they are the last). Folds whatever is ready.
    pub fn push(
        &mut self,
        records: impl IntoIterator<Item = Record>,
        later_min_date: Option<Day>,
    ) -> Result<(), FoldError> {
        let records: Vec<Record> = records
            .into_iter()
            .filter(|r| self.query.admits(r))
            .collect();
        self.push_with(records, later_min_date, &mut None)
    }

    /// [`OrderedFold::push`], handing the state to `observe` wherever
    /// [`OrderedFold::snapshot_before`] would keep a copy of it, and keeping none: `verify`
    /// compares a purchase checkpoint with the state in place (a copy is the size of the
    /// state: at 10M events, hundreds of MB).
    pub fn push_observed(
        &mut self,
        records: Vec<Record>,
        later_min_date: Option<Day>,
        observe: Observer<'_>,
    ) -> Result<(), FoldError> {
        let mut records = records;
        records.retain(|r| self.query.admits(r));
        self.push_with(records, later_min_date, &mut Some(observe))
    }

    fn push_with(
        &mut self,
        records: Vec<Record>,
        later_min_date: Option<Day>,
        observe: &mut Option<Observer<'_>>,
    ) -> Result<(), FoldError> {
        // The earliest day at or after each position: with nothing waiting, a record dated no
        // later than everything after it (here and to come) folds at once, without the heap.
        // In a log appended in date order, that is nearly every record.
        let mut suffix_min: Vec<Option<Day>> = vec![later_min_date; records.len() + 1];
        for i in (0..records.len()).rev() {
            let d = records[i].date;
            suffix_min[i] = Some(suffix_min[i + 1].map_or(d, |m| m.min(d)));
        }
        // The records that fold at once are folded where they lie (a record is a few hundred
        // bytes: not moved out of the list one by one), up to the first one that must be kept
        // (set aside, or to wait); that one and those after it are moved.
        let ready = |fold: &Self, i: usize, r: &Record| {
            !(fold.split && fold.wall.is_none_or(|w| r.date > w))
                && fold.waiting.is_empty()
                && suffix_min[i + 1].is_none_or(|m| r.date <= m)
        };
        let mut kept = records.len();
        for (i, r) in records.iter().enumerate() {
            if !ready(self, i, r) {
                kept = i;
                break;
            }
            self.apply(r, observe)?;
        }
        let mut records = records;
        for (i, r) in records
            .drain(kept..)
            .enumerate()
            .map(|(j, r)| (kept + j, r))
        {
            if self.split && self.wall.is_none_or(|w| r.date > w) {
                self.beyond.push(r);
            } else if self.waiting.is_empty() && suffix_min[i + 1].is_none_or(|m| r.date <= m) {
                self.apply(&r, observe)?;
            } else {
                self.waiting.push(Reverse(Keyed(r)));
            }
        }
        // A waiting record is ready when nothing to come can sort before it: everything
        // later has a higher seq, so an equal day is fine.
        while let Some(Reverse(top)) = self.waiting.peek() {
            if later_min_date.is_some_and(|d| top.0.date > d) {
                break;
            }
            let Some(Reverse(Keyed(r))) = self.waiting.pop() else {
                break;
            };
            self.apply(&r, observe)?;
        }
        Ok(())
    }

    /// Folds what is left (no deadline is applied) and returns the state with the records
    /// set aside beyond the wall, in `(date, seq)` order.
    pub fn finish_split(mut self) -> Result<(State, Vec<Record>), FoldError> {
        self.push(std::iter::empty(), None)?;
        self.beyond.sort_by_key(|r| (r.date, r.seq));
        Ok((self.state, self.beyond))
    }

    /// Folds what is left and applies the deadlines through the as-of day.
    pub fn finish(mut self) -> Result<State, FoldError> {
        self.push(std::iter::empty(), None)?;
        if let Some(day) = self.query.as_of {
            // An as-of day before the latest folded one cannot happen: later days were
            // filtered out. A state from a checkpoint past it is the caller's error.
            self.state.advance_to(day).map_err(|rejection| FoldError {
                seq: self.state.through_seq(),
                rejection,
            })?;
        }
        Ok(self.state)
    }

    /// [`OrderedFold::finish`], then the deadlines through `day` if it is later than the
    /// last day folded: a fold that left out records another fold would have folded (one
    /// employee's, `espp state --employee`) still reaches the day those records took the
    /// whole fold to, so the deadlines due by then (a leave's limit, a window's default)
    /// apply as they do in the whole fold.
    pub fn finish_through(self, day: Option<Day>) -> Result<State, FoldError> {
        let mut state = self.finish()?;
        if let Some(day) = day.filter(|d| state.day().is_none_or(|f| *d > f)) {
            state.advance_to(day).map_err(|rejection| FoldError {
                seq: state.through_seq(),
                rejection,
            })?;
        }
        Ok(state)
    }
}

/// Folds records given in seq order, all in memory (an export, a test): the reference fold.
pub fn fold_records(
    records: impl IntoIterator<Item = Record>,
    query: Query,
) -> Result<State, FoldError> {
    let mut fold = OrderedFold::from_start(query);
    fold.push(records, None)?;
    fold.finish()
}
