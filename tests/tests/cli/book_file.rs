//! The book file (`engine/src/bookfile.rs`, issue 15): where the latest accounts checkpoint
//! keeps its accounts (global part and employee blocks, each with its hash), in one piece
//! beside the log instead of in sled; the next append decodes it beside sled's open. A
//! cache: used whole only when it holds the very checkpoint the load starts from, part for
//! part, and read part by part (by hash) otherwise; torn, altered, stale or missing, that
//! checkpoint is unusable and the book is folded as without it, and `verify` says which.

use std::collections::HashSet;
use std::path::Path;

use espp_engine::{BookFileCheck, KeptBook};
use espp_events::{Actor, EventInput, Hash};
use espp_replay::Header;

use crate::accounts_checkpoint::{
    in_sled, months_of, months_of_200, open, up_to_an_accounts_checkpoint,
};
use crate::append_book::{batch, digests};
use crate::util::Dir;

/// The hashes the book file of the ledger at `db` names its parts by (none without one).
pub(crate) fn parts_in_book(db: &Path) -> HashSet<Hash> {
    let Ok(bytes) = std::fs::read(db.join("book")) else {
        return HashSet::new();
    };
    part_ranges(&bytes)
        .into_iter()
        .map(|r| {
            Hash(
                bytes[r.start + 4..r.start + 36]
                    .try_into()
                    .expect("32 bytes"),
            )
        })
        .collect()
}

/// Checks that checkpoint `h`'s employee blocks are in the book file and not in sled.
fn only_in_book(db: &Path, h: &Header) {
    let (book, sled) = (parts_in_book(db), in_sled(&open(db, 1)));
    for (_, b) in &h.parts.employees {
        assert!(book.contains(b) && !sled.contains(b), "block {b:?}");
    }
}

/// `check_book_file` of the ledger at `db`.
fn check(db: &Path) -> Option<BookFileCheck> {
    open(db, 1).check_book_file().expect("check")
}

/// Appends `month` (one library process) and says whether its book is lean, after checking
/// it is the fold from scratch.
fn append_is_lean(db: &Path, month: &[EventInput], actor: &Actor, what: &str) -> bool {
    let mut ledger = open(db, 1);
    ledger
        .append(batch(month.to_vec(), actor), espp_engine::now())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let lean = ledger.book_is_lean();
    let (book, scratch) = digests(&mut ledger);
    assert_eq!(book, scratch, "{what}");
    lean
}

/// The byte ranges of the file's parts (length, hash and bytes each), after its 57-byte
/// head (see the layout in `bookfile.rs`).
fn part_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = 57;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        out.push(at..at + 4 + 32 + len);
        at += 4 + 32 + len;
    }
    assert_eq!(at, bytes.len(), "parts end where the file does");
    out
}

#[test]
fn the_next_append_starts_from_the_book_file_when_it_holds_the_latest_checkpoint() {
    let actor = Actor::new("payroll").expect("an actor");
    let months = months_of_200();
    for (with_file, by_cli) in [(true, false), (false, false), (true, true), (false, true)] {
        let what = format!("book file {with_file}, espp process {by_cli}");
        let dir = Dir::new();
        let db = dir.db();
        let (appended, h) = up_to_an_accounts_checkpoint(&db, &months, &actor);
        assert_eq!(
            check(&db),
            Some(BookFileCheck {
                seq: Some(h.seq),
                problem: None,
                disagrees: false
            }),
            "{what}: the book file holds the accounts checkpoint just written"
        );
        only_in_book(&db, &h);
        if !with_file {
            std::fs::remove_file(db.join("book")).expect("remove the book file");
        }
        let month = &months[appended];
        let lean = if by_cli {
            // `espp append` reads the book file beside sled's open: a lean book writes an
            // accounts checkpoint at the head (one event per employee is enough), a book
            // folded whole does not (`--checkpoint-every 0`).
            let text: String = month.iter().map(|e| format!("{}\n", e.to_json())).collect();
            let f = dir.file("month.jsonl", text);
            let f = f.to_str().expect("a UTF-8 path");
            dir.espp(&[
                "--checkpoint-every",
                "0",
                "--accounts-checkpoint-after",
                "1",
                "append",
                "--allow-future",
                f,
            ])
            .expect_code(0);
            let mut ledger = open(&db, 1);
            let head = ledger.head_seq();
            let at_head = ledger
                .checkpoint_headers()
                .expect("headers")
                .iter()
                .any(|c| c.seq == head);
            // What it appended is the fold from scratch whatever its book came from.
            let (book, scratch) = digests(&mut ledger);
            assert_eq!(book, scratch, "{what}");
            at_head
        } else {
            append_is_lean(&db, month, &actor, &what)
        };
        assert_eq!(lean, with_file, "{what}: lean only from the book file");
    }
}

