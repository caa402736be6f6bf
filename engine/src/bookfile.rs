//! The book file (issue 15): where the latest *accounts checkpoint* (`checkpoints.rs`: a
//! lean book's periodic checkpoint) keeps its accounts — its global part and employee
//! blocks, what a *lean* acceptance book is put together from (`acceptance.rs`) — in the
//! file `book` of the ledger directory, beside the log, instead of in sled. Its holdings
//! are another checkpoint's, in sled; every other checkpoint keeps all its parts in sled.
//!
//! Why not sled: every payday append starts from that checkpoint, and reading its parts out
//! of sled cost ~16 ms of a ~100 ms payday at 10,000 employees (158 parts of ~24 KiB whose
//! keys are content hashes, spread over ~115 leaves: 14 MB read, each value copied out);
//! and storing them (~3.8 MB every third payday, the previous ones removed) was most of what
//! sled's cleaner had to relocate. First kept as a copy beside sled's, the file made the
//! ledger grow from ~235 to 300–370 MB at 1M events: the cleaner relocates cheaply only the
//! pages a process has read, and the append no longer read those. Here the file is the same
//! bytes in one piece, read beside sled's open and decoded as they come.
//!
//! It is a cache like any checkpoint, never an answer. It names its checkpoint (seq and the
//! SHA-256 of its stored header) and each part's SHA-256. The append's load decodes it
//! whole, each part checked against its hash before it is decoded, when it names the very
//! checkpoint the load starts from, part for part ([`KeptBook::holds`]); any other reader
//! finds a part there by its hash when sled has none ([`PartIndex`], `Ledger::part`). Torn,
//! altered, of another version, or gone: that checkpoint's parts are missing, and it is
//! unusable like any checkpoint with a part missing (deleted when found, rebuilt by the
//! next append; the book folded from the checkpoint before it). `verify` compares it with
//! its checkpoint. An `espp` from before the file treats it as such a lost checkpoint.
//!
//! Written when an accounts checkpoint is stored, without an fsync (checkpoints are flushed,
//! not synced): to `book.new`, renamed over `book` (when it cannot be written, the parts go
//! to sled as before). It is read before the ledger is locked, on a thread beside sled's
//! open: another writer can only replace it whole (the rename), and what was read is
//! matched against the stored checkpoint once the lock is held.
//!
//! Layout: `esppbook`, format version (u8), fold version (u32), the checkpoint's seq (u64)
//! and header SHA-256 (32 bytes), the number of employee blocks (u32), then each part (the
//! global part first, then the blocks in order) as its length (u32), SHA-256 (32) and
//! bytes. Integers little-endian.

use std::io::{Read as _, Write as _};
use std::path::Path;

use super::checkpoints::sha;
use super::{Ledger, StoreError};
use espp_events::Hash;
use espp_projections::parts::EncodedParts;
use espp_projections::State;
use espp_replay::{Header, FOLD_VERSION};

/// The file's name in the ledger directory.
pub(super) const FILE_NAME: &str = "book";
const TEMP_NAME: &str = "book.new";
const MAGIC: &[u8; 8] = b"esppbook";
const VERSION: u8 = 1;
/// The bytes before the first part.
const HEAD_LEN: usize = 8 + 1 + 4 + 8 + 32 + 4;
/// The bytes before a part's own: its length and hash.
const PART_HEAD_LEN: usize = 4 + 32;

/// What the file's head says: the checkpoint it names (seq, header SHA-256) and the number
/// of employee blocks. None when it is not this format's and fold version's.
fn read_head(head: &[u8]) -> Option<(u64, Hash, u32)> {
    let mut c = Cursor(head);
    if c.take(MAGIC.len())? != MAGIC || c.array::<1>()? != [VERSION] {
        return None;
    }
    if c.u32()? != FOLD_VERSION {
        return None;
    }
    Some((c.u64()?, Hash(c.array()?), c.u32()?))
}

/// What a part's head says: the length of its bytes and their SHA-256.
fn read_part_head(head: &[u8]) -> Option<(u32, Hash)> {
    let mut c = Cursor(head);
    Some((c.u32()?, Hash(c.array()?)))
}

/// The SHA-256 of a checkpoint's stored header: how the file names its checkpoint.
fn header_sha(h: &Header) -> Hash {
    sha(&h.encode())
}

/// A checkpoint's accounts read back from the file, decoded: the state a lean book starts
/// from, once [`KeptBook::holds`] says they are that checkpoint's.
pub struct KeptBook {
    seq: u64,
    header_sha: Hash,
    /// Each part's hash, as checked before it was decoded: the global part's, then the
    /// employee blocks'.
    hashes: Vec<Hash>,
    state: State,
}

