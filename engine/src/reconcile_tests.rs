//! Unit tests of how an open reconciles sled with the head file (store.rs, `reconcile`): a
//! whole batch beyond the recorded head is kept after a crash but removed after a recorded
//! failure, and a log that stops short of the head is damage.

use std::path::Path;

use espp_events::{parse_line, Actor, Line};

use super::headfile::{Acked, HeadFile, Sync};
use super::{Batch, Ledger, Options, StoreError};

fn hires(from: usize, n: usize) -> Batch {
    let lines = (from..from + n)
        .map(|i| {
            let text = format!(
                r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
            );
            (i, parse_line(&text).expect("a valid event"))
        })
        .collect::<Vec<(usize, Line)>>();
    Batch::new(lines, Actor::new("unit").expect("an actor"))
}

/// A ledger of a plan (seq 1), the head file as it stood then, and then three hires (2-4)
/// appended whole: returns the head file's record of seq 1.
fn ledger_past_its_head(dir: &Path) -> Acked {
    let mut ledger = Ledger::open_or_create(dir, &Options::default()).expect("create");
    let plan = parse_line(r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"u"}}"#)
        .expect("a plan");
    ledger
        .append(
            Batch::new(vec![(1, plan)], Actor::new("unit").expect("an actor")),
            crate::now(),
        )
        .expect("append the plan");
    drop(ledger);
    let (_, at_one) = HeadFile::open(dir).expect("open").expect("a head file");
    assert_eq!(at_one.head.seq, 1);
    let mut ledger = reopen(dir).expect("reopen");
    ledger.append(hires(1, 3), crate::now()).expect("append");
    assert_eq!(ledger.head_seq(), 4);
    drop(ledger);
    at_one
}

fn reopen(dir: &Path) -> Result<Ledger, StoreError> {
    // sled's own lock can outlive a dropped ledger for a moment.
    for _ in 0..500 {
        match Ledger::open(dir, &Options::default()) {
            Err(StoreError::Busy(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other,
        }
    }
    Ledger::open(dir, &Options::default())
}

fn set_head_file(dir: &Path, acked: &Acked) {
    let (mut f, _) = HeadFile::open(dir).expect("open").expect("a head file");
    f.write(acked, Sync::Now).expect("write the head file");
}

#[test]
fn a_whole_batch_beyond_the_head_is_kept_after_a_crash() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let at_one = ledger_past_its_head(dir.path());
    set_head_file(dir.path(), &at_one);
    let ledger = reopen(dir.path()).expect("reopen");
    assert_eq!(ledger.head_seq(), 4);
    assert!(ledger.verify().expect("verify").problem.is_none());
    drop(ledger);
    let (_, now) = HeadFile::open(dir.path())
        .expect("open")
        .expect("a head file");
    assert_eq!(now.head.seq, 4, "the kept batch was not recorded");
}

#[test]
fn a_whole_batch_beyond_a_recorded_failure_is_removed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let at_one = ledger_past_its_head(dir.path());
    set_head_file(
        dir.path(),
        &Acked {
            failed_after: true,
            ..at_one
        },
    );
    let mut ledger = reopen(dir.path()).expect("reopen");
    assert_eq!(ledger.head_seq(), 1);
    let report = ledger.verify().expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(report.records, 1);
    // The removed batch's ids are free again: the same events append as new records.
    let again = ledger.append(hires(1, 3), crate::now()).expect("append");
    assert_eq!(again.stored, Some((2, 4)));
    assert!(again.skipped.is_empty());
}

#[test]
fn a_log_short_of_the_head_is_damage() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let at_one = ledger_past_its_head(dir.path());
    let (_, at_four) = HeadFile::open(dir.path())
        .expect("open")
        .expect("a head file");
    // The head file says seq 6 was acknowledged, chaining on from seq 4.
    let mut ahead = at_four;
    ahead.head.seq = 6;
    set_head_file(dir.path(), &ahead);
    // A salvage open keeps the damage, reads what there is and refuses appends.
    let mut ledger = Ledger::open_salvage(dir.path(), &Options::default()).expect("salvage");
    assert_eq!(ledger.damage().map(|p| p.seq), Some(5));
    assert_eq!(ledger.records().count(), 4);
    assert!(matches!(
        ledger.append(hires(9, 1), crate::now()),
        Err(StoreError::Damaged { seq: 5, .. })
    ));
    drop(ledger);
    // An ordinary open refuses. (It then leaves sled unclosed, like any failed open: this
    // process cannot open the ledger again, so this comes last.)
    match reopen(dir.path()) {
        Err(StoreError::Damaged { seq, message }) => {
            assert_eq!(seq, 5, "{message}");
            assert!(
                message.contains("seq 6 was the last acknowledged"),
                "{message}"
            );
        }
        other => panic!("expected damage, got {other:?}"),
    }
    // The head file is not set back to the shorter log.
    let (_, still) = HeadFile::open(dir.path())
        .expect("open")
        .expect("a head file");
    assert_eq!(still.head.seq, 6);
    assert_ne!(still.head.seq, at_one.head.seq);
}
