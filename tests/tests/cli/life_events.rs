//! Life events and the plan's own life through the command line (issue 5): statuses and
//! election deadlines in `espp state`, defaults applied by an as-of fold, a refused election
//! with exit 1 naming the section, and the plan's termination with its reason.

use crate::util::Dir;

/// Plan adopted and approved, 2026H1 (2026-01-01 to 2026-06-30), E1 to E4 hired long ago,
/// enrolled at 10%; FMV 10.00 on the first trading day; 5000.00 paid on 01-15 (500.00 each).
const SETUP: &str = r#"{"type":"plan_adopted","date":"2025-01-02","rules":{}}
{"type":"stockholders_approved","date":"2025-02-03"}
{"type":"period_scheduled","date":"2025-12-01","period":"2026H1","start":"2026-01-01","end":"2026-06-30"}
{"type":"employee_hired","date":"2025-03-01","employee":"E1","hire_date":"2024-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-03-01","employee":"E2","hire_date":"2024-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-03-01","employee":"E3","hire_date":"2024-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-03-01","employee":"E4","hire_date":"2024-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-10","employee":"E1","rate":"0.10"}
{"type":"enrolled","date":"2025-12-10","employee":"E2","rate":"0.10"}
{"type":"enrolled","date":"2025-12-10","employee":"E3","rate":"0.10"}
{"type":"enrolled","date":"2025-12-10","employee":"E4","rate":"0.10"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"5000.00"}
{"type":"payroll","date":"2026-01-15","employee":"E2","gross_pay":"5000.00"}
{"type":"payroll","date":"2026-01-15","employee":"E3","gross_pay":"5000.00"}
{"type":"payroll","date":"2026-01-15","employee":"E4","gross_pay":"5000.00"}
"#;

/// E1 reduces, E2 retires (window through 03-12), E3 goes on leave, E4 dies (window
/// through 05-10).
const LIFE: &str = r#"{"type":"deductions_stopped","date":"2026-03-02","employee":"E1","option":"reduce"}
{"type":"employment_ended","date":"2026-03-02","employee":"E2","reason":"retired"}
{"type":"leave_started","date":"2026-03-02","employee":"E3","kind":"disability","reemployment_guaranteed":true}
{"type":"died","date":"2026-02-10","employee":"E4"}
"#;

fn state(dir: &Dir, as_of: Option<&str>) -> serde_json::Value {
    let mut args = vec!["state", "--format", "json"];
    if let Some(d) = as_of {
        args.extend(["--as-of", d]);
    }
    let r = dir.espp(&args);
    r.expect_code(0);
    serde_json::from_str(&r.stdout).expect("state is JSON")
}

#[test]
fn statuses_deadlines_and_defaults_show_in_state() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    dir.append(LIFE).expect_code(0);
    let s = state(&dir, Some("2026-03-12"));
    let e = &s["employees"];
    assert_eq!(e["E1"]["status"], "reduced");
    assert_eq!(e["E2"]["status"], "awaiting_election");
    assert_eq!(e["E2"]["election_deadline"], "2026-03-12");
    // On leave with an option: `on_leave`, with the §17 election due by the period's last day.
    assert_eq!(e["E3"]["status"], "on_leave");
    assert_eq!(e["E3"]["election_deadline"], "2026-06-30");
    assert_eq!(e["E4"]["status"], "deceased");
    assert_eq!(e["E4"]["election_deadline"], "2026-05-10");
    // The day after E2's window: the default (withdraw) refunds 500.00; E2's employment
    // ended, so `left` (it comes before `withdrawn` in INTERCHANGE.md's list).
    let s = state(&dir, Some("2026-03-13"));
    assert_eq!(s["employees"]["E2"]["status"], "left");
    assert_eq!(s["employees"]["E2"]["refunded"], "500.00");
    // The day after E4's window: refunded to the estate.
    let s = state(&dir, Some("2026-05-11"));
    assert_eq!(s["employees"]["E4"]["refunded_to_estate"], "500.00");
    // The table shows the statuses too.
    let t = dir.espp(&["state", "--as-of", "2026-03-12"]);
    t.expect_code(0);
    assert!(t.stdout.contains("awaiting_election"), "{}", t.stdout);
}

#[test]
fn a_late_election_is_refused_with_its_section() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    dir.append(LIFE).expect_code(0);
    dir.append(r#"{"type":"election","date":"2026-03-13","employee":"E2","choice":"reduce"}"#)
        .expect_code(1)
        .stderr_has("§16");
    dir.append(r#"{"type":"election","date":"2026-03-12","employee":"E2","choice":"reduce"}"#)
        .expect_code(0);
    assert_eq!(state(&dir, None)["employees"]["E2"]["status"], "reduced");
}

#[test]
fn board_termination_shows_the_reason() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    dir.append(r#"{"type":"plan_terminated","date":"2026-02-01","reason":"board"}"#)
        .expect_code(0);
    let s = state(&dir, None);
    assert_eq!(s["plan"]["status"], "terminated");
    assert_eq!(s["plan"]["reason"], "board");
    assert_eq!(s["employees"]["E1"]["refunded"], "500.00");
    dir.append(r#"{"type":"enrolled","date":"2026-02-02","employee":"E1","rate":"0.05"}"#)
        .expect_code(1)
        .stderr_has("§24");
}
