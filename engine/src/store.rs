//! The sled log: hash-chained records in immutable chunks, an id index, one writer, and
//! appends that are durable on disk before they are acknowledged.
//!
//! Layout (one sled tree, so that one `apply_batch` is atomic across all of it):
//!
//! | key | value |
//! |---|---|
//! | `r` + first seq (u64 big-endian) | a chunk (`chunk.rs`): version 2 stores each record without what the chunk implies (seq, `prev_hash`) or shares (`recorded_at`, `actor`); version 1 (ledgers written before it) whole records |
//! | `k` + run, `j` + run + block | the id index (`idindex.rs`): sorted runs of (event id, seq) |
//! | `w` + run, `v` + run + block; `m` + `who` | the employee index (`whoindex.rs`, `whoruns.rs`): sorted runs of (employee, seq) in compact blocks; the mark: through which seq it holds every record |
//! | `x` + seq | a copy of a record of no employee (`whoindex.rs`; keyed after `r` on purpose) |
//! | `i` + event id (16 bytes) | seq (u64 big-endian): the id index of ledgers written before runs, folded into runs by their next append |
//! | `c` + first seq | the chunk's earliest and latest day (two `i32` LE days from CE) |
//! | `m` + `head` | last seq (u64 big-endian) + its hash (32 bytes) |
//! | `b` + batch fingerprint (32 bytes) | the batch's first and last seq and `recorded_at` (3 × 8 bytes) |
//! | `m` + `batches` | present once every stored batch has its `b` entry (version byte) |
//!
//! A chunk holds up to [`CHUNK_RECORDS`] consecutive records of one durable write (an
//! append, or a group commit's batches) and is never
//! rewritten: sled's cost is per item, so chunks make a full scan ~10× faster than one value
//! per event (shared/notes/storage-limits.md) while a single-event append stays one insert.
//! Each record inside is the versioned encoding of `espp_events::record`.
//!
//! Durability: after `apply_batch`, `flush()` ends in `sync_file_range`, which survives a
//! killed process but not a power cut (sled issue #1452), and sled never fsyncs its blob
//! files. So every append then fsyncs sled's data file, any blob file not synced before, and
//! the directories whose entries changed; then it records the new head in the head file
//! (`headfile.rs`, outside sled), and only then returns. sled's background flusher (on only
//! for its segment cleaning, [`SLED_FLUSH_MS`]) may write and `sync_file_range` at any time
//! and fsyncs the data file after each cleaning pass; what it writes is never what makes an
//! append acknowledged, every open fsyncs the data file before writing anything, and a blob
//! file it made is fsynced by the next append like any other not synced before.
//!
//! The head file is what was acknowledged. Every open reconciles sled with it: a log that
//! stops short of it lost acknowledged records (damage, exit 4); what sled holds beyond it was
//! never acknowledged and is removed, unless it is one whole batch chaining from it (a crash
//! between sled's durable write and the head file) and no failure was recorded. After a
//! failed write sled is never allowed to flush again (see `Drop for Sled`).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use espp_events::{Actor, Day, EventInput, Hash, Instant, Line, Record};
#[path = "acceptance.rs"]
mod acceptance;
#[path = "checkpoints.rs"]
mod checkpoints;
#[path = "folds.rs"]
mod folds;
pub use checkpoints::{CheckpointCheck, HashOn};
#[path = "bookfile.rs"]
mod bookfile;
pub use bookfile::{BookFileCheck, KeptBook};
#[path = "chunk.rs"]
mod chunk;
#[path = "headfile.rs"]
mod headfile;
use chunk::encode_chunk;
#[path = "idindex.rs"]
mod idindex;
use headfile::{Acked, HeadFile, Sync};
use idindex::IdIndex;
#[path = "store_append.rs"]
mod append;
#[path = "onefold.rs"]
mod onefold;
#[path = "runkeys.rs"]
mod runkeys;
#[path = "whocheck.rs"]
mod whocheck;
#[path = "whoindex.rs"]
mod whoindex;
#[path = "whoruns.rs"]
mod whoruns;
#[path = "whospill.rs"]
mod whospill;
use append::Accepted;
pub use append::{AppendReport, Batch, DryRun};
#[path = "store_batches.rs"]
mod batches;
#[path = "store_open.rs"]
mod open;
#[path = "store_stream.rs"]
mod stream;
#[path = "store_verify.rs"]
mod verify;
pub use stream::{StreamLine, StreamOptions, PIECE_LINES};
pub(crate) use verify::Hashed;
use verify::{IndexDigest, IndexKey};
pub use verify::{Problem, VerifyReport};
use whoindex::WhoIndex;
/// The employee index's block encoding (tests that damage the index behind the engine).
#[doc(hidden)]
pub use whoruns::{decode_block as who_decode_block, encode_block as who_encode_block};
#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod reconcile_tests;
#[cfg(test)]
#[path = "who_tests.rs"]
mod who_tests;

