//! The acceptance book: the fold kept current as records are appended, so that deciding
//! whether a batch folds never refolds the whole log.
//!
//! The log is in seq order but folds in `(date, seq)` order. Closed books (DOMAIN.md §1) make
//! the last purchase's day a wall: nothing can ever be dated on or before it again. So the
//! book keeps `closed`, the state folded through that day, and `tail`, every record dated
//! after it. A batch dated on or after the latest day folded is applied to `current`
//! directly; a back-dated one (after the wall, before the latest day) is folded as `closed`
//! plus the tail with the batch merged in. Either way every prefix of the log still folds.
//!
//! A *partial* book ([`Book::partial`]) holds only `current` (the latest state, which a
//! checkpoint near the head gives cheaply) and the wall: enough for every batch dated on or
//! after everything folded. [`Book::needs_full`] says when a batch needs `closed` and the
//! tail (a back-dated one); a refusal leaves a partial book unusable ([`Book::is_spoiled`]):
//! the caller then loads the whole book again.
//!
//! A purchase in such a batch moves the wall, and the partial book folds it too (issue 15:
//! at 100,000 employees, loading the whole book for it folded six months of paydays from
//! the last purchase's checkpoint and held every record dated after it, 2.2 GB at the
//! peak). That is sound because the batch is in order: every record folded so far is dated
//! on or before the batch's first day, so on or before the new wall. Then the whole book's
//! `closed` after the purchase (the old `closed` plus the tail up to the new wall, which is
//! all of the old tail, plus the batch's records up to the wall) is the fold of the same
//! records in the same order as `current` plus the batch's records up to the wall; and its
//! tail is the batch's later records. What the caller needs of that `closed` is its
//! purchase checkpoint, so the book encodes it there ([`ClosedParts`], taken with
//! [`Book::take_closed`]) and stays partial: a copy of the state would be as large as the
//! state (hundreds of MB at 100,000 employees), its encoding is what the checkpoint stores
//! anyway.

use espp_events::{Day, Event, Record};
use espp_projections::{Rejection, State};

use crate::checkpoint::{encode_parts, PartList};
use crate::fold::{FoldError, OrderedFold, Query};
use espp_projections::parts::{folds_without_holdings, EncodedParts};

/// The closed books a partial book's purchase left (see the module's documentation): what
/// the purchase checkpoint of the whole book would store, encoded where the batch crossed
/// the new wall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedParts {
    /// The state folded through the wall, encoded ([`encode_parts`]).
    pub parts: EncodedParts,
    /// Their list.
    pub list: PartList,
    /// The latest day that state folded.
    pub day: Option<Day>,
    /// The seqs folded since, all dated after the wall (the whole book's tail), ascending.
    pub left_out: Vec<u64>,
    /// Whether every record folded since folds without holdings
    /// (`espp_projections::parts::folds_without_holdings`): then the book's holdings are
    /// still these parts', and the caller may drop them ([`Book::drop_holdings`]).
    pub free: bool,
}

/// A refused batch: which record (by position in the batch) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rejection}")]
pub struct BookRejection {
    /// Index of the refused record in the batch.
    pub index: usize,
    /// Why.
    pub rejection: Rejection,
}

/// The fold of the whole log, ready to judge the next batch.
#[derive(Debug, Clone)]
pub struct Book {
    closed: State,
    tail: Vec<Record>,
    current: State,
    /// The latest purchase day in seq order (closed books are checked in seq order).
    wall: Option<Day>,
    /// Only `current` and `wall` are known (`closed` and `tail` are empty placeholders).
    partial: bool,
    /// A partial book whose `current` a refusal left half-changed.
    spoiled: bool,
    /// A partial book's closed books since its last purchase, until taken.
    closed_parts: Option<ClosedParts>,
}

impl Default for Book {
    fn default() -> Self {
        Book::new()
    }
}

impl Book {
    /// The book of an empty log.
    pub fn new() -> Self {
        Book {
            closed: State::new(None),
            tail: Vec::new(),
            current: State::new(None),
            wall: None,
            partial: false,
            spoiled: false,
            closed_parts: None,
        }
    }

    /// A book that knows only the latest state and the wall: it folds batches for which
    /// [`Book::needs_full`] is false.
    pub fn partial(current: State, wall: Option<Day>) -> Self {
        Book {
            closed: State::new(None),
            tail: Vec::new(),
            current,
            wall,
            partial: true,
            spoiled: false,
            closed_parts: None,
        }
    }

