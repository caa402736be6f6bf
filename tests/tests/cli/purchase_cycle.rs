//! The purchase cycle through the command line: CSV imports, a purchase, statements,
//! acceptance refusals naming the plan section, and the demo ledger.

use crate::util::{json_lines, Dir};

const SETUP: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-01-31"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
"#;

#[test]
fn payroll_and_price_imports_buy_shares_to_the_cent() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\nE1,2026-01-16,1000.00\nE1,2026-01-30,1234.56\n",
    );
    let prices = dir.file(
        "prices.csv",
        "date,close,bid,ask\n2026-01-02,10.00,,\n2026-01-30,,11.00,11.50\n",
    );
    dir.espp(&["import", "payroll", pay.to_str().unwrap_or_default()])
        .expect_code(0);
    dir.espp(&["import", "prices", prices.to_str().unwrap_or_default()])
        .expect_code(0);

    // 10% of 1000.00 = 100.00; 10% of 1234.56 = 123.456, half up 123.46: balance 223.46.
    assert_eq!(dir.json(&["state"])["employees"]["E1"]["balance"], "223.46");

    // Importing the same files again appends nothing and says so.
    let before = dir.export();
    let again = dir.espp(&["import", "payroll", pay.to_str().unwrap_or_default()]);
    again.expect_code(0);
    assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
    dir.espp(&["import", "prices", prices.to_str().unwrap_or_default()])
        .expect_code(0);
    assert_eq!(dir.export(), before);

    // FMV first = 10.00 (close), last = mean(11.00, 11.50) = 11.25; price = 0.85 × 10.00 =
    // 8.50. 223.46 / 8.50 = 26.29: 26 shares cost 221.00, 2.46 carried forward.
    dir.append(r#"{"type":"purchase","date":"2026-01-30","period":"P1"}"#)
        .expect_code(0);
    let s = dir.json(&["state"]);
    assert_eq!(s["employees"]["E1"]["shares_held"], "26");
    assert_eq!(s["employees"]["E1"]["balance"], "2.46");
    assert_eq!(s["purchases"][0]["price"], "8.5000");
    assert_eq!(s["purchases"][0]["fmv_purchase"], "11.25");
    assert_eq!(s["purchases"][0]["allocations"][0]["cost"], "221.00");
    assert_eq!(s["purchases"][0]["allocations"][0]["carried"], "2.46");

    let st = dir.espp(&["statement", "E1", "--format", "json"]);
    st.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&st.stdout).expect("JSON");
    assert_eq!(rows[0]["period"], "P1");
    assert_eq!(rows[0]["deductions"], "223.46");
    assert_eq!(rows[0]["shares_bought"], "26");
    assert_eq!(rows[0]["shares_held_end"], "26");
    dir.espp(&["statement", "NOBODY"])
        .expect_code(2)
        .stderr_has("unknown employee");
}

#[test]
fn a_bad_csv_line_is_refused_with_its_line_and_field() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let before = dir.export();
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\nE1,2026-01-16,1000.00\nE1,2026-01-30,-5\n",
    );
    dir.espp(&["import", "payroll", pay.to_str().unwrap_or_default()])
        .expect_code(1)
        .stderr_has("line 3")
        .stderr_has("`gross_pay`");
    let cols = dir.file("cols.csv", "employee,day,gross_pay\nE1,2026-01-16,1.00\n");
    dir.espp(&["import", "payroll", cols.to_str().unwrap_or_default()])
        .expect_code(1)
        .stderr_has("line 1");
    assert_eq!(dir.export(), before, "nothing half-written");
}

#[test]
fn an_event_the_plan_forbids_is_refused_naming_the_section() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let before = dir.export();
    let bad = r#"{"type":"employee_hired","date":"2025-12-03","employee":"E2","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-03","employee":"E2","rate":"0.12"}
"#;
    dir.append(bad)
        .expect_code(1)
        .stderr_has("line 2")
        .stderr_has("§6")
        .stderr_has("0.12");
    assert_eq!(dir.export(), before, "the whole batch is refused");
}

#[test]
fn the_demo_builds_a_ledger_that_verifies_and_buys_at_the_plan_price() {
    let dir = Dir::new();
    let first = dir.espp(&["demo"]);
    first.expect_code(0);
    assert!(
        first.stdout.contains("hash chain verified"),
        "{}",
        first.stdout
    );
    dir.espp(&["verify"]).expect_code(0);
    let s = dir.json(&["state"]);
    let purchases = s["purchases"].as_array().expect("purchases");
    assert_eq!(purchases.len(), 4, "four periods, four purchases");
    for p in purchases {
        // §8: price = round_up(0.85 × min(FMV first, FMV last), 4 places).
        let f = |k: &str| {
            p[k].as_str()
                .unwrap_or_default()
                .parse::<rust_decimal::Decimal>()
                .expect("decimal")
        };
        let low = f("fmv_grant").min(f("fmv_purchase"));
        let want = (low * rust_decimal::Decimal::new(85, 2))
            .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::AwayFromZero);
        assert_eq!(f("price"), want, "{p}");
    }
    // E017 works 20 hours a week: never eligible (§4(c)), never buys.
    assert_eq!(s["employees"]["E017"]["shares_held"], "0");
    // E010 was hired 2025-11-17: under 3 months' service on 2026-01-01, it sits 2026H1 out.
    let lots = s["lots"].as_array().expect("lots");
    assert!(!lots
        .iter()
        .any(|l| l["employee"] == "E010" && l["period"] == "2026H1"));
    assert!(lots
        .iter()
        .any(|l| l["employee"] == "E010" && l["period"] == "2026H2"));
    // Running it again appends nothing.
    let before = dir.export();
    let again = dir.espp(&["demo"]);
    again.expect_code(0);
    assert!(again.stdout.contains(" 0 stored"), "{}", again.stdout);
    assert_eq!(dir.export(), before);
    assert!(!json_lines(&before).is_empty());
}