#[test]
fn a_book_file_torn_altered_stale_or_tampered_with_is_passed_over() {
    let actor = Actor::new("payroll").expect("an actor");
    let months = months_of_200();
    for damage in ["torn", "flipped", "count", "stale", "swapped"] {
        let dir = Dir::new();
        let db = dir.db();
        let (mut appended, mut h) = up_to_an_accounts_checkpoint(&db, &months, &actor);
        let file = db.join("book");
        let bytes = std::fs::read(&file).expect("a book file");
        let parts = part_ranges(&bytes);
        assert_eq!(parts.len(), 5, "the global part and four employee blocks");
        let old_seq = h.seq;
        let changed = match damage {
            "torn" => bytes[..bytes.len() / 2].to_vec(),
            "flipped" => {
                let mut b = bytes.clone();
                let last = parts[4].clone();
                b[last.start + 36 + (last.len() - 36) / 2] ^= 1;
                b
            }
            "count" => {
                // A block count no file could hold: refused before any room is reserved.
                let mut b = bytes.clone();
                b[53..57].copy_from_slice(&u32::MAX.to_le_bytes());
                b
            }
            "stale" => {
                // The next month writes the next accounts checkpoint (and removes this one);
                // the file is then put back as it was.
                assert!(append_is_lean(&db, &months[appended], &actor, damage));
                appended += 1;
                h = open(&db, 1)
                    .checkpoint_headers()
                    .expect("headers")
                    .pop()
                    .expect("a checkpoint");
                assert!(h.seq > old_seq, "a newer checkpoint");
                bytes.clone()
            }
            "swapped" => {
                // Two employee blocks trade places, each with its own (right) hash: the file
                // is whole, but not the checkpoint it names.
                let mut b = bytes[..parts[1].start].to_vec();
                b.extend_from_slice(&bytes[parts[2].clone()]);
                b.extend_from_slice(&bytes[parts[1].clone()]);
                b.extend_from_slice(&bytes[parts[3].start..]);
                b
            }
            _ => unreachable!(),
        };
        only_in_book(&db, &h);
        std::fs::write(&file, changed).expect("write the book file");

        let found = check(&db).expect("a book file");
        match damage {
            "torn" | "flipped" | "count" => {
                assert_eq!(found.seq, None, "{damage}");
                assert!(!found.disagrees, "{damage}");
                dir.espp(&["verify"])
                    .expect_code(0)
                    .stdout_has("book file: torn, altered or of another version (ignored)");
            }
            "stale" => {
                assert_eq!(found.seq, Some(old_seq), "{damage}");
                assert!(!found.disagrees, "{damage}");
                assert!(
                    found
                        .problem
                        .as_deref()
                        .is_some_and(|p| p.starts_with("stale")),
                    "{found:?}"
                );
                dir.espp(&["verify"])
                    .expect_code(0)
                    .stdout_has("book file: stale");
            }
            _ => {
                assert_eq!(found.seq, Some(h.seq), "{damage}");
                assert!(found.disagrees, "{damage}: {found:?}");
                dir.espp(&["verify"])
                    .expect_code(4)
                    .stderr_has("the book file disagrees with the checkpoint it names");
            }
        }

        // Passed over as a whole: the checkpoint's blocks are nowhere else, so the book is
        // folded, unless each block is still found by its hash (swapped blocks, a bad count
        // before intact parts): then that checkpoint is whole after all.
        let lean = append_is_lean(&db, &months[appended], &actor, damage);
        let whole = matches!(damage, "swapped" | "count");
        assert_eq!(lean, whole, "{damage}: a book from a damaged book file");
    }
}

#[test]
fn a_book_file_of_many_blocks_is_used_whole_or_passed_over() {
    // Ten employee blocks, as a real company's file has many: whole, the next append starts
    // from it and appends what the fold from scratch gives; a block altered in the middle,
    // or the file torn there, and the book is folded instead.
    let actor = Actor::new("payroll").expect("an actor");
    let months = months_of(600);
    for damage in ["none", "flipped", "torn"] {
        let dir = Dir::new();
        let db = dir.db();
        let (appended, h) = up_to_an_accounts_checkpoint(&db, &months, &actor);
        assert_eq!(h.parts.employees.len(), 10, "600 employees in blocks of 64");
        let file = db.join("book");
        let bytes = std::fs::read(&file).expect("a book file");
        let parts = part_ranges(&bytes);
        let middle = parts[5].clone();
        let changed = match damage {
            "none" => bytes,
            "flipped" => {
                let mut b = bytes;
                b[middle.start + 36 + (middle.len() - 36) / 2] ^= 1;
                b
            }
            _ => bytes[..middle.end].to_vec(),
        };
        std::fs::write(&file, changed).expect("write the book file");
        assert_eq!(KeptBook::read(&db).is_some(), damage == "none", "{damage}");
        let lean = append_is_lean(&db, &months[appended], &actor, damage);
        assert_eq!(
            lean,
            damage == "none",
            "{damage}: lean only from a whole book file"
        );
    }
}
