//! Issue 15: `state --format json` (and `replay --format json`) are written straight from
//! the state; on the demo ledger their bytes equal the old rendering — the projection as a
//! `serde_json::Value` with its provenance, printed — for the latest state, an as-of day, a
//! `--known-at` instant and a `--through-seq`, and so does the digest.

use espp_engine::{Ledger, Options};
use espp_replay::Query;
use serde_json::Value;

use crate::util::{wait_until_closed, Dir};

/// The old rendering of a fold of `query`, with the provenance the command printed.
fn oracle(ledger: &Ledger, query: &Query, printed: &Value) -> String {
    let state = ledger.fold(query, &mut |_| {}).expect("fold");
    let mut v = state.projection(query.as_of);
    let head = printed["head"].as_object().map(|h| {
        (
            h["seq"].as_u64().expect("seq"),
            h["hash"].as_str().expect("hash").to_string(),
        )
    });
    espp_projections::with_provenance(
        &mut v,
        printed["known_at"].as_str().map(str::to_string),
        head,
    );
    format!("{v}\n")
}

#[test]
fn state_json_is_byte_for_byte_the_value_rendering_on_the_demo_ledger() {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    let export = dir.file("demo.jsonl", dir.export());
    let export = export.to_str().expect("utf-8 path");
    let mid = {
        let exported = String::from_utf8(dir.export()).expect("utf-8");
        let records = exported.lines().count();
        let line = exported.lines().nth(records / 2).expect("a middle record");
        let r: Value = serde_json::from_str(line).expect("json");
        (
            r["recorded_at"].as_str().expect("recorded_at").to_string(),
            records,
        )
    };
    let through = (mid.1 / 3).to_string();
    let cases: Vec<(Vec<&str>, Query)> = vec![
        (vec![], Query::default()),
        (
            vec!["--as-of", "2026-05-15"],
            Query {
                as_of: espp_events::Day::parse("2026-05-15").ok(),
                ..Query::default()
            },
        ),
        (
            vec!["--known-at", &mid.0],
            Query {
                known_at: espp_events::Instant::parse(&mid.0).ok(),
                ..Query::default()
            },
        ),
        (
            vec!["--through-seq", &through],
            Query {
                through_seq: Some(mid.1 as u64 / 3),
                ..Query::default()
            },
        ),
    ];
    let mut outputs = Vec::new();
    for (args, _) in &cases {
        let mut a = vec!["--format", "json", "state"];
        a.extend(args);
        let run = dir.espp(&a);
        run.expect_code(0);
        let mut replay = vec!["--format", "json", "replay", "--from-export", export];
        replay.extend(args);
        let again = dir.espp(&replay);
        again.expect_code(0);
        assert_eq!(again.stdout, run.stdout, "replay of the export {args:?}");
        outputs.push(run.stdout.clone());
    }
    wait_until_closed(&dir.db());
    let ledger =
        crate::util::while_busy(|| Ledger::open(&dir.db(), &Options::default())).expect("open");
    for ((args, query), printed) in cases.iter().zip(&outputs) {
        let v: Value = serde_json::from_str(printed).expect("json");
        assert_eq!(
            printed,
            &oracle(&ledger, query, &v),
            "state {args:?}: not the Value rendering"
        );
        let digest = v["digest"].as_str().expect("digest");
        assert_eq!(digest, espp_projections::digest_of(&v), "{args:?}");
    }
}

/// `verify`'s one pass (`Ledger::verify_all`) and the reference, a fold per checkpoint
/// (`Ledger::verify_checkpoints`), give the same digest and the same check of every
/// checkpoint.
fn same_verdicts(db: &std::path::Path) -> usize {
    wait_until_closed(db);
    let ledger = crate::util::while_busy(|| Ledger::open(db, &Options::default())).expect("open");
    let (report, folded) = ledger.verify_all().expect("verify_all");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    let (digest, checks) = folded.expect("folded");
    let (want_digest, want) = ledger.verify_checkpoints().expect("verify_checkpoints");
    assert_eq!(digest, want_digest);
    let show = |c: &[espp_engine::CheckpointCheck]| {
        c.iter()
            .map(|c| format!("{} {:?} {:?} {}", c.seq, c.kind, c.problem, c.disagrees))
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&checks), show(&want));
    let disagreeing = checks.iter().filter(|c| c.disagrees).count();
    drop(ledger);
    wait_until_closed(db);
    disagreeing
}

fn edit_checkpoints(db: &std::path::Path, f: impl FnOnce(&sled::Tree)) {
    wait_until_closed(db);
    let sled = crate::util::while_busy(|| {
        espp_engine::store::sled_config(&db.join("log"))
            .expect("sled conf")
            .open()
    })
    .expect("sled");
    let tree = sled.open_tree("checkpoints").expect("tree");
    f(&tree);
    tree.flush().expect("flush");
    drop(tree);
    drop(sled);
    wait_until_closed(db);
}

