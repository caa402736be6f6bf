//! The acknowledged head, kept outside sled's log in the file `head` of the ledger directory,
//! so that a log whose end vanished (sled takes a damaged last append for a torn write and
//! truncates there, the head key with it) is told from an intact one.
//!
//! Layout: two slots of [`SLOT_LEN`] bytes, at offset 0 and at offset 4096 (different
//! pages), each `espphead`, version, flags, generation, seq, hash, latest `recorded_at`,
//! wall, then the first 16 bytes of the SHA-256 of all that. Reading takes the intact slot
//! of the highest generation. An update overwrites a slot in place: the file never grows
//! after creation (so a full disk cannot refuse an update on filesystems that overwrite in
//! place). Creation writes both slots to `head.new`, fsyncs it, renames it to `head` and
//! fsyncs the directory.
//!
//! When an update is made durable ([`Sync`]): at once for a failure mark and for repairs on
//! opening; for appends, at most once per [`SYNC_EVERY`] (the first append after that long)
//! and when the ledger is closed, because a second `fdatasync` on every append made
//! single-event appends several times slower on ext4 (BENCHMARKS.md). That is safe: the head
//! file is only ever written after sled's write is durable, so a head file that lags (a crash
//! or power cut before its update reached the disk) only makes the next open find a whole
//! batch beyond it in sled's log and keep it, as after any crash. What the lag costs is
//! detection: a loss of the log's tail within that window (physical damage at the same moment
//! as the crash) is not told from a crash. At most one slot is ever unsynced (an update while
//! one is pending overwrites that same slot), so a crash that tears it leaves the other slot,
//! synced, readable.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use espp_events::{Day, Hash, Instant};
use sha2::Digest as _;

use super::{sync_dir, Head, StoreError};

/// The file's name in the ledger directory.
pub(super) const FILE_NAME: &str = "head";
const TEMP_NAME: &str = "head.new";
const SLOT_LEN: usize = 96;
const SECOND_SLOT: u64 = 4096;
const MAGIC: &[u8; 8] = b"espphead";
const VERSION: u8 = 1;
const FLAG_FAILED_AFTER: u8 = 1;
const NO_INSTANT: i64 = i64::MIN;
const NO_DAY: i32 = i32::MIN;

/// What was last acknowledged, as the head file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Acked {
    /// The last acknowledged record (seq, hash, latest `recorded_at`).
    pub head: Head,
    /// The latest purchase's day (closed books) at that head.
    pub wall: Option<Day>,
    /// An append after this head failed and was reported as failed: whatever sled holds
    /// beyond the head is void, even a batch that came back whole.
    pub failed_after: bool,
}

/// How long an append's head update may stay unsynced (see the module's doc).
pub(super) const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// When a head update is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sync {
    /// Before `write` returns.
    Now,
    /// At once if the last sync is [`SYNC_EVERY`] old, else with a later update or on close.
    Soon,
}

/// The open head file: the generation of its newest slot and where that slot is.
#[derive(Debug)]
pub(super) struct HeadFile {
    file: File,
    generation: u64,
    /// The offset of the slot holding `generation`.
    newest: u64,
    /// Whether that slot was written after the last sync.
    pending: bool,
    last_sync: std::time::Instant,
}

fn encode(generation: u64, a: &Acked) -> [u8; SLOT_LEN] {
    let mut s = [0u8; SLOT_LEN];
    s[..8].copy_from_slice(MAGIC);
    s[8] = VERSION;
    s[9] = if a.failed_after { FLAG_FAILED_AFTER } else { 0 };
    s[16..24].copy_from_slice(&generation.to_le_bytes());
    s[24..32].copy_from_slice(&a.head.seq.to_le_bytes());
    s[32..64].copy_from_slice(&a.head.hash.0);
    let nanos = a.head.max_recorded_at.map_or(NO_INSTANT, Instant::nanos);
    s[64..72].copy_from_slice(&nanos.to_le_bytes());
    let days = a.wall.map_or(NO_DAY, Day::days_from_ce);
    s[72..76].copy_from_slice(&days.to_le_bytes());
    let sum = sha2::Sha256::digest(&s[..80]);
    s[80..96].copy_from_slice(&sum[..16]);
    s
}

