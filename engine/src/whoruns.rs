//! The employee index's runs (`whoindex.rs`): sorted immutable runs of (employee, seq)
//! entries in a compact block encoding, merged by level with a streaming k-way merge, so
//! that neither an append, a merge nor the upgrade of an old ledger holds more than a few
//! blocks of any run in memory.
//!
//! Layout (keys in the log's tree, so an append's run is written in the same atomic
//! `apply_batch` as the records it indexes):
//!
//! | key | value |
//! |---|---|
//! | `w` + run number (u64 BE) | the run's meta: version byte, level, entry count (u64 LE), least and greatest seq (u64 LE), its last `who` (u32 BE), then the first `who` of each block (u32 BE each) |
//! | `v` + run number + block number (u32 BE) | up to [`BLOCK_ENTRIES`] entries sorted by (who, seq): the least seq in the block (LEB128), then groups of one `who`: the `who` (u32 BE), the number of its seqs (LEB128), its first seq minus the block's least (LEB128), then each next seq minus the one before (LEB128) |
//!
//! Why this encoding (issue 15, disk): the first employee index (branch `explain2`) reused
//! the id index's 24-byte entries (a 16-byte key and the seq again) and grew a fresh 1M
//! ledger from 236 to 351 bytes/event. Here an employee's `who` is written once per group
//! and its seqs as deltas: an append's run (one or two records per employee) costs ~7 bytes
//! an entry, a merged run (many records per employee, a few hundred to thousands of seqs
//! apart) ~2-3 bytes.
//!
//! Merging (why levels): every byte written to sled stays on disk for a while (sled 0.34
//! reclaims a segment only when at most half of it is live), so runs are merged as seldom as
//! lookups allow. An append writes a run of level 0; whenever the newest [`FANOUT`] runs
//! have the same level L, they are merged into one run of level L+1 (a base-[`FANOUT`]
//! counter: each entry is rewritten once per level, log_8 of the number of appends, and at
//! most `FANOUT - 1` runs of each level stay, so a lookup reads ~20 blocks after thousands
//! of appends). The run built by the upgrade of an old ledger has level [`UPGRADED`] and is
//! never merged again. Runs cover consecutive seq ranges, oldest first (a merge takes the
//! newest runs), which a roll-back relies on.
//!
//! Run numbers grow; a run is visible only through its meta key. A run written in several
//! batches (a merge, the upgrade) writes its blocks first and its meta last, in the batch
//! that also removes what it replaces; blocks left without a meta by a crash are removed
//! when that run number is written again. Merges are sled writes only: they change no
//! answer, and the next durable append makes them durable.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::runkeys::{remove_runs, run_meta, runs_beyond, swap_runs, BlockBatch, RunKeys, RunMeta};
use super::StoreError;

const KEYS: RunKeys = RunKeys {
    meta: b'w',
    block: b'v',
};
const META_VERSION: u8 = 2;
const META_FIXED: usize = 1 + 1 + 8 + 8 + 8 + 4;
/// Entries per block: ~14 KiB in an append's run, ~5 KiB in a merged one (sled's leaves
/// hold up to 16 values, and a lookup reads a leaf whole).
pub(super) const BLOCK_ENTRIES: usize = 2048;
/// Blocks written per sled batch when a run is written in several (merges, the upgrade).
const BLOCKS_PER_BATCH: usize = 64;
/// Runs of one level merged into one of the next.
pub(super) const FANOUT: usize = 8;
/// The level of the run the upgrade of an old ledger builds: never merged.
pub(super) const UPGRADED: u8 = u8::MAX;

/// An entry: an employee's `who` (`whoindex::who`) and the seq of one of its records.
pub(super) type Entry = (u32, u64);

fn damaged(message: String) -> StoreError {
    StoreError::Damaged { seq: 0, message }
}

fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads one LEB128 number at `*at`, moving past it; None if truncated or over 64 bits.
fn take(v: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *v.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return (shift < 63 || b <= 1).then_some(n);
        }
    }
    None
}

/// Encodes entries sorted by (who, seq), strictly increasing, as one block.
pub fn encode_block(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + entries.len() * 7);
    let base = entries.iter().map(|e| e.1).min().unwrap_or(0);
    put(&mut out, base);
    let mut i = 0;
    while i < entries.len() {
        let who = entries[i].0;
        let n = entries[i..].iter().take_while(|e| e.0 == who).count();
        out.extend_from_slice(&who.to_be_bytes());
        put(&mut out, n as u64);
        put(&mut out, entries[i].1 - base);
        for k in i + 1..i + n {
            put(&mut out, entries[k].1 - entries[k - 1].1);
        }
        i += n;
    }
    out
}

