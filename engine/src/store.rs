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
pub use checkpoints::{CheckpointCheck, HashOn};
#[path = "chunk.rs"]
mod chunk;
#[path = "headfile.rs"]
mod headfile;
use chunk::encode_chunk;
#[path = "idindex.rs"]
mod idindex;
use headfile::{Acked, HeadFile, Sync};
use idindex::IdIndex;
#[path = "onefold.rs"]
mod onefold;
#[path = "whocheck.rs"]
mod whocheck;
#[path = "whoindex.rs"]
mod whoindex;
#[path = "whoruns.rs"]
mod whoruns;
#[path = "whospill.rs"]
mod whospill;
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

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Seqs of the stored records, first and last (none if nothing was new).
    pub stored: Option<(u64, u64)>,
    /// Lines skipped because their id was stored already with identical content: (line, id, seq).
    pub skipped: Vec<(usize, Uuid, u64)>,
}

impl AppendReport {
    /// How many records were stored.
    pub fn stored_count(&self) -> u64 {
        self.stored.map_or(0, |(a, b)| b - a + 1)
    }
}

/// A batch to append: numbered input lines, all bare events or all exported records.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (1-based line number, parsed line).
    pub lines: Vec<(usize, Line)>,
    /// Who appends.
    pub actor: Actor,
    /// Accept events dated more than [`FUTURE_LIMIT_DAYS`](crate::guards::FUTURE_LIMIT_DAYS)
    /// after their recording day (`--allow-future`).
    pub allow_future: bool,
    /// Store the batch even if an equal one is stored already (`--again`).
    pub again: bool,
}

impl Batch {
    /// A batch of numbered lines, with every guard on.
    pub fn new(lines: Vec<(usize, Line)>, actor: Actor) -> Self {
        Batch {
            lines,
            actor,
            allow_future: false,
            again: false,
        }
    }

    /// A batch of bare events, numbered from 1, with every guard on.
    pub fn of_events(events: Vec<EventInput>, actor: Actor) -> Self {
        Batch::new(
            events
                .into_iter()
                .map(Line::Bare)
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .collect(),
            actor,
        )
    }

    /// Lines dated too far ahead of their recording day (`now` for bare events, their own
    /// `recorded_at` for exported records), unless the batch allows the future.
    pub fn future_refusals(&self, now: Instant) -> crate::guards::Refusals {
        let mut refusals = crate::guards::Refusals::new();
        if self.allow_future {
            return refusals;
        }
        for (line, l) in &self.lines {
            let (date, recorded_at) = match l {
                Line::Bare(e) => (e.date, now),
                Line::Enveloped(r) => (r.date, r.recorded_at),
            };
            if let Some(message) = crate::guards::too_far_ahead(date, recorded_at) {
                refusals.push(*line, message);
            }
        }
        refusals
    }

    /// The fingerprint of the batch's content when every line is a bare event without id —
    /// the batches the guard against a repeated file judges (lines with ids have the id
    /// rules). Computed once per batch: it is also what the batch index stores for it.
    fn content_fingerprint(&self) -> Option<[u8; 32]> {
        let mut f = crate::guards::Fingerprint::new();
        for (_, l) in &self.lines {
            match l {
                Line::Bare(e) if e.id.is_none() => f.add(e.date, &e.event),
                _ => return None,
            }
        }
        Some(f.finish())
    }
}

/// A stored batch, as its fingerprint entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredBatch {
    first_seq: u64,
    last_seq: u64,
    recorded_at: Instant,
}

impl StoredBatch {
    fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.first_seq.to_be_bytes());
        v[8..16].copy_from_slice(&self.last_seq.to_be_bytes());
        v[16..].copy_from_slice(&self.recorded_at.nanos().to_be_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<StoredBatch> {
        let nanos = i64::from_be_bytes(v.get(16..24)?.try_into().ok()?);
        Some(StoredBatch {
            first_seq: be_u64(v.get(..8)?)?,
            last_seq: be_u64(v.get(8..16)?)?,
            recorded_at: Instant::from_datetime(chrono::DateTime::from_timestamp_nanos(nanos))?,
        })
    }
}

fn batch_key(fingerprint: &[u8; 32]) -> [u8; 33] {
    let mut k = [BATCH; 33];
    k[1..].copy_from_slice(fingerprint);
    k
}

