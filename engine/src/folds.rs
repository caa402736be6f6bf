//! The folds that read the log from the store, starting at the nearest checkpoint that
//! serves the query: the acceptance book on open, `espp state` and the one-employee
//! queries, and the chunk-by-chunk stream every fold reads through (each chunk's links
//! checked as it is read).

use espp_events::{Day, Hash, Record};
use espp_projections::State;
use espp_replay::{FoldError, Kind, OrderedFold, Query};

use super::checkpoints::needs_everyone;
use super::{decode_chunk, rec_key, Ledger, StoreError};

/// Checks what a fold can check cheaply of a chunk it read (not each record's own hash:
/// `verify` and `export` recompute those): its records are consecutive from its key, each
/// links to the one before (and to the chunk read just before, when that one precedes it
/// directly), and the next chunk starts right after it (or, for the last, it ends at the
/// head). So a record or chunk missing, misplaced or spliced in is damage, not a quiet gap.
pub(super) fn check_links(
    seq: u64,
    records: impl IntoIterator<Item = super::chunk::Link>,
    next_chunk: Option<u64>,
    head_seq: u64,
    before: &mut Option<(u64, espp_events::Hash)>,
) -> Result<(), StoreError> {
    let damaged = |seq: u64, message: String| StoreError::Damaged { seq, message };
    let mut prev = before.filter(|(s, _)| s + 1 == seq);
    let mut expected = seq;
    for (r_seq, r_prev_hash, r_hash) in records {
        if r_seq != expected {
            return Err(damaged(
                expected,
                format!("out of place: the record stored here says seq {r_seq}"),
            ));
        }
        if let Some((_, hash)) = prev {
            if r_prev_hash != hash {
                return Err(damaged(
                    r_seq,
                    format!(
                        "altered: prev_hash {r_prev_hash} does not match seq {}'s hash {hash}",
                        r_seq - 1
                    ),
                ));
            }
        }
        prev = Some((r_seq, r_hash));
        expected += 1;
    }
    let last = expected - 1;
    match next_chunk {
        Some(n) if n != expected => {
            return Err(damaged(
                expected.min(n),
                format!("missing: seq {last} is followed by a chunk starting at seq {n}"),
            ))
        }
        None if last != head_seq => {
            return Err(damaged(
                last.min(head_seq) + 1,
                format!("missing: the records end at seq {last}, the head is seq {head_seq}"),
            ))
        }
        _ => {}
    }
    *before = prev;
    Ok(())
}

/// A stored log that no longer folds: damage, named by the refused record's seq.
pub(super) fn no_longer_folds(e: FoldError) -> StoreError {
    StoreError::Damaged {
        seq: e.seq,
        message: format!("the stored log no longer folds: {}", e.rejection),
    }
}

