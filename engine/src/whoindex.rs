//! The employee index (issue 15): which seqs hold each employee's records, and which hold
//! the records of no employee (prices, purchases, plan events), so that a query about one
//! employee (`explain`, `state --employee`) reads only the chunks holding those, not the log.
//!
//! It is an index of runs like the id index (`idindex.rs`, the same code: one run per append
//! in the append's own atomic batch, merged when there are many), under keys `w` + run (meta)
//! and `v` + run + block. An entry's 16-byte key is a tag byte (0: no employee, 1: an
//! employee), seven bytes of the employee id's FNV-1a hash (zero for no employee), and the
//! seq (big-endian); its value is the seq. Two employees whose hashes collide only cost
//! each other's chunks a read: the records read are filtered by the employee itself.
//!
//! The records of no employee are also copied whole under `g` + seq (their versioned
//! encoding, `espp_events::encode_into`), written in the append's batch: a few a payday, but
//! each in a chunk of its own batch, and sled reads a chunk's whole leaf (~16 chunks) —
//! read from the log they were half of a one-employee query's reads. A copy is used only if
//! it hashes to its own hash at its own seq, and `verify` compares every copy with the log.
//!
//! `m` + `who` (a version byte) is present once the index and the copies hold every record:
//! a ledger written before them gets them on its next append, built from the log in one
//! pass ([`Ledger::ensure_who_index`]). Without it, readers fold as before.

use espp_events::Record;

use super::idindex::{IdIndex, Keys};
use super::{Ledger, StoreError};

/// The employee index's keys.
pub(super) const WHO_KEYS: Keys = Keys::runs_only(b'w', b'v', "employee index");
/// Present once the employee index holds every record of the log.
const COMPLETE_KEY: &[u8] = b"mwho";
const COMPLETE_VERSION: u8 = 1;
/// The prefix of the copies of the records of no employee.
const GLOBAL: u8 = b'g';

/// The key of the copy of global record `seq`.
pub(super) fn global_key(seq: u64) -> [u8; 9] {
    let mut k = [GLOBAL; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The copy of `r` if it is a record of no employee: its key and bytes.
pub(super) fn global_copy(r: &Record) -> Option<([u8; 9], Vec<u8>)> {
    if r.event.employee().is_some() {
        return None;
    }
    let mut v = Vec::with_capacity(160);
    espp_events::encode_into(r, &mut v);
    Some((global_key(r.seq), v))
}

type Id = [u8; 16];

/// The tag and hash part of an entry's key: who a record is about.
fn who(employee: Option<&str>) -> [u8; 8] {
    let mut k = [0u8; 8];
    if let Some(e) = employee {
        // FNV-1a, 64 bits: stored, so it must never change.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in e.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        k[0] = 1;
        k[1..].copy_from_slice(&h.to_be_bytes()[..7]);
    }
    k
}

/// A record's entry key.
pub(super) fn entry(r: &Record) -> (Id, u64) {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&who(r.event.employee().map(|e| e.as_str())));
    k[8..].copy_from_slice(&r.seq.to_be_bytes());
    (k, r.seq)
}

/// The least and greatest keys of `employee`'s entries (or of no employee's).
fn bounds(employee: Option<&str>) -> (Id, Id) {
    let w = who(employee);
    let (mut lo, mut hi) = ([0u8; 16], [0xffu8; 16]);
    lo[..8].copy_from_slice(&w);
    hi[..8].copy_from_slice(&w);
    (lo, hi)
}

/// The employee index of an open ledger.
#[derive(Debug)]
pub(super) struct WhoIndex {
    pub(super) runs: IdIndex,
    /// Whether it holds every record (`m` + `who`).
    pub(super) complete: bool,
}

impl WhoIndex {
    pub(super) fn load(db: &sled::Tree) -> Result<WhoIndex, StoreError> {
        Ok(WhoIndex {
            runs: IdIndex::load_keys(db, WHO_KEYS)?,
            complete: db
                .get(COMPLETE_KEY)?
                .is_some_and(|v| v.first() == Some(&COMPLETE_VERSION)),
        })
    }
}

impl Ledger {
    /// The seqs of the records of `employee`, ascending (a hash collision may add another
    /// employee's); None when the index does not hold every record.
    pub fn who_seqs(&self, employee: &str) -> Result<Option<Vec<u64>>, StoreError> {
        if !self.who.complete {
            return Ok(None);
        }
        let (lo, hi) = bounds(Some(employee));
        let mut seqs = self.who.runs.range(&self.db, &lo, &hi)?;
        seqs.retain(|s| *s <= self.head.seq);
        seqs.sort_unstable();
        seqs.dedup();
        Ok(Some(seqs))
    }

    /// The records of no employee up to `through` (their copies), in seq order; None when
    /// the copies are not complete or one is not the record it claims to be (then the
    /// caller reads the log).
    pub(super) fn global_records(&self, through: u64) -> Result<Option<Vec<Record>>, StoreError> {
        self.global_records_from(0, through)
    }

    /// [`Ledger::global_records`] from seq `from` on.
    pub(super) fn global_records_from(
        &self,
        from: u64,
        through: u64,
    ) -> Result<Option<Vec<Record>>, StoreError> {
        if !self.who.complete {
            return Ok(None);
        }
        let mut out = Vec::new();
        let through = through.min(self.head.seq);
        if from > through {
            return Ok(Some(out));
        }
        for kv in self.db.range(global_key(from)..=global_key(through)) {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            match espp_events::decode(&v) {
                Ok(r)
                    if r.seq == seq
                        && r.compute_hash() == r.hash
                        && r.event.employee().is_none() =>
                {
                    out.push(r)
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Builds the employee index from the log when it does not hold every record (a ledger
    /// written before it): one pass over the records, one run. Sled writes only, like the
    /// id index's upgrade: the next durable append makes them durable; until the mark is
    /// written, readers do without the index.
    pub(super) fn ensure_who_index(&mut self) -> Result<(), StoreError> {
        if self.who.complete {
            return Ok(());
        }
        self.who.runs.clear(&self.db)?;
        let mut old = sled::Batch::default();
        for k in self.db.scan_prefix([GLOBAL]).keys() {
            old.remove(k?);
        }
        self.db.apply_batch(old)?;
        let mut entries = Vec::with_capacity(self.head.seq as usize);
        let mut copies = sled::Batch::default();
        for r in self.records() {
            let r = r?;
            entries.push(entry(&r));
            if let Some((k, v)) = global_copy(&r) {
                copies.insert(&k[..], v);
            }
        }
        self.db.apply_batch(copies)?;
        self.who.runs.write_run(&self.db, entries)?;
        self.db.insert(COMPLETE_KEY, &[COMPLETE_VERSION])?;
        self.who.complete = true;
        Ok(())
    }
}