/// The fingerprint entries of stored records: one per run of records that share a
/// `recorded_at` (what one append stored, INTERCHANGE.md). Records come in seq order.
fn batch_entries<'a>(
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<([u8; 33], StoredBatch)> {
    let mut out = Vec::new();
    let mut run: Option<(crate::guards::Fingerprint, StoredBatch)> = None;
    let close = |run: Option<(crate::guards::Fingerprint, StoredBatch)>, out: &mut Vec<_>| {
        if let Some((f, b)) = run {
            out.push((batch_key(&f.finish()), b));
        }
    };
    for r in records {
        match &mut run {
            Some((f, b)) if b.recorded_at == r.recorded_at => {
                f.add(r.date, &r.event);
                b.last_seq = r.seq;
            }
            _ => {
                close(run.take(), &mut out);
                let mut f = crate::guards::Fingerprint::new();
                f.add(r.date, &r.event);
                run = Some((
                    f,
                    StoredBatch {
                        first_seq: r.seq,
                        last_seq: r.seq,
                        recorded_at: r.recorded_at,
                    },
                ));
            }
        }
    }
    close(run, &mut out);
    out
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

/// What a dry run found: the report the append would give and the books before and after.
#[derive(Debug)]
pub struct DryRun {
    /// What the append would store and skip.
    pub report: AppendReport,
    /// The acceptance book's state before the batch.
    pub before: espp_projections::State,
    /// Its state with the batch folded in.
    pub after: espp_projections::State,
}

/// The outcome of judging a group of batches: each one's result, the accepted records, and
/// the head after them.
struct Judged {
    results: Vec<Result<AppendReport, StoreError>>,
    accepted: Vec<Accepted>,
    head: Head,
}

/// What the earlier batches of a group commit accepted, for the id and repeat checks of the
/// later ones.
#[derive(Clone, Copy)]
struct Group<'a> {
    ids: &'a HashMap<Uuid, (usize, usize)>,
    accepted: &'a [Accepted],
    batches: &'a HashMap<[u8; 32], StoredBatch>,
}

