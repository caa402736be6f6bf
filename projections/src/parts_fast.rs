//! A hand decoder of a checkpoint's employee block (issue 15: a payday's append decodes all of
//! them, 157 blocks at 10,000 employees, and serde's visitors were most of that time): the
//! bytes bincode's standard configuration wrote for `(Vec<(EmployeeId, Employee)>,
//! Vec<(Day, EmployeeId)>)`, read directly.
//!
//! Like `espp_events`' payroll decoder it reads only what it is sure of and never decides
//! that bytes are wrong: on anything unexpected it answers `None`, and the caller decodes
//! the block with serde as it always did, with serde's errors. The common fields (flags,
//! days, decimals, the purchase-year map, the lot indices, the accounts) are read here; the
//! rare ones (an election, a window, a leave, a first day's due, when present) and the ids
//! are handed to serde on their own bytes (bincode writes a value's fields one after the
//! other, so a field's bytes decode alone). The closed accounts are checked and kept as
//! they are ([`Accounts::from_closed`]). Tested against serde on every block of folded
//! histories (`tests/checkpoint.rs`).

use espp_events::{Day, EmployeeId};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use crate::accounts::Accounts;
use crate::employee::{Account, ByYear, Deductions, Employee};

/// An employee block, decoded.
pub(crate) type Block = (Vec<(EmployeeId, Employee)>, Vec<(Day, EmployeeId)>);

