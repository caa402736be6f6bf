//! Mistakes stop at the door (INTERCHANGE.md): a year typed wrong, the same file twice, a
//! mistyped `--db`, a bonus run on a regular payday, `--dry-run`, every bad line at once.
//! Each refusal leaves the ledger byte-identical (`export`).

use std::path::Path;
use std::process::Command;

use crate::util::{espp_bin, Dir};

/// A plan with one period (2026-01-01 to 2026-06-30) and E1 enrolled at 10% before it:
/// eligible on the first day (service since 2020, 40 hours, 12 months), so every payday in
/// the period deducts round_half_up(0.10 × gross_pay, 2).
const SETUP: &str = r#"{"type":"plan_adopted","date":"2025-12-01","rules":{"name":"SAVVIS ESPP"}}
{"type":"stockholders_approved","date":"2025-12-01"}
{"type":"period_scheduled","date":"2025-12-01","period":"2026H1","start":"2026-01-01","end":"2026-06-30"}
{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}
{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}
"#;

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn a_year_typed_decades_ahead_never_reaches_the_log() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let before = dir.export();
    // 2062 for 2026: refused, naming the line, the field and both days.
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\nE1,2026-01-16,4000.00\nE1,2062-03-20,4000.00\n",
    );
    let r = dir.espp(&["import", "payroll", path(&pay)]);
    r.expect_code(1)
        .stderr_has("line 3: field `date`: 2062-03-20 is more than 31 days after")
        .stderr_has("--allow-future");
    assert_eq!(dir.export(), before, "nothing of the file was stored");

    // The same in a JSON Lines file.
    let r = dir
        .append(r#"{"type":"payroll","date":"2062-03-20","employee":"E1","gross_pay":"4000.00"}"#);
    r.expect_code(1)
        .stderr_has("line 1: field `date`: 2062-03-20");
    assert_eq!(dir.export(), before);

    // Meant: --allow-future, or ESPP_ALLOW_FUTURE=1.
    dir.espp(&["import", "payroll", "--allow-future", path(&pay)])
        .expect_code(0);
    let late = dir.file(
        "late.jsonl",
        r#"{"type":"employee_changed","date":"2063-01-01","employee":"E1","weekly_hours":"30"}"#,
    );
    let out = Command::new(espp_bin())
        .current_dir(dir.path())
        .env("ESPP_ACTOR", "cli-test")
        .env("ESPP_ALLOW_FUTURE", "1")
        .arg("--db")
        .arg(dir.db())
        .args(["append", path(&late)])
        .output()
        .expect("espp runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_same_file_twice_is_refused_naming_the_stored_batch() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let jul = dir.file(
        "jan.jsonl",
        "{\"type\":\"payroll\",\"date\":\"2026-01-16\",\"employee\":\"E1\",\"gross_pay\":\"4000.00\"}\n\
         {\"type\":\"payroll\",\"date\":\"2026-01-30\",\"employee\":\"E1\",\"gross_pay\":\"4000.00\"}\n",
    );
    dir.espp(&["append", path(&jul)])
        .expect_code(0)
        .stdout_has("seq 6-7");
    // 2 × 10% of 4000.00.
    assert_eq!(dir.json(&["state"])["employees"]["E1"]["balance"], "800.00");
    let before = dir.export();

    let r = dir.espp(&["append", path(&jul)]);
    r.expect_code(1)
        .stderr_has("repeats the one stored as seq 6-7 at ")
        .stderr_has("--again");
    assert_eq!(dir.export(), before, "the second copy was not stored");

    // The same payday written another way ("4000.0") is another batch: values compare as
    // written.
    let other = dir.file(
        "other.jsonl",
        "{\"type\":\"payroll\",\"date\":\"2026-01-16\",\"employee\":\"E1\",\"gross_pay\":\"4000.0\"}\n\
         {\"type\":\"payroll\",\"date\":\"2026-01-30\",\"employee\":\"E1\",\"gross_pay\":\"4000.00\"}\n",
    );
    dir.espp(&["append", "--dry-run", path(&other)])
        .expect_code(0);

    // Meant: --again stores it, and the balance counts it twice: 4 × 400.00.
    dir.espp(&["append", "--again", path(&jul)])
        .expect_code(0)
        .stdout_has("seq 8-9");
    assert_eq!(
        dir.json(&["state"])["employees"]["E1"]["balance"],
        "1600.00"
    );
}

#[test]
fn a_ledger_written_before_the_batch_index_still_catches_a_repeat() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    // Take the index away, as a ledger written before it existed has none.
    let db = dir.db();
    crate::util::wait_until_closed(&db);
    crate::util::with_sled(&db, |sled| {
        let keys: Vec<_> = sled
            .scan_prefix([b'b'])
            .keys()
            .map(|k| k.unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(keys.len(), 1, "one stored batch, one entry");
        for k in keys {
            sled.remove(k).unwrap_or_else(|e| panic!("{e}"));
        }
        sled.remove(b"mbatches").unwrap_or_else(|e| panic!("{e}"));
    });
    let before = dir.export();
    dir.append(SETUP)
        .expect_code(1)
        .stderr_has("repeats the one stored as seq 1-5");
    assert_eq!(dir.export(), before);
}

