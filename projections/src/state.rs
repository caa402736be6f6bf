//! The fold's state and its projection (placeholder: counts events; the plan rules come in
//! the purchase-cycle work).

use espp_events::{Day, Record, RulesPatch};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Why an event cannot be folded: the plan section and the numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The plan forbids it.
    #[error("{section}: {message}")]
    Plan {
        /// The plan section, like `§6`.
        section: String,
        /// What is wrong, with the numbers.
        message: String,
    },
    /// Dated before what has been folded already: the caller must refold from earlier.
    #[error("dated {date}, before the day already folded ({folded})")]
    OutOfOrder {
        /// The event's day.
        date: Day,
        /// The latest day folded.
        folded: Day,
    },
}

/// The fold's state after some prefix of the log in `(date, seq)` order.
#[derive(Debug, Clone, Default)]
pub struct State {
    overrides: Option<RulesPatch>,
    day: Option<Day>,
    through_seq: u64,
    events: u64,
}

impl State {
    /// An empty state; `overrides` replaces rules for this fold only (compliance replays).
    pub fn new(overrides: Option<RulesPatch>) -> Self {
        State {
            overrides,
            ..State::default()
        }
    }

    /// The latest day folded.
    pub fn day(&self) -> Option<Day> {
        self.day
    }

    /// The last purchase's day: nothing may be dated on or before it (closed books).
    pub fn closed_through(&self) -> Option<Day> {
        None
    }

    /// Folds one record; records come in `(date, seq)` order.
    pub fn apply(&mut self, r: &Record) -> Result<(), Rejection> {
        if let Some(folded) = self.day {
            if r.date < folded {
                return Err(Rejection::OutOfOrder {
                    date: r.date,
                    folded,
                });
            }
        }
        self.day = Some(r.date);
        self.through_seq = self.through_seq.max(r.seq);
        self.events += 1;
        Ok(())
    }

    /// Applies every deadline that closes before the end of `day` (an as-of fold).
    pub fn advance_to(&mut self, day: Day) -> Result<(), Rejection> {
        let _ = day;
        Ok(())
    }

    /// The projection JSON of INTERCHANGE.md, `digest` included.
    pub fn projection(&self, as_of: Option<Day>) -> Value {
        let _ = &self.overrides;
        let mut v = json!({
            "as_of": as_of.map(|d| d.to_string()),
            "through_seq": self.through_seq,
            "events": self.events,
            "plan": {"status": "not_adopted"},
            "employees": {},
            "lots": [],
            "skipped": [],
            "purchases": [],
        });
        let digest = hex::encode(Sha256::digest(v.to_string().as_bytes()));
        v["digest"] = Value::String(digest);
        v
    }
}
