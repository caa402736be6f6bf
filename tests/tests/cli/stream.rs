//! The streamed append (`engine/src/store_stream.rs`): a file longer than a piece
//! (`--piece-lines`, small here) is judged and written in pieces and acknowledged once. It
//! stores what one batch would (the same state, the same export), refuses as one batch
//! would with nothing left of it (a refusal at its last line, a line not an event, an id used
//! twice), and a process killed mid-stream leaves the previous head.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use espp_engine::{Ledger, Options};

use crate::util::{own_bin, wait_until_closed, while_busy, with_sled, Dir, Rng, Run};

/// Lines per piece in these tests: the demo's ~800 lines make a dozen pieces.
const PIECE: &str = "64";

/// The demo company's events (10 employees, 2025-12 to 2027: `--allow-future`), as bare
/// JSON lines in date order.
fn demo_lines() -> Vec<String> {
    espp_engine::demo::events(10, 7)
        .iter()
        .map(|e| e.to_json().to_string())
        .collect()
}

fn append_streamed(dir: &Dir, db: &std::path::Path, file: &std::path::Path) -> Run {
    dir.espp_at(
        db,
        &[
            "append",
            "--allow-future",
            "--piece-lines",
            PIECE,
            file.to_str().expect("a UTF-8 path"),
        ],
    )
}

/// `state --format json` of `db`, its digest with it.
fn state(dir: &Dir, db: &std::path::Path) -> String {
    let r = dir.espp_at(db, &["state", "--format", "json"]);
    r.expect_code(0);
    r.stdout.clone()
}

/// [`state`] without its head and digest (the head's hash covers the records' ids and
/// recording instants, which differ between two ledgers of the same bare events).
fn state_body(dir: &Dir, db: &std::path::Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&state(dir, db)).expect("JSON");
    if let Some(o) = v.as_object_mut() {
        o.remove("head");
        o.remove("digest");
    }
    v
}

#[test]
fn a_streamed_file_stores_what_small_batches_store() {
    let dir = Dir::new();
    let lines = demo_lines();
    let n = lines.len();
    assert!(n > 10 * 64, "the demo is only {n} lines: too few pieces");
    let all = dir.file("all.jsonl", lines.join("\n") + "\n");

    let streamed = dir.path().join("streamed");
    append_streamed(&dir, &streamed, &all)
        .expect_code(0)
        .stdout_has(&format!("stored {n} event(s), seq 1-{n}"));
    // The same events in batches of 50 lines, one process each.
    let batched = dir.path().join("batched");
    for (i, part) in lines.chunks(50).enumerate() {
        let f = dir.file(&format!("part{i}.jsonl"), part.join("\n"));
        dir.espp_at(
            &batched,
            &["append", "--allow-future", f.to_str().expect("UTF-8")],
        )
        .expect_code(0);
    }
    assert_eq!(
        state_body(&dir, &streamed),
        state_body(&dir, &batched),
        "the streamed file and the small batches fold to different states"
    );
    dir.espp_at(&streamed, &["verify"]).expect_code(0);
    dir.espp_at(&batched, &["verify"]).expect_code(0);

    // The same file again is the same batch twice: refused, nothing stored.
    let before = dir.export_at(&streamed);
    append_streamed(&dir, &streamed, &all)
        .expect_code(1)
        .stderr_has(&format!("repeats the one stored as seq 1-{n}"));
    assert_eq!(
        dir.export_at(&streamed),
        before,
        "a repeated file left records"
    );
    dir.espp_at(&streamed, &["verify"]).expect_code(0);

    // Its export, streamed into a new ledger, is the same log; again, it is all skipped.
    let export = dir.file("export.jsonl", &before);
    let copy = dir.path().join("copy");
    append_streamed(&dir, &copy, &export)
        .expect_code(0)
        .stdout_has(&format!("seq 1-{n}"));
    assert_eq!(
        dir.export_at(&copy),
        before,
        "the export did not round-trip"
    );
    append_streamed(&dir, &copy, &export).expect_code(0);
    assert_eq!(dir.export_at(&copy), before, "skipped records were stored");
    dir.espp_at(&copy, &["verify"]).expect_code(0);
}

