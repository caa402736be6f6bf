//! The direct writer of a record's canonical JSON (`Record::write_canonical_json`, what the
//! hash chain covers) against the first one, through a `serde_json::Value` of the whole record
//! (`Record::canonical_json_via_value`, kept as the oracle): the same bytes for random events
//! of every type of the catalogue — decimals at every scale, strings that need escaping,
//! optional fields present and absent, nested rules — and random envelopes; and the exported
//! line written the same way (`Record::write_exported_json`) against `to_json()` printed.

use std::cell::RefCell;

use espp_events::catalogue::{FieldSpec, Kind};
use espp_events::{parse_line, Actor, Event, Hash, Instant, Line, Record, RulesPatch};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use uuid::Uuid;

/// Random material for one field; [`value`] turns it into JSON of the field's kind.
#[derive(Debug, Clone)]
struct Slot {
    present: bool,
    a: u64,
    b: u64,
    scale: u8,
    text: String,
    items: Vec<(u64, u8)>,
}

/// Characters that need escaping, or that look like they might, and ordinary ones.
fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        Just('"'),
        Just('\\'),
        Just('/'),
        Just('é'),
        Just('\u{2028}'),
        Just('✓'),
        Just('😀'),
        Just('\u{7f}'),
        Just('\n'),
        proptest::char::range('a', 'z'),
        any::<char>(),
    ];
    prop::collection::vec(ch, 0..24).prop_map(|cs| cs.into_iter().collect())
}

fn slot() -> impl Strategy<Value = Slot> {
    (
        any::<bool>(),
        any::<u64>(),
        any::<u64>(),
        0u8..8,
        text(),
        prop::collection::vec((any::<u64>(), 0u8..6), 1..4),
    )
        .prop_map(|(present, a, b, scale, text, items)| Slot {
            present,
            a,
            b,
            scale,
            text,
            items,
        })
}

/// A decimal string from `a` (the integer part) and `b` (the fraction's digits), with
/// `scale` places (trailing zeros kept: the scale is part of what is hashed).
fn decimal(a: u64, b: u64, scale: u8, max_scale: u8) -> String {
    let int = a % 10u64.pow(1 + (a % 9) as u32);
    let scale = u32::from(scale % (max_scale + 1));
    if scale == 0 {
        int.to_string()
    } else {
        let frac = b % 10u64.pow(scale);
        format!("{int}.{frac:0width$}", width = scale as usize)
    }
}

fn id(a: u64) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    let len = 1 + (a % 12) as usize;
    (0..len)
        .map(|i| CHARS[((a >> (i * 5)) as usize + i) % CHARS.len()] as char)
        .collect()
}

fn day(a: u64) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        2000 + a % 100,
        1 + (a / 100) % 12,
        1 + (a / 1200) % 28
    )
}

/// The JSON value of a field of kind `kind` from `s` (`rules` for a nested rules object).
fn value(kind: Kind, s: &Slot, rules: &[Slot]) -> serde_json::Value {
    use serde_json::Value as V;
    let string = V::String;
    match kind {
        Kind::Money => string(decimal(s.a, s.b, s.scale, 2)),
        Kind::PerShare | Kind::Shares | Kind::Quantity => string(decimal(s.a, s.b, s.scale, 7)),
        Kind::Fraction => string(if s.a.is_multiple_of(4) {
            decimal(1, 0, s.scale, 4)
        } else {
            decimal(0, s.b, s.scale.max(1), 6)
        }),
        Kind::Ratio => string(if s.a.is_multiple_of(2) {
            format!("{}:{}", 1 + s.a % 7, 1 + s.b % 5)
        } else {
            decimal(s.a, s.b, s.scale, 3)
        }),
        Kind::Day => string(day(s.a)),
        Kind::EmployeeId | Kind::PeriodId => string(id(s.a)),
        Kind::Text | Kind::Actor => string(s.text.clone()),
        Kind::Bool => V::Bool(s.a.is_multiple_of(2)),
        Kind::Count => V::from(s.a % 1201),
        Kind::Seq => V::from(1 + s.a % 1_000_000),
        Kind::Instant => string(format!("{}T09:30:{:02}Z", day(s.a), s.b % 60)),
        Kind::Uuid => string(Uuid::from_u128(u128::from(s.a) << 64 | 1).to_string()),
        Kind::Hash => string(Hash([s.a as u8; 32]).to_string()),
        Kind::Choice(names) => string(names[(s.a % names.len() as u64) as usize].to_string()),
        Kind::PriceList => V::Array(
            s.items
                .iter()
                .map(|&(a, scale)| string(decimal(a, a / 7, scale, 5)))
                .collect(),
        ),
        Kind::Rules => {
            let mut m = serde_json::Map::new();
            for (spec, s) in RulesPatch::SPECS.iter().zip(rules) {
                if s.present {
                    m.insert(spec.name.to_string(), value(spec.kind, s, &[]));
                }
            }
            V::Object(m)
        }
    }
}

