//! Data-driven scenarios of the purchase cycle, one per rule of the plan, each with its
//! numbers worked out by hand in a comment.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    buy, check, check_refused, check_state, close, ev, fold, fold_records, hire, pay, records,
};
use espp_events::{Day, RulesPatch};
use espp_projections::State;
use serde_json::json;

/// A plan adopted 2025-01-02 with `rules` (a JSON object body), approved 2025-02-03, one
/// period 2026H1 (2026-01-01 to 2026-06-30), E1 hired long ago (40 h, 12 months) and
/// enrolled at 10% before the period.
fn company(rules: &str) -> Vec<String> {
    vec![
        ev(
            "plan_adopted",
            "2025-01-02",
            &format!(r#""rules":{{{rules}}}"#),
        ),
        ev("stockholders_approved", "2025-02-03", ""),
        ev(
            "period_scheduled",
            "2025-12-01",
            r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30""#,
        ),
        hire("2025-03-01", "E1", "2024-01-01", "40"),
        ev("enrolled", "2025-12-10", r#""employee":"E1","rate":"0.10""#),
    ]
}

/// The 2026H1 cycle for E1: FMV `first` on 2026-01-02, `last` on 2026-06-30, two paydays of
/// 5000.00 at 10% (balance 1000.00), the purchase.
fn h1_cycle(rules: &str, first: &str, last: &str) -> Vec<String> {
    let mut l = company(rules);
    l.extend([
        ev("market_price", "2026-01-02", first),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        ev("market_price", "2026-06-30", last),
        buy("2026-06-30", "2026H1"),
    ]);
    l
}

#[test]
fn lookback_takes_the_lower_first_day_fmv() {
    // §8: FMV first 10, last 20; price = 0.85 × 10 = 8.5000. Balance 2 × 500.00 = 1000.00;
    // floor(1000 / 8.5) = 117 shares (118 × 8.5 = 1003 > 1000); cost 117 × 8.5 = 994.50;
    // 5.50 under one share's price is carried forward.
    let lines = h1_cycle("", r#""closes":["10.00"]"#, r#""closes":["20.00"]"#);
    check(
        &lines,
        &[
            ("/purchases/0/price", json!("8.5000")),
            ("/purchases/0/fmv_grant", json!("10")),
            ("/purchases/0/fmv_purchase", json!("20")),
            ("/purchases/0/grant_date", json!("2026-01-02")),
            ("/purchases/0/prorated", json!(false)),
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/cost", json!("994.50")),
            ("/purchases/0/allocations/0/refunded", json!("0.00")),
            ("/purchases/0/allocations/0/carried", json!("5.50")),
            ("/employees/E1/balance", json!("5.50")),
            ("/employees/E1/contributed", json!("1000.00")),
            ("/employees/E1/shares_held", json!("117")),
            ("/employees/E1/status", json!("enrolled")),
            ("/employees/E1/rate", json!("0.10")),
            ("/plan/status", json!("active")),
            ("/plan/shares_bought", json!("117")),
            ("/plan/shares_left", json!("5999883")),
            ("/lots/0/employee", json!("E1")),
            ("/lots/0/period", json!("2026H1")),
            ("/lots/0/purchase_date", json!("2026-06-30")),
            ("/lots/0/price", json!("8.5000")),
            ("/lots/0/shares", json!("117")),
            ("/lots/0/held", json!("117")),
            ("/lots/0/certificated", json!("0")),
            ("/lots/0/sold", json!("0")),
            ("/skipped", json!([])),
        ],
    );
}

#[test]
fn lookback_takes_the_lower_last_day_fmv() {
    // §8: FMV first 20, last 10; price = 0.85 × 10 = 8.5000, as above 117 shares.
    let lines = h1_cycle("", r#""closes":["20.00"]"#, r#""closes":["10.00"]"#);
    check(
        &lines,
        &[
            ("/purchases/0/price", json!("8.5000")),
            ("/lots/0/fmv_grant", json!("20")),
            ("/lots/0/fmv_purchase", json!("10")),
            ("/lots/0/shares", json!("117")),
        ],
    );
}

#[test]
fn price_is_rounded_up_not_half_up() {
    // §8: 0.85 × 10.00002 = 8.500017: half up would give 8.5000, up gives 8.5001.
    // floor(1000 / 8.5001) = 117; cost 117 × 8.5001 = 994.5117, rounded up to 994.52;
    // carried 1000.00 − 994.52 = 5.48.
    let lines = h1_cycle("", r#""closes":["10.00002"]"#, r#""closes":["12"]"#);
    check(
        &lines,
        &[
            ("/purchases/0/price", json!("8.5001")),
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/cost", json!("994.52")),
            ("/purchases/0/allocations/0/carried", json!("5.48")),
        ],
    );
}

#[test]
fn price_never_below_par() {
    // §8: par 5.00, FMV 5 both days: 0.85 × 5 = 4.25 < 5, so 5.0000; 1000 / 5 = 200 shares,
    // cost 1000.00, nothing left.
    let lines = h1_cycle(
        r#""par_value":"5.00""#,
        r#""closes":["5"]"#,
        r#""closes":["5"]"#,
    );
    check(
        &lines,
        &[
            ("/purchases/0/price", json!("5.0000")),
            ("/purchases/0/allocations/0/shares", json!("200")),
            ("/purchases/0/allocations/0/cost", json!("1000.00")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
}

#[test]
fn fmv_fall_backs() {
    // §8, on the first trading day (the last day closes at 50, so the first day's FMV sets
    // the price): the highest of several closes, 10.50; the mean of bid 9.90 and ask 10.10,
    // 10; the mean of high 11 and low 9.50, 10.25; the Board's FMV, 7.77.
    for (first, fmv) in [
        (r#""closes":["10.00","10.50","9.80"]"#, "10.5"),
        (r#""bid":"9.90","ask":"10.10""#, "10"),
        (r#""high":"11","low":"9.50""#, "10.25"),
        (r#""board_fmv":"7.77""#, "7.77"),
        // A later market_price for the same day corrects it: highest close 12.
        (r#""closes":["1"]}"#, "12"),
    ] {
        let mut lines = h1_cycle("", first.trim_end_matches('}'), r#""closes":["50"]"#);
        if fmv == "12" {
            lines.insert(6, close("2026-01-02", "12"));
        }
        check(&lines, &[("/purchases/0/fmv_grant", json!(fmv))]);
    }
}

#[test]
fn no_sale_falls_back_to_the_latest_earlier_trading_day() {
    // §8: 2025-12-31 closes at 9; 2026-01-02, the period's first trading day, reports no
    // sale: its FMV is 9. Price 0.85 × 9 = 7.65; floor(1000 / 7.65) = 130 (130 × 7.65 =
    // 994.50), carried 5.50.
    let mut lines = h1_cycle("", r#""no_sale":true"#, r#""closes":["20"]"#);
    lines.insert(5, close("2025-12-31", "9"));
    check(
        &lines,
        &[
            ("/purchases/0/grant_date", json!("2026-01-02")),
            ("/purchases/0/fmv_grant", json!("9")),
            ("/purchases/0/price", json!("7.6500")),
            ("/purchases/0/allocations/0/shares", json!("130")),
            ("/purchases/0/allocations/0/carried", json!("5.50")),
        ],
    );
    // With no earlier price at all the purchase is refused naming the day.
    let lines = h1_cycle("", r#""no_sale":true"#, r#""closes":["20"]"#);
    check_refused(&lines, 10, "§8", &["2026-01-02", "no fair market value"]);
}

#[test]
fn residual_refund_rule() {
    // §9 residual = refund: the 5.50 of the first scenario is refunded, balance 0.
    // contributed 1000.00 = cost 994.50 + refunded 5.50 + balance 0.
    let lines = h1_cycle(
        r#""residual":"refund""#,
        r#""closes":["10"]"#,
        r#""closes":["20"]"#,
    );
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/employees/E1/refunded", json!("5.50")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
}

#[test]
fn fractional_shares() {
    // §9 whole_shares false, 4 places: 1000 / 8.5 = 117.64705…, floored 117.647(0);
    // cost 117.647 × 8.5 = 999.9995, rounded up 1000.00; nothing carried.
    let lines = h1_cycle(
        r#""whole_shares":false"#,
        r#""closes":["10"]"#,
        r#""closes":["20"]"#,
    );
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("117.647")),
            ("/purchases/0/allocations/0/cost", json!("1000.00")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/employees/E1/shares_held", json!("117.647")),
        ],
    );
}

#[test]
fn annual_limit_over_two_purchases_in_one_year() {
    // §9: FMV 100 every day, price 85. Quarterly periods. Q1: one payday of 200000.00 at
    // 10% = 20000.00; floor(20000 / 85) = 235 (235 × 85 = 19975); 235 × 100 = 23500 of the
    // 25000 limit; carried 25.00. Q2: another 20000.00, balance 20025.00, wants 235 again
    // but the headroom is 25000 − 23500 = 1500 = 15 shares at FMV 100 (inclusive: the year
    // ends exactly at 25000). Cost 15 × 85 = 1275.00; the capped cash 18750.00 is refunded.
    let lines = vec![
        ev("plan_adopted", "2025-01-02", r#""rules":{}"#),
        ev("stockholders_approved", "2025-02-03", ""),
        ev(
            "period_scheduled",
            "2025-12-01",
            r#""period":"Q1","start":"2026-01-01","end":"2026-03-31""#,
        ),
        ev(
            "period_scheduled",
            "2025-12-01",
            r#""period":"Q2","start":"2026-04-01","end":"2026-06-30""#,
        ),
        hire("2025-03-01", "E1", "2024-01-01", "40"),
        ev("enrolled", "2025-12-10", r#""employee":"E1","rate":"0.10""#),
        close("2026-01-02", "100"),
        pay("2026-01-15", "E1", "200000.00"),
        close("2026-03-31", "100"),
        buy("2026-03-31", "Q1"),
        close("2026-04-01", "100"),
        pay("2026-04-15", "E1", "200000.00"),
        close("2026-06-30", "100"),
        buy("2026-06-30", "Q2"),
    ];
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("235")),
            ("/purchases/0/allocations/0/carried", json!("25.00")),
            ("/purchases/1/allocations/0/shares", json!("15")),
            ("/purchases/1/allocations/0/cost", json!("1275.00")),
            ("/purchases/1/allocations/0/refunded", json!("18750.00")),
            ("/purchases/1/allocations/0/carried", json!("0.00")),
            ("/employees/E1/shares_held", json!("250")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/contributed", json!("40000.00")),
        ],
    );
    // Another plan's purchase of 1000.00 this year lowers Q2's headroom to 500: 5 shares.
    let mut with_other = lines.clone();
    with_other.insert(
        10,
        ev(
            "other_plan_purchase",
            "2026-04-02",
            r#""employee":"E1","value":"1000.00""#,
        ),
    );
    check(
        &with_other,
        &[("/purchases/1/allocations/0/shares", json!("5"))],
    );
}

#[test]
fn period_share_and_value_limits() {
    // §9: share_limit 50 caps the 117 wanted: cost 50 × 8.5 = 425.00, refund 575.00.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines[2] = ev(
        "period_scheduled",
        "2025-12-01",
        r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30","share_limit":"50""#,
    );
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("50")),
            ("/purchases/0/allocations/0/cost", json!("425.00")),
            ("/purchases/0/allocations/0/refunded", json!("575.00")),
        ],
    );
    // value_limit 200.00 at FMV_first 10: 20 shares, cost 170.00, refund 830.00.
    lines[2] = ev(
        "period_scheduled",
        "2025-12-01",
        r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30","value_limit":"200.00""#,
    );
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("20")),
            ("/purchases/0/allocations/0/cost", json!("170.00")),
            ("/purchases/0/allocations/0/refunded", json!("830.00")),
        ],
    );
    // A limit dated on the period's start is refused (§9: "prior to the start").
    lines[2] = ev(
        "period_scheduled",
        "2026-01-01",
        r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30","value_limit":"200.00""#,
    );
    lines.sort_by_key(|l| l.contains("2026-"));
    let mut s = State::new(None);
    let err = fold_records(&mut s, &records(&lines)).unwrap_err();
    assert!(err.1.to_string().starts_with("§9:"), "{}", err.1);
}

#[test]
fn ownership_cap_of_five_percent() {
    // §4(d), step 4: 10000 shares outstanding, limit 500; E1 reports 480. Eligible on the
    // first day (480 < 500); at the purchase owned + bought < 500 allows 19 (480 + 20 = 500
    // is not below). Cost 19 × 8.5 = 161.50, refund 838.50.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines.insert(
        5,
        ev("shares_outstanding", "2025-12-15", r#""shares":"10000""#),
    );
    lines.insert(
        6,
        ev(
            "ownership_reported",
            "2025-12-15",
            r#""employee":"E1","shares":"480""#,
        ),
    );
    check(
        &lines,
        &[
            ("/purchases/0/allocations/0/shares", json!("19")),
            ("/purchases/0/allocations/0/cost", json!("161.50")),
            ("/purchases/0/allocations/0/refunded", json!("838.50")),
        ],
    );
    // Owning 500 already on the first day: ineligible, sits out, no deductions.
    lines[6] = ev(
        "ownership_reported",
        "2025-12-15",
        r#""employee":"E1","shares":"500""#,
    );
    check(
        &lines,
        &[
            ("/employees/E1/balance", json!("0.00")),
            ("/purchases/0/allocations", json!([])),
            ("/purchases/0/shares", json!("0")),
        ],
    );
}

#[test]
fn proration_across_three_employees_keeps_the_remainder() {
    // §13: reserve 100. Price 8.5. E1 1000.00 wants 117, E2 500.00 wants 58 (493.00), E3
    // 300.00 wants 35 (297.50): 210 > 100. E1 floor(117 × 100 / 210) = floor(55.71) = 55,
    // E2 floor(58 × 100 / 210) = floor(27.62) = 27, E3 floor(35 × 100 / 210) = floor(16.67)
    // = 16; 98 bought, 2 stay in the reserve. Costs 467.50, 229.50, 136.00; the rest of each
    // balance is refunded (a cap bound): 532.50, 270.50, 164.00.
    let mut lines = company(r#""share_reserve":"100""#);
    lines.extend([
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        hire("2025-03-01", "E3", "2024-01-01", "40"),
        ev("enrolled", "2025-12-10", r#""employee":"E2","rate":"0.05""#),
        ev("enrolled", "2025-12-10", r#""employee":"E3","rate":"0.03""#),
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "10000.00"),
        pay("2026-01-15", "E2", "10000.00"),
        pay("2026-01-15", "E3", "10000.00"),
        close("2026-06-30", "20"),
        buy("2026-06-30", "2026H1"),
    ]);
    check(
        &lines,
        &[
            ("/purchases/0/prorated", json!(true)),
            ("/purchases/0/shares", json!("98")),
            ("/purchases/0/allocations/0/shares", json!("55")),
            ("/purchases/0/allocations/0/cost", json!("467.50")),
            ("/purchases/0/allocations/0/refunded", json!("532.50")),
            ("/purchases/0/allocations/1/shares", json!("27")),
            ("/purchases/0/allocations/1/refunded", json!("270.50")),
            ("/purchases/0/allocations/2/shares", json!("16")),
            ("/purchases/0/allocations/2/cost", json!("136.00")),
            ("/purchases/0/allocations/2/refunded", json!("164.00")),
            ("/plan/share_reserve", json!("100")),
            ("/plan/shares_bought", json!("98")),
            ("/plan/shares_left", json!("2")),
        ],
    );
}

#[test]
fn new_hire_sits_out_a_period() {
    // §4(a): E2 hired 2025-11-15; 3 months later is 2026-02-15, after the 2026-01-01 start:
    // sitting out, nothing deducted. E3 works 20 hours, not more than 20 (§4(c)): same.
    let mut lines = company("");
    lines.extend([
        hire("2025-11-15", "E2", "2025-11-15", "40"),
        hire("2025-11-15", "E3", "2020-01-01", "20"),
        ev("enrolled", "2025-12-10", r#""employee":"E2","rate":"0.10""#),
        ev("enrolled", "2025-12-10", r#""employee":"E3","rate":"0.10""#),
        pay("2026-01-15", "E1", "1000.00"),
        pay("2026-01-15", "E2", "1000.00"),
        pay("2026-01-15", "E3", "1000.00"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("participating")),
            ("/employees/E1/balance", json!("100.00")),
            ("/employees/E2/status", json!("sitting_out")),
            ("/employees/E2/balance", json!("0.00")),
            ("/employees/E3/status", json!("sitting_out")),
            ("/employees/E3/balance", json!("0.00")),
        ],
    );
}

#[test]
fn enrolment_and_rate_change_wait_for_the_next_period() {
    // §5, §6: E2 enrolls mid-period (2026-02-01): enrolled, nothing deducted on 2026-02-15.
    // E1 changes 10% to 5% on 2026-02-01: 2026-02-15 still deducts 10% of 1000 = 100.00.
    // From 2026H2 (2026-07-01): E2 participates, 5% of 1000 = 50.00; E1 deducts 5% = 50.00.
    let mut lines = company("");
    lines.extend([
        ev(
            "period_scheduled",
            "2026-03-01",
            r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
        ),
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        ev("enrolled", "2026-02-01", r#""employee":"E2","rate":"0.05""#),
        ev(
            "rate_changed",
            "2026-02-01",
            r#""employee":"E1","rate":"0.05""#,
        ),
        pay("2026-02-15", "E1", "1000.00"),
        pay("2026-02-15", "E2", "1000.00"),
    ]);
    let s = fold(&lines).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/employees/E1/balance", json!("100.00")),
            ("/employees/E1/rate", json!("0.05")),
            ("/employees/E2/status", json!("enrolled")),
            ("/employees/E2/balance", json!("0.00")),
        ],
    );
    lines.extend([
        pay("2026-07-15", "E1", "1000.00"),
        pay("2026-07-15", "E2", "1000.00"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/balance", json!("150.00")),
            ("/employees/E2/status", json!("participating")),
            ("/employees/E2/balance", json!("50.00")),
        ],
    );
    // An enrolment dated on a period's first day takes effect that day.
    let mut on_start = company("");
    on_start.extend([
        hire("2025-03-01", "E2", "2024-01-01", "40"),
        ev("enrolled", "2026-01-01", r#""employee":"E2","rate":"0.05""#),
        pay("2026-01-15", "E2", "1000.00"),
    ]);
    check(&on_start, &[("/employees/E2/balance", json!("50.00"))]);
}

#[test]
fn as_of_applies_the_period_opening_on_its_first_day() {
    // DOMAIN §1: the period opens at the start of 2026-01-01; an as-of fold on 2025-12-31
    // shows E1 enrolled, one on 2026-01-01 participating.
    let lines = company("");
    let mut s = fold(&lines).unwrap();
    s.advance_to(Day::parse("2025-12-31").unwrap()).unwrap();
    check_state(&s, None, &[("/employees/E1/status", json!("enrolled"))]);
    s.advance_to(Day::parse("2026-01-01").unwrap()).unwrap();
    check_state(
        &s,
        Day::parse("2026-01-01").ok(),
        &[
            ("/employees/E1/status", json!("participating")),
            ("/as_of", json!("2026-01-01")),
        ],
    );
}

#[test]
fn no_purchase_before_approval() {
    // §9, §24: without stockholders_approved the purchase is refused (a 24-month approval
    // window keeps the plan alive through 2026-06-30; see life.rs for the window's lapse).
    let mut lines = h1_cycle(
        r#""approval_window_months":24"#,
        r#""closes":["10"]"#,
        r#""closes":["20"]"#,
    );
    lines.remove(1);
    check_refused(&lines, 9, "§9", &["approve", "2026H1"]);
    let s = fold(&lines[..8]).unwrap();
    check_state(&s, None, &[("/plan/status", json!("awaiting_approval"))]);
}

#[test]
fn closed_books_refuse_an_event_on_the_purchase_day() {
    // DOMAIN §1: after the 2026-06-30 purchase, a payroll dated 2026-06-30 is refused.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines.push(pay("2026-06-30", "E1", "100.00"));
    check_refused(&lines, 11, "§9", &["closed through 2026-06-30"]);
    // A price after the closed day is fine.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines.push(close("2026-07-01", "30"));
    assert!(fold(&lines).is_ok());
}

#[test]
fn a_purchase_with_no_participant_closes_the_period() {
    // §9: nobody enrolled; the purchase still executes with 0 shares.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines.remove(4);
    lines.retain(|l| !l.contains("payroll"));
    check(
        &lines,
        &[
            ("/purchases/0/shares", json!("0")),
            ("/purchases/0/allocations", json!([])),
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/rate", json!(null)),
        ],
    );
}

#[test]
fn purchase_must_be_the_last_trading_day() {
    // §9: a purchase on 2026-06-29 when the last trading day so far is 2026-06-30 is not
    // possible (dates fold in order, so test one dated before any price of that day).
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines[9] = buy("2026-06-29", "2026H1");
    check_refused(
        &lines,
        10,
        "§9",
        &[
            "is dated 2026-06-29, which has no market_price",
            "latest trading day on or before it is 2026-01-02",
            "the day of its latest market_price",
        ],
    );
}

#[test]
fn refusals_name_the_section_and_the_numbers() {
    let base = company("");
    let with = |line: String| {
        let mut l = base.clone();
        l.push(line);
        l
    };
    let text = check_refused(
        &with(ev(
            "rate_changed",
            "2025-12-20",
            r#""employee":"E1","rate":"0.12""#,
        )),
        6,
        "§6",
        &[],
    );
    assert_eq!(
        text,
        "§6: rate 0.12 exceeds the plan maximum 0.10 (employee E1)"
    );
    check_refused(
        &with(ev(
            "rate_changed",
            "2025-12-20",
            r#""employee":"E1","rate":"0.055""#,
        )),
        6,
        "§6",
        &["0.055", "multiple", "0.01"],
    );
    check_refused(
        &with(ev(
            "rate_changed",
            "2025-12-20",
            r#""employee":"E1","rate":"0""#,
        )),
        6,
        "§6",
        &["rate 0"],
    );
    check_refused(
        &with(pay("2026-01-15", "E9", "100.00")),
        6,
        "§6",
        &["E9", "never hired"],
    );
    check_refused(
        &with(ev(
            "enrolled",
            "2025-12-20",
            r#""employee":"E1","rate":"0.05""#,
        )),
        6,
        "§5",
        &["already enrolled", "0.10"],
    );
    check_refused(
        &with(hire("2025-12-20", "E1", "2025-12-20", "40")),
        6,
        "§4",
        &["already employed", "2024-01-01"],
    );
    check_refused(
        &with(ev("plan_adopted", "2025-12-20", r#""rules":{}"#)),
        6,
        "§24",
        &["already adopted on 2025-01-02"],
    );
    check_refused(
        &[ev(
            "plan_adopted",
            "2025-01-02",
            r#""rules":{"price_factor":"0.80"}"#,
        )],
        1,
        "§8",
        &["0.80", "0.85"],
    );
    check_refused(
        &with(ev(
            "period_scheduled",
            "2025-12-20",
            r#""period":"X","start":"2026-06-01","end":"2026-09-30""#,
        )),
        6,
        "§7",
        &["overlaps", "2026H1"],
    );
    check_refused(
        &with(ev(
            "period_scheduled",
            "2025-12-20",
            r#""period":"X","start":"2026-07-01","end":"2028-10-01""#,
        )),
        6,
        "§7",
        &["27 months"],
    );
    check_refused(
        &with(ev(
            "period_scheduled",
            "2025-12-20",
            r#""period":"X","start":"2026-07-01","end":"2026-12-31","price_factor":"0.84""#,
        )),
        6,
        "§8",
        &["0.84", "0.85"],
    );
    check_refused(
        &with(ev(
            "deduction_reversed",
            "2026-01-20",
            r#""employee":"E1","amount":"5.00""#,
        )),
        6,
        "§6",
        &["5.00", "0.00"],
    );
}

#[test]
fn deduction_reversed_lowers_balance_and_contributed() {
    // A 500.00 deduction, 200.00 of it reversed: balance and contributed 300.00.
    let mut lines = company("");
    lines.extend([
        pay("2026-01-15", "E1", "5000.00"),
        ev(
            "deduction_reversed",
            "2026-01-20",
            r#""employee":"E1","amount":"200.00""#,
        ),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/balance", json!("300.00")),
            ("/employees/E1/contributed", json!("300.00")),
        ],
    );
}

#[test]
fn deduction_is_rounded_half_up() {
    // 0.10 × 1234.45 = 123.445, half up 123.45.
    let mut lines = company("");
    lines.push(pay("2026-01-15", "E1", "1234.45"));
    check(&lines, &[("/employees/E1/balance", json!("123.45"))]);
}

#[test]
fn an_override_skips_what_it_forbids() {
    // --rules max_rate 0.05: E1's enrolment at 10% (seq 5) is skipped, listed, not refused.
    let lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    let patch = RulesPatch {
        max_rate: Some(espp_events::Fraction::parse("0.05").unwrap()),
        ..RulesPatch::default()
    };
    let mut s = State::new(Some(patch));
    fold_records(&mut s, &records(&lines)).unwrap();
    let p = check_state(
        &s,
        None,
        &[
            ("/skipped/0/seq", json!(5)),
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/balance", json!("0.00")),
        ],
    );
    let reason = p.pointer("/skipped/0/reason").unwrap().as_str().unwrap();
    assert!(reason.contains("exceeds the plan maximum 0.05"), "{reason}");
}

#[test]
fn statements_and_digest() {
    // §12: one statement for 2026H1: deductions 1000.00, 117 shares at 8.5000, 117 held.
    let lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    let s = fold(&lines).unwrap();
    let st = s.statement("E1", None).unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["deductions"], json!("1000.00"));
    assert_eq!(st[0]["shares_bought"], json!("117"));
    assert_eq!(st[0]["price"], json!("8.5000"));
    assert_eq!(st[0]["shares_held_end"], json!("117"));
    assert!(s.statement("E9", None).is_err());
    assert!(s.statement("E1", Some("nope")).is_err());
    // The digest is the SHA-256 of the canonical JSON without it, and stable.
    let p = s.projection(None);
    assert_eq!(p["digest"], json!(espp_projections::digest_of(&p)));
    // The canonical JSON is serde_json's compact, key-sorted text: any tool can check it.
    let mut without = p.clone();
    without.as_object_mut().unwrap().remove("digest");
    assert_eq!(
        espp_projections::canonical_json(&without),
        without.to_string()
    );
    assert_eq!(fold(&lines).unwrap().projection(None), p);
}

#[test]
fn becoming_ineligible_mid_period_ends_participation() {
    // §4(c), §19(b): after the 2026H1 purchase (117 shares, 5.50 carried), 2026H2 deducts
    // 500.00 (balance 505.50); on 2026-08-01 E1's hours drop to 15: the 505.50 is refunded,
    // the 117 whole shares are certificated, the enrolment ends. contributed 1500.00 = cost
    // 994.50 + refunded 505.50 + balance 0.
    let mut lines = h1_cycle("", r#""closes":["10"]"#, r#""closes":["20"]"#);
    lines.extend([
        ev(
            "period_scheduled",
            "2026-07-01",
            r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31""#,
        ),
        pay("2026-07-15", "E1", "5000.00"),
        ev(
            "employee_changed",
            "2026-08-01",
            r#""employee":"E1","weekly_hours":"15""#,
        ),
        pay("2026-08-15", "E1", "5000.00"),
    ]);
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/refunded", json!("505.50")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/contributed", json!("1500.00")),
            ("/employees/E1/shares_held", json!("0")),
            ("/employees/E1/shares_certificated", json!("117")),
            ("/lots/0/held", json!("0")),
            ("/lots/0/certificated", json!("117")),
        ],
    );
}
