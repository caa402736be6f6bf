//! The projection's employee and purchase figures read straight from the [`State`], field
//! by field (issue 15): what `espp diff` compares between two folds without building either
//! projection. [`Field`] is the very value [`State::projection`] shows (same formatting
//! functions); [`Raw`] is the unformatted value, cheap to compare: two equal raws always
//! format to the same field (unequal ones may too: compare the fields then).

use rust_decimal::Decimal;

use crate::employee::Employee;
use crate::num::{money, plain, rate};
use crate::purchase::{Allocation, PurchaseDone};
use crate::state::State;

/// One field's value as the projection shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A string (decimals, days, statuses: all strings in the projection).
    Str(String),
}

impl Field {
    /// The string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A field before formatting: a decimal's exact representation (value and scale), a day,
/// a flag, a text. Equal raws format to equal [`Field`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw<'a> {
    /// A decimal, bit for bit.
    Dec([u8; 16]),
    /// A day.
    Day(espp_events::Day),
    /// A flag.
    Bool(bool),
    /// A text.
    Str(&'a str),
    /// Nothing (`null`).
    Null,
}

fn dec(d: Decimal) -> Raw<'static> {
    Raw::Dec(d.serialize())
}

fn s(x: String) -> Field {
    Field::Str(x)
}

/// An employee's fields in the projection, in key order ([`EmployeeView::field`]'s index).
pub const EMPLOYEE_FIELDS: [&str; 12] = [
    "balance",
    "contributed",
    "deficiency",
    "dividends_paid",
    "election_deadline",
    "ordinary_income",
    "rate",
    "refunded",
    "refunded_to_estate",
    "shares_certificated",
    "shares_held",
    "status",
];

/// A purchase's own fields (without `allocations`), in key order.
pub const PURCHASE_FIELDS: [&str; 8] = [
    "date",
    "fmv_grant",
    "fmv_purchase",
    "grant_date",
    "period",
    "price",
    "prorated",
    "shares",
];

/// An allocation's fields, in key order.
pub const ALLOCATION_FIELDS: [&str; 5] = ["carried", "cost", "employee", "refunded", "shares"];

/// One employee of a state, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct EmployeeView<'a>(&'a Employee);

impl<'a> EmployeeView<'a> {
    /// Field `i` of [`EMPLOYEE_FIELDS`] as the projection shows it.
    pub fn field(&self, i: usize) -> Field {
        let e = self.0;
        match i {
            0 => s(money(e.balance)),
            1 => s(money(e.contributed)),
            2 => s(money(e.deficiency)),
            3 => s(money(e.dividends_paid)),
            4 => e.window.map_or(Field::Null, |w| s(w.deadline.to_string())),
            5 => s(money(e.ordinary_income)),
            6 => e.rate.map_or(Field::Null, |r| s(rate(r))),
            7 => s(money(e.refunded)),
            8 => s(money(e.refunded_to_estate)),
            9 => s(plain(e.shares_certificated)),
            10 => s(plain(e.shares_held)),
            11 => s(e.status().as_str().to_string()),
            _ => Field::Null,
        }
    }
}

/// One executed purchase of a state, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseView<'a>(&'a PurchaseDone);

impl<'a> PurchaseView<'a> {
    /// The purchase's period.
    pub fn period(&self) -> &'a str {
        self.0.period.as_str()
    }

    /// Field `i` of [`PURCHASE_FIELDS`], unformatted.
    pub fn raw(&self, i: usize) -> Raw<'a> {
        let p = self.0;
        match i {
            0 => Raw::Day(p.date),
            1 => dec(p.fmv_grant),
            2 => dec(p.fmv_purchase),
            3 => Raw::Day(p.grant_date),
            4 => Raw::Str(p.period.as_str()),
            5 => dec(p.price),
            6 => Raw::Bool(p.prorated),
            7 => dec(p.shares),
            _ => Raw::Null,
        }
    }

    /// Field `i` of [`PURCHASE_FIELDS`] as the projection shows it.
    pub fn field(&self, i: usize) -> Field {
        let p = self.0;
        match i {
            0 => s(p.date.to_string()),
            1 => s(plain(p.fmv_grant)),
            2 => s(plain(p.fmv_purchase)),
            3 => s(p.grant_date.to_string()),
            4 => s(p.period.as_str().to_string()),
            5 => s(p.price.to_string()),
            6 => Field::Bool(p.prorated),
            7 => s(plain(p.shares)),
            _ => Field::Null,
        }
    }

    /// Its allocations, in the projection's order.
    pub fn allocations(&self) -> impl Iterator<Item = AllocationView<'a>> + 'a {
        self.0.allocations.iter().map(AllocationView)
    }
}

/// One employee's allocation in a purchase, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct AllocationView<'a>(&'a Allocation);

impl<'a> AllocationView<'a> {
    /// The employee.
    pub fn employee(&self) -> &'a str {
        self.0.employee.as_str()
    }

    /// Field `i` of [`ALLOCATION_FIELDS`], unformatted.
    pub fn raw(&self, i: usize) -> Raw<'a> {
        let a = self.0;
        match i {
            0 => dec(a.carried),
            1 => dec(a.cost),
            2 => Raw::Str(a.employee.as_str()),
            3 => dec(a.refunded),
            4 => dec(a.shares),
            _ => Raw::Null,
        }
    }

    /// Field `i` of [`ALLOCATION_FIELDS`] as the projection shows it.
    pub fn field(&self, i: usize) -> Field {
        let a = self.0;
        match i {
            0 => s(money(a.carried)),
            1 => s(money(a.cost)),
            2 => s(a.employee.as_str().to_string()),
            3 => s(money(a.refunded)),
            4 => s(plain(a.shares)),
            _ => Field::Null,
        }
    }
}

impl State {
    /// Every employee, in id order (the projection's).
    pub fn employee_views(&self) -> impl Iterator<Item = (&str, EmployeeView<'_>)> + '_ {
        self.employees
            .iter()
            .map(|(id, e)| (id.as_str(), EmployeeView(e)))
    }

    /// Every executed purchase, in the projection's order.
    pub fn purchase_views(&self) -> impl Iterator<Item = PurchaseView<'_>> + '_ {
        self.purchases.iter().map(PurchaseView)
    }

    /// The events these rules skipped: `(seq, reason)`, in fold order.
    pub fn skipped_events(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.skipped.iter().map(|x| (x.seq, x.reason.as_str()))
    }
}