#[test]
fn a_refusal_anywhere_in_a_streamed_file_leaves_the_ledger_as_it_was() {
    let dir = Dir::new();
    let lines = demo_lines();
    let (first, rest) = lines.split_at(100);
    dir.append_future(first.join("\n")).expect_code(0);
    let before = dir.export();
    let state_before = state(&dir, &dir.db());
    let last = 100 + rest.len();

    let id = "0190a000-0000-7000-8000-000000000001";
    let with_id = |i: usize, line: &str| -> String {
        if i == 2 {
            line.replacen('{', &format!("{{\"id\":\"{id}\","), 1)
        } else {
            line.to_string()
        }
    };
    let cases = [
        // Not an event, at the last line.
        (
            "not json at all".to_string(),
            1,
            format!("line {}:", rest.len()),
        ),
        // The plan refuses it: the books are closed through the last purchase.
        (
            r#"{"type":"market_price","date":"2026-01-05","closes":["1.00"]}"#.to_string(),
            1,
            "closed".to_string(),
        ),
        // The id of the file's third line, with other content.
        (
            format!(
                r#"{{"id":"{id}","type":"market_price","date":"2027-12-31","closes":["1.00"]}}"#
            ),
            3,
            format!("line {}: field `id`: {id} is used by line 3", rest.len()),
        ),
    ];
    for (bad, code, says) in cases {
        let mut text: Vec<String> = rest
            .iter()
            .enumerate()
            .map(|(i, l)| with_id(i, l))
            .collect();
        if let Some(l) = text.last_mut() {
            *l = bad;
        }
        let f = dir.file("bad.jsonl", text.join("\n"));
        append_streamed(&dir, &dir.db(), &f)
            .expect_code(code)
            .stderr_has(&says);
        assert_eq!(
            dir.export(),
            before,
            "the refused file ({says}) left records"
        );
        assert_eq!(
            state(&dir, &dir.db()),
            state_before,
            "the state moved ({says})"
        );
        dir.espp(&["verify"]).expect_code(0);
    }

    // Whole, it is taken, right after the head it found.
    let f = dir.file("good.jsonl", rest.join("\n"));
    append_streamed(&dir, &dir.db(), &f)
        .expect_code(0)
        .stdout_has(&format!("seq 101-{last}"));
    dir.espp(&["verify"]).expect_code(0);
}

/// The records sled holds beyond `seq` (chunks keyed `r` + first seq), read directly.
fn chunks_beyond(db: &std::path::Path, seq: u64) -> usize {
    let mut n = 0;
    with_sled(db, |sled| {
        let mut from = vec![b'r'];
        from.extend_from_slice(&(seq + 1).to_be_bytes());
        n = sled
            .range(from..)
            .keys()
            .filter(|k| k.as_ref().is_ok_and(|k| k.first() == Some(&b'r')))
            .count();
    });
    n
}

#[test]
fn a_stream_killed_midway_leaves_the_previous_head() {
    let dir = Dir::new();
    let lines = demo_lines();
    let (first, rest) = lines.split_at(100);
    dir.append_future(first.join("\n")).expect_code(0);
    let before = dir.export();
    let rest_file = dir.file("rest.jsonl", rest.join("\n"));

    // Stopped after its third piece reached sled, then killed.
    let mut child = Command::new(own_bin("stream_appender"))
        .arg(dir.db())
        .arg(&rest_file)
        .arg(PIECE)
        .arg("3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stream_appender starts");
    let stdout = child.stdout.take().expect("a stdout pipe");
    let mut written = 0;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        assert!(line.starts_with("written "), "unexpected: {line}");
        written += 1;
        if written == 3 {
            break;
        }
    }
    assert_eq!(written, 3, "the appender stopped before its third piece");
    child.kill().expect("SIGKILL the appender");
    child.wait().expect("reap it");
    wait_until_closed(&dir.db());
    // Its pieces are in sled, beyond the acknowledged head (100)...
    assert!(
        chunks_beyond(&dir.db(), 100) > 0,
        "nothing of the stream reached sled: the test proves nothing"
    );
    // ...and the next open removes them.
    let ledger =
        crate::util::while_busy(|| Ledger::open(&dir.db(), &Options::default())).expect("reopen");
    assert_eq!(ledger.head_seq(), 100, "a killed stream moved the head");
    let report = ledger.verify().expect("verify runs");
    assert!(report.problem.is_none(), "verify: {:?}", report.problem);
    drop(ledger);
    wait_until_closed(&dir.db());
    assert_eq!(chunks_beyond(&dir.db(), 100), 0, "pieces were kept");
    assert_eq!(dir.export(), before);

    // `espp append` killed at random moments: the head is the previous one or the whole file.
    let mut rng = Rng::from_env("stream kill test");
    let whole = 100 + rest.len() as u64;
    for round in 0..4 {
        let mut child = Command::new(crate::util::espp_bin())
            .arg("--db")
            .arg(dir.db())
            .args(["append", "--allow-future", "--piece-lines", PIECE])
            .arg(&rest_file)
            .env("ESPP_ACTOR", "cli-test")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("espp starts");
        let delay = rng.range(5, 400);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().expect("reap espp");
        wait_until_closed(&dir.db());
        let ledger = crate::util::while_busy(|| Ledger::open(&dir.db(), &Options::default()))
            .expect("reopen");
        let head = ledger.head_seq();
        assert!(
            head == 100 || head == whole,
            "round {round} (killed after {delay} ms): head {head}, neither 100 nor {whole}"
        );
        let report = ledger.verify().expect("verify runs");
        assert!(
            report.problem.is_none(),
            "round {round}: {:?}",
            report.problem
        );
        drop(ledger);
        wait_until_closed(&dir.db());
        if head == whole {
            break;
        }
        assert_eq!(dir.export(), before, "round {round}");
    }
}