#[test]
fn a_mistyped_db_leaves_nothing_behind() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\nE1,2026-01-16,4000.00\n",
    );
    // `ledgr` for `ledger`: a new, empty ledger, where E1 was never hired.
    let typo = dir.path().join("ledgr");
    let r = dir.espp_at(&typo, &["import", "payroll", path(&pay)]);
    r.expect_code(1).stderr_has("E1").stderr_has(&format!(
        "there was no ledger at {}: nothing was created",
        typo.display()
    ));
    assert!(
        !typo.exists(),
        "the refused first batch left {typo:?} behind"
    );
    // Read commands on it: exit 5 naming the path.
    dir.espp_at(&typo, &["verify"])
        .expect_code(5)
        .stderr_has(&typo.display().to_string());
    assert!(!typo.exists());

    // An empty directory named by --db stays empty after a refused first batch.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("an empty directory");
    dir.espp_at(&empty, &["import", "payroll", path(&pay)])
        .expect_code(1)
        .stderr_has("nothing was created");
    let left: Vec<_> = std::fs::read_dir(&empty)
        .expect("still there")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A first batch that is stored says the ledger is new.
    let fresh = dir.path().join("fresh");
    dir.append_at(&fresh, SETUP)
        .expect_code(0)
        .stderr_has(&format!("created a new ledger at {}", fresh.display()));
    // …and only the first.
    let r = dir.append_at(
        &fresh,
        r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1.00"}"#,
    );
    r.expect_code(0);
    assert!(!r.stderr.contains("created"), "{}", r.stderr);
}

#[test]
fn a_bonus_run_on_a_regular_payday_is_its_own_event() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let regular = dir.file(
        "regular.csv",
        "employee,date,gross_pay\nE1,2026-01-16,4000.00\n",
    );
    let bonus = dir.file(
        "bonus.csv",
        "employee,date,gross_pay,run\nE1,2026-01-16,1000.00,bonus\n",
    );
    let offcycle = dir.file(
        "offcycle.csv",
        "employee,date,gross_pay,run\nE1,2026-01-16,4000.00,offcycle\n",
    );
    for f in [&regular, &bonus, &offcycle] {
        dir.espp(&["import", "payroll", path(f)])
            .expect_code(0)
            .stdout_has("stored 1 event(s)");
    }
    // 10% of 4000.00 + 10% of 1000.00 + 10% of 4000.00 = 400.00 + 100.00 + 400.00.
    assert_eq!(dir.json(&["state"])["employees"]["E1"]["balance"], "900.00");
    // Each file again: nothing new, said so.
    let before = dir.export();
    for f in [&regular, &bonus, &offcycle] {
        dir.espp(&["import", "payroll", path(f)])
            .expect_code(0)
            .stdout_has("nothing new");
    }
    // An empty `run` is the regular run.
    let explicit = dir.file(
        "explicit.csv",
        "employee,date,gross_pay,run\nE1,2026-01-16,4000.00,\n",
    );
    dir.espp(&["import", "payroll", path(&explicit)])
        .expect_code(0)
        .stdout_has("nothing new");
    assert_eq!(dir.export(), before);

    // Two rows of one key in one file: refused, naming both lines.
    let twice = dir.file(
        "twice.csv",
        "employee,date,gross_pay\nE1,2026-01-30,4000.00\nE1,2026-01-30,500.00\n",
    );
    dir.espp(&["import", "payroll", path(&twice)])
        .expect_code(1)
        .stderr_has("line 3: field `run`: line 2 already pays E1 on 2026-01-30");
    assert_eq!(dir.export(), before);
}

#[test]
fn dry_run_shows_the_change_and_writes_nothing() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let before = dir.export();
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\nE1,2026-01-16,4000.00\n",
    );
    let r = dir.espp(&["import", "payroll", "--dry-run", path(&pay)]);
    r.expect_code(0)
        .stdout_has("would store 1 event(s), seq 6-6")
        .stdout_has("nothing was written");
    // The balance goes from 0.00 to 400.00 (10% of 4000.00).
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("E1") && l.contains("balance"))
        .unwrap_or_else(|| panic!("no balance row in\n{}", r.stdout));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[..4], &["E1", "balance", "0.00", "400.00"], "{line}");
    assert_eq!(dir.export(), before);

    // JSON: the same, for programs.
    let r = dir.espp(&[
        "append",
        "--dry-run",
        "--format",
        "json",
        path(&dir.file(
            "pay.jsonl",
            r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"4000.00"}"#,
        )),
    ]);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["first_seq"], 6);
    assert_eq!(
        v["changes"]["employees"]["E1"]["balance"]["other"],
        "400.00"
    );
    assert_eq!(dir.export(), before);

    // A refused batch: exit 1 with the refusal, as the real append would.
    let r =
        dir.append(r#"{"type":"payroll","date":"2026-01-16","employee":"E9","gross_pay":"1.00"}"#);
    let code = r.code;
    let dry = dir.espp(&["append", "--dry-run", path(&dir.path().join("input.jsonl"))]);
    assert_eq!(dry.code, code);
    assert_eq!(code, 1);
    assert!(dry.stderr.contains("E9"), "{}", dry.stderr);
    assert_eq!(dir.export(), before);

    // On a missing ledger: judged as a first batch, nothing created.
    let none = dir.path().join("none");
    let r = dir.espp_at(
        &none,
        &["append", "--dry-run", path(&dir.file("s.jsonl", SETUP))],
    );
    r.expect_code(0)
        .stdout_has("would store 5 event(s), seq 1-5");
    assert!(!none.exists());
}

