//! A ledger written before chunk format 2 and the id index in runs (tests/data/ledger-v1,
//! written by e9cfbb9) opens and reads as it was, keeps its ids idempotent, and takes new
//! appends in the new layout (engine/src/store.rs, chunk.rs, idindex.rs).

use std::path::Path;

use crate::util::{with_sled, Dir};

const HEAD: &str = "79ac834cffad8b6faf92063416389ad26c45904aa7332994ef908a0e9b558530";
const ID: &str = "0190d3a0-0000-7000-8000-000000000001";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read the fixture") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

fn fixture() -> (Dir, Vec<u8>) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = Dir::new();
    copy_dir(&data.join("ledger-v1"), &dir.db());
    let export = std::fs::read(data.join("ledger-v1.jsonl")).expect("the fixture's export");
    (dir, export)
}

fn prefix_count(db: &Path, prefix: u8) -> usize {
    let mut n = 0;
    with_sled(db, |sled| n = sled.scan_prefix([prefix]).count());
    n
}

fn chunk_version(db: &Path, seq: u64) -> u8 {
    let mut k = vec![b'r'];
    k.extend_from_slice(&seq.to_be_bytes());
    let mut v = 0;
    with_sled(db, |sled| {
        v = sled.get(&k).expect("read").expect("the chunk")[0];
    });
    v
}

#[test]
fn a_ledger_of_the_old_layout_reads_as_it_was() {
    let (dir, export) = fixture();
    dir.espp(&["verify"])
        .expect_code(0)
        .stdout_has("intact: 302 records")
        .stdout_has(HEAD);
    assert_eq!(dir.export(), export);
    // Reading changed nothing of the layout: old chunks, the per-event id index.
    assert_eq!(chunk_version(&dir.db(), 1), 1);
    assert_eq!(prefix_count(&dir.db(), b'i'), 302);
    assert_eq!(prefix_count(&dir.db(), b'k'), 0);
}

#[test]
fn the_first_append_folds_the_old_id_index_into_runs_and_ids_stay_idempotent() {
    let (dir, export) = fixture();
    let same =
        format!(r#"{{"type":"market_price","date":"2026-03-03","closes":["10.10"],"id":"{ID}"}}"#);
    let other = same.replace("10.10", "10.20");
    // The stored id with the same content: skipped, nothing stored.
    dir.append(&same)
        .expect_code(0)
        .stdout_has(&format!("skipped, id {ID} is stored already as seq 302"));
    // With other content: a conflict.
    dir.append(&other).expect_code(3).stderr_has("seq 302");
    let new = r#"{"type":"market_price","date":"2026-03-04","closes":["10.30"]}
{"type":"market_price","date":"2026-03-05","closes":["10.40"],"id":"0190d3a0-0000-7000-8000-000000000002"}"#;
    dir.append(new).expect_code(0).stdout_has("seq 303-304");
    // The old keys are runs now; old chunks stay version 1, the new one is version 2.
    assert_eq!(prefix_count(&dir.db(), b'i'), 0);
    assert!(prefix_count(&dir.db(), b'k') >= 1);
    assert_eq!(chunk_version(&dir.db(), 1), 1);
    assert_eq!(chunk_version(&dir.db(), 303), 2);
    dir.espp(&["verify"])
        .expect_code(0)
        .stdout_has("intact: 304 records");
    let after = dir.export();
    assert_eq!(&after[..export.len()], &export[..]);
    // Both ids, old and new, are still found.
    dir.append(&same).expect_code(0).stdout_has("as seq 302");
    dir.append(&other).expect_code(3).stderr_has("seq 302");
    let again = r#"{"type":"market_price","date":"2026-03-05","closes":["10.40"],"id":"0190d3a0-0000-7000-8000-000000000002"}"#;
    dir.append(again).expect_code(0).stdout_has("as seq 304");
    assert_eq!(dir.export(), after);
}

fn segment_size(db: &Path) -> String {
    let conf = std::fs::read(db.join("log").join("conf")).expect("sled's conf");
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|l| l.strip_prefix("segment_size: ").map(str::to_string))
        .expect("a segment_size line")
}

#[test]
fn an_old_ledger_keeps_its_segment_size_and_a_new_one_gets_2_mib() {
    // sled refuses to open a log with another segment size than the one it was made with:
    // the old ledger opens with its own (512 KiB), reads and takes appends.
    let (dir, export) = fixture();
    dir.append(r#"{"type":"market_price","date":"2026-03-04","closes":["10.30"]}"#)
        .expect_code(0)
        .stdout_has("seq 303");
    dir.espp(&["verify"])
        .expect_code(0)
        .stdout_has("intact: 303 records");
    assert!(dir.export().starts_with(&export));
    assert_eq!(segment_size(&dir.db()), "524288");
    // A new ledger is made with 2 MiB segments, and opens again.
    let new = Dir::new();
    new.append(r#"{"type":"market_price","date":"2026-03-04","closes":["10.30"]}"#)
        .expect_code(0);
    assert_eq!(segment_size(&new.db()), "2097152");
    new.espp(&["verify"])
        .expect_code(0)
        .stdout_has("intact: 1 records");
}

/// The one-employee commands of the fixture's ledger (`explain`, `state --employee`,
/// `statement`, as JSON) for a few employees, as of a day and latest: (command, stdout).
fn one_employee_outputs(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in ["E000000", "E000080", "E000160", "nobody"] {
        for args in [
            vec!["--format", "json", "explain", e],
            vec!["--format", "json", "explain", e, "--as-of", "2026-01-10"],
            vec!["--format", "json", "state", "--employee", e],
            vec!["--format", "json", "statement", e],
        ] {
            let r = dir.espp(&args);
            out.push((args.join(" "), r.stdout_bytes.clone()));
        }
    }
    out
}

/// Issue 15: a ledger written before the employee index has none, and is read from the
/// whole log; its first append builds the index and the copies of the records of no
/// employee from the log (engine/src/whoindex.rs, in sorted runs of bounded size, merged),
/// after which the one-employee commands read the index and answer as the whole log does,
/// and `verify` checks the index against the log.
#[test]
fn the_first_append_builds_the_employee_index_and_the_answers_stay() {
    let (dir, _) = fixture();
    for prefix in [b'w', b'v', b'x'] {
        assert_eq!(prefix_count(&dir.db(), prefix), 0);
    }
    dir.append(r#"{"type":"market_price","date":"2026-03-04","closes":["10.30"]}"#)
        .expect_code(0)
        .stdout_has("seq 303");
    assert!(prefix_count(&dir.db(), b'v') >= 1);
    // 13 records of no employee in the fixture, and the new price.
    assert_eq!(prefix_count(&dir.db(), b'x'), 14);
    dir.espp(&["verify"])
        .expect_code(0)
        .stdout_has("intact: 303 records");
    let indexed = one_employee_outputs(&dir);
    assert!(indexed.iter().filter(|o| !o.1.is_empty()).count() >= 12);
    // Without the index's mark, the same commands fold the whole log: the same bytes.
    with_sled(&dir.db(), |sled| {
        assert!(sled.remove(b"mwho").expect("remove").is_some(), "the mark");
    });
    let whole = one_employee_outputs(&dir);
    for (i, w) in indexed.iter().zip(&whole) {
        assert!(
            i.1 == w.1,
            "{}:\n{}\n---\n{}",
            i.0,
            String::from_utf8_lossy(&i.1),
            String::from_utf8_lossy(&w.1)
        );
    }
}
