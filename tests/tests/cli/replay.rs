//! Replay and audit through the command line (issue 7): as-of days around a purchase, a
//! back-dated correction seen through-seq before and after it, rule diffs on the demo ledger
//! checked by hand, checkpoints deleted, corrupted or from an older format giving the same
//! answers, and an export replayed without the database, in blocks of any size.

use std::path::Path;

use crate::util::{json_lines, Dir};

fn demo() -> Dir {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    dir
}

#[test]
fn as_of_the_day_before_and_the_day_of_a_purchase() {
    let dir = demo();
    // E001 pays 10% of a salary whose biweekly gross makes 10285.34 of deductions by the
    // 2026H1 purchase on 2026-06-30 (its statement). On 06-29 it is all still cash.
    let before = dir.json(&["state", "--as-of", "2026-06-29"]);
    assert_eq!(before["as_of"], "2026-06-29");
    assert_eq!(before["purchases"].as_array().map(Vec::len), Some(0));
    assert_eq!(before["employees"]["E001"]["balance"], "10285.34");
    assert_eq!(before["employees"]["E001"]["shares_held"], "0");
    // On 06-30: price = round_up(0.85 × min(19.64, 24.26)) = 16.6940; 10285.34 / 16.694 =
    // 616.1: 616 shares cost round_up(10283.504) = 10283.51, and 1.83 is carried.
    let day_of = dir.json(&["state", "--as-of", "2026-06-30"]);
    assert_eq!(day_of["purchases"].as_array().map(Vec::len), Some(1));
    assert_eq!(day_of["purchases"][0]["price"], "16.6940");
    assert_eq!(day_of["employees"]["E001"]["shares_held"], "616");
    assert_eq!(day_of["employees"]["E001"]["balance"], "1.83");
    assert_ne!(before["digest"], day_of["digest"]);
}

const SETUP: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-01-31"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1000.00"}
"#;

#[test]
fn a_back_dated_correction_seen_through_seq_before_and_after_it() {
    let dir = Dir::new();
    dir.append_future(SETUP).expect_code(0); // seq 1-7
                                             // A payday of 2026-01-09 that payroll forgot, sent late: seq 8, dated before seq 7.
    dir.append_future(
        r#"{"type":"payroll","date":"2026-01-09","employee":"E1","gross_pay":"500.00"}"#,
    )
    .expect_code(0);
    // Through seq 7 the books knew 10% of 1000.00; through seq 8, 100.00 + 50.00.
    let known_before = dir.json(&["state", "--through-seq", "7"]);
    assert_eq!(known_before["through_seq"], 7);
    assert_eq!(known_before["employees"]["E1"]["balance"], "100.00");
    let known_after = dir.json(&["state", "--through-seq", "8"]);
    assert_eq!(known_after["employees"]["E1"]["balance"], "150.00");
    // Bitemporal: as of 2026-01-10, as known through seq 7 (nothing yet) and seq 8 (50.00).
    let old = dir.json(&["state", "--as-of", "2026-01-10", "--through-seq", "7"]);
    assert_eq!(old["employees"]["E1"]["balance"], "0.00");
    let new = dir.json(&["state", "--as-of", "2026-01-10", "--through-seq", "8"]);
    assert_eq!(new["employees"]["E1"]["balance"], "50.00");
    // --known-at seq 7's instant: the late payroll, recorded afterwards, is not known.
    let export = json_lines(&dir.export());
    let at = export[6]["recorded_at"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let then = dir.json(&["state", "--known-at", &at]);
    assert_eq!(then["employees"]["E1"]["balance"], "100.00");
}

fn rules_file(dir: &Dir, name: &str, text: &str) -> String {
    dir.file(name, text).to_string_lossy().into_owned()
}

/// The diff row of one employee in one purchase.
fn allocation<'a>(d: &'a serde_json::Value, period: &str, employee: &str) -> &'a serde_json::Value {
    d["purchases"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["period"] == period && r["employee"] == employee)
        })
        .unwrap_or_else(|| panic!("no diff row for {period}/{employee}: {d}"))
}

