//! Checkpoints beside the log: their headers and parts, taking them after an append, their
//! retention, and `verify`'s comparison of every checkpoint with a fold from scratch
//! (`checkpoints_verify.rs`). The folds that start from them are in `folds.rs`.
//!
//! Tree `checkpoints`: `h` + seq (big-endian) → [`Header`], `p` + a part's SHA-256 + piece
//! number (big-endian u32) → that piece of the part (see `espp_replay::checkpoint`): a part
//! is stored once whatever the number of checkpoints that name it, and removed when none
//! does. A checkpoint that does not decode, was made by another fold version, whose record
//! no longer has the hash it names, or one of whose parts is missing or altered is deleted
//! when found and rebuilt by the next append. (`s` + seq keys are the whole states of
//! format 2: removed when found.)
//!
//! Retention: every purchase checkpoint is kept (each is final, and they are what an as-of
//! query or a one-employee query starts from: a purchase needs every account, so the
//! one-employee path must start after the last purchase it folds), and only the latest
//! periodic one (what the latest state and the next append start from, with the latest
//! purchase one): an older periodic checkpoint is removed when a newer periodic one is
//! written. With
//! parts shared, what a checkpoint adds is mostly its employee blocks.

use espp_events::{Day, Hash, Record};
use espp_projections::parts::{EncodedParts, PartError};
use espp_projections::State;
use std::collections::HashSet;

use espp_replay::checkpoint::{
    decode_part_stream, encode_lean_parts, encode_parts, PartCache, STATE_PIECE_BYTES,
};
use espp_replay::{Header, Kind, OrderedFold, Query, FOLD_VERSION};

use super::{Hashed, Ledger, StoreError};
#[path = "checkpoints_verify.rs"]
mod verify;

fn key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The key prefix of a part's pieces: `p` + its hash.
fn part_prefix(hash: &Hash) -> [u8; 33] {
    let mut k = [b'p'; 33];
    k[1..].copy_from_slice(&hash.0);
    k
}

/// A stored part's bytes: sled's buffer when it is one piece, else the pieces joined.
pub(super) enum PartBytes {
    One(sled::IVec),
    Many(Vec<u8>),
}

impl PartBytes {
    pub(super) fn into_vec(self) -> Vec<u8> {
        match self {
            PartBytes::One(v) => v.to_vec(),
            PartBytes::Many(v) => v,
        }
    }
}

impl AsRef<[u8]> for PartBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            PartBytes::One(v) => v,
            PartBytes::Many(v) => v,
        }
    }
}

pub(super) fn sha(bytes: &[u8]) -> Hash {
    use sha2::Digest as _;
    Hash(sha2::Sha256::digest(bytes).into())
}

/// Whether a record needs every employee's account to fold: a purchase (allocation under
/// the caps), and a termination (which can execute the open period's purchase).
pub(super) fn needs_everyone(r: &Record) -> bool {
    matches!(
        r.event,
        espp_events::Event::Purchase { .. } | espp_events::Event::PlanTerminated { .. }
    )
}

/// Which thread of [`Ledger::verify_all_with`] hashes the records (tests).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOn {
    /// Whichever has time (what `verify` does).
    Shared,
    /// The reader, every record.
    Reader,
    /// The fold's, every record.
    Fold,
    /// The fold's the first chunk, the reader's the second, and so on.
    Alternate,
}

/// A checkpoint found by `verify`, and whether a fold from scratch agrees with it.
#[derive(Debug, Clone)]
pub struct CheckpointCheck {
    /// Its seq.
    pub seq: u64,
    /// Purchase or periodic.
    pub kind: Kind,
    /// None if the fold from scratch gives its digest; else what is wrong.
    pub problem: Option<String>,
    /// True when a current, decodable checkpoint of the intact log disagrees with a fold from
    /// scratch (a tampered cache or a non-deterministic fold); false when it is merely
    /// unusable (stale, another version, undecodable) and will be rebuilt.
    pub disagrees: bool,
}

