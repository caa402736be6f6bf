//! The espp-ledger engine: the sled-backed, hash-chained event log, its group-commit writer,
//! and the pieces of the `espp` command line.
//!
//! Only this crate touches storage, files, the terminal and the clock.

pub mod demo;
pub mod export;
pub mod guards;
pub mod import;
pub mod store;
pub mod writer;

pub use store::{
    AppendReport, Batch, BookFileCheck, CheckpointCheck, DryRun, HashOn, KeptBook, Ledger, Options,
    Problem, StoreError, StreamLine, StreamOptions, VerifyReport, CHUNK_RECORDS, PIECE_LINES,
};
pub use writer::{GroupCommitter, WriterThread};

/// The current instant, for `recorded_at`.
pub fn now() -> espp_events::Instant {
    // Microseconds are plenty for an audit trail and keep `recorded_at` short.
    let t = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    espp_events::Instant::from_datetime(t)
        .unwrap_or_else(|| unreachable!("the clock is within 1677-2262"))
}