/// An event line of `type_name` with `fields` filled from `slots`.
fn line(
    type_name: &str,
    fields: &[FieldSpec],
    date: &Slot,
    slots: &[Slot],
    rules: &[Slot],
) -> String {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), type_name.into());
    m.insert("date".into(), day(date.a).into());
    for (f, s) in fields.iter().zip(slots) {
        if !f.optional || s.present {
            m.insert(f.name.to_string(), value(f.kind, s, rules));
        }
    }
    serde_json::Value::Object(m).to_string()
}

#[derive(Debug, Clone)]
struct Material {
    date: Slot,
    slots: Vec<Slot>,
    rules: Vec<Slot>,
    actor: String,
    seq: u64,
    id: u128,
    nanos: u64,
    prev: [u8; 32],
}

fn material() -> impl Strategy<Value = Material> {
    (
        slot(),
        prop::collection::vec(slot(), 8),
        prop::collection::vec(slot(), RulesPatch::SPECS.len()),
        prop_oneof![text(), Just("payroll-feed".to_string())],
        1u64..u64::MAX,
        1u128..u128::MAX,
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(date, slots, rules, actor, seq, id, nanos, prev)| Material {
                date,
                slots,
                rules,
                actor,
                seq,
                id,
                nanos,
                prev,
            },
        )
}

/// Every event type, from random material: the two writers agree on every record that
/// parses, and every type parses from some of the material.
#[test]
fn direct_canonical_json_is_the_value_rendering() {
    let checked = RefCell::new(vec![0usize; Event::CATALOGUE.len()]);
    let mut runner = TestRunner::deterministic();
    let result = runner.run(&material(), |m| {
        let actor = Actor::new(m.actor.clone())
            .or_else(|_| Actor::new("payroll-feed"))
            .expect("a plain actor");
        // Whole seconds, milliseconds, microseconds or nanoseconds: 0, 3, 6 or 9 digits.
        let unit = [1_000_000_000, 1_000_000, 1_000, 1][(m.nanos % 4) as usize];
        let nanos =
            1_700_000_000_000_000_000 + (m.nanos % 1_000_000_000_000_000_000 / unit * unit) as i64;
        let at = Instant::from_datetime(chrono::DateTime::from_timestamp_nanos(nanos))
            .expect("an instant");
        for (i, spec) in Event::CATALOGUE.iter().enumerate() {
            let text = line(spec.type_name, spec.fields, &m.date, &m.slots, &m.rules);
            let Ok(Line::Bare(input)) = parse_line(&text) else {
                continue;
            };
            let r = Record::chain(
                m.seq,
                Uuid::from_u128(m.id),
                input.date,
                at,
                actor.clone(),
                Hash(m.prev),
                input.event,
            );
            let direct = r.canonical_json();
            prop_assert_eq!(&direct, &r.canonical_json_via_value(), "{}", text);
            // And what the hash covers is that text.
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            sha2::Digest::update(&mut hasher, format!("{}\n{direct}", r.prev_hash));
            prop_assert_eq!(r.hash.0, <[u8; 32]>::from(sha2::Digest::finalize(hasher)));
            // The exported line, written the same way, is the exported object printed.
            let mut exported = Vec::new();
            r.write_exported_json(&mut exported);
            prop_assert_eq!(
                String::from_utf8(exported).unwrap_or_default(),
                r.to_json().to_string(),
                "{}",
                text
            );
            checked.borrow_mut()[i] += 1;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    for (spec, n) in Event::CATALOGUE.iter().zip(checked.borrow().iter()) {
        assert!(*n >= 5, "{}: only {n} random events parsed", spec.type_name);
    }
}
