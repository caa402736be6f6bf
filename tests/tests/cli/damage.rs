//! Damage that sled does not report (issue 12, items 2 and 5). One bit flipped in the bytes
//! of the last acknowledged append makes sled take it for a torn write and cut its log
//! there, its head key with it; the head file kept beside the log makes every command see the
//! loss (exit 4, naming the last acknowledged seq), and `export` still saves the intact
//! prefix. `export` and `state` fail (exit 4) on a log that `verify` rejects; damaged sled
//! files are damage (exit 4), not a storage failure; a ledger made before the head file
//! existed opens without a word.

use std::path::Path;

use crate::util::{json_lines, three_chunk_ledger, wait_until_closed, with_sled, Dir, Run};

const PLAN: &str = r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"damage"}}"#;

fn hire(who: &str) -> String {
    format!(
        r#"{{"type":"employee_hired","date":"2026-01-05","employee":"{who}","weekly_hours":"40","months_per_year":"12"}}"#
    )
}

#[track_caller]
fn stdout_has(run: &Run, s: &str) {
    assert!(
        run.stdout.contains(s),
        "stdout should contain {s:?}:\n{}",
        run.stdout
    );
}

/// Seq 1 the plan, 2-11 ten hires, 12-13 two hires `ZZLAST1`, `ZZLAST2` (the last append).
/// Returns the export of seq 1-11.
fn ledger_with_last_append(dir: &Dir) -> Vec<u8> {
    dir.append(PLAN).expect_code(0);
    let ten: Vec<String> = (0..10).map(|i| hire(&format!("E{i}"))).collect();
    dir.append(ten.join("\n")).expect_code(0);
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 11 records");
    let before = dir.export();
    // Nothing opens the ledger after this append, as when a machine stops after it.
    dir.append(format!("{}\n{}", hire("ZZLAST1"), hire("ZZLAST2")))
        .expect_code(0);
    before
}

/// Flips one bit inside the last copy of `needle` in sled's data file.
fn flip_bit_in_log(db: &Path, needle: &[u8]) {
    wait_until_closed(db);
    let path = db.join("log").join("db");
    let mut bytes = std::fs::read(&path).expect("sled's data file");
    let at = bytes
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in log/db"));
    bytes[at + 2] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write sled's data file back");
}

#[test]
fn a_vanished_last_append_is_damage_for_every_command() {
    let dir = Dir::new();
    let intact = json_lines(&ledger_with_last_append(&dir));
    flip_bit_in_log(&dir.db(), b"ZZLAST2");

    // Before the head file, sled cut the log at seq 11 and `verify` said "intact: 11 records".
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("at seq 12")
        .stderr_has("seq 13 was the last acknowledged")
        .stderr_has("lost");
    // Again: the loss is not forgotten once sled has cut its log.
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 13 was the last acknowledged");
    for args in [
        vec!["state", "--format", "json"],
        vec!["log"],
        vec!["statement", "E1"],
    ] {
        let run = dir.espp(&args);
        run.expect_code(4)
            .stderr_has("seq 13 was the last acknowledged");
    }
    dir.append(hire("E99"))
        .expect_code(4)
        .stderr_has("seq 13 was the last acknowledged");

    // `export` saves the intact prefix, says it is incomplete, and fails.
    let run = dir.espp(&["export"]);
    run.expect_code(4)
        .stderr_has("incomplete")
        .stderr_has("seq 1-11");
    let saved = json_lines(&run.stdout_bytes);
    assert_eq!(saved.len(), 11);
    assert_eq!(
        saved, intact,
        "the saved prefix differs from the ledger before the damage"
    );
}

#[test]
fn a_ledger_without_a_head_file_opens_without_a_word() {
    // Ledgers made before the head file existed: it is made from sled's head on first open.
    let dir = Dir::new();
    dir.append(format!("{PLAN}\n{}", hire("E1"))).expect_code(0);
    let head = dir.db().join("head");
    std::fs::remove_file(&head).expect("remove the head file");
    let run = dir.espp(&["verify"]);
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "it said: {}", run.stderr);
    assert!(head.is_file(), "the head file was not made");
    dir.append(hire("E2")).expect_code(0);
    stdout_has(dir.espp(&["verify"]).expect_code(0), "intact: 3 records");
}

