//! The stored record: an event with its envelope, its hash-chain link and its versioned
//! binary encoding.
//!
//! Stored form: one format-version byte, then bincode 2.0.1 (serde mode, standard config) of
//! [`Record`]. Decimals are rust_decimal's fixed 16 bytes, days `i32`, instants `i64`
//! nanoseconds, ids 16 raw bytes (see [`crate::value`]). The golden tests in
//! `events/tests/golden.rs` freeze these bytes for every event type; a change to them must
//! bump [`RECORD_FORMAT_VERSION`] and teach [`decode`] to upcast the old version.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::Event;
use crate::value::{uuid_bytes, Actor, Day, Hash, Instant};

/// The version byte written before every record.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// The transaction-time part of a record, as read from an exported line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Position in the log, gapless from 1.
    pub seq: u64,
    /// When the append was acknowledged.
    pub recorded_at: Instant,
    /// Who appended it.
    pub actor: Actor,
    /// The previous record's hash (64 zeros for seq 1).
    pub prev_hash: Hash,
    /// This record's hash.
    pub hash: Hash,
}

/// One record of the log: an event and its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the log, gapless from 1.
    pub seq: u64,
    /// The event's id.
    #[serde(with = "uuid_bytes")]
    pub id: Uuid,
    /// The day it takes effect (valid time).
    pub date: Day,
    /// When it was appended (transaction time).
    pub recorded_at: Instant,
    /// Who appended it.
    pub actor: Actor,
    /// The previous record's hash.
    pub prev_hash: Hash,
    /// SHA-256 of `prev_hash` (hex), a newline and [`Record::canonical_json`].
    pub hash: Hash,
    /// What happened.
    pub event: Event,
}

impl Record {
    pub(crate) fn from_parts(env: Envelope, id: Uuid, date: Day, event: Event) -> Self {
        Record {
            seq: env.seq,
            id,
            date,
            recorded_at: env.recorded_at,
            actor: env.actor,
            prev_hash: env.prev_hash,
            hash: env.hash,
            event,
        }
    }

    /// A new record linked after `prev_hash`, its hash computed.
    #[allow(clippy::too_many_arguments)]
    pub fn chain(
        seq: u64,
        id: Uuid,
        date: Day,
        recorded_at: Instant,
        actor: Actor,
        prev_hash: Hash,
        event: Event,
    ) -> Self {
        let mut r = Record {
            seq,
            id,
            date,
            recorded_at,
            actor,
            prev_hash,
            hash: Hash::ZERO,
            event,
        };
        r.hash = r.compute_hash();
        r
    }

    /// The hash this record's content and `prev_hash` call for (whatever `hash` says): the
    /// SHA-256 of `prev_hash` in hex, a newline and the canonical JSON, written into one
    /// buffer and hashed at once.
    pub fn compute_hash(&self) -> Hash {
        thread_local! {
            /// The hash's input, kept between records (no allocation per hash).
            static INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let prev = self.prev_hash.hex();
        let hash = |input: &mut Vec<u8>| {
            input.clear();
            input.extend_from_slice(&prev);
            input.push(b'\n');
            crate::canonical::write(self, &prev, None, input);
            Hash(Sha256::digest(&*input).into())
        };
        INPUT.with(|input| match input.try_borrow_mut() {
            Ok(mut input) => hash(&mut input),
            Err(_) => hash(&mut Vec::with_capacity(384)),
        })
    }
}

/// Why stored bytes could not be read back as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty record")]
    Empty,
    /// A version this build does not know (written by a newer engine?).
    #[error("record format version {0} is unknown to this build (it reads version {RECORD_FORMAT_VERSION})")]
    UnknownVersion(u8),
    /// The bytes do not decode as the version's layout.
    #[error("record bytes do not decode: {0}")]
    Corrupt(String),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a record in the current format, appending to `out`.
pub fn encode_into(record: &Record, out: &mut Vec<u8>) {
    out.push(RECORD_FORMAT_VERSION);
    // Writing into a Vec cannot fail, and every field of a Record serializes.
    if let Err(e) = bincode::serde::encode_into_std_write(record, out, config()) {
        unreachable!("encoding a record into memory failed: {e}");
    }
}

/// Encodes a record in the current format.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    encode_into(record, &mut out);
    out
}

