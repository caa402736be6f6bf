//! The id index (event id → seq) as sorted immutable runs in sled, one per append, merged when
//! there are many, with a small fence index in memory: bounded memory whatever the number of events.
//!
//! Layout (keys in the log's tree, so a run is written in the same atomic `apply_batch` as
//! the records it indexes):
//!
//! | key | value |
//! |---|---|
//! | `k` + run number (u64 BE) | the run's meta: version byte, entry count, least and greatest seq, its last id, then the first id of each block (16 bytes each) |
//! | `j` + run number + block number (u32 BE) | up to [`BLOCK_ENTRIES`] entries sorted by id: id (16 bytes), seq (u64 LE) |
//! | `i` + event id (16 bytes) | seq (u64 BE): the index of ledgers written before runs, read as is until it is folded into runs |
//!
//! Each append adds one run with its records' ids. Every byte written to sled stays on disk
//! for long (sled 0.34 reclaims old values' space only as it reuses log segments, and big
//! values' blob files with them): merging runs at every append (LSM-style, a binary counter)
//! made a 400k-event ledger 66% bigger. So runs are merged only when there are more than
//! [`MAX_RUNS`]: the newest of them into one, size-tiered ([`merge_window`]): the newest
//! half, less its oldest runs while each holds more than a quarter of what the runs newer
//! than it in that half hold. A run is so merged again only once at least four times its
//! entries have come after it, and an entry is rewritten about log5 of the index's growth
//! times (2.1 times for a 10M-event ledger written in 16,384-record pieces; always taking
//! the newest half, which holds the last merged run, rewrote each entry 21 times there and
//! left 4.8 GB of sled garbage at 10M). A lookup checks each run whose id range holds the id, one block read each (the
//! fences say which): ids the engine assigns are time-ordered (v7), so a run's range is narrow
//! and most runs are skipped; ids given in the input may be anywhere.
//!
//! Run numbers grow; a run is visible only through its meta key. A run written in several
//! batches (a merge or the upgrade of `i` keys) writes its blocks first and its meta last,
//! in the batch that also removes what it replaces (metas, blocks, `i` keys); blocks left
//! without a meta by a crash are removed when that run number is written again. Merges and
//! the upgrade are sled writes only: they change no answer, and the next durable append
//! makes them durable.

use std::sync::Mutex;

use uuid::Uuid;

use super::runkeys::{remove_runs, run_meta, runs_beyond, swap_runs, BlockBatch, RunKeys};
use super::StoreError;

const KEYS: RunKeys = RunKeys {
    meta: b'k',
    block: b'j',
};
/// The per-event index of ledgers written before runs.
pub(super) const LEGACY: u8 = b'i';
/// Entries per block: 24 KiB, well under sled's blob threshold.
pub const BLOCK_ENTRIES: usize = 1024;
const ENTRY: usize = 24;
const META_VERSION: u8 = 1;
const META_FIXED: usize = 1 + 8 + 8 + 8 + 16;
/// Blocks written per sled batch when a run is written in several (merges, the upgrade).
const BLOCKS_PER_BATCH: usize = 128;
/// Legacy keys folded into runs per step of the upgrade.
const LEGACY_STEP: usize = 1 << 17;
/// More runs than this are merged (see the module's doc).
pub const MAX_RUNS: usize = 32;
/// Where the runs merged by [`IdIndex::compact`] begin, given every run's entry count
/// (oldest first; more than [`MAX_RUNS`] of them): the newest `MAX_RUNS / 2`, less their
/// oldest while it holds more than a quarter of the entries of the runs newer than it in
/// that window (at least two runs are merged). Without the size test the run a merge makes,
/// the newest, is merged again by the next one with every run written since, however big
/// it grew: each entry rewritten once per `MAX_RUNS / 2` appends, quadratic in the runs.
fn merge_window(counts: &[u64]) -> usize {
    if counts.len() < 2 {
        return 0;
    }
    let mut start = counts.len().saturating_sub(MAX_RUNS / 2);
    let mut newer: u64 = counts[start + 1..].iter().sum();
    while counts.len() - start > 2 && counts[start] > newer / 4 {
        start += 1;
        newer -= counts[start];
    }
    start
}

/// Blocks kept in memory for repeated lookups.
const CACHED_BLOCKS: usize = 8;

type Id = [u8; 16];

/// One run: what its meta key says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    no: u64,
    count: u64,
    min_seq: u64,
    max_seq: u64,
    last_id: Id,
    /// The first id of each block.
    fences: Vec<Id>,
}