/// Decodes a block: None if it is malformed (truncated, out of order, overflowing).
pub fn decode_block(v: &[u8]) -> Option<Vec<Entry>> {
    let mut at = 0;
    let base = take(v, &mut at)?;
    let mut out: Vec<Entry> = Vec::new();
    while at < v.len() {
        let who = u32::from_be_bytes(v.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if out.last().is_some_and(|l| l.0 >= who) {
            return None;
        }
        let n = take(v, &mut at)?;
        if n == 0 || n > BLOCK_ENTRIES as u64 {
            return None;
        }
        let mut seq = base.checked_add(take(v, &mut at)?)?;
        out.push((who, seq));
        for _ in 1..n {
            let d = take(v, &mut at)?;
            if d == 0 {
                return None;
            }
            seq = seq.checked_add(d)?;
            out.push((who, seq));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One run: what its meta key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) no: u64,
    level: u8,
    pub(super) count: u64,
    min_seq: u64,
    max_seq: u64,
    last_who: u32,
    /// The first `who` of each block.
    fences: Vec<u32>,
}

run_meta!(Run);

impl Run {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_FIXED + 4 * self.fences.len());
        v.push(META_VERSION);
        v.push(self.level);
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&self.min_seq.to_le_bytes());
        v.extend_from_slice(&self.max_seq.to_le_bytes());
        v.extend_from_slice(&self.last_who.to_be_bytes());
        for f in &self.fences {
            v.extend_from_slice(&f.to_be_bytes());
        }
        v
    }

    fn decode(no: u64, v: &[u8]) -> Option<Run> {
        if v.first() != Some(&META_VERSION) || v.len() < META_FIXED {
            return None;
        }
        let rest = &v[META_FIXED..];
        if !rest.len().is_multiple_of(4) {
            return None;
        }
        let u = |i: usize| Some(u64::from_le_bytes(v.get(i..i + 8)?.try_into().ok()?));
        let run = Run {
            no,
            level: *v.get(1)?,
            count: u(2)?,
            min_seq: u(10)?,
            max_seq: u(18)?,
            last_who: u32::from_be_bytes(v.get(26..30)?.try_into().ok()?),
            fences: rest
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        };
        let blocks = run.count.div_ceil(BLOCK_ENTRIES as u64);
        (blocks == run.fences.len() as u64 && blocks > 0).then_some(run)
    }

    /// The blocks that may hold `who`'s entries (a group may go on in the next block).
    fn blocks_of(&self, who: u32) -> std::ops::Range<u32> {
        if self.fences.first().is_none_or(|f| who < *f) || who > self.last_who {
            return 0..0;
        }
        let from = self.fences.partition_point(|f| *f < who).saturating_sub(1);
        let to = self.fences.partition_point(|f| *f <= who);
        from as u32..to as u32
    }
}

/// Reads block `b` of `run`: Err(message) if it is missing or malformed.
fn read_block(
    db: &sled::Tree,
    run: &Run,
    b: u32,
) -> Result<Result<Vec<Entry>, String>, StoreError> {
    let key = KEYS.block(run.no, b);
    let Some(v) = db.get(key)? else {
        return Ok(Err(format!(
            "the employee index's run {} lacks its block {b}",
            run.no
        )));
    };
    super::scanned(db, &key);
    Ok(decode_block(&v)
        .ok_or_else(|| format!("the employee index's run {} block {b} is malformed", run.no)))
}

/// Sorted entries read one at a time: a run in sled, or a run the upgrade spilled to a
/// file (`whospill.rs`).
pub(super) trait Source {
    fn next_entry(&mut self, db: &sled::Tree) -> Result<Option<Entry>, StoreError>;
}

/// A run's entries in order, one block in memory at a time.
struct Cursor {
    run: Run,
    block: u32,
    entries: std::vec::IntoIter<Entry>,
}

impl Cursor {
    fn new(run: Run) -> Cursor {
        Cursor {
            run,
            block: 0,
            entries: Vec::new().into_iter(),
        }
    }
}

impl Source for Cursor {
    fn next_entry(&mut self, db: &sled::Tree) -> Result<Option<Entry>, StoreError> {
        loop {
            if let Some(e) = self.entries.next() {
                return Ok(Some(e));
            }
            if self.block == self.run.blocks() {
                return Ok(None);
            }
            let entries = read_block(db, &self.run, self.block)?.map_err(damaged)?;
            self.entries = entries.into_iter();
            self.block += 1;
        }
    }
}

