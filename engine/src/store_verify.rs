//! `verify`'s reading of the log: every chunk, link and hash, and the id index against
//! the records, in one pass that hands the records to the fold.

use super::*;

impl Ledger {
    /// Re-reads every record and its links: the first problem found, if any.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        Ok(self.verify_with(false, &mut |_, _, _| None)?.0)
    }

    /// [`Ledger::verify`], handing each chunk's records that passed to `sink` (its first
    /// seq, the records, and whether their hashes were checked here; also those before a
    /// problem): `verify`'s fold reads the log in the same pass. With `defer_hash`, each
    /// chunk's records are first offered to `sink` before their hashes are checked: it takes
    /// them (returns None) only if it can at once, and then checks their hashes itself (on
    /// another core); if it gives them back (busy), they are hashed here and handed over
    /// again, to be taken whatever. So the hashing goes to whichever thread has time: when
    /// the fold is behind, the reader hashes; when the reader is, the fold does. Without
    /// `defer_hash`, every record is hashed here. Also returns, for a problem found at a
    /// record, the rank of the check that found it, in the order they run: 0 the chunk, 1
    /// its place or link, 2 its hash, 3 the id index (None for a problem found after the
    /// last record).
    pub(crate) fn verify_with(
        &self,
        defer_hash: bool,
        sink: &mut dyn FnMut(u64, Vec<Record>, Hashed) -> Option<Vec<Record>>,
    ) -> Result<(VerifyReport, Option<u8>), StoreError> {
        let mut report = VerifyReport::default();
        let mut prev = Hash::ZERO;
        let mut expected = 1u64;
        // The records' (id, seq), to be compared with the id index's in one scan of it.
        let key = IndexDigest::key();
        let mut seen = IndexDigest::default();
        // The same for the employee index and the copies of the records of no employee
        // (`whocheck.rs`), while the index serves.
        let who_checked = self.who_checked();
        let mut who_seen = whocheck::WhoDigest::default();
        let problem = |seq: u64, message: String| Some(Problem { seq, message });
        // A problem (found by check `rank`) before the record `expected` passed, unless a
        // record that passed has a wrong index entry: that one comes first, as when every
        // record's entry was looked up as it passed.
        let stop = |mut report: VerifyReport,
                    expected: u64,
                    rank: u8,
                    seen: &IndexDigest|
         -> Result<(VerifyReport, Option<u8>), StoreError> {
            if let Some(p) = self.index_problem_before(expected, &key, seen)? {
                report.records = p.seq - 1;
                report.problem = Some(p);
                return Ok((report, Some(3)));
            }
            Ok((report, Some(rank)))
        };
        // The index's side of the comparison, read meanwhile on a thread of its own.
        std::thread::scope(|scope| {
            let index = scope.spawn(|| self.index_digest(&key, u64::MAX));
            let who_index = who_checked.then(|| scope.spawn(|| self.who_stored_digest(&key)));
            for kv in self
                .db
                .range(rec_key(0).to_vec()..rec_key(u64::MAX).to_vec())
            {
                let (k, v) = match kv {
                    Ok(kv) => kv,
                    Err(e) => {
                        report.problem =
                            problem(expected, format!("unreadable: {}", StoreError::from(e)));
                        return stop(report, expected, 0, &seen);
                    }
                };
                scanned(&self.db, &k);
                let key_seq = be_u64(&k[1..]).unwrap_or(0);
                if key_seq != expected {
                    report.problem = if key_seq > expected {
                        problem(
                            expected,
                            format!("missing: the next stored records start at seq {key_seq}"),
                        )
                    } else {
                        problem(
                            key_seq,
                            format!(
                                "out of place: a chunk starting at seq {key_seq} follows seq {}",
                                expected - 1
                            ),
                        )
                    };
                    return stop(report, expected, 0, &seen);
                }
                // The chunk's records, decoded in place (moved once: into this list, then to
                // the fold), those from the first that fails a check on dropped.
                let mut passed = Vec::with_capacity(CHUNK_RECORDS);
                let damage = chunk::decode_chunk_into(key_seq, &v, &mut passed);
                // The first problem in this chunk before any hash is checked, and its rank.
                let mut found: Option<(Problem, u8)> = None;
                let mut intact = passed.len();
                for (i, r) in passed.iter().enumerate() {
                    let at = key_seq + i as u64;
                    if r.seq != at {
                        let message =
                            format!("out of place: the record stored here says seq {}", r.seq);
                        found = Some((Problem { seq: at, message }, 1));
                        intact = i;
                        break;
                    }
                    if r.prev_hash != prev {
                        let message = format!(
                            "altered: prev_hash {} does not match seq {}'s hash {prev}",
                            r.prev_hash,
                            at - 1
                        );
                        found = Some((Problem { seq: at, message }, 1));
                        intact = i;
                        break;
                    }
                    seen.add(&key, &r.id, at);
                    if who_checked {
                        who_seen.add_record(&key, r);
                    }
                    prev = r.hash;
                    expected = at + 1;
                    report.records += 1;
                }
                passed.truncate(intact);
                if found.is_none() {
                    match damage {
                        None => {}
                        Some(StoreError::Damaged { seq, message }) => {
                            found = Some((Problem { seq, message }, 1));
                        }
                        Some(e) => return Err(e),
                    }
                }
                // The hashes: on the fold's thread if it takes the records at once, else here.
                let back = if defer_hash {
                    sink(key_seq, passed, Hashed::No)
                } else {
                    Some(passed)
                };
                if let Some(mut passed) = back {
                    if let Some(i) = passed.iter().position(|r| r.compute_hash() != r.hash) {
                        // The records from the altered one on did not pass after all.
                        for r in &passed[i..] {
                            seen.remove(&key, &r.id, r.seq);
                        }
                        let r = &passed[i];
                        let message = format!(
                            "altered: its content hashes to {}, not the stored {}",
                            r.compute_hash(),
                            r.hash
                        );
                        found = Some((
                            Problem {
                                seq: r.seq,
                                message,
                            },
                            2,
                        ));
                        report.records -= (passed.len() - i) as u64;
                        expected = r.seq;
                        passed.truncate(i);
                    }
                    sink(key_seq, passed, Hashed::Yes);
                }
                if let Some((p, rank)) = found {
                    report.problem = Some(p);
                    return stop(report, expected, rank, &seen);
                }
            }
            // Every record's index entry: one scan of the index, each record looked up only if
            // the two disagree (to name the first record whose entry is wrong).
            let index = index
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
            if index != seen {
                if let Some(p) = self.first_index_problem(expected)? {
                    report.records = p.seq - 1;
                    report.problem = Some(p);
                    return Ok((report, Some(3)));
                }
            }
            if let Some(d) = &self.damage {
                // Found on opening (the tail lost or unreadable), and nothing earlier is wrong.
                report.problem = problem(d.seq, d.message.clone());
                return Ok((report, None));
            }
            if self.head.seq != expected - 1 || self.head.hash != prev {
                // The first seq affected: the first one missing (or stored beyond the head), or
                // the head's own record when only its hash disagrees.
                let first = if self.head.seq == expected - 1 {
                    self.head.seq.max(1)
                } else {
                    self.head.seq.min(expected - 1) + 1
                };
                report.problem = problem(
                    first,
                    format!(
                        "missing: the head says seq {} but the records end at seq {}",
                        self.head.seq,
                        expected - 1
                    ),
                );
                return Ok((report, None));
            }
            // The employee index and the copies: the first record whose entry or copy is
            // wrong, named as a wrong id index entry is.
            if let Some(t) = who_index {
                let stored = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                if let Some(p) = self.who_problem(&who_seen, stored, expected)? {
                    report.records = p.seq - 1;
                    report.problem = Some(p);
                    return Ok((report, Some(3)));
                }
            }
            if index.entries != report.records {
                report.problem = problem(
                    expected,
                    format!(
                        "the id index has {} entries for {} records",
                        index.entries, report.records
                    ),
                );
            }
            report.head_hash = prev;
            Ok((report, None))
        })
    }

    /// Every entry of the id index, in its own order: the record id and seq it maps, or
    /// `None` for an entry (or a run's block) that names no (id, seq) and so matches no
    /// record. `verify` reads the index through this alone (and [`Ledger::stored_seq_of`] to
    /// name a wrong entry).
    fn index_entries(&self) -> impl Iterator<Item = Result<Option<(Uuid, u64)>, StoreError>> + '_ {
        self.id_index_entries().map(|e| match e {
            Ok(pair) => Ok(Some(pair)),
            Err(StoreError::Damaged { .. }) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// The digest of the id index's entries that map to a seq below `below`; entries that
    /// name no (id, seq) are counted (in `entries` when `below` is `u64::MAX`) and make it
    /// differ from any records'.
    fn index_digest(&self, key: &IndexKey, below: u64) -> Result<IndexDigest, StoreError> {
        let mut d = IndexDigest::default();
        for e in self.index_entries() {
            match e? {
                Some((id, seq)) if seq < below => d.add(key, &id, seq),
                Some(_) => {}
                None => {
                    d.entries += 1;
                    d.malformed += 1;
                }
            }
        }
        Ok(d)
    }

    /// The first record before `at` whose index entry is wrong, if any (`seen` is the digest
    /// of the records before `at`): a scan of the index, then, only if it disagrees, the
    /// records looked up one by one.
    fn index_problem_before(
        &self,
        at: u64,
        key: &IndexKey,
        seen: &IndexDigest,
    ) -> Result<Option<Problem>, StoreError> {
        if self.index_digest(key, at)?.agrees_before(seen) {
            return Ok(None);
        }
        self.first_index_problem(at)
    }

    /// The first record before `at` whose id the index does not map to its seq, looked up
    /// one by one (the records before `at` are known to read and decode).
    fn first_index_problem(&self, at: u64) -> Result<Option<Problem>, StoreError> {
        for kv in self.db.range(rec_key(0).to_vec()..rec_key(at).to_vec()) {
            let (k, v) = kv?;
            for r in decode_chunk(&k, &v).into_iter().flatten() {
                if r.seq >= at {
                    return Ok(None);
                }
                match self.stored_seq_of(&r.id)? {
                    Some(s) if s == r.seq => {}
                    other => {
                        return Ok(Some(Problem {
                            seq: r.seq,
                            message: format!(
                                "the id index maps {} to {other:?}, not to this seq",
                                r.id
                            ),
                        }))
                    }
                }
            }
        }
        Ok(None)
    }
}

/// The keys of [`IndexDigest`]'s hash and of the employee index's (`whocheck.rs`): random
/// for each process, so no stored bytes can be made to cancel out. SipHash-1-3 as before
/// (std's `RandomState` hasher was two 64-bit passes for 128 bits); now one pass of its
/// 128-bit form over the 24 bytes of an (id, seq), from the `siphasher` crate, which hashes
/// a whole buffer at once: about half the work (perf of a 1M `verify`: the two passes were
/// ~8% of its CPU, over the reader's thread and the index's).
#[derive(Debug, Clone)]
pub(super) struct IndexKey {
    /// For an (id, seq) of the id index: 128 bits.
    pub(super) pair: siphasher::sip128::SipHasher13,
    /// For a (fact, seq) of the employee index: 64 bits.
    pub(super) fact: siphasher::sip::SipHasher13,
}

/// An order-independent digest of a set of (id, seq) pairs: their number and the wrapping
/// sum of a keyed 128-bit hash of each. The records' and the id index's agree when the index
/// maps every record's id to its seq and holds nothing else (but for a 2^-128 chance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct IndexDigest {
    /// Pairs added, and malformed entries.
    pub(super) entries: u64,
    /// Entries that name no (id, seq).
    pub(super) malformed: u64,
    /// The sum of the pairs' keyed hashes.
    pub(super) sum: u128,
}

