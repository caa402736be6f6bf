//! `--format` is honoured or refused (exit 2, naming what the command takes); with
//! `--format json` errors are JSON on stderr; a reader that goes away ends `espp` quietly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{chain_vector, espp_bin, Dir};

#[test]
fn each_command_refuses_the_formats_it_does_not_write() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let rules = dir.file("r.json", r#"{"price_factor":"0.90"}"#);
    let rules = rules.to_str().expect("UTF-8");
    for (args, message) in [
        (
            vec!["diff", "--rules", rules, "--format", "csv"],
            "diff does not write csv: it takes --format table|json",
        ),
        (
            vec!["verify", "--format", "csv"],
            "verify does not write csv",
        ),
        (
            vec!["export", "--format", "csv"],
            "export does not write csv: it takes only --format json",
        ),
        (
            vec!["export", "--format", "table"],
            "export does not write table",
        ),
        (vec!["demo", "--format", "json"], "demo does not write json"),
        (
            vec!["state", "--format", "markdown"],
            "state does not write markdown",
        ),
        (
            vec!["append", "x.jsonl", "--format", "csv"],
            "append does not write csv",
        ),
    ] {
        let run = dir.espp(&args);
        run.expect_code(2).stderr_has(message);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
    }
    // What each takes, it honours.
    dir.espp(&["export", "--format", "json"]).expect_code(0);
    dir.espp(&["verify", "--format", "json"]).expect_code(0);
    let d = dir.espp(&["diff", "--rules", rules, "--format", "json"]);
    d.expect_code(0);
    serde_json::from_str::<serde_json::Value>(&d.stdout).expect("diff JSON");
    dir.espp(&["log", "--format", "csv"])
        .expect_code(0)
        .stdout_has("seq,date,type");
    dir.espp(&["state", "--format", "csv"])
        .expect_code(0)
        .stdout_has("employee,status");
}

fn json_errors(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn with_format_json_errors_are_json() {
    let dir = Dir::new();
    let missing = dir.espp(&["state", "--format", "json"]);
    missing.expect_code(5);
    let e = &json_errors(&missing.stderr)[0];
    assert!(e["error"].as_str().expect("error").contains("no ledger at"));
    assert_eq!(e["exit"], 5);
    assert!(e["line"].is_null() && e["field"].is_null() && e["rule"].is_null());

    let f = dir.file(
        "bad.jsonl",
        "{\"type\":\"payroll\",\"date\":\"2026-01-15\",\"employee\":\"E1\",\"gross_pay\":4000}\n\
         {\"type\":\"payrol\",\"date\":\"2026-01-15\"}\n",
    );
    let run = dir.espp(&["append", f.to_str().expect("UTF-8"), "--format", "json"]);
    run.expect_code(1);
    let errors = json_errors(&run.stderr);
    assert_eq!(errors[0]["line"], 1);
    assert_eq!(errors[0]["field"], "gross_pay");
    assert!(errors[0]["rule"]
        .as_str()
        .expect("rule")
        .contains("JSON number"));
    assert_eq!(errors[0]["exit"], 1);
    assert_eq!(errors[1]["line"], 2);
    assert_eq!(errors[1]["field"], "type");

    let usage = dir.espp(&["frobnicate", "--format", "json"]);
    usage.expect_code(2);
    assert_eq!(json_errors(&usage.stderr)[0]["exit"], 2);
    let refused = dir.espp(&["demo", "--format", "json"]);
    refused.expect_code(2);
    assert!(json_errors(&refused.stderr)[0]["error"]
        .as_str()
        .expect("error")
        .contains("demo does not write json"));
}

/// `espp log --format csv | head -1`: the reader closes the pipe after one line; `espp` ends
/// quietly with exit 0, not "Broken pipe" and exit 5. Likewise for the table and JSON.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = Dir::new();
    // Enough records that the output outgrows the pipe's buffer: espp is still writing when
    // the reader goes away.
    let mut text = String::from(
        "{\"type\":\"plan_adopted\",\"date\":\"2020-01-02\",\"rules\":{}}\n\
         {\"type\":\"employee_hired\",\"date\":\"2020-01-02\",\"employee\":\"E1\",\"weekly_hours\":\"40\",\"months_per_year\":\"12\"}\n",
    );
    for i in 0..2000 {
        let day = chrono_day(i);
        text.push_str(&format!(
            "{{\"type\":\"payroll\",\"date\":\"{day}\",\"employee\":\"E1\",\"gross_pay\":\"{}.00\"}}\n",
            1000 + i
        ));
    }
    dir.append(text).expect_code(0);
    for format in ["csv", "table", "json"] {
        let mut child = Command::new(espp_bin())
            .arg("--db")
            .arg(dir.db())
            .args(["log", "--format", format])
            .env("ESPP_ACTOR", "cli-test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("espp starts");
        let mut first = String::new();
        {
            let stdout = child.stdout.take().expect("a stdout pipe");
            BufReader::new(stdout)
                .read_line(&mut first)
                .expect("one line");
            // Dropped here: the pipe's read end closes, as `head -1` does.
        }
        let out = child.wait_with_output().expect("espp ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: stderr {stderr}");
        assert!(stderr.is_empty(), "{format}: stderr {stderr}");
        assert!(!first.is_empty());
    }
}

/// The `i`th day after 2020-01-03, as `YYYY-MM-DD` (no calendar crate needed).
fn chrono_day(i: u32) -> String {
    let mut days = i;
    let (mut y, mut m, mut d) = (2020u32, 1u32, 3u32);
    let len = |y: u32, m: u32| match m {
        2 if y.is_multiple_of(4) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    while days > 0 {
        d += 1;
        if d > len(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
        days -= 1;
    }
    format!("{y:04}-{m:02}-{d:02}")
}