    /// Puts the holdings back into a partial book whose state was put together without them
    /// (a lean state: see [`State::fill_holdings`], which says when that is sound).
    pub fn fill_holdings<'a>(
        &mut self,
        lots: impl IntoIterator<Item = &'a [u8]>,
        purchases: impl IntoIterator<Item = &'a [u8]>,
        dispositions: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), espp_projections::parts::PartError> {
        self.current.fill_holdings(lots, purchases, dispositions)
    }

    /// Whether this book holds only the latest state (see [`Book::partial`]).
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// Whether a refusal left this partial book's state half-changed: it must not be used.
    pub fn is_spoiled(&self) -> bool {
        self.spoiled
    }

    /// Whether folding `records` needs the whole book (`closed` and the tail): this book is
    /// partial and the batch holds a record dated before the latest day folded (a back-dated
    /// fold starts from the wall). A purchase in order does not (see the module's
    /// documentation); its holdings are the caller's to fill in first when it is lean.
    pub fn needs_full(&self, records: &[Record]) -> bool {
        self.partial
            && records
                .iter()
                .any(|r| self.current.day().is_some_and(|day| r.date < day))
    }

    /// The state of the whole log.
    pub fn state(&self) -> &State {
        &self.current
    }

    /// Records held in memory because they are dated after the last purchase.
    pub fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Folds `records` (in seq order, as stored) into this book, or refuses them and stays
    /// as it was.
    ///
    /// A partial book folds only what [`Book::needs_full`] allows (anything else is refused
    /// before any change: the caller loads the whole book first); after a refusal it is spoiled.
    pub fn apply(&mut self, records: &[Record]) -> Result<(), BookRejection> {
        if self.spoiled || self.needs_full(records) {
            return Err(BookRejection {
                index: 0,
                rejection: Rejection::Plan {
                    section: "§9".into(),
                    message: "internal: this batch needs the whole acceptance book".into(),
                },
            });
        }
        // Closed books, in seq order, inside the batch too.
        let mut wall = self.wall;
        for (index, r) in records.iter().enumerate() {
            if let Some(w) = wall {
                if r.date <= w {
                    return Err(BookRejection {
                        index,
                        rejection: Rejection::Plan {
                            section: "§9".into(),
                            message: format!(
                                "the books are closed through the purchase of {w}: an event dated {} cannot be added; date a correction after {w}",
                                r.date
                            ),
                        },
                    });
                }
            }
            if matches!(r.event, Event::Purchase { .. }) {
                wall = Some(r.date);
            }
        }

        let mut batch: Vec<(usize, &Record)> = records.iter().enumerate().collect();
        batch.sort_by_key(|(_, r)| (r.date, r.seq));
        let in_order = match (self.current.day(), batch.first()) {
            (Some(day), Some((_, first))) => first.date >= day,
            _ => true,
        };
        // A partial book whose wall moves: the closed books are `current` as it stands once
        // the batch's records up to the new wall are folded, encoded there; the rest is
        // their tail (the module's documentation says why; `needs_full` let only an
        // in-order batch through). `split` is where in the sorted batch that happens.
        let split = match wall {
            Some(w) if self.partial && wall != self.wall => {
                Some(batch.partition_point(|(_, r)| r.date <= w))
            }
            _ => None,
        };
        let mut closed: Option<ClosedParts> = None;
        let encode = |state: &State| {
            let (parts, list) = encode_parts(state);
            ClosedParts {
                parts,
                list,
                day: state.day(),
                left_out: Vec::new(),
                free: true,
            }
        };
        if in_order {
            // The common case, folded in place: no copy of the state. A refusal may leave
            // `current` half-changed, so it is then refolded from the wall (rare: a user error).
            for (k, (index, r)) in batch.iter().enumerate() {
                if split == Some(k) {
                    closed = Some(encode(&self.current));
                }
                if let Err(rejection) = self.current.apply(r) {
                    if self.partial {
                        self.spoiled = true;
                    } else {
                        self.refold_current();
                    }
                    return Err(BookRejection {
                        index: *index,
                        rejection,
                    });
                }
            }
            if split == Some(batch.len()) {
                closed = Some(encode(&self.current));
            }
        } else {
            // Back-dated: refold from the wall with the batch merged into the tail.
            let mut state = self.closed.clone();
            let mut merged: Vec<(Option<usize>, &Record)> = self
                .tail
                .iter()
                .map(|r| (None, r))
                .chain(batch.iter().map(|(i, r)| (Some(*i), *r)))
                .collect();
            merged.sort_by_key(|(_, r)| (r.date, r.seq));
            for (index, r) in merged {
                state.apply(r).map_err(|rejection| BookRejection {
                    // A stored record can only fail because of the batch: blame its first record.
                    index: index.unwrap_or(0),
                    rejection,
                })?;
            }
            self.current = state;
        }

        if self.partial {
            // No tail kept. The closed books' tail is what was folded since their wall: the
            // batch's records after it (all of them when the wall did not move).
            let free =
                |rs: &[(usize, &Record)]| rs.iter().all(|(_, r)| folds_without_holdings(&r.event));
            if let (Some(mut c), Some(split)) = (closed, split) {
                c.left_out = batch[split..].iter().map(|(_, r)| r.seq).collect();
                c.free = free(&batch[split..]);
                self.closed_parts = Some(c);
            } else if let Some(c) = &mut self.closed_parts {
                c.left_out.extend(batch.iter().map(|(_, r)| r.seq));
                c.free &= free(&batch);
            }
            if let Some(c) = &mut self.closed_parts {
                c.left_out.sort_unstable();
            }
            self.wall = wall;
            return Ok(());
        } else if in_order {
            // Dated on or after everything folded and with higher seqs: appending the sorted
            // batch keeps the tail sorted (no re-sort of the whole tail on the hot path).
            self.grow_tail(batch.len());
            self.tail.extend(batch.iter().map(|(_, r)| (*r).clone()));
        } else {
            self.grow_tail(records.len());
            self.tail.extend(records.iter().cloned());
            self.tail.sort_by_key(|r| (r.date, r.seq));
        }
        if wall != self.wall {
            self.wall = wall;
            self.move_wall();
        }
        Ok(())
    }

    /// Makes room for `more` records in the tail, growing it by an eighth rather than
    /// doubling it: a streamed append's pieces grow a tail of the records since the last
    /// purchase to 10^5 records and more (~256 bytes each, without their heap parts), and
    /// doubling left up to half of that allocated for nothing (issue 15). Still amortized:
    /// the capacity grows geometrically (the capacity the drain of `move_wall` leaves is
    /// reused).
    fn grow_tail(&mut self, more: usize) {
        let free = self.tail.capacity() - self.tail.len();
        if free < more {
            self.tail.reserve_exact(more.max(self.tail.len() / 8));
        }
    }

    /// `current` again from `closed` and the tail, after a refusal left it half-changed.
    fn refold_current(&mut self) {
        let mut state = self.closed.clone();
        for r in &self.tail {
            if let Err(e) = state.apply(r) {
                unreachable!("a record that folded once failed to fold again: {e}");
            }
        }
        self.current = state;
    }

    /// Folds the tail up to the new wall into `closed` and keeps only what lies beyond.
    fn move_wall(&mut self) {
        let Some(wall) = self.wall else { return };
        let split = self.tail.partition_point(|r| r.date <= wall);
        for r in self.tail.drain(..split) {
            // These records folded already in `current`, in the same order from the same
            // state: they cannot fail here.
            if let Err(e) = self.closed.apply(&r) {
                unreachable!("a record that folded once failed to fold again: {e}");
            }
        }
    }
}

