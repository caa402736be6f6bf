//! The employee index (issue 15): which seqs hold each employee's records, and copies of
//! the records of no employee (prices, purchases, plan events), so that a query about one
//! employee (`explain`, `state --employee`, `statement`) reads only the chunks holding
//! those, not the log.
//!
//! The index is sorted runs of (who, seq) entries (`whoruns.rs`: one run per append in the
//! append's own atomic batch, merged by level), where `who` is 32 bits of a hash of the
//! employee id ([`who`]). Two employees whose `who` collide (about one pair in 100,000
//! employees) only cost each other's chunks a read: the records read are filtered by the
//! employee itself. Records of no employee have no entry: their copies stand for them.
//!
//! The records of no employee are copied whole under `x` + seq (their versioned encoding,
//! `espp_events::encode_into`), written in the append's batch: a few a payday, but each in
//! a chunk of its own batch, and sled reads a chunk's whole leaf (~16 chunks) — read from
//! the log they were half of a one-employee query's reads. A copy is used only if it hashes
//! to its own hash at its own seq, and `verify` compares every copy with the log.
//!
//! `m` + `who` (the mark: a version byte and a seq, u64 BE) says through which seq the index
//! and the copies hold every record; each append's batch moves it to its new head. The index
//! serves only while the mark is the head: a ledger written before the index (or appended
//! to by a build that does not keep it) has no mark or an older one, and its readers fold as
//! before; its next append builds the index from the log ([`Ledger::ensure_who_index`]), in
//! bounded memory. `verify` checks the index and the copies against the log
//! (`whocheck.rs`).

use espp_events::Record;

use super::whoruns::{Entry, PendingRun, Runs, Source};
use super::whospill::Spill;
use super::{Ledger, StoreError};

/// The mark: through which seq the index holds every record.
const MARK_KEY: &[u8] = b"mwho";
/// Version 1 was the first index (branch `explain2`, 24-byte entries), version 2 kept the
/// copies under [`FORMER_GLOBAL`]: both are rebuilt.
const MARK_VERSION: u8 = 3;
/// Where version 2 kept the copies (see [`GLOBAL`]); removed by the rebuild.
const FORMER_GLOBAL: u8 = b'g';
/// The prefix of the copies of the records of no employee: after the chunks' `r`, on
/// purpose. sled applies a batch in key order (vendor/sled, patch 4), so an append whose
/// chunk cannot be written (a full disk: a big chunk's blob file is where it fails) fails
/// before it writes the copies; keyed before the chunks (`g`, as first written), a failed
/// append of big market prices first filled what was left of sled's data file with copies
/// of records never stored, and the small appends after it found no room (test
/// `full_disk`).
pub(super) const GLOBAL: u8 = b'x';
/// Entries the upgrade sorts in memory at a time (16 bytes each: 16 MiB): each fills a run,
/// and the runs are merged into one at the end.
const UPGRADE_ENTRIES: usize = 1 << 20;
/// Copies the upgrade writes per sled batch.
const UPGRADE_COPIES: usize = 4096;

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

/// An employee's `who`: the 64-bit FNV-1a hash of its id, folded to 32 bits. Stored: it
/// must never change.
pub(super) fn who(employee: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in employee.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 32) as u32 ^ h as u32
}

/// A record's entry, if it is an employee's.
pub(super) fn entry(r: &Record) -> Option<Entry> {
    r.event.employee().map(|e| (who(e.as_str()), r.seq))
}

fn mark(seq: u64) -> [u8; 9] {
    let mut v = [MARK_VERSION; 9];
    v[1..].copy_from_slice(&seq.to_be_bytes());
    v
}

/// The employee index of an open ledger.
#[derive(Debug)]
pub(super) struct WhoIndex {
    pub(super) runs: Runs,
    /// Through which seq it holds every record (the mark), if it has a mark of this version.
    through: Option<u64>,
    /// A run's meta found malformed on opening (then the index is not used; `verify` names
    /// it, the next append rebuilds it).
    pub(super) damage: Option<String>,
}

impl WhoIndex {
    pub(super) fn load(db: &sled::Tree) -> Result<WhoIndex, StoreError> {
        let through = db.get(MARK_KEY)?.and_then(|v| {
            (v.len() == 9 && v[0] == MARK_VERSION).then(|| super::be_u64(&v[1..]).unwrap_or(0))
        });
        // Runs of another version's mark are not read: the next append clears them.
        let (runs, damage) = match through {
            None => (Runs::default(), None),
            Some(_) => match Runs::load(db)? {
                Ok(runs) => (runs, None),
                Err(m) => (Runs::default(), Some(m)),
            },
        };
        let through = through.filter(|_| damage.is_none());
        Ok(WhoIndex {
            runs,
            through,
            damage,
        })
    }
}

impl Ledger {
    /// Whether the employee index and the copies hold every record of the log.
    pub(super) fn who_complete(&self) -> bool {
        self.who.through == Some(self.head.seq)
    }

