//! A hand decoder of a stored record's `(date, event)` part for its commonest event, `payroll`
//! (issue 15: `verify` decodes every record, and a payroll line is nearly all of a ledger):
//! bincode's standard encoding read directly, where serde's visitors take a call per byte of
//! the amount's 16.
//!
//! It reads only what it is sure of: the canonical varints (the shortest form) of a day
//! number that is not negative, a `payroll` variant, an employee id of at most 250 bytes that
//! passes the id check, and an amount that passes money's check. Anything else (another
//! event, a longer form, a value refused) answers `None`, and [`crate::decode_part`] then
//! decodes the bytes as it always did, with its own error: the fast path never decides that
//! bytes are wrong. Tested against `decode_part` on random events and on random changes to
//! their bytes (`tests` below).

use rust_decimal::Decimal;

use crate::value::{Day, EmployeeId, Money};
use crate::Event;

/// `payroll`'s serde variant index: its place in the catalogue (the enum's order).
const PAYROLL: usize = crate::event::position(Event::TYPES, "payroll");

/// A canonical bincode varint of at most 32 bits at the start of `bytes`: its value and
/// length. None for a longer or non-shortest form.
fn varint_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    match *bytes.first()? {
        b @ 0..=250 => Some((u32::from(b), 1)),
        251 => {
            let v = u16::from_le_bytes(bytes.get(1..3)?.try_into().ok()?);
            (v >= 251).then_some((u32::from(v), 3))
        }
        252 => {
            let v = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?);
            (v > u32::from(u16::MAX)).then_some((v, 5))
        }
        _ => None,
    }
}

/// The `(date, event)` part at the start of `bytes` and its length, if it is a payroll event
/// this decoder is sure of (see the module's doc); else None.
pub(crate) fn payroll(bytes: &[u8]) -> Option<((Day, Event), usize)> {
    // The day: an i32, zigzag then varint; an even code is a day number not negative.
    let (zigzag, mut at) = varint_u32(bytes)?;
    if zigzag % 2 != 0 {
        return None;
    }
    let date = Day::from_days_from_ce(i32::try_from(zigzag / 2).ok()?)?;
    let (variant, n) = varint_u32(bytes.get(at..)?)?;
    at += n;
    if usize::try_from(variant).ok()? != PAYROLL {
        return None;
    }
    // The employee id: a string, its length a varint (one byte up to 250).
    let len = usize::from(*bytes.get(at).filter(|b| **b <= 250)?);
    at += 1;
    let id = std::str::from_utf8(bytes.get(at..at + len)?).ok()?;
    let employee = EmployeeId::from_checked(id).ok()?;
    at += len;
    // The amount: rust_decimal's 16 bytes, one byte each.
    let amount: [u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
    at += 16;
    let gross_pay = Money::new(Decimal::deserialize(amount)).ok()?;
    Some((
        (
            date,
            Event::Payroll {
                employee,
                gross_pay,
            },
        ),
        at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_part, encode_part};
    use proptest::prelude::*;

    fn payroll_part(day: i32, id: &str, mantissa: i64, scale: u32) -> Option<Vec<u8>> {
        let date = Day::from_days_from_ce(day)?;
        let employee = EmployeeId::new(id).ok()?;
        let gross_pay = Money::new(Decimal::new(mantissa, scale)).ok()?;
        let mut out = Vec::new();
        encode_part(
            &(
                date,
                Event::Payroll {
                    employee,
                    gross_pay,
                },
            ),
            &mut out,
        );
        Some(out)
    }

    /// What the fast path gives, if anything, is what bincode gives.
    fn agrees(bytes: &[u8]) -> Result<bool, TestCaseError> {
        let Some(fast) = payroll(bytes) else {
            return Ok(false);
        };
        let slow = decode_part::<(Day, Event)>(bytes);
        prop_assert_eq!(Ok(fast), slow);
        Ok(true)
    }

    #[test]
    fn a_typical_payroll_part_takes_the_fast_path() {
        let bytes = payroll_part(739_000, "E000123", 375_257, 2).expect("a payroll part");
        assert_eq!(
            payroll(&bytes),
            Some(decode_part::<(Day, Event)>(&bytes).expect("decodes"))
        );
        // Another event does not.
        let mut other = Vec::new();
        let date = Day::from_days_from_ce(739_000).expect("a day");
        encode_part(&(date, Event::StockholdersApproved {}), &mut other);
        assert_eq!(payroll(&other), None);
    }

    proptest! {
        #[test]
        fn payroll_parts_decode_as_bincode_decodes_them(
            day in prop_oneof![0i32..300, 0i32..70_000, 700_000i32..800_000, any::<i32>()],
            id in "[A-Za-z0-9._-]{1,30}",
            mantissa in prop_oneof![0i64..1_000_000, any::<i64>()],
            scale in 0u32..4,
        ) {
            if let Some(bytes) = payroll_part(day, &id, mantissa, scale) {
                // A day before CE is left to bincode.
                prop_assert_eq!(agrees(&bytes)?, day >= 0, "a valid payroll part takes the fast path");
                // A trailing byte is left for the caller, as bincode leaves it.
                let mut longer = bytes.clone();
                longer.push(7);
                agrees(&longer)?;
            }
        }

        #[test]
        fn altered_payroll_parts_decode_as_bincode_decodes_them_or_go_to_it(
            day in 700_000i32..800_000,
            id in "[A-Z0-9]{1,12}",
            mantissa in 0i64..1_000_000,
            changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            if let Some(mut bytes) = payroll_part(day, &id, mantissa, 2) {
                for (at, b) in changes {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
                agrees(&bytes)?;
                agrees(&bytes[..cut.index(bytes.len())])?;
            }
        }
    }
}
