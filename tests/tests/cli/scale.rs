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
    let ledger = Ledger::open(&dir.db(), &Options::default()).expect("open");
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
