//! The amended rules (issue 11): the employee `status` as INTERCHANGE.md's precedence list
//! decides it, eligibility judged on the facts at the end of a period's first day, shares
//! bought after a capital change as the sum of the lots, a cap that binds only where it
//! lowers the employee's own shares, and the rules of §14 that were right already. One
//! scenario per rule, each naming the plan section it proves, numbers worked out by hand in
//! the comments.
//!
//! The common company: plan adopted 2025-01-02 (approved 2025-02-03), period 2026H1
//! (2026-01-01 to 2026-06-30), E1 hired 2024-01-01 (40 h, 12 months) and enrolled at 10% on
//! 2025-12-10. FMV 10.00 on 2026-01-02 (first trading day) and 20.00 on 2026-06-30 (last):
//! price 0.85 × min(10, 20) = 8.5000. A payday of 5000.00 at 10% deducts 500.00.
#![allow(clippy::unwrap_used)]

mod common;

use common::{check, check_as_of, check_refused, company, ev, hire, pay, purchase, with};
use serde_json::{json, Value};

/// 2026H2 (2026-07-01 to 2026-12-31), scheduled in advance.
fn h2() -> String {
    ev(
        "period_scheduled",
        "2025-12-02",
        r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
    )
}

/// An event about employee `id`.
fn of(id: &str, kind: &str, date: &str, fields: &str) -> String {
    if fields.is_empty() {
        ev(kind, date, &format!(r#""employee":"{id}""#))
    } else {
        ev(kind, date, &format!(r#""employee":"{id}",{fields}"#))
    }
}

fn enrol(id: &str, date: &str, rate: &str) -> String {
    of(id, "enrolled", date, &format!(r#""rate":"{rate}""#))
}

fn stop(id: &str, date: &str, option: &str) -> String {
    of(
        id,
        "deductions_stopped",
        date,
        &format!(r#""option":"{option}""#),
    )
}

/// A leave with re-employment guaranteed (no limit).
fn leave(id: &str, date: &str) -> String {
    of(
        id,
        "leave_started",
        date,
        r#""kind":"leave","reemployment_guaranteed":true"#,
    )
}

fn back(id: &str, date: &str) -> String {
    of(id, "leave_ended", date, r#""returned":true"#)
}

fn hours(id: &str, date: &str, h: &str) -> String {
    of(
        id,
        "employee_changed",
        date,
        &format!(r#""weekly_hours":"{h}""#),
    )
}

fn status(id: &str) -> String {
    format!("/employees/{id}/status")
}

// ---- the status: INTERCHANGE.md's list, first that applies ----------------------------

#[test]
fn on_leave_whether_enrolled_or_not_and_a_return_changes_nothing_else() {
    // §17, INTERCHANGE.md 3 `on_leave` ("anyone on a leave, enrolled or not") before 9
    // `withdrawn` and 10 `not_enrolled`. E2 never enrolled; E3 enrolled, paid 500.00 on
    // 01-15, withdrew on 01-20 (500.00 refunded). Both go on leave on 02-01: on_leave.
    let mut lines = company("");
    lines.extend([
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        hire("2025-03-01", "E3", "2024-01-01", "40"),
        enrol("E3", "2025-12-10", "0.10"),
        pay("2026-01-15", "E3", "5000.00"),
        stop("E3", "2026-01-20", "withdraw"),
        leave("E2", "2026-02-01"),
        leave("E3", "2026-02-01"),
    ]);
    check(
        &lines,
        &[
            (&status("E1"), json!("participating")),
            (&status("E2"), json!("on_leave")),
            (&status("E3"), json!("on_leave")),
            ("/employees/E2/election_deadline", json!(null)),
            ("/employees/E3/refunded", json!("500.00")),
        ],
    );
    // Back on 03-02: E2 never enrolled, E3's enrolment ended by its own choice.
    let returned = with(
        lines.clone(),
        &[back("E2", "2026-03-02"), back("E3", "2026-03-02")],
    );
    check(
        &returned,
        &[
            (&status("E2"), json!("not_enrolled")),
            (&status("E3"), json!("withdrawn")),
        ],
    );
    // The Board ends the plan on 02-15 while both are on leave (§19(a)): still on_leave;
    // E1's enrolment ended without its choice: not_enrolled.
    let ended = with(
        lines,
        &[ev("plan_terminated", "2026-02-15", r#""reason":"board""#)],
    );
    check(
        &ended,
        &[
            (&status("E1"), json!("not_enrolled")),
            (&status("E2"), json!("on_leave")),
            (&status("E3"), json!("on_leave")),
        ],
    );
}

#[test]
fn a_retiree_whose_window_defaulted_is_left() {
    // §16: 500.00 credited on 01-15; retired 03-02, the window runs through 03-12
    // (awaiting_election). At the start of 03-13 the default (withdraw) refunds 500.00:
    // INTERCHANGE.md 6 `left` comes before 9 `withdrawn`.
    let lines = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "5000.00"),
            of(
                "E1",
                "employment_ended",
                "2026-03-02",
                r#""reason":"retired""#,
            ),
        ],
    );
    check_as_of(
        &lines,
        "2026-03-12",
        &[
            (&status("E1"), json!("awaiting_election")),
            ("/employees/E1/election_deadline", json!("2026-03-12")),
        ],
    );
    check_as_of(
        &lines,
        "2026-03-13",
        &[
            (&status("E1"), json!("left")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
    // Rehired on 04-01 (the spec is silent; the fold's choice): the latest participation
    // ended with a defaulted withdraw election, so `withdrawn` (9), not `not_enrolled`.
    let rehired = with(lines, &[hire("2026-04-01", "E1", "2026-04-01", "40")]);
    check(
        &rehired,
        &[
            (&status("E1"), json!("withdrawn")),
            ("/employees/E1/rate", json!("0.10")),
        ],
    );
}

#[test]
fn a_withdraw_defaulted_at_the_purchase_stays_withdrawn_after_the_return() {
    // §17: 500.00 credited on 01-15; on leave from 05-01 through the purchase with no
    // election: the default (withdraw) at the 06-30 purchase refunds 500.00, no shares; still
    // on leave, so on_leave (3). Back on 07-10: `withdrawn` (9: "a later leave and return
    // does not change it"), not `not_enrolled`. 2026H2 opens 07-01 without E1 (not enrolled):
    // the 07-15 payday deducts nothing.
    let mut lines = company("");
    lines.extend([
        h2(),
        pay("2026-01-15", "E1", "5000.00"),
        leave("E1", "2026-05-01"),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            (&status("E1"), json!("on_leave")),
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
    lines.extend([back("E1", "2026-07-10"), pay("2026-07-15", "E1", "5000.00")]);
    check(
        &lines,
        &[
            (&status("E1"), json!("withdrawn")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/contributed", json!("500.00")),
        ],
    );
}

#[test]
fn sitting_out_survives_a_leave_and_ends_with_the_period() {
    // §4(a), INTERCHANGE.md 3, 7, 8: E2 hired 2025-11-15 has served 3 months only from
    // 2026-02-15, after 2026H1's first day: sitting_out. On leave 02-01 to 03-02: on_leave,
    // then sitting_out again (not `enrolled`: still ineligible for the open period). The
    // purchase closes the period: enrolled.
    let mut lines = company("");
    lines.extend([
        hire("2025-11-15", "E2", "2025-11-15", "40"),
        enrol("E2", "2025-12-10", "0.10"),
        leave("E2", "2026-02-01"),
    ]);
    check(&lines, &[(&status("E2"), json!("on_leave"))]);
    lines.push(back("E2", "2026-03-02"));
    check(&lines, &[(&status("E2"), json!("sitting_out"))]);
    lines.extend(purchase());
    check(&lines, &[(&status("E2"), json!("enrolled"))]);
}

// ---- §4: eligibility on the facts at the end of the first day --------------------------

#[test]
fn an_hr_change_dated_the_first_day_counts_whatever_its_seq() {
    // §4(c), DOMAIN.md §4. E2 works 20 hours: not more than 20, ineligible when 2026H1
    // opens. On 2026-01-01 (its first day) both are paid 5000.00, and then, in later seqs,
    // E1's hours drop to 15 and E2's rise to 40. At the end of the day E1 is ineligible:
    // nothing deducted (balance, contributed and refunded 0.00: not §19(b)), sitting_out,
    // still enrolled. E2 is eligible: its first-day payroll deducts 10% = 500.00.
    let mut lines = company("");
    lines.extend([
        h2(),
        hire("2025-03-01", "E2", "2024-01-01", "20"),
        enrol("E2", "2025-12-10", "0.10"),
        pay("2026-01-01", "E1", "5000.00"),
        pay("2026-01-01", "E2", "5000.00"),
        hours("E1", "2026-01-01", "15"),
        hours("E2", "2026-01-01", "40"),
    ]);
    let end_of_day = [
        (status("E1"), json!("sitting_out")),
        ("/employees/E1/balance".to_string(), json!("0.00")),
        ("/employees/E1/contributed".to_string(), json!("0.00")),
        ("/employees/E1/refunded".to_string(), json!("0.00")),
        ("/employees/E1/rate".to_string(), json!("0.10")),
        (status("E2"), json!("participating")),
        ("/employees/E2/balance".to_string(), json!("500.00")),
        ("/employees/E2/contributed".to_string(), json!("500.00")),
    ];
    let expected: Vec<(&str, Value)> = end_of_day
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let p = check(&lines, &expected);
    // An as-of fold on the first day itself shows the end of that day.
    let first_day: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("\"date\":\"2026-01-02\""))
        .cloned()
        .collect();
    check_as_of(&first_day, "2026-01-01", &expected);
    // The same events with the changes arriving before the payrolls: the same books.
    let mut reordered = lines.clone();
    let changes: Vec<String> = reordered.drain(reordered.len() - 2..).collect();
    let at = reordered.len() - 2;
    reordered.splice(at..at, changes);
    let q = check(&reordered, &expected);
    assert_eq!(q["digest"], p["digest"]);

    // E1's enrolment goes on: its hours back at 40 on 03-01 (mid-period, no option to take
    // part with), it sits 2026H1 out and takes part in 2026H2. 01-15: E2 500.00 more, 1000.00
    // in all: floor(1000 / 8.5) = 117 shares for 994.50, 5.50 carried. 07-15: E1 500.00, E2
    // 5.50 + 500.00 = 505.50.
    lines.extend([
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-15", "E2", "5000.00"),
        hours("E1", "2026-03-01", "40"),
    ]);
    lines.extend(purchase());
    lines.extend([
        pay("2026-07-15", "E1", "5000.00"),
        pay("2026-07-15", "E2", "5000.00"),
    ]);
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/employee", json!("E2")),
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/carried", json!("5.50")),
            ("/purchases/0/allocations/1", json!(null)),
            (&status("E1"), json!("participating")),
            ("/employees/E1/balance", json!("500.00")),
            ("/employees/E2/balance", json!("505.50")),
        ],
    );
}

#[test]
fn the_same_change_dated_the_second_day_ends_participation() {
    // §19(b), for contrast: 500.00 deducted on the first day; the hours drop on 01-02, the
    // period's second day: refunded, the enrolment ends: not_enrolled.
    let lines = with(
        company(""),
        &[
            pay("2026-01-01", "E1", "5000.00"),
            hours("E1", "2026-01-02", "15"),
        ],
    );
    check(
        &lines,
        &[
            (&status("E1"), json!("not_enrolled")),
            ("/employees/E1/contributed", json!("500.00")),
            ("/employees/E1/refunded", json!("500.00")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
}

#[test]
fn ownership_and_outstanding_shares_dated_the_first_day_count_at_its_end() {
    // §4(d): 10000 shares outstanding (5%: 500), E1 reports 100: eligible when 2026H1 opens.
    // On 01-01 E1 is paid 5000.00 (500.00), then reports 500 shares: 500 is not below 500,
    // ineligible at the end of the day so far: nothing deducted, sitting_out.
    let mut lines = company("");
    lines.extend([
        ev("shares_outstanding", "2025-12-15", r#""shares":"10000""#),
        of(
            "E1",
            "ownership_reported",
            "2025-12-15",
            r#""shares":"100""#,
        ),
        pay("2026-01-01", "E1", "5000.00"),
        of(
            "E1",
            "ownership_reported",
            "2026-01-01",
            r#""shares":"500""#,
        ),
    ]);
    check(
        &lines,
        &[
            (&status("E1"), json!("sitting_out")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/contributed", json!("0.00")),
        ],
    );
    // Later that day 20000 shares outstanding are reported (5%: 1000): 500 is below it,
    // eligible at the end of the day: the payroll deducts 500.00.
    lines.push(ev(
        "shares_outstanding",
        "2026-01-01",
        r#""shares":"20000""#,
    ));
    check(
        &lines,
        &[
            (&status("E1"), json!("participating")),
            ("/employees/E1/balance", json!("500.00")),
            ("/employees/E1/contributed", json!("500.00")),
        ],
    );
}

// ---- §25, DOMAIN.md §8: totals are the sum of the lots ----------------------------------

#[test]
fn shares_bought_after_a_capital_change_is_the_sum_of_the_lots() {
    // §9: E1, E2, E3 are paid 8500.00, 4250.00 and 850.00 at 10%: 850.00, 425.00, 85.00;
    // at 8.5 exactly 100, 50 and 10 shares, nothing left over. Bought 160; the reserve
    // 6,000,000 leaves 5,999,840.
    let mut lines = company("");
    lines.extend([
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        hire("2025-03-01", "E3", "2024-01-01", "40"),
        enrol("E2", "2025-12-10", "0.10"),
        enrol("E3", "2025-12-10", "0.10"),
        pay("2026-01-15", "E1", "8500.00"),
        pay("2026-01-15", "E2", "4250.00"),
        pay("2026-01-15", "E3", "850.00"),
    ]);
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/lots/0/shares", json!("100")),
            ("/lots/1/shares", json!("50")),
            ("/lots/2/shares", json!("10")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/plan/shares_bought", json!("160")),
            ("/plan/shares_left", json!("5999840")),
        ],
    );
    // §25: a 2:3 reorganization on 07-15 (2 new shares per 3 old). The reserve 6,000,000 ×
    // 2/3 = 4,000,000. Each lot rounded down to 4 places: 66.666… → 66.6666, 33.333… →
    // 33.3333, 6.666… → 6.6666; bought is their sum, 106.6665 (not 160 × 2/3 = 106.6666);
    // left 4,000,000 − 106.6665 = 3,999,893.3335. Per-share values ÷ 2/3: price 8.5 → 12.75,
    // FMV 10 → 15 and 20 → 30.
    lines.push(ev(
        "capital_change",
        "2026-07-15",
        r#""kind":"reorganization","ratio":"2:3""#,
    ));
    check(
        &lines,
        &[
            ("/lots/0/shares", json!("66.6666")),
            ("/lots/1/shares", json!("33.3333")),
            ("/lots/2/shares", json!("6.6666")),
            ("/lots/0/price", json!("12.75")),
            ("/lots/0/fmv_grant", json!("15")),
            ("/lots/0/fmv_purchase", json!("30")),
            ("/employees/E1/shares_held", json!("66.6666")),
            ("/employees/E3/shares_held", json!("6.6666")),
            ("/plan/share_reserve", json!("4000000")),
            ("/plan/shares_bought", json!("106.6665")),
            ("/plan/shares_left", json!("3999893.3335")),
        ],
    );
}

// ---- §5 step 5, §9, §13: a cap binds only where it lowers the employee's own shares ----

/// Reserve `reserve`; E1–E3 paid 10000.00 at 10%, 5% and 3% (1000.00, 500.00, 300.00); E4
/// and E5 paid 500.00 at 1% (5.00 each, under one share's price 8.5); E5 reduces on 02-01.
fn five(rules: &str) -> Vec<String> {
    let mut lines = company(rules);
    lines.extend([
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        hire("2025-03-01", "E3", "2024-01-01", "40"),
        hire("2025-03-01", "E4", "2024-01-01", "40"),
        hire("2025-03-01", "E5", "2024-01-01", "40"),
        enrol("E2", "2025-12-10", "0.05"),
        enrol("E3", "2025-12-10", "0.03"),
        enrol("E4", "2025-12-10", "0.01"),
        enrol("E5", "2025-12-10", "0.01"),
        pay("2026-01-15", "E1", "10000.00"),
        pay("2026-01-15", "E2", "10000.00"),
        pay("2026-01-15", "E3", "10000.00"),
        pay("2026-01-15", "E4", "500.00"),
        pay("2026-01-15", "E5", "500.00"),
        stop("E5", "2026-02-01", "reduce"),
    ]);
    lines.extend(purchase());
    lines
}

#[test]
fn a_cap_binds_only_where_it_lowers_the_employees_own_shares() {
    // §13 with reserve 100. Wants: E1 floor(1000 / 8.5) = 117, E2 58, E3 35, E4 and E5 0
    // (5.00 < 8.5): 210 > 100, prorated: E1 floor(117 × 100 / 210) = floor(55.71) = 55, E2
    // floor(27.62) = 27, E3 floor(16.67) = 16; 98 bought, 2 left: the plan is not exhausted
    // and goes on. E1–E3 were capped: the rest is refunded (532.50, 270.50, 164.00). E4's
    // want was 0 and stays 0: not capped, its 5.00 is carried (residual carry_forward). E5's
    // participation ends with the purchase (reduce): its 5.00 is refunded anyway.
    let lines = five(r#""share_reserve":"100""#);
    check(
        &lines,
        &[
            ("/purchases/0/prorated", json!(true)),
            ("/purchases/0/shares", json!("98")),
            ("/purchases/0/allocations/0/shares", json!("55")),
            ("/purchases/0/allocations/0/refunded", json!("532.50")),
            ("/purchases/0/allocations/1/shares", json!("27")),
            ("/purchases/0/allocations/1/refunded", json!("270.50")),
            ("/purchases/0/allocations/2/shares", json!("16")),
            ("/purchases/0/allocations/2/refunded", json!("164.00")),
            ("/purchases/0/allocations/3/employee", json!("E4")),
            ("/purchases/0/allocations/3/shares", json!("0")),
            ("/purchases/0/allocations/3/carried", json!("5.00")),
            ("/purchases/0/allocations/3/refunded", json!("0.00")),
            ("/purchases/0/allocations/4/employee", json!("E5")),
            ("/purchases/0/allocations/4/carried", json!("0.00")),
            ("/purchases/0/allocations/4/refunded", json!("5.00")),
            ("/employees/E4/balance", json!("5.00")),
            (&status("E4"), json!("enrolled")),
            (&status("E5"), json!("not_enrolled")),
            ("/plan/status", json!("active")),
            ("/plan/shares_bought", json!("98")),
            ("/plan/shares_left", json!("2")),
        ],
    );
    // Under residual refund, E4's 5.00 is refunded by that rule instead.
    let refund = five(r#""share_reserve":"100","residual":"refund""#);
    check(
        &refund,
        &[
            ("/purchases/0/allocations/3/carried", json!("0.00")),
            ("/purchases/0/allocations/3/refunded", json!("5.00")),
        ],
    );
    // Reserve 210: the 210 wanted fit (no proration) and leave 0: the plan ends
    // (reserve_used_up) and with it everyone's participation, so all cash left is refunded:
    // E1 1000.00 − 117 × 8.5 = 5.50, E2 500.00 − 493.00 = 7.00, E3 300.00 − 297.50 = 2.50,
    // E4 5.00.
    let exhausted = five(r#""share_reserve":"210""#);
    check(
        &exhausted,
        &[
            ("/purchases/0/prorated", json!(false)),
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/purchases/0/allocations/1/refunded", json!("7.00")),
            ("/purchases/0/allocations/2/refunded", json!("2.50")),
            ("/purchases/0/allocations/3/refunded", json!("5.00")),
            ("/purchases/0/allocations/3/carried", json!("0.00")),
            ("/plan/reason", json!("reserve_used_up")),
            ("/plan/shares_left", json!("0")),
        ],
    );
}

// ---- §14: right already, now written down ------------------------------------------------

#[test]
fn after_a_reduce_rate_changed_is_refused_and_enrolled_waits_for_the_next_period() {
    // §14(a)(i), §14(b), §5, §6: 500.00 credited on 01-15; reduce on 02-01 ends the
    // enrolment. A rate_changed on 02-05 is refused (no enrolment to change).
    let base = with(
        company(""),
        &[
            h2(),
            pay("2026-01-15", "E1", "5000.00"),
            stop("E1", "2026-02-01", "reduce"),
        ],
    );
    check_refused(
        &with(
            base.clone(),
            &[of("E1", "rate_changed", "2026-02-05", r#""rate":"0.05""#)],
        ),
        10,
        "§6",
        &["E1 is not enrolled"],
    );
    // An enrolment at 5% on 02-10 is accepted, for the next period: E1 still holds 2026H1's
    // reduced option (the 02-15 payday deducts nothing). The purchase buys floor(500 / 8.5)
    // = 58 shares for 493.00 and refunds 7.00 (the option ends with it).
    let mut lines = with(
        base,
        &[
            enrol("E1", "2026-02-10", "0.05"),
            pay("2026-02-15", "E1", "5000.00"),
        ],
    );
    check(
        &lines,
        &[
            (&status("E1"), json!("reduced")),
            ("/employees/E1/rate", json!("0.05")),
            ("/employees/E1/balance", json!("500.00")),
        ],
    );
    lines.extend(purchase());
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/cost", json!("493.00")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            (&status("E1"), json!("enrolled")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
    // 2026H2: E1 takes part at 5%: 07-15 deducts 250.00.
    lines.push(pay("2026-07-15", "E1", "5000.00"));
    check(
        &lines,
        &[
            (&status("E1"), json!("participating")),
            ("/employees/E1/balance", json!("250.00")),
        ],
    );
}

#[test]
fn a_reduce_is_the_election_for_a_later_window_but_death_still_opens_one() {
    // DOMAIN.md §6: a §14 reduce filed in the open period is the election for any later
    // §16 or §17 window of it. 500.00 credited on 01-15, reduce on 02-01.
    let reduced = with(
        company(""),
        &[
            pay("2026-01-15", "E1", "5000.00"),
            stop("E1", "2026-02-01", "reduce"),
        ],
    );
    // §16: retired 03-02: no window (reduced, no deadline); an election is refused; the
    // purchase buys 58 shares for 493.00, refunds 7.00, and E1 has left.
    let retired = with(
        reduced.clone(),
        &[of(
            "E1",
            "employment_ended",
            "2026-03-02",
            r#""reason":"retired""#,
        )],
    );
    check(
        &retired,
        &[
            (&status("E1"), json!("reduced")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
    check_refused(
        &with(
            retired.clone(),
            &[of("E1", "election", "2026-03-05", r#""choice":"reduce""#)],
        ),
        10,
        "§16",
        &["no election window", "status reduced"],
    );
    check(
        &with(retired, &purchase()),
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            (&status("E1"), json!("left")),
        ],
    );
    // §17: on leave 03-02 (on_leave, INTERCHANGE.md 3 before 4 `reduced`; no window), back
    // 04-01 (reduced, no return window); the purchase buys 58, refunds 7.00: not_enrolled.
    let on_leave = with(reduced.clone(), &[leave("E1", "2026-03-02")]);
    check(
        &on_leave,
        &[
            (&status("E1"), json!("on_leave")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
    let returned = with(on_leave, &[back("E1", "2026-04-01")]);
    check(
        &returned,
        &[
            (&status("E1"), json!("reduced")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
    check(
        &with(returned, &purchase()),
        &[
            ("/purchases/0/allocations/0/shares", json!("58")),
            ("/purchases/0/allocations/0/refunded", json!("7.00")),
            (&status("E1"), json!("not_enrolled")),
        ],
    );
    // §18: died 03-02: the estate's window opens all the same, 3 months to 06-02 (before the
    // period's end). Its default at the start of 06-03 refunds 500.00 to the estate; the
    // purchase then buys nothing.
    let died = with(reduced, &[of("E1", "died", "2026-03-02", "")]);
    check_as_of(
        &died,
        "2026-06-02",
        &[
            (&status("E1"), json!("deceased")),
            ("/employees/E1/election_deadline", json!("2026-06-02")),
        ],
    );
    check(
        &with(died, &purchase()),
        &[
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/refunded_to_estate", json!("500.00")),
            ("/employees/E1/election_deadline", json!(null)),
        ],
    );
}

#[test]
fn deductions_stopped_must_be_dated_before_the_period_last_day() {
    // §14(a): "at any time prior to the last day of the Withholding Period": 2026-06-30 is
    // too late for either option; 06-29 is on time (withdraw: 500.00 refunded).
    let base = with(company(""), &[pay("2026-01-15", "E1", "5000.00")]);
    for option in ["withdraw", "reduce"] {
        check_refused(
            &with(base.clone(), &[stop("E1", "2026-06-30", option)]),
            8,
            "§14",
            &["before the last day", "2026-06-30", option],
        );
    }
    check(
        &with(base, &[stop("E1", "2026-06-29", "withdraw")]),
        &[
            (&status("E1"), json!("withdrawn")),
            ("/employees/E1/refunded", json!("500.00")),
        ],
    );
}