#[test]
fn verify_in_one_pass_agrees_with_a_fold_per_checkpoint() {
    let dir = Dir::new();
    // Periodic checkpoints between the purchase ones.
    dir.espp(&["--checkpoint-every", "300", "demo"])
        .expect_code(0);
    // The demo's last record is a purchase: its checkpoint is compared with the final state
    // (while the digest is rendered on another thread).
    assert_eq!(same_verdicts(&dir.db()), 0);
    // A record stored after the last periodic checkpoint but dated before its day: that
    // checkpoint's state is the fold through its seq only with this record left out.
    // (Each of these appends takes a periodic checkpoint: every 1 event.)
    for (name, line) in [
        (
            "a.jsonl",
            r#"{"type":"market_price","date":"2028-01-10","closes":["31.00"]}"#,
        ),
        (
            "b.jsonl",
            r#"{"type":"market_price","date":"2028-01-05","closes":["30.50"]}"#,
        ),
    ] {
        let f = dir.file(name, line);
        let f = f.to_str().expect("utf-8 path");
        dir.espp(&["--checkpoint-every", "1", "append", "--allow-future", f])
            .expect_code(0);
    }
    let db = dir.db();
    let mut all = 0;
    edit_checkpoints(&db, |t| all = t.scan_prefix([b'h']).count());
    // Every purchase checkpoint, and the latest periodic one only (retention).
    assert!(all >= 3, "purchase and periodic checkpoints: {all}");
    assert_eq!(same_verdicts(&db), 0);

    // One state's bytes flipped, two states swapped, one header from an unknown format.
    edit_checkpoints(&db, |t| {
        let states: Vec<_> = t.scan_prefix([b'p']).filter_map(Result::ok).collect();
        let headers: Vec<_> = t.scan_prefix([b'h']).filter_map(Result::ok).collect();
        let mut flipped = states[0].1.to_vec();
        for b in flipped.iter_mut().skip(10).take(20) {
            *b = !*b;
        }
        t.insert(&states[0].0, flipped).expect("insert");
        let last = states.len() - 1;
        t.insert(&states[last].0, states[last - 1].1.clone())
            .expect("insert");
        let mut h = headers[2].1.to_vec();
        h[0] = 0;
        t.insert(&headers[2].0, h).expect("insert");
    });
    assert!(same_verdicts(&db) >= 1);
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("checkpoint at seq");
}

/// `state --employee E` is E's entry of the whole projection of the same query (and its
/// `as_of`, `head`, `known_at`): for every employee of the demo, the latest state and as of
/// days around every period's start, end and purchase (across purchases, leaves, deaths and
/// capital changes), read from the checkpoints' parts or folded whole.
#[test]
fn one_employee_state_is_its_entry_of_the_whole_projection() {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    let whole = dir.json(&["state"]);
    let mut days: Vec<String> = Vec::new();
    for p in whole["periods"].as_array().expect("periods") {
        for (key, deltas) in [("start", &[0][..]), ("purchase_date", &[-1, 0, 1][..])] {
            if let Some(d) = p[key].as_str() {
                let day = espp_events::Day::parse(d).expect("day");
                days.extend(
                    deltas
                        .iter()
                        .filter_map(|n| day.add_days(*n))
                        .map(|d| d.to_string()),
                );
            }
        }
    }
    days.sort();
    days.dedup();
    // At most six days, spread over the demo's life, and the latest state.
    let step = days.len().div_ceil(6).max(1);
    let mut days: Vec<Option<String>> = days.into_iter().step_by(step).map(Some).collect();
    days.push(None);
    let ids: Vec<String> = whole["employees"]
        .as_object()
        .expect("employees")
        .keys()
        .cloned()
        .chain(["nobody".to_string()])
        .collect();
    assert!(
        ids.len() > 3 && days.len() > 4,
        "{} ids, {} days",
        ids.len(),
        days.len()
    );
    for day in &days {
        let mut args = vec!["state"];
        if let Some(d) = day {
            args.extend(["--as-of", d.as_str()]);
        }
        let full = dir.json(&args);
        for id in &ids {
            let mut one_args = args.clone();
            one_args.extend(["--employee", id.as_str()]);
            let one = dir.json(&one_args);
            let entry = full["employees"].get(id).cloned().unwrap_or(Value::Null);
            assert_eq!(one["employee"], entry, "{id} as of {day:?}");
            for key in ["as_of", "head", "known_at"] {
                assert_eq!(one[key], full[key], "{key}");
            }
            assert_eq!(one["id"], Value::String(id.clone()));
        }
    }
}
