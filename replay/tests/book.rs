//! The acceptance book against the reference fold: in-order, back-dated and refused batches,
//! closed books in seq order, and the wall moving at each purchase.

#[path = "chained/mod.rs"]
mod chained;
use chained::records;
use espp_replay::{fold_records, Book, Query};

const SETUP: &[&str] = &[
    r#"{"type":"plan_adopted","date":"2025-12-01","rules":{}}"#,
    r#"{"type":"stockholders_approved","date":"2025-12-01"}"#,
    r#"{"type":"period_scheduled","date":"2025-12-01","period":"P1","start":"2026-01-01","end":"2026-01-31"}"#,
    r#"{"type":"period_scheduled","date":"2025-12-01","period":"P2","start":"2026-02-01","end":"2026-02-28"}"#,
    r#"{"type":"employee_hired","date":"2025-12-01","employee":"E1","hire_date":"2020-01-01","weekly_hours":"40","months_per_year":"12"}"#,
    r#"{"type":"enrolled","date":"2025-12-02","employee":"E1","rate":"0.10"}"#,
    r#"{"type":"market_price","date":"2026-01-02","closes":["10.00"]}"#,
    r#"{"type":"payroll","date":"2026-01-16","employee":"E1","gross_pay":"1000.00"}"#,
    r#"{"type":"market_price","date":"2026-01-30","closes":["12.00"]}"#,
];

