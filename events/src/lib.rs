//! The event catalogue of espp-ledger: typed events, plan rules, the envelope, the JSON
//! mapping of INTERCHANGE.md and the versioned stored record.
//!
//! This crate knows nothing of storage, the fold or the clock: it turns bytes and JSON into
//! checked values and back, and refuses what can never be valid.

mod canonical;
pub mod catalogue;
pub mod event;
mod fast_part;
pub mod json;
pub mod record;
pub mod rules;
pub mod value;

pub use event::{
    CapitalChangeKind, ElectionChoice, EndReason, Event, LeaveKind, StopOption, TerminationReason,
};
pub use json::{parse_line, EventInput, FieldError, Line};
pub use record::{
    decode, decode_dated_event, decode_part, encode, encode_content_into, encode_into, encode_part,
    peek_part_employee, DecodeError, Envelope, Record, RECORD_FORMAT_VERSION,
};
pub use rules::{Count, Residual, Rules, RulesPatch};
pub use value::{
    parse_decimal, Actor, Day, EmployeeId, Fraction, Hash, Instant, Money, PerShare, PeriodId,
    Quantity, Ratio, Shares, ValueError,
};
