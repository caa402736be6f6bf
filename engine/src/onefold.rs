//! `explain` from the employee index (issue 15): one employee's trail folded from the
//! records of that employee and of no employee only ([`espp_replay::fold_one_traced`]):
//! the employee's read from the chunks that the employee index (`whoindex.rs`) says hold
//! them, the global ones from their copies, each purchase's every-account sums from its
//! part in its own checkpoint. The whole fold (`cmd/explain.rs`) stays for what
//! this cannot serve, and gives the same bytes.

use espp_events::{Day, Record};
use espp_projections::{State, Trace};
use espp_replay::{fold_one_traced, Header, Kind, Query, Reach};

use super::folds::check_links;
use super::{be_u64, decode_summary, rec_key, summary_key, Ledger, StoreError};

impl Ledger {
    /// One employee's traced fold for `query` (`explain`): the state a traced fold of the
    /// whole log gives, as far as employee `id`'s trail and account go. None when the
    /// employee index does not hold every record, or the fold cannot serve the query
    /// ([`espp_replay::fold_one_traced`]): then the caller folds the whole log.
    pub fn fold_traced_employee(
        &self,
        query: &Query,
        trace: Trace,
        id: &str,
    ) -> Result<Option<State>, StoreError> {
        if query.rules.is_some() || query.known_at.is_some() || query.through_seq.is_some() {
            return Ok(None);
        }
        let headers = self.checkpoint_headers()?;
        let reach = self.reach(query, &headers)?;
        // The employee's records (from their chunks), and the copies of the global ones.
        let (Some(mut seqs), Some(globals)) = (self.who_seqs(id)?, self.global_records(reach.seq)?)
        else {
            return Ok(None);
        };
        seqs.retain(|s| *s <= reach.seq);
        let mut records: std::collections::BTreeMap<u64, Record> =
            globals.into_iter().map(|r| (r.seq, r)).collect();
        for r in self.records_of_at(id, &seqs)? {
            records.insert(r.seq, r);
        }
        let records: Vec<Record> = records.into_values().collect();
        // Each purchase's part as its own checkpoint (walled on its day) holds it: its
        // shares as bought, before any later capital change restated them.
        let mut purchases = |i: usize, day: Day| -> Option<Vec<u8>> {
            let h = headers
                .iter()
                .filter(|h| h.kind == Kind::Purchase && h.wall == Some(day))
                .min_by_key(|h| h.seq)?;
            match self.part(h.parts.purchases.get(i)?) {
                Ok(Some(Ok(bytes))) => Some(bytes.into_vec()),
                _ => None,
            }
        };
        // A refusal is the whole fold's to report, in its words.
        Ok(fold_one_traced(records, id, query, trace, &mut purchases, reach).unwrap_or(None))
    }

    /// [`Ledger::fold_employee`] from the employee index (issue 15): from the nearest
    /// checkpoint that serves the query, the employee's parts, then only the employee's
    /// records after it (read from the chunks holding them) and the copies of the global
    /// ones, not every chunk after it. None when the index or the query does not allow it
    /// (no checkpoint serves, transaction time or rules, a purchase or termination to fold,
    /// a record dated before the checkpoint's day, two chunks or less after the checkpoint):
    /// then the caller reads the log. `headers`: the checkpoints' (the caller's, read once).
    pub(super) fn fold_employee_indexed(
        &self,
        query: &Query,
        id: &str,
        headers: &[Header],
    ) -> Result<Option<State>, StoreError> {
        if query.rules.is_some() || query.known_at.is_some() || query.through_seq.is_some() {
            return Ok(None);
        }
        // The nearest checkpoint that serves, or (none does) the log's start.
        let h = headers.iter().rev().find(|h| h.serves(query));
        let (h_seq, left_out) = h.map_or((0, &[][..]), |h| (h.seq, &h.left_out[..]));
        // Two chunks or less after the checkpoint: reading them costs less than the index's
        // runs and what the whole fold reaches (`statement` right after a purchase: 7 M
        // instructions more at 1M, callgrind).
        if h.is_some() && self.head.seq.saturating_sub(h_seq) <= 2 * super::CHUNK_RECORDS as u64 {
            return Ok(None);
        }
        let reach = self.reach(query, headers)?;
        let left: std::collections::BTreeSet<u64> = left_out.iter().copied().collect();
        let after = |seq: u64| (seq > h_seq || left.contains(&seq)) && seq <= reach.seq;
        let from = left.first().copied().unwrap_or(h_seq + 1).min(h_seq + 1);
        let (Some(mut seqs), Some(globals)) = (
            self.who_seqs(id)?,
            self.global_records_from(from, reach.seq)?,
        ) else {
            return Ok(None);
        };
        seqs.retain(|s| after(*s));
        let mut records: std::collections::BTreeMap<u64, Record> = globals
            .into_iter()
            .filter(|r| after(r.seq))
            .map(|r| (r.seq, r))
            .collect();
        for r in self.records_of_at(id, &seqs)? {
            if after(r.seq) {
                records.insert(r.seq, r);
            }
        }
        let records: Vec<Record> = records
            .into_values()
            .filter(|r| query.admits(r) && r.event.employee().is_none_or(|e| e.as_str() == id))
            .collect();
        if records.iter().any(super::checkpoints::needs_everyone) {
            return Ok(None);
        }
        let state = match h {
            None => State::new(None),
            Some(h) => match self.employee_checkpoint_state(h, id)? {
                Some(state) => state,
                None => return Ok(None),
            },
        };
        let mut fold = espp_replay::OrderedFold::new(state, query.clone());
        // A record dated before the checkpoint's day, or anything else refused: the log's
        // own path decides.
        if fold.push(records, None).is_err() {
            return Ok(None);
        }
        Ok(fold.finish_through(reach.day).ok())
    }