#[test]
fn every_bad_line_is_listed_at_once() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    let before = dir.export();
    let good = r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1.00"}"#;
    let text = [
        good,
        r#"{"type":"payroll","date":"2026-02-30","employee":"E1","gross_pay":"1.00"}"#,
        good,
        r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"-1.00"}"#,
        "",
        r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1.00","bonus":"1"}"#,
    ]
    .join("\n");
    let r = dir.append(&text);
    r.expect_code(1);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[0].starts_with("espp: line 2: field `date`"),
        "{}",
        r.stderr
    );
    assert!(
        lines[1].starts_with("espp: line 4: field `gross_pay`"),
        "{}",
        r.stderr
    );
    assert!(lines[2].starts_with("espp: line 6: "), "{}", r.stderr);
    assert!(lines[2].contains("bonus"), "{}", r.stderr);
    assert_eq!(dir.export(), before);

    // CSV: blank lines counted, each bad row named.
    let pay = dir.file(
        "pay.csv",
        "employee,date,gross_pay\n\nE1,2026-13-01,1.00\r\nE1,2026-01-16,abc\n\n\n\"E\n1\",2026-01-30,1.00\nE1,2026-01-30,x",
    );
    let r = dir.espp(&["import", "payroll", path(&pay)]);
    r.expect_code(1)
        .stderr_has("line 3: field `date`")
        .stderr_has("line 4: field `gross_pay`")
        .stderr_has("line 7: field `employee`")
        .stderr_has("line 9: field `gross_pay`");
    assert_eq!(dir.export(), before);

    // Past 50: the first 50, then a count.
    let many: Vec<String> = (0..60)
        .map(|_| r#"{"type":"payroll","date":"2026-01-16"}"#.to_string())
        .collect();
    let r = dir.append(many.join("\n"));
    r.expect_code(1)
        .stderr_has("line 50: ")
        .stderr_has("and 10 more refused line(s), 60 in all");
    assert!(!r.stderr.contains("line 51:"), "{}", r.stderr);
    assert_eq!(dir.export(), before);
}

#[test]
fn the_state_table_says_which_day_it_is_folded_to() {
    let dir = Dir::new();
    dir.append(SETUP).expect_code(0);
    dir.espp(&["state"])
        .expect_code(0)
        .stdout_has("as of:         2025-12-02 (the latest event's day)");
    dir.espp(&["state", "--as-of", "2025-12-01"])
        .expect_code(0)
        .stdout_has("as of:         2025-12-01\n");
}

#[test]
fn tables_align_text_left_and_numbers_right_without_trailing_spaces() {
    let dir = Dir::new();
    let long = "a-38-character-long-employee-id-xxxxxx";
    assert_eq!(long.len(), 38);
    dir.append(format!(
        "{SETUP}{{\"type\":\"employee_hired\",\"date\":\"2025-12-01\",\"employee\":\"{long}\",\"weekly_hours\":\"40\",\"months_per_year\":\"12\"}}\n"
    ))
    .expect_code(0);
    let r = dir.espp(&["state"]);
    r.expect_code(0).stdout_has("share_reserve: 6000000\n");
    for line in r.stdout.lines() {
        assert_eq!(line, line.trim_end(), "trailing spaces in {line:?}");
    }
    let rows: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("employee"))
        .take(3)
        .collect();
    // The id column is as wide as the long id; `status` (text) starts where the header's
    // does; `balance` (a number) ends where the header's does.
    let header = rows[0];
    let status_at = header.find("status").expect("a status column");
    assert_eq!(status_at, long.len() + 2, "{header}");
    let balance_end = header.find("balance").expect("a balance column") + "balance".len();
    for row in &rows[1..] {
        assert!(
            row[status_at..].starts_with("enrolled")
                || row[status_at..].starts_with("not_enrolled"),
            "{row}"
        );
        assert!(row[..balance_end].ends_with("0.00"), "{row}");
    }
}
