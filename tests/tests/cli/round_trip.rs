//! Export and append are inverses (INTERCHANGE.md `espp export`): a ledger built from several
//! appends of bare events, exported and appended into a new database, exports the same bytes.

use crate::util::{json_lines, run_espp, Dir};

/// Bare events valid under shared/DOMAIN.md, in four appends: the plan first, stockholder
/// approval and a period scheduled before its start, prices of every shape, employees.
const APPENDS: [&str; 4] = [
    r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"SAVVIS ESPP","max_rate":"0.10"}}
{"type":"shares_outstanding","date":"2026-01-02","shares":"10000000"}
{"type":"employee_hired","date":"2026-01-02","employee":"E1","hire_date":"2024-03-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2026-01-02","employee":"E2.x_y-z","weekly_hours":"37.5","months_per_year":"12","id":"0193f0a4-7c00-7000-8000-00000000e002"}
"#,
    r#"{"type":"stockholders_approved","date":"2026-01-10"}
{"type":"period_scheduled","date":"2026-01-10","period":"2026H1","start":"2026-02-01","end":"2026-07-31","share_limit":"1000","value_limit":"25000.00","price_factor":"0.90"}
"#,
    r#"{"type":"market_price","date":"2026-02-02","closes":["10.00","10.25"]}
{"type":"market_price","date":"2026-02-03","bid":"10.10","ask":"10.30"}
{"type":"market_price","date":"2026-02-04","high":"10.50","low":"9.90"}
{"type":"market_price","date":"2026-02-05","board_fmv":"10.125"}
{"type":"market_price","date":"2026-02-06","no_sale":true}
"#,
    r#"{"type":"ownership_reported","date":"2026-02-09","employee":"E1","shares":"100"}
{"type":"employee_changed","date":"2026-02-09","employee":"E2.x_y-z","weekly_hours":"30"}
{"type":"shares_outstanding","date":"2026-02-10","shares":"10000500.5"}
"#,
];

#[test]
fn export_appended_into_a_new_ledger_exports_the_same_bytes() {
    let dir = Dir::new();
    for (i, events) in APPENDS.iter().enumerate() {
        if i == 1 {
            // One of them through stdin.
            run_espp(
                dir.path(),
                Some(&dir.db()),
                &["append", "-"],
                Some(events.as_bytes()),
            )
            .expect_code(0);
        } else {
            dir.append(events).expect_code(0);
        }
    }
    dir.espp(&["verify"]).expect_code(0);
    let export = dir.export();
    let records = json_lines(&export);
    assert_eq!(records.len(), 14);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
        assert_eq!(r["actor"], "cli-test");
    }
    // Values come back exactly as written (scale kept, strings not numbers).
    assert_eq!(records[3]["weekly_hours"], "37.5");
    assert_eq!(records[3]["id"], "0193f0a4-7c00-7000-8000-00000000e002");
    assert_eq!(records[6]["closes"], serde_json::json!(["10.00", "10.25"]));
    assert_eq!(records[10]["no_sale"], true);

    let copy = dir.path().join("copy");
    let f = dir.file("export.jsonl", &export);
    let run = dir.espp_at(&copy, &["append", f.to_str().expect("UTF-8")]);
    run.expect_code(0);
    assert!(run.stdout.contains("seq 1-14"), "{}", run.stdout);
    dir.espp_at(&copy, &["verify"]).expect_code(0);
    assert_eq!(dir.export_at(&copy), export, "the copy exports other bytes");

    // Appending an export into its own ledger is a no-op that names every line, in one
    // summary line (the lines and seqs run together).
    let run = dir.espp(&["append", f.to_str().expect("UTF-8")]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "lines 1-14: skipped, 14 events stored already as seq 1-14\nnothing new: every event is stored already\n"
    );
    assert_eq!(dir.export(), export);

    // A later bare append to the copy continues both chains the same way.
    let more = r#"{"type":"market_price","date":"2026-02-11","closes":["11.00"],"id":"0193f0a4-7c00-7000-8000-00000000f011"}"#;
    dir.append(more).expect_code(0);
    dir.append_at(&copy, more).expect_code(0);
    let (a, b) = (json_lines(&dir.export()), json_lines(&dir.export_at(&copy)));
    assert_eq!(a[14]["prev_hash"], b[14]["prev_hash"]);
    assert_eq!(a[14]["seq"], 15);
}