run_meta!(Run);

impl Run {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_FIXED + 16 * self.fences.len());
        v.push(META_VERSION);
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&self.min_seq.to_le_bytes());
        v.extend_from_slice(&self.max_seq.to_le_bytes());
        v.extend_from_slice(&self.last_id);
        for f in &self.fences {
            v.extend_from_slice(f);
        }
        v
    }

    fn decode(no: u64, v: &[u8]) -> Option<Run> {
        if v.first() != Some(&META_VERSION) || v.len() < META_FIXED {
            return None;
        }
        let rest = &v[META_FIXED..];
        if !rest.len().is_multiple_of(16) {
            return None;
        }
        let u = |i: usize| {
            v.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let run = Run {
            no,
            count: u(1)?,
            min_seq: u(9)?,
            max_seq: u(17)?,
            last_id: v.get(25..41)?.try_into().ok()?,
            fences: rest
                .chunks_exact(16)
                .map(|c| c.try_into().unwrap_or([0; 16]))
                .collect(),
        };
        let blocks = run.count.div_ceil(BLOCK_ENTRIES as u64);
        (blocks == run.fences.len() as u64).then_some(run)
    }

    /// The block that would hold `id`, if the run's range holds it.
    fn block_of(&self, id: &Id) -> Option<u32> {
        let first = self.fences.first()?;
        if id < first || *id > self.last_id {
            return None;
        }
        let i = self.fences.partition_point(|f| f <= id);
        Some(i.saturating_sub(1) as u32)
    }
}

fn damaged(message: String) -> StoreError {
    StoreError::Damaged { seq: 0, message }
}

/// One `i` key of a ledger written before runs: its id and seq.
fn legacy_entry(k: &[u8], v: &[u8]) -> Result<(Id, u64), StoreError> {
    let id: Id = k
        .get(1..17)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| damaged("a key of the id index is malformed".into()))?;
    let seq = v
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| {
            damaged(format!(
                "the id index's value for {} is malformed",
                Uuid::from_bytes(id)
            ))
        })?;
    Ok((id, seq))
}

fn entries_of(
    no: u64,
    block: u32,
    v: &[u8],
) -> Result<impl Iterator<Item = (Id, u64)> + '_, StoreError> {
    if !v.len().is_multiple_of(ENTRY) || v.is_empty() {
        return Err(damaged(format!(
            "the id index's run {no} block {block} is malformed ({} bytes)",
            v.len()
        )));
    }
    Ok(v.chunks_exact(ENTRY).map(|e| {
        let mut id = [0u8; 16];
        id.copy_from_slice(&e[..16]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&e[16..]);
        (id, u64::from_le_bytes(s))
    }))
}

/// Writes sorted entries as run `no` (blocks, then meta), in batches of
/// [`BLOCKS_PER_BATCH`] blocks handed to `emit`, the meta with the last of them. Returns the
/// run and the last batch (not yet applied), so the caller can add to it.
struct RunWriter {
    run: Run,
    block: Vec<u8>,
    out: BlockBatch,
    last: Option<Id>,
}

impl RunWriter {
    fn new(db: &sled::Tree, no: u64) -> Result<RunWriter, StoreError> {
        let out = BlockBatch::new(db, KEYS, no, Some(BLOCKS_PER_BATCH), sled::Batch::default())?;
        Ok(RunWriter {
            run: Run {
                no,
                count: 0,
                min_seq: u64::MAX,
                max_seq: 0,
                last_id: [0; 16],
                fences: Vec::new(),
            },
            block: Vec::with_capacity(BLOCK_ENTRIES * ENTRY),
            out,
            last: None,
        })
    }

    /// Adds the next entry (ids strictly increasing); applies full batches to `db`.
    fn push(&mut self, db: &sled::Tree, id: Id, seq: u64) -> Result<(), StoreError> {
        if self.last.is_some_and(|l| l >= id) {
            return Err(damaged(format!(
                "the id index holds {} twice or out of order",
                Uuid::from_bytes(id)
            )));
        }
        self.last = Some(id);
        if self.block.is_empty() {
            self.run.fences.push(id);
        }
        self.block.extend_from_slice(&id);
        self.block.extend_from_slice(&seq.to_le_bytes());
        self.run.count += 1;
        self.run.min_seq = self.run.min_seq.min(seq);
        self.run.max_seq = self.run.max_seq.max(seq);
        self.run.last_id = id;
        if self.block.len() == BLOCK_ENTRIES * ENTRY {
            self.end_block(db)?;
        }
        Ok(())
    }

