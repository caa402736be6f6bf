//! The reference the repository ships (issue 13): `espp events` and docs/events.md generated
//! from the event table and kept equal, `espp schema`, shell completions and the man page.

use std::path::Path;

use crate::util::Dir;

fn repo_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn docs_events_md_is_what_espp_events_generates() {
    let dir = Dir::new();
    let run = dir.espp(&["events", "--format", "markdown"]);
    run.expect_code(0);
    let committed = repo_file("docs/events.md");
    assert!(
        committed == run.stdout,
        "docs/events.md is not what the event table generates: run\n\n    \
         cargo run -p espp-engine --bin espp -- events --format markdown > docs/events.md\n\n\
         and commit it"
    );
    for t in [
        "plan_adopted",
        "payroll",
        "other_plan_purchase",
        "share_reserve",
    ] {
        assert!(run.stdout.contains(t), "{t}");
    }
}

#[test]
fn events_lists_every_type_for_people_and_programs() {
    let dir = Dir::new();
    let table = dir.espp(&["events"]);
    table.expect_code(0).stdout_has("payroll — A payday");
    table.stdout_has("gross_pay");
    let json = dir.espp(&["events", "--format", "json"]);
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let types: Vec<&str> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, espp_events::Event::TYPES);
    for e in v["events"].as_array().expect("events") {
        let line = e["example"].as_str().expect("example");
        espp_events::parse_line(line).unwrap_or_else(|err| panic!("{line}: {err}"));
    }
    dir.espp(&["events", "--format", "csv"])
        .expect_code(2)
        .stderr_has("events does not write csv");
}

#[test]
fn schema_is_a_draft_2020_12_schema_of_every_type() {
    let dir = Dir::new();
    let run = dir.espp(&["schema"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(
        v["oneOf"].as_array().expect("oneOf").len(),
        espp_events::Event::TYPES.len()
    );
    assert_eq!(v, espp_events::catalogue::schema());
    dir.espp(&["schema", "--format", "json"]).expect_code(0);
    dir.espp(&["schema", "--format", "table"]).expect_code(2);
}

#[test]
fn completions_for_each_shell() {
    let dir = Dir::new();
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef espp"),
        ("fish", "complete -c espp"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = dir.espp(&["completions", shell]);
        run.expect_code(0).stdout_has(mark);
        run.stdout_has("append");
        run.stdout_has("statement");
    }
    dir.espp(&["completions", "tcsh"]).expect_code(2);
    dir.espp(&["completions", "bash", "--format", "json"])
        .expect_code(2);
    assert!(!dir.db().exists());
}

#[test]
fn man_page_is_roff() {
    let dir = Dir::new();
    let run = dir.espp(&["man"]);
    run.expect_code(0).stdout_has(".TH espp 1");
    run.stdout_has(".SH SYNOPSIS");
    run.stdout_has("append");
}

#[test]
fn readme_links_only_to_files_in_the_repository() {
    let readme = repo_file("README.md");
    assert!(
        !readme.contains("../shared"),
        "README points outside the repository"
    );
    for doc in ["docs/events.md", "docs/projection.md"] {
        assert!(readme.contains(doc), "README does not link {doc}");
        repo_file(doc);
    }
}

/// Every key of a real projection (a demo ledger: purchases, lots, allocations) is named in
/// docs/projection.md, so a key added to the projection cannot go undocumented.
#[test]
fn docs_projection_md_names_every_key_of_the_projection() {
    fn walk(v: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    keys.insert(k.clone());
                    walk(x, keys);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, keys)),
            _ => {}
        }
    }
    let dir = Dir::new();
    dir.espp(&["demo", "--employees", "3"]).expect_code(0);
    let run = dir.espp(&["state", "--format", "json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let mut keys = std::collections::BTreeSet::new();
    for (k, x) in v.as_object().expect("an object") {
        keys.insert(k.clone());
        match (k.as_str(), x) {
            // Employee ids are data, not keys of the contract.
            ("employees", serde_json::Value::Object(m)) => {
                m.values().for_each(|e| walk(e, &mut keys))
            }
            _ => walk(x, &mut keys),
        }
    }
    assert!(keys.contains("allocations") && keys.contains("lots"));
    let doc = repo_file("docs/projection.md");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/projection.md does not explain {missing:?}: add them"
    );
}

