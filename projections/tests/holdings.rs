//! Shares after the purchase (§10, §11, §25, §27; DOMAIN.md §7–§9): capital changes, a change
//! in control, dividends, certificates, sales and their tax figures, Form 3922. Every number
//! is worked out by hand in a comment.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    buy, check, check_refused, check_state, close, ev, fold_records, pay, records_recorded, with,
};
use espp_projections::State;
use serde_json::{json, Value};

/// A hire on `date`, in service since 2024-01-01, full time.
fn hire(date: &str, id: &str) -> String {
    common::hire(date, id, "2024-01-01", "40")
}

fn enroll(id: &str, rate: &str) -> String {
    ev(
        "enrolled",
        "2025-12-10",
        &format!(r#""employee":"{id}","rate":"{rate}""#),
    )
}

fn sell(date: &str, id: &str, shares: &str, price: &str) -> String {
    ev(
        "shares_sold",
        date,
        &format!(r#""employee":"{id}","shares":"{shares}","price":"{price}""#),
    )
}

fn certificate(date: &str, id: &str, shares: &str) -> String {
    ev(
        "certificate_requested",
        date,
        &format!(r#""employee":"{id}","shares":"{shares}""#),
    )
}

fn capital(date: &str, kind: &str, ratio: &str) -> String {
    ev(
        "capital_change",
        date,
        &format!(r#""kind":"{kind}","ratio":"{ratio}""#),
    )
}

/// The plan (adopted 2025-01-02, approved 2025-02-03), period 2026H1 (2026-01-01 to
/// 2026-06-30), E1 hired long ago and enrolled at 10%.
fn company() -> Vec<String> {
    vec![
        ev("plan_adopted", "2025-01-02", r#""rules":{}"#),
        ev("stockholders_approved", "2025-02-03", ""),
        ev(
            "period_scheduled",
            "2025-12-01",
            r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30""#,
        ),
        hire("2025-03-01", "E1"),
        enroll("E1", "0.10"),
    ]
}

/// The 2026H1 cycle: FMV 10 on 2026-01-02 (the grant), two paydays of 5000.00 at 10%
/// (balance 1000.00), FMV 20 on 2026-06-30 and the purchase: price 0.85 × 10 = 8.5000,
/// floor(1000 / 8.5) = 117 shares, cost 994.50, 5.50 carried.
fn h1() -> Vec<String> {
    let mut l = company();
    l.extend([
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        close("2026-06-30", "20"),
        buy("2026-06-30", "2026H1"),
    ]);
    l
}

#[test]
fn sales_are_classified_day_exact_with_their_ordinary_income() {
    // The lot: grant 2026-01-02 at FMV 10, bought 2026-06-30 at FMV 20 for 8.50.
    // - 2027-01-05, 10 at 30: within two years of the grant: disqualifying, the spread at
    //   purchase (20 − 8.50) = 11.50 a share, 115.00.
    // - 2028-01-02, the grant's second anniversary itself: still disqualifying, 115.00.
    // - 2028-01-03: more than two years after the grant and more than one after the
    //   purchase: qualifying, the lesser of the gain (30 − 8.50 = 21.50) and the discount at
    //   grant (10 × (1 − 0.85) = 1.50): 1.50 a share, 15.00.
    // - 2028-02-01, 10 at 8: qualifying, the gain 8 − 8.50 is below 0: 0.00.
    // Ordinary income 115 + 115 + 15 + 0 = 245.00; 117 − 40 = 77 shares left with the Agent.
    let lines = with(
        h1(),
        &[
            sell("2027-01-05", "E1", "10", "30"),
            sell("2028-01-02", "E1", "10", "30.00"),
            sell("2028-01-03", "E1", "10", "30"),
            sell("2028-02-01", "E1", "10", "8"),
        ],
    );
    let p = check(
        &lines,
        &[
            ("/dispositions/0/classification", json!("disqualifying")),
            ("/dispositions/0/ordinary_income", json!("115.00")),
            ("/dispositions/0/sale_price", json!("30")),
            ("/dispositions/1/date", json!("2028-01-02")),
            ("/dispositions/1/classification", json!("disqualifying")),
            ("/dispositions/1/ordinary_income", json!("115.00")),
            ("/dispositions/2/classification", json!("qualifying")),
            ("/dispositions/2/ordinary_income", json!("15.00")),
            ("/dispositions/3/classification", json!("qualifying")),
            ("/dispositions/3/ordinary_income", json!("0.00")),
            ("/employees/E1/ordinary_income", json!("245.00")),
            ("/employees/E1/shares_held", json!("77")),
            ("/employees/E1/balance", json!("5.50")),
            ("/lots/0/held", json!("77")),
            ("/lots/0/sold", json!("40")),
            ("/lots/0/shares", json!("117")),
        ],
    );
    assert_eq!(p["dispositions"].as_array().unwrap().len(), 4);
    // The CLI's per-year lists.
    let s = common::fold(&lines).unwrap();
    let y2027 = s.dispositions(2027);
    assert_eq!(y2027.len(), 1);
    assert_eq!(
        y2027[0],
        json!({"employee": "E1", "date": "2027-01-05", "period": "2026H1",
               "grant_date": "2026-01-02", "purchase_date": "2026-06-30", "shares": "10",
               "sale_price": "30", "classification": "disqualifying",
               "ordinary_income": "115.00", "late": false, "estate": false, "seq": 11})
    );
    assert_eq!(s.dispositions(2028).len(), 3);
    assert!(s.dispositions(2026).is_empty());
}

#[test]
fn one_year_after_the_purchase_is_needed_too() {
    // A 15-month period 2026-01-01 to 2027-03-31: grant 2026-01-02 (FMV 10), purchase
    // 2027-03-31 (FMV 20), 117 shares at 8.50 as in h1 (the two paydays give 1000.00). A sale
    // on 2028-01-05 is more than two years after the grant but not more than one after the
    // purchase (2028-03-31): disqualifying, 10 × 11.50 = 115.00. On 2028-04-01: qualifying,
    // 10 × 1.50 = 15.00.
    let mut lines = company();
    lines[2] = ev(
        "period_scheduled",
        "2025-12-01",
        r#""period":"2026H1","start":"2026-01-01","end":"2027-03-31""#,
    );
    lines.extend([
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        close("2027-03-31", "20"),
        buy("2027-03-31", "2026H1"),
        sell("2028-01-05", "E1", "10", "30"),
        sell("2028-04-01", "E1", "10", "30"),
    ]);
    check(
        &lines,
        &[
            ("/lots/0/shares", json!("117")),
            ("/dispositions/0/classification", json!("disqualifying")),
            ("/dispositions/0/ordinary_income", json!("115.00")),
            ("/dispositions/1/classification", json!("qualifying")),
            ("/dispositions/1/ordinary_income", json!("15.00")),
        ],
    );
}

#[test]
fn a_sale_within_two_years_noticed_after_30_days_is_flagged_late() {
    // §11: the period began 2026-01-01, so sales before 2028-01-01 need notice within 30
    // days. Sold 2027-01-05, recorded 2027-02-05 (> 2027-01-05 + 30 = 2027-02-04): late.
    // Sold 2027-01-06, recorded 2027-02-05 23:59 UTC (= 2027-01-06 + 30): on time. Sold
    // 2028-01-01 (two years after the start), recorded months later: no notice is due.
    let lines = with(
        h1(),
        &[
            sell("2027-01-05", "E1", "1", "30"),
            sell("2027-01-06", "E1", "1", "30"),
            sell("2028-01-01", "E1", "1", "30"),
        ],
    );
    let recs = records_recorded(
        &lines,
        &[
            (10, "2027-02-05T00:00:00Z"),
            (11, "2027-02-05T23:59:59Z"),
            (12, "2028-06-01T00:00:00Z"),
        ],
    );
    let mut s = State::new(None);
    fold_records(&mut s, &recs).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/dispositions/0/late", json!(true)),
            ("/dispositions/1/late", json!(false)),
            ("/dispositions/2/late", json!(false)),
            // 2028-01-01 is not after the grant's second anniversary (2028-01-02).
            ("/dispositions/2/classification", json!("disqualifying")),
        ],
    );
}

#[test]
fn the_estate_never_disqualifies() {
    // §18, Code §421(c): E1 dies 2026-08-01 (no period open: the 5.50 carried is refunded to
    // the estate). The estate sells all 117 on 2026-09-01, well within two years, at 30:
    // qualifying, 117 × min(30 − 8.50, 10 × 0.15) = 117 × 1.50 = 175.50. Recorded
    // 2026-11-01 (> 2026-10-01): late.
    let lines = with(
        h1(),
        &[
            ev("died", "2026-08-01", r#""employee":"E1""#),
            sell("2026-09-01", "E1", "117", "30"),
        ],
    );
    check(
        &lines,
        &[
            ("/employees/E1/status", json!("deceased")),
            ("/employees/E1/refunded_to_estate", json!("5.50")),
            ("/dispositions/0/estate", json!(true)),
            ("/dispositions/0/classification", json!("qualifying")),
            ("/dispositions/0/ordinary_income", json!("175.50")),
            ("/dispositions/0/late", json!(true)),
            ("/employees/E1/ordinary_income", json!("175.50")),
            ("/employees/E1/shares_held", json!("0")),
            ("/lots/0/sold", json!("117")),
        ],
    );
}

#[test]
fn a_sale_of_more_than_the_agent_holds_is_refused_whole() {
    // 117 held: 118 is refused and nothing is sold.
    let lines = with(h1(), &[sell("2027-01-05", "E1", "118", "30")]);
    check_refused(&lines, 11, "§11", &["118", "holds only 117"]);
}

#[test]
fn a_split_inside_an_open_period_compares_like_with_like() {
    // §25: FMV 10 on 2026-01-02 (the grant); a 2-for-1 split on 2026-03-02 makes it 5; FMV
    // 6 on the last day (after the split). Price 0.85 × min(5, 6) = 4.2500 (unadjusted it
    // would be 0.85 × 6 = 5.10). floor(1000 / 4.25) = 235 (235 × 4.25 = 998.75), 1.25
    // carried. The reserve 6,000,000 becomes 12,000,000: 11,999,765 left.
    let mut lines = company();
    lines.extend([
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        capital("2026-03-02", "split", "2"),
        close("2026-06-30", "6"),
        buy("2026-06-30", "2026H1"),
    ]);
    let p = check(
        &lines,
        &[
            ("/purchases/0/fmv_grant", json!("5")),
            ("/purchases/0/fmv_purchase", json!("6")),
            ("/purchases/0/price", json!("4.2500")),
            ("/purchases/0/allocations/0/shares", json!("235")),
            ("/purchases/0/allocations/0/carried", json!("1.25")),
            ("/plan/share_reserve", json!("12000000")),
            ("/plan/shares_left", json!("11999765")),
            ("/capital_changes/0/kind", json!("split")),
            ("/capital_changes/0/ratio", json!("2")),
            ("/lots/0/price", json!("4.2500")),
        ],
    );
    assert_eq!(p["capital_changes"].as_array().unwrap().len(), 1);
}

#[test]
fn a_price_on_the_day_of_a_capital_change_is_taken_as_after_it() {
    // The 2-for-1 split is dated 2026-01-02, recorded after that day's price of 5: the price
    // is not halved. FMV first 5, last 6: price 4.2500, 235 shares as above (halving it
    // would give 0.85 × 2.5 = 2.1250).
    let mut lines = company();
    lines.extend([
        close("2026-01-02", "5"),
        capital("2026-01-02", "stock_dividend", "2"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        close("2026-06-30", "6"),
        buy("2026-06-30", "2026H1"),
    ]);
    check(
        &lines,
        &[
            ("/purchases/0/fmv_grant", json!("5")),
            ("/purchases/0/price", json!("4.2500")),
            ("/purchases/0/allocations/0/shares", json!("235")),
        ],
    );
}

#[test]
fn a_split_adjusts_lots_limits_and_the_reserve_but_not_form_3922() {
    // After h1 (117 at 8.50; FMV 10 and 20), 2026H2 is scheduled with a share limit of 50
    // and opens 2026-07-01 at FMV 12; E1 pays 1000.00 in (balance 1005.50). A 2-for-1 split
    // on 2026-08-03: the lot is 234 shares at 4.25 (FMV 5 and 10, aggregate cost 234 × 4.25
    // = 117 × 8.50 = 994.50), the reserve 12,000,000 with 234 bought, the H2 limit 100 and
    // its grant FMV 6. At 7 on 2026-12-31: price 0.85 × 6 = 5.1000; the balance buys
    // floor(1005.50 / 5.10) = 197, capped at the limit 100 (cost 510.00, 495.50 refunded as
    // a cap bound). Form 3922 for 2026 keeps the H1 lot as purchased: 117 at 8.5000.
    let mut lines = company();
    lines.extend([
        ev("shares_outstanding", "2025-03-01", r#""shares":"1000000""#),
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        ev(
            "period_scheduled",
            "2026-06-01",
            r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31","share_limit":"50""#,
        ),
        close("2026-06-30", "20"),
        buy("2026-06-30", "2026H1"),
        close("2026-07-01", "12"),
        pay("2026-07-15", "E1", "5000.00"),
        pay("2026-07-31", "E1", "5000.00"),
        capital("2026-08-03", "split", "2"),
    ]);
    let s = common::fold(&lines).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/lots/0/shares", json!("234")),
            ("/lots/0/held", json!("234")),
            ("/lots/0/price", json!("4.25")),
            ("/lots/0/fmv_grant", json!("5")),
            ("/lots/0/fmv_purchase", json!("10")),
            ("/employees/E1/shares_held", json!("234")),
            ("/employees/E1/balance", json!("1005.50")),
            ("/plan/share_reserve", json!("12000000")),
            ("/plan/shares_bought", json!("234")),
            ("/plan/shares_left", json!("11999766")),
            // The purchase as it executed.
            ("/purchases/0/price", json!("8.5000")),
            ("/purchases/0/shares", json!("117")),
        ],
    );
    lines.extend([close("2026-12-31", "7"), buy("2026-12-31", "2026H2")]);
    let s = common::fold(&lines).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/purchases/1/fmv_grant", json!("6")),
            ("/purchases/1/price", json!("5.1000")),
            ("/purchases/1/allocations/0/shares", json!("100")),
            ("/purchases/1/allocations/0/cost", json!("510.00")),
            ("/purchases/1/allocations/0/refunded", json!("495.50")),
            ("/employees/E1/shares_held", json!("334")),
            ("/plan/shares_bought", json!("334")),
        ],
    );
    assert_eq!(
        s.form3922(2026),
        vec![
            json!({"employee": "E1", "period": "2026H1", "box1": "2026-01-02",
                   "box2": "2026-06-30", "box3": "10", "box4": "20", "box5": "8.5000",
                   "box6": "117", "box7": "2026-06-30", "box8": "8.5000"}),
            json!({"employee": "E1", "period": "2026H2", "box1": "2026-07-01",
                   "box2": "2026-12-31", "box3": "6", "box4": "7", "box5": "5.1000",
                   "box6": "100", "box7": "2026-12-31", "box8": "5.1000"}),
        ]
    );
}

#[test]
fn a_reverse_split_leaves_fractional_holdings() {
    // 1-for-10 after h1: 117 shares become 11.7 at 85 (FMV 100 and 200); the reserve
    // 600,000 with 11.7 bought, 599,988.3 left. Selling all 11.7 on 2027-01-05 at 300
    // (disqualifying): (200 − 85) × 11.7 = 1345.50, as 117 × 11.50 before the change.
    let lines = with(
        h1(),
        &[
            capital("2026-08-03", "reverse_split", "1:10"),
            sell("2027-01-05", "E1", "11.7", "300"),
        ],
    );
    check(
        &lines,
        &[
            ("/lots/0/shares", json!("11.7")),
            ("/lots/0/price", json!("85")),
            ("/lots/0/fmv_grant", json!("100")),
            ("/lots/0/fmv_purchase", json!("200")),
            ("/plan/share_reserve", json!("600000")),
            ("/plan/shares_bought", json!("11.7")),
            ("/plan/shares_left", json!("599988.3")),
            ("/capital_changes/0/ratio", json!("1:10")),
            ("/dispositions/0/shares", json!("11.7")),
            ("/dispositions/0/ordinary_income", json!("1345.50")),
            ("/employees/E1/shares_held", json!("0")),
            ("/lots/0/sold", json!("11.7")),
        ],
    );
    // The same as a decimal ratio.
    let decimal = with(h1(), &[capital("2026-08-03", "reverse_split", "0.1")]);
    check(
        &decimal,
        &[
            ("/lots/0/shares", json!("11.7")),
            ("/lots/0/price", json!("85")),
            ("/capital_changes/0/ratio", json!("0.1")),
        ],
    );
}

#[test]
fn share_counts_round_down_and_per_share_values_half_up() {
    // 1-for-7 after h1: 117 / 7 = 16.714285… → 16.7142 (down to share_decimals 4); the
    // price 8.5 × 7 = 59.5; the reserve 6,000,000 / 7 = 857142.857142… → 857142.8571, less
    // 16.7142 bought: 857126.1429 left. Then 3-for-1 (decimal "3"): FMV at grant 70 / 3 =
    // 23.333… → 23.3333333333 (10 places, half up), the price 59.5 / 3 = 19.8333333333,
    // shares 50.1426.
    let lines = with(
        h1(),
        &[
            capital("2026-08-03", "reverse_split", "1:7"),
            capital("2026-09-01", "reorganization", "3"),
        ],
    );
    let s = common::fold(&lines[..lines.len() - 1]).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/lots/0/shares", json!("16.7142")),
            ("/lots/0/price", json!("59.5")),
            ("/plan/share_reserve", json!("857142.8571")),
            ("/plan/shares_left", json!("857126.1429")),
        ],
    );
    check(
        &lines,
        &[
            ("/lots/0/shares", json!("50.1426")),
            ("/lots/0/fmv_grant", json!("23.3333333333")),
            ("/lots/0/price", json!("19.8333333333")),
            ("/employees/E1/shares_held", json!("50.1426")),
        ],
    );
}