#[test]
fn diff_on_the_demo_ledger_checked_by_hand() {
    let dir = demo();
    // 2026H1: FMV at grant 19.64, at purchase 24.26. E001 has 10285.34, E002 4219.93.
    // price_factor 0.90: price = 0.90 × 19.64 = 17.6760. E001: 10285.34 / 17.676 = 581.9 →
    // 581 shares (cost 10269.756 → 10269.76, carried 15.58) instead of 616. E002: 4219.93 /
    // 17.676 = 238.7 → 238 shares instead of 252 (4219.93 / 16.694 = 252.8); both cost
    // 4206.888 → 4206.89, so cost does not change and is not listed.
    let f = rules_file(&dir, "pf.json", r#"{"price_factor":"0.90"}"#);
    let d = dir.json(&["diff", "--rules", &f]);
    let e1 = allocation(&d, "2026H1", "E001");
    assert_eq!(e1["shares"]["base"], "616");
    assert_eq!(e1["shares"]["other"], "581");
    assert_eq!(e1["shares"]["delta"], "-35");
    assert_eq!(e1["cost"]["other"], "10269.76");
    assert_eq!(e1["carried"]["other"], "15.58");
    let e2 = allocation(&d, "2026H1", "E002");
    assert_eq!(e2["shares"]["delta"], "-14");
    assert!(e2.get("cost").is_none(), "{e2}");
    assert_ne!(d["base_digest"], d["other_digest"]);
    assert!(d["totals"]["shares_held"]["delta"]
        .as_str()
        .is_some_and(|s| s.starts_with('-')));

    // Fractional shares (4 places): E001 buys 10285.34 / 16.694 = 616.10997… → 616.1099,
    // cost round_up(616.1099 × 16.694 = 10285.3386…) = 10285.34, nothing carried. E002:
    // 252.7812 shares for all of its 4219.93.
    let f = rules_file(&dir, "frac.json", r#"{"whole_shares":false}"#);
    let d = dir.json(&["diff", "--rules", &f]);
    let e1 = allocation(&d, "2026H1", "E001");
    assert_eq!(e1["shares"]["other"], "616.1099");
    assert_eq!(e1["shares"]["delta"], "0.1099");
    assert_eq!(e1["cost"]["other"], "10285.34");
    assert_eq!(e1["carried"]["delta"], "-1.83");
    let e2 = allocation(&d, "2026H1", "E002");
    assert_eq!(e2["shares"]["other"], "252.7812");
    assert_eq!(e2["cost"]["delta"], "13.04");

    // carry_forward → refund: E001's 1.83 and E002's 13.04 are refunded at 2026H1 instead.
    let f = rules_file(&dir, "refund.json", r#"{"residual":"refund"}"#);
    let d = dir.json(&["diff", "--rules", &f]);
    let e1 = allocation(&d, "2026H1", "E001");
    assert_eq!(e1["refunded"]["delta"], "1.83");
    assert_eq!(e1["carried"]["other"], "0.00");
    assert_eq!(
        allocation(&d, "2026H1", "E002")["refunded"]["delta"],
        "13.04"
    );

    // The table form runs too, and exits 0 whatever it finds.
    dir.espp(&["diff", "--rules", &f]).expect_code(0);
    // A forbidden rules file is refused (exit 1).
    let bad = rules_file(&dir, "bad.json", r#"{"price_factor":"0.80"}"#);
    dir.espp(&["diff", "--rules", &bad]).expect_code(1);
}

/// Answers to compare across checkpoint damage.
fn answers(dir: &Dir) -> Vec<serde_json::Value> {
    let queries: [&[&str]; 6] = [
        &["state"],
        &["state", "--as-of", "2026-03-15"],
        &["state", "--as-of", "2026-06-30"],
        &["state", "--as-of", "2027-01-04"],
        &["state", "--through-seq", "2000"],
        &["state", "--as-of", "2027-12-30", "--through-seq", "3000"],
    ];
    queries
        .iter()
        .map(|q| dir.json(q)["digest"].clone())
        .collect()
}

/// Runs `f` on the ledger's checkpoint tree (the ledger closed).
fn with_checkpoints(db: &Path, f: impl FnOnce(&sled::Tree)) {
    crate::util::wait_until_closed(db);
    let sled = crate::util::while_busy(|| {
        espp_engine::store::sled_config(&db.join("log"))
            .expect("sled conf")
            .open()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let tree = sled
        .open_tree("checkpoints")
        .unwrap_or_else(|e| panic!("{e}"));
    f(&tree);
    tree.flush().unwrap_or_else(|e| panic!("{e}"));
    drop(tree);
    drop(sled);
    crate::util::wait_until_closed(db);
}

fn headers(db: &Path) -> usize {
    let mut n = 0;
    with_checkpoints(db, |t| n = t.scan_prefix([b'h']).count());
    n
}

#[test]
fn checkpoints_are_a_cache_that_changes_no_answer() {
    let dir = demo();
    let db = dir.db();
    // The demo appends a month at a time: one checkpoint per purchase (four), and the
    // latest accounts checkpoint its lean book wrote since (the book is lean again once a
    // purchase's checkpoint is stored).
    let mut kinds = Vec::new();
    with_checkpoints(&db, |t| {
        for v in t.scan_prefix([b'h']).values() {
            let v = v.unwrap_or_else(|e| panic!("{e}"));
            kinds.push(espp_replay::Header::decode(&v).expect("a header").kind);
        }
    });
    let purchases = kinds
        .iter()
        .filter(|k| **k == espp_replay::Kind::Purchase)
        .count();
    assert_eq!(purchases, 4, "{kinds:?}");
    assert!(kinds.len() <= 5, "{kinds:?}");
    let expected = answers(&dir);

    // Deleted.
    with_checkpoints(&db, |t| t.clear().unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(answers(&dir), expected);

    // Rebuilt by the next append (the book takes one for the current wall).
    dir.append_future(r#"{"type":"market_price","date":"2028-01-03","closes":["30.00"]}"#)
        .expect_code(0);
    assert!(headers(&db) >= 1);
    let expected = answers(&dir);

    // Corrupted: every state's bytes flipped.
    with_checkpoints(&db, |t| {
        let keys: Vec<_> = t
            .scan_prefix([b'p'])
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in keys {
            let mut v = t
                .get(&k)
                .ok()
                .flatten()
                .map(|v| v.to_vec())
                .unwrap_or_default();
            for b in v.iter_mut().skip(1) {
                *b = !*b;
            }
            t.insert(k, v).unwrap_or_else(|e| panic!("{e}"));
        }
    });
    assert_eq!(answers(&dir), expected);

    // From an older (unknown) format: version byte 0 on every header.
    dir.append_future(r#"{"type":"market_price","date":"2028-01-04","closes":["30.10"]}"#)
        .expect_code(0);
    let expected = answers(&dir);
    with_checkpoints(&db, |t| {
        let keys: Vec<_> = t
            .scan_prefix([b'h'])
            .keys()
            .filter_map(Result::ok)
            .collect();
        assert!(!keys.is_empty());
        for k in keys {
            let mut v = t
                .get(&k)
                .ok()
                .flatten()
                .map(|v| v.to_vec())
                .unwrap_or_default();
            v[0] = 0;
            t.insert(k, v).unwrap_or_else(|e| panic!("{e}"));
        }
    });
    assert_eq!(answers(&dir), expected);
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn verify_names_a_checkpoint_that_disagrees_with_the_log() {
    let dir = demo();
    let db = dir.db();
    dir.espp(&["verify"])
        .expect_code(0)
        .stdout
        .contains("agrees");
    // Swap two purchase checkpoints' states: each decodes, each matches its own header's
    // digest nowhere, so queries ignore them, but verify reports the disagreement.
    with_checkpoints(&db, |t| {
        let states: Vec<_> = t.scan_prefix([b'p']).filter_map(Result::ok).collect();
        assert!(states.len() >= 2);
        t.insert(&states[0].0, states[1].1.clone())
            .unwrap_or_else(|e| panic!("{e}"));
    });
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("checkpoint at seq");
}

#[test]
fn an_export_replayed_without_the_database_gives_the_same_digest() {
    let dir = demo();
    let export = dir.file("audit.jsonl", dir.export());
    let path = export.to_string_lossy().into_owned();
    let state = dir.json(&["state"]);
    let other = Dir::new(); // no ledger at all
    let replayed = other.json(&["replay", "--from-export", &path]);
    assert_eq!(replayed["digest"], state["digest"]);
    let as_of = dir.json(&["state", "--as-of", "2027-03-01"]);
    assert_eq!(
        other.json(&["replay", "--from-export", &path, "--as-of", "2027-03-01"])["digest"],
        as_of["digest"]
    );
    assert!(!other.db().exists(), "replay needs no database");
    // An altered copy is refused, naming the record.
    let text =
        String::from_utf8_lossy(&dir.export()).replacen("\"gross_pay\":\"", "\"gross_pay\":\"1", 1);
    let altered = other.file("altered.jsonl", text);
    other
        .espp(&["replay", "--from-export", &altered.to_string_lossy()])
        .expect_code(4)
        .stderr_has("seq");
}

/// The export is folded in two passes, a block at a time (`cmd/replay.rs`): whatever the
/// block's size, back-dated records (two late paydays, one dated before the block that holds
/// it began) fold in day order, and the replay is the ledger's own state — latest, as of a
/// day between the paydays, and as known through a seq before the late ones. Standard input
/// (read once, in memory) gives the same.
#[test]
fn an_export_replayed_in_blocks_folds_back_dated_records_in_day_order() {
    let dir = Dir::new();
    dir.append_future(SETUP).expect_code(0); // seq 1-7
    dir.append_future(
        r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1000.00"}
{"type":"payroll","date":"2026-01-09","employee":"E1","gross_pay":"500.00"}
{"type":"payroll","date":"2025-12-31","employee":"E1","gross_pay":"200.00"}"#,
    )
    .expect_code(0); // seq 8-10: 10-20 dated before seq 7
    let bytes = dir.export();
    let export = dir.file("audit.jsonl", &bytes);
    let path = export.to_string_lossy().into_owned();
    let other = Dir::new();
    for query in [
        &[][..],
        &["--as-of", "2026-01-10"][..],
        &["--through-seq", "8"][..],
    ] {
        let want = dir.json(&[&["state"][..], query].concat());
        for block in ["1", "2", "3", "4", "9", "4096"] {
            let args = [
                &["replay", "--from-export", &path, "--block-records", block][..],
                query,
            ]
            .concat();
            assert_eq!(other.json(&args), want, "blocks of {block}, {query:?}");
        }
        let args = [
            &["replay", "--from-export", "-", "--format", "json"][..],
            query,
        ]
        .concat();
        let piped = crate::util::run_espp(other.path(), None, &args, Some(&bytes));
        piped.expect_code(0);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&piped.stdout_bytes).unwrap_or_default(),
            want
        );
    }
    // By hand: 10% of the paydays in P1 (2026-01-01..31): 1000.00 + 1000.00 + 500.00; the
    // payday of 2025-12-31 falls in no period and deducts nothing (DOMAIN.md §4).
    assert_eq!(dir.json(&["state"])["employees"]["E1"]["balance"], "250.00");
    // As of 2026-01-10 only the late payday of 01-09 had been paid: 50.00.
    assert_eq!(
        dir.json(&["state", "--as-of", "2026-01-10"])["employees"]["E1"]["balance"],
        "50.00"
    );
}
