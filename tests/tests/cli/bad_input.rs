//! Refused input (INTERCHANGE.md "Values", "Events", exit codes): every malformed line is
//! refused with exit 1 (an id conflict with 3), stderr names the line and the field, and the
//! ledger is exactly what it was — into a seeded ledger and into a new `--db` alike.

use serde_json::{json, Value};

use crate::util::{chain_vector, json_lines, Dir};

/// A valid line to put before a bad one, so that line numbers are checked past line 1.
const OK: &str = r#"{"type":"market_price","date":"2026-02-02","closes":["10.00"]}"#;

/// A payroll line for E1 with `gross_pay` written as given (raw JSON).
fn pay(gross_pay: &str) -> String {
    format!(r#"{{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":{gross_pay}}}"#)
}

fn hired(employee: &str) -> String {
    format!(
        r#"{{"type":"employee_hired","date":"2026-01-05","employee":{employee},"weekly_hours":"40","months_per_year":"12"}}"#
    )
}

/// The chain vector's records as JSON objects.
fn chain() -> Vec<Value> {
    json_lines(chain_vector().as_bytes())
}

/// An export line that would continue the seeded ledger (seq 4 after the vector's seq 3),
/// built from the vector's seq 3 with a fresh id, then altered by `edit`.
fn continuation(edit: impl FnOnce(&mut Value)) -> String {
    let c = chain();
    let mut v = c[2].clone();
    v["id"] = json!("0193f0a4-7c00-7000-8000-0000000000f4");
    v["seq"] = json!(4);
    v["prev_hash"] = c[2]["hash"].clone();
    v["gross_pay"] = json!("100.00");
    edit(&mut v);
    v.to_string()
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    /// Exit code.
    code: i32,
    /// The line stderr must name (`line N`), if the input has one.
    line: Option<usize>,
    /// The field stderr must name in backquotes.
    field: Option<&'static str>,
    /// Something else stderr must say.
    says: Option<&'static str>,
    /// Refused the same way by a new, empty ledger (it does not depend on stored records).
    standalone: bool,
}

fn case(name: &'static str, input: impl Into<Vec<u8>>, line: usize, field: &'static str) -> Case {
    Case {
        name,
        input: input.into(),
        code: 1,
        line: Some(line),
        field: (!field.is_empty()).then_some(field),
        says: None,
        standalone: true,
    }
}

impl Case {
    fn says(mut self, s: &'static str) -> Case {
        self.says = Some(s);
        self
    }
    fn code(mut self, code: i32) -> Case {
        self.code = code;
        self
    }
    fn seeded_only(mut self) -> Case {
        self.standalone = false;
        self
    }
    fn no_line(mut self) -> Case {
        self.line = None;
        self
    }
}

fn lines(ls: &[&str]) -> Vec<u8> {
    let mut s = ls.join("\n");
    s.push('\n');
    s.into_bytes()
}

fn cases() -> Vec<Case> {
    let c = chain();
    let stored_id = c[2]["id"].as_str().expect("an id").to_string();
    let id65 = format!("\"{}\"", "E".repeat(65));
    let conflict_stored = format!(
        r#"{{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.01","id":"{stored_id}"}}"#
    );
    let dup_a = r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1.00","id":"0193f0a4-7c00-7000-8000-0000000000a1"}"#;
    let dup_b = r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"2.00","id":"0193f0a4-7c00-7000-8000-0000000000a1"}"#;
    let mut binary = vec![0xff, 0xfe, 0x00, 0x01, 0x9b, 0xc3, 0x28, 0x80];
    binary.extend_from_slice(b"garbage\x00\x07");
    let mut bad_utf8_in_string = lines(&[OK]);
    bad_utf8_in_string.extend_from_slice(
        b"{\"type\":\"payroll\",\"date\":\"2026-01-30\",\"employee\":\"E\xe9\",\"gross_pay\":\"1.00\"}\n",
    );
    vec![
        case("bad JSON", lines(&[OK, r#"{"type":"payroll","date":"#]), 2, "")
            .says("not valid JSON"),
        case("trailing garbage", lines(&[&format!("{OK} x")]), 1, "").says("not valid JSON"),
        case("two objects on a line", lines(&[&format!("{OK}{OK}")]), 1, ""),
        case("not an object: string", lines(&[OK, OK, r#""payroll""#]), 3, "")
            .says("expected a JSON object"),
        case("not an object: number", lines(&["42"]), 1, "").says("expected a JSON object"),
        case("a JSON array", lines(&[OK, &format!("[{OK}]")]), 2, "")
            .says("expected a JSON object"),
        case(
            "unknown type",
            lines(&[OK, r#"{"type":"payrol","date":"2026-01-15"}"#]),
            2,
            "type",
        )
        .says("payrol"),
        case(
            "missing type",
            lines(&[r#"{"date":"2026-01-15","employee":"E1","gross_pay":"1.00"}"#]),
            1,
            "type",
        ),
        case(
            "missing date",
            lines(&[OK, r#"{"type":"payroll","employee":"E1","gross_pay":"1.00"}"#]),
            2,
            "date",
        ),
        case(
            "missing field",
            lines(&[r#"{"type":"payroll","date":"2026-01-30","employee":"E1"}"#]),
            1,
            "gross_pay",
        ),
        case(
            "extra field",
            lines(&[
                OK,
                r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1.00","bonus":"5.00"}"#,
            ]),
            2,
            "bonus",
        ),
        case("number for money", lines(&[OK, &pay("4000")]), 2, "gross_pay"),
        case("float for money", lines(&[&pay("4000.5")]), 1, "gross_pay"),
        case(
            "number for weekly_hours",
            lines(&[r#"{"type":"employee_hired","date":"2026-01-05","employee":"E9","weekly_hours":40,"months_per_year":"12"}"#]),
            1,
            "weekly_hours",
        ),
        case(
            "impossible day",
            lines(&[r#"{"type":"payroll","date":"2026-02-30","employee":"E1","gross_pay":"1.00"}"#]),
            1,
            "date",
        ),
        case(
            "unpadded day",
            lines(&[OK, r#"{"type":"payroll","date":"2026-1-5","employee":"E1","gross_pay":"1.00"}"#]),
            2,
            "date",
        ),
        case("negative amount", lines(&[&pay(r#""-1.00""#)]), 1, "gross_pay"),
        case("plus sign", lines(&[&pay(r#""+1.00""#)]), 1, "gross_pay"),
        case("exponent", lines(&[&pay(r#""1e3""#)]), 1, "gross_pay"),
        case(
            "30-digit amount",
            lines(&[&pay(r#""123456789012345678901234567890""#)]),
            1,
            "gross_pay",
        ),
        case("money with 3 decimals", lines(&[OK, &pay(r#""4000.001""#)]), 2, "gross_pay"),
        case(
            "rate above 100%",
            lines(&[r#"{"type":"enrolled","date":"2026-01-20","employee":"E1","rate":"1.5"}"#]),
            1,
            "rate",
        ),
        case("employee id with spaces", lines(&[&hired(r#""E 1""#)]), 1, "employee"),
        case("empty employee id", lines(&[OK, &hired(r#""""#)]), 2, "employee"),
        case("65-character employee id", lines(&[&hired(&id65)]), 1, "employee"),
        case(
            "duplicate key",
            lines(&[r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1.00","gross_pay":"2.00"}"#]),
            1,
            "gross_pay",
        )
        .says("duplicate"),
        case("null value", lines(&[OK, &pay("null")]), 2, "gross_pay"),
        case(
            "bool as string",
            lines(&[r#"{"type":"leave_ended","date":"2026-01-30","employee":"E1","returned":"true"}"#]),
            1,
            "returned",
        ),
        case(
            "bad uuid",
            lines(&[r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1.00","id":"not-a-uuid"}"#]),
            1,
            "id",
        ),
        case(
            "uppercase uuid",
            lines(&[r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1.00","id":"0193F0A4-7C00-7000-8000-0000000000A1"}"#]),
            1,
            "id",
        ),
        case("same id, other content, within the file", lines(&[OK, dup_a, dup_b]), 3, "id")
            .code(3)
            .says("line 2"),
        case("same id, other content, as a stored record", lines(&[&conflict_stored]), 1, "")
            .code(3)
            .says("seq 3")
            .seeded_only(),
        case(
            "bid without ask",
            lines(&[r#"{"type":"market_price","date":"2026-02-03","bid":"10.00"}"#]),
            1,
            "ask",
        ),
        case(
            "market_price with nothing",
            lines(&[OK, r#"{"type":"market_price","date":"2026-02-03"}"#]),
            2,
            "closes",
        ),
        case(
            "period ends before it starts",
            lines(&[r#"{"type":"period_scheduled","date":"2026-01-10","period":"P1","start":"2026-07-01","end":"2026-06-30"}"#]),
            1,
            "end",
        ),
        case(
            "unknown rules field",
            lines(&[r#"{"type":"plan_amended","date":"2026-01-20","changes":{"max_rat":"0.10"}}"#]),
            1,
            "changes.max_rat",
        ),
        case(
            "mixed envelope and bare lines",
            lines(&[OK, &continuation(|_| {})]),
            2,
            "",
        )
        .says("mixes"),
        case(
            "export line with an altered value",
            // Seq and prev_hash continue the ledger; the content no longer fits the hash.
            lines(&[&continuation(|_| {})]),
            1,
            "hash",
        )
        .says("seq 4")
        .seeded_only(),
        case(
            "export line that does not continue the seq",
            lines(&[&continuation(|v| v["seq"] = json!(7))]),
            1,
            "seq",
        )
        .seeded_only(),
        case(
            "export line that does not link to the last hash",
            lines(&[&continuation(|v| v["prev_hash"] = json!("0".repeat(64)))]),
            1,
            "prev_hash",
        )
        .seeded_only(),
        case(
            "export line with half an envelope",
            lines(&[&continuation(|v| {
                v.as_object_mut().expect("an object").remove("recorded_at");
            })]),
            1,
            "recorded_at",
        ),
        case("empty file", "", 0, "").no_line().says("empty"),
        case("whitespace-only file", " \n\t\n\r\n  ", 0, "").no_line().says("empty"),
        case("binary file", binary, 1, "").says("UTF-8"),
        case("invalid UTF-8 inside a string", bad_utf8_in_string, 2, "").says("UTF-8"),
        case(
            "CRLF file with a bad third line",
            format!("{OK}\r\n\r\n{}\r\n", pay("1")).into_bytes(),
            3,
            "gross_pay",
        ),
    ]
}

/// The refusal of `case` as seen in `run`'s exit code and stderr.
#[track_caller]
fn check_refusal(case: &Case, run: &crate::util::Run, code: i32) {
    let what = format!(
        "case {:?}: exit {}, stderr: {}",
        case.name, run.code, run.stderr
    );
    assert_eq!(run.code, code, "{what}");
    if let Some(line) = case.line {
        assert!(
            run.stderr.contains(&format!("line {line}")),
            "names no line {line}: {what}"
        );
    }
    if let Some(field) = case.field {
        assert!(
            run.stderr.contains(&format!("`{field}`")),
            "names no field `{field}`: {what}"
        );
    }
    if let Some(s) = case.says {
        assert!(run.stderr.contains(s), "does not say {s:?}: {what}");
    }
    assert!(
        run.stdout.is_empty(),
        "a refusal printed to stdout: {}",
        run.stdout
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    assert_eq!(json_lines(&before).len(), 3);
    let cases = cases();
    assert!(cases.len() >= 30);
    for (i, case) in cases.iter().enumerate() {
        let run = dir.append(&case.input);
        check_refusal(case, &run, case.code);
        assert_eq!(
            dir.export(),
            before,
            "case {:?} changed the ledger",
            case.name
        );

        if case.standalone {
            // A refused first append into a new --db leaves no ledger behind, or an empty one.
            let new_db = dir.path().join(format!("new-{i}"));
            let run = dir.append_at(&new_db, &case.input);
            check_refusal(case, &run, case.code);
            let export = dir.espp_at(&new_db, &["export"]);
            assert!(
                export.code == 5 || (export.code == 0 && export.stdout.is_empty()),
                "case {:?}: a refused first append left {:?} (exit {})",
                case.name,
                export.stdout,
                export.code
            );
        }
    }
    assert_eq!(dir.export(), before);
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn a_refused_line_refuses_the_whole_file() {
    // All or none: the good lines before and after a bad one are not stored either.
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let input = lines(&[OK, OK, &pay("4000"), OK]);
    dir.append(input).expect_code(1).stderr_has("line 3");
    assert_eq!(dir.export(), before);
}

#[test]
fn a_parse_refusal_does_not_create_the_ledger() {
    let dir = Dir::new();
    dir.append(lines(&[&pay("4000")])).expect_code(1);
    assert!(
        !dir.db().exists(),
        "a refused append created {}",
        dir.db().display()
    );
    dir.espp(&["export"]).expect_code(5);
}

#[test]
fn a_valid_crlf_file_is_accepted() {
    // Positive control for the table: CRLF line ends, a blank line and a trailing one.
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let input = format!("{OK}\r\n\r\n{}\r\n", pay(r#""1234.50""#));
    let run = dir.append(input);
    run.expect_code(0);
    assert!(run.stdout.contains("seq 4-5"), "{}", run.stdout);
    let records = json_lines(&dir.export());
    assert_eq!(records.len(), 5);
    assert_eq!(records[3]["closes"], json!(["10.00"]));
    assert_eq!(records[4]["gross_pay"], json!("1234.50"));
    dir.espp(&["verify"]).expect_code(0);
}
