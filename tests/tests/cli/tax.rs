//! Shares after purchase through the command line (issue 6): Form 3922 rows, certificates
//! refused before two years and granted after, and dispositions classified with their
//! ordinary income — numbers worked by hand.

use crate::util::Dir;

const LEDGER: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-06-30"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"8500.00"}
{"type":"market_price","date":"2026-06-30","closes":["20.00"]}
{"type":"purchase","date":"2026-06-30","period":"P1"}
"#;

#[test]
fn form_3922_certificates_and_dispositions() {
    let dir = Dir::new();
    dir.append_future(LEDGER).expect_code(0);
    // FMV at grant (first trading day 2026-01-02) 10.00, at purchase 20.00; price 0.85 × 10
    // = 8.50; 10% of 8500.00 = 850.00 buys exactly 100 shares.
    let rows = dir.json(&["form3922", "--year", "2026"]);
    let row = &rows[0];
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(row["employee"], "E1");
    assert_eq!(row["box1"], "2026-01-02");
    assert_eq!(row["box2"], "2026-06-30");
    assert_eq!(row["box3"], "10");
    assert_eq!(row["box4"], "20");
    assert_eq!(row["box5"], "8.5000");
    assert_eq!(row["box6"], "100");
    assert_eq!(row["box7"], "2026-06-30");
    assert_eq!(row["box8"], "8.5000");
    assert_eq!(
        dir.json(&["form3922", "--year", "2027"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let csv = dir.espp(&["form3922", "--year", "2026", "--format", "csv"]);
    csv.expect_code(0);
    assert!(
        csv.stdout.starts_with(
            "employee,period,1 grant date,2 purchase date,3 FMV per share at grant,\
             4 FMV per share at purchase,5 price paid per share,6 shares,\
             7 date title transferred,8 price per share as if bought at grant\n\
             E1,P1,2026-01-02,"
        ),
        "{}",
        csv.stdout
    );

    // A sale of 10 shares on 2027-01-15 at 30.00: within two years of the grant, so
    // disqualifying: (FMV at purchase 20.00 − price 8.50) × 10 = 115.00 of ordinary income.
    dir.append_future(r#"{"type":"shares_sold","date":"2027-01-15","employee":"E1","shares":"10","price":"30.00"}"#).expect_code(0);
    // §10: certificates only from lots whose period began two years before: 2028-01-01.
    dir.append_future(
        r#"{"type":"certificate_requested","date":"2027-12-31","employee":"E1","shares":"20"}"#,
    )
    .expect_code(1)
    .stderr_has("2028-01-01");
    dir.append_future(
        r#"{"type":"certificate_requested","date":"2028-01-01","employee":"E1","shares":"20"}"#,
    )
    .expect_code(0);
    // 40 more on 2028-07-05 at 30.00: after grant + 24 months and purchase + 12 months, so
    // qualifying: min(30.00 − 8.50, 10.00 × 0.15) = 1.50 a share × 40 = 60.00.
    dir.append_future(r#"{"type":"shares_sold","date":"2028-07-05","employee":"E1","shares":"40","price":"30.00"}"#).expect_code(0);

    let d27 = dir.json(&["dispositions", "--year", "2027"]);
    assert_eq!(d27.as_array().map(Vec::len), Some(1));
    assert_eq!(d27[0]["classification"], "disqualifying");
    assert_eq!(d27[0]["ordinary_income"], "115.00");
    let d28 = dir.json(&["dispositions", "--year", "2028"]);
    assert_eq!(d28[0]["classification"], "qualifying");
    assert_eq!(d28[0]["ordinary_income"], "60.00");
    assert_eq!(d28[0]["shares"], "40");

    // 100 bought − 10 sold − 20 certificated − 40 sold = 30 still with the Agent.
    let state = dir.json(&["state"]);
    let e1 = &state["employees"]["E1"];
    assert_eq!(e1["shares_held"], "30");
    assert_eq!(e1["shares_certificated"], "20");
    assert_eq!(e1["ordinary_income"], "175.00");
    assert_eq!(state["lots"][0]["sold"], "50");

    // Selling more than the Agent holds is refused, nothing partly filled.
    dir.append_future(r#"{"type":"shares_sold","date":"2028-08-01","employee":"E1","shares":"31","price":"30.00"}"#).expect_code(1);
    dir.espp(&["dispositions", "--year", "2028"]).expect_code(0);
}