/// Writes entries sorted by (who, seq) as run `no`: blocks, then the meta. With `apply`,
/// full batches of [`BLOCKS_PER_BATCH`] blocks are applied as they fill (a merge, the
/// upgrade); without, everything stays in one batch (an append's).
pub(super) struct Writer {
    run: Run,
    block: Vec<Entry>,
    last: Option<Entry>,
    out: BlockBatch,
}

impl Writer {
    /// A writer into `batch` (given back by [`Writer::finish`]).
    fn new(
        db: &sled::Tree,
        no: u64,
        level: u8,
        apply: bool,
        batch: sled::Batch,
    ) -> Result<Writer, StoreError> {
        let out = BlockBatch::new(db, KEYS, no, apply.then_some(BLOCKS_PER_BATCH), batch)?;
        Ok(Writer {
            run: Run {
                no,
                level,
                count: 0,
                min_seq: u64::MAX,
                max_seq: 0,
                last_who: 0,
                fences: Vec::new(),
            },
            block: Vec::with_capacity(BLOCK_ENTRIES),
            last: None,
            out,
        })
    }

    /// Adds the next entry ((who, seq) strictly increasing).
    pub(super) fn push(&mut self, db: &sled::Tree, e: Entry) -> Result<(), StoreError> {
        if self.last.is_some_and(|l| l >= e) {
            return Err(damaged(format!(
                "the employee index holds seq {} twice or out of order",
                e.1
            )));
        }
        if self.block.is_empty() {
            self.run.fences.push(e.0);
        }
        self.last = Some(e);
        self.block.push(e);
        self.run.count += 1;
        self.run.min_seq = self.run.min_seq.min(e.1);
        self.run.max_seq = self.run.max_seq.max(e.1);
        self.run.last_who = e.0;
        if self.block.len() == BLOCK_ENTRIES {
            self.end_block(db)?;
        }
        Ok(())
    }

    fn end_block(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        if self.block.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(self.out.blocks() + 1, self.run.blocks());
        self.out.put(db, encode_block(&self.block))?;
        self.block.clear();
        Ok(())
    }

    /// The last batch with the run's meta in it (an empty run has none), and the run.
    fn finish(mut self, db: &sled::Tree) -> Result<(sled::Batch, Option<Run>), StoreError> {
        self.end_block(db)?;
        let run = (self.run.count > 0).then_some(self.run);
        Ok((self.out.finish(run.as_ref().map(Run::encode)), run))
    }
}

/// A run written into an append's batch, taken into the index once that batch is applied
/// ([`Runs::commit`]).
#[derive(Debug)]
pub(super) struct PendingRun(Option<Run>);

/// The runs of the employee index, oldest first (their metas: ~4 bytes a block).
#[derive(Debug, Default)]
pub(super) struct Runs {
    runs: Vec<Run>,
}

impl Runs {
    /// Reads the runs' metas: Err(message) if one is malformed.
    pub(super) fn load(db: &sled::Tree) -> Result<Result<Runs, String>, StoreError> {
        let mut runs = Vec::new();
        for kv in db.scan_prefix([KEYS.meta]) {
            let (k, v) = kv?;
            let no = super::be_u64(&k[1..]).unwrap_or(0);
            match Run::decode(no, &v) {
                Some(run) => runs.push(run),
                None => {
                    return Ok(Err(format!(
                        "the employee index's run {no} has a malformed meta"
                    )))
                }
            }
        }
        Ok(Ok(Runs { runs }))
    }

    fn next_no(&self) -> u64 {
        self.runs.last().map_or(1, |r| r.no + 1)
    }

    /// The runs, oldest first.
    pub(super) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The seqs of `who`'s entries, in no particular order; None if a block that may hold
    /// some is missing or malformed.
    pub(super) fn seqs_of(
        &self,
        db: &sled::Tree,
        who: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let mut out = Vec::new();
        for run in &self.runs {
            for b in run.blocks_of(who) {
                let key = KEYS.block(run.no, b);
                let Some(entries) = db.get(key)?.and_then(|v| decode_block(&v)) else {
                    return Ok(None);
                };
                out.extend(entries.iter().filter(|e| e.0 == who).map(|e| e.1));
            }
        }
        Ok(Some(out))
    }

    /// Every entry of `run`, block by block: `each` gets a block's entries, or the message
    /// naming a block missing or malformed.
    pub(super) fn each_block(
        db: &sled::Tree,
        run: &Run,
        each: &mut dyn FnMut(Result<Vec<Entry>, String>),
    ) -> Result<(), StoreError> {
        for b in 0..run.blocks() {
            each(read_block(db, run, b)?);
        }
        Ok(())
    }