/// Appends the bytes of an event's content — its day, type and fields, exactly as stored
/// (decimals keep their scale: `"4000.0"` and `"4000.00"` differ), without id or envelope —
/// to `out`. Two events give the same bytes exactly when an administrator wrote the same line
/// twice; the engine fingerprints whole batches with it to catch a file appended twice.
pub fn encode_content_into(date: Day, event: &Event, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every event serializes.
    if let Err(e) = bincode::serde::encode_into_std_write((date, event), out, config()) {
        unreachable!("encoding an event into memory failed: {e}");
    }
}

/// Appends one value — a part of a record such as its `(date, event)`, its `recorded_at` or
/// its `actor` — to `out` in the record format's encoding ([`RECORD_FORMAT_VERSION`]): a
/// record's bytes are its parts' bytes one after another, so a store that keeps parts shared
/// by many records once (the engine's chunks) still decodes each record to the same value.
pub fn encode_part<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every part of a Record serializes.
    if let Err(e) = bincode::serde::encode_into_std_write(value, out, config()) {
        unreachable!("encoding a record part into memory failed: {e}");
    }
}

/// Decodes one part written by [`encode_part`] from the start of `bytes`: the value and the
/// number of bytes it took.
pub fn decode_part<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), DecodeError> {
    bincode::serde::decode_from_slice::<T, _>(bytes, config())
        .map_err(|e| DecodeError::Corrupt(e.to_string()))
}

/// Decodes a record's `(date, event)` part from the start of `bytes`, as
/// [`decode_part`] does (the same value, length and errors), a payroll event by hand
/// (`fast_part.rs`).
pub fn decode_dated_event(bytes: &[u8]) -> Result<((Day, Event), usize), DecodeError> {
    match crate::fast_part::payroll(bytes) {
        Some(done) => Ok(done),
        None => decode_part(bytes),
    }
}

/// The employee of a `(date, event)` part written by [`encode_part`], read without decoding
/// the event: `Ok(Some(id))` (the id's bytes) for an event of one employee, `Ok(None)` for an
/// event of none (plan, market, purchase). Only the day's length, the variant's index and,
/// when the variant's first field is its `employee` (every employee event's is, see
/// [`Event::CATALOGUE`]), that string are read — bincode's standard varints, by hand: a
/// reader that wants one employee's records skips the others' at this cost. An error says
/// the bytes do not start as such a part (decode it to learn more).
pub fn peek_part_employee(bytes: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
    let corrupt = || DecodeError::Corrupt("a (date, event) part is cut short".into());
    // bincode's varint: one byte below 251, else a marker and 2, 4 or 8 bytes (LE).
    let varint = |at: usize| -> Result<(u64, usize), DecodeError> {
        let first = *bytes.get(at).ok_or_else(corrupt)?;
        let wide = |n: usize| -> Result<(u64, usize), DecodeError> {
            let b = bytes.get(at + 1..at + 1 + n).ok_or_else(corrupt)?;
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(b);
            Ok((u64::from_le_bytes(le), 1 + n))
        };
        match first {
            0..=250 => Ok((u64::from(first), 1)),
            251 => wide(2),
            252 => wide(4),
            253 => wide(8),
            _ => Err(DecodeError::Corrupt(format!(
                "varint marker {first} in a part"
            ))),
        }
    };
    let (_, day_len) = varint(0)?;
    let (variant, variant_len) = varint(day_len)?;
    let spec = usize::try_from(variant)
        .ok()
        .and_then(|v| Event::CATALOGUE.get(v))
        .ok_or_else(|| DecodeError::Corrupt(format!("unknown event variant {variant}")))?;
    if spec.fields.first().is_none_or(|f| f.name != "employee") {
        return Ok(None);
    }
    let at = day_len + variant_len;
    let (len, len_len) = varint(at)?;
    let start = at + len_len;
    let id = usize::try_from(len)
        .ok()
        .and_then(|len| bytes.get(start..start.checked_add(len)?))
        .ok_or_else(corrupt)?;
    Ok(Some(id))
}

/// Decodes a stored record of any known format version.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    upcast(version, body)
}

/// The upcasting hook: every known version's layout is decoded here and turned into the
/// current [`Record`]. Version 2 will add an arm that decodes the version-1 layout into a
/// `RecordV1` and converts it, never reinterpreting old bytes under a new layout.
fn upcast(version: u8, body: &[u8]) -> Result<Record, DecodeError> {
    match version {
        1 => {
            let (record, used) = bincode::serde::decode_from_slice::<Record, _>(body, config())
                .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
            if used != body.len() {
                return Err(DecodeError::Corrupt(format!(
                    "{} trailing bytes after the record",
                    body.len() - used
                )));
            }
            Ok(record)
        }
        v => Err(DecodeError::UnknownVersion(v)),
    }
}
