//! Checkpoints: projection snapshots stored beside the log so that a query folds only from
//! the nearest one. They are a cache: deleting them changes no answer, and one that is stale
//! (its record's hash changed, or the fold's version did) or undecodable is ignored and
//! rebuilt, never trusted.
//!
//! Each checkpoint is two values, so that choosing one never decodes a large state: a small
//! [`Header`] and the [`State`]. Both are one format-version byte, then bincode 2.0.1 (serde,
//! standard config). A purchase checkpoint holds the state folded through the purchase's day
//! (closed books make it final: nothing can ever be dated on or before it again) and names
//! the seqs stored before it but dated after it; a periodic one holds the whole state at a seq.

use espp_events::{Day, Hash, Instant};
use espp_projections::State;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::fold::Query;

/// The version byte written before every checkpoint value.
pub const CHECKPOINT_FORMAT_VERSION: u8 = 2;

/// A stored state is cut into pieces of this size, each its own sled value: sled keeps up to
/// 16 values in one leaf and rewrites a leaf whole, so a 200 MB state stored as one value
/// makes multi-gigabyte leaves (measured: 2.7 GB blob files on a 10-million-event ledger).
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
    /// How many pieces the stored state is cut into (see [`STATE_PIECE_BYTES`]).
    pub pieces: u32,
    /// SHA-256 of the stored state bytes: a state whose bytes changed is not used.
    pub state_sha256: Hash,
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
        state_bytes: &[u8],
    ) -> Header {
        Header {
            state_sha256: Hash(sha2::Sha256::digest(state_bytes).into()),
            fold_version: FOLD_VERSION,
            seq,
            hash,
            kind,
            wall,
            left_out,
            max_recorded_at,
            day: state.day(),
            pieces: state_bytes.len().div_ceil(STATE_PIECE_BYTES).max(1) as u32,
        }
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

/// A checkpoint's state, stored.
pub fn encode_state(state: &State) -> Vec<u8> {
    encode(state)
}

/// A checkpoint's state, read back.
pub fn decode_state(bytes: &[u8]) -> Result<State, CheckpointError> {
    decode(bytes)
}
