//! What people file and keep (issue 14): §12 statements that reconcile in every format and
//! as self-contained HTML pages (parsed with a real HTML parser), Form 3922 with labelled
//! boxes, the transferor and the payees, the projection's provenance (`periods`, `rules`,
//! `known_at`, `head`) and the events another set of rules skips, named by `diff`. Every
//! number is worked by hand in the comments.
#![allow(clippy::unwrap_used)] // a test that finds no value should panic on the spot

use scraper::{Html, Selector};
use serde_json::Value;

use crate::util::Dir;

/// Two periods of SAVVIS (price factor 0.85, whole shares, cash under one share carried).
///
/// P1 (2026-01-01 to 2026-06-30): FMV 10.00 on its first trading day (2026-01-02), 11.00
/// on 2026-03-02, 12.00 on its last (2026-06-30). Price 0.85 × min(10, 12) = 8.5000.
/// - E1: 10% of 8000.00 = 800.00; floor(800.00 / 8.50) = 94 shares, cost 94 × 8.50 =
///   799.00, carried 800.00 − 799.00 = 1.00.
/// - E2: 10% of 5000.00 = 500.00; floor(500.00 / 8.50) = 58, cost 493.00, carried 7.00.
///
/// P2 (2026-07-01 to 2026-12-31): FMV 12.00 on 2026-07-01, 9.00 on 2026-12-31. Price
/// 0.85 × min(12, 9) = 7.6500.
/// - E1: opening 1.00 + 10% of 4000.00 = 401.00; floor(401.00 / 7.65) = 52 (52 × 7.65 =
///   397.80; 53 × 7.65 = 405.45 is too much), carried 401.00 − 397.80 = 3.20.
/// - E2: opening 7.00, nothing deducted: 7.00 < 7.65 buys nothing, carried 7.00.
///
/// E3 is hired and never enrolls: no account in either period.
const COMPANY: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"Acme <b>&</b> \"Co\""}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-06-30"}
{"type":"period_scheduled","date":"2025-12-01","period":"P2","start":"2026-07-01","end":"2026-12-31"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-12-01","employee":"E2","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"employee_hired","date":"2025-12-01","employee":"E3","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
{"type":"enrolled","date":"2025-12-02","employee":"E2","rate":"0.10"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"8000.00"}
{"type":"payroll","date":"2026-01-15","employee":"E2","gross_pay":"5000.00"}
{"type":"market_price","date":"2026-03-02","closes":["11.00"]}
{"type":"market_price","date":"2026-06-30","closes":["12.00"]}
{"type":"purchase","date":"2026-06-30","period":"P1"}
{"type":"market_price","date":"2026-07-01","closes":["12.00"]}
{"type":"payroll","date":"2026-07-15","employee":"E1","gross_pay":"4000.00"}
{"type":"market_price","date":"2026-12-31","closes":["9.00"]}
{"type":"purchase","date":"2026-12-31","period":"P2"}
"#;

fn company() -> Dir {
    let dir = Dir::new();
    dir.append_future(COMPANY).expect_code(0);
    dir
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// The statement's table and CSV carry opening balance, cost and carried, in the order
/// that reconciles; every row adds up.
#[test]
fn statement_rows_reconcile_in_json_csv_and_table() {
    let dir = company();
    let p2 = dir.json(&["statement", "E1", "--period", "P2"]);
    let s = &p2[0];
    // 1.00 + 400.00 + 0.00 − 397.80 − 0.00 = 3.20
    assert_eq!(s["opening_balance"], "1.00");
    assert_eq!(s["deductions"], "400.00");
    assert_eq!(s["cost"], "397.80");
    assert_eq!(s["carried"], "3.20");
    assert_eq!(s["shares_bought"], "52");
    assert_eq!(s["price"], "7.6500");

    let csv = dir.espp(&["statement", "--all", "--period", "P2", "--format", "csv"]);
    csv.expect_code(0);
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "employee,period,start,end,opening_balance,deductions,cash_payments,cost,refunds,\
             carried,shares_bought,price,shares_held_end,purchased"
        )
    );
    // E1 above; E2: 7.00 + 0 + 0 − 0 − 0 = 7.00, nothing bought at P2's price 7.6500,
    // still the 58 of P1.
    assert_eq!(
        lines.next(),
        Some("E1,P2,2026-07-01,2026-12-31,1.00,400.00,0.00,397.80,0.00,3.20,52,7.6500,146,true")
    );
    assert_eq!(
        lines.next(),
        Some("E2,P2,2026-07-01,2026-12-31,7.00,0.00,0.00,0.00,0.00,7.00,0,7.6500,58,false")
    );
    assert_eq!(lines.next(), None, "E3 never enrolled: no statement");

    // P1 for E1: 0.00 + 800.00 + 0.00 − 799.00 − 0.00 = 1.00, as the table shows.
    let table = dir.espp(&["statement", "E1", "--period", "P1"]);
    table.expect_code(0);
    let header = table.stdout.lines().next().unwrap();
    for (a, b) in [
        ("opening_balance", "deductions"),
        ("cash_payments", "cost"),
        ("refunds", "carried"),
    ] {
        assert!(header.find(a) < header.find(b), "{header}");
    }
    let row: Vec<&str> = table
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[4..10],
        ["0.00", "800.00", "0.00", "799.00", "0.00", "1.00"]
    );
}

