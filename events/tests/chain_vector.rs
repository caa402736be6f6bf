//! The hash-chain test vector of INTERCHANGE.md (`shared/spec/vectors/chain.*`, copied into
//! `tests/data/`): hashes, canonical JSON and the refusal of an altered value.

use espp_events::{parse_line, Hash, Line, Record};

const VECTOR: &str = include_str!("data/chain.jsonl");

fn records(text: &str) -> Vec<Record> {
    text.lines()
        .map(|l| match parse_line(l) {
            Ok(Line::Enveloped(r)) => r,
            other => panic!("not an enveloped record: {other:?}"),
        })
        .collect()
}

#[test]
fn the_vector_hashes_as_published() {
    let rs = records(VECTOR);
    let expected = [
        "9d06a0ed3df15943ef6308370f849d07092f34c6063e0b8086451763080b6198",
        "ff613d60ea1ede085e28b3efeb19a208fd21b8430782eff2ff914b49879544a2",
        "16553a2e4f27f018ad1943173cd5d0271d393c869a02b45fe2b076ddc1d3e641",
    ];
    let mut prev = Hash::ZERO;
    for (r, want) in rs.iter().zip(expected) {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(r.compute_hash().to_string(), want, "seq {}", r.seq);
        assert_eq!(r.hash.to_string(), want);
        prev = r.hash;
    }
}

#[test]
fn canonical_json_is_the_published_one() {
    let rs = records(VECTOR);
    assert_eq!(
        rs[2].canonical_json(),
        r#"{"actor":"payroll-feed","date":"2026-01-15","employee":"E1","gross_pay":"4000.00","id":"0193f0a4-7c00-7000-8000-000000000003","prev_hash":"ff613d60ea1ede085e28b3efeb19a208fd21b8430782eff2ff914b49879544a2","recorded_at":"2026-01-15T17:30:00Z","seq":3,"type":"payroll"}"#
    );
}

#[test]
fn export_gives_the_same_objects_back() {
    for (line, r) in VECTOR.lines().zip(records(VECTOR)) {
        let original: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        assert_eq!(r.to_json(), original);
    }
}

#[test]
fn an_altered_value_breaks_its_hash() {
    let altered = VECTOR.replace("\"4000.00\"", "\"4000.01\"");
    let rs = records(&altered);
    assert_eq!(rs[2].seq, 3);
    assert_ne!(rs[2].compute_hash(), rs[2].hash);
    assert_eq!(rs[1].compute_hash(), rs[1].hash);
}
