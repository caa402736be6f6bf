//! `espp verify`'s fold and checkpoint comparison: the log folded in one streaming pass
//! beside the chain check, and every checkpoint compared with that fold as it passes.

use super::*;
use crate::store::folds::no_longer_folds;

impl Ledger {
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
    ) -> Result<
        (
            crate::store::VerifyReport,
            Option<(String, Vec<CheckpointCheck>)>,
        ),
        StoreError,
    > {
        self.verify_all_with(HashOn::Shared)
    }

    /// [`Ledger::verify_all`] with the records hashed on the thread `on` says. For tests,
    /// which find the same problems whichever thread hashes.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn verify_all_with(
        &self,
        on: HashOn,
    ) -> Result<
        (
            crate::store::VerifyReport,
            Option<(String, Vec<CheckpointCheck>)>,
        ),
        StoreError,
    > {
        // The checkpoints, in seq order: those that cannot be compared are settled now.
        let mut checks: Vec<CheckpointCheck> = Vec::new();
        let mut periodic: Vec<(usize, Header)> = Vec::new();
        let mut purchase: Vec<(usize, Header, bool)> = Vec::new();
        for kv in self.checkpoints.scan_prefix([b'h']) {
            let (k, v) = kv?;
            let seq = crate::store::be_u64(&k[1..]).unwrap_or(0);
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
        // The parts already read and found to hash to their names: a part shared by
        // several checkpoints is read and hashed once, all of them on a thread of their own
        // while the log is read (those missing or altered are read again where a
        // comparison needs them, and found so there).
        let mut named: Vec<Hash> = periodic
            .iter()
            .map(|(_, h)| h)
            .chain(purchase.iter().map(|(_, h, _)| h))
            .flat_map(|h| h.parts.all().copied())
            .collect();
        named.sort_unstable_by_key(|h| h.0);
        named.dedup();
        let mut verified: HashSet<Hash> = HashSet::new();
        // The fold's state is named at every checkpoint it passes: the holdings' parts that
        // cannot have changed since the last are not encoded again.
        let mut names = PartCache::default();
        let mut failed: Option<StoreError> = None;
        let mut next_periodic = 0;
        // The first record whose content does not hash to its stored hash, of those the
        // reader left to this thread (the chunks it handed over while this thread could take
        // them at once: the hashing goes to whichever core has time).
        let mut altered: Option<(u64, espp_events::Hash, espp_events::Hash)> = None;
        // Chunks sent and not yet received: from `BEHIND` on, the fold has work waiting and the
        // reader hashes what it reads (and goes on reading while the queue has room). The fold
        // hashes a chunk only when it would otherwise soon wait for one: its own work (the fold,
        // the checkpoints' parts) is the larger share, and a core hashing for it while it folds
        // is time it gains (at 8, the fold hashed ~2/5 of the records at 1M and 10M: perf).
        const BEHIND: usize = 2;
        const QUEUE: usize = 16;
        let mut offered = 0usize;
        let queued = std::sync::atomic::AtomicUsize::new(0);
        let (mut report, rank) = std::thread::scope(|scope| -> Result<_, StoreError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<Record>, Hashed)>(QUEUE);
            let queued = &queued;
            let intact = scope.spawn(|| -> Result<HashSet<Hash>, StoreError> {
                let mut intact = HashSet::with_capacity(named.len());
                for hash in &named {
                    if let Some(Ok(_)) = self.part(hash)? {
                        intact.insert(*hash);
                    }
                }
                Ok(intact)
            });
            let mut intact = Some(intact);
            // The intact parts, once that thread is done: wanted by the first comparison. If
            // it failed to read, none: each comparison then reads its parts itself and meets
            // the failure where it did before this thread.
            let mut wait_intact = |verified: &mut HashSet<Hash>| {
                if let Some(t) = intact.take() {
                    let read = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                    *verified = read.unwrap_or_default();
                }
            };
            let reader = scope.spawn(move || {
                self.verify_with(true, &mut |seq, records, hashed| {
                    use std::sync::atomic::Ordering::Relaxed;
                    if hashed == Hashed::No {
                        offered += 1;
                        let here = match on {
                            HashOn::Shared => queued.load(Relaxed) >= BEHIND,
                            HashOn::Reader => true,
                            HashOn::Fold => false,
                            HashOn::Alternate => offered.is_multiple_of(2),
                        };
                        if here {
                            return Some(records);
                        }
                    }
                    queued.fetch_add(1, Relaxed);
                    // The fold stops listening only when this scope ends.
                    let _ = tx.send((seq, records, hashed));
                    None
                })
            });
            for (first, records, hashed) in rx {
                queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if altered.is_some() {
                    continue;
                }
                if hashed == Hashed::No {
                    if let Some(r) = records.iter().find(|r| r.compute_hash() != r.hash) {
                        altered = Some((r.seq, r.compute_hash(), r.hash));
                        continue;
                    }
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
                    // A purchase checkpoint is compared with the state in place, as the fold
                    // passes its wall (no copy of the state).
                    let mut compared: Result<(), StoreError> = Ok(());
                    let pushed = fold.push_observed(now, later, &mut |day, state| {
                        for (idx, h, own) in &purchase {
                            if compared.is_ok() && !*own && h.wall == Some(day) {
                                wait_intact(&mut verified);
                                match self.compare_checkpoint(h, state, &mut verified, &mut names) {
                                    Ok(c) => checks[*idx] = c,
                                    Err(e) => compared = Err(e),
                                }
                            }
                        }
                    });
                    compared?;
                    if let Err(e) = pushed {
                        failed = Some(no_longer_folds(e));
                        break;
                    }
                    if cut.is_some() {
                        let (idx, h) = &periodic[next_periodic];
                        next_periodic += 1;
                        wait_intact(&mut verified);
                        match fold.with_state_so_far(|state| {
                            self.compare_checkpoint(h, state, &mut verified, &mut names)
                        }) {
                            Ok(c) => checks[*idx] = c?,
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
            wait_intact(&mut verified);
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
                report.problem = Some(crate::store::Problem {
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
        let mut compared: Result<(), StoreError> = Ok(());
        let at_end = fold
            .finish_observed(&mut |day, state| {
                for (idx, h, own) in &purchase {
                    if compared.is_ok() && !*own && h.wall == Some(day) {
                        match self.compare_checkpoint(h, state, &mut verified, &mut names) {
                            Ok(c) => checks[*idx] = c,
                            Err(e) => compared = Err(e),
                        }
                    }
                }
            })
            .map_err(no_longer_folds)?;
        compared?;
        // The query has no `as_of`: the final state is the one the days no record came after
        // (the last purchase's, usually) are compared with. Both need only to read it: the
        // digest is rendered on a thread of its own meanwhile (the reader is done by now).
        let full = fold.finish().map_err(no_longer_folds)?;
        let digest = std::thread::scope(|scope| -> Result<String, StoreError> {
            let digest = scope.spawn(|| full.digest());
            for day in at_end {
                for (idx, h, own) in &purchase {
                    if !*own && h.wall == Some(day) {
                        checks[*idx] =
                            self.compare_checkpoint(h, &full, &mut verified, &mut names)?;
                    }
                }
            }
            Ok(digest
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        // What the pass could not check: by a fold of their own, as before.
        let unreached = periodic[next_periodic..].iter().map(|(i, h)| (*i, h));
        let own = purchase.iter().filter(|p| p.2).map(|(i, h, _)| (*i, h));
        for (idx, h) in unreached.chain(own) {
            checks[idx] = self.check_by_own_fold(h, &mut verified)?;
        }
        Ok((report, Some((digest, checks))))
    }

    /// Compares checkpoint `h` with `fresh`, the state a fold from scratch gives for what it
    /// covers: by the SHA-256 of `fresh`'s encoding (named through `names`), else by
    /// projection digests. `verified` holds the parts found intact so far (see
    /// [`Ledger::stored_parts_check`]).
    fn compare_checkpoint(
        &self,
        h: &Header,
        fresh: &State,
        verified: &mut HashSet<Hash>,
        names: &mut PartCache,
    ) -> Result<CheckpointCheck, StoreError> {
        let (problem, disagrees) = match self.stored_parts_check(h, verified)? {
            Some(p) => p,
            None if names.list(fresh) == h.parts => (None, false),
            // The same books may encode differently (what the projection does not show):
            // compare what it shows, as a fold of its own would.
            None => self.compare_digests(h, &fresh.digest())?,
        };
        Ok(CheckpointCheck {
            seq: h.seq,
            kind: h.kind,
            problem,
            disagrees,
        })
    }

    /// What is wrong with checkpoint `h`'s stored parts, if anything: missing (a cache
    /// miss) or altered (bytes that changed after it was written: it disagrees). Parts in
    /// `verified` were read and found intact by this process already (nothing removes or
    /// rewrites a part while `verify` reads): those are not read again; the others are added
    /// to it when they are.
    fn stored_parts_check(
        &self,
        h: &Header,
        verified: &mut HashSet<Hash>,
    ) -> Result<Option<(Option<String>, bool)>, StoreError> {
        let mut missing = false;
        for hash in h.parts.all() {
            if verified.contains(hash) {
                continue;
            }
            match self.part(hash)? {
                None => missing = true,
                Some(Err(())) => {
                    return Ok(Some((
                        Some(
                            "its stored state was altered (a part's SHA-256 differs from its name)"
                                .into(),
                        ),
                        true,
                    )))
                }
                Some(Ok(_)) => {
                    verified.insert(*hash);
                }
            }
        }
        if sha(&espp_replay::checkpoint::encode_part_list(&h.parts)) != h.state_sha256 {
            return Ok(Some((
                Some("its header was altered (its part list's SHA-256 differs)".into()),
                true,
            )));
        }
        Ok(missing.then(|| {
            (
                Some("its state is missing (ignored, will be rebuilt)".into()),
                false,
            )
        }))
    }

    /// Compares the stored state's projection digest with `fresh`, a fold from scratch's.
    fn compare_digests(
        &self,
        h: &Header,
        fresh: &str,
    ) -> Result<(Option<String>, bool), StoreError> {
        Ok(
            match self.state_parts(h)?.map(|v| {
                decode_part_stream(
                    h.parts.employees.len(),
                    h.parts.lots.len(),
                    h.parts.purchases.len(),
                    &v,
                )
            }) {
                None => (
                    Some("its state is missing (ignored, will be rebuilt)".to_string()),
                    false,
                ),
                Some(Err(e)) => (Some(format!("its state does not decode: {e}")), false),
                Some(Ok(s)) => {
                    let stored = s.digest();
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
            },
        )
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
    fn check_by_own_fold(
        &self,
        h: &Header,
        verified: &mut HashSet<Hash>,
    ) -> Result<CheckpointCheck, StoreError> {
        let fresh = self.fold_covered_by(h)?;
        self.compare_checkpoint(h, &fresh, verified, &mut PartCache::default())
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
            let seq = crate::store::be_u64(&k[1..]).unwrap_or(0);
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
                let fresh = self.fold_covered_by(&h)?.digest();
                let (problem, d) = match self.stored_parts_check(&h, &mut HashSet::new())? {
                    Some(p) => p,
                    None => self.compare_digests(&h, &fresh)?,
                };
                disagrees = d;
                problem
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
