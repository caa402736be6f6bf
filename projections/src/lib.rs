//! The pure, deterministic fold of espp-ledger: events in `(date, seq)` order become plan
//! state, accounts, lots and purchases, and the projection JSON of INTERCHANGE.md.
//!
//! No I/O, no clock, no randomness, no hash-map order in any output. Deciding whether an
//! event is acceptable ([`State::apply`] returning a [`Rejection`]) and changing the state
//! happen in that order: a refused event leaves the state as it was only if the caller kept
//! a clone; the engine folds batches on a clone and keeps it only when all of it folds.

mod state;

pub use state::{Rejection, State};
