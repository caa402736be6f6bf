//! `verify`'s check of the employee index and the copies of the records of no employee
//! (`whoindex.rs`) against the log, in its one streaming pass: as the reader passes each
//! record, it adds what the index must hold for it (its employee's `who` at its seq, or a
//! copy hashing to the record's hash at its seq) to an order-independent keyed digest, the
//! one the id index is checked with ([`IndexDigest`], a count and a wrapping sum of keyed hashes); a thread of its own meanwhile adds
//! what the index and the copies do hold. The digests are kept per bucket of 65,536 seqs
//! (~160 buckets at 10M events), so that when they disagree only the first bucket that
//! differs is read again, record by record, to name the first record whose entry or copy is
//! missing, extra or wrong. Memory: two digests a bucket, then one bucket's facts.
//!
//! The index is checked only while it serves (its mark is the head, see `whoindex.rs`):
//! one that does not is not read by anything, and the next append rebuilds it.

use espp_events::{Hash, Record};

use super::whoindex::{global_key, who, GLOBAL};
use super::whoruns::Runs;
use super::{be_u64, IndexDigest, IndexKey, Ledger, Problem, StoreError};

const BUCKET_BITS: u32 = 16;

/// What the index holds, or must hold, at one seq, as a number: an employee's entry (tag 1
/// and its `who`), a copy (tag 2 and its hash's first 7 bytes), or a copy that is not a
/// record of no employee hashing to itself at its seq (tag 3).
fn entry_fact(who: u32) -> u64 {
    1 << 56 | u64::from(who)
}

fn copy_fact(hash: &Hash) -> u64 {
    let mut b = [2u8; 8];
    b[1..].copy_from_slice(&hash.0[..7]);
    u64::from_be_bytes(b)
}

const BAD_COPY: u64 = 3 << 56;

/// The keyed hash of one (fact, seq): one SipHash of the two numbers (the id index's digest
/// hashes for 128 bits over a 16-byte id; here 64 bits: a disagreement still goes unnoticed
/// with a chance of 2^-64 per bucket, and verify hashes every record's fact once on each
/// side).
fn fact_hash(key: &IndexKey, fact: u64, seq: u64) -> u64 {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&fact.to_le_bytes());
    b[8..].copy_from_slice(&seq.to_le_bytes());
    key.fact.hash(&b)
}

/// Per bucket of seqs, a digest of (seq, fact) pairs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct WhoDigest {
    buckets: Vec<IndexDigest>,
}

impl WhoDigest {
    fn add(&mut self, key: &IndexKey, fact: u64, seq: u64) {
        let b = (seq >> BUCKET_BITS) as usize;
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, IndexDigest::default());
        }
        let d = &mut self.buckets[b];
        d.entries += 1;
        d.sum = d.sum.wrapping_add(u128::from(fact_hash(key, fact, seq)));
    }

    /// What the index and the copies must hold for `r`.
    pub(super) fn add_record(&mut self, key: &IndexKey, r: &Record) {
        match r.event.employee() {
            Some(e) => self.add(key, entry_fact(who(e.as_str())), r.seq),
            None => self.add(key, copy_fact(&r.hash), r.seq),
        }
    }

    /// The first bucket where `self` and `other` differ.
    fn first_difference(&self, other: &WhoDigest) -> Option<usize> {
        let n = self.buckets.len().max(other.buckets.len());
        let at = |d: &WhoDigest, i: usize| d.buckets.get(i).copied().unwrap_or_default();
        (0..n).find(|&i| at(self, i) != at(other, i))
    }
}

/// What one seq's record says the index must hold, or what the index holds at a seq.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fact {
    Entry(u32),
    Copy(Option<Hash>),
}

/// A copy's fact: its hash if it is a record of no employee hashing to itself at `seq`.
fn copy_of(seq: u64, v: &[u8]) -> Option<Hash> {
    let r = espp_events::decode(v).ok()?;
    (r.seq == seq && r.compute_hash() == r.hash && r.event.employee().is_none()).then_some(r.hash)
}

impl Ledger {
    /// Whether `verify` checks the employee index: it serves (see the module's doc), or a
    /// meta of it was found malformed on opening.
    pub(super) fn who_checked(&self) -> bool {
        self.who_complete() || self.who.damage.is_some()
    }

    /// What the employee index and the copies hold: Err(message) for a block or a key
    /// that names no (who, seq), or a malformed meta found on opening.
    pub(super) fn who_stored_digest(
        &self,
        key: &IndexKey,
    ) -> Result<Result<WhoDigest, String>, StoreError> {
        if let Some(d) = &self.who.damage {
            return Ok(Err(d.clone()));
        }
        let mut d = WhoDigest::default();
        let mut bad: Option<String> = None;
        for run in self.who.runs.runs() {
            Runs::each_block(&self.db, run, &mut |block| match block {
                Ok(entries) => {
                    for (w, seq) in entries {
                        d.add(key, entry_fact(w), seq);
                    }
                }
                Err(m) => {
                    bad.get_or_insert(m);
                }
            })?;
            if let Some(m) = bad {
                return Ok(Err(m));
            }
        }
        for kv in self.db.scan_prefix([GLOBAL]) {
            let (k, v) = kv?;
            super::scanned(&self.db, &k);
            let Some(seq) = be_u64(&k[1..]).filter(|_| k.len() == 9) else {
                return Ok(Err(
                    "a key of the copies of records of no employee is malformed".into(),
                ));
            };
            match copy_of(seq, &v) {
                Some(h) => d.add(key, copy_fact(&h), seq),
                None => d.add(key, BAD_COPY, seq),
            }
        }
        Ok(Ok(d))
    }

