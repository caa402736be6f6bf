//! Scenarios of §14–§20 and §23–§24 as DOMAIN.md §6–§7 settle them: one per row of the
//! tables, each default the day before and the day after its window closes, a window still
//! open at the purchase, the deficiency and its make-up, the estate, re-entry, and the
//! plan's own clocks. Numbers worked out by hand in the comments.
//!
//! The common company: plan adopted 2025-01-02 (approved 2025-02-03), one period 2026H1
//! (2026-01-01 to 2026-06-30), E1 hired 2024-01-01 (40 h, 12 months) and enrolled at 10% on
//! 2025-12-10. FMV 10.00 on 2026-01-02 (first trading day) and 20.00 on 2026-06-30 (last):
//! price 0.85 × 10 = 8.5000. A payday of 5000.00 deducts 500.00.
#![allow(clippy::unwrap_used)]

mod common;

use common::{check, check_as_of, check_refused, company, ev, fold, purchase};
use serde_json::json;

/// E1's payday of 5000.00 (10%: 500.00).
fn pay(date: &str) -> String {
    common::pay(date, "E1", "5000.00")
}

fn e1(kind: &str, date: &str, fields: &str) -> String {
    if fields.is_empty() {
        ev(kind, date, r#""employee":"E1""#)
    } else {
        ev(kind, date, &format!(r#""employee":"E1",{fields}"#))
    }
}

fn elect(date: &str, choice: &str) -> String {
    e1("election", date, &format!(r#""choice":"{choice}""#))
}

fn cash(date: &str, amount: &str) -> String {
    e1("cash_payment", date, &format!(r#""amount":"{amount}""#))
}

fn with(extra: &[String]) -> Vec<String> {
    let mut l = company("");
    l.extend_from_slice(extra);
    l
}

// ---- §14 -----------------------------------------------------------------------------

#[test]
fn reduce_buys_with_the_balance_then_out() {
    // §14(a)(i): 500.00 credited on 01-15; reduce on 02-01; the 02-15 payday deducts nothing
    // and accrues nothing. Purchase: floor(500 / 8.5) = 58 shares, cost 58 × 8.5 = 493.00;
    // the 7.00 left is refunded (participation ends with the purchase), not carried.
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("deductions_stopped", "2026-02-01", r#""option":"reduce""#),
        pay("2026-02-15"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("reduced")),
            ("/employees/E1/balance", json!("500.00")),
            ("/employees/E1/deficiency", json!("0.00")),
        ],
    );
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/cost", json!("493.00")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/refunded", json!("7.00")),
            ("/employees/E1/contributed", json!("500.00")),
            ("/employees/E1/shares_held", json!("58")),
        ],
    );
}

#[test]
fn reduce_is_refused_on_the_period_last_day_and_for_the_unenrolled() {
    // §14(a): "at any time prior to the last day of the Withholding Period".
    check_refused(
        &with(&[e1(
            "deductions_stopped",
            "2026-06-30",
            r#""option":"reduce""#,
        )]),
        7,
        "§14",
        &["before the last day", "2026-06-30"],
    );
    let mut lines = company("");
    lines.remove(4);
    lines.push(e1(
        "deductions_stopped",
        "2026-02-01",
        r#""option":"withdraw""#,
    ));
    check_refused(&lines, 6, "§14", &["not enrolled"]);
}

#[test]
fn withdraw_refunds_all_and_ends_the_option() {
    // §14(a)(ii): 500.00 refunded on 02-01; the 02-15 payday deducts nothing; the purchase
    // has no allocation for E1.
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("deductions_stopped", "2026-02-01", r#""option":"withdraw""#),
        pay("2026-02-15"),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("withdrawn")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/contributed", json!("500.00")),
            ("/employees/E1/rate", json!("0.10")),
            ("/purchases/0/allocations", json!([])),
        ],
    );
}

#[test]
fn after_withdrawal_a_new_enrolment_waits_for_a_later_period() {
    // §19, DOMAIN §6: H2 opens 2026-07-01 with E1 participating; E1 withdraws and enrols
    // again that same first day. The new enrolment is for a later period: the 07-15 payday
    // deducts nothing; H3 (2027-01-01) takes E1 again.
    let mut lines = with(&[ev(
        "period_scheduled",
        "2025-12-02",
        r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
    )]);
    lines.push(ev(
        "period_scheduled",
        "2025-12-03",
        r#""period":"2027H1","start":"2027-01-01","end":"2027-06-30""#,
    ));
    lines.extend([
        e1("deductions_stopped", "2026-07-01", r#""option":"withdraw""#),
        e1("enrolled", "2026-07-01", r#""rate":"0.05""#),
        pay("2026-07-15"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("enrolled")),
            ("/employees/E1/rate", json!("0.05")),
            ("/employees/E1/contributed", json!("0.00")),
        ],
    );
    // In 2027H1 E1 takes part: 5% of 5000.00 = 250.00.
    lines.push(pay("2027-01-15"));
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("participating")),
            ("/employees/E1/balance", json!("250.00")),
        ],
    );
}

// ---- §15, §16 ------------------------------------------------------------------------

#[test]
fn quitting_or_being_fired_refunds_all() {
    for reason in ["quit", "fired"] {
        // §15: 500.00 credited, refunded when employment ends on 02-01.
        let lines = with(&[
            pay("2026-01-15"),
            e1(
                "employment_ended",
                "2026-02-01",
                &format!(r#""reason":"{reason}""#),
            ),
        ]);
        check(
            &lines,
            &[
                ("/employees/E1/status", json!("left")),
                ("/employees/E1/balance", json!("0.00")),
                ("/employees/E1/refunded", json!("500.00")),
                ("/employees/E1/election_deadline", json!(null)),
            ],
        );
        // A final paycheck after leaving is accepted and deducts nothing.
        let mut after = lines.clone();
        after.push(pay("2026-02-15"));
        check(
            &after,
            &[
                ("/employees/E1/balance", json!("0.00")),
                ("/employees/E1/contributed", json!("500.00")),
                ("/employees/E1/refunded", json!("500.00")),
            ],
        );
    }
}

#[test]
fn retirement_window_defaults_to_withdraw_after_ten_days() {
    // §16: retired 2026-03-02, the window runs through 03-12 inclusive.
    let lines = with(&[
        pay("2026-01-15"),
        e1("employment_ended", "2026-03-02", r#""reason":"retired""#),
    ]);
    check_as_of(
        &lines,
        "2026-03-12",
        &[
            ("/employees/E1/status", json!("awaiting_election")),
            ("/employees/E1/election_deadline", json!("2026-03-12")),
            ("/employees/E1/balance", json!("500.00")),
        ],
    );
    // At the start of 03-13 the default applies: withdraw, 500.00 refunded. Employment
    // ended, so the status is `left` (INTERCHANGE.md: 6 `left` comes before 9 `withdrawn`).
    check_as_of(
        &lines,
        "2026-03-13",
        &[
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/election_deadline", json!(null)),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
    // An election on the window's last day is on time; the day after it is refused.
    let mut on_time = lines.clone();
    on_time.push(elect("2026-03-12", "reduce"));
    check(&on_time, &[("/employees/E1/status", json!("reduced"))]);
    let mut late = lines.clone();
    late.push(elect("2026-03-13", "reduce"));
    check_refused(&late, 9, "§16", &["no election window", "status left"]);
}

#[test]
fn retirement_reduce_buys_then_left() {
    // §16(b): reduce on 03-05; purchase 58 shares for 493.00, 7.00 refunded; then left.
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("employment_ended", "2026-03-02", r#""reason":"retired""#),
        elect("2026-03-05", "reduce"),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/refunded", json!("7.00")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
}

#[test]
fn retirement_make_up_pays_the_deficiency_and_no_more() {
    // §16(a): retired 03-02, make_up on 03-05; the 03-15 final payday accrues 500.00 as
    // deficiency (nothing deducted); a make-up of 500.00 credits the balance (1000.00) and
    // clears it; a further 0.01 is beyond the deficiency and refused.
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("employment_ended", "2026-03-02", r#""reason":"retired""#),
        elect("2026-03-05", "make_up"),
        pay("2026-03-15"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/deficiency", json!("500.00")),
            ("/employees/E1/balance", json!("500.00")),
            ("/employees/E1/status", json!("reduced")),
        ],
    );
    let mut beyond = lines.clone();
    beyond.push(cash("2026-03-20", "500.01"));
    check_refused(&beyond, 11, "§16", &["500.01", "deficiency 500.00"]);
    lines.push(cash("2026-03-20", "500.00"));
    check(
        &lines,
        &[
            ("/employees/E1/deficiency", json!("0.00")),
            ("/employees/E1/balance", json!("1000.00")),
            ("/employees/E1/contributed", json!("1000.00")),
        ],
    );
    let mut again = lines.clone();
    again.push(cash("2026-03-21", "0.01"));
    check_refused(&again, 12, "§16", &["0.01", "deficiency 0.00"]);
    // Purchase: floor(1000 / 8.5) = 117 shares, 994.50; 5.50 refunded (out after it).
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/cost", json!("994.50")),
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/deficiency", json!("0.00")),
        ],
    );
    let p = fold(&lines).unwrap();
    let st = p.statement("E1", Some("2026H1")).unwrap();
    assert_eq!(st[0]["cash_payments"], json!("500.00"));
    assert_eq!(st[0]["deductions"], json!("500.00"));
    assert_eq!(st[0]["refunds"], json!("5.50"));
}

#[test]
fn a_retirement_window_open_at_the_purchase_takes_its_default_there() {
    // Retired 06-25: the window would run to 07-05, but the purchase on 06-30 finds it open
    // and takes the default (withdraw): no shares, 500.00 refunded; `left` (employment
    // ended: INTERCHANGE.md's 6 before 9 `withdrawn`).
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("employment_ended", "2026-06-25", r#""reason":"retired""#),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
}

// ---- §17 -----------------------------------------------------------------------------

fn leave(date: &str, fields: &str) -> String {
    let rest = if fields.is_empty() {
        r#""kind":"leave""#.to_string()
    } else {
        format!(r#""kind":"leave",{fields}"#)
    };
    e1("leave_started", date, &rest)
}

#[test]
fn leave_suspends_deductions_and_the_return_opens_a_window() {
    // §17: on leave 02-01 without cash payments; the 02-15 payday accrues 500.00 as
    // deficiency. On leave with an option, E1 must elect by the period's last day: the
    // deadline shows, and the label is `on_leave` (INTERCHANGE.md's 3). Back
    // 03-02: deductions resume (03-05: balance 1000.00) and the window runs through 03-12.
    let lines = with(&[
        pay("2026-01-15"),
        leave("2026-02-01", ""),
        pay("2026-02-15"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("on_leave")),
            ("/employees/E1/deficiency", json!("500.00")),
            ("/employees/E1/balance", json!("500.00")),
            ("/employees/E1/election_deadline", json!("2026-06-30")),
        ],
    );
    let mut back = lines.clone();
    back.extend([
        e1("leave_ended", "2026-03-02", r#""returned":true"#),
        pay("2026-03-05"),
    ]);
    check_as_of(
        &back,
        "2026-03-12",
        &[
            ("/employees/E1/status", json!("awaiting_election")),
            ("/employees/E1/election_deadline", json!("2026-03-12")),
            ("/employees/E1/balance", json!("1000.00")),
        ],
    );
    // Default at the start of 03-13: withdraw, 1000.00 refunded.
    check_as_of(
        &back,
        "2026-03-13",
        &[
            ("/employees/E1/status", json!("withdrawn")),
            ("/employees/E1/refunded", json!("1000.00")),
            ("/employees/E1/deficiency", json!("0.00")),
        ],
    );
    // make_up: 500.00 paid, balance 1500.00; 0.01 more refused.
    let mut make_up = back.clone();
    make_up.extend([elect("2026-03-10", "make_up"), cash("2026-03-11", "500.00")]);
    check(
        &make_up,
        &[
            ("/employees/E1/status", json!("participating")),
            ("/employees/E1/balance", json!("1500.00")),
            ("/employees/E1/deficiency", json!("0.00")),
        ],
    );
    make_up.push(cash("2026-03-12", "0.01"));
    check_refused(&make_up, 14, "§17", &["0.01", "exceeds", "deficiency 0.00"]);
    // reduce (§17(b)): deductions keep counting (04-15: 1500.00); the purchase buys
    // floor(1500 / 8.5) = 176 shares for 1496.00 and refunds 4.00; then out.
    let mut reduce = back.clone();
    reduce.extend([elect("2026-03-10", "reduce"), pay("2026-04-15")]);
    check(
        &reduce,
        &[
            ("/employees/E1/status", json!("reduced")),
            ("/employees/E1/balance", json!("1500.00")),
        ],
    );
    reduce.extend(purchase());
    check(
        &reduce,
        &[
            ("/purchases/0/allocations/0/shares", json!("176")),
            ("/purchases/0/allocations/0/cost", json!("1496.00")),
            ("/purchases/0/allocations/0/refunded", json!("4.00")),
            ("/employees/E1/status", json!("not_enrolled")),
        ],
    );
}

#[test]
fn cash_during_leave_reduces_the_deficiency_and_skips_the_return_window() {
    // §17 with cash_payments: the 02-15 payday accrues 500.00; a 300.00 cash payment is
    // credited (balance 800.00, deficiency 200.00); 200.01 more is refused; back on 03-02
    // with no window (cash was paid): participating.
    let lines = with(&[
        pay("2026-01-15"),
        leave("2026-02-01", r#""cash_payments":true"#),
        pay("2026-02-15"),
        cash("2026-02-20", "300.00"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/balance", json!("800.00")),
            ("/employees/E1/deficiency", json!("200.00")),
            ("/employees/E1/contributed", json!("800.00")),
        ],
    );
    let mut beyond = lines.clone();
    beyond.push(cash("2026-02-21", "200.01"));
    check_refused(&beyond, 11, "§17", &["200.01", "deficiency 200.00"]);
    let mut back = lines.clone();
    back.push(e1("leave_ended", "2026-03-02", r#""returned":true"#));
    check(
        &back,
        &[
            ("/employees/E1/status", json!("participating")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
    // Without cash_payments: true a cash payment during the leave is refused.
    let mut no_cash = with(&[
        pay("2026-01-15"),
        leave("2026-02-01", ""),
        pay("2026-02-15"),
    ]);
    no_cash.push(cash("2026-02-20", "100.00"));
    check_refused(&no_cash, 10, "§17", &["elect make_up first"]);
}

#[test]
fn the_return_window_is_capped_at_the_period_end_and_taken_at_the_purchase() {
    // Back 06-25: 10 days would run to 07-05; capped at the period's end 06-30. The purchase
    // on 06-30 finds it open: default withdraw, no shares, 500.00 refunded.
    let mut lines = with(&[
        pay("2026-01-15"),
        leave("2026-05-01", ""),
        e1("leave_ended", "2026-06-25", r#""returned":true"#),
    ]);
    check(
        &lines,
        &[("/employees/E1/election_deadline", json!("2026-06-30"))],
    );
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/status", json!("withdrawn")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
}

#[test]
fn on_leave_at_the_period_end_must_have_elected() {
    // §17: on leave (re-employment guaranteed, so no limit) from 05-01 through the purchase.
    let base = with(&[
        pay("2026-01-15"),
        leave("2026-05-01", r#""reemployment_guaranteed":true"#),
    ]);
    // No election: the default (withdraw) at the purchase. Still on leave: `on_leave`
    // (INTERCHANGE.md: 3, "anyone on a leave, enrolled or not", before 9 `withdrawn`).
    let mut none = base.clone();
    none.extend(purchase());
    check(
        &none,
        &[
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/status", json!("on_leave")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
    // reduce elected on 06-01: 58 shares for 493.00, 7.00 refunded (reduce ends it); still
    // on leave after the purchase, so `on_leave` (3) rather than `not_enrolled` (10).
    let mut reduce = base.clone();
    reduce.push(elect("2026-06-01", "reduce"));
    check(&reduce, &[("/employees/E1/status", json!("on_leave"))]);
    reduce.extend(purchase());
    check(
        &reduce,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            ("/employees/E1/status", json!("on_leave")),
        ],
    );
    // make_up elected: buys 58, carries 7.00, stays enrolled (on leave).
    let mut make_up = base.clone();
    make_up.push(elect("2026-06-01", "make_up"));
    make_up.extend(purchase());
    check(
        &make_up,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/carried", json!("7.00")),
            ("/employees/E1/status", json!("on_leave")),
        ],
    );
}

#[test]
fn leave_ended_without_return_is_retirement() {
    // §17 last paragraph → §16: not back on 03-02; window through 03-12, default withdraw.
    let lines = with(&[
        pay("2026-01-15"),
        leave("2026-02-01", ""),
        e1("leave_ended", "2026-03-02", r#""returned":false"#),
    ]);
    check_as_of(
        &lines,
        "2026-03-12",
        &[
            ("/employees/E1/status", json!("awaiting_election")),
            ("/employees/E1/election_deadline", json!("2026-03-12")),
        ],
    );
    // The default at the start of 03-13: employment has ended, so `left`, not `withdrawn`.
    check_as_of(
        &lines,
        "2026-03-13",
        &[
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
}

#[test]
fn a_leave_past_the_limit_ends_employment() {
    // leave_limit_months 3: on leave from 02-01, allowed through 05-01 (02-01 + 3 months);
    // employment ends at the start of 05-02, as §15: refund all. Until then E1 is
    // `on_leave`, with the §17 election due by 06-30.
    let lines = with(&[pay("2026-01-15"), leave("2026-02-01", "")]);
    check_as_of(
        &lines,
        "2026-05-01",
        &[
            ("/employees/E1/status", json!("on_leave")),
            ("/employees/E1/election_deadline", json!("2026-06-30")),
            ("/employees/E1/balance", json!("500.00")),
        ],
    );
    check_as_of(
        &lines,
        "2026-05-02",
        &[
            ("/employees/E1/status", json!("left")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
    // Re-employment guaranteed: no limit.
    let guaranteed = with(&[
        pay("2026-01-15"),
        leave("2026-02-01", r#""reemployment_guaranteed":true"#),
    ]);
    check_as_of(
        &guaranteed,
        "2026-05-02",
        &[("/employees/E1/status", json!("on_leave"))],
    );
}

// ---- §18, §20 ------------------------------------------------------------------------

#[test]
fn death_window_defaults_to_a_refund_to_the_estate() {
    // §18: died 02-10; the window runs 3 months, through 05-10.
    let lines = with(&[pay("2026-01-15"), e1("died", "2026-02-10", "")]);
    check_as_of(
        &lines,
        "2026-05-10",
        &[
            ("/employees/E1/status", json!("deceased")),
            ("/employees/E1/election_deadline", json!("2026-05-10")),
            ("/employees/E1/balance", json!("500.00")),
        ],
    );
    check_as_of(
        &lines,
        "2026-05-11",
        &[
            ("/employees/E1/status", json!("deceased")),
            ("/employees/E1/election_deadline", json!(null)),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/refunded_to_estate", json!("500.00")),
        ],
    );
    let mut twice = lines.clone();
    twice.push(e1("died", "2026-02-11", ""));
    check_refused(&twice, 9, "§18", &["died on 2026-02-10"]);
}

#[test]
fn death_window_is_capped_at_the_purchase() {
    // Died 05-15: 3 months would be 08-15; capped at 06-30, the purchase takes the default.
    let mut lines = with(&[pay("2026-01-15"), e1("died", "2026-05-15", "")]);
    check(
        &lines,
        &[("/employees/E1/election_deadline", json!("2026-06-30"))],
    );
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/refunded_to_estate", json!("500.00")),
        ],
    );
}

#[test]
fn the_estate_may_make_up_and_buy() {
    // §18(a): died 02-10; the 02-15 payday accrues 500.00 deficiency; the estate elects
    // make_up and pays 500.00: balance 1000.00. Purchase: 117 shares for 994.50; 5.50
    // refunded to the estate.
    let mut lines = with(&[
        pay("2026-01-15"),
        e1("died", "2026-02-10", ""),
        pay("2026-02-15"),
        elect("2026-03-01", "make_up"),
        cash("2026-03-02", "500.00"),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/employees/E1/status", json!("deceased")),
            ("/employees/E1/refunded_to_estate", json!("5.50")),
            ("/employees/E1/shares_held", json!("117")),
        ],
    );
    // The estate's reduce: 58 shares, 7.00 to the estate.
    let mut reduce = with(&[
        pay("2026-01-15"),
        e1("died", "2026-02-10", ""),
        elect("2026-03-01", "reduce"),
    ]);
    reduce.extend(purchase());
    check(
        &reduce,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/employees/E1/refunded_to_estate", json!("7.00")),
        ],
    );
}

// ---- elections -----------------------------------------------------------------------

#[test]
fn an_election_outside_any_window_or_twice_is_refused() {
    check_refused(
        &with(&[elect("2026-02-01", "reduce")]),
        7,
        "§16",
        &["no election window", "participating"],
    );
    check_refused(
        &with(&[
            e1("employment_ended", "2026-03-02", r#""reason":"retired""#),
            elect("2026-03-03", "reduce"),
            elect("2026-03-04", "withdraw"),
        ]),
        9,
        "§16",
        &["already elected reduce on 2026-03-03"],
    );
}

// ---- §23, §24 ------------------------------------------------------------------------

#[test]
fn raising_the_reserve_needs_the_stockholders() {
    let amend = |approved: &str| {
        ev(
            "plan_amended",
            "2026-02-01",
            &format!(r#""changes":{{"share_reserve":"7000000"}}{approved}"#),
        )
    };
    check_refused(
        &with(&[amend("")]),
        7,
        "§23",
        &["6000000", "7000000", "stockholder"],
    );
    check(
        &with(&[amend(r#","stockholder_approved":true"#)]),
        &[
            ("/plan/share_reserve", json!("7000000")),
            ("/plan/shares_left", json!("7000000")),
        ],
    );
    // Changing eligibility needs them too; lowering the reserve does not.
    check_refused(
        &with(&[ev(
            "plan_amended",
            "2026-02-01",
            r#""changes":{"min_weekly_hours":"30"}"#,
        )]),
        7,
        "§23",
        &["min_weekly_hours"],
    );
    check(
        &with(&[ev(
            "plan_amended",
            "2026-02-01",
            r#""changes":{"share_reserve":"1000"}"#,
        )]),
        &[("/plan/share_reserve", json!("1000"))],
    );
}

#[test]
fn purchase_terms_amended_apply_to_later_periods() {
    // price_factor raised to 0.90 on 02-01: 2026H1 opened under 0.85 and keeps 8.5000.
    let mut lines = with(&[
        pay("2026-01-15"),
        ev(
            "plan_amended",
            "2026-02-01",
            r#""changes":{"price_factor":"0.90"}"#,
        ),
    ]);
    lines.extend(purchase());
    check(&lines, &[("/purchases/0/price", json!("8.5000"))]);
}

#[test]
fn board_termination_refunds_and_certificates_whole_shares() {
    // Fractional shares (4 places): 1000.00 / 8.5 = 117.6470 shares for 1000.00
    // (117.647 × 8.5 = 999.9995, rounded up 1000.00). H2 payday 07-15 credits 500.00. The
    // Board terminates on 08-01: 500.00 refunded, 117 whole shares certificated, 0.647
    // stays with the Agent.
    let mut lines = company(r#""whole_shares":false"#);
    lines.push(ev(
        "period_scheduled",
        "2025-12-02",
        r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
    ));
    lines.extend([pay("2026-01-15"), pay("2026-01-31")]);
    lines.extend(purchase());
    lines.extend([
        pay("2026-07-15"),
        ev("plan_terminated", "2026-08-01", r#""reason":"board""#),
    ]);
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("117.647")),
            ("/plan/status", json!("terminated")),
            ("/plan/reason", json!("board")),
            ("/plan/terminated_on", json!("2026-08-01")),
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/shares_certificated", json!("117")),
            ("/employees/E1/shares_held", json!("0.647")),
            ("/lots/0/certificated", json!("117")),
        ],
    );
    let mut after = lines.clone();
    after.push(e1("enrolled", "2026-08-02", r#""rate":"0.05""#));
    check_refused(&after, 14, "§24", &["terminated on 2026-08-01", "board"]);
    let mut sched = lines.clone();
    sched.push(ev(
        "period_scheduled",
        "2026-08-02",
        r#""period":"2027H1","start":"2027-01-01","end":"2027-06-30""#,
    ));
    check_refused(&sched, 14, "§24", &["terminated"]);
}

#[test]
fn approval_never_given_refunds_everything_at_the_window_end() {
    // Adopted 2025-06-01 with a 12-month window: approval possible through 2026-06-01.
    // Paydays 01-15 and 01-31 credit 1000.00; at the start of 2026-06-02 the plan
    // terminates (not_approved) and 1000.00 is refunded.
    let mut lines = company("");
    lines[0] = ev("plan_adopted", "2025-06-01", r#""rules":{}"#);
    lines.remove(1);
    lines.extend([pay("2026-01-15"), pay("2026-01-31")]);
    check_as_of(
        &lines,
        "2026-06-01",
        &[
            ("/plan/status", json!("awaiting_approval")),
            ("/employees/E1/balance", json!("1000.00")),
        ],
    );
    check_as_of(
        &lines,
        "2026-06-02",
        &[
            ("/plan/status", json!("terminated")),
            ("/plan/reason", json!("not_approved")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/refunded", json!("1000.00")),
            ("/employees/E1/status", json!("not_enrolled")),
        ],
    );
    let mut late = lines.clone();
    late.push(ev("stockholders_approved", "2026-06-02", ""));
    check_refused(&late, 8, "§24", &["2026-06-01"]);
    let mut buy = lines.clone();
    buy.extend(purchase());
    check_refused(&buy, 9, "§24", &["not_approved"]);
}

#[test]
fn the_term_ends_the_plan() {
    // term_years 1, adopted 2025-03-02: no purchase on or after 2026-03-02; the plan ends at
    // the start of that day, refunding the 500.00 credited on 01-15.
    let mut lines = company(r#""term_years":1"#);
    lines[0] = ev("plan_adopted", "2025-03-02", r#""rules":{"term_years":1}"#);
    lines[1] = ev("stockholders_approved", "2025-04-01", "");
    lines.push(pay("2026-01-15"));
    check_as_of(
        &lines,
        "2026-03-01",
        &[
            ("/plan/status", json!("active")),
            ("/employees/E1/balance", json!("500.00")),
        ],
    );
    check_as_of(
        &lines,
        "2026-03-02",
        &[
            ("/plan/status", json!("terminated")),
            ("/plan/reason", json!("term_ended")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
}

#[test]
fn a_purchase_that_uses_up_the_reserve_ends_the_plan() {
    // Reserve 100: 1000.00 wants 117 shares, prorated to 100 for 850.00; 150.00 refunded;
    // shares_left 0 ends the plan (reserve_used_up); the shares stay with the Agent.
    let mut lines = company(r#""share_reserve":"100""#);
    lines.extend([pay("2026-01-15"), pay("2026-01-31")]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/prorated", json!(true)),
            ("/purchases/0/allocations/0/shares", json!("100")),
            ("/purchases/0/allocations/0/refunded", json!("150.00")),
            ("/plan/status", json!("terminated")),
            ("/plan/reason", json!("reserve_used_up")),
            ("/plan/shares_left", json!("0")),
            ("/employees/E1/shares_held", json!("100")),
            ("/employees/E1/shares_certificated", json!("0")),
            ("/employees/E1/status", json!("not_enrolled")),
        ],
    );
    // Exactly used up without proration (reserve 117): the 5.50 is refunded, not carried.
    let mut exact = company(r#""share_reserve":"117""#);
    exact.extend([pay("2026-01-15"), pay("2026-01-31")]);
    exact.extend(purchase());
    check(
        &exact,
        &[
            ("/purchases/0/prorated", json!(false)),
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/plan/reason", json!("reserve_used_up")),
        ],
    );
}