fn digest(state: &espp_projections::State) -> String {
    state.projection(None)["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_back_dated_batch_folds_in_its_date_place() {
    // Payroll dated the 9th arrives after the price of the 30th: the book refolds from the
    // wall and gets what folding the whole log in (date, seq) order gets.
    let mut all = records(SETUP, 1);
    let late = records(
        &[r#"{"type":"payroll","date":"2026-01-09","employee":"E1","gross_pay":"500.00"}"#],
        10,
    );
    let mut book = Book::load(all.clone()).unwrap_or_else(|e| panic!("{e}"));
    book.apply(&late).unwrap_or_else(|e| panic!("{e}"));
    all.extend(late);
    let reference = fold_records(all, Query::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(digest(book.state()), digest(&reference));
    // 10% of 1000.00 + 10% of 500.00 = 150.00 in the balance.
    assert_eq!(
        book.state().projection(None)["employees"]["E1"]["balance"],
        "150.00"
    );
}

#[test]
fn closed_books_are_checked_in_seq_order_inside_a_batch() {
    let mut book = Book::load(records(SETUP, 1)).unwrap_or_else(|e| panic!("{e}"));
    let before = digest(book.state());
    // The purchase closes the books through 2026-01-30; a payroll of the 29th after it, in
    // the same batch, is refused, though in (date, seq) order it would come first.
    let batch = records(
        &[
            r#"{"type":"purchase","date":"2026-01-30","period":"P1"}"#,
            r#"{"type":"payroll","date":"2026-01-29","employee":"E1","gross_pay":"1000.00"}"#,
        ],
        10,
    );
    let err = book
        .apply(&batch)
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(err.index, 1);
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(
        digest(book.state()),
        before,
        "a refused batch changes nothing"
    );
}

#[test]
fn a_refused_batch_leaves_the_book_as_it_was() {
    let mut book = Book::load(records(SETUP, 1)).unwrap_or_else(|e| panic!("{e}"));
    let before = digest(book.state());
    // The first event folds, the second (a purchase for an unknown period) does not.
    let batch = records(
        &[
            r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"1000.00"}"#,
            r#"{"type":"purchase","date":"2026-01-30","period":"NOPE"}"#,
        ],
        10,
    );
    assert!(book.apply(&batch).is_err());
    assert_eq!(digest(book.state()), before);
    // And it still takes the next good batch.
    let good = records(
        &[r#"{"type":"purchase","date":"2026-01-30","period":"P1"}"#],
        10,
    );
    book.apply(&good).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn after_a_purchase_the_book_matches_the_reference_fold() {
    let mut all = records(SETUP, 1);
    let mut book = Book::load(all.clone()).unwrap_or_else(|e| panic!("{e}"));
    let more = records(
        &[
            r#"{"type":"purchase","date":"2026-01-30","period":"P1"}"#,
            r#"{"type":"market_price","date":"2026-02-02","closes":["11.00"]}"#,
            r#"{"type":"payroll","date":"2026-02-13","employee":"E1","gross_pay":"1000.00"}"#,
        ],
        10,
    );
    for r in &more {
        book.apply(std::slice::from_ref(r))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        book.tail_len(),
        2,
        "records after the wall stay in the tail"
    );
    all.extend(more);
    let reference = fold_records(all, Query::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(digest(book.state()), digest(&reference));
    // Price: 0.85 × min(10, 12) = 8.50; 100.00 buys 11 shares (93.50), 6.50 carried; then
    // 10% of 1000.00 more.
    let e1 = &book.state().projection(None)["employees"]["E1"];
    assert_eq!(e1["shares_held"], "11");
    assert_eq!(e1["balance"], "106.50");
}

#[test]
fn a_partial_book_folds_a_payday_and_asks_for_the_whole_book_otherwise() {
    let setup = records(SETUP, 1);
    let whole = Book::load(setup.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut partial = Book::partial(whole.state().clone(), whole.wall());
    assert!(partial.is_partial() && !whole.is_partial());
    // A later payroll: in order, no purchase; folded in place like the whole log.
    let payday = records(
        &[r#"{"type":"payroll","date":"2026-01-30","employee":"E1","gross_pay":"200.00"}"#],
        10,
    );
    assert!(!partial.needs_full(&payday) && !whole.needs_full(&payday));
    partial.apply(&payday).unwrap_or_else(|e| panic!("{e}"));
    let mut all = setup.clone();
    all.extend(payday);
    let reference = fold_records(all, Query::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(digest(partial.state()), digest(&reference));
    // A back-dated record needs the whole book: refused before anything changes.
    let back = records(
        &[r#"{"type":"payroll","date":"2026-01-09","employee":"E1","gross_pay":"500.00"}"#],
        11,
    );
    assert!(partial.needs_full(&back));
    let before = digest(partial.state());
    assert!(partial.apply(&back).is_err());
    assert_eq!(digest(partial.state()), before);
    assert!(!partial.is_spoiled());
    // A refusal in the middle of an in-order batch spoils it (the whole book refolds; a
    // partial one cannot).
    let bad = records(
        &[
            r#"{"type":"market_price","date":"2026-01-31","closes":["13.00"]}"#,
            r#"{"type":"payroll","date":"2026-01-31","employee":"NOBODY","gross_pay":"1.00"}"#,
        ],
        11,
    );
    assert!(!partial.needs_full(&bad));
    assert!(partial.apply(&bad).is_err());
    assert!(partial.is_spoiled());
    let fine = records(
        &[r#"{"type":"market_price","date":"2026-01-31","closes":["13.00"]}"#],
        11,
    );
    assert!(
        partial.apply(&fine).is_err(),
        "a spoiled book folds nothing"
    );
}

#[test]
fn a_partial_book_folds_a_purchase_in_order_and_encodes_its_closed_books() {
    // A purchase payday as a payroll feed sends it: a price before the purchase's day, the
    // purchase, then a price and a payroll after it. The partial book folds it without the
    // closed books or the tail, and leaves the closed books' checkpoint parts and tail as
    // `Book::load` of the whole log has them.
    let setup = records(SETUP, 1);
    let loaded = Book::load(setup.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut partial = Book::partial(loaded.state().clone(), loaded.wall());
    let payday = records(
        &[
            r#"{"type":"market_price","date":"2026-01-31","closes":["12.50"]}"#,
            r#"{"type":"purchase","date":"2026-01-31","period":"P1"}"#,
            r#"{"type":"market_price","date":"2026-02-02","closes":["11.00"]}"#,
            r#"{"type":"payroll","date":"2026-02-13","employee":"E1","gross_pay":"1000.00"}"#,
        ],
        10,
    );
    assert!(!partial.needs_full(&payday));
    partial.apply(&payday).unwrap_or_else(|e| panic!("{e}"));
    assert!(partial.is_partial());
    let mut all = setup;
    all.extend(payday.iter().cloned());
    let whole = Book::load(all.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(partial.wall(), whole.wall());
    assert_eq!(digest(partial.state()), digest(whole.state()));
    // One more in-order batch: its records join the closed books' tail.
    let later = records(
        &[r#"{"type":"market_price","date":"2026-02-16","closes":["11.50"]}"#],
        14,
    );
    partial.apply(&later).unwrap_or_else(|e| panic!("{e}"));
    all.extend(later.iter().cloned());
    let whole = Book::load(all.clone()).unwrap_or_else(|e| panic!("{e}"));
    let closed = partial
        .take_closed()
        .unwrap_or_else(|| panic!("no closed books"));
    assert_eq!(
        closed.left_out,
        vec![12, 13, 14],
        "dated after the purchase's day"
    );
    assert_eq!(closed.left_out, whole.tail_seqs());
    assert_eq!(
        (closed.parts, closed.list),
        espp_replay::checkpoint::encode_parts(whole.closed())
    );
    assert_eq!(closed.day, whole.closed().day());
    assert!(partial.take_closed().is_none(), "taken once");
    // E1 bought 11 shares at 8.50 (0.85 × min(10.00, 12.50)), then 10% of 1000.00 more.
    let e1 = &partial.state().projection(None)["employees"]["E1"];
    assert_eq!(e1["shares_held"], "11");
    assert_eq!(e1["balance"], "106.50");
    // A back-dated record (after the new wall, before the latest day) needs the whole book.
    let back = records(
        &[r#"{"type":"payroll","date":"2026-02-06","employee":"E1","gross_pay":"500.00"}"#],
        15,
    );
    assert!(partial.needs_full(&back));
    let reference = fold_records(all, Query::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(digest(partial.state()), digest(&reference));
}
