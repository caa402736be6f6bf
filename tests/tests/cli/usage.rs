//! Usage and storage exit codes (INTERCHANGE.md "The command line"): 2 for usage, global
//! options on either side of the subcommand, 5 for a missing ledger.

use crate::util::{chain_vector, run_espp, Dir};

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let dir = Dir::new();
    dir.espp(&["frobnicate"]).expect_code(2);
    dir.espp(&[]).expect_code(2);
    dir.espp(&["export", "--no-such-flag"]).expect_code(2);
    dir.espp(&["verify", "--format", "yaml"]).expect_code(2);
    assert!(!dir.db().exists(), "a usage error created the ledger");
}

#[test]
fn global_options_before_and_after_the_subcommand() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let db = dir.db();
    let db = db.to_str().expect("UTF-8");
    let before = run_espp(
        dir.path(),
        None,
        &["--format", "json", "--db", db, "verify"],
        None,
    );
    let after = run_espp(
        dir.path(),
        None,
        &["verify", "--db", db, "--format", "json"],
        None,
    );
    let mixed = run_espp(
        dir.path(),
        None,
        &["--db", db, "verify", "--format", "json"],
        None,
    );
    for run in [&before, &after, &mixed] {
        run.expect_code(0);
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));
        assert_eq!(v["ok"], true);
        assert_eq!(v["records"], 3);
    }
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.stdout, mixed.stdout);
}

#[test]
fn missing_ledger_is_a_storage_failure() {
    let dir = Dir::new();
    for cmd in ["export", "verify"] {
        dir.espp(&[cmd]).expect_code(5);
    }
    assert!(!dir.db().exists(), "a read created the ledger");
}

#[test]
fn missing_input_file_is_a_usage_error() {
    let dir = Dir::new();
    let missing = dir.path().join("no-such.jsonl");
    dir.espp(&["append", missing.to_str().expect("UTF-8")])
        .expect_code(2)
        .stderr_has("no-such.jsonl");
    assert!(!dir.db().exists());
}

#[test]
fn log_lists_records_for_people_and_programs() {
    let dir = Dir::new();
    dir.append(crate::util::chain_vector()).expect_code(0);
    let table = dir.espp(&["log", "--from", "2", "--limit", "1"]);
    table.expect_code(0);
    assert!(table.stdout.contains("employee_hired"), "{}", table.stdout);
    assert!(
        !table.stdout.contains("payroll"),
        "--limit 1 shows one record: {}",
        table.stdout
    );
    let csv = dir.espp(&["log", "--format", "csv"]);
    csv.expect_code(0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "seq,date,type,recorded_at,actor,details");
    assert_eq!(lines.len(), 4, "a header and three records: {}", csv.stdout);
    assert!(
        lines[3].starts_with("3,2026-01-15,payroll,2026-01-15T17:30:00Z,payroll-feed,"),
        "{}",
        lines[3]
    );
}