impl Ledger {
    /// Reads the log after `after` (and the `left_out` seqs) into `fold`, chunk by chunk,
    /// telling `progress` each chunk's last seq.
    pub(super) fn stream(
        &self,
        fold: OrderedFold,
        query: &Query,
        after: u64,
        left_out: &[u64],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Result<OrderedFold, FoldError>, StoreError> {
        self.stream_some(fold, query, after, left_out, progress, &mut |_| true, None)
    }

    /// [`Ledger::stream`] of the records `keep` keeps. With `employee`, `keep` must refuse
    /// every record of another employee: those are then not even decoded
    /// ([`super::chunk::decode_chunk_of`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stream_some(
        &self,
        mut fold: OrderedFold,
        query: &Query,
        after: u64,
        left_out: &[u64],
        progress: &mut dyn FnMut(u64),
        keep: &mut dyn FnMut(&Record) -> bool,
        employee: Option<&str>,
    ) -> Result<Result<OrderedFold, FoldError>, StoreError> {
        let chunks = self.chunk_days_from(after)?;
        // The earliest day of everything from chunk i on.
        let mut later_min: Vec<Option<Day>> = vec![None; chunks.len() + 1];
        for i in (0..chunks.len()).rev() {
            later_min[i] = Some(later_min[i + 1].map_or(chunks[i].1, |d| d.min(chunks[i].1)));
        }
        let first = chunks
            .partition_point(|(seq, _)| *seq <= after)
            .saturating_sub(1);
        if !left_out.is_empty() {
            // Records a checkpoint left out: stored before it, dated after its wall.
            // Read in one pass over their chunks (they are sorted), not one chunk each.
            let mut records = Vec::with_capacity(left_out.len());
            let mut wanted = left_out.iter().copied().peekable();
            match employee {
                None => {
                    for r in self.records_from(left_out[0]) {
                        let r = r?;
                        match wanted.peek() {
                            None => break,
                            Some(&w) if w == r.seq => {
                                wanted.next();
                                records.push(r);
                            }
                            Some(_) => {}
                        }
                    }
                }
                Some(e) => self.left_out_of(e, &mut wanted, &mut records)?,
            }
            if let Some(seq) = wanted.next() {
                return Err(StoreError::Damaged {
                    seq,
                    message: "missing: a checkpoint names it".into(),
                });
            }
            records.retain(|r| keep(r));
            if let Err(e) = fold.push(records, later_min[first]) {
                return Ok(Err(e));
            }
        }
        // Decoding runs on a second thread, folding on this one: on two cores the replay
        // then goes at the pace of the slower of the two, not of their sum.
        let wanted: Vec<(usize, u64, Option<u64>)> = chunks
            .iter()
            .enumerate()
            .skip(first)
            .take_while(|(_, (seq, _))| !query.past_end(*seq))
            // A chunk dated wholly after the as-of day holds nothing for this fold.
            .filter(|(_, (_, min_day))| query.as_of.is_none_or(|d| *min_day <= d))
            .map(|(i, (seq, _))| (i, *seq, chunks.get(i + 1).map(|c| c.0)))
            .collect();
        let head_seq = self.head.seq;
        let outcome = std::thread::scope(|scope| -> Result<Result<(), FoldError>, StoreError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<
                Result<(usize, Vec<espp_events::Record>), StoreError>,
            >(8);
            scope.spawn(move || {
                // The last record of the chunk decoded just before, to check the link.
                let mut before: Option<(u64, espp_events::Hash)> = None;
                for (i, seq, next) in wanted {
                    let decoded = self
                        .db
                        .get(rec_key(seq))
                        .inspect(|_| super::scanned(&self.db, &rec_key(seq)))
                        .map_err(StoreError::from)
                        .and_then(|v| {
                            let v = v.ok_or_else(|| StoreError::Damaged {
                                seq,
                                message: "missing: a chunk summary names it but the chunk is gone"
                                    .into(),
                            })?;
                            let (records, links) = match employee {
                                None => (decode_chunk(&rec_key(seq), &v), None),
                                Some(e) => super::chunk::decode_chunk_of(seq, &v, e),
                            };
                            let records = records.into_iter().collect::<Result<Vec<_>, _>>()?;
                            Ok((records, links))
                        })
                        .and_then(|(records, links)| {
                            match links {
                                Some(links) => check_links(seq, links, next, head_seq, &mut before),
                                None => check_links(
                                    seq,
                                    records.iter().map(|r| (r.seq, r.prev_hash, r.hash)),
                                    next,
                                    head_seq,
                                    &mut before,
                                ),
                            }?;
                            Ok(records)
                        });
                    let stop = decoded.is_err();
                    // The receiver stops early on a refusal: nothing more to send then.
                    if tx.send(decoded.map(|records| (i, records))).is_err() || stop {
                        break;
                    }
                }
            });
            for item in rx {
                let (i, records) = item?;
                let last = records.last().map_or(0, |r| r.seq);
                if let Err(e) = fold.push(
                    records.into_iter().filter(|r| r.seq > after && keep(r)),
                    later_min[i + 1],
                ) {
                    return Ok(Err(e));
                }
                progress(last);
            }
            Ok(Ok(()))
        })?;
        Ok(outcome.map(|()| fold))
    }

    /// [`Ledger::chunk_days`] from the chunk holding `after` (or the first) on: what a
    /// stream after `after` reads, without every earlier chunk's summary.
    fn chunk_days_from(&self, after: u64) -> Result<Vec<(u64, Day)>, StoreError> {
        let start = match self
            .db
            .range(super::summary_key(0)..=super::summary_key(after))
            .next_back()
        {
            Some(kv) => super::be_u64(&kv?.0[1..]).unwrap_or(0),
            None => 0,
        };
        let mut out = Vec::new();
        // Summaries beyond the acknowledged head are not part of the log.
        for kv in self
            .db
            .range(super::summary_key(start)..=super::summary_key(self.head.seq))
        {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            let (min, _) = super::decode_summary(&v).ok_or_else(|| StoreError::Damaged {
                seq,
                message: "the chunk's day summary is malformed".into(),
            })?;
            out.push((seq, min));
        }
        Ok(out)
    }

    /// The records among `wanted` (sorted seqs) of no employee or of `employee`, into
    /// `records`: their chunks decoded by [`super::chunk::decode_chunk_of`], the links checked
    /// as [`Ledger::records_from`] checks them. The seqs found are taken from `wanted`: one
    /// left there is missing from the log.
    fn left_out_of(
        &self,
        employee: &str,
        wanted: &mut std::iter::Peekable<impl Iterator<Item = u64>>,
        records: &mut Vec<Record>,
    ) -> Result<(), StoreError> {
        let Some(&from) = wanted.peek() else {
            return Ok(());
        };
        // The chunk holding `from` starts at or before it.
        let start = match self.db.range(rec_key(0)..=rec_key(from.max(1))).next_back() {
            Some(kv) => kv?.0.to_vec(),
            None => rec_key(0).to_vec(),
        };
        let mut before: Option<(u64, Hash)> = None;
        for kv in self.db.range(start..=rec_key(self.head.seq).to_vec()) {
            if wanted.peek().is_none() {
                break;
            }
            let (k, v) = kv?;
            super::scanned(&self.db, &k);
            let first = super::be_u64(&k[1..]).unwrap_or(0);
            let (kept, links) = super::chunk::decode_chunk_of(first, &v, employee);
            let kept = kept.into_iter().collect::<Result<Vec<_>, _>>()?;
            let links = links
                .unwrap_or_else(|| kept.iter().map(|r| (r.seq, r.prev_hash, r.hash)).collect());
            let count = links.len() as u64;
            // Consecutive from the chunk's key, linked to the chunk before.
            check_links(
                first,
                links,
                Some(first + count),
                self.head.seq,
                &mut before,
            )?;
            let mut kept = kept.into_iter().peekable();
            while let Some(&w) = wanted.peek() {
                if w >= first + count {
                    break;
                }
                if w < first {
                    return Err(StoreError::Damaged {
                        seq: w,
                        message: "missing: a checkpoint names it".into(),
                    });
                }
                wanted.next();
                while kept.next_if(|r| r.seq < w).is_some() {}
                if let Some(r) = kept.next_if(|r| r.seq == w) {
                    records.push(r);
                }
            }
        }
        Ok(())
    }

    /// The acceptance book from the latest purchase checkpoint (or from scratch): the state
    /// through the wall and the records dated after it.
    pub(super) fn load_book(&self) -> Result<espp_replay::Book, StoreError> {
        self.whole_book_loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wall = self.wall;
        let query = Query::default();
        let start = match self
            .checkpoint_headers()?
            .into_iter()
            .rfind(|h| h.kind == Kind::Purchase && h.wall == wall && wall.is_some())
        {
            Some(h) => self.checkpoint_state(&h)?.map(|s| (h, s)),
            None => None,
        };
        let (fold, after, left_out) = match start {
            Some((h, state)) => (OrderedFold::new(state, query.clone()), h.seq, h.left_out),
            None => (OrderedFold::from_start(query.clone()), 0, Vec::new()),
        };
        let fold = self
            .stream(fold.split_at(wall), &query, after, &left_out, &mut |_| {})?
            .map_err(no_longer_folds)?;
        let (closed, tail) = fold.finish_split().map_err(no_longer_folds)?;
        espp_replay::Book::from_parts(closed, wall, tail).map_err(no_longer_folds)
    }

    /// Folds the log for `query` from the nearest checkpoint that serves it (or from
    /// scratch), streaming chunk by chunk in `(date, seq)` order. `progress` is told each
    /// chunk's last seq.
    pub fn fold(&self, query: &Query, progress: &mut dyn FnMut(u64)) -> Result<State, StoreError> {
        for h in self
            .checkpoint_headers()?
            .into_iter()
            .rev()
            .filter(|h| h.serves(query))
        {
            let Some(state) = self.checkpoint_state(&h)? else {
                continue;
            };
            match self.stream(
                OrderedFold::new(state, query.clone()),
                query,
                h.seq,
                &h.left_out,
                progress,
            )? {
                Ok(fold) => return fold.finish().map_err(no_longer_folds),
                // A record stored after a periodic checkpoint but dated before its day: this
                // checkpoint cannot serve; an earlier one (or none) will.
                Err(FoldError {
                    rejection: espp_projections::Rejection::OutOfOrder { .. },
                    ..
                }) => continue,
                Err(e) => return Err(no_longer_folds(e)),
            }
        }
        self.fold_uncached(query, progress)
    }

    /// The state as employee `id` sees it for `query`: the employee's account as a fold of
    /// the whole log gives it ([`State::write_employee_projection`]), not the others'. From
    /// the nearest checkpoint that serves the query, only the global part, the employee's
    /// block and its lots are read, and only the records of no employee or of this one are
    /// folded. A purchase (or a termination) among them needs every account: then, and
    /// under `--rules`, the whole state is folded ([`Ledger::fold`]).
    pub fn fold_employee(&self, query: &Query, id: &str) -> Result<State, StoreError> {
        let headers = match query.rules {
            None => self.checkpoint_headers()?,
            Some(_) => Vec::new(),
        };
        // The employee's records and the global ones only, where the employee index allows.
        if let Some(state) = self.fold_employee_indexed(query, id, &headers)? {
            return Ok(state);
        }
        if query.rules.is_none() {
            for h in headers.into_iter().rev().filter(|h| h.serves(query)) {
                let Some(state) = self.employee_checkpoint_state(&h, id)? else {
                    continue;
                };
                let mut everyone = false;
                // The latest day of the records left out: the whole fold reaches it.
                let mut reached: Option<Day> = None;
                let mut keep = |r: &Record| {
                    let admitted = query.admits(r);
                    if needs_everyone(r) && admitted {
                        everyone = true;
                    }
                    let kept = r.event.employee().is_none_or(|e| e.as_str() == id);
                    if !kept && admitted {
                        reached = reached.max(Some(r.date));
                    }
                    kept
                };
                let folded = self.stream_some(
                    OrderedFold::new(state, query.clone()),
                    query,
                    h.seq,
                    &h.left_out,
                    &mut |_| {},
                    &mut keep,
                    Some(id),
                )?;
                match folded {
                    _ if everyone => break,
                    Ok(fold) => return fold.finish_through(reached).map_err(no_longer_folds),
                    Err(FoldError {
                        rejection: espp_projections::Rejection::OutOfOrder { .. },
                        ..
                    }) => continue,
                    Err(e) => return Err(no_longer_folds(e)),
                }
            }
        }
        self.fold(query, &mut |_| {})
    }

    /// Folds the log for `query` from scratch, ignoring every checkpoint (benchmarks, and
    /// the reference the checkpoints are tested against).
    pub fn fold_uncached(
        &self,
        query: &Query,
        progress: &mut dyn FnMut(u64),
    ) -> Result<State, StoreError> {
        self.stream(
            OrderedFold::from_start(query.clone()),
            query,
            0,
            &[],
            progress,
        )?
        .and_then(OrderedFold::finish)
        .map_err(no_longer_folds)
    }
}
