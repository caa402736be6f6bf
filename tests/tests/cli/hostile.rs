//! Hostile input (issue 12): formulas in CSV output, terminal escapes in messages and
//! tables, invisible characters in actors, numbers past the stated maximum, oversized lines
//! and rules files. Each refusal leaves the ledger byte-identical.

use crate::util::{chain_vector, Dir};

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_quoted() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    // An actor that is a formula: allowed as a name, harmless once quoted.
    let f = dir.file(
        "one.jsonl",
        r#"{"type":"employee_hired","date":"2026-01-05","employee":"-E9","weekly_hours":"40","months_per_year":"12"}"#,
    );
    dir.espp(&[
        "--actor",
        "=HYPERLINK(\"http://x\")",
        "append",
        f.to_str().unwrap_or_default(),
    ])
    .expect_code(0);
    let r = dir.espp(&["log", "--format", "csv"]);
    r.expect_code(0);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains(r#""'=HYPERLINK(""http://x"")""#),
        "the actor cell is not quoted as text: {last}"
    );
    // The state's CSV: an employee id starting with `-` gets the same `'`.
    let r = dir.espp(&["state", "--format", "csv"]);
    r.expect_code(0);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("'-E9,")),
        "{}",
        r.stdout
    );
}

#[test]
fn terminal_escapes_in_input_are_shown_escaped() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let r = dir.append(
        "{\"type\":\"payroll\",\"date\":\"2026-01-16\",\"employee\":\"E1\",\"gross_pay\":\"1.00\",\"\\u001b]0;PWNED\\u0007\":\"1\"}",
    );
    r.expect_code(1);
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stderr.contains('\u{7}'),
        "{:?}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\\u{001b}]0;PWNED\\u{0007}"),
        "{}",
        r.stderr
    );
    assert_eq!(dir.export(), before);
}

#[test]
fn invisible_characters_in_an_actor_are_refused() {
    let dir = Dir::new();
    let f = dir.file("c.jsonl", chain_vector());
    for actor in ["ad\u{202E}nimda", "alice\u{200B}"] {
        dir.espp(&["--actor", actor, "append", f.to_str().unwrap_or_default()])
            .expect_code(2)
            .stderr_has("--actor")
            .stderr_has("U+");
    }
    assert!(!dir.db().exists(), "nothing was created");
}

#[test]
fn numbers_past_the_maximum_and_oversized_input_are_refused() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    // rust_decimal's largest integer: once accepted, and sums lost cents.
    dir.append(
        r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"79228162514264337593543950335"}"#,
    )
    .expect_code(1)
    .stderr_has("line 1: field `gross_pay`");
    dir.append(
        r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1000000000000000.01"}"#,
    )
    .expect_code(1)
    .stderr_has("exceeds 1000000000000000");
    // A 1 MB line of closes: refused unread, and the message does not echo it.
    let closes = vec!["\"10.00\""; 120_000].join(",");
    let r = dir.append(format!(
        r#"{{"type":"market_price","date":"2026-01-16","closes":[{closes}]}}"#
    ));
    r.expect_code(1)
        .stderr_has("line 1: longer than 65536 bytes");
    assert!(r.stderr.len() < 1000, "{} bytes of stderr", r.stderr.len());
    // A bad value is echoed cut.
    let r = dir.append(format!(
        r#"{{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"{}"}}"#,
        "9".repeat(30_000)
    ));
    r.expect_code(1).stderr_has("(30000 bytes)");
    assert!(r.stderr.len() < 1000, "{} bytes of stderr", r.stderr.len());
    assert_eq!(dir.export(), before);
    // A rules file that never ends.
    dir.espp(&["state", "--rules", "/dev/zero"])
        .expect_code(1)
        .stderr_has("longer than 65536 bytes");
}
