//! The sorted runs of the employee index's upgrade (`whoindex.rs`), spilled to a file
//! beside the log while the log is read, then merged into the one run the index keeps.
//!
//! Why a file and not sled: the first bounded upgrade wrote its sorted runs into sled and
//! removed them after merging; at 10M events that was ~5,600 block inserts and as many
//! removals, and sled 0.34 merges the nodes that removals empty by pulling and rewriting
//! their neighbours (95 MB of the 229 MB the merge held at its peak, heaptrack). A plain
//! file written once, read once and deleted costs neither sled's writes nor its cache.
//!
//! The file (`who-upgrade.tmp` in the ledger's directory) holds the runs' blocks in
//! `whoruns.rs`'s encoding, one after another; where each block starts is kept in memory
//! (16 bytes a block of 2,048 entries). It is never synced: a crash leaves a stale file,
//! removed by the next upgrade, and the index without its mark, rebuilt then.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use super::whoruns::{decode_block, encode_block, Entry, Source, BLOCK_ENTRIES};
use super::StoreError;

const FILE_NAME: &str = "who-upgrade.tmp";

/// The spill file and where its runs' blocks are.
pub(super) struct Spill {
    path: PathBuf,
    file: std::io::BufWriter<File>,
    end: u64,
    /// For each run, each block's offset and length.
    runs: Vec<Vec<(u64, u32)>>,
}

impl Spill {
    /// A new spill file in `dir` (a stale one replaced).
    pub(super) fn create(dir: &Path) -> Result<Spill, StoreError> {
        let path = dir.join(FILE_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Spill {
            path,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            end: 0,
            runs: Vec::new(),
        })
    }

    /// Sorts `entries` and writes them as one run, emptying them.
    pub(super) fn write_run(&mut self, entries: &mut Vec<Entry>) -> Result<(), StoreError> {
        entries.sort_unstable();
        let mut blocks = Vec::with_capacity(entries.len().div_ceil(BLOCK_ENTRIES));
        for block in entries.chunks(BLOCK_ENTRIES) {
            let v = encode_block(block);
            self.file.write_all(&v)?;
            blocks.push((self.end, v.len() as u32));
            self.end += v.len() as u64;
        }
        self.runs.push(blocks);
        entries.clear();
        Ok(())
    }

    /// Each run's entries in order, to merge (the file flushed first).
    pub(super) fn sources(&mut self) -> Result<Vec<SpillCursor<'_>>, StoreError> {
        self.file.flush()?;
        let file = self.file.get_ref();
        Ok(self
            .runs
            .iter()
            .map(|blocks| SpillCursor {
                file,
                blocks,
                next: 0,
                entries: Vec::new().into_iter(),
            })
            .collect())
    }

    /// Deletes the file.
    pub(super) fn remove(self) -> Result<(), StoreError> {
        let path = self.path.clone();
        drop(self);
        std::fs::remove_file(path)?;
        Ok(())
    }

    /// Deletes a file a crashed upgrade left in `dir`, if any.
    pub(super) fn remove_stale(dir: &Path) -> Result<(), StoreError> {
        match std::fs::remove_file(dir.join(FILE_NAME)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => Ok(other?),
        }
    }
}

/// One spilled run's entries in order, one block in memory at a time.
pub(super) struct SpillCursor<'a> {
    file: &'a File,
    blocks: &'a [(u64, u32)],
    next: usize,
    entries: std::vec::IntoIter<Entry>,
}

impl Source for SpillCursor<'_> {
    fn next_entry(&mut self, _: &sled::Tree) -> Result<Option<Entry>, StoreError> {
        loop {
            if let Some(e) = self.entries.next() {
                return Ok(Some(e));
            }
            let Some(&(at, len)) = self.blocks.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            let mut v = vec![0u8; len as usize];
            self.file.read_exact_at(&mut v, at)?;
            let entries = decode_block(&v).ok_or_else(|| {
                StoreError::Io(format!("{FILE_NAME}: a block read back does not decode"))
            })?;
            self.entries = entries.into_iter();
        }
    }
}

/// Entries already sorted in memory (the upgrade's last run, never spilled).
impl Source for std::vec::IntoIter<Entry> {
    fn next_entry(&mut self, _: &sled::Tree) -> Result<Option<Entry>, StoreError> {
        Ok(Iterator::next(self))
    }
}