fn decode(s: &[u8]) -> Option<(u64, Acked)> {
    let s = s.get(..SLOT_LEN)?;
    if &s[..8] != MAGIC || s[8] != VERSION {
        return None;
    }
    if sha2::Sha256::digest(&s[..80])[..16] != s[80..96] {
        return None;
    }
    let u64_at = |i: usize| s[i..i + 8].try_into().ok().map(u64::from_le_bytes);
    let generation = u64_at(16)?;
    let seq = u64_at(24)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&s[32..64]);
    let nanos = i64::from_le_bytes(s[64..72].try_into().ok()?);
    let max_recorded_at = if nanos == NO_INSTANT {
        None
    } else {
        Some(Instant::from_datetime(
            chrono::DateTime::from_timestamp_nanos(nanos),
        )?)
    };
    let days = i32::from_le_bytes(s[72..76].try_into().ok()?);
    let wall = if days == NO_DAY {
        None
    } else {
        Some(Day::from_date(
            chrono::NaiveDate::from_num_days_from_ce_opt(days)?,
        ))
    };
    Some((
        generation,
        Acked {
            head: Head {
                seq,
                hash: Hash(hash),
                max_recorded_at,
            },
            wall,
            failed_after: s[9] & FLAG_FAILED_AFTER != 0,
        },
    ))
}

/// The intact slot of the highest generation in the file's `bytes` (generation and what it
/// says), and its offset.
fn newest(bytes: &[u8]) -> Option<((u64, Acked), u64)> {
    let first = decode(bytes);
    let second = bytes.get(SECOND_SLOT as usize..).and_then(decode);
    match (first, second) {
        (Some(a), Some(b)) if b.0 > a.0 => Some((b, SECOND_SLOT)),
        (Some(a), _) => Some((a, 0)),
        (None, b) => b.map(|b| (b, SECOND_SLOT)),
    }
}

impl HeadFile {
    /// Opens the head file of the ledger at `dir`: None if there is none (a ledger made
    /// before the file existed, or a new one).
    pub(super) fn open(dir: &Path) -> Result<Option<(HeadFile, Acked)>, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::with_capacity(SECOND_SLOT as usize + SLOT_LEN);
        file.read_to_end(&mut bytes)?;
        match newest(&bytes) {
            Some(((generation, acked), newest)) => Ok(Some((
                HeadFile {
                    file,
                    generation,
                    newest,
                    pending: false,
                    last_sync: std::time::Instant::now(),
                },
                acked,
            ))),
            None => Err(StoreError::Corrupt(format!(
                "{} is damaged (neither of its two copies reads back): the last acknowledged \
                 seq is unknown; if `espp verify` finds the log intact without it, move the \
                 file away to accept the log's own head",
                path.display()
            ))),
        }
    }

    /// What the head file of `dir` says now, read without opening it for writing and without
    /// the ledger's lock: None if there is none or neither slot reads. For a guess made
    /// before the lock is held (`Batch::chain_ahead`), never for a decision.
    pub(super) fn peek(dir: &Path) -> Option<Acked> {
        let mut bytes = Vec::with_capacity(SECOND_SLOT as usize + SLOT_LEN);
        File::open(dir.join(FILE_NAME))
            .ok()?
            .read_to_end(&mut bytes)
            .ok()?;
        newest(&bytes).map(|((_, acked), _)| acked)
    }

    /// Creates the head file of `dir` holding `acked`, durably.
    pub(super) fn create(dir: &Path, acked: &Acked) -> Result<HeadFile, StoreError> {
        let temp = dir.join(TEMP_NAME);
        let slot = encode(1, acked);
        let mut bytes = vec![0u8; SECOND_SLOT as usize + SLOT_LEN];
        bytes[..SLOT_LEN].copy_from_slice(&slot);
        bytes[SECOND_SLOT as usize..].copy_from_slice(&slot);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        let path = dir.join(FILE_NAME);
        std::fs::rename(&temp, &path)?;
        sync_dir(dir)?;
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(HeadFile {
            file,
            generation: 1,
            newest: 0,
            pending: false,
            last_sync: std::time::Instant::now(),
        })
    }

    /// Records `acked`: over the newest slot if that one is not synced yet, else over the
    /// older one; made durable as `sync` says.
    pub(super) fn write(&mut self, acked: &Acked, sync: Sync) -> Result<(), StoreError> {
        let generation = self.generation + 1;
        let offset = match (self.pending, self.newest) {
            (true, newest) => newest,
            (false, 0) => SECOND_SLOT,
            (false, _) => 0,
        };
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(&encode(generation, acked))?;
        self.generation = generation;
        self.newest = offset;
        self.pending = true;
        if sync == Sync::Now || self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes the last update durable, if it is not yet.
    pub(super) fn sync(&mut self) -> Result<(), StoreError> {
        if self.pending {
            self.file.sync_data()?;
            self.pending = false;
            self.last_sync = std::time::Instant::now();
        }
        Ok(())
    }
}

