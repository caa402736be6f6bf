//! The acceptance book a process starts with is partial (the latest state, folded from the
//! nearest checkpoint) and loaded whole only when a batch needs it (a back-dated batch, a
//! refusal that spoiled it; a purchase in order is folded on the partial book): appends
//! through it, one `Ledger` each as one `espp` process would, leave the same books as a
//! fold of the whole log from scratch.

use std::path::Path;

use espp_engine::{Batch, Ledger, Options};
use espp_events::{parse_line, Actor, EventInput, Line};
use espp_replay::Query;

use crate::util::{wait_until_closed, while_busy, Dir};

fn open(db: &Path) -> Ledger {
    wait_until_closed(db);
    let options = Options {
        // A periodic checkpoint every few dozen events: the partial book starts from one.
        checkpoint_every: 40,
        ..Options::default()
    };
    while_busy(|| Ledger::open_or_create(db, &options)).unwrap_or_else(|e| panic!("open: {e}"))
}

fn event(text: &str) -> EventInput {
    match parse_line(text) {
        Ok(Line::Bare(e)) => e,
        other => panic!("not a bare event: {other:?}"),
    }
}

/// The book's digest and a fold's from scratch, which must agree.
/// A batch of `events` as the payroll feed sends them (the demo's years run past today).
pub(crate) fn batch(events: Vec<EventInput>, actor: &Actor) -> Batch {
    Batch {
        allow_future: true,
        ..Batch::of_events(events, actor.clone())
    }
}

pub(crate) fn digests(ledger: &mut Ledger) -> (String, String) {
    let book = ledger.book().expect("book").state().digest();
    let scratch = ledger
        .fold_uncached(&Query::default(), &mut |_| {})
        .expect("fold")
        .digest();
    (book, scratch)
}

/// The demo company a month at a time (purchases in some months).
pub(crate) fn demo_months() -> Vec<Vec<EventInput>> {
    let mut months: Vec<Vec<EventInput>> = Vec::new();
    for e in espp_engine::demo::events(6, 11) {
        match months.last_mut() {
            Some(m)
                if m.last()
                    .is_some_and(|l| l.date.to_string()[..7] == e.date.to_string()[..7]) =>
            {
                m.push(e)
            }
            _ => months.push(vec![e]),
        }
    }
    months
}

