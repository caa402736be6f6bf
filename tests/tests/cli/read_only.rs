//! A read-only ledger (an auditor's copy with its write bits taken away) can be read by
//! every read command — through a private copy, said so — and is left byte for byte as it
//! was (issue 12 §5). Write bits are honoured even for root, so this runs as any user.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::{chain_vector, wait_until_closed, Dir};

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read the ledger") {
        let e = e.expect("an entry");
        if e.file_type().expect("a type").is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.insert(e.path(), std::fs::read(e.path()).expect("read a file"));
        }
    }
    out
}

fn set_mode(dir: &Path, dirs: u32, files: u32) {
    for e in std::fs::read_dir(dir).expect("read the ledger") {
        let e = e.expect("an entry");
        if e.file_type().expect("a type").is_dir() {
            set_mode(&e.path(), dirs, files);
        } else {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(files))
                .expect("chmod a file");
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dirs)).expect("chmod a dir");
}

#[test]
fn a_read_only_ledger_is_read_through_a_private_copy_and_left_as_it_was() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let export = dir.export();
    let db = dir.db();
    wait_until_closed(&db);
    set_mode(&db, 0o555, 0o444);
    let before = files(&db);
    for args in [
        vec!["verify"],
        vec!["export"],
        vec!["log"],
        vec!["state", "--format", "json"],
        vec!["statement", "E1", "--period", "2026H1"],
    ] {
        let run = dir.espp(&args);
        assert!(
            run.stderr.contains("is read-only: reading a private copy"),
            "{args:?}: exit {} stdout {} stderr {}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert!(
            run.code == 0 || (args[0] == "statement" && run.code == 2),
            "{args:?}: exit {}: {}",
            run.code,
            run.stderr
        );
        if args[0] == "export" {
            assert_eq!(run.stdout_bytes, export);
        }
        if args[0] == "verify" {
            assert!(run.stdout.contains("intact: 3 records"), "{}", run.stdout);
        }
    }
    assert_eq!(files(&db), before, "reading changed the read-only ledger");
    // An append is refused: nothing is written through a copy.
    let f = dir.file(
        "more.jsonl",
        r#"{"type":"market_price","date":"2026-02-02","closes":["10.00"]}"#,
    );
    dir.espp(&["append", f.to_str().unwrap_or_default()])
        .expect_code(5)
        .stderr_has("read-only (no write permission): nothing was appended");
    // A dry run judges it on a private copy.
    dir.espp(&["append", "--dry-run", f.to_str().unwrap_or_default()])
        .expect_code(0)
        .stdout_has("would store 1 event(s), seq 4-4");
    assert_eq!(files(&db), before);
    set_mode(&db, 0o755, 0o644);
}
