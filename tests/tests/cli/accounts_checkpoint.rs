//! Accounts checkpoints (`Ledger::take_checkpoints`, issue 15): a lean acceptance book
//! writes a periodic checkpoint of its global part and employee blocks once enough events
//! per employee were appended, naming the holdings of the checkpoint it came from. It is a
//! cache like any checkpoint: the next process starts from it, a fold from it is the fold
//! from scratch, `verify` finds it agreeing, its predecessor's parts go with it, and
//! deleting every checkpoint changes no answer.

use std::collections::HashSet;
use std::path::Path;

use espp_engine::{Ledger, Options};
use espp_events::{Actor, Hash};
use espp_replay::{Header, Kind, Query};

use crate::append_book::{batch, demo_months, digests};
use crate::util::{wait_until_closed, Dir};

pub(crate) fn open(db: &Path, accounts_checkpoint_after: u64) -> Ledger {
    wait_until_closed(db);
    let options = Options {
        checkpoint_every: 0,
        accounts_checkpoint_after,
        ..Options::default()
    };
    crate::util::while_busy(|| Ledger::open_or_create(db, &options))
        .unwrap_or_else(|e| panic!("open: {e}"))
}

/// The parts stored in sled (by the hash in their keys).
pub(crate) fn in_sled(ledger: &Ledger) -> HashSet<Hash> {
    let tree = ledger.sled().open_tree("checkpoints").expect("tree");
    tree.scan_prefix([b'p'])
        .keys()
        .map(|k| {
            let k = k.expect("key");
            Hash(<[u8; 32]>::try_from(&k[1..33]).expect("a part key"))
        })
        .collect()
}

/// The parts stored in sled and the parts the headers name.
fn stored_and_named(ledger: &Ledger) -> (HashSet<Hash>, HashSet<Hash>) {
    let stored = in_sled(ledger);
    let named = ledger
        .checkpoint_headers()
        .expect("headers")
        .iter()
        .flat_map(|h| h.parts.all().copied().collect::<Vec<_>>())
        .collect();
    (stored, named)
}

#[test]
fn an_accounts_checkpoint_is_a_cache_the_next_append_starts_from() {
    let dir = Dir::new();
    let db = dir.db();
    let actor = Actor::new("payroll").expect("an actor");
    let mut written = 0;
    for (i, month) in demo_months().into_iter().enumerate() {
        let mut ledger = open(&db, 1);
        let before = ledger.checkpoint_headers().expect("headers");
        ledger
            .append(batch(month, &actor), espp_engine::now())
            .unwrap_or_else(|e| panic!("month {i}: {e}"));
        let lean = ledger.book_is_lean();
        let after = ledger.checkpoint_headers().expect("headers");
        let periodic: Vec<_> = after.iter().filter(|h| h.kind == Kind::Periodic).collect();
        assert!(
            periodic.len() <= 1,
            "month {i}: one periodic checkpoint is kept"
        );
        let head = ledger.head_seq();
        if let Some(newest) = after
            .last()
            .filter(|h| lean && h.kind == Kind::Periodic && h.seq == head)
        {
            written += 1;
            // Its holdings are those of the checkpoint the lean book came from (the latest
            // before this append: a purchase's or the previous accounts checkpoint).
            let base = before.last().expect("a lean book comes from a checkpoint");
            assert_eq!(newest.parts.lots, base.parts.lots, "month {i}");
            assert_eq!(newest.parts.purchases, base.parts.purchases, "month {i}");
            assert_eq!(
                newest.parts.dispositions, base.parts.dispositions,
                "month {i}"
            );
        }
        // Every part in sled is named by a checkpoint, and every named part is stored: in
        // sled, or (the latest accounts checkpoint's accounts) in the book file.
        let (stored, named) = stored_and_named(&ledger);
        assert!(stored.is_subset(&named), "month {i}: unnamed parts kept");
        let in_book = crate::book_file::parts_in_book(&db);
        let missing: Vec<_> = named
            .difference(&stored)
            .filter(|h| !in_book.contains(h))
            .collect();
        assert!(
            missing.is_empty(),
            "month {i}: named parts missing: {missing:?}"
        );
        // Periodic checkpoints here are all accounts checkpoints (`checkpoint_every` 0).
        if let Some(newest) = after.iter().rfind(|h| h.kind == Kind::Periodic) {
            assert!(
                newest
                    .parts
                    .employees
                    .iter()
                    .all(|(_, b)| in_book.contains(b) && !stored.contains(b)),
                "month {i}: an accounts checkpoint's blocks are in the book file, not sled"
            );
        }
        let (book, scratch) = digests(&mut ledger);
        assert_eq!(book, scratch, "month {i}");
        drop(ledger);

        // The next process: a fold of the latest state starts from the newest checkpoint,
        // and gives what a fold from scratch gives.
        let ledger = open(&db, 1);
        let from_checkpoint = ledger
            .fold(&Query::default(), &mut |_| {})
            .expect("fold")
            .digest();
        assert_eq!(from_checkpoint, scratch, "month {i}: from the checkpoint");
        // It read every part (an accounts checkpoint's from the book file): a checkpoint
        // found with a part missing would have been deleted.
        assert_eq!(
            ledger.checkpoint_headers().expect("headers").len(),
            after.len(),
            "month {i}: every checkpoint still usable"
        );
    }
    assert!(written > 3, "{written} accounts checkpoints");

    // Off (0): no periodic checkpoint at the head after a lean append.
    let mut ledger = open(&db, 0);
    let day = ledger.book().expect("book").state().day().expect("a day");
    drop(ledger);
    let mut ledger = open(&db, 0);
    let later = day.add_days(3).expect("a day");
    let price = espp_events::parse_line(&format!(
        r#"{{"type":"market_price","date":"{later}","closes":["16.50"]}}"#
    ));
    let Ok(espp_events::Line::Bare(price)) = price else {
        panic!("a price line")
    };
    ledger
        .append(batch(vec![price], &actor), espp_engine::now())
        .expect("a price");
    let head = ledger.head_seq();
    assert!(ledger
        .checkpoint_headers()
        .expect("headers")
        .iter()
        .all(|h| h.seq != head));
    drop(ledger);

    // `verify` compares every checkpoint with a fold from scratch: all agree.
    let ledger = open(&db, 1);
    let (report, folded) = ledger.verify_all().expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    let (digest, checks) = folded.expect("folded");
    assert!(
        checks.iter().any(|c| c.kind == Kind::Periodic),
        "{checks:?}"
    );
    assert!(checks.iter().all(|c| c.problem.is_none()), "{checks:?}");
    // A cache: without any checkpoint, the same answers.
    let with = ledger.fold(&Query::default(), &mut |_| {}).expect("fold");
    ledger.clear_checkpoints().expect("clear");
    let without = ledger.fold(&Query::default(), &mut |_| {}).expect("fold");
    assert_eq!(with.digest(), without.digest());
    assert_eq!(with.digest(), digest);
}