#[test]
fn appends_through_a_partial_book_fold_like_the_whole_log() {
    let dir = Dir::new();
    let db = dir.db();
    let actor = Actor::new("payroll").expect("an actor");
    let months = demo_months();
    assert!(months.len() > 12, "{} months", months.len());
    let (mut partial, mut purchases) = (0, 0);
    for (i, month) in months.into_iter().enumerate() {
        let buys = month
            .iter()
            .any(|e| matches!(e.event, espp_events::Event::Purchase { .. }));
        let mut ledger = open(&db);
        if ledger.book().expect("book").is_partial() {
            partial += 1;
        }
        ledger
            .append(batch(month, &actor), espp_engine::now())
            .unwrap_or_else(|e| panic!("month {i}: {e}"));
        if buys && ledger.whole_book_loads() == 0 {
            purchases += 1;
        }
        let (book, scratch) = digests(&mut ledger);
        assert_eq!(book, scratch, "month {i}");
    }
    // Every month in order is folded on a partial book, the purchases too (issue 15).
    assert!(
        partial > 5 && purchases > 1,
        "{partial} partial, {purchases} purchases"
    );

    let price = |d: espp_events::Day, p: &str| {
        event(&format!(
            r#"{{"type":"market_price","date":"{d}","closes":["{p}"]}}"#
        ))
    };
    // A price ten days after everything: the latest day moves past the wall.
    let mut ledger = open(&db);
    let wall = ledger
        .checkpoint_headers()
        .expect("headers")
        .iter()
        .filter_map(|h| h.wall)
        .max()
        .expect("a purchase");
    let day = ledger.book().expect("book").state().day().expect("a day");
    let latest = day.add_days(10).expect("a later day");
    ledger
        .append(
            batch(vec![price(latest, "16.50")], &actor),
            espp_engine::now(),
        )
        .expect("a later price");
    drop(ledger);

    // Back-dated (after the wall, before the latest day folded): the whole book, folded again.
    let mut ledger = open(&db);
    assert!(ledger.book().expect("book").is_partial());
    let back = wall.add_days(1).expect("a day after the wall");
    assert!(back < latest, "{back} < {latest}");
    ledger
        .append(
            batch(vec![price(back, "17.25")], &actor),
            espp_engine::now(),
        )
        .expect("a back-dated price");
    let (book, scratch) = digests(&mut ledger);
    assert_eq!(book, scratch, "back-dated");
    drop(ledger);

    // A group whose first batch changes the partial book and is then refused: the second
    // is judged against the books as stored, not the half-changed state.
    let mut ledger = open(&db);
    assert!(ledger.book().expect("book").is_partial());
    let refused = vec![
        price(latest, "18.00"),
        event(&format!(
            r#"{{"type":"employee_changed","date":"{latest}","employee":"NOBODY","weekly_hours":"10"}}"#
        )),
    ];
    let results = ledger.append_group(
        vec![
            batch(refused, &actor),
            batch(vec![price(latest, "19.00")], &actor),
        ],
        espp_engine::now(),
    );
    assert!(results[0].is_err(), "{:?}", results[0]);
    assert!(results[1].is_ok(), "{:?}", results[1]);
    let (book, scratch) = digests(&mut ledger);
    assert_eq!(book, scratch, "after a refusal");
    drop(ledger);
    let mut ledger = open(&db);
    let (book, scratch) = digests(&mut ledger);
    assert_eq!(book, scratch, "reopened");
    assert!(ledger.verify().expect("verify").problem.is_none());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A process's acceptance book is lean (the latest state without lots, purchases and
/// dispositions) when every record since its checkpoint and the batch fold without them;
/// every batch judged that way — accepted, refused, or needing the holdings part-way
/// through a group — gives what the whole book (checkpoints cleared: loaded from scratch)
/// gives: the same result, word for word, and the same books.
#[test]
fn a_lean_book_judges_every_batch_as_the_whole_book_does() {
    let dir = Dir::new();
    let lean_db = dir.db();
    let actor = Actor::new("payroll").expect("an actor");
    let months = demo_months();
    for month in months {
        let mut ledger = open(&lean_db);
        ledger
            .append(batch(month, &actor), espp_engine::now())
            .expect("a demo month");
    }
    let (employees, latest) = {
        let mut ledger = open(&lean_db);
        let state = ledger.book().expect("book").state();
        let ids: Vec<String> = state.employee_ids().map(str::to_string).collect();
        (ids, state.day().expect("a day"))
    };
    let mut n = 0u64;
    let mut line = |day: espp_events::Day, body: &str| {
        n += 1;
        event(&format!(
            r#"{{"id":"00000000-0000-4000-8000-{n:012}","date":"{day}",{body}}}"#
        ))
    };
    let mut probes: Vec<Vec<Vec<EventInput>>> = Vec::new();
    let mut day = latest;
    let nobody = r#""type":"payroll","employee":"NOBODY","gross_pay":"1.00""#;
    // First what folds without the holdings (lean books), refusals among them.
    for who in &employees {
        day = day.add_days(1).expect("a day");
        let pay = format!(r#""type":"payroll","employee":"{who}","gross_pay":"3000.00""#);
        probes.push(vec![vec![line(day, &pay)]]);
        probes.push(vec![vec![line(day, &pay), line(day, nobody)]]);
        probes.push(vec![
            vec![line(day, &pay)],
            vec![line(day, nobody)],
            vec![line(day, &pay)],
        ]);
    }
    // Then what needs them, alone or part-way through a group.
    for (i, who) in employees.iter().enumerate() {
        day = day.add_days(1).expect("a day");
        let pay = format!(r#""type":"payroll","employee":"{who}","gross_pay":"3000.00""#);
        let sale = format!(
            r#""type":"shares_sold","employee":"{who}","shares":"{}","price":"20.00""#,
            i + 1
        );
        let cert = format!(r#""type":"certificate_requested","employee":"{who}","shares":"1""#);
        let changed =
            format!(r#""type":"employee_changed","employee":"{who}","weekly_hours":"10""#);
        probes.push(vec![vec![line(day, &pay), line(day, &sale)]]);
        probes.push(vec![vec![line(day, &cert)]]);
        probes.push(vec![
            vec![line(day, &pay)],
            vec![line(day, nobody)],
            vec![line(day, &changed), line(day, &pay)],
        ]);
    }
    // Refusals: an unknown employee, and the closed books (dated on a purchase's day).
    day = day.add_days(1).expect("a day");
    probes.push(vec![vec![line(day, nobody)]]);
    let wall = open(&lean_db)
        .book()
        .expect("book")
        .wall()
        .expect("a purchase");
    probes.push(vec![vec![line(
        wall,
        r#""type":"market_price","closes":["9.00"]"#,
    )]]);

    let whole_db = dir.path().join("whole");
    let (mut lean_seen, mut refused, mut accepted) = (0, 0, 0);
    for (p, groups) in probes.into_iter().enumerate() {
        let _ = std::fs::remove_dir_all(&whole_db);
        wait_until_closed(&lean_db);
        copy_dir(&lean_db, &whole_db);
        {
            let whole = open(&whole_db);
            whole.clear_checkpoints().expect("clear");
        }
        let now = espp_engine::now();
        let mut results = Vec::new();
        let mut books = Vec::new();
        for (db, lean) in [(&lean_db, true), (&whole_db, false)] {
            let mut ledger = open(db);
            let batches: Vec<Batch> = groups.iter().map(|g| batch(g.clone(), &actor)).collect();
            let got = ledger.append_group(batches, now);
            if lean && got.iter().any(|r| r.is_ok()) && ledger.book_is_lean() {
                lean_seen += 1;
            }
            results.push(format!("{got:?}"));
            refused += got.iter().filter(|r| r.is_err()).count();
            accepted += got.iter().filter(|r| r.is_ok()).count();
            books.push(digests(&mut ledger));
        }
        assert_eq!(results[0], results[1], "probe {p}");
        assert_eq!(books[0], books[1], "probe {p}");
        assert_eq!(
            books[0].0, books[0].1,
            "probe {p}: the book and a fold from scratch"
        );
    }
    // Both sides counted: halve.
    assert!(lean_seen > 3, "{lean_seen} lean appends");
    assert!(
        refused / 2 > 5 && accepted / 2 > 10,
        "{refused} refused, {accepted} accepted"
    );
}

/// A purchase payday in order (issue 15) is judged on the process's partial book — lean,
/// its holdings filled in from the checkpoint it came from — without loading the closed
/// books and every record since the last purchase (2.2 GB at 100,000 employees). The book
/// is then what a fold from scratch gives, and the purchase checkpoint taken from the
/// closed books it encoded is byte for byte the one the whole book loaded from the store
/// takes (a copy of the ledger with its checkpoints cleared): the same parts, the
/// same records left out. The book is then lean again (its holdings, the checkpoint's,
/// dropped). Half of the purchase months carry the next month's events too, so that
/// records dated after the purchase's day arrive with it.
#[test]
fn a_purchase_payday_is_judged_without_loading_the_whole_book() {
    use espp_events::Event;
    let dir = Dir::new();
    let db = dir.db();
    let whole_db = dir.path().join("whole");
    let actor = Actor::new("payroll").expect("an actor");
    let buys = |m: &[EventInput]| m.iter().any(|e| matches!(e.event, Event::Purchase { .. }));
    let mut batches: Vec<Vec<EventInput>> = Vec::new();
    let mut months = demo_months().into_iter();
    let mut purchases = 0;
    while let Some(mut month) = months.next() {
        if buys(&month) {
            purchases += 1;
            if purchases % 2 == 1 {
                month.extend(months.next().unwrap_or_default());
            }
        }
        batches.push(month);
    }
    // Ids given, so that both ledgers store the same records (and chain the same hashes).
    let mut n = 0u64;
    for e in batches.iter_mut().flatten() {
        n += 1;
        e.id = Some(
            uuid::Uuid::parse_str(&format!("00000000-0000-4000-8000-{n:012}")).expect("an id"),
        );
    }
    let (mut judged, mut with_tail, mut relean) = (0, 0, 0);
    for (i, month) in batches.into_iter().enumerate() {
        let purchase = buys(&month);
        if purchase {
            let _ = std::fs::remove_dir_all(&whole_db);
            wait_until_closed(&db);
            copy_dir(&db, &whole_db);
            open(&whole_db).clear_checkpoints().expect("clear");
        }
        let now = espp_engine::now();
        let mut ledger = open(&db);
        let report = ledger
            .append(batch(month.clone(), &actor), now)
            .unwrap_or_else(|e| panic!("month {i}: {e}"));
        if !purchase {
            continue;
        }
        assert_eq!(
            ledger.whole_book_loads(),
            0,
            "month {i}: the whole book loaded"
        );
        judged += 1;
        let headers = ledger.checkpoint_headers().expect("headers");
        let ours = headers
            .iter()
            .find(|h| h.kind == espp_replay::Kind::Purchase && h.seq == ledger.head_seq())
            .cloned()
            .unwrap_or_else(|| panic!("month {i}: no purchase checkpoint at the head"));
        if !ours.left_out.is_empty() {
            with_tail += 1;
        }
        // Lean again once the checkpoint is stored (its holdings dropped), filled in from it
        // by `digests` (`Ledger::book`).
        if ledger.book_is_lean() {
            relean += 1;
        }
        let (book, scratch) = digests(&mut ledger);
        assert_eq!(book, scratch, "month {i}");
        drop(ledger);

        let mut whole = open(&whole_db);
        // Before the first purchase there are no closed books: a fold from scratch.
        let walled = whole.book().expect("book").wall().is_some();
        let again = whole
            .append(batch(month, &actor), now)
            .unwrap_or_else(|e| panic!("month {i}, whole: {e}"));
        assert_eq!(report, again, "month {i}");
        assert_eq!(
            whole.whole_book_loads(),
            u64::from(walled),
            "month {i}: checkpoints cleared"
        );
        let theirs = whole
            .checkpoint_headers()
            .expect("headers")
            .into_iter()
            .find(|h| h.kind == espp_replay::Kind::Purchase && h.seq == whole.head_seq())
            .unwrap_or_else(|| panic!("month {i}: no purchase checkpoint in the copy"));
        assert_eq!(ours, theirs, "month {i}: the purchase checkpoints");
        assert_eq!(
            digests(&mut whole),
            (book.clone(), book),
            "month {i}, whole"
        );
    }
    assert!(
        judged >= 3 && with_tail >= 1 && relean >= 2,
        "{judged} purchases, {with_tail} with a tail, {relean} lean again"
    );
    let ledger = open(&db);
    assert!(ledger.verify().expect("verify").problem.is_none());
}

/// The records stored from seq `from` on.
fn stored_from(ledger: &Ledger, from: u64) -> Vec<espp_events::Record> {
    ledger
        .records_from(from)
        .map(|r| r.expect("a record"))
        .collect()
}

#[test]
fn a_batch_chained_ahead_is_stored_as_chained_only_from_the_very_head() {
    // `espp append` chains a bare batch's records from the head the head file names while
    // another thread opens the ledger (`Batch::chain_ahead`). They are stored as chained when
    // that is still the ledger's head and the instant is the append's; chained from a head
    // that moved since, or for another instant, the batch is chained again. The log verifies
    // either way, and each record follows the one before.
    let dir = Dir::new();
    let db = dir.db();
    let actor = Actor::new("payroll").expect("an actor");
    let months = demo_months();
    open(&db)
        .append(batch(months[0].clone(), &actor), espp_engine::now())
        .expect("the first month");

    // From the very head, at the append's instant: stored as chained.
    let now = espp_engine::now();
    let mut b = batch(months[1].clone(), &actor);
    b.chain_ahead(&db, now);
    let chained = b.chained_records().expect("chained ahead").to_vec();
    let mut ledger = open(&db);
    let head = ledger.head_seq();
    assert_eq!(chained[0].seq, head + 1);
    ledger.append(b, now).expect("the second month");
    assert_eq!(stored_from(&ledger, head + 1), chained);
    drop(ledger);

    // The head moved after the batch was chained: chained again after the new head.
    let now = espp_engine::now();
    let mut b = batch(months[2].clone(), &actor);
    b.chain_ahead(&db, now);
    let chained = b.chained_records().expect("chained ahead").to_vec();
    let mut ledger = open(&db);
    ledger
        .append(batch(months[3].clone(), &actor), espp_engine::now())
        .expect("a month in between");
    let head = ledger.head_seq();
    let head_hash = ledger.record(head).expect("read").expect("the head").hash;
    ledger.append(b, now).expect("the third month");
    let stored = stored_from(&ledger, head + 1);
    assert_eq!(stored.len(), chained.len());
    assert_eq!(stored[0].prev_hash, head_hash);
    assert!(stored
        .iter()
        .zip(&chained)
        .all(|(s, c)| s.seq != c.seq && s.id != c.id));
    assert!(stored.iter().all(|r| r.recorded_at == now));
    drop(ledger);

    // The same head, another instant: chained again, recorded at the append's instant.
    let mut b = batch(months[4].clone(), &actor);
    b.chain_ahead(&db, espp_engine::now());
    let chained = b.chained_records().expect("chained ahead").to_vec();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let later = espp_engine::now();
    let mut ledger = open(&db);
    let head = ledger.head_seq();
    ledger.append(b, later).expect("the fourth month");
    let stored = stored_from(&ledger, head + 1);
    assert_eq!(stored[0].seq, chained[0].seq);
    assert!(stored.iter().all(|r| r.recorded_at == later));
    assert_ne!(
        stored.last().map(|r| r.hash),
        chained.last().map(|r| r.hash)
    );

    // Not for a batch with an explicit id: nothing chained.
    let mut with_id = batch(months[5].clone(), &actor);
    if let Some((_, Line::Bare(e))) = with_id.lines.first_mut() {
        e.id = Some(uuid::Uuid::now_v7());
    }
    with_id.chain_ahead(&db, espp_engine::now());
    assert!(with_id.chained_records().is_none());

    let report = ledger.verify().expect("verify");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    let all = stored_from(&ledger, 1);
    assert!(all
        .windows(2)
        .all(|w| w[1].prev_hash == w[0].hash && w[1].seq == w[0].seq + 1));
}