impl Drop for HeadFile {
    fn drop(&mut self) {
        // The ledger is closed: its last head becomes durable. Failing here loses nothing
        // acknowledged (see the module's doc), and there is no one left to tell.
        let _ = self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(seq: u64) -> Acked {
        Acked {
            head: Head {
                seq,
                hash: Hash([seq as u8; 32]),
                max_recorded_at: Instant::parse("2026-01-15T09:30:00Z").ok(),
            },
            wall: Day::parse("2026-06-30").ok(),
            failed_after: seq % 2 == 1,
        }
    }

    #[test]
    fn the_newest_intact_slot_wins() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut f = HeadFile::create(dir.path(), &acked(1)).expect("create");
        for seq in 2..=5 {
            f.write(&acked(seq), Sync::Now).expect("write");
        }
        let (_, a) = HeadFile::open(dir.path())
            .expect("open")
            .expect("a head file");
        assert_eq!(a, acked(5));
        // Tear the newest slot (generation 5 is in the first slot): the previous head reads.
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[40] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write");
        let (_, a) = HeadFile::open(dir.path())
            .expect("open")
            .expect("a head file");
        assert_eq!(a, acked(4));
        // Both torn: damage, not a guess.
        bytes[SECOND_SLOT as usize + 40] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            HeadFile::open(dir.path()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn unsynced_updates_share_one_slot() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut f = HeadFile::create(dir.path(), &acked(1)).expect("create");
        f.write(&acked(2), Sync::Now).expect("write");
        // Unsynced updates land in one slot; the other keeps the last synced head (2).
        for seq in 3..=6 {
            f.write(&acked(seq), Sync::Soon).expect("write");
        }
        let path = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&path).expect("read");
        let seqs: Vec<u64> = [decode(&bytes), decode(&bytes[SECOND_SLOT as usize..])]
            .iter()
            .flatten()
            .map(|(_, a)| a.head.seq)
            .collect();
        assert!(seqs.contains(&2) && seqs.contains(&6), "{seqs:?}");
        drop(f);
        let (mut f, a) = HeadFile::open(dir.path())
            .expect("open")
            .expect("a head file");
        assert_eq!(a, acked(6));
        // After a sync the next update goes to the other slot.
        f.write(&acked(7), Sync::Now).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        let seqs: Vec<u64> = [decode(&bytes), decode(&bytes[SECOND_SLOT as usize..])]
            .iter()
            .flatten()
            .map(|(_, a)| a.head.seq)
            .collect();
        assert!(seqs.contains(&6) && seqs.contains(&7), "{seqs:?}");
    }

    #[test]
    fn no_file_is_none() {
        let dir = tempfile::tempdir().expect("a temp dir");
        assert!(HeadFile::open(dir.path()).expect("open").is_none());
    }
}
