//! Fuzzing of the CSV importers: any bytes, and valid payroll and price files with bytes
//! flipped, cut or inserted, give events or refusals naming a line, never a panic; a row
//! refused names a line that exists in the file. A short run is part of the suite; a long
//! one is `PROPTEST_CASES=100000 cargo test --release -p espp-engine --test fuzz_csv`.

use espp_engine::import::{read_csv, Kind};
use proptest::prelude::*;

const PAYROLL: &str = "employee,date,gross_pay,run\nE1,2026-01-16,4000.00,\nE2,2026-01-16,1234.56,bonus\n\n\"E3\",2026-01-30,0.00,regular\r\n";
const PRICES: &str = "date,close,bid,ask,high,low\n2026-01-02,10.00,,,,\n2026-01-30,,11.00,11.50,,\n2026-02-02,,,,12,11\n";

/// Lines as a person's editor counts them: broken by `\n`, `\r\n` or a lone `\r`.
fn lines_in(bytes: &[u8]) -> usize {
    let lone_cr = bytes
        .windows(2)
        .filter(|w| w[0] == b'\r' && w[1] != b'\n')
        .count()
        + usize::from(bytes.last() == Some(&b'\r'));
    bytes.iter().filter(|b| **b == b'\n').count() + lone_cr + 1
}

fn check(kind: Kind, bytes: &[u8]) {
    match read_csv(kind, bytes, |_| {}) {
        Ok((events, refusals)) => {
            let last = lines_in(bytes);
            for (line, _) in &events {
                assert!((2..=last).contains(line), "event on line {line} of {last}");
            }
            for (line, _) in refusals.listed() {
                assert!(
                    (1..=last).contains(line),
                    "refusal on line {line} of {last}"
                );
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn any_bytes_import_or_refuse(bytes in prop::collection::vec(any::<u8>(), 0..400), prices in any::<bool>()) {
        check(if prices { Kind::Prices } else { Kind::Payroll }, &bytes);
    }

    #[test]
    fn damaged_files_import_or_refuse(
        prices in any::<bool>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let (kind, text) = if prices { (Kind::Prices, PRICES) } else { (Kind::Payroll, PAYROLL) };
        let mut bytes = text.as_bytes().to_vec();
        for (at, b, op) in edits {
            let n = bytes.len().max(1);
            match op {
                0 if !bytes.is_empty() => bytes[at % n] = b,
                1 => bytes.truncate(at % n),
                _ => bytes.insert(at % (bytes.len() + 1), b),
            }
        }
        check(kind, &bytes);
    }
}

#[test]
fn the_valid_files_import_whole() {
    let (events, refusals) = read_csv(Kind::Payroll, PAYROLL.as_bytes(), |_| {}).expect("reads");
    assert!(refusals.is_empty(), "{refusals}");
    assert_eq!(
        events.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![2, 3, 5]
    );
    let (events, refusals) = read_csv(Kind::Prices, PRICES.as_bytes(), |_| {}).expect("reads");
    assert!(refusals.is_empty(), "{refusals}");
    assert_eq!(events.len(), 3);
}

/// Found by the fuzzer: a lone `\r` (an old Mac line end) ends a row for csv, so it ends a
/// line for the row numbers too (the row after it was numbered as line 1).
#[test]
fn regression_a_lone_carriage_return_ends_a_line() {
    let text = "date,close\r2026-01-02,10.00\r2026-01-05,x\n";
    let (events, refusals) = read_csv(Kind::Prices, text.as_bytes(), |_| {}).expect("reads");
    assert_eq!(events.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![2]);
    assert_eq!(refusals.first_line(), Some(3));
}
