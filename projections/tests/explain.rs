//! `explain` (issue 14): the fold's own trail of one employee, worked by hand for a purchase
//! where the §9 annual limit binds, one with the §13 proration, and a leave whose §17
//! return window takes its default; the explanation's figures equal the projection's.
#![allow(clippy::unwrap_used)] // a test that finds no value should panic on the spot

mod common;

use common::{buy, close, company, day, ev, fold_records, hire, pay, purchase, records, with};
use espp_events::EmployeeId;
use espp_projections::{State, Trace};
use serde_json::{json, Value};

/// Folds `lines` keeping `employee`'s trail (through `as_of`'s deadlines when given); the
/// explanation and the projection of the same fold.
fn explain(lines: &[String], employee: &str, as_of: Option<&str>) -> (Value, Value) {
    let id = EmployeeId::new(employee).unwrap();
    let mut s = State::with_trace(None, Trace::employee(id));
    fold_records(&mut s, &records(lines)).unwrap_or_else(|(seq, e)| panic!("seq {seq}: {e}"));
    if let Some(d) = as_of {
        s.advance_to(day(d)).unwrap();
    }
    let e = s.explanation(None).expect("a trail");
    (e, s.projection(as_of.map(day)))
}

/// The entries of one kind.
fn of_kind<'a>(e: &'a Value, kind: &str) -> Vec<&'a Value> {
    e["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == kind)
        .collect()
}

/// The employee's `now` equals the projection's figures, to the cent.
fn same_as_projection(e: &Value, p: &Value, employee: &str) {
    for k in [
        "status",
        "balance",
        "deficiency",
        "contributed",
        "refunded",
        "shares_held",
        "shares_certificated",
        "election_deadline",
    ] {
        assert_eq!(
            e["now"][k], p["employees"][employee][k],
            "{k}: explanation {e:#} projection {p:#}"
        );
    }
}

/// A purchase entry's allocation equals the projection's.
fn same_allocation(entry: &Value, p: &Value, employee: &str) {
    let alloc = p["purchases"][0]["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["employee"] == employee)
        .expect("an allocation");
    for k in ["shares", "cost", "refunded", "carried"] {
        assert_eq!(entry[k], alloc[k], "{k}");
    }
}

#[test]
fn the_annual_limit_binds_and_says_so_with_the_grant_fmv() {
    // E1 earns 350000.00 on 2026-01-15 at 10%: balance 35000.00. FMV 10.00 at grant
    // (2026-01-02), 20.00 at purchase (2026-06-30): price = round_up(0.85 × min(10, 20), 4)
    // = 8.5000. Step 1: wanted = floor(35000 / 8.5) = 4117 (4117 × 8.5 = 34994.50; 4118 ×
    // 8.5 = 35003.00 > 35000). Step 2 (§9): headroom 25000 − 0 = 25000.00, at FMV 10 →
    // 2500 shares: binds. No proration (reserve 6,000,000). Cost 2500 × 8.5 = 21250.00;
    // 35000.00 − 21250.00 = 13750.00 refunded because a cap bound; carried 0.00.
    let lines = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "350000.00"),
            purchase()[0].clone(),
            purchase()[1].clone(),
        ],
    );
    let (e, p) = explain(&lines, "E1", None);
    let buys = of_kind(&e, "purchase");
    assert_eq!(buys.len(), 1);
    let b = buys[0];
    assert_eq!(b["price"], "8.5000");
    assert_eq!(b["fmv_grant"], "10");
    assert_eq!(b["balance"], "35000.00");
    assert_eq!(b["wanted"], "4117");
    assert_eq!(b["caps"][0]["cap"], "annual_limit");
    assert_eq!(b["caps"][0]["shares"], "2500");
    assert_eq!(b["caps"][0]["binds"], true);
    assert!(b["caps"][0]["figures"]
        .as_str()
        .unwrap()
        .contains("headroom 25000.00"));
    assert_eq!(b["binds"], json!(["annual_limit"]));
    assert_eq!(b["shares"], "2500");
    assert_eq!(b["cost"], "21250.00");
    assert_eq!(b["refunded"], "13750.00");
    assert_eq!(b["carried"], "0.00");
    assert!(b["leftover"].as_str().unwrap().contains("a cap lowered"));
    same_allocation(b, &p, "E1");
    same_as_projection(&e, &p, "E1");

    // Eligibility on 2026-01-01 with the facts: 40 hours, more than 20.
    let judged = of_kind(&e, "eligibility");
    assert_eq!(judged[0]["date"], "2026-01-01");
    assert_eq!(judged[0]["eligible"], true);
    let rules: Vec<&str> = judged[0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"weekly hours 40, more than 20"),
        "{rules:?}"
    );

    // The payday: 10% of 350000.00 = 35000.00 credited.
    let events = of_kind(&e, "event");
    let payday = events.iter().find(|x| x["type"] == "payroll").unwrap();
    assert_eq!(
        payday["effect"]["balance"],
        json!({"before": "0.00", "after": "35000.00"})
    );
    // The purchase event: balance 35000.00 → 0.00 (cost and refund), 2500 shares held.
    let bought = events.iter().find(|x| x["type"] == "purchase").unwrap();
    assert_eq!(
        bought["effect"]["shares_held"],
        json!({"before": "0", "after": "2500"})
    );
    assert_eq!(
        bought["effect"]["refunded"],
        json!({"before": "0.00", "after": "13750.00"})
    );
}