    fn end_block(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        if self.block.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(self.out.blocks() as usize + 1, self.run.fences.len());
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_ENTRIES * ENTRY));
        self.out.put(db, block)
    }

    /// The last batch with the run's meta in it (an empty run has none), and the run.
    fn finish(mut self, db: &sled::Tree) -> Result<(sled::Batch, Option<Run>), StoreError> {
        self.end_block(db)?;
        let run = (self.run.count > 0).then_some(self.run);
        Ok((self.out.finish(run.as_ref().map(Run::encode)), run))
    }
}

/// The id index of an open ledger: its runs' metas, and a few recently read blocks.
#[derive(Debug)]
pub(super) struct IdIndex {
    /// Oldest first.
    runs: Vec<Run>,
    /// Whether `i` keys (the index of ledgers written before runs) may remain.
    legacy: bool,
    cache: Mutex<Vec<((u64, u32), sled::IVec)>>,
}

/// A run written into an append's batch, to be taken into the index once that batch is
/// applied ([`IdIndex::commit`]).
#[derive(Debug)]
pub(super) struct PendingRun(Option<Run>);

impl IdIndex {
    /// Reads the runs' metas.
    pub(super) fn load(db: &sled::Tree) -> Result<IdIndex, StoreError> {
        let mut runs = Vec::new();
        for kv in db.scan_prefix([KEYS.meta]) {
            let (k, v) = kv?;
            let no = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            runs.push(
                Run::decode(no, &v).ok_or_else(|| {
                    damaged(format!("the id index's run {no} has a malformed meta"))
                })?,
            );
        }
        let legacy = db.scan_prefix([LEGACY]).next().transpose()?.is_some();
        Ok(IdIndex {
            runs,
            legacy,
            cache: Mutex::new(Vec::new()),
        })
    }

    fn next_no(&self) -> u64 {
        self.runs.last().map_or(1, |r| r.no + 1)
    }

