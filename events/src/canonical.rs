//! The canonical JSON a record's hash covers, written directly in a key order fixed per
//! event type (issue 15: `verify` hashes every record, and sorting each record's keys and
//! looking at every key's bytes for escapes was a third of what the hashing cost).
//!
//! The bytes are exactly `serde_json`'s of the exported object without `hash`
//! ([`Record::canonical_json_via_value`], the oracle of `events/tests/canonical_json.rs`):
//! keys sorted bytewise, no whitespace. An event's keys are its type's envelope keys and
//! catalogue fields, so their sorted order is the same for every record of the type: it is
//! worked out once per type ([`plans`]), with each key's text (`"key":`) escaped then, and a
//! record's fields are written in that order, those absent skipped (leaving a key out does
//! not change the order of the others). A type whose field is named like an envelope key (an
//! event field would replace it in the exported object) or with more fields than a record
//! holds here is written the old way, through a `serde_json::Value`.

use std::cell::Cell;
use std::sync::OnceLock;

use crate::json::{write_json_str, write_json_text, JsonField as _, JsonText as _, WriteField};
use crate::{Day, Event, Instant, Record};

/// The most fields of one event type written directly (the catalogue's largest has seven).
const MOST_FIELDS: usize = 16;

/// What goes under one key.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Actor,
    Date,
    /// `hash`: written only for the exported line, never into the hash's own input.
    Hash,
    Id,
    PrevHash,
    RecordedAt,
    Seq,
    /// `type`: its value is fixed per type, written with the key.
    Type,
    /// The event's field at this place in declaration order (the order of
    /// `Event::visit_fields`).
    Field(usize),
}

/// One event type's keys in canonical order, each with its text: `"key":` (for `type`, the
/// value too). None when the type is written through a `Value` (see the module's doc).
type Plan = Option<Vec<(Slot, Vec<u8>)>>;

/// The plan of every type, in catalogue order: built on first use.
fn plans() -> &'static [Plan] {
    static PLANS: OnceLock<Vec<Plan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        Event::CATALOGUE
            .iter()
            .map(|spec| {
                if spec.fields.len() > MOST_FIELDS {
                    return None;
                }
                let mut keys: Vec<(&str, Slot)> = vec![
                    ("actor", Slot::Actor),
                    ("date", Slot::Date),
                    ("hash", Slot::Hash),
                    ("id", Slot::Id),
                    ("prev_hash", Slot::PrevHash),
                    ("recorded_at", Slot::RecordedAt),
                    ("seq", Slot::Seq),
                    ("type", Slot::Type),
                ];
                keys.extend(
                    spec.fields
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (f.name, Slot::Field(i))),
                );
                keys.sort_by_key(|k| k.0);
                if keys.windows(2).any(|w| w[0].0 == w[1].0) {
                    return None;
                }
                Some(
                    keys.into_iter()
                        .map(|(key, slot)| {
                            let mut text = Vec::with_capacity(key.len() + 24);
                            write_json_str(&mut text, key);
                            text.push(b':');
                            if let Slot::Type = slot {
                                write_json_str(&mut text, spec.type_name);
                            }
                            (slot, text)
                        })
                        .collect(),
                )
            })
            .collect()
    })
}

/// Appends `n` in decimal, as `Display` writes it.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `"` + what `f` writes + `"`: a text that needs no escaping.
fn quoted(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    f(out);
    out.push(b'"');
}

thread_local! {
    /// The last day and instant written on this thread and their text: the records of one
    /// chunk mostly share both (one payday, one append).
    static LAST_DAY: Cell<Option<(Day, [u8; 10])>> = const { Cell::new(None) };
    static LAST_AT: Cell<Option<(Instant, [u8; 40], u8)>> = const { Cell::new(None) };
}

/// Appends `"` + the day's text + `"`.
fn write_day(out: &mut Vec<u8>, day: Day) {
    out.push(b'"');
    match LAST_DAY.get() {
        Some((d, text)) if d == day => out.extend_from_slice(&text),
        _ => {
            let start = out.len();
            day.write_text(out);
            if let Ok(text) = <[u8; 10]>::try_from(&out[start..]) {
                LAST_DAY.set(Some((day, text)));
            }
        }
    }
    out.push(b'"');
}

