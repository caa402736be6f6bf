//! `espp export`: the log as JSON Lines, each record checked as it is written (its seq, its
//! link to the one before and its own hash), so that an export never passes damage on
//! silently: it stops at the first damaged record, having written the intact prefix, and
//! says what is wrong.

use std::io::Write;

use espp_events::Hash;

use crate::store::{Ledger, StoreError};

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// Records written: the intact prefix of the log, seq 1 to this.
    pub records: u64,
    /// Why the export stopped before the acknowledged head, if it did. Its message says how
    /// much was exported.
    pub damage: Option<StoreError>,
}

/// Writes the log of `ledger` (best opened with [`Ledger::open_salvage`]) to `out` as JSON
/// Lines, stopping at the first record that is missing, misplaced, altered or unreadable.
/// Errors are those of writing to `out`; damage is reported in [`Exported::damage`].
pub fn write_jsonl(ledger: &Ledger, out: &mut dyn Write) -> std::io::Result<Exported> {
    let mut prev = Hash::ZERO;
    let mut expected = 1u64;
    // One line's bytes, written directly (no `serde_json::Value` per record: issue 15).
    let mut line: Vec<u8> = Vec::with_capacity(512);
    let mut found: Option<(u64, String)> = None;
    let mut other: Option<StoreError> = None;
    for r in ledger.records() {
        let r = match r {
            Ok(r) => r,
            Err(StoreError::Damaged { seq, message }) => {
                found = Some((seq, message));
                break;
            }
            Err(e) => {
                other = Some(e);
                break;
            }
        };
        let problem = if r.seq != expected {
            Some(if r.seq > expected {
                format!("missing: the next stored record is seq {}", r.seq)
            } else {
                format!("out of place: seq {} follows seq {}", r.seq, expected - 1)
            })
        } else if r.prev_hash != prev {
            Some(format!(
                "altered: prev_hash {} does not match seq {}'s hash {prev}",
                r.prev_hash,
                expected - 1
            ))
        } else if r.compute_hash() != r.hash {
            Some(format!(
                "altered: its content hashes to {}, not the stored {}",
                r.compute_hash(),
                r.hash
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            found = Some((expected, message));
            break;
        }
        line.clear();
        r.write_exported_json(&mut line);
        line.push(b'\n');
        out.write_all(&line)?;
        prev = r.hash;
        expected += 1;
    }
    let records = expected - 1;
    if found.is_none() && other.is_none() {
        if let Some(p) = ledger.damage() {
            found = Some((p.seq, p.message.clone()));
        } else if records != ledger.head_seq() {
            found = Some((
                records + 1,
                format!(
                    "missing: the records stop at seq {records}, the head is seq {}",
                    ledger.head_seq()
                ),
            ));
        }
    }
    let incomplete = |records: u64| {
        if records == 0 {
            "nothing was exported".to_string()
        } else {
            format!("only the {records} intact records before it (seq 1-{records}) were exported")
        }
    };
    let damage = match (found, other) {
        (Some((seq, message)), _) => Some(StoreError::Damaged {
            seq,
            message: format!(
                "{message}; the export is incomplete: {}",
                incomplete(records)
            ),
        }),
        (None, Some(StoreError::Corrupt(m))) => Some(StoreError::Damaged {
            seq: records + 1,
            message: format!(
                "unreadable: {m}; the export is incomplete: {}",
                incomplete(records)
            ),
        }),
        (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    Ok(Exported { records, damage })
}