    fn block(&self, db: &sled::Tree, no: u64, block: u32) -> Result<sled::IVec, StoreError> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = cache.iter().position(|(k, _)| *k == (no, block)) {
            let hit = cache.remove(i);
            let v = hit.1.clone();
            cache.push(hit);
            return Ok(v);
        }
        let v = db
            .get(KEYS.block(no, block))?
            .ok_or_else(|| damaged(format!("the id index's run {no} lacks its block {block}")))?;
        if cache.len() == CACHED_BLOCKS {
            cache.remove(0);
        }
        cache.push(((no, block), v.clone()));
        Ok(v)
    }

    /// The seq stored for `id`, if any.
    pub(super) fn get(&self, db: &sled::Tree, id: &Uuid) -> Result<Option<u64>, StoreError> {
        let key = id.as_bytes();
        for run in self.runs.iter().rev() {
            let Some(b) = run.block_of(key) else { continue };
            let v = self.block(db, run.no, b)?;
            if v.len() % ENTRY != 0 {
                return Err(damaged(format!(
                    "the id index's run {} block {b} is malformed",
                    run.no
                )));
            }
            let n = v.len() / ENTRY;
            let at = |i: usize| &v[i * ENTRY..i * ENTRY + 16];
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                match at(mid).cmp(&key[..]) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => {
                        let s = &v[mid * ENTRY + 16..(mid + 1) * ENTRY];
                        return Ok(Some(u64::from_le_bytes(s.try_into().unwrap_or([0; 8]))));
                    }
                }
            }
        }
        if self.legacy {
            let mut k = [LEGACY; 17];
            k[1..].copy_from_slice(key);
            if let Some(v) = db.get(k)? {
                return Ok(v
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes));
            }
        }
        Ok(None)
    }

    /// Writes the entries of an append's records as a new run into `batch` (the append's
    /// own, so the run is as durable as the records). `entries` need not be sorted; ids are
    /// distinct.
    pub(super) fn add_run(
        &self,
        db: &sled::Tree,
        batch: &mut sled::Batch,
        mut entries: Vec<(Id, u64)>,
    ) -> Result<PendingRun, StoreError> {
        if entries.is_empty() {
            return Ok(PendingRun(None));
        }
        entries.sort_unstable_by_key(|e| e.0);
        let no = self.next_no();
        let mut out = BlockBatch::new(db, KEYS, no, None, std::mem::take(batch))?;
        let mut run = Run {
            no,
            count: entries.len() as u64,
            min_seq: entries.iter().map(|e| e.1).min().unwrap_or(0),
            max_seq: entries.iter().map(|e| e.1).max().unwrap_or(0),
            last_id: entries.last().map_or([0; 16], |e| e.0),
            fences: Vec::new(),
        };
        for block in entries.chunks(BLOCK_ENTRIES) {
            run.fences.push(block[0].0);
            let mut v = Vec::with_capacity(block.len() * ENTRY);
            for (id, seq) in block {
                v.extend_from_slice(id);
                v.extend_from_slice(&seq.to_le_bytes());
            }
            out.put(db, v)?;
        }
        *batch = out.finish(Some(run.encode()));
        Ok(PendingRun(Some(run)))
    }

    /// Takes a run into the index once the batch holding it is applied.
    pub(super) fn commit(&mut self, pending: PendingRun) {
        if let Some(run) = pending.0 {
            self.runs.push(run);
        }
    }

    /// Merges the newest `MAX_RUNS / 2` runs into one once there are more than
    /// [`MAX_RUNS`] (sled writes only: the next durable append makes the result durable, and
    /// a crash before leaves the runs as they were).
    /// Whether [`IdIndex::compact`] has runs to merge.
    pub(super) fn merge_due(&self) -> bool {
        self.runs.len() > MAX_RUNS
    }

    pub(super) fn compact(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        if !self.merge_due() {
            return Ok(());
        }
        let counts: Vec<u64> = self.runs.iter().map(|r| r.count).collect();
        let merged: Vec<Run> = self.runs[merge_window(&counts)..].to_vec();
        self.replace(db, merged, None)
    }

    /// Replaces `old` runs by one run of their entries (only those of seq ≤ `keep_upto` if
    /// given), removing theirs.
    fn replace(
        &mut self,
        db: &sled::Tree,
        old: Vec<Run>,
        keep_upto: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut all: Vec<(Id, u64)> =
            Vec::with_capacity(old.iter().map(|r| r.count as usize).sum());
        for run in &old {
            for b in 0..run.fences.len() as u32 {
                let v = db.get(KEYS.block(run.no, b))?.ok_or_else(|| {
                    damaged(format!("the id index's run {} lacks its block {b}", run.no))
                })?;
                all.extend(entries_of(run.no, b, &v)?);
            }
        }
        if let Some(a) = keep_upto {
            all.retain(|e| e.1 <= a);
        }
        all.sort_unstable_by_key(|e| e.0);
        let mut w = RunWriter::new(db, self.next_no())?;
        for (id, seq) in all {
            w.push(db, id, seq)?;
        }
        let (batch, run) = w.finish(db)?;
        swap_runs(db, KEYS, &mut self.runs, batch, &old, run)?;
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        Ok(())
    }

    /// Removes the entries of seqs after `a` (records never acknowledged), writing sled only.
    pub(super) fn roll_back(&mut self, db: &sled::Tree, a: u64) -> Result<(), StoreError> {
        let (gone, straddling) = runs_beyond(&self.runs, a);
        remove_runs(db, KEYS, &mut self.runs, &gone)?;
        for run in straddling {
            self.replace(db, vec![run], Some(a))?;
        }
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        Ok(())
    }

    /// Whether `i` keys of a ledger written before runs may remain.
    pub(super) fn has_legacy(&self) -> bool {
        self.legacy
    }

    /// Folds the `i` keys of a ledger written before runs into runs, in steps of
    /// [`LEGACY_STEP`] keys, each one atomic (its run's meta with the removal of its keys).
    /// Sled writes only: the next durable append makes them durable.
    pub(super) fn upgrade(&mut self, db: &sled::Tree) -> Result<(), StoreError> {
        while self.legacy {
            let mut w = RunWriter::new(db, self.next_no())?;
            let mut keys = Vec::new();
            for kv in db.scan_prefix([LEGACY]).take(LEGACY_STEP) {
                let (k, v) = kv?;
                let (id, seq) = legacy_entry(&k, &v)?;
                w.push(db, id, seq)?;
                keys.push(k);
            }
            let (mut batch, run) = w.finish(db)?;
            // The run's meta and the removal of its keys in one atomic batch: each id is in
            // exactly one place at every moment.
            for k in keys {
                batch.remove(k);
            }
            db.apply_batch(batch)?;
            self.runs.extend(run);
            self.legacy = db.scan_prefix([LEGACY]).next().transpose()?.is_some();
        }
        Ok(())
    }

    /// Every (id, seq) the index holds: the runs' entries, oldest run first, each run in id
    /// order, then any legacy keys. For checks that compare the index with the log.
    pub(super) fn entries<'a>(
        &'a self,
        db: &'a sled::Tree,
    ) -> impl Iterator<Item = Result<(Uuid, u64), StoreError>> + 'a {
        let runs = self.runs.iter().flat_map(move |run| {
            (0..run.fences.len() as u32).flat_map(move |b| {
                let block = db
                    .get(KEYS.block(run.no, b))
                    .inspect(|_| super::scanned(db, &KEYS.block(run.no, b)))
                    .map_err(StoreError::from)
                    .and_then(|v| {
                        v.ok_or_else(|| {
                            damaged(format!("the id index's run {} lacks its block {b}", run.no))
                        })
                    });
                let items: Vec<Result<(Uuid, u64), StoreError>> = match block {
                    Err(e) => vec![Err(e)],
                    Ok(v) => match entries_of(run.no, b, &v) {
                        Err(e) => vec![Err(e)],
                        Ok(it) => it.map(|(id, s)| Ok((Uuid::from_bytes(id), s))).collect(),
                    },
                };
                items
            })
        });
        let legacy = self
            .legacy
            .then(|| db.scan_prefix([LEGACY]))
            .into_iter()
            .flatten()
            .map(|kv| {
                let (k, v) = kv?;
                let (id, seq) = legacy_entry(&k, &v)?;
                Ok((Uuid::from_bytes(id), seq))
            });
        runs.chain(legacy)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .open()
            .expect("open sled");
        (dir, db)
    }

    /// Ids from a fixed-seed xorshift: as random as v4 ids, as a user's would be.
    fn ids(seed: &mut u64, n: usize) -> Vec<Id> {
        (0..n)
            .map(|_| {
                let mut id = [0u8; 16];
                for half in id.chunks_mut(8) {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    half.copy_from_slice(&seed.to_le_bytes());
                }
                id
            })
            .collect()
    }

    fn append(index: &mut IdIndex, db: &sled::Db, entries: Vec<(Id, u64)>) {
        let mut batch = sled::Batch::default();
        let run = index.add_run(db, &mut batch, entries).expect("add a run");
        db.apply_batch(batch).expect("apply");
        index.commit(run);
        index.compact(db).expect("compact");
    }

    fn check(index: &IdIndex, db: &sled::Db, all: &BTreeMap<Id, u64>) {
        for (id, seq) in all {
            assert_eq!(
                index.get(db, &Uuid::from_bytes(*id)).expect("get"),
                Some(*seq)
            );
        }
        let mut seed = 99;
        for id in ids(&mut seed, 200) {
            assert_eq!(index.get(db, &Uuid::from_bytes(id)).expect("get"), None);
        }
        let mut listed: Vec<(Id, u64)> = index
            .entries(db)
            .map(|e| e.map(|(id, s)| (*id.as_bytes(), s)))
            .collect::<Result<_, _>>()
            .expect("entries");
        listed.sort();
        assert_eq!(
            listed,
            all.iter().map(|(i, s)| (*i, *s)).collect::<Vec<_>>()
        );
        // Every entry once: in the runs, or still a legacy key.
        let legacy = if index.legacy {
            db.scan_prefix([LEGACY]).count() as u64
        } else {
            0
        };
        assert_eq!(
            index.runs.iter().map(|r| r.count).sum::<u64>() + legacy,
            all.len() as u64
        );
        // The same runs load from sled.
        assert_eq!(IdIndex::load(db).expect("load").runs, index.runs);
    }

    #[test]
    fn appends_merge_into_few_runs_and_every_id_is_found() {
        let (_dir, db) = db();
        let mut index = IdIndex::load(&db).expect("load");
        let mut all = BTreeMap::new();
        let mut seed = 7u64;
        let mut seq = 0u64;
        let sizes = [
            1usize, 1, 3, 2500, 1, 700, 5000, 1, 1, 1, 40, 3000, 2, 1024, 1025, 9,
        ];
        for &n in sizes.iter().cycle().take(3 * MAX_RUNS) {
            let entries: Vec<(Id, u64)> = ids(&mut seed, n)
                .into_iter()
                .map(|id| {
                    seq += 1;
                    (id, seq)
                })
                .collect();
            all.extend(entries.iter().copied());
            append(&mut index, &db, entries);
            assert!(index.runs.len() <= MAX_RUNS);
        }
        check(&index, &db, &all);
        // No block of a merged-away run is left.
        let live: usize = index.runs.iter().map(|r| r.fences.len()).sum();
        assert_eq!(db.scan_prefix([KEYS.block]).count(), live);
    }

    /// The entries merges write and the entries appended, for appends of `sizes` (the
    /// policy alone, on entry counts), and the most runs left after any append.
    fn merge_cost(sizes: impl IntoIterator<Item = u64>) -> (u64, u64, usize) {
        let (mut runs, mut appended, mut written, mut most) = (Vec::new(), 0u64, 0u64, 0);
        for n in sizes {
            runs.push(n);
            appended += n;
            while runs.len() > MAX_RUNS {
                let start = merge_window(&runs);
                assert!(runs.len() - start >= 2, "a merge takes two runs at least");
                let merged: u64 = runs.drain(start..).sum();
                written += merged;
                runs.push(merged);
            }
            most = most.max(runs.len());
        }
        (written, appended, most)
    }

    #[test]
    fn merges_write_each_entry_a_few_times_not_once_per_sixteen_appends() {
        // A 100,000-employee ledger written as the benchmark's paydays are, each streamed in
        // pieces of 16,384 records (646 runs after its 10^6-event setup): merging the
        // newest half every time, the last merged run included, wrote each entry 21 times.
        let payday = || [16_384; 6].into_iter().chain([1_700]);
        let pieces =
            std::iter::once(1_000_000).chain(std::iter::repeat_n((), 104).flat_map(|()| payday()));
        let (written, appended, most) = merge_cost(pieces);
        assert!(
            written < 4 * appended,
            "{written} merge writes of {appended} entries"
        );
        assert_eq!(most, MAX_RUNS);
        // One export appended as a stream: 646 equal runs.
        let (written, appended, most) = merge_cost(std::iter::repeat_n(16_384, 646));
        assert!(
            written < 4 * appended,
            "{written} merge writes of {appended} entries"
        );
        assert_eq!(most, MAX_RUNS);
        // Equal small appends are merged sixteen at a time, then those merged runs together.
        assert_eq!(
            merge_window(&[1; MAX_RUNS + 1]),
            MAX_RUNS + 1 - MAX_RUNS / 2
        );
        // Older runs of 16 are each more than a quarter of what is newer in the window (60,
        // 44, 28, 12 entries): only the twelve runs of 1 merge. Runs of 3 are not.
        let mut tiers = vec![100; MAX_RUNS / 2 + 1];
        tiers.extend([16; 4].into_iter().chain([1; 12]));
        assert_eq!(merge_window(&tiers), MAX_RUNS / 2 + 5);
        tiers[MAX_RUNS / 2 + 1..MAX_RUNS / 2 + 5].fill(3);
        assert_eq!(merge_window(&tiers), MAX_RUNS / 2 + 1);
    }

    #[test]
    fn a_roll_back_removes_the_entries_beyond_the_head() {
        let (_dir, db) = db();
        let mut index = IdIndex::load(&db).expect("load");
        let mut all = BTreeMap::new();
        let mut seed = 3u64;
        let mut seq = 0u64;
        for n in [2000usize, 1500, 10, 7].into_iter().chain([3; MAX_RUNS]) {
            let entries: Vec<(Id, u64)> = ids(&mut seed, n)
                .into_iter()
                .map(|id| {
                    seq += 1;
                    (id, seq)
                })
                .collect();
            all.extend(entries.iter().copied());
            append(&mut index, &db, entries);
        }
        // 3000 falls inside the second run; the newer ones (merged or not) lie beyond it.
        index.roll_back(&db, 3000).expect("roll back");
        all.retain(|_, s| *s <= 3000);
        check(&index, &db, &all);
    }

    #[test]
    fn legacy_keys_fold_into_runs() {
        let (_dir, db) = db();
        let mut all = BTreeMap::new();
        let mut seed = 5u64;
        for (i, id) in ids(&mut seed, 3000).into_iter().enumerate() {
            let mut k = vec![LEGACY];
            k.extend_from_slice(&id);
            db.insert(k, &(i as u64 + 1).to_be_bytes()[..])
                .expect("insert");
            all.insert(id, i as u64 + 1);
        }
        let mut index = IdIndex::load(&db).expect("load");
        assert!(index.has_legacy());
        check(&index, &db, &all);
        index.upgrade(&db).expect("upgrade");
        assert!(!index.has_legacy());
        assert_eq!(db.scan_prefix([LEGACY]).count(), 0);
        check(&index, &db, &all);
    }
}
