//! Checkpoints: projection snapshots stored beside the log so that a query folds only from
//! the nearest one. They are a cache: deleting them changes no answer, and one that is stale
//! (its record's hash changed, or the fold's version did) or undecodable is ignored and
//! rebuilt, never trusted.
//!
//! Each checkpoint is a small [`Header`] (one format-version byte, then bincode 2.0.1, serde,
//! standard config) naming the [`State`]'s parts by their SHA-256 ([`PartList`]; the parts
//! are cut and encoded by `espp_projections::parts`). Parts are stored once whatever the
//! number of checkpoints naming them: the lots, purchases and dispositions that did not
//! change since the last checkpoint cost nothing again, and a query for one employee reads
//! the global part, one block of employees and its lots' blocks only. A purchase checkpoint
//! holds the state folded through the purchase's day (closed books make it final: nothing
//! can ever be dated on or before it again) and names the seqs stored before it but dated
//! after it; a periodic one holds the whole state at a seq.

use espp_events::{Day, EmployeeId, Hash, Instant};
use espp_projections::parts::EncodedParts;
use espp_projections::State;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::fold::Query;

/// The version byte written before every checkpoint value.
pub const CHECKPOINT_FORMAT_VERSION: u8 = 3;

/// A stored part is cut into pieces of at most this size, each its own sled value: sled
/// keeps up to 16 values in one leaf and rewrites a leaf whole, so a 200 MB state stored as
/// one value makes multi-gigabyte leaves (measured: 2.7 GB blob files on a
/// 10-million-event ledger).
pub const STATE_PIECE_BYTES: usize = 64 * 1024;

/// The version of the fold's results. Bump it whenever a change to `projections` can change
/// what a log folds to: checkpoints of another fold version are ignored and rebuilt.
pub const FOLD_VERSION: u32 = 5;

/// When a checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// After a purchase: the state through the purchase's day. Immutable (closed books).
    Purchase,
    /// Every N events: the whole state at a seq.
    Periodic,
}

/// What a checkpoint is, without its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The fold version that made it ([`FOLD_VERSION`]).
    pub fold_version: u32,
    /// The log was read through this seq for it.
    pub seq: u64,
    /// Record `seq`'s hash: if the log says otherwise, the checkpoint is stale.
    pub hash: Hash,
    /// Purchase or periodic.
    pub kind: Kind,
    /// For a purchase checkpoint: the purchase's day; records dated after it are not in it.
    pub wall: Option<Day>,
    /// Seqs up to `seq` not folded into the state (dated after the wall).
    pub left_out: Vec<u64>,
    /// The latest `recorded_at` of any record up to `seq` (a bound of what it folded).
    pub max_recorded_at: Option<Instant>,
    /// The latest day the state folded.
    pub day: Option<Day>,
    /// The state's parts, by their SHA-256.
    pub parts: PartList,
    /// SHA-256 of the part list's encoding: names the whole state (two checkpoints of the
    /// same state have the same one).
    pub state_sha256: Hash,
}

/// A state's parts (see `espp_projections::parts`), each named by the SHA-256 of its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartList {
    /// The global part.
    pub global: Hash,
    /// The employee blocks: each one's first employee id and its hash, in id order.
    pub employees: Vec<(EmployeeId, Hash)>,
    /// The lot blocks.
    pub lots: Vec<Hash>,
    /// One a purchase.
    pub purchases: Vec<Hash>,
    /// The disposition blocks.
    pub dispositions: Vec<Hash>,
}

fn sha(bytes: &[u8]) -> Hash {
    Hash(sha2::Sha256::digest(bytes).into())
}

impl PartList {
    /// The list naming `parts`.
    pub fn of(parts: &EncodedParts) -> PartList {
        PartList {
            global: sha(&parts.global),
            employees: parts
                .employees
                .iter()
                .map(|(id, b)| (id.clone(), sha(b)))
                .collect(),
            lots: parts.lots.iter().map(|b| sha(b)).collect(),
            purchases: parts.purchases.iter().map(|b| sha(b)).collect(),
            dispositions: parts.dispositions.iter().map(|b| sha(b)).collect(),
        }
    }

    /// Every part's hash, the global one first.
    pub fn all(&self) -> impl Iterator<Item = &Hash> + '_ {
        std::iter::once(&self.global)
            .chain(self.employees.iter().map(|(_, h)| h))
            .chain(&self.lots)
            .chain(&self.purchases)
            .chain(&self.dispositions)
    }

    /// The index of the employee block that would hold `id` (None if there is none).
    pub fn block_of(&self, id: &str) -> Option<usize> {
        let n = self
            .employees
            .partition_point(|(first, _)| first.as_str() <= id);
        n.checked_sub(1)
    }
}