use espp_replay::{Book, BookRejection};
use uuid::Uuid;

/// Records per chunk: about 40 KiB (version 1) or ~20 KiB (version 2), well under sled's blob
/// threshold (a quarter of [`SEGMENT_BYTES`]); so is a leaf of 17 version 2 chunks (see there).
pub const CHUNK_RECORDS: usize = 256;
const REC: u8 = b'r';
const IDX: u8 = idindex::LEGACY;
const SUMMARY: u8 = b'c';
const BATCH: u8 = b'b';
const HEAD_KEY: &[u8] = b"mhead";
/// Marks the batch-fingerprint index as complete; its value is the index's version. A
/// ledger written before the index existed gets it built from the log on its next append.
const BATCHES_KEY: &[u8] = b"mbatches";
const BATCH_INDEX_VERSION: u8 = 1;
const WALL_KEY: &[u8] = b"mwall";

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct Options {
    /// sled's page cache in bytes (sled's own default is 1 GiB; 64 MiB reads as fast here).
    pub cache_bytes: u64,
    /// A periodic checkpoint is taken when this many events have been appended since the
    /// last one (0: none; checkpoints at purchases are always taken).
    pub checkpoint_every: u64,
    /// Whether sled's background flusher runs (every [`SLED_FLUSH_MS`]). It is the only
    /// thing that cleans sled's segments, so whatever appends needs it. But after every pass
    /// it also fsyncs sled's data file, written to or not: ~25 fsyncs in a 50 ms read
    /// command at 1M events, and with an unpatched sled each fsync'd the free segments its
    /// open had just rewritten (vendor/sled/PATCHES.md). A read command appends nothing, so
    /// it has nothing to clean: it runs without (`cmd::open`). An open that repairs (removes
    /// what was never acknowledged) still makes that durable itself, before it reads.
    pub sled_flusher: bool,
    /// A lean acceptance book writes an accounts checkpoint once this many events per
    /// employee were appended since the latest checkpoint (0: never; see
    /// `Ledger::take_checkpoints`).
    pub accounts_checkpoint_after: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_bytes: 64 << 20,
            checkpoint_every: 1_000_000,
            sled_flusher: true,
            accounts_checkpoint_after: 3,
        }
    }
}