/// Each subcommand's `--help` has its purpose, an example, the day and instant formats and
/// the exit codes; `append --help` points to the event reference.
#[test]
fn every_subcommand_help_has_an_example_and_the_exit_codes() {
    let dir = Dir::new();
    for sub in [
        "append",
        "export",
        "import",
        "verify",
        "log",
        "demo",
        "statement",
        "form3922",
        "dispositions",
        "state",
        "replay",
        "diff",
        "explain",
        "purchase",
        "report",
        "events",
        "schema",
        "completions",
        "man",
    ] {
        let run = dir.espp(&[sub, "--help"]);
        run.expect_code(0).stdout_has("Examples:\n  espp");
        run.stdout_has("Exit codes: 0 done; 1 input refused");
        run.stdout_has("YYYY-MM-DD");
    }
    dir.espp(&["append", "--help"]).stdout_has("espp events");
    assert!(!dir.db().exists());
}

/// Options appear only where they do something: `--actor` and `--checkpoint-every` are
/// described by the commands that append; INTERCHANGE.md still has every command accept
/// `--actor` before or after the subcommand.
#[test]
fn append_options_are_described_only_by_the_commands_that_append() {
    let dir = Dir::new();
    for read in [
        "state",
        "verify",
        "log",
        "export",
        "statement",
        "replay",
        "diff",
    ] {
        let help = dir.espp(&[read, "--help"]);
        help.expect_code(0);
        for opt in ["--actor", "--checkpoint-every"] {
            assert!(!help.stdout.contains(opt), "{read} --help lists {opt}");
        }
    }
    for write in ["append", "import", "demo"] {
        dir.espp(&[write, "--help"])
            .expect_code(0)
            .stdout_has("Append options (before or after the subcommand):\n  --actor <ACTOR>")
            .stdout_has("--checkpoint-every <N>");
    }
    let plan = dir.file(
        "plan.jsonl",
        r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"x"}}"#,
    );
    let hire = dir.file(
        "hire.jsonl",
        r#"{"type":"employee_hired","date":"2026-01-02","employee":"E1","weekly_hours":"40","months_per_year":"12"}"#,
    );
    dir.espp(&[
        "--actor",
        "before",
        "append",
        plan.to_str().unwrap_or_default(),
    ])
    .expect_code(0);
    dir.espp(&[
        "append",
        "--actor",
        "after",
        hire.to_str().unwrap_or_default(),
    ])
    .expect_code(0);
    let export = crate::util::json_lines(&dir.export());
    assert_eq!(export[0]["actor"], "before");
    assert_eq!(export[1]["actor"], "after");
    // Accepted (and without effect) after a read command, as the contract says.
    dir.espp(&["state", "--actor", "x"]).expect_code(0);
}

/// The ledger's options (`--db`, `--cache-mb`, `--wait`) are listed and taken after the
/// subcommands that open a ledger, and not by those that open none (`replay
/// --from-export` reads a file); before the subcommand they are taken by all.
#[test]
fn ledger_options_belong_to_the_commands_that_open_a_ledger() {
    let dir = Dir::new();
    for cmd in ["replay", "events", "schema", "man"] {
        let help = dir.espp(&[cmd, "--help"]);
        help.expect_code(0);
        for opt in ["--db", "--cache-mb", "--wait"] {
            assert!(!help.stdout.contains(opt), "{cmd} --help lists {opt}");
        }
    }
    for cmd in ["state", "verify", "append", "report"] {
        dir.espp(&[cmd, "--help"])
            .expect_code(0)
            .stdout_has("--db <DB>")
            .stdout_has("--wait");
    }
    // After the subcommand it wins over the one before it (the helper puts one first).
    let other = dir.path().join("other");
    let f = dir.file(
        "plan.jsonl",
        r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"x"}}"#,
    );
    dir.espp(&[
        "append",
        "--db",
        other.to_str().unwrap_or_default(),
        f.to_str().unwrap_or_default(),
    ])
    .expect_code(0);
    assert!(other.join("log").is_dir());
    assert!(!dir.db().exists());
    dir.espp(&[
        "report",
        "enrolment",
        "--db",
        other.to_str().unwrap_or_default(),
    ])
    .expect_code(0);
}
