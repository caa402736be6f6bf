//! Fuzzing of the two doors into the catalogue — the JSON line parser and the stored-record
//! decoder — as proptest targets: arbitrary input, and valid input with bytes flipped, cut,
//! inserted or duplicated, must give a value or an error, never a panic, and whatever parses
//! must round-trip. A short run is part of the suite; a long one is
//! `PROPTEST_CASES=200000 cargo test --release -p espp-events --test fuzz` (README). Failures
//! proptest finds are saved under `proptest-regressions/` and replayed first on every run:
//! keep them in the repository.

use espp_events::{decode, encode, parse_line, Line};
use proptest::prelude::*;

/// The golden records of every event type: (type, stored bytes).
fn golden() -> Vec<Vec<u8>> {
    include_str!("data/golden-records-v1.txt")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(_, hex)| hex::decode(hex.trim()).expect("golden hex"))
        .collect()
}

/// One valid JSON line of every event type: the golden records as exported.
fn valid_lines() -> Vec<String> {
    golden()
        .iter()
        .map(|b| {
            decode(b)
                .expect("a golden record decodes")
                .to_json()
                .to_string()
        })
        .collect()
}

/// A change to a byte string: flip, cut, insert, duplicate a slice.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, u8),
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *m {
        Mutation::Flip(i, x) => bytes[i % n] ^= x,
        Mutation::Cut(i) => bytes.truncate(i % n),
        Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
        Mutation::Repeat(i, len) => {
            let start = i % n;
            let end = (start + len).min(n);
            let slice = bytes[start..end].to_vec();
            bytes.splice(start..start, slice);
        }
    }
}

/// A parsed line must come back from its own JSON unchanged.
fn round_trips(line: &Line) {
    let json = match line {
        Line::Bare(e) => e.to_json(),
        Line::Enveloped(r) => r.to_json(),
    };
    let again = parse_line(&json.to_string()).expect("what parsed, printed, parses");
    assert_eq!(&again, line);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn the_parser_takes_any_text(text in any::<String>()) {
        if let Ok(line) = parse_line(&text) {
            round_trips(&line);
        }
    }

    #[test]
    fn the_parser_takes_any_damaged_line(
        which in any::<prop::sample::Index>(),
        ms in prop::collection::vec(mutation(), 1..4),
    ) {
        let lines = valid_lines();
        let mut bytes = which.get(&lines).clone().into_bytes();
        for m in &ms {
            mutate(&mut bytes, m);
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(line) = parse_line(text) {
                round_trips(&line);
            }
        }
    }

    #[test]
    fn the_decoder_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = decode(&bytes) {
            prop_assert_eq!(decode(&encode(&r)).ok(), Some(r));
        }
    }

    #[test]
    fn the_decoder_takes_any_damaged_record(
        which in any::<prop::sample::Index>(),
        ms in prop::collection::vec(mutation(), 1..4),
    ) {
        let records = golden();
        let mut bytes = which.get(&records).clone();
        for m in &ms {
            mutate(&mut bytes, m);
        }
        if let Ok(r) = decode(&bytes) {
            // Whatever decodes re-encodes to bytes that decode to the same record.
            prop_assert_eq!(decode(&encode(&r)).ok(), Some(r));
        }
    }
}