fn key(prefix: u8, seq: u64) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[test]
fn export_state_and_log_fail_where_a_chunk_is_gone() {
    let dir = Dir::new();
    three_chunk_ledger(&dir);
    let intact = json_lines(&dir.export());
    // The chunk and its day summary both gone: nothing names it any more.
    with_sled(&dir.db(), |sled| {
        assert!(sled.remove(key(b'r', 3)).expect("remove").is_some());
        assert!(sled.remove(key(b'c', 3)).expect("remove").is_some());
    });
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("missing");
    let run = dir.espp(&["export"]);
    run.expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("missing")
        .stderr_has("incomplete");
    assert_eq!(json_lines(&run.stdout_bytes), intact[..2].to_vec());
    dir.espp(&["state", "--format", "json"])
        .expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("missing");
    dir.espp(&["log"])
        .expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("missing");
}

#[test]
fn export_fails_at_an_altered_record() {
    let dir = Dir::new();
    dir.append(format!("{PLAN}\n{}\n{}", hire("E1"), hire("E2")))
        .expect_code(0);
    let intact = json_lines(&dir.export());
    // "E2" becomes "F2" in seq 3 (the only place it is stored).
    with_sled(&dir.db(), |sled| {
        let mut chunk = sled
            .get(key(b'r', 1))
            .expect("read")
            .expect("the chunk")
            .to_vec();
        let at = chunk
            .windows(2)
            .rposition(|w| w == b"E2")
            .expect("E2 in the chunk");
        chunk[at] = b'F';
        sled.insert(key(b'r', 1), chunk)
            .expect("write the chunk back");
    });
    dir.espp(&["verify"]).expect_code(4).stderr_has("seq 3");
    let run = dir.espp(&["export"]);
    run.expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("altered")
        .stderr_has("incomplete");
    assert_eq!(json_lines(&run.stdout_bytes), intact[..2].to_vec());
}

#[test]
fn a_damaged_sled_snapshot_is_damage_not_a_storage_failure() {
    let dir = Dir::new();
    dir.append(format!("{PLAN}\n{}", hire("E1"))).expect_code(0);
    // An open after the append recovers it from the log and writes a snapshot of it.
    dir.espp(&["verify"]).expect_code(0);
    let snap = std::fs::read_dir(dir.db().join("log"))
        .expect("log/")
        .map(|e| e.expect("an entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
        })
        .expect("a sled snapshot");
    let mut bytes = std::fs::read(&snap).expect("the snapshot");
    bytes[0] ^= 0x01;
    std::fs::write(&snap, &bytes).expect("write the snapshot back");
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("damaged")
        .stderr_has("corrupted")
        .stderr_has("the last acknowledged seq is 2");
    dir.espp(&["export"]).expect_code(4).stderr_has("damaged");
    dir.espp(&["state"]).expect_code(4);
}

#[test]
fn a_file_named_as_the_ledger_is_not_a_ledger_directory() {
    let dir = Dir::new();
    let file = dir.file("not-a-ledger", "hello");
    let input = dir.file("in.jsonl", PLAN);
    let shown = file.display().to_string();
    for args in [
        vec!["append", input.to_str().expect("UTF-8")],
        vec!["verify"],
        vec!["export"],
    ] {
        dir.espp_at(&file, &args)
            .expect_code(5)
            .stderr_has(&shown)
            .stderr_has("not a ledger directory");
    }
    assert_eq!(std::fs::read(&file).expect("the file"), b"hello");
}

#[test]
fn a_cache_size_out_of_range_is_a_usage_error() {
    let dir = Dir::new();
    dir.append(PLAN).expect_code(0);
    for mb in ["17592186044416", "0"] {
        dir.espp(&["--cache-mb", mb, "verify"])
            .expect_code(2)
            .stderr_has("--cache-mb");
    }
    dir.espp(&["--cache-mb", "1048576", "verify"])
        .expect_code(0);
}
