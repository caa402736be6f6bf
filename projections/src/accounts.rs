//! An employee's per-period statement accounts ([`Accounts`]), kept as their checkpoint bytes
//! until something needs them decoded (issue 15: a payday's append decodes every employee
//! block of the accounts checkpoint, and the closed periods' accounts were most of what it
//! decoded and held: ~1.6 KB of map per employee, for figures that payday never reads).
//!
//! Design: a decoded state holds its accounts in two pieces, in key order.
//! - `closed`: every account but the latest, as the bytes bincode (standard configuration,
//!   serde mode) writes for those map entries: a pair is the day (an `i32`, zigzag varint),
//!   then the account's nine fields, a decimal being its sign-and-scale byte and its
//!   mantissa as a varint ([`crate::ser::Bytes`]), an optional one a 0 or 1 byte before it.
//!   Written by [`Accounts`]' own decoding from the values serde hands over (each checked as
//!   [`crate::ser::Bytes`] checks it), so it is always well formed, and re-encoding it is a
//!   copy.
//! - `open`: the latest account, and every one added since, decoded (a `Vec` in key order:
//!   an employee has one account a period). A payroll touches the open period's, the latest.
//!
//! Reading a closed account decodes it on the spot ([`Accounts::get`]); changing one, or
//! adding one dated on or before the latest closed, first decodes them all (rare: a
//! correction of an earlier period's figures). The bytes a state encodes to are the same as
//! with a `BTreeMap` (tested below), so the checkpoint format does not change, and a
//! projection never sees the difference.

use std::borrow::Cow;
use std::fmt;

use espp_events::Day;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::employee::Account;
use crate::parts_fast::Cursor;

/// The closed accounts' bytes (see the module's documentation).
#[derive(Clone, Default)]
struct Closed {
    /// The entries' bytes, without the map's length.
    bytes: Vec<u8>,
    /// How many entries.
    count: usize,
    /// The latest entry's day.
    last: Option<Day>,
}

/// An employee's accounts by the start of their period (see the module's documentation).
#[derive(Clone, Default)]
pub(crate) struct Accounts {
    closed: Closed,
    open: Vec<(Day, Account)>,
}

impl Accounts {
    /// No accounts.
    pub(crate) fn new() -> Self {
        Accounts::default()
    }

    /// Accounts from their parts: `closed`, the bytes of `count` closed accounts (checked
    /// by the caller as [`Accounts`]' own decoding checks them), the latest of them `last`;
    /// `open`, the rest, after `last`, in key order (`crate::parts_fast`).
    pub(crate) fn from_closed(
        closed: Vec<u8>,
        count: usize,
        last: Option<Day>,
        open: Vec<(Day, Account)>,
    ) -> Self {
        Accounts {
            closed: Closed {
                bytes: closed,
                count,
                last,
            },
            open,
        }
    }

    /// Where `start` is in `open` (as `binary_search`), looking at the latest first: a
    /// payroll's account is the latest, and a search's probes, 144 bytes apart, each cost
    /// a cache miss (a fold from scratch spent 8% of `verify` in them).
    fn find_open(&self, start: &Day) -> Result<usize, usize> {
        match self.open.last() {
            Some((last, _)) if last == start => Ok(self.open.len() - 1),
            Some((last, _)) if last < start => Err(self.open.len()),
            _ => self.open.binary_search_by_key(start, |(d, _)| *d),
        }
    }

    /// Whether `day` may be among the closed bytes.
    fn in_closed(&self, day: &Day) -> bool {
        self.closed.last.is_some_and(|last| *day <= last)
    }