impl IndexDigest {
    pub(super) fn key() -> IndexKey {
        use std::hash::BuildHasher as _;
        // Four random words: std's per-process random keys (each `RandomState` made on a
        // thread differs from the last), hashing nothing in particular.
        let word = || std::collections::hash_map::RandomState::new().hash_one(0u64);
        IndexKey {
            pair: siphasher::sip128::SipHasher13::new_with_keys(word(), word()),
            fact: siphasher::sip::SipHasher13::new_with_keys(word(), word()),
        }
    }

    pub(super) fn pair_hash(key: &IndexKey, id: &Uuid, seq: u64) -> u128 {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(id.as_bytes());
        b[16..].copy_from_slice(&seq.to_le_bytes());
        key.pair.hash(&b).as_u128()
    }

    pub(super) fn add(&mut self, key: &IndexKey, id: &Uuid, seq: u64) {
        self.entries += 1;
        self.sum = self.sum.wrapping_add(Self::pair_hash(key, id, seq));
    }

    /// Takes back a pair [`IndexDigest::add`] added.
    pub(super) fn remove(&mut self, key: &IndexKey, id: &Uuid, seq: u64) {
        self.entries -= 1;
        self.sum = self.sum.wrapping_sub(Self::pair_hash(key, id, seq));
    }

    /// Whether `self`, the index's entries below some seq (and every malformed one), agrees
    /// with `records`, the records' below it.
    pub(super) fn agrees_before(&self, records: &IndexDigest) -> bool {
        self.malformed == 0 && self.entries == records.entries && self.sum == records.sum
    }
}

/// Whether the records [`Ledger::verify_with`] hands over had their hashes checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashed {
    /// Checked: take them.
    Yes,
    /// Not checked: take them only if they can be hashed at once; else give them back.
    No,
}

/// The outcome of [`Ledger::verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Records checked and found intact.
    pub records: u64,
    /// The last intact record's hash.
    pub head_hash: Hash,
    /// The first problem: its seq and what is wrong.
    pub problem: Option<Problem>,
}

/// A damaged, missing or misplaced record.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The first seq affected.
    pub seq: u64,
    /// What is wrong.
    pub message: String,
}