impl std::fmt::Debug for KeptBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptBook")
            .field("seq", &self.seq)
            .field("parts", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

/// Reads the layout's fields in order, each bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

impl KeptBook {
    /// The book file of the ledger directory `dir`, decoded: None when there is none, or it
    /// is of another format or fold version, a part is torn or altered, or it does not
    /// decode.
    pub fn read(dir: &Path) -> Option<KeptBook> {
        KeptBook::read_of(dir, None)
    }

    /// [`KeptBook::read`], not decoded unless the file names checkpoint `of` (when given).
    pub(super) fn read_of(dir: &Path, of: Option<&Header>) -> Option<KeptBook> {
        let file = std::fs::File::open(dir.join(FILE_NAME)).ok()?;
        let size = file.metadata().ok()?.len();
        let mut left = size;
        let mut r = std::io::BufReader::with_capacity(64 << 10, file);
        let mut read = |n: usize| -> Option<Vec<u8>> {
            left = left.checked_sub(u64::try_from(n).ok()?)?;
            let mut buf = vec![0; n];
            r.read_exact(&mut buf).ok()?;
            Some(buf)
        };
        let (seq, named, blocks) = read_head(&read(HEAD_LEN)?)?;
        let blocks = usize::try_from(blocks).ok()?;
        if of.is_some_and(|h| h.seq != seq || header_sha(h) != named) {
            return None;
        }
        // A count the file cannot hold (each part takes 36 bytes and more) is damage: not
        // taken as room to reserve for the decode.
        if u64::try_from(blocks)
            .ok()?
            .checked_add(1)?
            .checked_mul(PART_HEAD_LEN as u64)?
            > size
        {
            return None;
        }
        // The parts are read one at a time (each buffer freed before the next is read, so
        // malloc hands the same memory back: the file's 3.8 MB at 10,000 employees are
        // never all in fresh pages), each checked against its hash before it is decoded;
        // the first that fails (or is missing) ends the stream, and the decode then fails.
        let mut hashes = Vec::new();
        let mut whole = true;
        let parts = std::iter::from_fn(|| {
            let part = (|| {
                let (len, hash) = read_part_head(&read(PART_HEAD_LEN)?)?;
                let bytes = read(usize::try_from(len).ok()?)?;
                (sha(&bytes) == hash).then_some((hash, bytes))
            })();
            match part {
                Some((hash, bytes)) => {
                    hashes.push(hash);
                    Some(bytes)
                }
                None => {
                    whole = false;
                    None
                }
            }
        })
        .take(blocks.checked_add(1)?);
        let state = State::from_part_stream((blocks, 0, 0), parts).ok()?;
        (whole && left == 0 && hashes.len() == blocks + 1).then_some(KeptBook {
            seq,
            header_sha: named,
            hashes,
            state,
        })
    }

    /// Whether these are checkpoint `h`'s accounts: it is the checkpoint the file names,
    /// and each part has the hash `h` names it by.
    pub(super) fn holds(&self, h: &Header) -> bool {
        let named = std::iter::once(&h.parts.global).chain(h.parts.employees.iter().map(|e| &e.1));
        self.seq == h.seq
            && self.hashes.len() == h.parts.employees.len() + 1
            && self.hashes.iter().eq(named)
            && self.header_sha == header_sha(h)
    }

    /// The decoded state (the checkpoint's, without its holdings).
    pub(super) fn into_state(self) -> State {
        self.state
    }
}

/// What `verify` finds of the book file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookFileCheck {
    /// The checkpoint it names, when it could be read.
    pub seq: Option<u64>,
    /// Why the next append will not use it: None when it holds the accounts of the stored
    /// checkpoint it names (which `verify` compares with the fold).
    pub problem: Option<String>,
    /// It names a stored checkpoint, header and all, but its parts are not that
    /// checkpoint's though each matches its own hash: altered, not torn or stale (a book
    /// file is written with its checkpoint's own part hashes).
    pub disagrees: bool,
}

