//! Unit tests of the employee index (`whoindex.rs`, `whoruns.rs`): its block encoding, its
//! runs merged by level and rolled back, and the upgrade of a ledger without it, built in
//! sorted runs of a bounded number of entries and merged, giving the same seqs as the index
//! the appends wrote.

use std::collections::{BTreeMap, BTreeSet};

use espp_events::{parse_line, Actor, Line};

use super::whoruns::{decode_block, encode_block, Entry, Runs, BLOCK_ENTRIES, FANOUT};
use super::{Batch, Ledger, Options};

fn db() -> (tempfile::TempDir, sled::Db) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .open()
        .expect("open sled");
    (dir, db)
}

/// A fixed-seed xorshift.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn blocks_decode_to_what_was_encoded_and_malformed_ones_do_not_decode() {
    let mut seed = 11;
    for n in [1usize, 2, 3, 100, BLOCK_ENTRIES] {
        let mut entries: BTreeSet<Entry> = BTreeSet::new();
        while entries.len() < n {
            // Few `who`s (groups of many seqs) and seqs up to 2^40.
            let who = (next(&mut seed) % 37) as u32 * 0x0101_0101;
            entries.insert((who, next(&mut seed) >> 24));
        }
        let entries: Vec<Entry> = entries.into_iter().collect();
        let v = encode_block(&entries);
        assert_eq!(decode_block(&v), Some(entries.clone()));
        // Cut anywhere inside the last group: never the same entries.
        for cut in 1..v.len().min(12) {
            assert_ne!(decode_block(&v[..v.len() - cut]), Some(entries.clone()));
        }
    }
    assert_eq!(decode_block(&[]), None);
    // Two groups out of order, a zero delta, a count of zero.
    let mut v = vec![5];
    v.extend_from_slice(&[0, 0, 0, 9, 1, 0, 0, 0, 0, 8, 1, 0]);
    assert_eq!(decode_block(&v), None);
    assert_eq!(decode_block(&[5, 0, 0, 0, 9, 2, 0, 0]), None);
    assert_eq!(decode_block(&[5, 0, 0, 0, 9, 0]), None);
    assert_eq!(
        decode_block(&[5, 0, 0, 0, 9, 2, 0, 3]),
        Some(vec![(9, 5), (9, 8)])
    );
}

/// Appends `n` entries of random `who`s (of 50) at the next seqs as one run, then merges.
fn append(runs: &mut Runs, db: &sled::Db, seq: &mut u64, n: usize, all: &mut Vec<Entry>) {
    let mut seed = *seq + 1;
    let entries: Vec<Entry> = (0..n)
        .map(|_| {
            *seq += 1;
            ((next(&mut seed) % 50) as u32, *seq)
        })
        .collect();
    all.extend(&entries);
    let mut batch = sled::Batch::default();
    let run = runs.add_run(db, &mut batch, entries).expect("add a run");
    db.apply_batch(batch).expect("apply");
    runs.commit(run);
    runs.compact(db).expect("compact");
}

/// Every `who`'s seqs are found, the runs load as they are held, and no block of a run
/// merged away is left.
fn check(runs: &Runs, db: &sled::Db, all: &[Entry]) {
    let mut want: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (w, s) in all {
        want.entry(*w).or_default().push(*s);
    }
    for w in 0..60u32 {
        let mut got = runs.seqs_of(db, w).expect("read").expect("every block");
        got.sort_unstable();
        assert_eq!(got, want.get(&w).cloned().unwrap_or_default(), "who {w}");
    }
    let loaded = Runs::load(db).expect("read").expect("well formed");
    assert_eq!(loaded.runs(), runs.runs());
    let blocks: usize = runs
        .runs()
        .iter()
        .map(|r| r.count.div_ceil(BLOCK_ENTRIES as u64) as usize)
        .sum();
    assert_eq!(db.scan_prefix([b'v']).count(), blocks);
}

#[test]
fn appends_merge_by_level_and_every_seq_is_found() {
    let (_dir, db) = db();
    let mut runs = Runs::default();
    let (mut seq, mut all) = (0u64, Vec::new());
    let sizes = [1usize, 3, 2500, 1, 700, 5000, 2, 2048, 2049];
    for (i, &n) in sizes.iter().cycle().take(FANOUT * FANOUT + 5).enumerate() {
        append(&mut runs, &db, &mut seq, n, &mut all);
        // At most FANOUT - 1 runs of each level: 64 + 5 appends leave 1 + 0 + 5.
        assert!(runs.runs().len() < 3 * FANOUT, "after append {i}");
    }
    assert_eq!(runs.runs().len(), 1 + 5);
    check(&runs, &db, &all);
}