/// Storage-level failures and refusals of an append. Each variant says how to handle it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the ledger: try again when it is done (exit 3).
    #[error("the ledger at {0} is busy: another process has it open")]
    Busy(PathBuf),
    /// No ledger at that path (exit 5).
    #[error("no ledger at {0}")]
    Missing(PathBuf),
    /// A line is malformed (exit 1).
    #[error("line {line}: {message}")]
    Input {
        /// 1-based line number in the input.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The plan forbids an event (exit 1).
    #[error("line {line}: {rejection}")]
    Rejected {
        /// 1-based line number.
        line: usize,
        /// The plan section and the numbers.
        rejection: espp_projections::Rejection,
    },
    /// An id already stored with other content (exit 3).
    #[error("line {line}: id {id} is already stored as seq {seq} with other content")]
    Conflict {
        /// 1-based line number.
        line: usize,
        /// The event id.
        id: Uuid,
        /// Where it is stored.
        seq: u64,
    },
    /// Two lines of one input carry the same id with other content: an id conflict like
    /// [`StoreError::Conflict`] (exit 3), though nothing is stored yet.
    #[error("line {line}: field `id`: {id} is used by line {earlier} with other content")]
    ConflictInInput {
        /// 1-based line number of the later line.
        line: usize,
        /// The event id.
        id: Uuid,
        /// The earlier line with that id.
        earlier: usize,
    },
    /// The stored log is damaged (exit 4): `verify` tells more.
    #[error("seq {seq}: {message}")]
    Damaged {
        /// The first damaged record.
        seq: u64,
        /// What is wrong.
        message: String,
    },
    /// Lines refused on their own, before any folding: every one of them, up to
    /// [`LISTED_LINES`](crate::guards::LISTED_LINES) (exit 1).
    #[error("{0}")]
    Lines(crate::guards::Refusals),
    /// The batch equals one stored already: the same file sent twice (exit 1; `--again`
    /// stores it anyway).
    #[error("this batch repeats the one stored as seq {first_seq}-{last_seq} at {recorded_at} (the same {events} event(s) in the same order): appending it again would count each twice; `append --again` stores it anyway")]
    Repeated {
        /// The stored batch's first seq.
        first_seq: u64,
        /// Its last seq.
        last_seq: u64,
        /// When it was recorded.
        recorded_at: Instant,
        /// How many events it holds.
        events: u64,
    },
    /// Stored data is physically damaged where no seq can be named (exit 4), e.g. sled
    /// found corrupted bytes in its own files.
    #[error("damaged: {0}")]
    Corrupt(String),
    /// The disk or sled failed (exit 5).
    #[error("storage failure: {0}")]
    Io(String),
}

