//! Group commit through the library (engine/src/writer.rs): many concurrent appenders, each
//! answered after its batch is durable; every event stored once, batches whole and in one
//! piece, fewer durable writes than batches.

use std::collections::{BTreeMap, BTreeSet};

use espp_engine::{GroupCommitter, Ledger, Options};
use espp_events::{parse_line, Actor, EventInput, Line};

use crate::util::{wait_until_closed, Dir};

const TASKS: u64 = 64;
const BATCHES: u64 = 4;
const EVENTS: u64 = 3;

fn event(text: &str) -> EventInput {
    match parse_line(text) {
        Ok(Line::Bare(e)) => e,
        other => panic!("not a bare event: {other:?}"),
    }
}

/// Batch `b` of task `t`: `EVENTS` hires with fixed ids (so that a resend is recognised).
fn batch(t: u64, b: u64) -> Vec<EventInput> {
    (0..EVENTS)
        .map(|k| {
            event(&format!(
                r#"{{"type":"employee_hired","date":"2026-01-05","employee":"g{t}.b{b}.i{k}","weekly_hours":"40","months_per_year":"12","id":"0193f0a4-7c00-7000-8000-{:012x}"}}"#,
                (t << 16) | (b << 8) | k
            ))
        })
        .collect()
}

#[test]
fn concurrent_appends_are_grouped_and_each_stored_once() {
    let dir = Dir::new();
    let mut ledger = Ledger::open_or_create(&dir.db(), &Options::default()).expect("open");
    let actor = Actor::new("group-test").expect("an actor");
    ledger
        .append(
            espp_engine::Batch::of_events(
                vec![event(
                    r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"group"}}"#,
                )],
                actor.clone(),
            ),
            espp_engine::now(),
        )
        .expect("the plan");
    let (committer, writer) = GroupCommitter::start(ledger, 64, espp_engine::now);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .expect("a runtime");
    let reports = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let committer = committer.clone();
            let actor = actor.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for b in 0..BATCHES {
                    out.push((b, committer.append(batch(t, b), actor.clone()).await));
                }
                // A resend of the first batch is recognised and stores nothing.
                let again = committer.append(batch(t, 0), actor.clone()).await;
                (t, out, again)
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.expect("an appender task"));
        }
        all
    });
    drop(committer);
    let ledger = writer.join();

    let mut acked = BTreeMap::new();
    for (t, out, again) in reports {
        for (b, r) in out {
            let r = r.unwrap_or_else(|e| panic!("task {t} batch {b}: {e}"));
            let (first, last) = r.stored.expect("stored");
            assert_eq!(last - first + 1, EVENTS);
            acked.insert(format!("g{t}.b{b}"), (first, last));
        }
        let again = again.unwrap_or_else(|e| panic!("task {t} resend: {e}"));
        assert_eq!(again.stored, None, "task {t}: the resend stored again");
        assert_eq!(again.skipped.len() as u64, EVENTS);
    }

    let report = ledger.verify().expect("verify runs");
    assert!(report.problem.is_none(), "verify: {:?}", report.problem);
    let records: Vec<_> = ledger.records().map(|r| r.expect("a record")).collect();
    assert_eq!(records.len() as u64, 1 + TASKS * BATCHES * EVENTS);
    let mut employees = BTreeSet::new();
    let mut instants = BTreeSet::new();
    let mut batch_instant = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seqs are gapless");
        let Some(e) = r.event.employee() else {
            continue;
        };
        assert!(employees.insert(e.as_str().to_string()), "{e} stored twice");
        let batch_name = e
            .as_str()
            .rsplit_once('.')
            .expect("g<t>.b<b>.i<k>")
            .0
            .to_string();
        let (first, last) = acked[&batch_name];
        assert!(
            (first..=last).contains(&r.seq),
            "{e} at seq {} outside its batch's {first}-{last}",
            r.seq
        );
        // A batch is written by one group: one instant for all of it.
        let at = *batch_instant.entry(batch_name).or_insert(r.recorded_at);
        assert_eq!(
            at, r.recorded_at,
            "{e}: its batch has two recorded_at instants"
        );
        instants.insert(r.recorded_at);
    }
    assert_eq!(employees.len() as u64, TASKS * BATCHES * EVENTS);
    let batches = (TASKS * BATCHES) as usize;
    eprintln!(
        "group commit: {batches} batches in {} durable writes",
        instants.len()
    );
    assert!(
        instants.len() < batches,
        "no grouping: {batches} batches took {} writes",
        instants.len()
    );
    drop(ledger);
    wait_until_closed(&dir.db());
    dir.espp(&["verify"]).expect_code(0);
}
