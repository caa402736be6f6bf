//! End-to-end tests of the `espp` command line and the engine's durability promises, as one
//! integration binary (like ripgrep's tests/tests.rs): each module is one area of the
//! contract in shared/spec/INTERCHANGE.md, each run gets its own temp-dir ledger.
//! The modules live in cli/ (`#[path]`, since a crate root's modules sit beside it).

#[path = "cli/util.rs"]
mod util;

#[path = "cli/accounts_checkpoint.rs"]
mod accounts_checkpoint;
#[path = "cli/append_book.rs"]
mod append_book;
#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/book_file.rs"]
mod book_file;
#[path = "cli/busy.rs"]
mod busy;
#[path = "cli/chain.rs"]
mod chain;
#[path = "cli/crash.rs"]
mod crash;
#[path = "cli/damage.rs"]
mod damage;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/door.rs"]
mod door;
#[path = "cli/explain.rs"]
mod explain;
#[path = "cli/filed.rs"]
mod filed;
#[path = "cli/formats.rs"]
mod formats;
#[path = "cli/full_disk.rs"]
mod full_disk;
#[path = "cli/group_commit.rs"]
mod group_commit;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/life_events.rs"]
mod life_events;
#[path = "cli/purchase_cycle.rs"]
mod purchase_cycle;
#[path = "cli/quiet_reads.rs"]
mod quiet_reads;
#[path = "cli/read_only.rs"]
mod read_only;
#[path = "cli/replay.rs"]
mod replay;
#[path = "cli/round_trip.rs"]
mod round_trip;
#[path = "cli/scale.rs"]
mod scale;
#[path = "cli/stream.rs"]
mod stream;
#[path = "cli/tamper.rs"]
mod tamper;
#[path = "cli/tax.rs"]
mod tax;
#[path = "cli/upgrade.rs"]
mod upgrade;
#[path = "cli/usage.rs"]
mod usage;
#[path = "cli/who_index.rs"]
mod who_index;
#[path = "cli/wording.rs"]
mod wording;