/// `statement --all --period P2 --format html --out DIR`: one page per employee with an
/// account in P2 and an index; each page holds the statement JSON's numbers, an SVG chart of
/// P2's prices with its marks, no script and nothing external; the plan's name is escaped.
#[test]
fn html_statements_hold_the_json_numbers_and_nothing_external() {
    let dir = company();
    let out = dir.path().join("statements");
    let out_s = out.to_string_lossy().into_owned();
    dir.espp(&[
        "statement",
        "--all",
        "--period",
        "P2",
        "--format",
        "html",
        "--out",
        &out_s,
    ])
    .expect_code(0)
    .stdout_has("wrote 2 statement page(s)");
    // html needs --out, and --out needs html.
    dir.espp(&["statement", "--all", "--period", "P2", "--format", "html"])
        .expect_code(2);
    dir.espp(&["statement", "E1", "--out", &out_s])
        .expect_code(2);
    // Only `statement` writes html.
    dir.espp(&["state", "--format", "html"]).expect_code(2);

    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["index.html", "statement-E1.html", "statement-E2.html"]
    );

    let index = Html::parse_document(&std::fs::read_to_string(out.join("index.html")).unwrap());
    let links: Vec<&str> = index
        .select(&sel("a[href]"))
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(links, ["statement-E1.html", "statement-E2.html"]);

    for employee in ["E1", "E2"] {
        let text = std::fs::read_to_string(out.join(format!("statement-{employee}.html"))).unwrap();
        let page = Html::parse_document(&text);
        // Self-contained: no script, nothing fetched, no link anywhere.
        assert_eq!(page.select(&sel("script")).count(), 0);
        assert_eq!(page.select(&sel("[src]")).count(), 0);
        assert_eq!(page.select(&sel("[href]")).count(), 0);
        assert_eq!(page.select(&sel("link")).count(), 0);
        // The plan's name `Acme <b>&</b> "Co"` is text, not markup.
        assert_eq!(page.select(&sel("b")).count(), 0);
        let h1: String = page.select(&sel("h1")).next().unwrap().text().collect();
        assert_eq!(h1, r#"Acme <b>&</b> "Co""#);

        let want = dir.json(&["statement", employee, "--period", "P2"]);
        let want = &want[0];
        for key in [
            "opening_balance",
            "deductions",
            "cash_payments",
            "cost",
            "refunds",
            "carried",
            "shares_bought",
            "shares_held_end",
        ] {
            let cell: String = page
                .select(&sel(&format!("td[data-key={key}]")))
                .next()
                .unwrap_or_else(|| panic!("{employee}: no {key}"))
                .text()
                .collect();
            assert_eq!(Value::String(cell), want[key], "{employee} {key}");
        }
        // The chart: P2's two trading days, the grant FMV 12, the purchase FMV 9 and the
        // price 7.6500 marked.
        assert_eq!(page.select(&sel("svg polyline")).count(), 1);
        assert_eq!(page.select(&sel("svg circle")).count(), 2);
        let marks: Vec<String> = page
            .select(&sel("svg text.mark"))
            .map(|t| t.text().collect())
            .collect();
        assert_eq!(marks, ["grant FMV 12", "purchase FMV 9", "price 7.6500"]);
    }
    let e1 = Html::parse_document(&std::fs::read_to_string(out.join("statement-E1.html")).unwrap());
    let price: String = e1
        .select(&sel("td[data-key=price]"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(price, "7.6500");
    // The reconciliation sentence: 1.00 + 400.00 + 0.00 − 397.80 − 0.00 = 3.20.
    let check: String = e1.select(&sel("p.check")).next().unwrap().text().collect();
    assert!(check.ends_with("= 3.20 = carried 3.20"), "{check}");
}

/// Form 3922 for 2026, boxes labelled, with the transferor and the payees; JSON keeps
/// `box1` … `box8`. The rows, by purchase date then employee:
/// - E1, P1: granted 2026-01-02 at FMV 10, bought 2026-06-30 at FMV 12 for 8.5000, 94
///   shares; box 8 = round_up(0.85 × 10, 4) = 8.5000.
/// - E2, P1: the same boxes, 58 shares.
/// - E1, P2: granted 2026-07-01 at FMV 12, bought 2026-12-31 at FMV 9 for 7.6500, 52
///   shares; box 8 = round_up(0.85 × 12, 4) = 10.2000 (the grant-day price, above box 5).
#[test]
fn form_3922_with_labelled_boxes_transferor_and_payees() {
    let dir = company();
    let rows = dir.json(&["form3922", "--year", "2026"]);
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(3),
        "E2 bought nothing in P2"
    );
    assert_eq!(rows[2]["employee"], "E1");
    assert_eq!(rows[2]["period"], "P2");
    assert_eq!(rows[2]["box5"], "7.6500");
    assert_eq!(rows[2]["box8"], "10.2000");

    let payees = dir.file(
        "payees.csv",
        "employee,name,tin,address\n\
         E1,Ada Lovelace,123-45-6789,\"1 Main St, Springfield, IL 62701\"\n\
         E2,=HYPERLINK(1),987654321,2 Elm St\n",
    );
    let payees = payees.to_string_lossy().into_owned();
    let args = [
        "form3922",
        "--year",
        "2026",
        "--issuer",
        "Acme, Inc.,123456789",
        "--payees",
        &payees,
    ];
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = dir.espp(&csv_args);
    csv.expect_code(0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "employee,period,transferor name,transferor EIN,employee name,employee TIN,\
             employee address,1 grant date,2 purchase date,3 FMV per share at grant,\
             4 FMV per share at purchase,5 price paid per share,6 shares,\
             7 date title transferred,8 price per share as if bought at grant",
            "E1,P1,\"Acme, Inc.\",12-3456789,Ada Lovelace,123-45-6789,\
             \"1 Main St, Springfield, IL 62701\",2026-01-02,2026-06-30,10,12,8.5000,94,\
             2026-06-30,8.5000",
            // A name a spreadsheet would run is quoted with a leading ' (OWASP).
            "E2,P1,\"Acme, Inc.\",12-3456789,'=HYPERLINK(1),987654321,2 Elm St,2026-01-02,\
             2026-06-30,10,12,8.5000,58,2026-06-30,8.5000",
            "E1,P2,\"Acme, Inc.\",12-3456789,Ada Lovelace,123-45-6789,\
             \"1 Main St, Springfield, IL 62701\",2026-07-01,2026-12-31,12,9,7.6500,52,\
             2026-12-31,10.2000",
        ]
    );
    // JSON keeps the boxes' keys and adds the transferor's and the payee's.
    let rows = dir.json(&args);
    assert_eq!(rows[0]["box6"], "94");
    assert_eq!(rows[0]["transferor_ein"], "12-3456789");
    assert_eq!(rows[0]["payee_tin"], "123-45-6789");
    assert_eq!(rows[1]["payee_name"], "=HYPERLINK(1)");
    // The table labels its boxes too.
    dir.espp(&["form3922", "--year", "2026"])
        .expect_code(0)
        .stdout_has("1 grant date")
        .stdout_has("8 price per share as if bought at grant");

    // Refusals (exit 1) name the line; an employee without a row names the employee.
    let refused = |contents: &str, says: &[&str]| {
        let f = dir.file("bad.csv", contents);
        let r = dir.espp(&[
            "form3922",
            "--year",
            "2026",
            "--payees",
            &f.to_string_lossy(),
        ]);
        r.expect_code(1);
        for s in says {
            r.stderr_has(s);
        }
    };
    refused(
        "employee,name,tin,address\nE1,Ada,123-45-6789,1 Main St\n",
        &["no line for employee E2"],
    );
    refused(
        "employee,name,tin,address\nE1,Ada,12345,1 Main St\nE2,Bob,987654321\n",
        &["line 2: field `tin`", "line 3: 4 columns"],
    );
    refused(
        "employee,name,tin,address\nE1,Ada,123-45-6789,1 Main St\nE1,Ada,123-45-6789,x\nE2,Bob,987654321,y\n",
        &["line 3: field `employee`: E1 has a row already, on line 2"],
    );
    refused("emp,name,tin\n", &["line 1: the header must be"]);
    // A malformed EIN is a usage error (exit 2).
    dir.espp(&["form3922", "--year", "2026", "--issuer", "Acme,12-345678"])
        .expect_code(2)
        .stderr_has("EIN");
}

