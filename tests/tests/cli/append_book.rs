//! The acceptance book a process starts with is partial (the latest state, folded from the
//! nearest checkpoint) and loaded whole only when a batch needs it (a purchase, a back-dated
//! batch, a refusal that spoiled it): appends through it, one `Ledger` each as one `espp`
//! process would, leave the same books as a fold of the whole log from scratch.

use std::path::Path;

use espp_engine::{Batch, Ledger, Options};
use espp_events::{parse_line, Actor, EventInput, Line};
use espp_replay::Query;

use crate::util::{wait_until_closed, Dir};

fn open(db: &Path) -> Ledger {
    wait_until_closed(db);
    let options = Options {
        // A periodic checkpoint every few dozen events: the partial book starts from one.
        checkpoint_every: 40,
        ..Options::default()
    };
    Ledger::open_or_create(db, &options).unwrap_or_else(|e| panic!("open: {e}"))
}

fn event(text: &str) -> EventInput {
    match parse_line(text) {
        Ok(Line::Bare(e)) => e,
        other => panic!("not a bare event: {other:?}"),
    }
}

/// The book's digest and a fold's from scratch, which must agree.
/// A batch of `events` as the payroll feed sends them (the demo's years run past today).
fn batch(events: Vec<EventInput>, actor: &Actor) -> Batch {
    Batch {
        allow_future: true,
        ..Batch::of_events(events, actor.clone())
    }
}

fn digests(ledger: &mut Ledger) -> (String, String) {
    let book = ledger.book().expect("book").state().digest();
    let scratch = ledger
        .fold_uncached(&Query::default(), &mut |_| {})
        .expect("fold")
        .digest();
    (book, scratch)
}

#[test]
fn appends_through_a_partial_book_fold_like_the_whole_log() {
    let dir = Dir::new();
    let db = dir.db();
    let actor = Actor::new("payroll").expect("an actor");
    // The demo company a month at a time (purchases in some months).
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
    assert!(months.len() > 12, "{} months", months.len());
    let (mut partial, mut whole) = (0, 0);
    for (i, month) in months.into_iter().enumerate() {
        let mut ledger = open(&db);
        if ledger.book().expect("book").is_partial() {
            partial += 1;
        }
        ledger
            .append(batch(month, &actor), espp_engine::now())
            .unwrap_or_else(|e| panic!("month {i}: {e}"));
        if !ledger.book().expect("book").is_partial() {
            whole += 1;
        }
        let (book, scratch) = digests(&mut ledger);
        assert_eq!(book, scratch, "month {i}");
    }
    // Both kinds served: the months without a purchase from a partial book, the purchases
    // from the whole one.
    assert!(partial > 5 && whole > 1, "{partial} partial, {whole} whole");

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
