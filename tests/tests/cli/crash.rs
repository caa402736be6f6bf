//! Crash safety (INTERCHANGE.md `append`: "all or none; durable before it reports success"):
//! a process appending in a loop is SIGKILLed at random moments; after each kill the ledger
//! reopens with every acknowledged batch whole, no batch in part, gapless seqs and a chain
//! that verifies. Seeded (`ESPP_TEST_SEED`) so that a failure can be replayed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use espp_engine::{Ledger, Options};

use crate::util::{own_bin, wait_until_closed, while_busy, Dir, Rng};

const ROUNDS: u64 = 24;

/// `ack <batch> <first_seq> <last_seq>` lines of one run.
fn parse_ack(line: &str) -> (u64, u64, u64) {
    let parts: Vec<u64> = line
        .strip_prefix("ack ")
        .unwrap_or_else(|| panic!("not an ack: {line:?}"))
        .split(' ')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not an ack: {line:?}")))
        .collect();
    match parts[..] {
        [b, first, last] => (b, first, last),
        _ => panic!("not an ack: {line:?}"),
    }
}

/// (round, batch, index, size) from an employee id `r<round>.b<batch>.i<index>.n<size>`.
fn parse_employee(id: &str) -> (u64, u64, u64, u64) {
    let parts: Vec<u64> = id
        .split('.')
        .map(|p| {
            p[1..]
                .parse()
                .unwrap_or_else(|_| panic!("unexpected employee {id}"))
        })
        .collect();
    match parts[..] {
        [r, b, i, n] => (r, b, i, n),
        _ => panic!("unexpected employee {id}"),
    }
}

#[test]
fn killed_appender_leaves_whole_acknowledged_batches() {
    let mut rng = Rng::from_env("crash test");
    let dir = Dir::new();
    dir.append(r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"crash test"}}"#)
        .expect_code(0);
    let db = dir.db();
    // Every acknowledged batch: (round, batch) -> (first, last).
    let mut acked: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    let mut stats = (0usize, 0usize); // (acks, acks of batches over one chunk)
    for round in 0..ROUNDS {
        let mut child = Command::new(own_bin("crash_appender"))
            .arg(&db)
            .arg(round.to_string())
            .arg(rng.next().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crash_appender starts");
        let stdout = child.stdout.take().expect("a stdout pipe");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let delay = rng.range(2, 200);
        std::thread::sleep(Duration::from_millis(delay));
        if let Some(status) = child.try_wait().expect("poll the child") {
            let out = child.wait_with_output().expect("its stderr");
            panic!(
                "round {round}: the appender stopped by itself ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        child.kill().expect("SIGKILL the appender");
        child.wait().expect("reap the appender");
        let lines = reader.join().expect("the reader thread");
        for line in &lines {
            let (batch, first, last) = parse_ack(line);
            stats.0 += 1;
            if last - first + 1 > espp_engine::CHUNK_RECORDS as u64 {
                stats.1 += 1;
            }
            acked.insert((round, batch), (first, last));
        }

        // Reopen as the next process would, and check everything so far.
        let ledger = while_busy(|| Ledger::open(&db, &Options::default()))
            .unwrap_or_else(|e| panic!("round {round} (after {delay} ms): reopen failed: {e}"));
        let report = ledger.verify().expect("verify runs");
        assert!(
            report.problem.is_none(),
            "round {round} (after {delay} ms): verify found {:?}",
            report.problem
        );
        let mut batches: BTreeMap<(u64, u64), (u64, u64, u64)> = BTreeMap::new(); // first, last, size
        let mut expected_seq = 1;
        for r in ledger.records() {
            let r = r.unwrap_or_else(|e| panic!("round {round}: a record does not read: {e}"));
            assert_eq!(r.seq, expected_seq, "round {round}: seqs are not gapless");
            expected_seq += 1;
            let Some(employee) = r.event.employee() else {
                assert_eq!(r.seq, 1, "round {round}: only seq 1 is not a hire");
                continue;
            };
            let (rd, b, i, n) = parse_employee(employee.as_str());
            let entry = batches.entry((rd, b)).or_insert((r.seq, r.seq - 1, n));
            assert_eq!(
                (entry.1 + 1, entry.0 + i),
                (r.seq, r.seq),
                "round {round}: batch r{rd}.b{b} is not contiguous and in order at seq {}",
                r.seq
            );
            entry.1 = r.seq;
        }
        assert_eq!(ledger.head_seq(), expected_seq - 1, "round {round}: head");
        assert_eq!(
            report.records,
            expected_seq - 1,
            "round {round}: verified count"
        );
        for (&(rd, b), &(first, last, n)) in &batches {
            assert_eq!(
                last - first + 1,
                n,
                "round {round}: batch r{rd}.b{b} is partly stored ({} of {n} records)",
                last - first + 1
            );
        }
        for (&(rd, b), &(first, last)) in &acked {
            assert_eq!(
                batches.get(&(rd, b)).map(|e| (e.0, e.1)),
                Some((first, last)),
                "round {round}: acknowledged batch r{rd}.b{b} (seq {first}-{last}) is not there whole"
            );
        }
        // Batches of one round were appended in order: a later one stored means every
        // earlier one was too (appends are not reordered).
        for &(rd, b) in batches.keys() {
            if b > 0 {
                assert!(
                    batches.contains_key(&(rd, b - 1)),
                    "round {round}: batch r{rd}.b{b} stored without batch {}",
                    b - 1
                );
            }
        }
        drop(ledger);
        wait_until_closed(&db);
    }
    eprintln!(
        "crash test: {} acknowledged batches ({} over one chunk), {} kills",
        stats.0, stats.1, ROUNDS
    );
    assert!(
        stats.0 > 0,
        "no batch was ever acknowledged: the test proved nothing"
    );
    dir.espp(&["verify"]).expect_code(0);
}
