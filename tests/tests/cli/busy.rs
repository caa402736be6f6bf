//! One writer at a time (INTERCHANGE.md exit 3): while the ledger is held open, another
//! `espp` refuses promptly with "busy" instead of waiting or corrupting it.

use std::time::{Duration, Instant};

use espp_engine::{Ledger, Options};

use crate::util::{chain_vector, wait_until_closed, Dir};

#[test]
fn a_held_ledger_is_busy_for_every_command() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let held = Ledger::open(&dir.db(), &Options::default()).expect("open the ledger");
    let input = dir.file(
        "more.jsonl",
        r#"{"type":"market_price","date":"2026-02-02","closes":["10.00"]}"#,
    );
    let input = input.to_str().expect("UTF-8");
    for args in [
        vec!["verify"],
        vec!["append", input],
        vec!["export"],
        vec!["verify", "--format", "json"],
    ] {
        let start = Instant::now();
        let run = dir.espp(&args);
        let took = start.elapsed();
        run.expect_code(3).stderr_has("busy");
        assert!(run.stdout.is_empty(), "{args:?} printed {:?}", run.stdout);
        assert!(
            took < Duration::from_secs(5),
            "{args:?} took {took:?}: it waited for the lock"
        );
    }
    drop(held);
    wait_until_closed(&dir.db());
    assert_eq!(dir.export(), before, "the busy append stored something");
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn sled_lock_still_held_after_close_is_busy() {
    // Regression: sled's own lock on log/db outlives a dropped Ledger while sled's background
    // jobs finish, after espp.lock is already free. Another espp then failed with a storage
    // error (exit 5, "could not acquire lock"); it is busy (exit 3), try again.
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let sled_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.db().join("log").join("db"))
        .expect("sled's data file");
    sled_file.try_lock().expect("lock it as sled does");
    dir.espp(&["verify"]).expect_code(3).stderr_has("busy");
    drop(sled_file);
    // A child another test spawned meanwhile may hold the lock until it execs.
    wait_until_closed(&dir.db());
    assert_eq!(dir.export(), before);
}

/// `espp --wait 60 ARGS` on `dir`'s ledger while `held` holds it: started, left to find the
/// ledger busy, then the ledger let go. It must then succeed, having said it waited; its
/// standard output.
fn run_waiting(dir: &Dir, held: Ledger, args: &[&str]) -> String {
    let child = std::process::Command::new(crate::util::espp_bin())
        .current_dir(dir.path())
        .env_remove("ESPP_WAIT")
        .arg("--db")
        .arg(dir.db())
        .args(["--wait", "60"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("espp starts");
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    let out = child.wait_with_output().expect("espp ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    assert!(
        stderr.contains("waiting for the ledger"),
        "{args:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn wait_takes_the_ledger_when_it_is_free() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let held = Ledger::open(&dir.db(), &Options::default()).expect("open the ledger");
    assert!(run_waiting(&dir, held, &["verify"]).contains("intact"));

    // A bad value is a usage error.
    dir.espp(&["--wait", "soon", "verify"])
        .expect_code(2)
        .stderr_has("whole seconds");
}

/// `append` opens the ledger on a second thread while it reads the input
/// (`cmd/append.rs`, `Opening`): a held ledger is still waited for (`--wait`) and then
/// appended to, and a bad input to a held ledger is still refused at once, not after
/// waiting for the ledger, with nothing stored.
#[test]
fn an_append_waits_for_a_held_ledger_but_refuses_a_bad_input_at_once() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let bad = dir.file(
        "bad.jsonl",
        "{\"type\":\"market_price\",\"date\":\"2026-02-02\",\"closes\":[\"10.00\"]}\nnot json\n",
    );
    let good = dir.file(
        "good.jsonl",
        r#"{"type":"market_price","date":"2026-02-02","closes":["10.00"]}"#,
    );
    let held = Ledger::open(&dir.db(), &Options::default()).expect("open the ledger");

    let start = Instant::now();
    let run = dir.espp(&["--wait", "60", "append", bad.to_str().expect("UTF-8")]);
    let took = start.elapsed();
    run.expect_code(1).stderr_has("line 2");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the bad input waited for the ledger"
    );

    run_waiting(&dir, held, &["append", good.to_str().expect("UTF-8")]);
    wait_until_closed(&dir.db());
    let after = dir.export();
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count();
    assert_eq!(lines(&after), lines(&before) + 1, "one record more");
    assert!(
        after.starts_with(&before),
        "the earlier records as they were"
    );
}