    /// The records of `employee` and of no employee in the chunks holding `seqs` (sorted),
    /// in seq order: one chunk read for each run of seqs it holds, its links checked as
    /// [`Ledger::records_from`] checks them.
    fn records_of_at(&self, employee: &str, seqs: &[u64]) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        let mut before = None;
        let mut i = 0;
        while let Some(&w) = seqs.get(i) {
            let (k, v) = match self.db.range(rec_key(0)..=rec_key(w)).next_back() {
                Some(kv) => kv?,
                None => {
                    return Err(StoreError::Damaged {
                        seq: w,
                        message: "missing: the employee index names it".into(),
                    })
                }
            };
            let first = be_u64(&k[1..]).unwrap_or(0);
            let (kept, links) = super::chunk::decode_chunk_of(first, &v, employee);
            let kept = kept.into_iter().collect::<Result<Vec<_>, _>>()?;
            let links = links
                .unwrap_or_else(|| kept.iter().map(|r| (r.seq, r.prev_hash, r.hash)).collect());
            let end = first + links.len() as u64;
            check_links(first, links, Some(end), self.head.seq, &mut before)?;
            if w >= end {
                return Err(StoreError::Damaged {
                    seq: w,
                    message: "missing: the employee index names it".into(),
                });
            }
            while seqs.get(i).is_some_and(|s| *s < end) {
                i += 1;
            }
            out.extend(kept);
        }
        Ok(out)
    }

    /// What a fold of the whole log for `query` (no rules, no transaction time) reaches.
    /// Latest: the head, and the latest day of any record (the latest periodic checkpoint's
    /// day, then the chunk summaries after it). As of a day: that day is reached by the fold
    /// itself; the highest seq dated on or before it is in the last chunk, read backwards
    /// from the first purchase checkpoint walled after the day (nothing stored after it can
    /// be dated before its wall: closed books), whose earliest day is on or before it.
    fn reach(&self, query: &Query, headers: &[Header]) -> Result<Reach, StoreError> {
        let malformed = |seq: u64| StoreError::Damaged {
            seq,
            message: "the chunk's day summary is malformed".into(),
        };
        let head = self.head.seq;
        let Some(d) = query.as_of else {
            let periodic = headers
                .iter()
                .filter(|h| h.kind == Kind::Periodic)
                .max_by_key(|h| h.seq);
            let (mut day, after) = periodic.map_or((None, 0), |h| (h.day, h.seq));
            for kv in self.db.range(summary_key(after)..=summary_key(head)) {
                let (k, v) = kv?;
                let (_, max) =
                    decode_summary(&v).ok_or_else(|| malformed(be_u64(&k[1..]).unwrap_or(0)))?;
                day = day.max(Some(max));
            }
            // The chunk holding `after` itself, when it starts before it.
            if let Some(kv) = self
                .db
                .range(summary_key(0)..summary_key(after))
                .next_back()
            {
                let (k, v) = kv?;
                let (_, max) =
                    decode_summary(&v).ok_or_else(|| malformed(be_u64(&k[1..]).unwrap_or(0)))?;
                day = day.max(Some(max));
            }
            return Ok(Reach { day, seq: head });
        };
        let start = headers
            .iter()
            .filter(|h| h.kind == Kind::Purchase && h.wall.is_some_and(|w| w > d))
            .map(|h| h.seq)
            .min()
            .unwrap_or(head)
            .min(head);
        let mut seq = 0;
        for kv in self.db.range(summary_key(0)..=summary_key(start)).rev() {
            let (k, v) = kv?;
            let first = be_u64(&k[1..]).unwrap_or(0);
            let (min, _) = decode_summary(&v).ok_or_else(|| malformed(first))?;
            if min > d {
                continue;
            }
            seq = self.last_dated_by(first, d)?;
            break;
        }
        Ok(Reach { day: None, seq })
    }

    /// The highest seq of chunk `first` dated on or before `d` (0 if none).
    fn last_dated_by(&self, first: u64, d: Day) -> Result<u64, StoreError> {
        let v = self
            .db
            .get(rec_key(first))?
            .ok_or_else(|| StoreError::Damaged {
                seq: first,
                message: "missing: a chunk summary names it but the chunk is gone".into(),
            })?;
        let mut seq = 0;
        for r in super::decode_chunk(&rec_key(first), &v) {
            let r = r?;
            if r.date <= d && r.seq <= self.head.seq {
                seq = seq.max(r.seq);
            }
        }
        Ok(seq)
    }
}
