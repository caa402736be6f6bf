//! What the id index's runs (`idindex.rs`) and the employee index's (`whoruns.rs`) share:
//! their key scheme and the writing of a run's blocks into sled batches, meta last.
//!
//! The two indexes keep their own entries, block encodings and metas (the id index's fixed
//! 24-byte entries, the employee index's compact groups: each format is stored and kept
//! readable as it is); what is the same is how a run is laid out and made visible.

use super::StoreError;

/// The key prefixes of one kind of run: `meta` + run number (u64 BE) → the run's meta;
/// `block` + run number + block number (u32 BE) → one of its blocks, numbered from 0.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunKeys {
    pub(super) meta: u8,
    pub(super) block: u8,
}

impl RunKeys {
    pub(super) fn meta(&self, no: u64) -> [u8; 9] {
        let mut k = [self.meta; 9];
        k[1..].copy_from_slice(&no.to_be_bytes());
        k
    }

    pub(super) fn block(&self, no: u64, block: u32) -> [u8; 13] {
        let mut k = [self.block; 13];
        k[1..9].copy_from_slice(&no.to_be_bytes());
        k[9..].copy_from_slice(&block.to_be_bytes());
        k
    }

    /// Removes run `no`'s meta and its `blocks` blocks in `batch`.
    pub(super) fn remove_run(&self, batch: &mut sled::Batch, no: u64, blocks: u32) {
        batch.remove(&self.meta(no));
        for b in 0..blocks {
            batch.remove(&self.block(no, b));
        }
    }
}

/// Writes one run's blocks, numbered from 0, into a sled batch and its meta last: a run is
/// visible only through its meta, so blocks applied before it (a long run written in
/// several batches) change nothing until the batch with the meta is applied.
pub(super) struct BlockBatch {
    keys: RunKeys,
    no: u64,
    blocks: u32,
    batch: sled::Batch,
    in_batch: usize,
    /// Blocks after which the batch is applied to the tree (a merge, an upgrade); None:
    /// everything stays in the one batch given back by [`BlockBatch::finish`] (an append's).
    apply_every: Option<usize>,
}

impl BlockBatch {
    /// Starts run `no` in `batch`, first removing any block a crash left under that number
    /// without a meta.
    pub(super) fn new(
        db: &sled::Tree,
        keys: RunKeys,
        no: u64,
        apply_every: Option<usize>,
        mut batch: sled::Batch,
    ) -> Result<BlockBatch, StoreError> {
        for k in db
            .range(keys.block(no, 0)..=keys.block(no, u32::MAX))
            .keys()
        {
            batch.remove(k?);
        }
        Ok(BlockBatch {
            keys,
            no,
            blocks: 0,
            batch,
            in_batch: 0,
            apply_every,
        })
    }

    /// Adds the run's next block.
    pub(super) fn put(&mut self, db: &sled::Tree, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.batch
            .insert(&self.keys.block(self.no, self.blocks), bytes);
        self.blocks += 1;
        self.in_batch += 1;
        if self.apply_every == Some(self.in_batch) {
            db.apply_batch(std::mem::take(&mut self.batch))?;
            self.in_batch = 0;
        }
        Ok(())
    }

    /// The blocks added so far.
    pub(super) fn blocks(&self) -> u32 {
        self.blocks
    }

    /// The last batch, with the run's meta in it (none for an empty run), not yet applied.
    pub(super) fn finish(mut self, meta: Option<Vec<u8>>) -> sled::Batch {
        if let Some(meta) = meta {
            self.batch.insert(&self.keys.meta(self.no), meta);
        }
        self.batch
    }
}

/// What the shared steps need to know of a run's meta.
pub(super) trait RunMeta: Clone {
    fn no(&self) -> u64;
    fn blocks(&self) -> u32;
    /// The least and the greatest seq of its entries.
    fn seqs(&self) -> (u64, u64);
}

/// Implements [`RunMeta`] for a run's meta type with fields `no`, `fences` (one per block),
/// `min_seq` and `max_seq`, as both indexes' are.
macro_rules! run_meta {
    ($t:ty) => {
        impl super::runkeys::RunMeta for $t {
            fn no(&self) -> u64 {
                self.no
            }
            fn blocks(&self) -> u32 {
                self.fences.len() as u32
            }
            fn seqs(&self) -> (u64, u64) {
                (self.min_seq, self.max_seq)
            }
        }
    };
}
pub(super) use run_meta;

/// For a roll-back to seq `a`: the runs that hold only seqs after it (to remove whole) and
/// those that hold seqs on both sides (to write again without the later ones).
pub(super) fn runs_beyond<R: RunMeta>(runs: &[R], a: u64) -> (Vec<R>, Vec<R>) {
    runs.iter()
        .filter(|r| r.seqs().1 > a)
        .cloned()
        .partition(|r| r.seqs().0 > a)
}

/// Applies `batch`, which writes `new` (if any entries were left for it), with the removal
/// of the `old` runs it replaces, and makes `runs` (oldest first) say so: the new run
/// appears as the old ones go, their blocks with them, in one atomic batch.
pub(super) fn swap_runs<R: RunMeta>(
    db: &sled::Tree,
    keys: RunKeys,
    runs: &mut Vec<R>,
    mut batch: sled::Batch,
    old: &[R],
    new: Option<R>,
) -> Result<(), StoreError> {
    for r in old {
        keys.remove_run(&mut batch, r.no(), r.blocks());
    }
    db.apply_batch(batch)?;
    runs.retain(|r| !old.iter().any(|o| o.no() == r.no()));
    runs.extend(new);
    Ok(())
}

/// Removes the runs `gone` (their metas and blocks, in one atomic batch) from sled and from
/// `runs`.
pub(super) fn remove_runs<R: RunMeta>(
    db: &sled::Tree,
    keys: RunKeys,
    runs: &mut Vec<R>,
    gone: &[R],
) -> Result<(), StoreError> {
    swap_runs(db, keys, runs, sled::Batch::default(), gone, None)
}