impl Ledger {
    /// `verify`'s look at the book file: None when there is none.
    pub fn check_book_file(&self) -> Result<Option<BookFileCheck>, StoreError> {
        if !self.path.join(FILE_NAME).exists() {
            return Ok(None);
        }
        let Some(kept) = KeptBook::read(&self.path) else {
            return Ok(Some(BookFileCheck {
                seq: None,
                problem: Some("torn, altered or of another version (ignored)".into()),
                disagrees: false,
            }));
        };
        let mut stored = None;
        for kv in self.checkpoints.scan_prefix([b'h']) {
            if let Ok(h) = Header::decode(&kv?.1) {
                if h.seq == kept.seq {
                    stored = Some(h);
                }
            }
        }
        let seq = kept.seq;
        let (problem, disagrees) = match stored {
            Some(h) if kept.holds(&h) => (None, false),
            Some(h) if header_sha(&h) == kept.header_sha => (
                Some(format!(
                    "its parts are not those of checkpoint {seq}, which it names (ignored)"
                )),
                true,
            ),
            _ => (
                Some(format!(
                    "stale: it names a checkpoint at seq {seq} that is no longer stored (ignored)"
                )),
                false,
            ),
        };
        Ok(Some(BookFileCheck {
            seq: Some(seq),
            problem,
            disagrees,
        }))
    }
}

/// Writes checkpoint `header`'s accounts (`parts`' global part and employee blocks, which
/// it names) to the ledger directory `dir`, replacing the file there. Not synced. A lean
/// checkpoint's `parts` hold only those; a whole one's holdings are left out.
pub(super) fn write(dir: &Path, header: &Header, parts: &EncodedParts) -> std::io::Result<()> {
    let named = &header.parts;
    if parts.employees.len() != named.employees.len() {
        return Err(std::io::Error::other("the parts are not the checkpoint's"));
    }
    let blocks = u32::try_from(parts.employees.len()).map_err(std::io::Error::other)?;
    let temp = dir.join(TEMP_NAME);
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&temp)?);
        out.write_all(MAGIC)?;
        out.write_all(&[VERSION])?;
        out.write_all(&FOLD_VERSION.to_le_bytes())?;
        out.write_all(&header.seq.to_le_bytes())?;
        out.write_all(&header_sha(header).0)?;
        out.write_all(&blocks.to_le_bytes())?;
        let all = std::iter::once((&named.global, &parts.global)).chain(
            named
                .employees
                .iter()
                .map(|e| &e.1)
                .zip(parts.employees.iter().map(|e| &e.1)),
        );
        for (hash, bytes) in all {
            let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(&hash.0)?;
            out.write_all(bytes)?;
        }
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&temp, dir.join(FILE_NAME))
    })();
    if written.is_err() {
        // No file rather than one naming an older checkpoint (which the load would pass
        // over anyway).
        let _ = std::fs::remove_file(&temp);
        let _ = std::fs::remove_file(dir.join(FILE_NAME));
    }
    written
}

/// Removes the book file of the ledger directory `dir`, if there is one.
pub(super) fn remove(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(FILE_NAME)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Where each part of the book file lies (its hash, offset and length), and the file.
#[derive(Debug, Default)]
pub(super) struct PartIndex {
    at: std::collections::HashMap<Hash, (u64, u32)>,
    file: Option<std::fs::File>,
}

impl PartIndex {
    /// The index of the book file of `dir` (empty when there is none or its head is not
    /// this format's): each part's head read where the one before says it ends.
    pub(super) fn read(dir: &Path) -> PartIndex {
        use std::os::unix::fs::FileExt as _;
        let mut index = PartIndex::default();
        let Ok(file) = std::fs::File::open(dir.join(FILE_NAME)) else {
            return index;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return index;
        };
        let mut head = [0u8; HEAD_LEN];
        if file.read_exact_at(&mut head, 0).is_err() || read_head(&head).is_none() {
            return index;
        }
        let mut at = HEAD_LEN as u64;
        let mut part = [0u8; PART_HEAD_LEN];
        while at < len && file.read_exact_at(&mut part, at).is_ok() {
            let Some((n, hash)) = read_part_head(&part) else {
                break;
            };
            let bytes_at = at + PART_HEAD_LEN as u64;
            if bytes_at + u64::from(n) > len {
                break;
            }
            index.at.insert(hash, (bytes_at, n));
            at = bytes_at + u64::from(n);
        }
        index.file = Some(file);
        index
    }

    /// Part `hash` read from the book file the index was read from: None when it has no
    /// such part, or its bytes cannot be read or are not the part (damaged since).
    pub(super) fn part(&self, hash: &Hash) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt as _;
        let (at, n) = *self.at.get(hash)?;
        let mut bytes = vec![0; usize::try_from(n).ok()?];
        self.file.as_ref()?.read_exact_at(&mut bytes, at).ok()?;
        (sha(&bytes) == *hash).then_some(bytes)
    }
}
