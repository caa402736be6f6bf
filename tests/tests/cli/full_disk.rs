//! A full disk (issue 12, item 1). An append whose writes fail exits 5 at once naming the
//! cause, leaves nothing of its batch visible, and the ledger takes appends again as soon as
//! there is space; an unfinished sled snapshot (`log/snap.*.generating`, left by an open
//! that ran out of space) stops no command; what sled kept of an append that was never
//! acknowledged is removed on the next open, while a whole batch that only missed its
//! acknowledgement (a crash between sled's durable write and the head file) is kept.
//!
//! The full disk is a file size limit (`RLIMIT_FSIZE`, set by the `fsize_limit` helper): no
//! root, no small filesystem, and writes fail after writing what fits, as on a full disk.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{chain_vector, espp_bin, json_lines, own_bin, with_sled, Dir, Run};

const PLAN: &str = r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"full disk"}}"#;

/// A file size limit under which sled's data file of a new ledger (a 2 MiB segment or
/// three) still grows, but the blob file of [`huge_event`]'s first chunk (about 8 MB) cannot
/// be written.
const LIMIT: u64 = 6 << 20;

/// 300 `market_price` lines of 2,000 closes each (about 16 KB a line, under the 64 KiB line
/// limit; about 32 KB a stored record): their first chunk of 256 records is far over sled's
/// blob threshold, so sled writes it to a file of its own under `log/blobs/`, and under
/// [`LIMIT`] that write fails inside `apply_batch`. (Before the fix, the failed `espp append`
/// then hung for good in `drop(Ledger)` → sled `Tree::drop` → `flush`, holding the ledger.)
fn huge_event() -> String {
    let closes = vec![r#""10.00""#; 2000].join(",");
    (0..HUGE_LINES)
        .map(|_| format!(r#"{{"type":"market_price","date":"2026-01-06","closes":[{closes}]}}"#))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines in [`huge_event`].
const HUGE_LINES: usize = 300;

#[track_caller]
fn stdout_has(run: &Run, s: &str) {
    assert!(
        run.stdout.contains(s),
        "stdout should contain {s:?}:\n{}",
        run.stdout
    );
}

fn hires(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `espp --db DB ARGS` under a file size limit of `limit` bytes; fails the test if it
/// has not exited after a minute (it hung), killing it first.
fn espp_limited(dir: &Dir, limit: u64, args: &[&str]) -> (Run, Duration) {
    let start = Instant::now();
    let mut child = Command::new(own_bin("fsize_limit"))
        .arg(limit.to_string())
        .arg(espp_bin())
        .arg("--db")
        .arg(dir.db())
        .args(args)
        .current_dir(dir.path())
        .env_remove("ESPP_DB")
        .env_remove("ESPP_CACHE_MB")
        .env("ESPP_ACTOR", "cli-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fsize_limit starts");
    let deadline = start + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("poll espp").is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill the hung espp");
            let out = child.wait_with_output().expect("reap it");
            panic!(
                "espp {args:?} under a {limit}-byte file size limit had not exited after 60 s (hung); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed();
    let out = child.wait_with_output().expect("espp's output");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout_bytes: out.stdout,
    };
    (run, took)
}

#[test]
fn a_failed_append_exits_5_at_once_and_leaves_nothing() {
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    let before = dir.export();
    let huge = dir.file("huge.jsonl", huge_event());
    let huge = huge.to_str().expect("UTF-8");

    let (run, took) = espp_limited(&dir, LIMIT, &["append", huge]);
    run.expect_code(5)
        .stderr_has("no space")
        .stderr_has("size limit")
        .stderr_has("not stored");
    assert!(run.stdout.is_empty(), "it printed {:?}", run.stdout);
    assert!(took < Duration::from_secs(30), "the failure took {took:?}");

    // It failed where its first chunk was written, before it filled sled's data file (with
    // the copies of its records, say): what is left of the disk is left.
    let data = std::fs::metadata(dir.db().join("log").join("db")).expect("sled's data file");
    assert!(
        data.len() < LIMIT,
        "the failed append filled sled's data file to {} bytes",
        data.len()
    );
    // Nothing of the batch is visible, to any command.
    assert_eq!(dir.export(), before, "the failed batch is visible");
    dir.espp(&["verify"]).expect_code(0);
    dir.espp(&["log"]).expect_code(0);
    dir.espp(&["state", "--format", "json"]).expect_code(0);

    // The ledger takes appends again: small ones, and with space back the huge one.
    stdout_has(dir.append(hires(1, 3)).expect_code(0), "seq 2-4");
    stdout_has(dir.espp(&["append", huge]).expect_code(0), "seq 5-304");
    dir.espp(&["verify"]).expect_code(0);
    let records = json_lines(&dir.export());
    assert_eq!(records.len(), 4 + HUGE_LINES);
    assert_eq!(records[4]["seq"], 5);
    assert_eq!(records[4]["type"], "market_price");
}

/// A streamed append (`--piece-lines`, `store_stream.rs`) whose disk fills after some of its
/// pieces reached sled: exit 5, nothing of it visible, the ledger usable again.
#[test]
fn a_full_disk_mid_stream_leaves_the_ledger_usable_and_unchanged() {
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    let before = dir.export();
    let huge = dir.file("huge.jsonl", huge_event());
    let huge = huge.to_str().expect("UTF-8");

    // Pieces of 8 lines: chunks of ~256 KB, which go to sled's data file (under its blob
    // threshold) until it reaches the limit.
    let (run, _) = espp_limited(&dir, LIMIT, &["append", "--piece-lines", "8", huge]);
    run.expect_code(5)
        .stderr_has("no space")
        .stderr_has("not stored");
    let data = std::fs::metadata(dir.db().join("log").join("db")).expect("sled's data file");
    assert!(
        data.len() > 3 << 20,
        "only {} bytes reached sled's data file: the stream failed before its pieces",
        data.len()
    );
    assert_eq!(dir.export(), before, "the failed stream is visible");
    dir.espp(&["verify"]).expect_code(0);
    stdout_has(dir.append(hires(1, 3)).expect_code(0), "seq 2-4");
    stdout_has(
        dir.espp(&["append", "--piece-lines", "8", huge])
            .expect_code(0),
        "seq 5-304",
    );
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn an_append_that_fails_again_and_again_damages_nothing() {
    // Several failed appends in a row, with small appends between them that fit.
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    let huge = dir.file("huge.jsonl", huge_event());
    let huge = huge.to_str().expect("UTF-8");
    for round in 0..3 {
        let (run, _) = espp_limited(&dir, LIMIT, &["append", huge]);
        run.expect_code(5).stderr_has("no space");
        let small = dir.file("small.jsonl", hires(round * 2, 2));
        let (run, _) = espp_limited(&dir, LIMIT, &["append", small.to_str().expect("UTF-8")]);
        run.expect_code(0);
    }
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 7 records");
    assert_eq!(json_lines(&dir.export()).len(), 7);
}

/// An empty `snap.<lsn>.generating` sorting after every finished snapshot, as an open that ran
/// out of space while writing its snapshot leaves it.
fn leave_unfinished_snapshot(db: &Path) {
    std::fs::write(db.join("log").join("snap.FFFFFFFFFFFFFFFF.generating"), b"")
        .expect("write the unfinished snapshot");
}

#[test]
fn an_unfinished_sled_snapshot_stops_no_command() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    for args in [
        vec!["verify"],
        vec!["export"],
        vec!["log"],
        vec!["state", "--format", "json"],
        vec!["statement", "E1"],
    ] {
        leave_unfinished_snapshot(&dir.db());
        let run = dir.espp(&args);
        run.expect_code(0);
        assert!(
            !run.stderr.contains("corrupted"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(dir.export(), before);
    leave_unfinished_snapshot(&dir.db());
    dir.append(r#"{"type":"market_price","date":"2026-02-02","closes":["10.00"]}"#)
        .expect_code(0);
    dir.espp(&["verify"]).expect_code(0);
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(rest);
    k
}

#[test]
fn what_sled_kept_of_an_unacknowledged_append_is_removed_on_open() {
    // What a failed append can leave in sled (seen after a full disk): a chunk, a day
    // summary and id-index entries beyond the acknowledged head, sled's head key unchanged.
    let dir = Dir::new();
    dir.append(format!("{PLAN}\n{}", hires(1, 2)))
        .expect_code(0);
    let before = dir.export();
    with_sled(&dir.db(), |sled| {
        let chunk = sled
            .get(key(b'r', &1u64.to_be_bytes()))
            .expect("read")
            .expect("the chunk at seq 1");
        sled.insert(key(b'r', &4u64.to_be_bytes()), chunk)
            .expect("insert a chunk");
        sled.insert(key(b'c', &4u64.to_be_bytes()), &[0u8; 8][..])
            .expect("insert a summary");
        for (i, seq) in [(1u8, 4u64), (2, 5)] {
            sled.insert(key(b'i', &[i; 16]), &seq.to_be_bytes()[..])
                .expect("insert an id");
        }
    });
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 3 records");
    assert_eq!(dir.export(), before);
    stdout_has(dir.append(hires(3, 2)).expect_code(0), "seq 4-5");
    dir.espp(&["verify"]).expect_code(0);
    with_sled(&dir.db(), |sled| {
        for i in [1u8, 2] {
            assert!(
                sled.get(key(b'i', &[i; 16])).expect("read").is_none(),
                "a stray id-index entry is still there"
            );
        }
    });
}

#[test]
fn a_whole_batch_that_missed_its_acknowledgement_is_kept() {
    // A crash after sled made the batch durable but before the head file said so: the batch
    // chains from the recorded head, so it is the append the caller may yet have been told
    // of; the next open keeps it and records it.
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    let head = dir.db().join("head");
    let old = std::fs::read(&head).expect("the head file");
    dir.append(hires(1, 3)).expect_code(0);
    let before = dir.export();
    std::fs::write(&head, &old).expect("put the old head file back");
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 4 records");
    assert_eq!(dir.export(), before);
    assert_ne!(std::fs::read(&head).expect("the head file"), old);
    dir.append(hires(4, 1)).expect_code(0);
    dir.espp(&["verify"]).expect_code(0);
}

/// The largest file under `dir`, in bytes: a limit at it lets no file grow.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for e in std::fs::read_dir(dir)
        .expect("read the directory")
        .flatten()
    {
        let m = e.metadata().expect("metadata");
        largest = largest.max(if m.is_dir() {
            largest_file(&e.path())
        } else {
            m.len()
        });
    }
    largest
}

/// Every `espp` process runs sled's background flusher, which cleans segments by moving
/// live pages, reads included (issue 15, "Space on disk"). On a full disk, where no file may
/// grow, the read commands still answer, and answer what they answer with space.
#[test]
fn read_commands_answer_on_a_full_disk() {
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    // Many small appends: pages rewritten, segments left for the flusher to clean.
    for round in 0..20 {
        dir.append(hires(round * 3, 3)).expect_code(0);
    }
    let reads: [&[&str]; 4] = [
        &["--format", "json", "state"],
        &["verify"],
        &["log"],
        &["export"],
    ];
    let with_space: Vec<String> = reads
        .iter()
        .map(|a| dir.espp(a).expect_code(0).stdout.clone())
        .collect();
    let limit = largest_file(&dir.db());
    for (args, expected) in reads.iter().zip(&with_space) {
        for _ in 0..3 {
            let (run, _) = espp_limited(&dir, limit, args);
            run.expect_code(0);
            assert_eq!(&run.stdout, expected, "espp {args:?} on a full disk");
        }
    }
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 61 records");
}