    /// Removes every run (keys under `w` and `v`, whatever their format).
    pub(super) fn clear(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        for prefix in [KEYS.meta, KEYS.block] {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in db.scan_prefix([prefix]).keys() {
                batch.remove(k?);
                n += 1;
                if n % 4096 == 0 {
                    db.apply_batch(std::mem::take(&mut batch))?;
                }
            }
            db.apply_batch(batch)?;
        }
        self.runs.clear();
        Ok(())
    }

    /// Writes an append's entries (any order, distinct) as a new run of level 0 into
    /// `batch`, the append's own, so the run is as durable as the records.
    pub(super) fn add_run(
        &self,
        db: &sled::Tree,
        batch: &mut sled::Batch,
        mut entries: Vec<Entry>,
    ) -> Result<PendingRun, StoreError> {
        if entries.is_empty() {
            return Ok(PendingRun(None));
        }
        entries.sort_unstable();
        let mut w = Writer::new(db, self.next_no(), 0, false, std::mem::take(batch))?;
        for e in entries {
            w.push(db, e)?;
        }
        let (back, run) = w.finish(db)?;
        *batch = back;
        Ok(PendingRun(run))
    }

    /// No run (an append that writes none).
    pub(super) fn nothing(&self) -> PendingRun {
        PendingRun(None)
    }

    /// Takes a run into the index once the batch holding it is applied.
    pub(super) fn commit(&mut self, pending: PendingRun) {
        if let Some(run) = pending.0 {
            self.runs.push(run);
        }
    }

    /// Merges the newest [`FANOUT`] runs into one of the next level while they share a
    /// level (see the module's doc). Sled writes only.
    pub(super) fn compact(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        loop {
            let n = self.runs.len();
            if n < FANOUT {
                return Ok(());
            }
            let tail = &self.runs[n - FANOUT..];
            let level = tail[0].level;
            if level >= UPGRADED - 1 || tail.iter().any(|r| r.level != level) {
                return Ok(());
            }
            let tail = tail.to_vec();
            self.merge(db, tail, level + 1, None)?;
        }
    }

    /// Replaces `old` runs by one run of level `level` holding their entries (only those of
    /// seq ≤ `keep_upto` if given): a streaming merge, one block of each in memory.
    pub(super) fn merge(
        &mut self,
        db: &sled::Tree,
        old: Vec<Run>,
        level: u8,
        keep_upto: Option<u64>,
    ) -> Result<(), StoreError> {
        let sources: Vec<Box<dyn Source>> = old
            .iter()
            .cloned()
            .map(|r| Box::new(Cursor::new(r)) as Box<dyn Source>)
            .collect();
        let (batch, run) = self.write_merged(db, sources, level, keep_upto)?;
        swap_runs(db, KEYS, &mut self.runs, batch, &old, run)
    }

    /// Writes the merge of `sources` (each sorted) as a new run of level `level`: its full
    /// batches applied, the last one (with the meta) returned with the run.
    fn write_merged(
        &self,
        db: &sled::Tree,
        mut sources: Vec<Box<dyn Source + '_>>,
        level: u8,
        keep_upto: Option<u64>,
    ) -> Result<(sled::Batch, Option<Run>), StoreError> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, c) in sources.iter_mut().enumerate() {
            if let Some(e) = c.next_entry(db)? {
                heap.push(Reverse((e, i)));
            }
        }
        let mut w = Writer::new(db, self.next_no(), level, true, sled::Batch::default())?;
        while let Some(Reverse((e, i))) = heap.pop() {
            if keep_upto.is_none_or(|a| e.1 <= a) {
                w.push(db, e)?;
            }
            if let Some(next) = sources[i].next_entry(db)? {
                heap.push(Reverse((next, i)));
            }
        }
        w.finish(db)
    }

    /// Adds one run of level [`UPGRADED`] (never merged) holding the merge of `sources`
    /// (the upgrade's sorted runs, see `whospill.rs`).
    pub(super) fn add_merged(
        &mut self,
        db: &sled::Tree,
        sources: Vec<Box<dyn Source + '_>>,
    ) -> Result<(), StoreError> {
        let (batch, run) = self.write_merged(db, sources, UPGRADED, None)?;
        db.apply_batch(batch)?;
        self.runs.extend(run);
        Ok(())
    }

    /// Removes the entries of seqs after `a` (records never acknowledged), writing sled only.
    pub(super) fn roll_back(&mut self, db: &sled::Tree, a: u64) -> Result<(), StoreError> {
        let (gone, straddling) = runs_beyond(&self.runs, a);
        remove_runs(db, KEYS, &mut self.runs, &gone)?;
        for run in straddling {
            let level = run.level;
            self.merge(db, vec![run], level, Some(a))?;
        }
        Ok(())
    }
}