#[test]
fn ineligible_hours_are_named_with_the_rule() {
    // E1 works 20 hours a week: §4(c) wants more than 20, so E1 sits 2026H1 out.
    let mut lines = company("");
    lines[3] = hire("2025-03-01", "E1", "2024-01-01", "20");
    let (e, p) = explain(&lines, "E1", Some("2026-01-05"));
    let judged = of_kind(&e, "eligibility");
    assert_eq!(judged[0]["eligible"], false);
    let hours = judged[0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["section"] == "§4(c)")
        .unwrap();
    assert_eq!(hours["rule"], "weekly hours 20, not more than 20");
    assert_eq!(hours["pass"], false);
    same_as_projection(&e, &p, "E1");
    assert_eq!(e["now"]["status"], "sitting_out");
}

#[test]
fn proration_names_the_reserve_and_the_floors() {
    // Reserve 100 shares. E1: 10% of 10000.00 = 1000.00; E2: 10% of 5000.00 = 500.00.
    // Price 8.5000 (as above). Wanted: E1 floor(1000 / 8.5) = 117 (117 × 8.5 = 994.50), E2
    // floor(500 / 8.5) = 58 (58 × 8.5 = 493.00; 59 × 8.5 = 501.50). The annual caps (2500
    // each) do not bind. Wants 175 > 100 left: §13, E1 floor(117 × 100 / 175) =
    // floor(66.857…) = 66, E2 floor(58 × 100 / 175) = floor(33.142…) = 33; 1 share stays in
    // the reserve (not exhausted). E1 cost 66 × 8.5 = 561.00, refunded 1000.00 − 561.00 =
    // 439.00; E2 cost 33 × 8.5 = 280.50, refunded 500.00 − 280.50 = 219.50.
    let lines = with(
        company(r#""share_reserve":"100""#),
        &[
            hire("2025-03-01", "E2", "2024-01-01", "40"),
            ev("enrolled", "2025-12-10", r#""employee":"E2","rate":"0.10""#),
            pay("2026-01-15", "E1", "10000.00"),
            pay("2026-01-15", "E2", "5000.00"),
            close("2026-06-30", "20.00"),
            buy("2026-06-30", "2026H1"),
        ],
    );
    let (e1, p) = explain(&lines, "E1", None);
    let b = of_kind(&e1, "purchase")[0].clone();
    assert_eq!(b["wanted"], "117");
    assert_eq!(b["capped"], "117");
    assert_eq!(b["total_wanted"], "175");
    assert_eq!(b["shares_left"], "100");
    assert_eq!(b["prorated"], true);
    assert_eq!(b["shares"], "66");
    assert_eq!(b["binds"], json!(["proration"]));
    assert_eq!(b["cost"], "561.00");
    assert_eq!(b["refunded"], "439.00");
    same_allocation(&b, &p, "E1");
    same_as_projection(&e1, &p, "E1");

    let (e2, p) = explain(&lines, "E2", None);
    let b = of_kind(&e2, "purchase")[0].clone();
    assert_eq!(b["wanted"], "58");
    assert_eq!(b["shares"], "33");
    assert_eq!(b["cost"], "280.50");
    assert_eq!(b["refunded"], "219.50");
    same_allocation(&b, &p, "E2");
    same_as_projection(&e2, &p, "E2");
}

#[test]
fn a_return_from_leave_without_cash_defaults_to_withdraw() {
    // E1: 10% of 4000.00 on 2026-01-15 = 400.00. Leave from 2026-03-02 (re-employment
    // guaranteed, no cash payments): the 2026-03-16 payday of 4000.00 accrues 400.00 as
    // deficiency. Return on 2026-04-01 without having paid cash: §17's window runs 10 days,
    // through 2026-04-11; no election, so at the start of 2026-04-12 the default, withdraw,
    // refunds the 400.00 balance; the deficiency goes with the option (0.00).
    let lines = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "4000.00"),
            ev(
                "leave_started",
                "2026-03-02",
                r#""employee":"E1","kind":"leave","reemployment_guaranteed":true"#,
            ),
            pay("2026-03-16", "E1", "4000.00"),
            ev(
                "leave_ended",
                "2026-04-01",
                r#""employee":"E1","returned":true"#,
            ),
        ],
    );
    let (e, p) = explain(&lines, "E1", Some("2026-04-30"));
    let events = of_kind(&e, "event");
    let leave = events
        .iter()
        .find(|x| x["type"] == "leave_started")
        .unwrap();
    assert_eq!(leave["effect"]["window"]["after"]["section"], "§17");
    assert_eq!(leave["effect"]["window"]["after"]["deadline"], "2026-06-30");
    let accrued = events
        .iter()
        .find(|x| x["type"] == "payroll" && x["date"] == "2026-03-16")
        .unwrap();
    assert_eq!(
        accrued["effect"]["deficiency"],
        json!({"before": "0.00", "after": "400.00"})
    );
    let back = events.iter().find(|x| x["type"] == "leave_ended").unwrap();
    assert_eq!(back["effect"]["window"]["after"]["deadline"], "2026-04-11");
    assert_eq!(back["effect"]["window"]["after"]["default"], "withdraw");
    let deadlines = of_kind(&e, "deadline");
    let default = deadlines
        .iter()
        .find(|x| x["date"] == "2026-04-12")
        .expect("the default at the start of 2026-04-12");
    assert!(default["what"].as_str().unwrap().contains(
        "§17: no election after the return from leave by 2026-04-11, the default (withdraw)"
    ));
    assert_eq!(
        default["effect"]["refunded"],
        json!({"before": "0.00", "after": "400.00"})
    );
    assert_eq!(
        default["effect"]["status"],
        json!({"before": "awaiting_election", "after": "withdrawn"})
    );
    same_as_projection(&e, &p, "E1");
    assert_eq!(p["employees"]["E1"]["refunded"], "400.00");
}