    /// The seqs of the records of `employee`, ascending (a `who` collision may add another
    /// employee's); None when the index does not hold every record, or a block of it that
    /// may hold some is missing or malformed (then the caller reads the log).
    pub fn who_seqs(&self, employee: &str) -> Result<Option<Vec<u64>>, StoreError> {
        if !self.who_complete() {
            return Ok(None);
        }
        let Some(mut seqs) = self.who.runs.seqs_of(&self.db, who(employee))? else {
            return Ok(None);
        };
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
        if !self.who_complete() {
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

    /// Writes the index's part of an append into its batch: the records' run, the copies of
    /// the records of no employee, the mark moved to `head`. Nothing when the index is not
    /// complete (the append that finds it so builds it first: [`Ledger::ensure_who_index`]).
    pub(super) fn write_who(
        &self,
        batch: &mut sled::Batch,
        records: &[&Record],
        head: u64,
    ) -> Result<PendingRun, StoreError> {
        if !self.who_complete() {
            return Ok(self.who.runs.nothing());
        }
        for (k, v) in records.iter().filter_map(|r| global_copy(r)) {
            batch.insert(&k[..], v);
        }
        batch.insert(MARK_KEY, &mark(head)[..]);
        let entries = records.iter().filter_map(|r| entry(r)).collect();
        self.who.runs.add_run(&self.db, batch, entries)
    }

    /// Takes an append's run into the index once its batch is applied, the mark with it.
    pub(super) fn commit_who(&mut self, run: PendingRun, head: u64) {
        if self.who_complete() {
            self.who.runs.commit(run);
            self.who.through = Some(head);
        }
    }

    /// Removes the index's entries and copies after `a` (records never acknowledged) and
    /// moves a mark beyond it back to `a` in `batch` (the roll-back's own).
    pub(super) fn roll_back_who(
        &mut self,
        batch: &mut sled::Batch,
        a: u64,
    ) -> Result<(), StoreError> {
        for k in self
            .db
            .range(global_key(a.saturating_add(1))..=global_key(u64::MAX))
            .keys()
        {
            batch.remove(k?);
        }
        self.who.runs.roll_back(&self.db, a)?;
        if self.who.through.is_some_and(|t| t > a) {
            batch.insert(MARK_KEY, &mark(a)[..]);
            self.who.through = Some(a);
        }
        Ok(())
    }

    /// Builds the employee index from the log when it does not hold every record (a ledger
    /// written before it): one pass over the records, sorting at most [`UPGRADE_ENTRIES`]
    /// entries at a time into a run spilled to a file (`whospill.rs`), then one streaming
    /// merge of those runs and the last (in memory) into the one run the index keeps (never
    /// merged again). Memory is bounded whatever the log's length: the entries being sorted,
    /// one block of each run while merging, a batch of copies. Sled writes only, like the id
    /// index's upgrade: the next durable append makes them durable; until the mark is
    /// written, readers do without the index. Run before the append loads its book, so that
    /// the two do not add up in memory.
    pub(super) fn ensure_who_index(&mut self) -> Result<(), StoreError> {
        self.ensure_who_index_with(UPGRADE_ENTRIES)
    }

    /// [`Ledger::ensure_who_index`] sorting at most `bound` entries at a time (tests use a
    /// few, to build and merge many runs).
    pub(super) fn ensure_who_index_with(&mut self, bound: usize) -> Result<(), StoreError> {
        let bound = bound.max(1);
        if self.who_complete() {
            return Ok(());
        }
        self.who.through = None;
        self.db.remove(MARK_KEY)?;
        self.who.runs.clear(&self.db)?;
        let mut old = sled::Batch::default();
        for prefix in [GLOBAL, FORMER_GLOBAL] {
            for k in self.db.scan_prefix([prefix]).keys() {
                old.remove(k?);
            }
        }
        self.db.apply_batch(old)?;
        let mut entries: Vec<Entry> = Vec::with_capacity(bound.min(self.head.seq as usize));
        let mut spill: Option<Spill> = None;
        Spill::remove_stale(&self.path)?;
        let mut copies = sled::Batch::default();
        let mut in_copies = 0;
        for r in self.records() {
            let r = r?;
            if let Some(e) = entry(&r) {
                entries.push(e);
                if entries.len() == bound {
                    let s = match spill.as_mut() {
                        Some(s) => s,
                        None => spill.insert(Spill::create(&self.path)?),
                    };
                    s.write_run(&mut entries)?;
                }
            } else if let Some((k, v)) = global_copy(&r) {
                copies.insert(&k[..], v);
                in_copies += 1;
                if in_copies == UPGRADE_COPIES {
                    self.db.apply_batch(std::mem::take(&mut copies))?;
                    in_copies = 0;
                }
            }
        }
        self.db.apply_batch(copies)?;
        // The runs spilled and the last one (in memory), merged into one run in sled.
        entries.sort_unstable();
        let last = entries.into_iter();
        match spill {
            None => self.who.runs.add_merged(&self.db, vec![Box::new(last)])?,
            Some(mut s) => {
                let mut sources: Vec<Box<dyn Source + '_>> = Vec::new();
                for c in s.sources()? {
                    sources.push(Box::new(c));
                }
                sources.push(Box::new(last));
                self.who.runs.add_merged(&self.db, sources)?;
                s.remove()?;
            }
        }
        self.db.insert(MARK_KEY, &mark(self.head.seq)[..])?;
        self.who.through = Some(self.head.seq);
        self.who.damage = None;
        Ok(())
    }
}