/// A batch's records that fold, and its content fingerprint if it was computed already.
struct Accepted {
    records: Vec<Record>,
    fingerprint: Option<[u8; 32]>,
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
    /// The id index's runs (`idindex.rs`).
    ids: IdIndex,
    /// The employee index (`whoindex.rs`).
    who: WhoIndex,
    options: Options,
    /// Checkpoints: a separate tree, a cache beside the log.
    checkpoints: sled::Tree,
    /// The latest purchase's day (closed books), as stored with the head.
    wall: Option<Day>,
    /// Orders the ids this process assigns (v7 with a counter).
    id_context: std::sync::Mutex<uuid::ContextV7>,
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
/// and a read by key once per value (a leaf holds 8-16 values: sled splits past 16): no
/// shard's queue fills, and every leaf read stays in memory until the process ends whatever
/// the capacity (at 1M events ~135 MB of log, index and parts pages; ten times that at
/// 10M). Reading the key again [`PASSES`] times after each value makes a leaf of 8 values
/// or more fill its shard's queue while it is read: the shard then accounts it and evicts
/// the older leaves it held, so a scan keeps about one leaf a shard (~256 leaves of ~180
/// KiB), whatever the length of the log. A read by key costs a descent of the tree
/// (~0.5 µs): 8 per chunk of 256 records. Pages stored as blobs (ledgers with 512 KiB
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
/// goes to a blob only past ~512 KiB, so leaves stay in the `db` file.
pub const SEGMENT_BYTES: usize = 2 << 20;

/// How often sled's background flusher runs, in ms. sled 0.34 cleans its segments (rewrites
/// the live pages of segments at most half live, so the segments can be reused) only in that
/// thread: without it a ledger keeps every rewritten leaf. What it writes is sled's own
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
    /// Opens an existing ledger; a missing one is [`StoreError::Missing`]. Damage found on
    /// opening (the end of the log gone, a head file that does not read) is an error.
    pub fn open(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        if !is_ledger(path)? {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ledger::open_inner(path, options, false)
    }

    /// Opens an existing ledger to save or check what can still be read of it (`export`,
    /// `verify`): damage found on opening (the end of the log gone or unreadable) is kept in
    /// [`Ledger::damage`] rather than refused; then nothing is repaired, reads stop at the
    /// acknowledged head, and appends are refused. An intact ledger opens as with
    /// [`Ledger::open`].
    pub fn open_salvage(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        if !is_ledger(path)? {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ledger::open_inner(path, options, true)
    }

    /// Opens a ledger, creating its directory if it does not exist.
    pub fn open_or_create(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        is_ledger(path)?;
        let created = !path.exists();
        std::fs::create_dir_all(path)?;
        if created {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ledger::open_inner(path, options, false)
    }

    fn open_inner(path: &Path, options: &Options, salvage: bool) -> Result<Ledger, StoreError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join("espp.lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Busy(path.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        let log_dir = path.join("log");
        remove_unfinished_snapshots(&log_dir)?;
        let head_file = HeadFile::open(path)?;
        let dir_durable = head_file.is_some();
        let acked_seq = head_file.as_ref().map(|(_, a)| a.head.seq);
        let mut config = sled_config(&log_dir)?;
        if !options.sled_flusher {
            config = config.flush_every_ms(None);
        }
        let db = config
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| match e {
                // sled's own file lock outlives a dropped `sled::Db` while its background
                // jobs finish, so a ledger just closed in this or another process can still
                // hold it after `espp.lock` is free: that is busy, not a storage failure.
                sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Busy(path.to_path_buf())
                }
                sled::Error::Io(io) => StoreError::Io(format!(
                    "cannot open the log in {}: {}",
                    log_dir.display(),
                    describe_io(&io)
                )),
                sled::Error::Corruption { at, .. } => StoreError::Corrupt(format!(
                    "sled cannot recover the log in {}: corrupted data in its files{}; {}",
                    log_dir.display(),
                    at.map(|at| format!(" ({at})")).unwrap_or_default(),
                    match acked_seq {
                        Some(seq) => format!("the last acknowledged seq is {seq}"),
                        None => "the last acknowledged seq is unknown (no head file)".into(),
                    }
                )),
                e => e.into(),
            })?;
        let db = Sled::opened(db);
        // sled creates its files on open: they and their directory entries are made durable
        // before the first write is (`make_durable`), not here: a read command then costs
        // no fsync (issue 15).
        let data_file = File::open(log_dir.join("db"))?;
        let head = match db.get(HEAD_KEY)? {
            None => Head::EMPTY,
            Some(v) => Head::decode(&v).ok_or_else(|| StoreError::Damaged {
                seq: 0,
                message: "the head record is malformed".into(),
            })?,
        };
        let wall = match db.get(WALL_KEY)? {
            None => None,
            Some(v) => Some(
                v.as_ref()
                    .try_into()
                    .ok()
                    .and_then(|b: [u8; 4]| {
                        chrono::NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(b))
                    })
                    .map(Day::from_date)
                    .ok_or_else(|| StoreError::Damaged {
                        seq: 0,
                        message: "the wall record is malformed".into(),
                    })?,
            ),
        };
        let checkpoints = db.open_tree("checkpoints")?;
        let ids = IdIndex::load(&db)?;
        let who = WhoIndex::load(&db)?;
        // The acknowledged head: from the head file, or (a ledger made before it existed, or
        // a new one) from sled's head, recorded in a new head file without a word.
        let (head_file, acked) = match head_file {
            Some((f, acked)) => (Some(f), acked),
            None => {
                let acked = Acked {
                    head,
                    wall,
                    failed_after: false,
                };
                if head.seq == 0 && db.range(rec_key(0)..=rec_key(u64::MAX)).next().is_some() {
                    return Err(StoreError::Damaged {
                        seq: 1,
                        message: "the head record is missing, yet records are stored".into(),
                    });
                }
                match HeadFile::create(path, &acked) {
                    Ok(f) => (Some(f), acked),
                    // Salvage writes nothing it can do without.
                    Err(_) if salvage => (None, acked),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            _lock: lock,
            db,
            head_file,
            damage: None,
            data_file,
            files_synced: false,
            dir_durable,
            synced_blobs: BTreeSet::new(),
            head,
            book: None,
            lean: None,
            ids,
            who,
            options: options.clone(),
            checkpoints,
            wall,
            id_context: std::sync::Mutex::new(uuid::ContextV7::new()),
        };
        ledger.synced_blobs = ledger.blob_names()?;
        ledger.reconcile(acked, salvage)?;
        // Opened: sled may close normally from now on (unless a write fails).
        ledger
            .db
            .failed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(ledger)
    }

    /// Brings sled's view in line with the acknowledged head (the head file), on opening.
    ///
    /// - The records must reach the acknowledged head with its hash; if they stop short,
    ///   acknowledged records were lost (sled truncates its log at the first message that
    ///   does not check, the head key with it): damage, refused (kept in `damage` for a
    ///   salvage open).
    /// - Anything sled holds beyond the acknowledged head was never acknowledged. A batch
    ///   that is there whole and chains from the head (a crash after sled's durable write,
    ///   before the head file was updated) is kept, unless the append that wrote it was
    ///   reported as failed; anything else is removed: chunks, day summaries and id-index
    ///   entries beyond the head, and sled's head and wall are set back.
    fn reconcile(&mut self, acked: Acked, salvage: bool) -> Result<(), StoreError> {
        let a = acked.head;
        let end = self.check_acked_end(&a).or_else(|e| match e {
            // The tail cannot be read at all: damage too, as far as it can be named.
            StoreError::Corrupt(m) => Ok(Some(Problem {
                seq: a.seq.max(1),
                message: format!(
                    "unreadable: {m}, reading the records up to the last acknowledged seq {}",
                    a.seq
                ),
            })),
            e => Err(e),
        })?;
        if let Some(problem) = end {
            if !salvage {
                return Err(StoreError::Damaged {
                    seq: problem.seq,
                    message: problem.message,
                });
            }
            self.damage = Some(problem);
        }
        if self.damage.is_some() {
            // Read up to the acknowledged head; repairs wait until the damage is dealt with.
            self.head = a;
            self.wall = acked.wall;
            return Ok(());
        }
        let after = a.seq.saturating_add(1);
        let chunk_beyond = self
            .db
            .range(rec_key(after)..=rec_key(u64::MAX))
            .next()
            .transpose()?
            .is_some();
        let summary_beyond = self
            .db
            .range(summary_key(after)..=summary_key(u64::MAX))
            .next()
            .transpose()?
            .is_some();
        let clean = !chunk_beyond
            && !summary_beyond
            && self.head == a
            && self.wall == acked.wall
            && !acked.failed_after;
        if clean {
            return Ok(());
        }
        let sled_head = self.head;
        if !acked.failed_after && sled_head.seq > a.seq && self.whole_beyond(&a, &sled_head)? {
            let adopted = Acked {
                head: sled_head,
                wall: self.wall,
                failed_after: false,
            };
            return self.record_head(&adopted, Sync::Now);
        }
        self.roll_back_to(&acked)
    }

    /// None if the stored records end exactly at the acknowledged head `a` (seq and hash);
    /// else the first seq lost or altered.
    fn check_acked_end(&self, a: &Head) -> Result<Option<Problem>, StoreError> {
        if a.seq == 0 {
            return Ok(None);
        }
        let Some((k, v)) = self
            .db
            .range(rec_key(0)..=rec_key(a.seq))
            .next_back()
            .transpose()?
        else {
            return Ok(Some(Problem {
                seq: 1,
                message: format!(
                    "missing: seq {} was the last acknowledged (hash {}), but no record is stored: all are lost",
                    a.seq, a.hash
                ),
            }));
        };
        let first = be_u64(&k[1..]).unwrap_or(0);
        let mut last = first.saturating_sub(1);
        for r in decode_chunk(&k, &v) {
            match r {
                Ok(r) if r.seq == a.seq && r.hash == a.hash => return Ok(None),
                Ok(r) if r.seq == a.seq => {
                    return Ok(Some(Problem {
                        seq: a.seq,
                        message: format!(
                        "altered: seq {} was acknowledged with hash {}, the stored record has {}",
                        a.seq, a.hash, r.hash
                    ),
                    }))
                }
                Ok(r) => last = r.seq,
                Err(StoreError::Damaged { seq, message }) => {
                    return Ok(Some(Problem { seq, message }))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Problem {
            seq: last + 1,
            message: format!(
                "missing: seq {} was the last acknowledged (hash {}), but the stored records stop at seq {last}: seqs {}-{} are lost",
                a.seq,
                a.hash,
                last + 1,
                a.seq
            ),
        }))
    }

    /// Whether sled holds, beyond the acknowledged head `a`, exactly a whole write up to its
    /// own head: chunks from `a.seq + 1` on, chaining from `a`'s hash, each record hashing to
    /// itself and in the id index, each chunk with its day summary, ending at `sled_head`.
    fn whole_beyond(&self, a: &Head, sled_head: &Head) -> Result<bool, StoreError> {
        let mut prev = a.hash;
        let mut next = a.seq + 1;
        let mut chunk_seqs = Vec::new();
        for kv in self.db.range(rec_key(next)..=rec_key(u64::MAX)) {
            let (k, v) = kv?;
            let first = be_u64(&k[1..]).unwrap_or(0);
            if first != next {
                return Ok(false);
            }
            let mut records = Vec::new();
            for r in decode_chunk(&k, &v) {
                let Ok(r) = r else { return Ok(false) };
                if r.seq != next || r.prev_hash != prev || r.compute_hash() != r.hash {
                    return Ok(false);
                }
                if self.stored_seq_of(&r.id)? != Some(r.seq) {
                    return Ok(false);
                }
                prev = r.hash;
                next += 1;
                records.push(r);
            }
            let refs: Vec<&Record> = records.iter().collect();
            if self.db.get(summary_key(first))?.as_deref() != Some(&encode_summary(&refs)[..]) {
                return Ok(false);
            }
            chunk_seqs.push(first);
        }
        let mut summaries = Vec::new();
        for k in self
            .db
            .range(summary_key(a.seq + 1)..=summary_key(u64::MAX))
            .keys()
        {
            summaries.push(be_u64(&k?[1..]).unwrap_or(0));
        }
        Ok(summaries == chunk_seqs && next - 1 == sled_head.seq && prev == sled_head.hash)
    }

    /// Removes everything sled holds beyond the acknowledged head and sets its head and wall
    /// back, durably; then records the head as clean.
    fn roll_back_to(&mut self, acked: &Acked) -> Result<(), StoreError> {
        let a = acked.head.seq;
        let after = a.saturating_add(1);
        let mut batch = sled::Batch::default();
        for k in self.db.range(rec_key(after)..=rec_key(u64::MAX)).keys() {
            batch.remove(k?);
        }
        for k in self
            .db
            .range(summary_key(after)..=summary_key(u64::MAX))
            .keys()
        {
            batch.remove(k?);
        }
        // Ids of records that were never acknowledged: a full pass over the index, since ids
        // given in the input are in no order. Only after a failed or interrupted write.
        for kv in self.db.scan_prefix([IDX]) {
            let (k, v) = kv?;
            if be_u64(&v).is_some_and(|seq| seq > a) {
                batch.remove(k);
            }
        }
        batch.insert(HEAD_KEY, acked.head.encode());
        if let Err(e) = self
            .ids
            .roll_back(&self.db, a)
            .and_then(|()| self.roll_back_who(&mut batch, a))
        {
            self.db.fail();
            return Err(e);
        }
        match acked.wall {
            Some(w) => batch.insert(WALL_KEY, &w.days_from_ce().to_le_bytes()),
            None => batch.remove(WALL_KEY),
        }
        let applied = self.db.apply_batch(batch);
        self.track(applied)?;
        self.drop_checkpoints_after(a)?;
        if let Err(e) = self.make_durable() {
            self.db.fail();
            return Err(e);
        }
        self.head = acked.head;
        self.wall = acked.wall;
        self.record_head(
            &Acked {
                failed_after: false,
                ..*acked
            },
            Sync::Now,
        )
    }

    /// Writes `acked` to the head file, made durable as `sync` says.
    fn record_head(&mut self, acked: &Acked, sync: Sync) -> Result<(), StoreError> {
        let result = match self.head_file.as_mut() {
            Some(f) => f.write(acked, sync),
            None => Err(StoreError::Io("the ledger has no head file".into())),
        };
        if result.is_err() {
            self.db.fail();
        }
        result
    }

    /// Passes a sled result on, marking the ledger failed if it is an error (see `Drop`).
    fn track<T>(&self, r: Result<T, sled::Error>) -> Result<T, StoreError> {
        r.map_err(|e| {
            self.db.fail();
            e.into()
        })
    }

    /// Why this ledger takes no append, if it does not.
    fn refusal(&self) -> Option<StoreError> {
        if let Some(p) = &self.damage {
            return Some(StoreError::Damaged {
                seq: p.seq,
                message: p.message.clone(),
            });
        }
        if self.db.has_failed() {
            return Some(StoreError::Io(
                "an earlier write to this ledger failed: open it again".into(),
            ));
        }
        None
    }

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

    /// Appends one batch atomically: all of it, durably, or nothing.
    pub fn append(&mut self, batch: Batch, now: Instant) -> Result<AppendReport, StoreError> {
        self.append_group(vec![batch], now)
            .pop()
            .unwrap_or_else(|| Err(StoreError::Io("no result".into())))
    }

    /// Appends several independent batches with one durable write (group commit). Each batch
    /// is atomic on its own: a refused one leaves the others untouched. The results are in
    /// the batches' order; an I/O failure fails them all.
    pub fn append_group(
        &mut self,
        batches: Vec<Batch>,
        now: Instant,
    ) -> Vec<Result<AppendReport, StoreError>> {
        let judged = match self.judge(batches, now) {
            Ok(j) => j,
            Err((e, n)) => return (0..n).map(|_| Err(e.share())).collect(),
        };
        let Judged {
            results,
            accepted,
            head,
        } = judged;
        if accepted.is_empty() {
            return results;
        }
        let wall = self.book.as_ref().and_then(Book::wall);
        match self.write(&accepted, head, wall) {
            Ok(()) => {
                self.head = head;
                let moved = wall != self.wall;
                self.wall = wall;
                // Checkpoints are a cache: failing to take one loses no data (but sled is
                // not to be trusted with a flush on drop after a failed write). Merging the
                // id index's runs changes no answer either way.
                if self.take_checkpoints(moved).is_err()
                    || self.ids.compact(&self.db).is_err()
                    || self.who.runs.compact(&self.db).is_err()
                {
                    self.db.fail();
                }
                results
            }
            Err(e) => {
                // The book is ahead of the disk: fold it again from what is stored.
                self.book = None;
                self.lean = None;
                results.into_iter().map(|r| r.and(Err(e.share()))).collect()
            }
        }
    }

    /// Judges and folds one batch exactly as [`Ledger::append`] would, and writes nothing:
    /// the report it would give and the book's state before and after (`--dry-run`).
    pub fn append_dry_run(&mut self, batch: Batch, now: Instant) -> Result<DryRun, StoreError> {
        let before = self.book()?.state().clone();
        let judged = self.judge(vec![batch], now).map_err(|(e, _)| e)?;
        let after = self.book()?.state().clone();
        // The book folded the batch in place: drop it, so nothing of the batch stays.
        self.book = None;
        self.lean = None;
        let report = judged
            .results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(StoreError::Io("no result".into())))?;
        Ok(DryRun {
            report,
            before,
            after,
        })
    }

    /// Prepares each batch and folds it into the book (which stays as it was for a refused
    /// one). On a failure before any batch could be judged, the error and the batch count.
    fn judge(&mut self, batches: Vec<Batch>, now: Instant) -> Result<Judged, (StoreError, usize)> {
        let n = batches.len();
        if let Some(e) = self.refusal() {
            return Err((e, n));
        }
        // A ledger written before the employee index: built from the log (once), before the
        // book is loaded (their memory does not add up).
        if let Err(e) = self.ensure_who_index() {
            self.db.fail();
            return Err((e, n));
        }
        if let Err(e) = self.load_book_if_needed() {
            return Err((e, n));
        }
        if let Err(e) = self.ensure_batch_index() {
            return Err((e, n));
        }
        if self.ids.has_legacy() {
            // A ledger written before the index had runs: fold its per-event keys into runs
            // (once; the next durable write makes it durable).
            if let Err(e) = self.ids.upgrade(&self.db) {
                self.db.fail();
                return Err((e, n));
            }
        }
        let mut head = self.head;
        let mut accepted: Vec<Accepted> = Vec::new();
        // The ids of earlier batches of this group: (batch in `accepted`, place in it). Kept
        // only while more batches follow.
        let mut group_ids: HashMap<Uuid, (usize, usize)> = HashMap::new();
        let mut group_batches: HashMap<[u8; 32], StoredBatch> = HashMap::new();
        let mut results: Vec<Result<AppendReport, StoreError>> = Vec::with_capacity(n);
        for (b, batch) in batches.into_iter().enumerate() {
            let fingerprint = batch.content_fingerprint();
            let group = Group {
                ids: &group_ids,
                accepted: &accepted,
                batches: &group_batches,
            };
            let prepared = self.prepare(batch, fingerprint, head, now, group);
            let (records, report) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let Some(last) = records.last().map(|(_, r)| Head {
                seq: r.seq,
                hash: r.hash,
                max_recorded_at: records
                    .iter()
                    .map(|(_, r)| r.recorded_at)
                    .chain(head.max_recorded_at)
                    .max(),
            }) else {
                results.push(Ok(report));
                continue;
            };
            let (lines, plain): (Vec<usize>, Vec<Record>) = records.into_iter().unzip();
            if self.book.as_ref().is_none_or(|b| b.needs_full(&plain)) {
                match self.full_book(&accepted) {
                    Ok(b) => self.book = Some(b),
                    Err(e) => return Err((e, n)),
                }
            } else if self.lean.is_some()
                && !plain
                    .iter()
                    .all(|r| espp_projections::parts::folds_without_holdings(&r.event))
            {
                if let Err(e) = self.complete_book(&accepted) {
                    return Err((e, n));
                }
            }
            let was_lean = self.lean.is_some();
            let Some(book) = self.book.as_mut() else {
                unreachable!("loaded above")
            };
            // The book folds in place and, on a refusal, stays as it was (a partial one is
            // spoiled: loaded whole again, with this group's accepted batches).
            let mut outcome = book.apply(&plain);
            if book.is_spoiled() {
                match self.full_book(&accepted) {
                    Ok(b) => self.book = Some(b),
                    Err(e) => return Err((e, n)),
                }
                if was_lean {
                    // A lean book's refusal is judged again on the whole book (`acceptance.rs`).
                    if let Some(book) = self.book.as_mut() {
                        outcome = book.apply(&plain);
                    }
                }
            }
            match outcome {
                Ok(()) => {
                    head = last;
                    if b + 1 < n {
                        for (i, r) in plain.iter().enumerate() {
                            group_ids.insert(r.id, (accepted.len(), i));
                        }
                    }
                    if let (Some(f), Some((a, b))) = (fingerprint, report.stored) {
                        group_batches.insert(
                            f,
                            StoredBatch {
                                first_seq: a,
                                last_seq: b,
                                recorded_at: now,
                            },
                        );
                    }
                    accepted.push(Accepted {
                        records: plain,
                        fingerprint,
                    });
                    results.push(Ok(report));
                }
                Err(BookRejection { index, rejection }) => {
                    results.push(Err(StoreError::Rejected {
                        line: lines[index],
                        rejection,
                    }));
                }
            }
        }
        Ok(Judged {
            results,
            accepted,
            head,
        })
    }

    /// The whole acceptance book (closed books and the tail) of what is stored, with the
    /// batches this group accepted so far folded in again.
    fn full_book(&mut self, accepted: &[Accepted]) -> Result<Book, StoreError> {
        // Whatever book this replaces, the whole one lacks nothing.
        self.lean = None;
        let mut book = self.load_book()?;
        for a in accepted {
            book.apply(&a.records).map_err(|e| {
                StoreError::Io(format!(
                    "an accepted batch no longer folds into the whole book: {e}"
                ))
            })?;
        }
        Ok(book)
    }

    /// Builds the batch-fingerprint index from the log if this ledger predates it (one scan,
    /// once; atomic with its completion mark, so an interrupted build starts again).
    fn ensure_batch_index(&mut self) -> Result<(), StoreError> {
        if self.db.get(BATCHES_KEY)?.is_some() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut run: Vec<Record> = Vec::new();
        for r in self.records() {
            let r = r?;
            if run.last().is_some_and(|l| l.recorded_at != r.recorded_at) {
                for (k, b) in batch_entries(&run) {
                    batch.insert(&k[..], &b.encode()[..]);
                }
                run.clear();
            }
            run.push(r);
        }
        for (k, b) in batch_entries(&run) {
            batch.insert(&k[..], &b.encode()[..]);
        }
        batch.insert(BATCHES_KEY, &[BATCH_INDEX_VERSION]);
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// The stored batch with this fingerprint, if any.
    fn stored_batch(&self, fingerprint: &[u8; 32]) -> Result<Option<StoredBatch>, StoreError> {
        // An entry past the acknowledged head belongs to records that open removed as never
        // acknowledged (a crash between sled's write and the head file's): not stored.
        Ok(self
            .db
            .get(batch_key(fingerprint))?
            .and_then(|v| StoredBatch::decode(&v))
            .filter(|b| b.last_seq <= self.head.seq))
    }

    /// Turns a batch's lines into chained records after `head`, skipping ids already stored
    /// with identical content. Returns (line, record) pairs and the report to give.
    fn prepare(
        &self,
        batch: Batch,
        fingerprint: Option<[u8; 32]>,
        head: Head,
        now: Instant,
        group: Group<'_>,
    ) -> Result<(Vec<(usize, Record)>, AppendReport), StoreError> {
        let Some(&(first_line, ref first)) = batch.lines.first() else {
            return Err(StoreError::Input {
                line: 1,
                message: "no events to append (the input is empty)".into(),
            });
        };
        let enveloped = matches!(first, Line::Enveloped(_));
        if let Some((line, _)) = batch
            .lines
            .iter()
            .find(|(_, l)| matches!(l, Line::Enveloped(_)) != enveloped)
        {
            let (with, without) = if enveloped {
                (first_line, *line)
            } else {
                (*line, first_line)
            };
            return Err(StoreError::Input {
                line: *line,
                message: format!(
                    "the file mixes exported records (with envelopes, like line {with}) and bare events (like line {without}); append them separately"
                ),
            });
        }
        let future = batch.future_refusals(now);
        if !future.is_empty() {
            return Err(StoreError::Lines(future));
        }
        if let Some(f) = fingerprint.filter(|_| !batch.again) {
            let stored = match group.batches.get(&f) {
                Some(b) => Some(*b),
                None => self.stored_batch(&f)?,
            };
            if let Some(b) = stored {
                return Err(StoreError::Repeated {
                    first_seq: b.first_seq,
                    last_seq: b.last_seq,
                    recorded_at: b.recorded_at,
                    events: batch.lines.len() as u64,
                });
            }
        }
        let mut report = AppendReport::default();
        let mut out: Vec<(usize, Record)> = Vec::new();
        let mut batch_ids: HashMap<Uuid, usize> = HashMap::new();
        let mut next = head;
        for (line, item) in batch.lines {
            let id = match &item {
                Line::Bare(e) => e.id,
                Line::Enveloped(r) => Some(r.id),
            };
            if let Some(id) = id {
                let in_group = group
                    .ids
                    .get(&id)
                    .and_then(|&(b, i)| group.accepted.get(b)?.records.get(i));
                let stored = match in_group {
                    Some(r) => Some(r.clone()),
                    None => match self.stored_seq_of(&id)? {
                        Some(seq) => {
                            Some(self.record(seq)?.ok_or_else(|| StoreError::Damaged {
                                seq,
                                message: format!(
                                    "the id index names seq {seq} for {id}, which is missing"
                                ),
                            })?)
                        }
                        None => None,
                    },
                };
                if let Some(stored) = stored {
                    let same = match &item {
                        Line::Bare(e) => e.date == stored.date && e.event == stored.event,
                        Line::Enveloped(r) => *r == stored,
                    };
                    if !same {
                        return Err(StoreError::Conflict {
                            line,
                            id,
                            seq: stored.seq,
                        });
                    }
                    report.skipped.push((line, id, stored.seq));
                    continue;
                }
                if let Some(&idx) = batch_ids.get(&id) {
                    let earlier = &out[idx].1;
                    let same = match &item {
                        Line::Bare(e) => e.date == earlier.date && e.event == earlier.event,
                        Line::Enveloped(r) => r == earlier,
                    };
                    if !same {
                        return Err(StoreError::ConflictInInput {
                            line,
                            id,
                            earlier: out[idx].0,
                        });
                    }
                    report.skipped.push((line, id, earlier.seq));
                    continue;
                }
            }
            let record = match item {
                Line::Bare(e) => {
                    let id = e.id.unwrap_or_else(|| new_id(&self.id_context, now));
                    Record::chain(
                        next.seq + 1,
                        id,
                        e.date,
                        now,
                        batch.actor.clone(),
                        next.hash,
                        e.event,
                    )
                }
                Line::Enveloped(r) => {
                    let expected = next.seq + 1;
                    if r.seq != expected {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `seq`: seq {} does not continue this ledger (its next seq is {expected})", r.seq),
                        });
                    }
                    if r.prev_hash != next.hash {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `prev_hash`: seq {} does not link to this ledger's last hash {}", r.seq, next.hash),
                        });
                    }
                    if r.compute_hash() != r.hash {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `hash`: seq {} was altered: its content hashes to {}, not {}", r.seq, r.compute_hash(), r.hash),
                        });
                    }
                    r
                }
            };
            next = Head {
                seq: record.seq,
                hash: record.hash,
                max_recorded_at: next.max_recorded_at,
            };
            batch_ids.insert(record.id, out.len());
            out.push((line, record));
        }
        if let Some((a, b)) = out.first().zip(out.last()) {
            report.stored = Some((a.1.seq, b.1.seq));
        }
        Ok((out, report))
    }

    /// One atomic sled batch for every accepted record, then durability.
    fn write(
        &mut self,
        accepted: &[Accepted],
        head: Head,
        wall: Option<Day>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        // The group's batches have consecutive seqs and go in one atomic `apply_batch`, so
        // they share chunks: 256 single-event batches make one chunk, not 256.
        let records: Vec<&Record> = accepted.iter().flat_map(|a| &a.records).collect();
        for chunk in records.chunks(CHUNK_RECORDS) {
            batch.insert(&rec_key(chunk[0].seq), encode_chunk(chunk));
            batch.insert(&summary_key(chunk[0].seq), &encode_summary(chunk));
        }
        let entries = records.iter().map(|r| (*r.id.as_bytes(), r.seq)).collect();
        let run = match self.ids.add_run(&self.db, &mut batch, entries) {
            Ok(run) => run,
            Err(e) => return Err(self.write_failed(e)),
        };
        let who_run = match self.write_who(&mut batch, &records, head.seq) {
            Ok(run) => run,
            Err(e) => return Err(self.write_failed(e)),
        };
        for a in accepted {
            match (a.fingerprint, a.records.first(), a.records.last()) {
                // A batch of bare events: one recording instant, its fingerprint known.
                (Some(f), Some(first), Some(last)) => {
                    let b = StoredBatch {
                        first_seq: first.seq,
                        last_seq: last.seq,
                        recorded_at: first.recorded_at,
                    };
                    batch.insert(&batch_key(&f)[..], &b.encode()[..]);
                }
                _ => {
                    for (k, b) in batch_entries(&a.records) {
                        batch.insert(&k[..], &b.encode()[..]);
                    }
                }
            }
        }
        batch.insert(HEAD_KEY, head.encode());
        if wall != self.wall {
            if let Some(w) = wall {
                batch.insert(WALL_KEY, &w.days_from_ce().to_le_bytes());
            }
        }
        let stored = self
            .db
            .apply_batch(batch)
            .map_err(StoreError::from)
            .and_then(|()| self.make_durable());
        if let Err(e) = stored {
            return Err(self.write_failed(e));
        }
        self.ids.commit(run);
        self.commit_who(who_run, head.seq);
        // Acknowledged once the head file says so: a crash before this leaves a whole batch
        // that the next open keeps (it chains from the recorded head).
        let acked = Acked {
            head,
            wall,
            failed_after: false,
        };
        if let Err(e) = self.record_head(&acked, Sync::Soon) {
            return Err(StoreError::Io(format!(
                "the batch reached the log, but recording its acknowledgement in {} failed ({}): it is not acknowledged, and the next open keeps it only if it is there whole",
                self.path.join(headfile::FILE_NAME).display(),
                match e {
                    StoreError::Io(m) => m,
                    other => other.to_string(),
                }
            )));
        }
        Ok(())
    }

    /// After sled or the fsyncs failed on an append: marks the ledger failed (no flush on
    /// drop, no further appends), records in the head file that the append failed (so the
    /// next open removes whatever sled wrote of it, even a whole batch), and says so.
    fn write_failed(&mut self, e: StoreError) -> StoreError {
        self.db.fail();
        let cause = match e {
            StoreError::Io(m) => m,
            other => other.to_string(),
        };
        let void = Acked {
            head: self.head,
            wall: self.wall,
            failed_after: true,
        };
        let when = if cause.starts_with("no space") {
            "once space is freed"
        } else {
            "once the cause is removed"
        };
        match self.head_file.as_mut().map(|f| f.write(&void, Sync::Now)) {
            Some(Ok(())) => StoreError::Io(format!(
                "{cause}; the append was not stored: nothing of it will be visible (what reached sled's files is removed when the ledger is next opened), and the ledger is usable again {when} (seq {} is the last stored)",
                self.head.seq
            )),
            _ => StoreError::Io(format!(
                "{cause}; the append was not acknowledged (and recording that failed too): the next open keeps it only if it reached the log whole; the ledger is usable again {when}"
            )),
        }
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

/// The key of [`IndexDigest`]'s hash: random for each process, so no stored bytes can be
/// made to cancel out.
type IndexKey = [std::collections::hash_map::RandomState; 2];

/// An order-independent digest of a set of (id, seq) pairs: their number and the wrapping
/// sum of a keyed 128-bit hash of each. The records' and the id index's agree when the index
/// maps every record's id to its seq and holds nothing else (but for a 2^-128 chance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IndexDigest {
    /// Pairs added, and malformed entries.
    entries: u64,
    /// Entries that name no (id, seq).
    malformed: u64,
    /// The sum of the pairs' keyed hashes.
    sum: u128,
}

