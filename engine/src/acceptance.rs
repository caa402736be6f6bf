//! The acceptance book a process starts with, and the *lean* form of it an append of
//! ordinary events gets (issue 15): the latest state put together from the nearest
//! checkpoint's global part and employee blocks only, without its holdings (lots,
//! purchases, dispositions: more than half of a checkpoint's bytes and of its decoding at
//! 10,000 employees), as long as every record folded since that checkpoint, and every
//! batch judged on it, folds without them (`espp_projections::parts::folds_without_holdings`).
//!
//! The holdings of such a state are still the checkpoint's, so they are filled in from its
//! parts when something needs them ([`Ledger::complete_book`]): a batch with an event that
//! reads them, a periodic checkpoint, a dry run's before and after, any caller of
//! [`Ledger::book`]. A refusal found on a lean book is judged again on the whole book (the
//! caller's part, in `judge`): a refusal's words may name what only the holdings know (the
//! closed books' last purchase), and so every refusal is the whole book's, as before.
//!
//! A purchase in order is folded on this book once its holdings are filled in
//! (`Book::needs_full` says so); the purchase checkpoint taken then names the new holdings,
//! and the book is lean again on it when what followed the purchase folds without them
//! (`take_checkpoints`).

use espp_events::Record;
use espp_projections::parts::folds_without_holdings;
use espp_projections::State;
use espp_replay::{Book, Header, Kind, OrderedFold, Query};

use super::{Accepted, KeptBook, Ledger, StoreError};

/// Checkpoint parts read ahead of their decoding ([`Ledger::read_lean`]).
const PARTS_IN_FLIGHT: usize = 4;

impl Ledger {
    /// The acceptance book a process starts with: partial (the latest state, folded from the
    /// nearest checkpoint, and the wall) when the latest purchase's checkpoint exists — lean
    /// when that state could be put together without its holdings, with the checkpoint
    /// whose holdings it lacks; else whole ([`Ledger::load_book`]), so that
    /// `take_checkpoints` rebuilds it.
    ///
    /// The checkpoint's accounts are taken from the book file (`bookfile.rs`) when it holds
    /// them: `kept` when it was read already (`Some(None)`: there was none to read), else
    /// read then.
    pub(super) fn load_acceptance_book(
        &self,
        kept: Option<Option<KeptBook>>,
    ) -> Result<(Book, Option<Header>), StoreError> {
        let headers = self.checkpoint_headers()?;
        if let Some(wall) = self.wall {
            let have = headers
                .iter()
                .any(|h| h.kind == Kind::Purchase && h.wall == Some(wall));
            if !have {
                return Ok((self.load_book()?, None));
            }
        }
        if let Some((state, h)) = self.fold_lean(headers, kept)? {
            return Ok((Book::partial(state, self.wall), Some(h)));
        }
        let current = self.fold(&Query::default(), &mut |_| {})?;
        Ok((Book::partial(current, self.wall), None))
    }

    /// The latest state without its holdings, from the latest checkpoint that serves the
    /// latest state, and that checkpoint: None (the caller folds the whole state) when there
    /// is none, one of its global and employee parts is missing, altered or undecodable, a
    /// record after it does not fold without holdings, or the fold from it fails (all of
    /// which [`Ledger::fold`] deals with, as it always did).
    fn fold_lean(
        &self,
        headers: Vec<Header>,
        kept: Option<Option<KeptBook>>,
    ) -> Result<Option<(State, Header)>, StoreError> {
        let query = Query::default();
        let Some(h) = headers.into_iter().rev().find(|h| h.serves(&query)) else {
            return Ok(None);
        };
        let kept = kept.unwrap_or_else(|| KeptBook::read_of(&self.path, Some(&h)));
        let state = match kept.filter(|k| k.holds(&h)) {
            Some(k) => k.into_state(),
            None => match self.read_lean(&h)? {
                Some(state) => state,
                None => return Ok(None),
            },
        };
        let mut free = true;
        let mut keep = |r: &Record| {
            free &= folds_without_holdings(&r.event);
            true
        };
        let folded = self.stream_some(
            OrderedFold::new(state, query.clone()),
            &query,
            h.seq,
            &h.left_out,
            &mut |_| {},
            &mut keep,
            None,
        )?;
        if !free {
            return Ok(None);
        }
        match folded.and_then(OrderedFold::finish) {
            Ok(state) => Ok(Some((state, h))),
            Err(_) => Ok(None),
        }
    }

