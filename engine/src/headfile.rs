//! The acknowledged head, kept outside sled's log in the file `head` of the ledger directory,
//! so that a log whose end vanished (sled takes a damaged last append for a torn write and
//! truncates there, the head key with it) is told from an intact one.
//!
//! Layout: two slots of [`SLOT_LEN`] bytes, at offset 0 and at offset 4096 (different
//! pages), each `espphead`, version, flags, generation, seq, hash, latest `recorded_at`,
//! wall, then the first 16 bytes of the SHA-256 of all that. An update overwrites the older
//! slot in place and `fdatasync`s: the file never grows after creation (so a full disk cannot
//! refuse an update on filesystems that overwrite in place), and a write torn by a crash can
//! only damage the slot being written, leaving the other (the previous head) readable.
//! Creation writes both slots to `head.new`, fsyncs it, renames it to `head` and fsyncs the
//! directory.

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

/// The open head file and the generation of its newest slot.
#[derive(Debug)]
pub(super) struct HeadFile {
    file: File,
    generation: u64,
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
        let first = decode(&bytes);
        let second = bytes.get(SECOND_SLOT as usize..).and_then(decode);
        let newest = match (first, second) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        match newest {
            Some((generation, acked)) => Ok(Some((HeadFile { file, generation }, acked))),
            None => Err(StoreError::Corrupt(format!(
                "{} is damaged (neither of its two copies reads back): the last acknowledged \
                 seq is unknown; if `espp verify` finds the log intact without it, move the \
                 file away to accept the log's own head",
                path.display()
            ))),
        }
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
        })
    }

    /// Records `acked` durably: the older slot is overwritten and the file `fdatasync`ed.
    pub(super) fn write(&mut self, acked: &Acked) -> Result<(), StoreError> {
        let generation = self.generation + 1;
        let offset = if generation.is_multiple_of(2) {
            SECOND_SLOT
        } else {
            0
        };
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(&encode(generation, acked))?;
        self.file.sync_data()?;
        self.generation = generation;
        Ok(())
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
            f.write(&acked(seq)).expect("write");
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
    fn no_file_is_none() {
        let dir = tempfile::tempdir().expect("a temp dir");
        assert!(HeadFile::open(dir.path()).expect("open").is_none());
    }
}