/// Appends `"` + the instant's text + `"`.
fn write_instant(out: &mut Vec<u8>, at: Instant) {
    out.push(b'"');
    match LAST_AT.get() {
        Some((a, text, len)) if a == at => out.extend_from_slice(&text[..usize::from(len)]),
        _ => {
            let start = out.len();
            at.write_text(out);
            let written = &out[start..];
            let mut text = [0u8; 40];
            if let (Some(to), Ok(len)) =
                (text.get_mut(..written.len()), u8::try_from(written.len()))
            {
                to.copy_from_slice(written);
                LAST_AT.set(Some((at, text, len)));
            }
        }
    }
    out.push(b'"');
}

/// Appends `r`'s canonical JSON to `out`; `prev_hex` is `r.prev_hash` in lowercase hex (the
/// hash's input starts with it too: encoded once). With `hash_hex` (`r.hash` in hex), the
/// exported line's object instead: the same with `hash` in its place (`espp export`).
pub(crate) fn write(
    r: &Record,
    prev_hex: &[u8; 64],
    hash_hex: Option<&[u8; 64]>,
    out: &mut Vec<u8>,
) {
    if let Event::Payroll {
        employee,
        gross_pay,
    } = &r.event
    {
        // Nearly every record: its keys written in their order without the plan's loop
        // (the oracle test checks this order as every other type's).
        out.reserve(320);
        out.extend_from_slice(b"{\"actor\":");
        write_json_text(out, &r.actor);
        out.extend_from_slice(b",\"date\":");
        write_day(out, r.date);
        out.extend_from_slice(b",\"employee\":");
        employee.write_json(out);
        out.extend_from_slice(b",\"gross_pay\":");
        gross_pay.write_json(out);
        if let Some(hash) = hash_hex {
            out.extend_from_slice(b",\"hash\":\"");
            out.extend_from_slice(hash);
            out.push(b'"');
        }
        out.extend_from_slice(b",\"id\":");
        quoted(out, |out| r.id.write_text(out));
        out.extend_from_slice(b",\"prev_hash\":\"");
        out.extend_from_slice(prev_hex);
        out.extend_from_slice(b"\",\"recorded_at\":");
        write_instant(out, r.recorded_at);
        out.extend_from_slice(b",\"seq\":");
        write_u64(out, r.seq);
        out.extend_from_slice(b",\"type\":\"payroll\"}");
        return;
    }
    let plan = plans().get(r.event.type_index()).and_then(Option::as_ref);
    let mut fields: [Option<&dyn WriteField>; MOST_FIELDS] = [None; MOST_FIELDS];
    let mut n = 0;
    r.event.visit_fields(&mut |_, v| {
        if let Some(f) = fields.get_mut(n) {
            *f = Some(v);
        }
        n += 1;
    });
    let Some(plan) = plan.filter(|_| n <= MOST_FIELDS) else {
        let text = match hash_hex {
            Some(_) => r.to_json().to_string(),
            None => r.canonical_json_via_value(),
        };
        out.extend_from_slice(text.as_bytes());
        return;
    };
    out.reserve(320);
    out.push(b'{');
    let mut first = true;
    for (slot, key) in plan {
        let field = match slot {
            Slot::Field(i) => match fields.get(*i).copied().flatten() {
                Some(v) if v.is_set() => Some(v),
                _ => continue,
            },
            Slot::Hash if hash_hex.is_none() => continue,
            _ => None,
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(key);
        match slot {
            Slot::Actor => write_json_text(out, &r.actor),
            Slot::Date => write_day(out, r.date),
            Slot::Hash => {
                if let Some(hash) = hash_hex {
                    quoted(out, |out| out.extend_from_slice(hash));
                }
            }
            Slot::Id => quoted(out, |out| r.id.write_text(out)),
            Slot::PrevHash => quoted(out, |out| out.extend_from_slice(prev_hex)),
            Slot::RecordedAt => write_instant(out, r.recorded_at),
            Slot::Seq => write_u64(out, r.seq),
            Slot::Type => {}
            Slot::Field(_) => {
                if let Some(v) = field {
                    v.put_json(out);
                }
            }
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_plan_and_its_index() {
        let plans = plans();
        for (i, spec) in Event::CATALOGUE.iter().enumerate() {
            let plan = plans[i].as_ref().expect("every type is written directly");
            assert_eq!(plan.len(), 8 + spec.fields.len(), "{}", spec.type_name);
            assert_eq!(Event::TYPES[i], spec.type_name);
        }
    }

    #[test]
    fn integers_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
