//! Issue 15: a read command does not write the ledger's sled data file. Unpatched sled 0.34.7
//! rewrote every free segment, and the end of its active segment, on every open, and its
//! background flusher fsynced after every 2 ms pass: every `espp state` wrote tens of MB
//! (vendor/sled/PATCHES.md, `Options::sled_flusher`). The first open after an append may
//! still write (it marks what the append left free); after that, reads leave `log/db` as it
//! was: not one write, which its modification time would show.

use std::path::Path;
use std::time::SystemTime;

use crate::util::{wait_until_closed, Dir};

fn modified(db: &Path) -> (SystemTime, u64) {
    let m = std::fs::metadata(db.join("log").join("db")).expect("sled's data file");
    (m.modified().expect("a modification time"), m.len())
}

#[test]
fn read_commands_leave_sleds_data_file_unwritten() {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    let db = dir.db();
    // The first open after the demo's appends marks the segments they left free.
    dir.espp(&["state"]).expect_code(0);
    wait_until_closed(&db);
    let before = modified(&db);
    let reads: [&[&str]; 8] = [
        &["state"],
        &["--format", "json", "state", "--as-of", "2026-03-31"],
        &["--format", "json", "state", "--employee", "E001"],
        &["statement", "E002"],
        &["explain", "E017"],
        &["verify"],
        &["log"],
        &["export"],
    ];
    for args in reads {
        dir.espp(args).expect_code(0);
        wait_until_closed(&db);
        assert_eq!(
            modified(&db),
            before,
            "`espp {}` wrote sled's data file",
            args.join(" ")
        );
    }
}