#[test]
fn a_change_in_control_buys_on_the_last_trading_day_before_it_then_ends_the_plan() {
    // §25(c): termination on 2026-03-04; the period is deemed ended on 2026-03-03, the last
    // trading day before it (FMV 14; the 2026-03-04 price of 1 is not used). Price 0.85 ×
    // min(10, 14) = 8.5000: 117 shares, cost 994.50; the option ends with the purchase, so
    // the 5.50 left is refunded, not carried. The plan ends as at the end of its term: the
    // shares stay with the Agent.
    let lines = with(
        h1()[..8].to_vec(),
        &[
            close("2026-03-02", "12"),
            close("2026-03-03", "14"),
            close("2026-03-04", "1"),
            ev(
                "plan_terminated",
                "2026-03-04",
                r#""reason":"change_in_control""#,
            ),
        ],
    );
    let s = common::fold(&lines).unwrap();
    check_state(
        &s,
        None,
        &[
            ("/plan/status", json!("terminated")),
            ("/plan/reason", json!("change_in_control")),
            ("/plan/terminated_on", json!("2026-03-04")),
            ("/purchases/0/period", json!("2026H1")),
            ("/purchases/0/date", json!("2026-03-03")),
            ("/purchases/0/grant_date", json!("2026-01-02")),
            ("/purchases/0/fmv_purchase", json!("14")),
            ("/purchases/0/price", json!("8.5000")),
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/cost", json!("994.50")),
            ("/purchases/0/allocations/0/refunded", json!("5.50")),
            ("/purchases/0/allocations/0/carried", json!("0.00")),
            ("/employees/E1/balance", json!("0.00")),
            ("/employees/E1/refunded", json!("5.50")),
            ("/employees/E1/status", json!("not_enrolled")),
            ("/employees/E1/shares_held", json!("117")),
            ("/employees/E1/shares_certificated", json!("0")),
            ("/lots/0/purchase_date", json!("2026-03-03")),
            ("/lots/0/held", json!("117")),
        ],
    );
    // The books are closed through the deemed purchase.
    assert_eq!(
        s.closed_through().map(|d| d.to_string()).as_deref(),
        Some("2026-03-03")
    );
    assert_eq!(s.form3922(2026)[0]["box2"], json!("2026-03-03"));
    // The period's own purchase is refused afterwards: the plan has ended.
    check_refused(
        &with(
            lines.clone(),
            &[close("2026-06-30", "20"), buy("2026-06-30", "2026H1")],
        ),
        14,
        "§24",
        &["terminated on 2026-03-04", "change_in_control"],
    );
    // An event recorded after the termination but dated before it would change the
    // purchase the termination executed: refused.
    check_refused(
        &with(lines.clone(), &[pay("2026-03-03", "E1", "5000.00")]),
        12,
        "§25",
        &["seq 13", "2026-03-04"],
    );
}