/// Reads bincode's standard encoding from a slice; every read is None past the end or on a
/// value it is not sure of. Also reads the closed accounts' bytes (`crate::accounts`).
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(*self.take(1)?.first()?)
    }

    fn varint(&mut self) -> Option<u128> {
        Some(match self.byte()? {
            b @ 0..=250 => u128::from(b),
            251 => u128::from(u16::from_le_bytes(self.take(2)?.try_into().ok()?)),
            252 => u128::from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            253 => u128::from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            254 => u128::from_le_bytes(self.take(16)?.try_into().ok()?),
            _ => return None,
        })
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(u64::try_from(self.varint()?).ok()?).ok()
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn i32(&mut self) -> Option<i32> {
        let z = u32::try_from(self.varint()?).ok()?;
        Some(((z >> 1) as i32) ^ -((z & 1) as i32))
    }

    pub(crate) fn day(&mut self) -> Option<Day> {
        Day::from_days_from_ce(self.i32()?)
    }

    /// A decimal as [`crate::ser::Bytes`] writes it, checked as it checks it.
    fn decimal(&mut self) -> Option<Decimal> {
        let head = self.byte()?;
        let m = i128::try_from(self.varint()?).ok()?;
        let mut x = Decimal::try_from_i128_with_scale(m, u32::from(head & 0x7f)).ok()?;
        x.set_sign_negative(head & 0x80 != 0);
        Some(x)
    }

    /// Checks a decimal without making it.
    fn skip_decimal(&mut self) -> Option<()> {
        let head = self.byte()?;
        let m = self.varint()?;
        (head & 0x7f <= 28 && m >> 96 == 0).then_some(())
    }

    fn option(&mut self) -> Option<bool> {
        self.bool()
    }

    fn opt_decimal(&mut self) -> Option<Option<Decimal>> {
        Some(if self.option()? {
            Some(self.decimal()?)
        } else {
            None
        })
    }

    fn opt_day(&mut self) -> Option<Option<Day>> {
        Some(if self.option()? {
            Some(self.day()?)
        } else {
            None
        })
    }

    /// A value handed to serde on its own bytes.
    fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        let rest = self.bytes.get(self.at..)?;
        let (v, used) =
            bincode::serde::decode_from_slice::<T, _>(rest, bincode::config::standard()).ok()?;
        self.at += used;
        Some(v)
    }

    /// An optional value, handed to serde when present.
    fn opt_serde<T: DeserializeOwned>(&mut self) -> Option<Option<T>> {
        if self.bytes.get(self.at) == Some(&0) {
            self.at += 1;
            return Some(None);
        }
        self.serde::<Option<T>>()
    }

    pub(crate) fn account(&mut self) -> Option<Account> {
        Some(Account {
            deductions: self.decimal()?,
            cash_payments: self.decimal()?,
            refunds: self.decimal()?,
            shares_bought: self.decimal()?,
            price: self.opt_decimal()?,
            shares_held_end: self.opt_decimal()?,
            opening_balance: self.decimal()?,
            cost: self.decimal()?,
            carried: self.opt_decimal()?,
        })
    }

    /// Checks an account without making it.
    pub(crate) fn skip_account(&mut self) -> Option<()> {
        for optional in crate::accounts::ACCOUNT_FIELDS {
            if !optional || self.option()? {
                self.skip_decimal()?;
            }
        }
        Some(())
    }

    /// The accounts map: all but the last kept as their bytes (checked), the last decoded.
    fn accounts(&mut self) -> Option<Accounts> {
        let n = self.len()?;
        let start = self.at;
        let mut last: Option<Day> = None;
        for _ in 0..n.saturating_sub(1) {
            let day = self.day()?;
            if last.is_some_and(|l| day <= l) {
                return None;
            }
            last = Some(day);
            self.skip_account()?;
        }
        let closed = self.bytes.get(start..self.at)?.to_vec();
        let mut open = Vec::new();
        if n > 0 {
            let day = self.day()?;
            if last.is_some_and(|l| day <= l) {
                return None;
            }
            open.reserve_exact(1);
            open.push((day, self.account()?));
        }
        Some(Accounts::from_closed(
            closed,
            n.saturating_sub(1),
            last,
            open,
        ))
    }

    fn deductions(&mut self) -> Option<Deductions> {
        // The enum's order in `employee.rs` (serde writes a unit variant as its index).
        match self.varint()? {
            0 => Some(Deductions::Active),
            1 => Some(Deductions::Stopped),
            2 => Some(Deductions::Suspended),
            _ => None,
        }
    }

    fn employee(&mut self) -> Option<Employee> {
        let employed = self.bool()?;
        let hire_date = self.day()?;
        let weekly_hours = self.decimal()?;
        let months_per_year = self.decimal()?;
        let ownership = self.decimal()?;
        let enrolled = self.bool()?;
        let sat_out = self.bool()?;
        let withdrew = self.bool()?;
        let rate = self.opt_decimal()?;
        let rate_in_force = self.decimal()?;
        let pending_rate = self.opt_decimal()?;
        let balance = self.decimal()?;
        let deficiency = self.decimal()?;
        let contributed = self.decimal()?;
        let refunded = self.decimal()?;
        let spent = self.decimal()?;
        let shares_held = self.decimal()?;
        let shares_certificated = self.decimal()?;
        let dividends_paid = self.decimal()?;
        let ordinary_income = self.decimal()?;
        let n = self.len()?;
        let mut years = Vec::with_capacity(n.min(self.bytes.len()));
        for _ in 0..n {
            years.push((self.i32()?, self.decimal()?));
        }
        // A map's keys come in order: anything else is serde's to judge.
        let bought_value = ByYear::from_sorted(years)?;
        let n = self.len()?;
        let mut lots = Vec::with_capacity(n.min(self.bytes.len()));
        for _ in 0..n {
            lots.push(usize::try_from(u64::try_from(self.varint()?).ok()?).ok()?);
        }
        Some(Employee {
            employed,
            hire_date,
            weekly_hours,
            months_per_year,
            ownership,
            enrolled,
            sat_out,
            withdrew,
            rate,
            rate_in_force,
            pending_rate,
            balance,
            deficiency,
            contributed,
            refunded,
            spent,
            shares_held,
            shares_certificated,
            dividends_paid,
            ordinary_income,
            bought_value,
            lots,
            accounts: self.accounts()?,
            option_in: self.opt_day()?,
            deductions: self.deductions()?,
            ends_at_purchase: self.bool()?,
            make_up: self.bool()?,
            elected: self.opt_serde()?,
            window: self.opt_serde()?,
            leave: self.opt_serde()?,
            died: self.opt_day()?,
            refunded_to_estate: self.decimal()?,
            ended_in: self.opt_day()?,
            first_day_due: self.opt_serde()?,
        })
    }
}

/// The employee block `bytes`, if this decoder is sure of it (see the module's doc).
pub(crate) fn employee_block(bytes: &[u8]) -> Option<Block> {
    let mut c = Cursor::new(bytes);
    let n = c.len()?;
    // At least a byte an employee: a length beyond that is serde's to refuse.
    let mut members = Vec::with_capacity(n.min(bytes.len()));
    for _ in 0..n {
        let id: EmployeeId = c.serde()?;
        members.push((id, c.employee()?));
    }
    let deadlines: Vec<(Day, EmployeeId)> = c.serde()?;
    (c.at == bytes.len()).then_some((members, deadlines))
}