    /// The first record whose entry in the employee index or copy is missing, extra or
    /// wrong, given the log's digest and the index's (the log is intact through
    /// `expected - 1`); None if they agree.
    pub(super) fn who_problem(
        &self,
        log: &WhoDigest,
        stored: Result<WhoDigest, String>,
        expected: u64,
    ) -> Result<Option<Problem>, StoreError> {
        let stored = match stored {
            Ok(d) => d,
            Err(message) => {
                return Ok(Some(Problem {
                    seq: expected,
                    message,
                }))
            }
        };
        let Some(bucket) = log.first_difference(&stored) else {
            return Ok(None);
        };
        let lo = ((bucket as u64) << BUCKET_BITS).max(1);
        let hi = ((bucket as u64 + 1) << BUCKET_BITS) - 1;
        Ok(Some(self.who_difference(lo, hi, expected)?.unwrap_or(
            Problem {
                seq: expected,
                message: "the employee index does not match the log".into(),
            },
        )))
    }

    /// The first seq in `lo..=hi` where what the log says the index must hold differs from
    /// what it holds, read again record by record.
    fn who_difference(
        &self,
        lo: u64,
        hi: u64,
        expected: u64,
    ) -> Result<Option<Problem>, StoreError> {
        let last = hi.min(expected - 1);
        // The log's records in the bucket: (who, employee) or their hash.
        let mut log: Vec<(u64, Fact, Option<String>)> = Vec::new();
        if lo <= last {
            for r in self.records_from(lo) {
                let r = r?;
                if r.seq > last {
                    break;
                }
                match r.event.employee() {
                    Some(e) => log.push((r.seq, Fact::Entry(who(e.as_str())), Some(e.to_string()))),
                    None => log.push((r.seq, Fact::Copy(Some(r.hash)), None)),
                }
            }
        }
        let mut held: Vec<(u64, Fact)> = Vec::new();
        for run in self.who.runs.runs() {
            Runs::each_block(&self.db, run, &mut |block| {
                for (w, seq) in block.unwrap_or_default() {
                    if (lo..=hi).contains(&seq) {
                        held.push((seq, Fact::Entry(w)));
                    }
                }
            })?;
        }
        for kv in self.db.range(global_key(lo)..=global_key(hi)) {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..]).unwrap_or(0);
            held.push((seq, Fact::Copy(copy_of(seq, &v))));
        }
        held.sort_by_key(|h| h.0);
        let mut i = 0;
        let mut seqs: Vec<u64> = log
            .iter()
            .map(|l| l.0)
            .chain(held.iter().map(|h| h.0))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        for s in seqs {
            while held.get(i).is_some_and(|h| h.0 < s) {
                i += 1;
            }
            let here: Vec<&Fact> = held[i..]
                .iter()
                .take_while(|h| h.0 == s)
                .map(|h| &h.1)
                .collect();
            let record = log.iter().find(|l| l.0 == s);
            let message = match record {
                None => {
                    format!("the employee index or its copies name seq {s}, after the last record")
                }
                Some((_, fact, employee)) => {
                    if here.as_slice() == [fact] {
                        continue;
                    }
                    let entries = here.iter().filter(|f| matches!(f, Fact::Entry(_))).count();
                    match (fact, employee) {
                        (Fact::Entry(_), Some(e)) if here.is_empty() => {
                            format!("the employee index lacks this record of {e}")
                        }
                        (Fact::Entry(_), Some(e)) if entries == here.len() && here.contains(&fact) => {
                            format!("the employee index names this record of {e} more than once")
                        }
                        (Fact::Entry(_), Some(e)) if entries == here.len() => {
                            format!("the employee index files this record of {e} under another employee")
                        }
                        (Fact::Entry(_), _) => {
                            "the employee index's copies hold this record of an employee as one of no employee".to_string()
                        }
                        (Fact::Copy(_), _) if here.is_empty() => {
                            "the employee index's copy of this record of no employee is missing".to_string()
                        }
                        (Fact::Copy(_), _) if entries > 0 => {
                            "the employee index names this record of no employee".to_string()
                        }
                        (Fact::Copy(_), _) => {
                            "the employee index's copy of this record of no employee is not this record".to_string()
                        }
                    }
                }
            };
            return Ok(Some(Problem {
                seq: s.min(expected),
                message,
            }));
        }
        Ok(None)
    }
}