impl Ledger {
    /// The usable checkpoints' headers in seq order; unusable ones are deleted.
    pub fn checkpoint_headers(&self) -> Result<Vec<Header>, StoreError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for kv in self.checkpoints.scan_prefix([b'h']) {
            let (k, v) = kv?;
            let seq = super::be_u64(&k[1..]).unwrap_or(0);
            match Header::decode(&v) {
                Ok(h)
                    if h.fold_version == FOLD_VERSION
                        && h.seq == seq
                        && self.hash_at(seq)? == Some(h.hash) =>
                {
                    out.push(h)
                }
                _ => bad.push(seq),
            }
        }
        let removed = !bad.is_empty();
        for seq in bad {
            self.delete_checkpoint(seq)?;
        }
        if removed {
            self.remove_orphan_pieces()?;
        }
        Ok(out)
    }

    fn hash_at(&self, seq: u64) -> Result<Option<espp_events::Hash>, StoreError> {
        Ok(self.record(seq)?.map(|r| r.hash))
    }

    /// Deletes checkpoint `seq`'s header; its parts go with
    /// [`Ledger::remove_orphan_pieces`] unless another checkpoint names them.
    fn delete_checkpoint(&self, seq: u64) -> Result<(), StoreError> {
        self.track(self.checkpoints.remove(key(b'h', seq)))?;
        Ok(())
    }

    /// Deletes the checkpoints of seqs after `seq` (records removed as never acknowledged).
    pub(super) fn drop_checkpoints_after(&self, seq: u64) -> Result<(), StoreError> {
        let mut beyond = Vec::new();
        for k in self.checkpoints.scan_prefix([b'h']).keys() {
            if let Some(s) = super::be_u64(&k?[1..]).filter(|s| *s > seq) {
                beyond.push(s);
            }
        }
        for s in beyond {
            self.delete_checkpoint(s)?;
        }
        self.remove_orphan_pieces()
    }

    /// A stored part's bytes, its pieces put back together: None if it is missing, Err if
    /// its bytes do not hash to its name (altered). A part of one piece (most: employee and
    /// lot blocks are ~25-60 KB) is sled's own buffer, not a copy.
    pub(super) fn part(&self, hash: &Hash) -> Result<Option<Result<PartBytes, ()>>, StoreError> {
        let mut one: Option<sled::IVec> = None;
        let mut out = Vec::new();
        let mut pieces = 0u32;
        for kv in self.checkpoints.scan_prefix(part_prefix(hash)) {
            let (k, v) = kv?;
            super::scanned(&self.checkpoints, &k);
            match (pieces, one.take()) {
                (0, _) => one = Some(v),
                (_, first) => {
                    if let Some(first) = first {
                        out.extend_from_slice(&first);
                    }
                    out.extend_from_slice(&v);
                }
            }
            pieces += 1;
        }
        let bytes = match (pieces, one) {
            // Not in sled: the latest accounts checkpoint's parts are in the book file.
            (0, _) => return Ok(self.book_part(hash).map(|b| Ok(PartBytes::Many(b)))),
            (_, Some(v)) => PartBytes::One(v),
            (_, None) => PartBytes::Many(out),
        };
        Ok(Some(if sha(bytes.as_ref()) == *hash {
            Ok(bytes)
        } else {
            Err(())
        }))
    }

    /// Part `hash` from the book file (`bookfile.rs`): None when it holds no such part.
    fn book_part(&self, hash: &Hash) -> Option<Vec<u8>> {
        self.book_parts()
            .get_or_insert_with(|| super::bookfile::PartIndex::read(&self.path))
            .part(hash)
    }

    /// The book file's index, read once a process (None until then, and again once this
    /// process rewrites the file).
    fn book_parts(&self) -> std::sync::MutexGuard<'_, Option<super::bookfile::PartIndex>> {
        self.book_parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every part of checkpoint `h`, in its list's order (None if any is missing or
    /// altered).
    fn state_parts(&self, h: &Header) -> Result<Option<Vec<PartBytes>>, StoreError> {
        let mut out = Vec::new();
        for hash in h.parts.all() {
            match self.part(hash)? {
                Some(Ok(v)) => out.push(v),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Stores a part unless it is stored already. Pieces are written last first: piece 0
    /// present means the part was written whole (and reading checks its hash anyway).
    fn put_part(&self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        let prefix = part_prefix(hash);
        let mut first = prefix.to_vec();
        first.extend_from_slice(&0u32.to_be_bytes());
        if self.track(self.checkpoints.contains_key(&first))? {
            return Ok(());
        }
        let pieces: Vec<&[u8]> = if bytes.is_empty() {
            vec![bytes]
        } else {
            bytes.chunks(STATE_PIECE_BYTES).collect()
        };
        for (i, piece) in pieces.iter().enumerate().rev() {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&(i as u32).to_be_bytes());
            self.track(self.checkpoints.insert(k, *piece))?;
        }
        Ok(())
    }

    /// Deletes every checkpoint (they are a cache: no answer changes).
    pub fn clear_checkpoints(&self) -> Result<(), StoreError> {
        self.track(self.checkpoints.clear())?;
        self.track(self.checkpoints.flush())?;
        // The book file names a checkpoint no longer stored (the next load would pass over
        // it): gone with them.
        super::bookfile::remove(&self.path)?;
        Ok(())
    }

    /// Checkpoint `h`'s whole state, each part decoded as it is read (the parts' bytes are
    /// never all held: ~100 MB at 100,000 employees). None (and the checkpoint deleted) if
    /// a part is missing, altered or undecodable.
    ///
    /// The parts are read (and their hashes checked) on a thread of their own, a few parts
    /// ahead of this one, which decodes them: reading was a third of loading a checkpoint
    /// and decoding the rest, one after the other on one core (issue 15, `state` latest).
    pub(super) fn checkpoint_state(&self, h: &Header) -> Result<Option<State>, StoreError> {
        /// Parts read ahead of the decoder: a few employee or lot blocks (~25-60 KB each).
        const AHEAD: usize = 4;
        let mut io: Option<StoreError> = None;
        let mut unusable = false;
        let (tx, rx) = std::sync::mpsc::sync_channel::<
            Result<Option<Result<PartBytes, ()>>, StoreError>,
        >(AHEAD);
        let state = std::thread::scope(|s| {
            s.spawn(move || {
                for hash in h.parts.all() {
                    let part = self.part(hash);
                    let last = !matches!(part, Ok(Some(Ok(_))));
                    // The decoder gone (it stopped at a bad part): nothing more to read.
                    if tx.send(part).is_err() || last {
                        break;
                    }
                }
            });
            // The receiver is moved into the stream: dropped when the decoder returns, so a
            // reader blocked on a full channel after a bad part ends.
            let parts = rx.into_iter().map_while(|part| match part {
                Ok(Some(Ok(v))) => Some(v),
                Ok(_) => {
                    unusable = true;
                    None
                }
                Err(e) => {
                    io = Some(e);
                    None
                }
            });
            decode_part_stream(
                h.parts.employees.len(),
                h.parts.lots.len(),
                h.parts.purchases.len(),
                parts,
            )
        });
        if let Some(e) = io {
            return Err(e);
        }
        match state {
            Ok(s) if !unusable => Ok(Some(s)),
            _ => {
                self.delete_checkpoint(h.seq)?;
                self.remove_orphan_pieces()?;
                Ok(None)
            }
        }
    }

    /// Checkpoint `h`'s state as employee `id` sees it ([`State::for_employee`]): the
    /// global part, the employee's block and its lots' blocks only. None (and the checkpoint
    /// deleted) if one of them is missing, altered or undecodable.
    pub(super) fn employee_checkpoint_state(
        &self,
        h: &Header,
        id: &str,
    ) -> Result<Option<State>, StoreError> {
        let mut io: Option<StoreError> = None;
        let mut read = |hash: &Hash| -> Result<Vec<u8>, PartError> {
            match self.part(hash) {
                Ok(Some(Ok(v))) => Ok(v.into_vec()),
                Ok(_) => Err(PartError("missing or altered".into())),
                Err(e) => {
                    io = Some(e);
                    Err(PartError("unreadable".into()))
                }
            }
        };
        let state = (|| {
            let global = read(&h.parts.global)?;
            let block = match h.parts.block_of(id) {
                Some(i) => Some(read(&h.parts.employees[i].1)?),
                None => None,
            };
            let lots = &h.parts.lots;
            State::for_employee(&global, block.as_deref(), id, &mut |i| {
                let hash = lots
                    .get(i)
                    .ok_or_else(|| PartError(format!("no lot block {i}")))?;
                read(hash)
            })
        })();
        if let Some(e) = io {
            return Err(e);
        }
        match state {
            Ok(s) => Ok(Some(s)),
            Err(_) => {
                self.delete_checkpoint(h.seq)?;
                self.remove_orphan_pieces()?;
                Ok(None)
            }
        }
    }

    /// Stores checkpoint `header` with its `parts`. An accounts checkpoint
    /// (`accounts_in_book`: a lean book's, whose parts are only its global part and
    /// employee blocks) stores them in the book file instead of sled (`bookfile.rs`), when
    /// the file can be written; its holdings are stored already.
    fn put_checkpoint(
        &self,
        header: &Header,
        parts: EncodedParts,
        accounts_in_book: bool,
    ) -> Result<(), StoreError> {
        // One checkpoint a seq.
        self.delete_checkpoint(header.seq)?;
        // Parts first: a header without its parts is deleted as unusable when found.
        let in_book = accounts_in_book && {
            let written = super::bookfile::write(&self.path, header, &parts).is_ok();
            *self.book_parts() = None;
            written
        };
        let accounts = 1 + parts.employees.len();
        let all = std::iter::once(&parts.global)
            .chain(parts.employees.iter().map(|(_, b)| b))
            .chain(&parts.lots)
            .chain(&parts.purchases)
            .chain(&parts.dispositions);
        for (hash, bytes) in header
            .parts
            .all()
            .zip(all)
            .skip(if in_book { accounts } else { 0 })
        {
            self.put_part(hash, bytes)?;
        }
        self.track(
            self.checkpoints
                .insert(key(b'h', header.seq), header.encode()),
        )?;
        Ok(())
    }

    /// Takes the checkpoints the book calls for: one at the latest purchase (when the wall
    /// moved, or none exists for it), and a periodic one every `checkpoint_every` events —
    /// or, when the book is lean, once `accounts_checkpoint_after` events per employee were
    /// appended since the latest checkpoint (an *accounts checkpoint*, below).
    ///
    /// An accounts checkpoint (issue 15: a payday `append` refolded every record since the
    /// last purchase's checkpoint, ~30% of its CPU mid-period) is a periodic checkpoint of a
    /// lean book: only its global part and employee blocks are encoded and stored, and its
    /// holdings are named by the checkpoint the lean book came from (they are that one's,
    /// byte for byte: [`espp_replay::checkpoint::encode_lean_parts`]). It is an ordinary
    /// periodic checkpoint in every other way: the next process's lean book starts from it,
    /// `verify` compares it with a fold from scratch, and deleting it changes no answer. Its
    /// cost grows with the employees (~380 bytes each encoded, hashed and written), what it
    /// saves with the records it spares the next process: hence a threshold per employee
    /// (at 3, a payday of one event per employee writes one every third payday, and no
    /// process refolds more than about two paydays: measured against 2 and 4 in
    /// BENCHMARKS.md, writing one, ~3.8 MB at 10,000 employees, costs more CPU than
    /// refolding a payday). Only the latest periodic checkpoint is
    /// kept, so its predecessor's parts that no other checkpoint names are removed: by name,
    /// not by scanning every stored part as [`Ledger::remove_orphan_pieces`] does (that
    /// reads all of them; the next purchase checkpoint's scan still removes what a process
    /// killed mid-write left).
    pub(super) fn take_checkpoints(&mut self, wall_moved: bool) -> Result<(), StoreError> {
        if self.book.is_none() {
            return Ok(());
        }
        let headers = self.checkpoint_headers()?;
        let every = self.options.checkpoint_every;
        let last = headers.iter().map(|h| h.seq).max().unwrap_or(0);
        // The closed books a partial book's purchase left, encoded when it folded them.
        let closed = self.book.as_mut().and_then(|book| {
            let wall = book.wall();
            let closed = book.take_closed()?;
            let free = closed.free;
            let (header, parts) = Header::of_closed(
                self.head.seq,
                self.head.hash,
                wall,
                self.head.max_recorded_at,
                closed,
            );
            // The book's holdings are this checkpoint's while everything folded since folds
            // without them: dropped before it is stored (its parts are encoded already), so
            // the book is lean on it and they are not held through the rest of the append
            // (issue 15: at 100,000 employees after eight purchases, ~270 MB of lots and 60
            // of purchases beside the checkpoint's writes). Should storing it fail, the
            // ledger is failed, and a lean book whose checkpoint is missing is loaded whole.
            if free {
                book.drop_holdings();
            }
            Some((header, parts, free))
        });
        if let Some((header, _, true)) = &closed {
            self.lean = Some(header.clone());
        }
        let Some(book) = &self.book else {
            return Ok(());
        };
        let per = self.options.accounts_checkpoint_after;
        let accounts_due = self.lean.is_some() && per > 0 && {
            let employees = (book.state().employee_ids().count() as u64).max(1);
            self.head.seq >= last.saturating_add(per.saturating_mul(employees))
        };
        let mut wrote = false;
        let mut scan_orphans = false;
        // A partial book has no `closed` to write but what its purchase left (`closed`: its
        // wall moved then); else the whole book, loaded when the checkpoint is missing,
        // writes it.
        if let Some((header, parts, _)) = closed {
            self.put_checkpoint(&header, parts, false)?;
            wrote = true;
            scan_orphans = true;
        } else if let Some(wall) = book.wall().filter(|_| !book.is_partial()) {
            let have = headers
                .iter()
                .any(|h| h.kind == Kind::Purchase && h.wall == Some(wall));
            if wall_moved || !have {
                let (parts, list) = encode_parts(book.closed());
                let header = Header::new(
                    self.head.seq,
                    self.head.hash,
                    Kind::Purchase,
                    Some(wall),
                    book.tail_seqs(),
                    self.head.max_recorded_at,
                    book.closed(),
                    list,
                );
                self.put_checkpoint(&header, parts, false)?;
                wrote = true;
                scan_orphans = true;
            }
        }
        // Any checkpoint resets the cadence; and one seq holds one checkpoint (a purchase
        // checkpoint just written at the head is not overwritten by a periodic one).
        let last_periodic = headers
            .iter()
            .map(|h| h.seq)
            .chain(wrote.then_some(self.head.seq))
            .max()
            .unwrap_or(0);
        let periodic_due = every > 0 && self.head.seq >= last_periodic + every;
        if (periodic_due || accounts_due) && !wrote {
            // A lean book's periodic checkpoint is an accounts checkpoint (its holdings need
            // not be filled in: they are its checkpoint's); a whole one stores every part.
            let (parts, list) = match &self.lean {
                Some(base) => encode_lean_parts(book.state(), &base.parts),
                None => encode_parts(book.state()),
            };
            scan_orphans |= self.lean.is_none();
            let header = Header::new(
                self.head.seq,
                self.head.hash,
                Kind::Periodic,
                None,
                Vec::new(),
                self.head.max_recorded_at,
                book.state(),
                list,
            );
            self.put_checkpoint(&header, parts, self.lean.is_some())?;
            wrote = true;
            // Retention (see the module's documentation): one periodic checkpoint.
            let (gone, kept): (Vec<&Header>, Vec<&Header>) = headers
                .iter()
                .filter(|h| h.seq != header.seq)
                .partition(|h| h.kind == Kind::Periodic);
            for h in &gone {
                self.delete_checkpoint(h.seq)?;
            }
            if !scan_orphans {
                self.remove_parts_of(&gone, kept.into_iter().chain([&header]))?;
            }
        }
        if wrote {
            if scan_orphans {
                self.remove_orphan_pieces()?;
            }
            // A cache: flushed, not fsynced; a lost checkpoint is rebuilt.
            self.track(self.checkpoints.flush())?;
        }
        Ok(())
    }

    /// Removes the parts of the checkpoints `gone` (deleted) that none of `kept` names.
    fn remove_parts_of<'a>(
        &self,
        gone: &[&Header],
        kept: impl IntoIterator<Item = &'a Header>,
    ) -> Result<(), StoreError> {
        let named: HashSet<&Hash> = kept.into_iter().flat_map(|h| h.parts.all()).collect();
        let unnamed: HashSet<&Hash> = gone
            .iter()
            .flat_map(|h| h.parts.all())
            .filter(|hash| !named.contains(hash))
            .collect();
        for hash in unnamed {
            for k in self.checkpoints.scan_prefix(part_prefix(hash)).keys() {
                self.track(self.checkpoints.remove(k?))?;
            }
        }
        Ok(())
    }

    /// Removes the parts no checkpoint names any more (a checkpoint deleted, a process
    /// killed between writing the parts and the header), and format 2's whole states:
    /// nothing else would.
    fn remove_orphan_pieces(&self) -> Result<(), StoreError> {
        let mut named: std::collections::HashSet<Hash> = std::collections::HashSet::new();
        for v in self.checkpoints.scan_prefix([b'h']).values() {
            if let Ok(h) = Header::decode(&v?) {
                named.extend(h.parts.all().copied());
            }
        }
        for k in self.checkpoints.scan_prefix([b's']).keys() {
            self.track(self.checkpoints.remove(k?))?;
        }
        for k in self.checkpoints.scan_prefix([b'p']).keys() {
            let k = k?;
            let name = k
                .get(1..33)
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .map(Hash);
            if name.is_none_or(|h| !named.contains(&h)) {
                self.track(self.checkpoints.remove(k))?;
            }
        }
        Ok(())
    }
}
