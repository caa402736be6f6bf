//! Replays an event source into projections: the acceptance book that keeps the fold
//! current as records are appended (back-dated ones included), and folds as of a day.
//!
//! The replay crate owns no storage: the engine's log or an exported JSON Lines file hands
//! it records. Like `projections`, it does no I/O and reads no clock.

mod book;
pub mod checkpoint;
mod diff;
mod fold;
mod one;
mod state_diff;

pub use book::{Book, BookRejection, ClosedParts};
pub use checkpoint::{CheckpointError, Header, Kind, PartList, FOLD_VERSION};
pub use diff::diff;
pub use fold::{fold_records, FoldError, OrderedFold, Query};
pub use one::{fold_one_traced, Reach};
pub use state_diff::{
    diff_states, skipped_rows, write_diff_json, write_diff_json_hashing_other,
    write_diff_json_hashing_other_holding, Change, EmployeeDiff, PurchaseDiff, SkippedRecord,
    SkippedRow, StateDiff,
};