    /// Checkpoint `h`'s accounts (its global part and employee blocks) read from sled and
    /// decoded: None when one is missing, altered or undecodable.
    fn read_lean(&self, h: &Header) -> Result<Option<State>, StoreError> {
        // The parts are read (sled, and each one's hash checked) on a second thread while
        // this one decodes those read so far: at 10,000 employees each takes about as long
        // as the other (issue 15: ~16 and ~23 ms of a ~130 ms payday append), and the
        // bytes read but not yet decoded stay a few parts.
        let hashes = std::iter::once(&h.parts.global).chain(h.parts.employees.iter().map(|e| &e.1));
        let (read, state) = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(PARTS_IN_FLIGHT);
            let reader = s.spawn(move || -> Result<bool, StoreError> {
                for hash in hashes {
                    match self.part(hash)? {
                        // The decoder gone: it failed, and the reading is moot.
                        Some(Ok(bytes)) => {
                            if tx.send(bytes).is_err() {
                                return Ok(false);
                            }
                        }
                        _ => return Ok(false),
                    }
                }
                Ok(true)
            });
            // A part missing or altered ends the stream early: the decode then fails. The
            // receiver goes with the decode, so a reader ahead of a failed decode stops.
            let state = State::from_part_stream((h.parts.employees.len(), 0, 0), rx);
            (reader.join(), state)
        });
        let read = read.unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (read?, state) {
            (true, Ok(state)) => Ok(Some(state)),
            _ => Ok(None),
        }
    }

    /// Loads the acceptance book if it is not loaded yet (lean when it can be), and takes
    /// the checkpoints it calls for.
    pub(super) fn load_book_if_needed(&mut self) -> Result<(), StoreError> {
        if self.book.is_none() {
            let kept = self.kept.take();
            let (book, lean) = self.load_acceptance_book(kept)?;
            self.book = Some(book);
            self.lean = lean;
            self.take_checkpoints(false)?;
        }
        Ok(())
    }

    /// Makes a lean book whole: its holdings filled in from the checkpoint it was put
    /// together from. If those parts are gone or do not decode, the whole book is loaded
    /// from the store instead, with `accepted` (this group's batches judged but not yet
    /// stored) folded in again.
    pub(super) fn complete_book(&mut self, accepted: &[Accepted]) -> Result<(), StoreError> {
        let Some(h) = self.lean.take() else {
            return Ok(());
        };
        let holdings = h
            .parts
            .lots
            .iter()
            .chain(&h.parts.purchases)
            .chain(&h.parts.dispositions);
        let mut bytes = Vec::new();
        for hash in holdings {
            match self.part(hash)? {
                Some(Ok(b)) => bytes.push(b),
                _ => break,
            }
        }
        let (lots, purchases) = (h.parts.lots.len(), h.parts.purchases.len());
        let whole = bytes.len() == lots + purchases + h.parts.dispositions.len();
        let filled = whole
            && self.book.as_mut().is_some_and(|book| {
                let slices = |a: usize, b: usize| bytes[a..b].iter().map(AsRef::as_ref);
                book.fill_holdings(
                    slices(0, lots),
                    slices(lots, lots + purchases),
                    slices(lots + purchases, bytes.len()),
                )
                .is_ok()
            });
        if !filled {
            self.book = Some(self.full_book(accepted)?);
        }
        Ok(())
    }
}