impl StoreError {
    /// The same error again (a group commit gives one failure to every batch).
    fn share(&self) -> StoreError {
        match self {
            StoreError::Io(m) => StoreError::Io(m.clone()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Damaged { seq, message } => StoreError::Damaged {
                seq: *seq,
                message: message.clone(),
            },
            StoreError::Busy(p) => StoreError::Busy(p.clone()),
            StoreError::Missing(p) => StoreError::Missing(p.clone()),
            other => StoreError::Io(other.to_string()),
        }
    }
}

/// An I/O error in words that name the cause when it is a full disk or a size limit (sled
/// passes some of these on as the `Debug` text of the original error: only the kind is kept).
fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::StorageFull => "no space left on the device (ENOSPC)".into(),
        ErrorKind::QuotaExceeded => "no space: the disk quota is exceeded (EDQUOT)".into(),
        ErrorKind::FileTooLarge => {
            "no space: a file reached the size limit (EFBIG, file too large)".into()
        }
        _ => e.to_string(),
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => StoreError::Io(describe_io(&io)),
            sled::Error::Corruption { at, .. } => StoreError::Corrupt(match at {
                Some(at) => format!("sled found corrupted data in its log ({at})"),
                None => "sled found corrupted data in its files (its snapshot or log)".into(),
            }),
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(describe_io(&e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    seq: u64,
    hash: Hash,
    /// The latest `recorded_at` of any record (None for an empty log).
    max_recorded_at: Option<Instant>,
}

impl Head {
    const EMPTY: Head = Head {
        seq: 0,
        hash: Hash::ZERO,
        max_recorded_at: None,
    };

    fn encode(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(48);
        h.extend_from_slice(&self.seq.to_be_bytes());
        h.extend_from_slice(&self.hash.0);
        if let Some(t) = self.max_recorded_at {
            h.extend_from_slice(&t.nanos().to_be_bytes());
        }
        h
    }

    fn decode(v: &[u8]) -> Option<Head> {
        if v.len() != 40 && v.len() != 48 {
            return None;
        }
        let mut hash = [0; 32];
        hash.copy_from_slice(&v[8..40]);
        let max_recorded_at = match v.get(40..48) {
            Some(b) => {
                let nanos = i64::from_be_bytes(b.try_into().ok()?);
                Some(Instant::from_datetime(
                    chrono::DateTime::from_timestamp_nanos(nanos),
                )?)
            }
            None => None,
        };
        Some(Head {
            seq: be_u64(v)?,
            hash: Hash(hash),
            max_recorded_at,
        })
    }
}

/// sled's database, which is not closed after a failed write (see `Drop for Sled`).
#[derive(Debug)]
struct Sled {
    db: Option<sled::Db>,
    /// Set by any failed write to sled or to the ledger's files, and from sled's open until
    /// the ledger's open succeeded: the ledger refuses further appends, and sled is not
    /// allowed to flush when dropped.
    failed: std::sync::atomic::AtomicBool,
    /// Set by [`Ledger::leave`]: not closed when dropped.
    left: bool,
}

impl Sled {
    /// A database just opened: counted as failed until the ledger's open completes, so that
    /// an error on the way leaves it unclosed too.
    fn opened(db: sled::Db) -> Sled {
        Sled {
            db: Some(db),
            failed: std::sync::atomic::AtomicBool::new(true),
            left: false,
        }
    }

    fn fail(&self) {
        self.failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn has_failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::ops::Deref for Sled {
    type Target = sled::Db;

    fn deref(&self) -> &sled::Db {
        match &self.db {
            Some(db) => db,
            None => unreachable!("taken only when dropped"),
        }
    }
}

impl Drop for Sled {
    fn drop(&mut self) {
        if self.left {
            // Flushed already (`Ledger::leave`): closing would only free memory and fsync
            // sled's data file again (`Log::drop`), which the process's exit makes moot.
            std::mem::forget(self.db.take());
        } else if self.has_failed() {
            // Dropping sled's `Db` flushes (`Tree::drop` loops on `flush`), and after a failed
            // write that flush can wait forever: a reservation abandoned by a failed blob
            // write (ENOSPC, EFBIG) never becomes stable, so `make_stable` waits on its
            // condition variable while the ledger's lock is held (seen on a full disk, both
            // after a failed append and after an open whose repair failed). Nothing
            // acknowledged depends on that flush (acknowledged appends were durable before
            // they were answered) and what failed must not be flushed, so sled is left
            // unclosed: its memory, threads and file lock go with the process (in-process
            // callers find this ledger busy until then).
            std::mem::forget(self.db.take());
        }
    }
}

/// An open ledger: the only writer of its directory while it lives.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    db: Sled,
    /// The acknowledged head, durable outside sled's log (None only when a salvage open of
    /// a ledger without one could not create it).
    head_file: Option<HeadFile>,
    /// Damage found on opening for salvage ([`Ledger::open_salvage`]): reads stop there.
    damage: Option<Problem>,
    data_file: File,
    /// Whether sled's files and the directories holding them were synced since the open
    /// (by the first `make_durable`).
    files_synced: bool,
    /// Whether the ledger directory's entries that matter (`log/`, `head`) were durable at
    /// the open: the head file existed, and its creation synced the directory after `log/`
    /// was there (`HeadFile::create`). Then the first durable write need not sync that
    /// directory again (issue 15: one fsync less per append process; `espp.lock`, the only
    /// other entry, holds nothing).
    dir_durable: bool,
    synced_blobs: BTreeSet<OsString>,
    head: Head,
    book: Option<Book>,
    /// When `book` is lean (`acceptance.rs`): the checkpoint whose holdings it lacks.
    lean: Option<espp_replay::Header>,
    /// The book file, read for this process before its book is loaded (`bookfile.rs`):
    /// None when not read yet (the load reads it if it needs it), `Some(None)` when there
    /// was none to use.
    kept: Option<Option<KeptBook>>,
    /// Where the book file's parts lie, read when a part is first looked for there (see
    /// [`Ledger::part`]); None again whenever this process rewrites the file.
    book_parts: std::sync::Mutex<Option<bookfile::PartIndex>>,
    /// How many times this process loaded the whole acceptance book from the store
    /// ([`Ledger::whole_book_loads`]).
    whole_book_loads: std::sync::atomic::AtomicU64,
    /// The id index's runs (`idindex.rs`).
    ids: IdIndex,
    /// The employee index (`whoindex.rs`).
    who: WhoIndex,
    options: Options,
    /// Checkpoints: a separate tree, a cache beside the log.
    checkpoints: sled::Tree,
    /// The latest purchase's day (closed books), as stored with the head.
    wall: Option<Day>,
    /// Declared last so that it is dropped last: the lock is released only after sled has
    /// closed (fields drop in declaration order).
    _lock: File,
}

/// Accesses of a key read once that sled's page cache must hear of to let its page go: see
/// [`scanned`].
const PASSES: usize = 8;

/// Tells sled's page cache that the value under `key` of `tree`, just read by a one-time
/// scan (the log's chunks, the id index's blocks, checkpoint parts), was accessed, so that
/// the cache bounds what such scans keep: call it after each value. Every read command
/// reads through it, so each gets the bound.
///
/// Why (sled 0.34.7, `lru.rs` and `pagecache/mod.rs`): the cache is 256 shards by page id;
/// a shard hears of accesses to its pages only when 64 of them have queued, and evicts only
/// then, down to its share of `cache_capacity` (64 MiB / 256 = 256 KiB), always keeping the
/// page accessed last. A forward scan touches each leaf once (its iterator keeps the leaf)
/// and a read by key once per value (a leaf holds up to 16 values, and up to 128 KiB of
/// them past 3: sled patch 6, so 3-6 of the ledger's ~20 KB values): no shard's queue
/// fills, and every leaf read stays in memory until the process ends whatever the capacity
/// (at 1M events ~135 MB of log, index and parts pages; ten times that at 10M). Reading the
/// key again [`PASSES`] times after each value makes each value count 9 times: a shard's
/// queue fills within one or two of its leaves, and the shard then accounts them and evicts
/// the older leaves it held, so a scan keeps one or two leaves a shard (~256-512 leaves of
/// ≤ 128 KiB), whatever the length of the log (`verify`: 162 MB at 1M, 618 MB at 10M). A
/// read by key costs a descent of the tree (~0.5 µs): 8 per chunk of 256 records. Pages stored as blobs (ledgers with 512 KiB
/// segments, where leaves pass 128 KiB) are charged ~20 bytes and still stay.
fn scanned(tree: &sled::Tree, key: &[u8]) {
    for _ in 0..PASSES {
        // Only the access counts; a failure here shows on the next real read.
        let _ = tree.get(key);
    }
}

fn rec_key(seq: u64) -> [u8; 9] {
    let mut k = [REC; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn summary_key(seq: u64) -> [u8; 9] {
    let mut k = [SUMMARY; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// A chunk's earliest and latest day: lets a fold know, without decoding, how early
/// anything still to come can be dated.
fn encode_summary(chunk: &[&Record]) -> [u8; 8] {
    let min = chunk
        .iter()
        .map(|r| r.date)
        .min()
        .map_or(0, Day::days_from_ce);
    let max = chunk
        .iter()
        .map(|r| r.date)
        .max()
        .map_or(0, Day::days_from_ce);
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&min.to_le_bytes());
    out[4..].copy_from_slice(&max.to_le_bytes());
    out
}

fn decode_summary(v: &[u8]) -> Option<(Day, Day)> {
    let day = |b: &[u8]| -> Option<Day> {
        let n = i32::from_le_bytes(b.try_into().ok()?);
        chrono::NaiveDate::from_num_days_from_ce_opt(n).map(Day::from_date)
    };
    Some((day(v.get(..4)?)?, day(v.get(4..8)?)?))
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)?.sync_all()?;
    Ok(())
}

/// Whether `path` holds a ledger (its `log` directory); a path naming something other than a
/// directory is refused with its name.
fn is_ledger(path: &Path) -> Result<bool, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(StoreError::Io(format!(
            "{} is not a ledger directory: it is a file",
            path.display()
        ))),
        Ok(_) => Ok(path.join("log").is_dir()),
        Err(_) => Ok(false),
    }
}

/// sled's segment size for a new ledger: 2 MiB (sled's default is 512 KiB).
///
/// sled 0.34 writes any log message over a quarter of a segment (128 KiB by default) to a
/// file of its own under `log/blobs/`, and a leaf holds up to 17 values, so a leaf of ~20 KiB
/// chunks outgrows that; every rewrite of such a leaf then writes a new blob file, and the old
/// one is removed only when the segment its replacement went to is sealed, which a short
/// `espp` process often never sees: the file is kept for good. With 2 MiB segments a message
/// goes to a blob only past ~512 KiB, so leaves stay in the `db` file (and with sled patch
/// 6 a leaf of 3 values or more splits past 128 KiB anyway).
pub const SEGMENT_BYTES: usize = 2 << 20;

/// How often sled's background flusher runs, in ms. sled 0.34 cleans its segments (rewrites
/// the live pages of segments at most 65% live — sled patch 3 —, so the segments can be
/// reused) mostly in that thread (otherwise one page per page replaced): without it a ledger keeps every rewritten leaf. What it writes is sled's own
/// housekeeping or records not yet acknowledged; an append is still acknowledged only after
/// its own flush and fsyncs (see the module's Durability).
pub const SLED_FLUSH_MS: u64 = 2;

/// The sled configuration of the log in `log_dir`: the segment size recorded in its `conf`
/// (sled refuses to open a log with any other), else [`SEGMENT_BYTES`] for a new one; the
/// background flusher every [`SLED_FLUSH_MS`]. Everything that opens a ledger's sled
/// database must start from this.
pub fn sled_config(log_dir: &Path) -> Result<sled::Config, StoreError> {
    let segment_size = match std::fs::read(log_dir.join("conf")) {
        // sled's own format: lines `name: value`, then a CRC. One that does not read is
        // left for sled to judge (it checks the CRC and refuses a damaged one).
        Ok(conf) => String::from_utf8_lossy(&conf)
            .lines()
            .find_map(|l| l.strip_prefix("segment_size: ")?.trim().parse().ok())
            .unwrap_or(SEGMENT_BYTES),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SEGMENT_BYTES,
        Err(e) => return Err(e.into()),
    };
    Ok(sled::Config::new()
        .path(log_dir)
        .segment_size(segment_size)
        .flush_every_ms(Some(SLED_FLUSH_MS)))
}

/// Removes sled snapshot files that were never finished (`snap.*.generating`).
///
/// sled 0.34 writes a snapshot on every open that recovered new log entries: to
/// `snap.<lsn>.generating`, fsynced, then renamed to `snap.<lsn>`, and only then removes
/// older snapshots (pagecache/snapshot.rs, `write_snapshot`). If that write fails (a full
/// disk) or the process dies first, the `.generating` file stays, and since sled takes the
/// last of all `snap.*` names in sorted order, it reads that unfinished file on every
/// later open and fails ("Read corrupted data at file offset None"). An unfinished snapshot
/// was never used (the open that wrote it failed or died before renaming it), and the
/// snapshot it was to replace is still there: removing it loses nothing.
fn remove_unfinished_snapshots(log_dir: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(log_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

impl Ledger {
    /// Damage found when the ledger was opened for salvage ([`Ledger::open_salvage`]).
    pub fn damage(&self) -> Option<&Problem> {
        self.damage.as_ref()
    }

    /// The ledger's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last seq stored (0 for an empty log).
    pub fn head_seq(&self) -> u64 {
        self.head.seq
    }

    /// The last record's hash (64 zeros for an empty log).
    pub fn head_hash(&self) -> Hash {
        self.head.hash
    }

    /// The raw sled database, for tests and benchmarks that inspect storage.
    pub fn sled(&self) -> &sled::Db {
        &self.db
    }

    fn blob_names(&self) -> Result<BTreeSet<OsString>, StoreError> {
        let dir = self.path.join("log").join("blobs");
        let mut out = BTreeSet::new();
        if dir.is_dir() {
            for e in std::fs::read_dir(dir)? {
                out.insert(e?.file_name());
            }
        }
        Ok(out)
    }

    /// Readies a ledger that a process is done with, just before it exits: sled is flushed
    /// (a read command wrote at most checkpoints, flushed already) and then not closed when
    /// the ledger is dropped — no second fsync, no freeing of its cache (issue 15). Its file
    /// lock is held until the process exits: not for a ledger the process opens again.
    pub fn leave(&mut self) -> Result<(), StoreError> {
        if !self.db.has_failed() {
            self.db.flush()?;
            self.db.left = true;
        }
        Ok(())
    }

    /// [`Ledger::leave`] for a process that exits next: the head file's last update is also
    /// made durable (what dropping the ledger would do), and then nothing of the ledger is
    /// freed — its book, indexes and sled's cache go with the process (issue 15: freeing a
    /// 10,000-employee acceptance book took 3–8 ms of a ~80 ms payday append). Its file lock
    /// is held until the process exits. On an error the ledger is dropped as usual.
    pub fn leave_for_exit(mut self) -> Result<(), StoreError> {
        self.leave()?;
        if let Some(h) = self.head_file.as_mut() {
            h.sync()?;
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Makes everything applied so far durable: sled's flush, then fsync of its data file,
    /// of new blob files and of the directories holding them (the first time since the
    /// open, of the log's and the ledger's directories too).
    fn make_durable(&mut self) -> Result<(), StoreError> {
        self.db.flush()?;
        if self.files_synced {
            self.data_file.sync_data()?;
        } else {
            // What the open created or renamed (sled's files, its snapshot): durable before
            // anything written after it is.
            self.data_file.sync_all()?;
            sync_dir(&self.path.join("log"))?;
            if !self.dir_durable {
                sync_dir(&self.path)?;
            }
            self.files_synced = true;
        }
        let blobs = self.blob_names()?;
        let dir = self.path.join("log").join("blobs");
        let mut new = false;
        for name in blobs.difference(&self.synced_blobs) {
            match File::open(dir.join(name)) {
                Ok(f) => f.sync_all()?,
                // sled removes blobs it no longer needs: nothing to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
            new = true;
        }
        if new {
            sync_dir(&dir)?;
            sync_dir(&self.path.join("log"))?;
        }
        self.synced_blobs = blobs;
        Ok(())
    }

    /// Every record in seq order, decoded, stopping at the first damaged one.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, StoreError>> + '_ {
        self.records_from(1)
    }

    /// Records from `from` (a seq) on, in seq order.
    pub fn records_from(&self, from: u64) -> impl Iterator<Item = Result<Record, StoreError>> + '_ {
        // The chunk holding `from` starts at or before it.
        let start = self
            .db
            .range(rec_key(0)..=rec_key(from.max(1)))
            .next_back()
            .and_then(|kv| kv.ok())
            .map(|(k, _)| k.to_vec())
            .unwrap_or_else(|| rec_key(0).to_vec());
        // Nothing beyond the acknowledged head is part of the log (an open removes it; a
        // salvage open of a damaged ledger leaves it and reads up to the head).
        let chunks = self.db.range(start..=rec_key(self.head.seq).to_vec());
        let mut failed = false;
        // The last record read (seq, hash): each record must follow it, and link to it.
        // Reading from the start, the first must be seq 1.
        let mut last: Option<(u64, Hash)> = (from <= 1).then_some((0, Hash::ZERO));
        chunks
            .flat_map(move |kv| -> Vec<Result<Record, StoreError>> {
                if failed {
                    return Vec::new();
                }
                let mut out = match kv {
                    Err(e) => vec![Err(e.into())],
                    Ok((k, v)) => {
                        scanned(&self.db, &k);
                        decode_chunk(&k, &v)
                    }
                };
                for i in 0..out.len() {
                    let Ok(r) = &out[i] else { break };
                    let problem = match last {
                        Some((seq, _)) if r.seq > seq + 1 => Some((
                            seq + 1,
                            format!("missing: the next stored record is seq {}", r.seq),
                        )),
                        Some((seq, _)) if r.seq <= seq => Some((
                            seq + 1,
                            format!("out of place: seq {} follows seq {seq}", r.seq),
                        )),
                        Some((seq, hash)) if r.prev_hash != hash => Some((
                            r.seq,
                            format!(
                                "altered: prev_hash {} does not match seq {seq}'s hash {hash}",
                                r.prev_hash
                            ),
                        )),
                        _ => None,
                    };
                    if let Some((seq, message)) = problem {
                        out.truncate(i);
                        out.push(Err(StoreError::Damaged { seq, message }));
                        break;
                    }
                    last = Some((r.seq, r.hash));
                }
                failed = out.iter().any(Result::is_err);
                out
            })
            .filter(move |r| r.as_ref().map_or(true, |r| r.seq >= from))
    }

    /// The record stored under `seq`.
    pub fn record(&self, seq: u64) -> Result<Option<Record>, StoreError> {
        // Nothing beyond the acknowledged head is part of the log.
        if seq == 0 || seq > self.head.seq {
            return Ok(None);
        }
        let Some((k, v)) = self
            .db
            .range(rec_key(0)..=rec_key(seq))
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let first = be_u64(k.get(1..).unwrap_or_default()).unwrap_or(0);
        Ok(chunk::decode_one(first, &v, seq)?.filter(|r| r.seq == seq))
    }

    fn stored_seq_of(&self, id: &Uuid) -> Result<Option<u64>, StoreError> {
        self.ids.get(&self.db, id)
    }

    /// Every (id, seq) the id index holds, in no particular order: for checks that compare
    /// the index with the log.
    pub fn id_index_entries(&self) -> impl Iterator<Item = Result<(Uuid, u64), StoreError>> + '_ {
        self.ids.entries(&self.db)
    }

    /// The acceptance book: loaded on first use, partial (the latest state from the nearest
    /// checkpoint, see `Book::partial`) when the latest purchase checkpoint exists, else whole
    /// (which rebuilds that checkpoint). A batch that needs the whole book loads it then.
    pub fn book(&mut self) -> Result<&Book, StoreError> {
        self.load_book_if_needed()?;
        self.complete_book(&[])?;
        match &self.book {
            Some(b) => Ok(b),
            None => unreachable!("set above"),
        }
    }

    /// Whether the acceptance book is loaded and lean (the latest state without its
    /// holdings, `acceptance.rs`): for tests and benchmarks.
    pub fn book_is_lean(&self) -> bool {
        self.lean.is_some()
    }

    /// How many times this `Ledger` loaded the whole acceptance book from the store (the
    /// closed books from the latest purchase's checkpoint, and every record dated after
    /// it): for tests, which check that a purchase payday in order does not (issue 15).
    #[doc(hidden)]
    pub fn whole_book_loads(&self) -> u64 {
        self.whole_book_loads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every chunk's first seq and earliest day, in seq order.
    pub fn chunk_days(&self) -> Result<Vec<(u64, Day)>, StoreError> {
        let mut out = Vec::new();
        // Summaries beyond the acknowledged head are not part of the log.
        for kv in self.db.range(summary_key(0)..=summary_key(self.head.seq)) {
            let (k, v) = kv?;
            let seq = be_u64(&k[1..]).unwrap_or(0);
            let (min, _) = decode_summary(&v).ok_or_else(|| StoreError::Damaged {
                seq,
                message: "the chunk's day summary is malformed".into(),
            })?;
            out.push((seq, min));
        }
        Ok(out)
    }
}

fn decode_chunk(k: &[u8], v: &[u8]) -> Vec<Result<Record, StoreError>> {
    let first = be_u64(k.get(1..).unwrap_or_default()).unwrap_or(0);
    chunk::decode_chunk(first, v)
}