/// The months of a demo company of 200 employees (four employee blocks of 64).
pub(crate) fn months_of_200() -> Vec<Vec<espp_events::EventInput>> {
    months_of(200)
}

/// The months of a demo company of `employees` employees.
pub(crate) fn months_of(employees: u32) -> Vec<Vec<espp_events::EventInput>> {
    let mut months: Vec<Vec<espp_events::EventInput>> = Vec::new();
    for e in espp_engine::demo::events(employees, 7) {
        let month = e.date.to_string()[..7].to_string();
        match months.last_mut() {
            Some(m) if m.last().is_some_and(|l| l.date.to_string()[..7] == month) => m.push(e),
            _ => months.push(vec![e]),
        }
    }
    months
}

/// Appends `months` one process each up to the first accounts checkpoint after a purchase:
/// how many were appended, and that checkpoint.
pub(crate) fn up_to_an_accounts_checkpoint(
    db: &Path,
    months: &[Vec<espp_events::EventInput>],
    actor: &Actor,
) -> (usize, Header) {
    let mut appended = 0;
    loop {
        let mut ledger = open(db, 1);
        ledger
            .append(batch(months[appended].clone(), actor), espp_engine::now())
            .unwrap_or_else(|e| panic!("month {appended}: {e}"));
        appended += 1;
        let newest = ledger.checkpoint_headers().expect("headers").pop();
        if let Some(h) = newest.filter(|h| h.kind == Kind::Periodic && ledger.book_is_lean()) {
            return (appended, h);
        }
        assert!(appended < months.len(), "no accounts checkpoint");
    }
}

#[test]
fn a_lean_book_whose_checkpoint_lost_or_altered_a_block_is_folded_instead() {
    // The parts of the checkpoint a lean book starts from are read on one thread and
    // decoded on another: a part missing or altered in the middle of the stream must end
    // both (no hang), and the append then judges on a book folded without that
    // checkpoint, as it did before.
    let actor = Actor::new("payroll").expect("an actor");
    let months = months_of_200();
    for damage in ["missing", "altered"] {
        let dir = Dir::new();
        let db = dir.db();
        // The book file cannot be written (a directory stands in its place): the accounts
        // checkpoints' parts are then stored in sled, as every checkpoint's are.
        std::fs::create_dir_all(db.join("book")).expect("a directory");
        let (appended, h) = up_to_an_accounts_checkpoint(&db, &months, &actor);
        let blocks = h.parts.employees;
        assert_eq!(blocks.len(), 4, "200 employees in blocks of 64");
        let stored = in_sled(&open(&db, 1));
        assert!(
            blocks.iter().all(|(_, b)| stored.contains(b)),
            "the blocks in sled"
        );

        // The third employee block: missing, or its bytes changed.
        let ledger = open(&db, 1);
        let tree = ledger.sled().open_tree("checkpoints").expect("tree");
        let mut prefix = vec![b'p'];
        prefix.extend_from_slice(&blocks[2].1 .0);
        for kv in tree.scan_prefix(&prefix) {
            let (k, v) = kv.expect("a piece");
            if damage == "missing" {
                tree.remove(k).expect("remove");
            } else {
                let mut v = v.to_vec();
                let middle = v.len() / 2;
                v[middle] ^= 1;
                tree.insert(k, v).expect("insert");
            }
        }
        tree.flush().expect("flush");
        drop(tree);
        drop(ledger);

        let mut ledger = open(&db, 1);
        ledger
            .append(batch(months[appended].clone(), &actor), espp_engine::now())
            .unwrap_or_else(|e| panic!("{damage}: {e}"));
        // Not lean: folded from the purchase's checkpoint instead.
        assert!(
            !ledger.book_is_lean(),
            "{damage}: a lean book from a damaged checkpoint"
        );
        let (book, scratch) = digests(&mut ledger);
        assert_eq!(book, scratch, "{damage}");
    }
}