#[test]
fn a_change_in_control_the_successor_assumes_leaves_the_plan_going() {
    // assumed: true: nothing changes; the period's purchase on 2026-06-30 executes as in h1.
    let mut lines = h1()[..8].to_vec();
    lines.push(ev(
        "plan_terminated",
        "2026-03-04",
        r#""reason":"change_in_control","assumed":true"#,
    ));
    check(
        &lines,
        &[
            ("/plan/status", json!("active")),
            ("/purchases", json!([])),
            ("/employees/E1/status", json!("participating")),
            ("/employees/E1/balance", json!("1000.00")),
        ],
    );
    lines.extend([close("2026-06-30", "20"), buy("2026-06-30", "2026H1")]);
    check(
        &lines,
        &[
            ("/plan/status", json!("active")),
            ("/purchases/0/allocations/0/shares", json!("117")),
            ("/purchases/0/allocations/0/carried", json!("5.50")),
        ],
    );
}

#[test]
fn a_change_in_control_between_periods_buys_nothing() {
    // After h1's purchase no period is open: the plan ends, 5.50 refunded, the 117 shares
    // stay with the Agent.
    let lines = with(
        h1(),
        &[ev(
            "plan_terminated",
            "2026-08-01",
            r#""reason":"change_in_control""#,
        )],
    );
    check(
        &lines,
        &[
            ("/plan/reason", json!("change_in_control")),
            ("/purchases/1", Value::Null),
            ("/employees/E1/refunded", json!("5.50")),
            ("/employees/E1/shares_held", json!("117")),
        ],
    );
}