/// Why stored checkpoint bytes are not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// No bytes.
    #[error("empty checkpoint value")]
    Empty,
    /// Written by a build with another format.
    #[error("checkpoint format version {0} is unknown to this build")]
    UnknownVersion(u8),
    /// Damaged bytes.
    #[error("checkpoint bytes do not decode: {0}")]
    Corrupt(String),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![CHECKPOINT_FORMAT_VERSION];
    if let Err(e) =
        bincode::serde::encode_into_std_write(value, &mut out, bincode::config::standard())
    {
        unreachable!("encoding a checkpoint into memory failed: {e}");
    }
    out
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CheckpointError> {
    let (&version, body) = bytes.split_first().ok_or(CheckpointError::Empty)?;
    if version != CHECKPOINT_FORMAT_VERSION {
        // No upcasting: a checkpoint is a cache, rebuilt from the log.
        return Err(CheckpointError::UnknownVersion(version));
    }
    let (v, used) = bincode::serde::decode_from_slice::<T, _>(body, bincode::config::standard())
        .map_err(|e| CheckpointError::Corrupt(e.to_string()))?;
    if used != body.len() {
        return Err(CheckpointError::Corrupt("trailing bytes".into()));
    }
    Ok(v)
}

impl Header {
    /// The header of a checkpoint of `state`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        seq: u64,
        hash: Hash,
        kind: Kind,
        wall: Option<Day>,
        left_out: Vec<u64>,
        max_recorded_at: Option<Instant>,
        state: &State,
        parts: PartList,
    ) -> Header {
        Header {
            state_sha256: sha(&encode(&parts)),
            parts,
            fold_version: FOLD_VERSION,
            seq,
            hash,
            kind,
            wall,
            left_out,
            max_recorded_at,
            day: state.day(),
        }
    }

    /// The header of the purchase checkpoint a partial book's purchase left
    /// ([`crate::Book::take_closed`]): the same as [`Header::new`] gives of the whole book's
    /// closed books and tail at `seq`. Returned with the parts to store.
    pub fn of_closed(
        seq: u64,
        hash: Hash,
        wall: Option<Day>,
        max_recorded_at: Option<Instant>,
        closed: crate::ClosedParts,
    ) -> (Header, EncodedParts) {
        let crate::ClosedParts {
            parts,
            list,
            day,
            left_out,
            ..
        } = closed;
        let header = Header {
            state_sha256: sha(&encode(&list)),
            parts: list,
            fold_version: FOLD_VERSION,
            seq,
            hash,
            kind: Kind::Purchase,
            wall,
            left_out,
            max_recorded_at,
            day,
        };
        (header, parts)
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Reads a stored header.
    pub fn decode(bytes: &[u8]) -> Result<Header, CheckpointError> {
        decode(bytes)
    }

    /// Whether a fold for `query` may start from this checkpoint: same fold version and
    /// rules, and nothing in it that the query leaves out.
    pub fn serves(&self, query: &Query) -> bool {
        self.fold_version == FOLD_VERSION
            && query.rules.is_none()
            && query.through_seq.is_none_or(|n| n >= self.seq)
            && query
                .known_at
                .is_none_or(|t| self.max_recorded_at.is_none_or(|m| m <= t))
            && query.as_of.is_none_or(|d| self.day.is_none_or(|f| f <= d))
    }
}

/// A part list as the header's `state_sha256` hashes it.
pub fn encode_part_list(list: &PartList) -> Vec<u8> {
    encode(list)
}

/// A state's parts, encoded, and their list (what the engine stores).
pub fn encode_parts(state: &State) -> (EncodedParts, PartList) {
    let parts = state.to_parts();
    let list = PartList::of(&parts);
    (parts, list)
}

/// A *lean* state's parts (see `State::fill_holdings`): its global part and employee
/// blocks encoded, and the list naming them with the holdings of `holdings_of`, the part
/// list of the checkpoint the lean state was put together from. Sound only where the lean
/// state is (every record folded since that checkpoint folds without holdings): then its
/// holdings are that checkpoint's, byte for byte, and the list is the one
/// [`encode_parts`] would give of the whole state (`verify` compares them so). The
/// holdings' parts are stored already: the returned parts hold none.
pub fn encode_lean_parts(state: &State, holdings_of: &PartList) -> (EncodedParts, PartList) {
    use espp_projections::parts::PartKind;
    let mut parts = EncodedParts::default();
    let mut list = PartList {
        lots: holdings_of.lots.clone(),
        purchases: holdings_of.purchases.clone(),
        dispositions: holdings_of.dispositions.clone(),
        ..PartList::default()
    };
    state.each_account_part(&mut |kind, bytes| match kind {
        PartKind::Global => {
            list.global = sha(bytes);
            parts.global = bytes.to_vec();
        }
        PartKind::Employees(first) => {
            list.employees.push((first.clone(), sha(bytes)));
            parts.employees.push((first.clone(), bytes.to_vec()));
        }
        PartKind::Lots | PartKind::Purchase | PartKind::Dispositions => {}
    });
    (parts, list)
}

impl PartList {
    /// Names the next part the state's encoding gives, of `kind`, by the hash of `bytes`.
    fn name(&mut self, kind: espp_projections::parts::PartKind<'_>, bytes: &[u8]) {
        use espp_projections::parts::PartKind;
        let h = sha(bytes);
        match kind {
            PartKind::Global => self.global = h,
            PartKind::Employees(first) => self.employees.push((first.clone(), h)),
            PartKind::Lots => self.lots.push(h),
            PartKind::Purchase => self.purchases.push(h),
            PartKind::Dispositions => self.dispositions.push(h),
        }
    }
}