    /// The account of the period starting `start`.
    pub(crate) fn get(&self, start: &Day) -> Option<Cow<'_, Account>> {
        if self.in_closed(start) {
            let mut r = Reader::new(&self.closed.bytes);
            for _ in 0..self.closed.count {
                let day = r.day();
                if day == *start {
                    return Some(Cow::Owned(r.account()));
                }
                if day > *start {
                    return None;
                }
                r.skip_account();
            }
            return None;
        }
        self.find_open(start)
            .ok()
            .and_then(|i| self.open.get(i))
            .map(|(_, a)| Cow::Borrowed(a))
    }

    /// Whether there is an account of the period starting `start`.
    pub(crate) fn contains_key(&self, start: &Day) -> bool {
        if self.in_closed(start) {
            let mut r = Reader::new(&self.closed.bytes);
            for _ in 0..self.closed.count {
                let day = r.day();
                if day >= *start {
                    return day == *start;
                }
                r.skip_account();
            }
            return false;
        }
        self.find_open(start).is_ok()
    }

    /// The account of the period starting `start`, to change.
    pub(crate) fn get_mut(&mut self, start: &Day) -> Option<&mut Account> {
        if self.in_closed(start) {
            self.decode_closed();
        }
        match self.find_open(start) {
            Ok(i) => self.open.get_mut(i).map(|(_, a)| a),
            Err(_) => None,
        }
    }

    /// The account of the period starting `start`, created empty on first use.
    pub(crate) fn entry(&mut self, start: Day) -> &mut Account {
        if self.in_closed(&start) {
            self.decode_closed();
        }
        let i = match self.find_open(&start) {
            Ok(i) => i,
            Err(i) => {
                self.open.insert(i, (start, Account::new()));
                i
            }
        };
        &mut self.open[i].1
    }

    /// Every account, decoded, in key order.
    fn decoded(&self) -> Vec<(Day, Cow<'_, Account>)> {
        let mut out = Vec::with_capacity(self.closed.count + self.open.len());
        let mut r = Reader::new(&self.closed.bytes);
        for _ in 0..self.closed.count {
            let day = r.day();
            out.push((day, Cow::Owned(r.account())));
        }
        out.extend(self.open.iter().map(|(d, a)| (*d, Cow::Borrowed(a))));
        out
    }

    /// Decodes the closed accounts into `open` (before one of them changes).
    fn decode_closed(&mut self) {
        let closed = std::mem::take(&mut self.closed);
        let mut r = Reader::new(&closed.bytes);
        let mut all = Vec::with_capacity(closed.count + self.open.len());
        for _ in 0..closed.count {
            let day = r.day();
            all.push((day, r.account()));
        }
        all.append(&mut self.open);
        self.open = all;
    }
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.decoded()).finish()
    }
}

/// A map's entry as a tuple element: bincode writes a map's entries one after the other, as
/// it writes a tuple's elements.
struct Entry<'a>(&'a Day, &'a Account);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0)?;
        t.serialize_element(self.1)?;
        t.end()
    }
}

impl Serialize for Accounts {
    /// A map, as `BTreeMap<Day, Account>` is. To bincode (the only format that is not human
    /// readable here), the same bytes written straight: the length, the closed accounts'
    /// bytes as they are (a tuple of bytes: bincode writes each `u8` as itself and a tuple
    /// without a length), then the open accounts.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = self.closed.count + self.open.len();
        if s.is_human_readable() {
            let mut m = s.serialize_map(Some(len))?;
            for (d, a) in self.decoded() {
                m.serialize_entry(&d, a.as_ref())?;
            }
            return m.end();
        }
        let mut t = s.serialize_tuple(1 + self.closed.bytes.len() + self.open.len())?;
        t.serialize_element(&(len as u64))?;
        for b in &self.closed.bytes {
            t.serialize_element(b)?;
        }
        for (d, a) in &self.open {
            t.serialize_element(&Entry(d, a))?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Accounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AccountsVisitor)
    }
}

struct AccountsVisitor;

impl<'de> Visitor<'de> for AccountsVisitor {
    type Value = Accounts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of accounts by day")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Accounts, A::Error> {
        // Keep the bytes only when the decoder says how many entries come (bincode does):
        // all but the last are closed.
        let closed_count = map.size_hint().unwrap_or(0).saturating_sub(1);
        let mut out = Accounts::new();
        // ~50 bytes an account (a day of 5, decimals of 2 to 5); trimmed to size below.
        let mut bytes = Vec::with_capacity(closed_count.saturating_mul(56).min(4096));
        while out.closed.count < closed_count {
            let Some(day) = map.next_key::<Day>()? else {
                break;
            };
            if out.closed.last.is_some_and(|last| day <= last) {
                return Err(de::Error::custom("accounts out of order"));
            }
            put_varint(&mut bytes, u128::from(zigzag(day.days_from_ce())));
            map.next_value_seed(AccountBytes(&mut bytes))?;
            out.closed.count += 1;
            out.closed.last = Some(day);
        }
        // Held for the state's life: no spare capacity (glibc shrinks a block in place).
        bytes.shrink_to_fit();
        out.closed.bytes = bytes;
        // What is left (bincode says), usually the latest account: not room for four.
        out.open.reserve_exact(map.size_hint().unwrap_or(0).min(16));
        while let Some(day) = map.next_key::<Day>()? {
            let account: Account = map.next_value()?;
            let last = out.open.last().map(|(d, _)| *d).or(out.closed.last);
            if last.is_some_and(|last| day <= last) {
                return Err(de::Error::custom("accounts out of order"));
            }
            out.open.push((day, account));
        }
        Ok(out)
    }
}