#[test]
fn dividends_are_paid_on_agent_held_shares_outside_the_account() {
    // §27: 0.125 a share on 117 held = 14.625, half up 14.63; the purchase account keeps
    // its 5.50. After 100 are certificated (2028-01-03), 0.125 on the 17 still held = 2.125
    // → 2.13 (the certificated shares are paid outside the plan): 16.76 in all. E2 holds
    // nothing: 0.00.
    let lines = with(
        h1(),
        &[
            hire("2026-07-01", "E2"),
            ev("dividend", "2026-08-03", r#""per_share":"0.125""#),
            certificate("2028-01-03", "E1", "100"),
            ev("dividend", "2028-02-01", r#""per_share":"0.125""#),
        ],
    );
    check(
        &lines,
        &[
            ("/employees/E1/dividends_paid", json!("16.76")),
            ("/employees/E1/balance", json!("5.50")),
            ("/employees/E1/contributed", json!("1000.00")),
            ("/employees/E2/dividends_paid", json!("0.00")),
        ],
    );
}

#[test]
fn a_certificate_waits_two_years_from_the_period_start() {
    // §10: the period began 2026-01-01: a certificate may be asked from 2028-01-01.
    let refused = check_refused(
        &with(h1(), &[certificate("2027-12-31", "E1", "100")]),
        11,
        "§10",
        &["2028-01-01", "only 0 of the 117"],
    );
    assert!(refused.contains("first day"), "{refused}");
    check_refused(
        &with(h1(), &[certificate("2028-01-01", "E1", "2.5")]),
        11,
        "§10",
        &["whole shares"],
    );
    check_refused(
        &with(h1(), &[certificate("2028-01-01", "E1", "118")]),
        11,
        "§10",
        &["holds only 117"],
    );
    check(
        &with(h1(), &[certificate("2028-01-01", "E1", "100")]),
        &[
            ("/employees/E1/shares_held", json!("17")),
            ("/employees/E1/shares_certificated", json!("100")),
            ("/lots/0/held", json!("17")),
            ("/lots/0/certificated", json!("100")),
        ],
    );
}

/// h1 plus E2 at 5%, and 2026H2 (price factor 0.90) with FMV 12 on 2026-07-01 and 11 on
/// 2026-12-31.
///
/// H1: E1 117 at 8.50 (5.50 carried); E2 pays 2 × 250.00 = 500.00: floor(500 / 8.5) = 58
/// (493.00), 7.00 carried. H2: price 0.90 × min(12, 11) = 9.9000; E1 5.50 + 1000.00 =
/// 1005.50 buys floor(1005.50 / 9.90) = 101 (999.90); E2 7.00 + 500.00 = 507.00 buys 51
/// (504.90).
fn two_purchases() -> Vec<String> {
    let mut l = company();
    l.extend([
        hire("2025-03-01", "E2"),
        enroll("E2", "0.05"),
        ev(
            "period_scheduled",
            "2025-12-02",
            r#""period":"2026H2","start":"2026-07-01","end":"2026-12-31","price_factor":"0.90""#,
        ),
        close("2026-01-02", "10"),
        pay("2026-01-15", "E1", "5000.00"),
        pay("2026-01-15", "E2", "5000.00"),
        pay("2026-01-31", "E1", "5000.00"),
        pay("2026-01-31", "E2", "5000.00"),
        close("2026-06-30", "20"),
        buy("2026-06-30", "2026H1"),
        close("2026-07-01", "12"),
        pay("2026-07-15", "E1", "5000.00"),
        pay("2026-07-15", "E2", "5000.00"),
        pay("2026-07-31", "E1", "5000.00"),
        pay("2026-07-31", "E2", "5000.00"),
        close("2026-12-31", "11"),
        buy("2026-12-31", "2026H2"),
    ]);
    l
}

#[test]
fn form_3922_has_a_row_per_lot_bought_in_the_year() {
    // Ordered by purchase date, then employee. Box 8 is the price as if bought at grant:
    // H1 0.85 × 10 = 8.5000; H2, with the period's factor, 0.90 × 12 = 10.8000.
    let s = common::fold(&two_purchases()).unwrap();
    let h1_row = |e: &str, shares: &str| {
        json!({"employee": e, "period": "2026H1", "box1": "2026-01-02", "box2": "2026-06-30",
               "box3": "10", "box4": "20", "box5": "8.5000", "box6": shares,
               "box7": "2026-06-30", "box8": "8.5000"})
    };
    let h2_row = |e: &str, shares: &str| {
        json!({"employee": e, "period": "2026H2", "box1": "2026-07-01", "box2": "2026-12-31",
               "box3": "12", "box4": "11", "box5": "9.9000", "box6": shares,
               "box7": "2026-12-31", "box8": "10.8000"})
    };
    assert_eq!(
        s.form3922(2026),
        vec![
            h1_row("E1", "117"),
            h1_row("E2", "58"),
            h2_row("E1", "101"),
            h2_row("E2", "51")
        ]
    );
    assert!(s.form3922(2025).is_empty());
    assert!(s.form3922(2027).is_empty());
    let mut columns = espp_projections::FORM3922_COLUMNS.to_vec();
    columns.sort_unstable();
    let rows = s.form3922(2026);
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(columns, keys);
}

#[test]
fn a_sale_takes_the_oldest_lot_first() {
    // E1 sells 150 on 2027-03-01 at 15: 117 from the H1 lot, disqualifying, 117 × (20 −
    // 8.50) = 1345.50; 33 from the H2 lot, disqualifying, 33 × (11 − 9.90) = 36.30. In all
    // 1381.80; 68 left with the Agent, all in the H2 lot.
    let mut lines = two_purchases();
    lines.push(sell("2027-03-01", "E1", "150", "15"));
    check(
        &lines,
        &[
            ("/dispositions/0/period", json!("2026H1")),
            ("/dispositions/0/shares", json!("117")),
            ("/dispositions/0/ordinary_income", json!("1345.50")),
            ("/dispositions/1/period", json!("2026H2")),
            ("/dispositions/1/shares", json!("33")),
            ("/dispositions/1/ordinary_income", json!("36.30")),
            ("/employees/E1/ordinary_income", json!("1381.80")),
            ("/employees/E1/shares_held", json!("68")),
            ("/lots/0/held", json!("0")),
            ("/lots/2/held", json!("68")),
            ("/lots/2/sold", json!("33")),
        ],
    );
}

#[test]
fn a_certificate_takes_only_lots_two_years_old() {
    // On 2028-01-05 only the H1 lot (period from 2026-01-01) is two years old: 117 of E1's
    // 218. 150 is refused until 2028-07-01, when the H2 lot (from 2026-07-01) is too; 117
    // is granted at once; the rest on 2028-07-01.
    let lines = two_purchases();
    check_refused(
        &with(lines.clone(), &[certificate("2028-01-05", "E1", "150")]),
        u64::try_from(lines.len()).unwrap() + 1,
        "§10",
        &["only 117 of the 218", "2028-07-01"],
    );
    check(
        &with(
            lines,
            &[
                certificate("2028-01-05", "E1", "117"),
                certificate("2028-07-01", "E1", "101"),
            ],
        ),
        &[
            ("/employees/E1/shares_held", json!("0")),
            ("/employees/E1/shares_certificated", json!("218")),
            ("/lots/0/certificated", json!("117")),
            ("/lots/2/certificated", json!("101")),
        ],
    );
}

#[test]
fn a_change_in_control_on_the_period_first_day_buys_nothing() {
    // Regression (found by the property test): a termination on 2026-01-01, the period's
    // first day, has no trading day before it in the period; nor has one on 2026-01-02,
    // the first trading day itself. Nothing is bought; the plan ends.
    for day in ["2026-01-01", "2026-01-02"] {
        let lines = with(
            company(),
            &[
                close("2026-01-02", "10"),
                ev("plan_terminated", day, r#""reason":"change_in_control""#),
            ],
        );
        check(
            &lines,
            &[
                ("/plan/reason", json!("change_in_control")),
                ("/purchases", json!([])),
                ("/lots", json!([])),
                ("/employees/E1/status", json!("not_enrolled")),
            ],
        );
    }
}
