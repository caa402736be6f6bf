//! Test records: JSON lines chained into records with fixed ids, instant and actor.

use espp_events::{parse_line, Actor, Hash, Instant, Line, Record};
use uuid::Uuid;

/// Chains JSON lines into records numbered from `first_seq`.
pub fn records(lines: &[&str], first_seq: u64) -> Vec<Record> {
    let at = Instant::parse("2026-01-02T09:00:00Z").unwrap_or_else(|e| panic!("{e}"));
    let actor = Actor::new("test").unwrap_or_else(|e| panic!("{e}"));
    lines
        .iter()
        .zip(first_seq..)
        .map(|(l, seq)| match parse_line(l) {
            Ok(Line::Bare(e)) => Record::chain(
                seq,
                Uuid::from_u128(u128::from(seq)),
                e.date,
                at,
                actor.clone(),
                Hash::ZERO,
                e.event,
            ),
            other => panic!("{l}: {other:?}"),
        })
        .collect()
}