impl Book {
    /// The book from its parts: `closed`, the state folded through the wall (the latest
    /// purchase's day), and `tail`, every record dated after it in `(date, seq)` order.
    ///
    /// A purchase in the tail moves the wall to its day (the records through it are folded
    /// into `closed`): the caller's wall is then older than the log it read — a streamed
    /// append's earlier pieces folded a purchase the ledger has not acknowledged yet, or a
    /// purchase's checkpoint is gone — and a book whose wall stood before a purchase it
    /// holds would let a later record dated before that purchase be folded ahead of it.
    pub fn from_parts(
        closed: State,
        wall: Option<Day>,
        tail: Vec<Record>,
    ) -> Result<Book, FoldError> {
        let mut current = closed.clone();
        for r in &tail {
            current.apply(r).map_err(|rejection| FoldError {
                seq: r.seq,
                rejection,
            })?;
        }
        let moved = tail
            .iter()
            .filter(|r| matches!(r.event, Event::Purchase { .. }))
            .map(|r| r.date)
            .max()
            .filter(|d| wall.is_none_or(|w| *d > w));
        let mut book = Book {
            closed,
            tail,
            current,
            wall,
            partial: false,
            spoiled: false,
            closed_parts: None,
        };
        if moved.is_some() {
            book.wall = moved;
            book.move_wall();
        }
        Ok(book)
    }

    /// The state folded through the wall (of a partial book: an empty placeholder).
    pub fn closed(&self) -> &State {
        &self.closed
    }

    /// Drops the holdings of this book's state (`State::drop_holdings`): it is lean again,
    /// the caller's to fill in from the checkpoint whose holdings they are.
    pub fn drop_holdings(&mut self) {
        self.current.drop_holdings();
    }

    /// The closed books of the latest purchase this partial book folded, encoded, and the
    /// seqs folded since (their tail); None if it folded none since the last call. What
    /// the caller stores as that purchase's checkpoint: [`Book::closed`] and
    /// [`Book::tail_seqs`] of the whole book, in the checkpoint's form.
    pub fn take_closed(&mut self) -> Option<ClosedParts> {
        self.closed_parts.take()
    }

    /// The latest purchase's day.
    pub fn wall(&self) -> Option<Day> {
        self.wall
    }

    /// The seqs of the records dated after the wall (of a partial book: none known).
    pub fn tail_seqs(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.tail.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        seqs
    }

    /// The book of a whole log given in seq order (as stored): the streaming fold through
    /// the wall (the last purchase's day) into `closed`, the records after it as the tail —
    /// what the engine does from a checkpoint, here from the start.
    pub fn load(records: Vec<Record>) -> Result<Book, FoldError> {
        let wall = records
            .iter()
            .filter(|r| matches!(r.event, Event::Purchase { .. }))
            .map(|r| r.date)
            .next_back();
        let mut fold = OrderedFold::from_start(Query::default()).split_at(wall);
        fold.push(records, None)?;
        let (closed, tail) = fold.finish_split()?;
        Book::from_parts(closed, wall, tail)
    }
}