impl IndexDigest {
    fn key() -> IndexKey {
        [Default::default(), Default::default()]
    }

    fn pair_hash(key: &IndexKey, id: &Uuid, seq: u64) -> u128 {
        use std::hash::{BuildHasher as _, Hasher as _};
        let half = |k: &std::collections::hash_map::RandomState| {
            let mut h = k.build_hasher();
            h.write(id.as_bytes());
            h.write_u64(seq);
            h.finish()
        };
        u128::from(half(&key[0])) << 64 | u128::from(half(&key[1]))
    }

    fn add(&mut self, key: &IndexKey, id: &Uuid, seq: u64) {
        self.entries += 1;
        self.sum = self.sum.wrapping_add(Self::pair_hash(key, id, seq));
    }

    /// Takes back a pair [`IndexDigest::add`] added.
    fn remove(&mut self, key: &IndexKey, id: &Uuid, seq: u64) {
        self.entries -= 1;
        self.sum = self.sum.wrapping_sub(Self::pair_hash(key, id, seq));
    }

    /// Whether `self`, the index's entries below some seq (and every malformed one), agrees
    /// with `records`, the records' below it.
    fn agrees_before(&self, records: &IndexDigest) -> bool {
        self.malformed == 0 && self.entries == records.entries && self.sum == records.sum
    }
}

fn decode_chunk(k: &[u8], v: &[u8]) -> Vec<Result<Record, StoreError>> {
    let first = be_u64(k.get(1..).unwrap_or_default()).unwrap_or(0);
    chunk::decode_chunk(first, v)
}

/// A time-ordered (v7) id from the append's instant: the id index then grows at its end.
///
/// The context adds a counter within a millisecond, so a batch's ids are strictly increasing
/// too: every id-index insert then lands at the right edge of sled's tree.
fn new_id(context: &std::sync::Mutex<uuid::ContextV7>, now: Instant) -> Uuid {
    // A poisoned lock only means another append panicked; the counter is still good.
    let context = context
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let context = &*context;
    let nanos = now.nanos();
    let secs = nanos.div_euclid(1_000_000_000) as u64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    Uuid::new_v7(uuid::Timestamp::from_unix(context, secs, sub))
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