#[test]
fn a_roll_back_removes_the_entries_beyond_the_head() {
    let (_dir, db) = db();
    let mut runs = Runs::default();
    let (mut seq, mut all) = (0u64, Vec::new());
    for n in [2000usize, 1500, 10, 7].into_iter().chain([3; 2 * FANOUT]) {
        append(&mut runs, &db, &mut seq, n, &mut all);
    }
    // 3000 falls inside the second run; the newer ones (merged or not) lie beyond it.
    runs.roll_back(&db, 3000).expect("roll back");
    all.retain(|e| e.1 <= 3000);
    check(&runs, &db, &all);
    // And appends go on from there.
    seq = 3000;
    for n in [5usize; FANOUT + 1] {
        append(&mut runs, &db, &mut seq, n, &mut all);
    }
    check(&runs, &db, &all);
}

fn batch(lines: Vec<String>) -> Batch {
    let lines = lines
        .iter()
        .enumerate()
        .map(|(i, t)| (i + 1, parse_line(t).expect("a valid event")))
        .collect::<Vec<(usize, Line)>>();
    Batch::new(lines, Actor::new("unit").expect("an actor"))
}

/// A plan, 40 hires over three appends, prices between: records of employees and of none.
fn small_ledger(dir: &std::path::Path) -> Ledger {
    let mut ledger = Ledger::open_or_create(dir, &Options::default()).expect("create");
    let plan = r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"u"}}"#;
    ledger
        .append(batch(vec![plan.into()]), crate::now())
        .expect("plan");
    for (k, range) in [0..15, 15..30, 30..40].into_iter().enumerate() {
        let mut lines: Vec<String> = range
            .map(|i| format!(r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#))
            .collect();
        lines.push(format!(
            r#"{{"type":"market_price","date":"2026-01-0{}","closes":["10.{k}0"]}}"#,
            k + 6
        ));
        ledger.append(batch(lines), crate::now()).expect("append");
    }
    ledger
}

fn seqs_by_employee(ledger: &Ledger) -> BTreeMap<String, Vec<u64>> {
    (0..40)
        .map(|i| {
            let e = format!("E{i}");
            let seqs = ledger
                .who_seqs(&e)
                .expect("read")
                .expect("the index serves");
            (e, seqs)
        })
        .collect()
}

#[test]
fn the_upgrade_builds_in_bounded_runs_what_the_appends_wrote() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut ledger = small_ledger(dir.path());
    let written = seqs_by_employee(&ledger);
    // Each employee's one hire, at its seq in the log.
    for (e, seqs) in &written {
        let from_log: Vec<u64> = ledger
            .records()
            .map(|r| r.expect("read"))
            .filter(|r| r.event.employee().is_some_and(|x| x.as_str() == e))
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, &from_log, "{e}");
    }
    let globals = ledger
        .global_records(u64::MAX)
        .expect("read")
        .expect("serves");
    assert_eq!(
        globals.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 17, 33, 44]
    );
    assert!(ledger.verify().expect("verify").problem.is_none());
    // Without its mark the index does not serve; built again 3 entries at a time (13 runs
    // spilled to a file, and the last in memory, merged into one), it holds the same.
    ledger.db.remove(b"mwho").expect("remove the mark");
    ledger.who = super::WhoIndex::load(&ledger.db).expect("load");
    assert_eq!(ledger.who_seqs("E1").expect("read"), None);
    assert_eq!(ledger.global_records(u64::MAX).expect("read"), None);
    std::fs::write(dir.path().join("who-upgrade.tmp"), b"left by a crash").expect("write");
    ledger.ensure_who_index_with(3).expect("upgrade");
    assert_eq!(ledger.who.runs.runs().len(), 1);
    assert!(
        !dir.path().join("who-upgrade.tmp").exists(),
        "the spill file is removed"
    );
    assert_eq!(seqs_by_employee(&ledger), written);
    let again = ledger
        .global_records(u64::MAX)
        .expect("read")
        .expect("serves");
    assert_eq!(again, globals);
    assert!(ledger.verify().expect("verify").problem.is_none());
    // It loads as written, and the next append's run goes beside it.
    ledger.who = super::WhoIndex::load(&ledger.db).expect("load");
    let hire = r#"{"type":"employee_hired","date":"2026-01-09","employee":"E1x","weekly_hours":"40","months_per_year":"12"}"#;
    ledger
        .append(batch(vec![hire.into()]), crate::now())
        .expect("append");
    assert_eq!(ledger.who_seqs("E1x").expect("read"), Some(vec![45]));
    assert_eq!(seqs_by_employee(&ledger), written);
    assert!(ledger.verify().expect("verify").problem.is_none());
}