/// The list naming a state's parts: what `encode_parts(state).1` gives, each part hashed as
/// it is encoded into one buffer rather than all of them held (`verify`'s comparison).
pub fn part_list(state: &State) -> PartList {
    let mut list = PartList::default();
    state.each_part(&mut |kind, bytes| list.name(kind, bytes));
    list
}

/// [`part_list`] for states passed one after another, remembering the hashes of the
/// holdings' parts that cannot have changed since (see `espp_projections::HoldingsMark`):
/// `verify` names the fold's state at every checkpoint, and the lots of earlier purchases,
/// the purchases and full disposition blocks are most of what it would encode again.
#[derive(Debug, Default)]
pub struct PartCache {
    /// The mark of the state last named, and the hashes of its settled holdings' parts.
    settled: Option<(u64, PartList)>,
}

impl PartCache {
    /// The list naming `state`'s parts: what [`part_list`] gives.
    pub fn list(&mut self, state: &State) -> PartList {
        use espp_projections::parts::Known;
        let mark = state.holdings_mark().known();
        let mut list = PartList::default();
        let mut known = Known::default();
        if let (Some(m), Some((was, settled))) = (mark, &self.settled) {
            if *was == m {
                // Only the settled parts: the state's own settled count bounds them (its
                // holdings only grew since: never fewer).
                let now = state.settled_holdings();
                known = Known {
                    lot_blocks: settled.lots.len().min(now.lot_blocks),
                    purchases: settled.purchases.len().min(now.purchases),
                    disposition_blocks: settled.dispositions.len().min(now.disposition_blocks),
                };
                list.lots
                    .extend_from_slice(&settled.lots[..known.lot_blocks]);
                list.purchases
                    .extend_from_slice(&settled.purchases[..known.purchases]);
                list.dispositions
                    .extend_from_slice(&settled.dispositions[..known.disposition_blocks]);
            }
        }
        state.each_part_but(known, &mut |kind, bytes| list.name(kind, bytes));
        self.settled = mark.map(|m| {
            let now = state.settled_holdings();
            let settled = PartList {
                lots: list.lots[..now.lot_blocks.min(list.lots.len())].to_vec(),
                purchases: list.purchases[..now.purchases.min(list.purchases.len())].to_vec(),
                dispositions: list.dispositions
                    [..now.disposition_blocks.min(list.dispositions.len())]
                    .to_vec(),
                ..PartList::default()
            };
            (m, settled)
        });
        list
    }
}

/// The whole state from its parts' bytes, each in [`PartList`] order: the global part, the
/// employee blocks, the lot blocks, the purchases, the disposition blocks.
pub fn decode_parts(list: &PartList, parts: &[Vec<u8>]) -> Result<State, CheckpointError> {
    decode_counted(
        list.employees.len(),
        list.lots.len(),
        list.purchases.len(),
        parts,
    )
}

fn decode_counted(
    e: usize,
    l: usize,
    p: usize,
    parts: &[Vec<u8>],
) -> Result<State, CheckpointError> {
    let enough = 1usize
        .checked_add(e)
        .and_then(|n| n.checked_add(l))
        .and_then(|n| n.checked_add(p))
        .is_some_and(|n| n <= parts.len());
    if !enough {
        return Err(CheckpointError::Corrupt("parts missing".into()));
    }
    decode_part_stream(e, l, p, parts)
}

/// The whole state from its parts' bytes as they come, in [`PartList`] order (`e` employee
/// blocks, `l` lot blocks, `p` purchases, then the disposition blocks): each decoded as it
/// is read (see [`State::from_part_stream`]).
pub fn decode_part_stream(
    e: usize,
    l: usize,
    p: usize,
    parts: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<State, CheckpointError> {
    State::from_part_stream((e, l, p), parts).map_err(|e| CheckpointError::Corrupt(e.0))
}

/// A whole state in one buffer: the format-version byte, then its parts and their counts
/// (benchmarks and tests; the engine stores the parts apart, [`encode_parts`]).
pub fn encode_state(state: &State) -> Vec<u8> {
    let p = state.to_parts();
    let mut all = vec![p.global];
    let (e, l, n) = (p.employees.len(), p.lots.len(), p.purchases.len());
    all.extend(p.employees.into_iter().map(|(_, b)| b));
    all.extend(p.lots);
    all.extend(p.purchases);
    all.extend(p.dispositions);
    encode(&(e as u64, l as u64, n as u64, all))
}

/// A state from [`encode_state`]'s bytes.
pub fn decode_state(bytes: &[u8]) -> Result<State, CheckpointError> {
    let (e, l, p, parts): (u64, u64, u64, Vec<Vec<u8>>) = decode(bytes)?;
    let n = |x: u64| usize::try_from(x).map_err(|_| CheckpointError::Corrupt("a count".into()));
    decode_counted(n(e)?, n(l)?, n(p)?, &parts)
}
