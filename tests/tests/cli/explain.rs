//! Asking the ledger why (issue 14) through the command line: `explain` agrees with
//! `state` to the cent, on the demo ledger and on a hand-worked company, and `purchase
//! --preview` gives the allocations the real purchase then gives, appending nothing.
#![allow(clippy::unwrap_used)] // a test that finds no value should panic on the spot

use serde_json::Value;

use crate::util::Dir;

/// E1 earns 350000.00 at 10% (balance 35000.00), E2 5000.00 at 10% (500.00), E3 is
/// enrolled and paid nothing. Period 2026H1 (2026-01-01 to 2026-06-30); FMV 10.00 on
/// 2026-01-02 (the first trading day) and 20.00 on 2026-06-29.
const COMPANY: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"2026H1","start":"2026-01-01","end":"2026-06-30"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-12-01","employee":"E2","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-12-01","employee":"E3","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
{"type":"enrolled","date":"2025-12-02","employee":"E2","rate":"0.10"}
{"type":"enrolled","date":"2025-12-02","employee":"E3","rate":"0.10"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"350000.00"}
{"type":"payroll","date":"2026-01-15","employee":"E2","gross_pay":"5000.00"}
{"type":"market_price","date":"2026-06-29","closes":["20.00"]}
"#;

/// `explain`'s `now` and purchase entries equal `state`'s employee and allocations.
fn explain_agrees_with_state(dir: &Dir, employee: &str) {
    let e = dir.json(&["explain", employee]);
    let s = dir.json(&["state"]);
    for k in [
        "status",
        "balance",
        "deficiency",
        "contributed",
        "refunded",
        "shares_held",
        "shares_certificated",
    ] {
        assert_eq!(e["now"][k], s["employees"][employee][k], "{employee} {k}");
    }
    let buys: Vec<&Value> = e["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "purchase")
        .collect();
    let allocated: Vec<&Value> = s["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["allocations"].as_array().unwrap())
        .filter(|a| a["employee"] == employee)
        .collect();
    assert_eq!(
        buys.len(),
        allocated.len(),
        "{employee}: one entry per allocation"
    );
    for (b, a) in buys.iter().zip(allocated) {
        for k in ["shares", "cost", "refunded", "carried"] {
            assert_eq!(b[k], a[k], "{employee} {k}");
        }
    }
}

#[test]
fn explain_on_the_demo_ledger_equals_state_to_the_cent() {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    for id in ["E001", "E002", "E017"] {
        explain_agrees_with_state(&dir, id);
    }
    let table = dir.espp(&["explain", "E001", "--period", "2026H1"]);
    table
        .expect_code(0)
        .stdout_has("§4(c)   weekly hours")
        .stdout_has("§9      wanted = floor(balance")
        .stdout_has("§13     no proration");
    assert!(!table.stdout.contains("2026H2"), "{}", table.stdout);
    dir.espp(&["explain", "NOBODY"])
        .expect_code(2)
        .stderr_has("unknown employee NOBODY");
    dir.espp(&["explain", "E001", "--period", "1999"])
        .expect_code(2)
        .stderr_has("unknown period 1999");
}

#[test]
fn a_preview_then_the_real_purchase_give_identical_allocations() {
    let dir = Dir::new();
    dir.append_future(COMPANY).expect_code(0);
    let before = dir.export();
    // Without --close: the purchase on the latest trading day, 2026-06-29. Price
    // round_up(0.85 × min(10, 20), 4) = 8.5000. E1: wanted floor(35000 / 8.5) = 4117, the
    // §9 headroom 25000 / FMV at grant 10 = 2500 binds: cost 21250.00, refunded 13750.00.
    // E2: floor(500 / 8.5) = 58 (58 × 8.5 = 493.00): cost 493.00, carried 7.00. E3 holds
    // the option with no deduction: no allocation, flagged.
    let p = dir.json(&["purchase", "--preview", "2026H1"]);
    assert_eq!(dir.export(), before, "a preview appends nothing");
    assert_eq!(p["date"], "2026-06-29");
    assert_eq!(p["price"], "8.5000");
    let rows = p["allocations"].as_array().unwrap();
    assert_eq!(rows[0]["employee"], "E1");
    assert_eq!(rows[0]["shares"], "2500");
    assert_eq!(rows[0]["cost"], "21250.00");
    assert_eq!(rows[0]["refunded"], "13750.00");
    assert_eq!(rows[0]["binds"], "annual_limit");
    assert_eq!(rows[1]["shares"], "58");
    assert_eq!(rows[1]["cost"], "493.00");
    assert_eq!(rows[1]["carried"], "7.00");
    // Totals: 2500 + 58 = 2558 shares; cost 21250.00 + 493.00 = 21743.00.
    assert_eq!(p["totals"]["shares"], "2558");
    assert_eq!(p["totals"]["cost"], "21743.00");
    assert_eq!(p["checks"]["no_deductions"], serde_json::json!(["E3"]));
    assert_eq!(p["checks"]["above_annual_headroom"][0]["employee"], "E1");
    // 6000000 − 2558 = 5997442 left.
    assert_eq!(p["checks"]["reserve_left"], "5997442");
    let table = dir.espp(&["purchase", "--preview", "2026H1"]);
    table
        .expect_code(0)
        .stdout_has("PREVIEW (nothing appended)")
        .stdout_has("participants with no deductions: E3");

    dir.append(r#"{"type":"purchase","date":"2026-06-29","period":"2026H1"}"#)
        .expect_code(0);
    let s = dir.json(&["state"]);
    let real = s["purchases"][0]["allocations"].as_array().unwrap();
    assert_eq!(real.len(), rows.len());
    for (a, b) in real.iter().zip(rows) {
        for k in ["employee", "shares", "cost", "refunded", "carried"] {
            assert_eq!(a[k], b[k], "{k}");
        }
    }
    explain_agrees_with_state(&dir, "E1");
    explain_agrees_with_state(&dir, "E2");
    dir.espp(&["purchase", "--preview", "2026H1"])
        .expect_code(1)
        .stderr_has("already executed");
}

#[test]
fn a_preview_with_a_hypothetical_close_then_that_close_and_the_purchase() {
    let dir = Dir::new();
    dir.append_future(COMPANY).expect_code(0);
    // --close 8.00: dated 2026-06-30, the day after the latest price. Price
    // round_up(0.85 × min(10, 8), 4) = 6.8000. E1: floor(35000 / 6.8) = 5147, capped at
    // 2500 by §9: cost 2500 × 6.8 = 17000.00, refunded 18000.00. E2: floor(500 / 6.8) = 73
    // (73 × 6.8 = 496.40; 74 × 6.8 = 503.20): cost 496.40, carried 3.60.
    let p = dir.json(&["purchase", "--preview", "2026H1", "--close", "8.00"]);
    assert_eq!(p["date"], "2026-06-30");
    assert_eq!(p["price"], "6.8000");
    let rows = p["allocations"].as_array().unwrap();
    assert_eq!(rows[0]["cost"], "17000.00");
    assert_eq!(rows[0]["refunded"], "18000.00");
    assert_eq!(rows[1]["shares"], "73");
    assert_eq!(rows[1]["cost"], "496.40");
    assert_eq!(rows[1]["carried"], "3.60");
    dir.append_future(
        r#"{"type":"market_price","date":"2026-06-30","closes":["8.00"]}
{"type":"purchase","date":"2026-06-30","period":"2026H1"}
"#,
    )
    .expect_code(0);
    let s = dir.json(&["state"]);
    let real = s["purchases"][0]["allocations"].as_array().unwrap();
    for (a, b) in real.iter().zip(rows) {
        for k in ["employee", "shares", "cost", "refunded", "carried"] {
            assert_eq!(a[k], b[k], "{k}");
        }
    }
}

#[test]
fn the_purchase_and_enrolment_reports_worked_by_hand() {
    let dir = Dir::new();
    // Besides COMPANY: E4 eligible and never enrolled; E5 enrolled at 20 hours a week,
    // which §4(c) refuses (more than 20 needed): E5 sits 2026H1 out.
    let extra = r#"{"type":"employee_hired","date":"2025-12-01","employee":"E4","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-12-01","employee":"E5","hire_date":"2020-01-01","weekly_hours":"20","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E5","rate":"0.10"}
"#;
    dir.append_future(format!("{COMPANY}{extra}"))
        .expect_code(0);
    let e = dir.json(&["report", "enrolment", "--as-of", "2026-02-01"]);
    assert_eq!(e["eligible_not_enrolled"][0]["employee"], "E4");
    assert_eq!(e["eligible_not_enrolled"].as_array().unwrap().len(), 1);
    assert_eq!(e["sitting_out"][0]["employee"], "E5");
    assert_eq!(
        e["sitting_out"][0]["why"][0]["rule"],
        "weekly hours 20, not more than 20"
    );
    assert_eq!(e["periods"][0]["status"], "open");

    dir.append(r#"{"type":"purchase","date":"2026-06-29","period":"2026H1"}"#)
        .expect_code(0);
    let r = dir.json(&["report", "purchase", "2026H1"]);
    // Eligible on 2026-01-01: E1, E2, E3, E4 (E5 fails §4(c)) = 4. Participants who bought:
    // E1 and E2 = 2, so 2 / 4 = 50.00%. Contributions 35000.00 + 500.00 = 35500.00.
    assert_eq!(r["eligible"], 4);
    assert_eq!(r["participants"], 2);
    assert_eq!(r["participation_rate_percent"], "50.00");
    assert_eq!(r["contributions"], "35500.00");
    // 2500 + 58 = 2558 shares at 8.5000 (FMV 10 at grant, 20 at purchase): discount value
    // (20 − 8.5) × 2558 = 11.5 × 2558 = 29417.00. Refunded at the purchase 13750.00 (E1's
    // capped cash), carried 7.00 (E2). Reserve 6000000 − 2558 = 5997442.
    assert_eq!(r["shares_bought"], "2558");
    assert_eq!(r["price"], "8.5000");
    assert_eq!(r["fmv_grant"], "10");
    assert_eq!(r["fmv_purchase"], "20");
    assert_eq!(r["discount_value"], "29417.00");
    assert_eq!(r["refunded_at_purchase"], "13750.00");
    assert_eq!(r["carried"], "7.00");
    assert_eq!(r["reserve_left"], "5997442");
    assert_eq!(r["since"]["held"], "2558");
    assert_eq!(r["since"]["sold"], "0");
    let csv = dir.espp(&["report", "purchase", "2026H1", "--format", "csv"]);
    csv.expect_code(0).stdout_has("rows,");
    let table = dir.espp(&["report", "purchase", "2026H1"]);
    table
        .expect_code(0)
        .stdout_has("discount_value")
        .stdout_has("29417.00");
}

#[test]
fn log_filters_by_employee_type_and_dates() {
    let dir = Dir::new();
    dir.append_future(COMPANY).expect_code(0);
    // COMPANY's events naming E1: the hire (seq 4), the enrolment (7), the payday (11).
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["log", "--format", "json"];
        all.extend(args);
        let r = dir.espp(&all);
        r.expect_code(0);
        crate::util::json_lines(&r.stdout_bytes)
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&["--employee", "E1"]), vec![4, 7, 11]);
    assert_eq!(seqs(&["--type", "market_price"]), vec![10, 13]);
    assert_eq!(
        seqs(&["--from-date", "2026-01-01", "--to-date", "2026-01-31"]),
        vec![10, 11, 12]
    );
    assert_eq!(seqs(&["--employee", "E2", "--type", "payroll"]), vec![12]);
    assert_eq!(seqs(&["--type", "payroll", "--limit", "1"]), vec![11]);
}

/// `explain` streams the log chunk by chunk (each append its own chunk): a payroll stored
/// after a later-dated one must still be folded, and shown, in its date's place.
#[test]
fn explain_folds_a_backdated_payroll_from_a_later_chunk_in_date_order() {
    let dir = Dir::new();
    dir.append_future(COMPANY).expect_code(0);
    dir.append(r#"{"type":"payroll","date":"2026-03-13","employee":"E1","gross_pay":"1000.00"}"#)
        .expect_code(0);
    dir.append(r#"{"type":"payroll","date":"2026-02-13","employee":"E1","gross_pay":"2000.00"}"#)
        .expect_code(0);
    explain_agrees_with_state(&dir, "E1");
    let e = dir.json(&["explain", "E1"]);
    let dates: Vec<&str> = e["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["date"].as_str().unwrap())
        .collect();
    let at = |d: &str| dates.iter().position(|x| *x == d).unwrap();
    assert!(at("2026-02-13") < at("2026-03-13"), "{dates:?}");
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    // 35000.00 from January, then 10% of 2000.00 and of 1000.00.
    assert_eq!(e["now"]["balance"], "35300.00");
}

/// Issue 15: `explain` from the employee index (the employee's records, the copies of the
/// global ones and the purchases' stored sums) prints byte for byte what the traced fold
/// of the whole log prints — JSON and table, latest and as of each purchase's day,
/// with `--period`, for employees of the demo and one never hired. A ledger without the
/// index's mark (written before it) is folded whole, and its next append builds the index.
#[test]
fn explain_from_the_employee_index_is_the_whole_folds_byte_for_byte() {
    let dir = Dir::new();
    dir.espp(&["demo"]).expect_code(0);
    let state = dir.json(&["state"]);
    let mut ids: Vec<String> = state["employees"]
        .as_object()
        .unwrap()
        .keys()
        .step_by(12)
        .cloned()
        .collect();
    ids.push("nobody".into());
    let mut days: Vec<Option<String>> = vec![None, Some("2026-01-01".into())];
    // Each purchase's day (the purchase folded, nothing after it).
    for p in state["periods"].as_array().unwrap() {
        if let Some(d) = p["purchase_date"].as_str() {
            let day = espp_events::Day::parse(d).unwrap();
            days.push(Some(day.to_string()));
        }
    }
    assert!(ids.len() > 3 && days.len() > 4, "{ids:?} {days:?}");
    let outputs = |dir: &Dir| -> Vec<(String, Vec<u8>, i32)> {
        let mut out = Vec::new();
        for id in &ids {
            for (i, day) in days.iter().enumerate() {
                let mut args = vec!["--format", "json", "explain", id.as_str()];
                if let Some(d) = day {
                    args.extend(["--as-of", d.as_str()]);
                }
                if i == 0 {
                    args[1] = "table";
                } else if i == 2 {
                    args.extend(["--period", "2026H1"]);
                }
                let r = dir.espp(&args);
                out.push((args.join(" "), r.stdout_bytes.clone(), r.code));
            }
        }
        out
    };
    let fast = outputs(&dir);
    assert!(fast.iter().filter(|(_, _, code)| *code == 0).count() > ids.len() * 2);
    crate::util::with_sled(&dir.db(), |db| {
        assert!(db.remove(b"mwho").unwrap().is_some(), "the index's mark");
    });
    let whole = outputs(&dir);
    for (f, w) in fast.iter().zip(&whole) {
        assert_eq!(f.2, w.2, "{}", f.0);
        assert!(
            f.1 == w.1,
            "{}:\n{}\n---\n{}",
            f.0,
            String::from_utf8_lossy(&f.1),
            String::from_utf8_lossy(&w.1)
        );
    }
    dir.append_future(r#"{"type":"market_price","date":"2028-01-04","closes":["30.00"]}"#)
        .expect_code(0);
    crate::util::with_sled(&dir.db(), |db| {
        assert!(db.get(b"mwho").unwrap().is_some(), "rebuilt by the append");
    });
    // As of a day before it, the same answer but for the head (now from the index).
    let id = ids[0].as_str();
    let without_head = |bytes: &[u8]| {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        let m = v.as_object_mut().unwrap();
        m.remove("head_seq");
        m.remove("head_hash");
        v
    };
    let again = dir.espp(&["--format", "json", "explain", id, "--as-of", "2026-01-01"]);
    assert_eq!(
        without_head(&again.stdout_bytes),
        without_head(&whole[1].1),
        "{}",
        whole[1].0
    );
}