/// An [`Account`] read from a decoder and written as its bincode bytes (see the module's
/// documentation), each decimal checked as [`crate::ser::Bytes`] checks it.
struct AccountBytes<'a>(&'a mut Vec<u8>);

/// The fields of [`Account`], in order: is each optional?
pub(crate) const ACCOUNT_FIELDS: [bool; 9] =
    [false, false, false, false, true, true, false, false, true];

impl<'de> DeserializeSeed<'de> for AccountBytes<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        const NAMES: &[&str] = &[
            "deductions",
            "cash_payments",
            "refunds",
            "shares_bought",
            "price",
            "shares_held_end",
            "opening_balance",
            "cost",
            "carried",
        ];
        d.deserialize_struct("Account", NAMES, self)
    }
}

impl<'de> Visitor<'de> for AccountBytes<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an account")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let short = || de::Error::custom("an account's fields are missing");
        for optional in ACCOUNT_FIELDS {
            let dec = if optional {
                let v: Option<(u8, u128)> = seq.next_element()?.ok_or_else(short)?;
                self.0.push(u8::from(v.is_some()));
                v
            } else {
                Some(seq.next_element::<(u8, u128)>()?.ok_or_else(short)?)
            };
            if let Some((head, m)) = dec {
                if head & 0x7f > 28 || m >> 96 != 0 {
                    return Err(de::Error::custom("a decimal out of range"));
                }
                self.0.push(head);
                put_varint(self.0, m);
            }
        }
        Ok(())
    }
}

fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