/// The SHA-256 of the canonical JSON without `digest` (serde_json's map is sorted; its
/// compact form has no whitespace).
fn recomputed_digest(v: &Value) -> String {
    use sha2::Digest;
    let mut m = v.as_object().unwrap().clone();
    m.remove("digest");
    hex::encode(sha2::Sha256::digest(
        Value::Object(m).to_string().as_bytes(),
    ))
}

/// `state --format json` names its periods, the rules in force, `known_at` and the log's
/// head; the digest covers them all, and an export replayed elsewhere says the same.
#[test]
fn state_names_its_periods_rules_and_the_head_it_was_folded_from() {
    let dir = company();
    let export = crate::util::json_lines(&dir.export());
    assert_eq!(export.len(), 19, "one record per line of COMPANY");
    let s = dir.json(&["state"]);
    assert_eq!(s["head"]["seq"], 19);
    assert_eq!(s["head"]["hash"], export[18]["hash"]);
    assert_eq!(s["known_at"], Value::Null);
    assert_eq!(s["digest"], recomputed_digest(&s));
    let periods = s["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0]["id"], "P1");
    assert_eq!(periods[0]["start"], "2026-01-01");
    assert_eq!(periods[0]["end"], "2026-06-30");
    assert_eq!(periods[0]["status"], "purchased");
    assert_eq!(periods[0]["purchase_date"], "2026-06-30");
    assert_eq!(periods[1]["status"], "purchased");
    assert_eq!(s["rules"]["name"], r#"Acme <b>&</b> "Co""#);
    assert_eq!(s["rules"]["price_factor"], "0.85");
    assert_eq!(s["rules"]["price_decimals"], 4);
    assert_eq!(s["rules"]["residual"], "carry_forward");

    // On 2026-03-01 P1 is open and P2 still scheduled; the head is the same log's.
    let march = dir.json(&["state", "--as-of", "2026-03-01"]);
    assert_eq!(march["periods"][0]["status"], "open");
    assert_eq!(march["periods"][1]["status"], "scheduled");
    assert_eq!(march["periods"][0]["purchase_date"], Value::Null);
    assert_eq!(march["head"], s["head"]);

    // Through seq 5 the head is record 5; known at an instant before anything was
    // recorded, there is no head at all.
    let five = dir.json(&["state", "--through-seq", "5"]);
    assert_eq!(five["head"]["seq"], 5);
    assert_eq!(five["head"]["hash"], export[4]["hash"]);
    assert_eq!(five["digest"], recomputed_digest(&five));
    let before = dir.json(&["state", "--known-at", "2000-01-01T00:00:00Z"]);
    assert_eq!(before["head"], Value::Null);
    assert!(before["known_at"]
        .as_str()
        .is_some_and(|t| t.starts_with("2000-01-01T00:00:00")));
    assert_ne!(before["digest"], s["digest"]);

    // An auditor's replay of the export: the same head, so the same digest.
    let path = dir.file("audit.jsonl", dir.export());
    let other = Dir::new();
    let replayed = other.json(&["replay", "--from-export", &path.to_string_lossy()]);
    assert_eq!(replayed["head"], s["head"]);
    assert_eq!(replayed["digest"], s["digest"]);
}

/// Under `{"max_rate":"0.05"}` both enrolments at 10% are forbidden: `diff` names them
/// (seqs 8 and 9) with the reason, and then nobody buys anything (E1's 94 + 52 = 146
/// shares go to 0).
#[test]
fn diff_lists_the_events_the_other_rules_skip() {
    let dir = company();
    let f = dir.file("r.json", r#"{"max_rate":"0.05"}"#);
    let f = f.to_string_lossy().into_owned();
    let d = dir.json(&["diff", "--rules", &f]);
    let skipped = d["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{d}");
    for (s, (seq, employee)) in skipped.iter().zip([(8, "E1"), (9, "E2")]) {
        assert_eq!(s["seq"], seq);
        assert_eq!(s["employee"], employee);
        assert_eq!(s["type"], "enrolled");
        assert_eq!(s["date"], "2025-12-02");
        assert!(
            s["reason"].as_str().is_some_and(|r| r.contains("0.05")),
            "{s}"
        );
    }
    assert_eq!(d["employees"]["E1"]["shares_held"]["base"], "146");
    assert_eq!(d["employees"]["E1"]["shares_held"]["other"], "0");
    dir.espp(&["diff", "--rules", &f])
        .expect_code(0)
        .stdout_has("skipped under the other rules")
        .stdout_has("enrolled");
}

/// A period whose end passes with no purchase (the stockholders have not approved the plan,
/// §24) is `closed`; the next one is `open` on its first day.
#[test]
fn a_period_that_ends_without_a_purchase_is_closed() {
    let dir = Dir::new();
    dir.append_future(
        r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-06-30"}
{"type":"period_scheduled","date":"2025-12-01","period":"P2","start":"2026-07-01","end":"2026-12-31"}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
{"type":"market_price","date":"2026-07-01","closes":["11.00"]}
"#,
    )
    .expect_code(0);
    let s = dir.json(&["state", "--as-of", "2026-07-01"]);
    assert_eq!(s["periods"][0]["status"], "closed");
    assert_eq!(s["periods"][0]["purchase_date"], Value::Null);
    assert_eq!(s["periods"][1]["status"], "open");
    assert_eq!(s["head"]["seq"], 5);
}