#[test]
fn a_traced_fold_gives_the_same_digest_as_a_plain_one() {
    let lines = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "350000.00"),
            purchase()[0].clone(),
            purchase()[1].clone(),
        ],
    );
    let plain = common::fold(&lines).unwrap();
    let (_, traced) = explain(&lines, "E1", None);
    assert_eq!(traced["digest"], plain.projection(None)["digest"]);
    let mut all = State::with_trace(None, Trace::purchases());
    fold_records(&mut all, &records(&lines)).unwrap();
    assert_eq!(all.digest(), plain.digest());
    assert_eq!(all.traced_purchases().len(), 1);
}

#[test]
fn statements_reconcile_opening_deductions_cost_refunds_and_carry() {
    // 2026H1: E1 10% of 5000.00 = 500.00; price 8.5000 (FMV 10 at grant, 20 at purchase):
    // floor(500 / 8.5) = 58 shares, cost 58 × 8.5 = 493.00, carried 500.00 − 493.00 = 7.00.
    // 0.00 + 500.00 + 0.00 − 493.00 − 0.00 = 7.00.
    // 2026H2 (open on 2026-07-20): opening 7.00, 10% of 4000.00 = 400.00 deducted on
    // 2026-07-15: 7.00 + 400.00 − 0.00 − 0.00 = 407.00, the balance now.
    let mut lines = company("");
    lines.push(ev(
        "period_scheduled",
        "2025-12-01",
        r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
    ));
    lines.extend([
        pay("2026-01-15", "E1", "5000.00"),
        close("2026-06-30", "20.00"),
        buy("2026-06-30", "2026H1"),
        pay("2026-07-15", "E1", "4000.00"),
    ]);
    let s = common::fold(&lines).unwrap();
    let h1 = s.statement("E1", Some("2026H1")).unwrap()[0].clone();
    assert_eq!(h1["opening_balance"], "0.00");
    assert_eq!(h1["deductions"], "500.00");
    assert_eq!(h1["cost"], "493.00");
    assert_eq!(h1["refunds"], "0.00");
    assert_eq!(h1["carried"], "7.00");
    let h2 = s.statement("E1", Some("2026H2")).unwrap()[0].clone();
    assert_eq!(h2["opening_balance"], "7.00");
    assert_eq!(h2["deductions"], "400.00");
    assert_eq!(h2["carried"], "407.00");
    assert_eq!(s.projection(None)["employees"]["E1"]["balance"], "407.00");

    // The 25k scenario: 0.00 + 35000.00 − 21250.00 − 13750.00 = 0.00 carried.
    let lines = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "350000.00"),
            purchase()[0].clone(),
            purchase()[1].clone(),
        ],
    );
    let s = common::fold(&lines).unwrap();
    let st = s.statement("E1", Some("2026H1")).unwrap()[0].clone();
    assert_eq!(st["cost"], "21250.00");
    assert_eq!(st["refunds"], "13750.00");
    assert_eq!(st["carried"], "0.00");
}