/// bincode's varint: one byte below 251, else a marker and the value in 2, 4, 8 or 16
/// little-endian bytes, the shortest that holds it.
fn put_varint(out: &mut Vec<u8>, v: u128) {
    if v < 251 {
        out.push(v as u8);
    } else if let Ok(v) = u16::try_from(v) {
        out.push(251);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        out.push(252);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u64::try_from(v) {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(254);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Reads closed accounts' bytes with `parts_fast`'s cursor. They were checked when held
/// (by this module's decoding or by `parts_fast`), so they cannot be malformed: a failure
/// to read them is a bug, not bad input.
struct Reader<'a>(Cursor<'a>);

fn broken() -> ! {
    unreachable!("closed accounts checked when held do not read back")
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader(Cursor::new(bytes))
    }

    fn day(&mut self) -> Day {
        self.0.day().unwrap_or_else(|| broken())
    }

    fn account(&mut self) -> Account {
        self.0.account().unwrap_or_else(|| broken())
    }

    fn skip_account(&mut self) {
        self.0.skip_account().unwrap_or_else(|| broken())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;

    fn enc<T: Serialize>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
    }

    fn dec(bytes: &[u8]) -> Result<Accounts, String> {
        let (v, used) =
            bincode::serde::decode_from_slice::<Accounts, _>(bytes, bincode::config::standard())
                .map_err(|e| e.to_string())?;
        assert_eq!(used, bytes.len());
        Ok(v)
    }

    /// A `BTreeMap<Day, Account>` as the state held it before, with the same serde forms.
    #[derive(Serialize, Deserialize)]
    struct Eager(BTreeMap<Day, Account>);

    fn decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=28, any::<bool>(), any::<u8>()).prop_map(|(m, scale, wide, pick)| {
            let m = if wide {
                i128::from(m) << 30
            } else {
                i128::from(m % 1_000_000)
            };
            let mut d = Decimal::try_from_i128_with_scale(m, scale).unwrap();
            if pick % 7 == 0 {
                // A negative zero keeps its sign bit.
                d = Decimal::ZERO;
                d.set_sign_negative(true);
            }
            d
        })
    }

    fn account() -> impl Strategy<Value = Account> {
        (
            proptest::collection::vec(decimal(), 6),
            proptest::collection::vec(proptest::option::of(decimal()), 3),
        )
            .prop_map(|(d, o)| Account {
                deductions: d[0],
                cash_payments: d[1],
                refunds: d[2],
                shares_bought: d[3],
                price: o[0],
                shares_held_end: o[1],
                opening_balance: d[4],
                cost: d[5],
                carried: o[2],
            })
    }

    fn map() -> impl Strategy<Value = BTreeMap<Day, Account>> {
        proptest::collection::btree_map(
            (-800_000i32..800_000).prop_map(|n| Day::from_days_from_ce(n).unwrap()),
            account(),
            0..10,
        )
    }

    fn same(a: &Account, b: &Account) -> bool {
        enc(a) == enc(b) && format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn encodes_as_the_map_did(m in map()) {
            let bytes = enc(&Eager(m.clone()));
            let lazy = dec(&bytes).unwrap();
            prop_assert_eq!(enc(&lazy), bytes.clone());
            prop_assert_eq!(format!("{lazy:?}"), format!("{:?}", m));
            for (d, a) in &m {
                prop_assert!(lazy.contains_key(d));
                prop_assert!(same(&lazy.get(d).unwrap(), a));
                let before = d.add_days(-1).unwrap();
                prop_assert_eq!(lazy.contains_key(&before), m.contains_key(&before));
                prop_assert_eq!(lazy.get(&before).is_some(), m.contains_key(&before));
            }
            // Decoding the map the old way reads the same accounts.
            let (back, _) = bincode::serde::decode_from_slice::<Eager, _>(&enc(&lazy), bincode::config::standard()).unwrap();
            prop_assert_eq!(enc(&back), bytes);
        }

        #[test]
        fn changes_as_the_map_does(m in map(), picks in proptest::collection::vec((any::<u8>(), any::<bool>(), -3i64..3), 1..6), amount in decimal()) {
            let mut eager = m.clone();
            let mut lazy = dec(&enc(&Eager(m.clone()))).unwrap();
            let days: Vec<Day> = m.keys().copied().collect();
            for (pick, create, shift) in picks {
                let day = days
                    .get(usize::from(pick) % days.len().max(1))
                    .copied()
                    .unwrap_or_else(|| Day::from_days_from_ce(730_000).unwrap())
                    .add_days(shift)
                    .unwrap();
                if create {
                    eager.entry(day).or_insert_with(Account::new).refunds = amount;
                    lazy.entry(day).refunds = amount;
                } else {
                    if let Some(a) = eager.get_mut(&day) {
                        a.cost = amount;
                    }
                    if let Some(a) = lazy.get_mut(&day) {
                        a.cost = amount;
                    }
                }
                prop_assert_eq!(enc(&lazy), enc(&Eager(eager.clone())));
            }
        }
    }

    #[test]
    fn refuses_what_the_map_refused() {
        // A scale above 28, and a mantissa of 97 bits, in a closed account.
        let mut m = BTreeMap::new();
        let day = |n| Day::from_days_from_ce(n).unwrap();
        m.insert(day(1), Account::new());
        m.insert(day(2), Account::new());
        let good = enc(&Eager(m));
        assert!(dec(&good).is_ok());
        // Entry one starts after the length (1 byte) and the day (1 byte): its first decimal's
        // head byte, then its mantissa.
        let mut bad = good.clone();
        bad[2] = 29;
        assert!(dec(&bad).unwrap_err().contains("out of range"));
        let mut bad = good[..3].to_vec();
        bad.push(254);
        bad.extend_from_slice(&(1u128 << 96).to_le_bytes());
        bad.extend_from_slice(&good[4..]);
        assert!(dec(&bad).unwrap_err().contains("out of range"));
        // Out of order.
        let mut swapped = good.clone();
        swapped[1] = 4; // the first entry's day: 2, after the second's 2 (zigzag 4)
        assert!(dec(&swapped).is_err());
        // Cut short.
        assert!(dec(&good[..good.len() - 1]).is_err());
    }

    #[test]
    fn an_account_is_smaller_held_as_bytes() {
        let day = |n| Day::from_days_from_ce(738_000 + n).unwrap();
        let mut m = BTreeMap::new();
        for i in 0..8 {
            let mut a = Account::new();
            a.deductions = Decimal::new(123_456, 2);
            a.carried = Some(Decimal::new(789, 2));
            m.insert(day(i * 182), a);
        }
        let lazy = dec(&enc(&Eager(m))).unwrap();
        assert_eq!(lazy.closed.count, 7);
        assert_eq!(lazy.open.len(), 1);
        assert!(lazy.closed.bytes.len() < 7 * 40);
    }
}