/// In one process (a library caller): a refused stream rolls its pieces back and the same
/// `Ledger` takes the next one right after the head it had, its indexes intact.
#[test]
fn a_ledger_takes_a_stream_after_refusing_one() {
    use espp_engine::{now, StreamLine, StreamOptions};
    use espp_events::{parse_line, Actor};

    let dir = Dir::new();
    let lines = demo_lines();
    let (first, rest) = lines.split_at(100);
    dir.append_future(first.join("\n")).expect_code(0);
    wait_until_closed(&dir.db());
    let items = |bad_last: bool| {
        let n = rest.len();
        rest.iter()
            .enumerate()
            .map(move |(i, text)| {
                let text = if bad_last && i + 1 == n {
                    r#"{"type":"market_price","date":"2026-01-05","closes":["1.00"]}"#
                } else {
                    text.as_str()
                };
                Ok(StreamLine::Line(i + 1, parse_line(text).expect("an event")))
            })
            .collect::<Vec<_>>()
    };
    let options = StreamOptions {
        actor: Actor::new("stream-test").expect("an actor"),
        allow_future: true,
        again: false,
        piece_lines: 64,
    };
    let mut ledger = while_busy(|| Ledger::open(&dir.db(), &Options::default())).expect("open");
    let mut pieces = 0;
    let refused = ledger.append_stream(items(true).into_iter(), &options, now(), &mut |_| {
        pieces += 1
    });
    assert!(
        matches!(refused, Err(espp_engine::StoreError::Rejected { line, .. }) if line == rest.len()),
        "{refused:?}"
    );
    assert!(
        pieces > 3,
        "only {pieces} pieces were written before the refusal"
    );
    assert_eq!(ledger.head_seq(), 100);
    let report = ledger
        .append_stream(items(false).into_iter(), &options, now(), &mut |_| {})
        .expect("the whole file is taken");
    assert_eq!(report.stored, Some((101, 100 + rest.len() as u64)));
    let verified = ledger.verify().expect("verify runs");
    assert!(verified.problem.is_none(), "{:?}", verified.problem);
    assert_eq!(verified.records, 100 + rest.len() as u64);
}

/// A CSV import longer than a piece streams too: the same state as one batch, and importing
/// it again stores nothing.
#[test]
fn a_long_csv_import_streams() {
    let dir = Dir::new();
    let plan = r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"stream csv"}}"#;
    let mut csv = String::from("date,close\n");
    for i in 0..200 {
        let (month, day) = (1 + i / 28, 1 + i % 28);
        csv.push_str(&format!(
            "2026-{month:02}-{day:02},{}.{:02}\n",
            10 + i % 7,
            i % 100
        ));
    }
    let prices = dir.file("prices.csv", csv);
    let prices = prices.to_str().expect("UTF-8");
    let streamed = dir.path().join("streamed");
    let whole = dir.path().join("whole");
    for db in [&streamed, &whole] {
        dir.append_at(db, plan).expect_code(0);
    }
    dir.espp_at(
        &streamed,
        &["import", "prices", "--piece-lines", "16", prices],
    )
    .expect_code(0)
    .stdout_has("stored 200 event(s), seq 2-201");
    dir.espp_at(&whole, &["import", "prices", prices])
        .expect_code(0)
        .stdout_has("stored 200 event(s), seq 2-201");
    assert_eq!(state_body(&dir, &streamed), state_body(&dir, &whole));
    let before = dir.export_at(&streamed);
    dir.espp_at(
        &streamed,
        &["import", "prices", "--piece-lines", "16", prices],
    )
    .expect_code(0)
    .stdout_has("nothing new");
    assert_eq!(dir.export_at(&streamed), before);
    dir.espp_at(&streamed, &["verify"]).expect_code(0);
}
