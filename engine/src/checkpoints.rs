//! Checkpoints beside the log, and the streaming folds that start from them: the acceptance
//! book on open, `espp state` queries, and `verify`'s comparison of every checkpoint with a
//! fold from scratch.
//!
//! Tree `checkpoints`: `h` + seq (big-endian) → [`Header`], `s` + seq → the state. A
//! checkpoint that does not decode, was made by another fold version, or whose record no
//! longer has the hash it names is deleted when found and rebuilt by the next append.

use espp_events::Day;
use espp_projections::State;
use espp_replay::checkpoint::{decode_state, encode_state};
use espp_replay::{FoldError, Header, Kind, OrderedFold, Query, FOLD_VERSION};

use super::{decode_chunk, rec_key, Ledger, StoreError};

/// Checks what a fold can check cheaply of a chunk it read (not each record's own hash:
/// `verify` and `export` recompute those): its records are consecutive from its key, each
/// links to the one before (and to the chunk read just before, when that one precedes it
/// directly), and the next chunk starts right after it (or, for the last, it ends at the
/// head). So a record or chunk missing, misplaced or spliced in is damage, not a quiet gap.
fn check_links(
    seq: u64,
    records: &[espp_events::Record],
    next_chunk: Option<u64>,
    head_seq: u64,
    before: &mut Option<(u64, espp_events::Hash)>,
) -> Result<(), StoreError> {
    let damaged = |seq: u64, message: String| StoreError::Damaged { seq, message };
    let mut prev = before.filter(|(s, _)| s + 1 == seq);
    let mut expected = seq;
    for r in records {
        if r.seq != expected {
            return Err(damaged(
                expected,
                format!("out of place: the record stored here says seq {}", r.seq),
            ));
        }
        if let Some((_, hash)) = prev {
            if r.prev_hash != hash {
                return Err(damaged(
                    r.seq,
                    format!(
                        "altered: prev_hash {} does not match seq {}'s hash {hash}",
                        r.prev_hash,
                        r.seq - 1
                    ),
                ));
            }
        }
        prev = Some((r.seq, r.hash));
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
fn no_longer_folds(e: FoldError) -> StoreError {
    StoreError::Damaged {
        seq: e.seq,
        message: format!("the stored log no longer folds: {}", e.rejection),
    }
}

fn key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// A checkpoint found by `verify`, and whether a fold from scratch agrees with it.
#[derive(Debug, Clone)]
pub struct CheckpointCheck {
    /// Its seq.
    pub seq: u64,
    /// Purchase or periodic.
    pub kind: Kind,
    /// None if the fold from scratch gives its digest; else what is wrong.
    pub problem: Option<String>,
    /// True when a current, decodable checkpoint of the intact log disagrees with a fold from
    /// scratch (a tampered cache or a non-deterministic fold); false when it is merely
    /// unusable (stale, another version, undecodable) and will be rebuilt.
    pub disagrees: bool,
}

impl Ledger {
    /// The usable checkpoints' headers in seq order; unusable ones are deleted.
    pub fn checkpoint_headers(&self) -> Result<Vec<Header>, StoreError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for kv in self.checkpoints.scan_prefix([b'h']) {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            match Header::decode(&v) {
                Ok(h)
                    if h.fold_version == FOLD_VERSION
                        && h.seq == seq
                        && self.hash_at(seq)? == Some(h.hash) =>
                {
                    out.push(h)
                }
                _ => bad.push(seq),
            }
        }
        for seq in bad {
            self.delete_checkpoint(seq)?;
        }
        Ok(out)
    }

    fn hash_at(&self, seq: u64) -> Result<Option<espp_events::Hash>, StoreError> {
        Ok(self.record(seq)?.map(|r| r.hash))
    }

    fn delete_checkpoint(&self, seq: u64) -> Result<(), StoreError> {
        self.track(self.checkpoints.remove(key(b'h', seq)))?;
        for k in self.checkpoints.scan_prefix(key(b's', seq)).keys() {
            self.track(self.checkpoints.remove(k?))?;
        }
        Ok(())
    }

    /// Deletes the checkpoints of seqs after `seq` (records removed as never acknowledged).
    pub(super) fn drop_checkpoints_after(&self, seq: u64) -> Result<(), StoreError> {
        let mut beyond = Vec::new();
        for k in self.checkpoints.scan_prefix([b'h']).keys() {
            if let Some(s) = super::be_u64(&k?[1..]).filter(|s| *s > seq) {
                beyond.push(s);
            }
        }
        for s in beyond {
            self.delete_checkpoint(s)?;
        }
        self.remove_orphan_pieces()
    }

    /// The stored state's bytes, its pieces put back together (None if any is missing).
    fn state_bytes(&self, h: &Header) -> Result<Option<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        let mut pieces = 0u32;
        for v in self.checkpoints.scan_prefix(key(b's', h.seq)).values() {
            out.extend_from_slice(&v?);
            pieces += 1;
        }
        Ok((pieces == h.pieces).then_some(out))
    }

    /// Deletes every checkpoint (they are a cache: no answer changes).
    pub fn clear_checkpoints(&self) -> Result<(), StoreError> {
        self.track(self.checkpoints.clear())?;
        self.track(self.checkpoints.flush())?;
        Ok(())
    }

    fn checkpoint_state(&self, h: &Header) -> Result<Option<State>, StoreError> {
        use sha2::Digest as _;
        let state = self
            .state_bytes(h)?
            .filter(|v| sha2::Sha256::digest(v).as_slice() == h.state_sha256.0)
            .and_then(|v| decode_state(&v).ok());
        match state {
            Some(s) => Ok(Some(s)),
            _ => {
                self.delete_checkpoint(h.seq)?;
                Ok(None)
            }
        }
    }

    fn put_checkpoint(&self, header: &Header, state_bytes: Vec<u8>) -> Result<(), StoreError> {
        // One checkpoint a seq: clear what stands there (its pieces could outnumber ours).
        self.delete_checkpoint(header.seq)?;
        // State first: a header without its state is deleted as unusable when found.
        for (i, piece) in state_bytes
            .chunks(espp_replay::checkpoint::STATE_PIECE_BYTES)
            .enumerate()
        {
            let mut k = key(b's', header.seq).to_vec();
            k.extend_from_slice(&(i as u32).to_be_bytes());
            self.track(self.checkpoints.insert(k, piece))?;
        }
        self.track(
            self.checkpoints
                .insert(key(b'h', header.seq), header.encode()),
        )?;
        Ok(())
    }

    /// Takes the checkpoints the book calls for: one at the latest purchase (when the wall
    /// moved, or none exists for it), and a periodic one every `checkpoint_every` events.
    pub(super) fn take_checkpoints(&mut self, wall_moved: bool) -> Result<(), StoreError> {
        let Some(book) = &self.book else {
            return Ok(());
        };
        let headers = self.checkpoint_headers()?;
        let mut wrote = false;
        if let Some(wall) = book.wall() {
            let have = headers
                .iter()
                .any(|h| h.kind == Kind::Purchase && h.wall == Some(wall));
            if wall_moved || !have {
                let bytes = encode_state(book.closed());
                let header = Header::new(
                    self.head.seq,
                    self.head.hash,
                    Kind::Purchase,
                    Some(wall),
                    book.tail_seqs(),
                    self.head.max_recorded_at,
                    book.closed(),
                    &bytes,
                );
                self.put_checkpoint(&header, bytes)?;
                wrote = true;
            }
        }
        let every = self.options.checkpoint_every;
        // Any checkpoint resets the cadence; and one seq holds one checkpoint (a purchase
        // checkpoint just written at the head is not overwritten by a periodic one).
        let last_periodic = headers
            .iter()
            .map(|h| h.seq)
            .chain(wrote.then_some(self.head.seq))
            .max()
            .unwrap_or(0);
        if every > 0 && self.head.seq >= last_periodic + every {
            let bytes = encode_state(book.state());
            let header = Header::new(
                self.head.seq,
                self.head.hash,
                Kind::Periodic,
                None,
                Vec::new(),
                self.head.max_recorded_at,
                book.state(),
                &bytes,
            );
            self.put_checkpoint(&header, bytes)?;
            wrote = true;
        }
        if wrote {
            self.remove_orphan_pieces()?;
            // A cache: flushed, not fsynced; a lost checkpoint is rebuilt.
            self.track(self.checkpoints.flush())?;
        }
        Ok(())
    }

    /// Removes state pieces whose header is gone (a process killed between writing a
    /// state's pieces and its header, or a deletion cut short): nothing else would.
    fn remove_orphan_pieces(&self) -> Result<(), StoreError> {
        let headers: std::collections::BTreeSet<u64> = self
            .checkpoints
            .scan_prefix([b'h'])
            .keys()
            .filter_map(|k| k.ok().and_then(|k| super::be_u64(&k[1..])))
            .collect();
        for k in self.checkpoints.scan_prefix([b's']).keys() {
            let k = k?;
            if super::be_u64(&k[1..]).is_none_or(|seq| !headers.contains(&seq)) {
                self.track(self.checkpoints.remove(k))?;
            }
        }
        Ok(())
    }

    /// Reads the log after `after` (and the `left_out` seqs) into `fold`, chunk by chunk,
    /// telling `progress` each chunk's last seq.
    fn stream(
        &self,
        mut fold: OrderedFold,
        query: &Query,
        after: u64,
        left_out: &[u64],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Result<OrderedFold, FoldError>, StoreError> {
        let chunks = self.chunk_days()?;
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
            if let Some(seq) = wanted.next() {
                return Err(StoreError::Damaged {
                    seq,
                    message: "missing: a checkpoint names it".into(),
                });
            }
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
                        .map_err(StoreError::from)
                        .and_then(|v| {
                            let v = v.ok_or_else(|| StoreError::Damaged {
                                seq,
                                message: "missing: a chunk summary names it but the chunk is gone"
                                    .into(),
                            })?;
                            decode_chunk(&rec_key(seq), &v)
                                .into_iter()
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .and_then(|records| {
                            check_links(seq, &records, next, head_seq, &mut before)?;
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
                    records.into_iter().filter(|r| r.seq > after),
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

    /// The acceptance book from the latest purchase checkpoint (or from scratch): the state
    /// through the wall and the records dated after it.
    pub(super) fn load_book(&self) -> Result<espp_replay::Book, StoreError> {
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

    /// `espp verify` in one streaming pass (issue 15): the hash chain checked chunk by chunk
    /// on a reader thread ([`Ledger::verify`]'s checks), each intact chunk folded on this
    /// one, and every checkpoint compared as the fold passes it — a periodic one with the
    /// fold's state through its seq, a purchase one with the state before the first record
    /// dated after its wall — by the SHA-256 of that state's encoding against the header's
    /// (and the stored bytes' against the header's). Where the encodings differ, the stored
    /// state is decoded and its projection digest compared, as [`Ledger::verify_checkpoints`]
    /// does; a purchase checkpoint with a later record dated on or before its wall is checked
    /// by a fold of its own. Returns the chain's report and, when it is intact, the full
    /// log's digest and one check per checkpoint (what `verify_checkpoints` returns).
    #[allow(clippy::type_complexity)]
    pub fn verify_all(
        &self,
    ) -> Result<(super::VerifyReport, Option<(String, Vec<CheckpointCheck>)>), StoreError> {
        // The checkpoints, in seq order: those that cannot be compared are settled now.
        let mut checks: Vec<CheckpointCheck> = Vec::new();
        let mut periodic: Vec<(usize, Header)> = Vec::new();
        let mut purchase: Vec<(usize, Header, bool)> = Vec::new();
        for kv in self.checkpoints.scan_prefix([b'h']) {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            let mut check = CheckpointCheck {
                seq,
                kind: Kind::Periodic,
                problem: None,
                disagrees: false,
            };
            match Header::decode(&v) {
                Err(e) => {
                    check.problem = Some(format!("header: {e} (ignored, will be rebuilt)"));
                }
                Ok(h) => {
                    check.seq = h.seq;
                    check.kind = h.kind;
                    if h.fold_version != FOLD_VERSION {
                        check.problem = Some(format!("made by fold version {} (this build: {FOLD_VERSION}); ignored, will be rebuilt", h.fold_version));
                    } else if self.hash_at(h.seq)? != Some(h.hash) {
                        check.problem = Some(format!(
                            "stale: record {} no longer has hash {}",
                            h.seq, h.hash
                        ));
                    } else if h.kind == Kind::Periodic {
                        periodic.push((checks.len(), h));
                    } else {
                        // Without a wall, or checked by a fold of its own (see below).
                        let own = h.wall.is_none();
                        purchase.push((checks.len(), h, own));
                    }
                }
            }
            checks.push(check);
        }
        periodic.sort_by_key(|(_, h)| h.seq);
        let walls: Vec<Day> = purchase.iter().filter_map(|(_, h, _)| h.wall).collect();
        let all = Query::default();
        let chunks = self.chunk_days()?;
        let mut later_min: Vec<Option<Day>> = vec![None; chunks.len() + 1];
        for i in (0..chunks.len()).rev() {
            later_min[i] = Some(later_min[i + 1].map_or(chunks[i].1, |d| d.min(chunks[i].1)));
        }
        let mut fold = OrderedFold::from_start(all).snapshot_before(walls);
        let mut failed: Option<StoreError> = None;
        let mut next_periodic = 0;
        // The first record of odd seq whose content does not hash to its stored hash: the
        // reader leaves those to this thread (half the hashing, on the other core).
        let mut altered: Option<(u64, espp_events::Hash, espp_events::Hash)> = None;
        let (mut report, rank) = std::thread::scope(|scope| -> Result<_, StoreError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<espp_events::Record>)>(8);
            let reader = scope.spawn(move || {
                self.verify_with(true, &mut |seq, records| {
                    // The fold stops listening only when this scope ends.
                    let _ = tx.send((seq, records));
                })
            });
            for (first, records) in rx {
                if altered.is_some() {
                    continue;
                }
                if let Some(r) = records
                    .iter()
                    .filter(|r| r.seq % 2 == 1)
                    .find(|r| r.compute_hash() != r.hash)
                {
                    altered = Some((r.seq, r.compute_hash(), r.hash));
                    continue;
                }
                if failed.is_some() || records.is_empty() {
                    continue;
                }
                let Ok(i) = chunks.binary_search_by_key(&first, |c| c.0) else {
                    failed = Some(StoreError::Damaged {
                        seq: first,
                        message: "missing: no chunk summary names this chunk".into(),
                    });
                    continue;
                };
                // A record after a purchase checkpoint dated on or before its wall: the state
                // before the wall's next day is not that checkpoint's.
                for (_, h, own) in purchase.iter_mut() {
                    if !*own
                        && records
                            .iter()
                            .any(|r| r.seq > h.seq && h.wall.is_some_and(|w| r.date <= w))
                    {
                        *own = true;
                    }
                }
                let mut rest = records;
                loop {
                    // Cut the chunk after the next periodic checkpoint's seq, if it is here.
                    let cut = periodic
                        .get(next_periodic)
                        .map(|(_, h)| h.seq)
                        .filter(|s| rest.last().is_some_and(|r| r.seq >= *s))
                        .map(|s| rest.partition_point(|r| r.seq <= s));
                    let (now, after) = match cut {
                        Some(n) => {
                            let after = rest.split_off(n);
                            (rest, after)
                        }
                        None => (rest, Vec::new()),
                    };
                    let after_min = after.iter().map(|r| r.date).min();
                    let later = match (after_min, later_min[i + 1]) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if let Err(e) = fold.push(now, later) {
                        failed = Some(no_longer_folds(e));
                        break;
                    }
                    for (day, state) in fold.take_snapshots() {
                        for (idx, h, own) in &purchase {
                            if !*own && h.wall == Some(day) {
                                checks[*idx] = self.compare_checkpoint(h, &state)?;
                            }
                        }
                    }
                    if cut.is_some() {
                        let (idx, h) = &periodic[next_periodic];
                        next_periodic += 1;
                        match fold.state_so_far() {
                            Ok(state) => checks[*idx] = self.compare_checkpoint(h, &state)?,
                            Err(e) => {
                                failed = Some(no_longer_folds(e));
                                break;
                            }
                        }
                    }
                    if after.is_empty() {
                        break;
                    }
                    rest = after;
                }
            }
            reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        if let Some((seq, computed, stored)) = altered {
            // The first problem in the order `verify` checks: by seq, then a record's place
            // and link before its hash, its hash before the id index.
            let first = match (&report.problem, rank) {
                (None, _) | (Some(_), None) => true,
                (Some(p), Some(rank)) => seq < p.seq || (seq == p.seq && rank > 2),
            };
            if first {
                report.problem = Some(super::Problem {
                    seq,
                    message: format!(
                        "altered: its content hashes to {computed}, not the stored {stored}"
                    ),
                });
                report.records = seq - 1;
                // As `verify` leaves it when it stops at a record.
                report.head_hash = espp_events::Hash::ZERO;
            }
        }
        if report.problem.is_some() {
            return Ok((report, None));
        }
        if let Some(e) = failed {
            return Err(e);
        }
        fold.finish_snapshots().map_err(no_longer_folds)?;
        for (day, state) in fold.take_snapshots() {
            for (idx, h, own) in &purchase {
                if !*own && h.wall == Some(day) {
                    checks[*idx] = self.compare_checkpoint(h, &state)?;
                }
            }
        }
        let full = fold.finish().map_err(no_longer_folds)?;
        // What the pass could not check: by a fold of their own, as before.
        let unreached = periodic[next_periodic..].iter().map(|(i, h)| (*i, h));
        let own = purchase.iter().filter(|p| p.2).map(|(i, h, _)| (*i, h));
        for (idx, h) in unreached.chain(own) {
            checks[idx] = self.check_by_own_fold(h)?;
        }
        Ok((report, Some((full.digest(), checks))))
    }

    /// Compares checkpoint `h` with `fresh`, the state a fold from scratch gives for what it
    /// covers: by the SHA-256 of `fresh`'s encoding, else by projection digests.
    fn compare_checkpoint(&self, h: &Header, fresh: &State) -> Result<CheckpointCheck, StoreError> {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        let mut pieces = 0u32;
        for v in self.checkpoints.scan_prefix(key(b's', h.seq)).values() {
            hasher.update(&v?);
            pieces += 1;
        }
        let (problem, disagrees) = if pieces != h.pieces {
            (
                Some("its state is missing (ignored, will be rebuilt)".to_string()),
                false,
            )
        } else if hasher.finalize().as_slice() != h.state_sha256.0 {
            (
                Some("its stored state was altered (SHA-256 differs from its header)".to_string()),
                true,
            )
        } else if sha2::Sha256::digest(encode_state(fresh)).as_slice() == h.state_sha256.0 {
            (None, false)
        } else {
            // The same books may encode differently (what the projection does not show):
            // compare what it shows, as a fold of its own would.
            match self.state_bytes(h)?.map(|v| decode_state(&v)) {
                None => (
                    Some("its state is missing (ignored, will be rebuilt)".to_string()),
                    false,
                ),
                Some(Err(e)) => (Some(format!("its state does not decode: {e}")), false),
                Some(Ok(s)) => {
                    let (stored, fresh) = (s.digest(), fresh.digest());
                    if stored == fresh {
                        (None, false)
                    } else {
                        (
                            Some(format!(
                                "digest {stored} differs from a fold from scratch ({fresh})"
                            )),
                            true,
                        )
                    }
                }
            }
        };
        Ok(CheckpointCheck {
            seq: h.seq,
            kind: h.kind,
            problem,
            disagrees,
        })
    }

    /// A fold from scratch of what checkpoint `h` covers: the records through its seq (for a
    /// purchase checkpoint, the state through its wall).
    fn fold_covered_by(&self, h: &Header) -> Result<State, StoreError> {
        let query = Query {
            through_seq: Some(h.seq),
            ..Query::default()
        };
        let mut fold = OrderedFold::from_start(query.clone());
        if h.kind == Kind::Purchase {
            fold = fold.split_at(h.wall);
        }
        Ok(self
            .stream(fold, &query, 0, &[], &mut |_| {})?
            .and_then(OrderedFold::finish_split)
            .map_err(no_longer_folds)?
            .0)
    }

    /// Checks checkpoint `h` against a fold from scratch of what it covers, of its own.
    fn check_by_own_fold(&self, h: &Header) -> Result<CheckpointCheck, StoreError> {
        let fresh = self.fold_covered_by(h)?;
        self.compare_checkpoint(h, &fresh)
    }

    /// Folds the whole log from scratch and compares every checkpoint with a fold from
    /// scratch of what it covers. Returns the full log's digest and one check per checkpoint.
    /// The reference [`Ledger::verify_all`] is tested against (a fold per checkpoint).
    pub fn verify_checkpoints(&self) -> Result<(String, Vec<CheckpointCheck>), StoreError> {
        let all = Query::default();
        let full = self
            .stream(
                OrderedFold::from_start(all.clone()),
                &all,
                0,
                &[],
                &mut |_| {},
            )?
            .and_then(OrderedFold::finish)
            .map_err(no_longer_folds)?;
        let mut checks = Vec::new();
        for kv in self.checkpoints.scan_prefix([b'h']) {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            let h = match Header::decode(&v) {
                Ok(h) => h,
                Err(e) => {
                    checks.push(CheckpointCheck {
                        seq,
                        kind: Kind::Periodic,
                        problem: Some(format!("header: {e} (ignored, will be rebuilt)")),
                        disagrees: false,
                    });
                    continue;
                }
            };
            let mut disagrees = false;
            let problem = if h.fold_version != FOLD_VERSION {
                Some(format!("made by fold version {} (this build: {FOLD_VERSION}); ignored, will be rebuilt", h.fold_version))
            } else if self.hash_at(h.seq)? != Some(h.hash) {
                Some(format!(
                    "stale: record {} no longer has hash {}",
                    h.seq, h.hash
                ))
            } else {
                use sha2::Digest as _;
                let bytes = self.state_bytes(&h)?;
                let altered = bytes
                    .as_ref()
                    .is_some_and(|v| sha2::Sha256::digest(v).as_slice() != h.state_sha256.0);
                let stored = bytes.map(|v| decode_state(&v));
                let fresh = self.fold_covered_by(&h)?.digest();
                match stored {
                    None => Some("its state is missing (ignored, will be rebuilt)".into()),
                    Some(_) if altered => {
                        // Bytes that changed after the checkpoint was written: not a cache miss.
                        disagrees = true;
                        Some(
                            "its stored state was altered (SHA-256 differs from its header)".into(),
                        )
                    }
                    Some(Err(e)) => Some(format!("its state does not decode: {e}")),
                    Some(Ok(s)) if s.digest() != fresh => {
                        disagrees = true;
                        Some(format!(
                            "digest {} differs from a fold from scratch ({fresh})",
                            s.digest()
                        ))
                    }
                    Some(Ok(_)) => None,
                }
            };
            checks.push(CheckpointCheck {
                seq: h.seq,
                kind: h.kind,
                problem,
                disagrees,
            });
        }
        Ok((full.digest(), checks))
    }
}
