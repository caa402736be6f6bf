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

/// One employee's projection figures, unformatted: what [`EmployeeView`] reads, copied out
/// of the account (the rest of the account — periods, lots, elections — is not kept), so a
/// diff can hold one side's rows without its state ([`Rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmployeeRow {
    balance: Decimal,
    contributed: Decimal,
    deficiency: Decimal,
    dividends_paid: Decimal,
    deadline: Option<espp_events::Day>,
    ordinary_income: Decimal,
    rate: Option<Decimal>,
    refunded: Decimal,
    refunded_to_estate: Decimal,
    shares_certificated: Decimal,
    shares_held: Decimal,
    status: crate::employee::Status,
}

impl EmployeeRow {
    fn of(e: &Employee) -> Self {
        EmployeeRow {
            balance: e.balance,
            contributed: e.contributed,
            deficiency: e.deficiency,
            dividends_paid: e.dividends_paid,
            deadline: e.window.map(|w| w.deadline),
            ordinary_income: e.ordinary_income,
            rate: e.rate,
            refunded: e.refunded,
            refunded_to_estate: e.refunded_to_estate,
            shares_certificated: e.shares_certificated,
            shares_held: e.shares_held,
            status: e.status(),
        }
    }
}

/// One employee of a state, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct EmployeeView(EmployeeRow);

/// The decimal a field's text parses to, if any (what `diff` sums and subtracts).
pub fn parsed(f: &Field) -> Option<Decimal> {
    f.as_str().and_then(|t| std::str::FromStr::from_str(t).ok())
}

/// A decimal as `num::money` shows it, as the decimal that text parses to (the same value
/// and scale: `Display` is exact).
fn money_value(d: Decimal) -> Decimal {
    let mut x = if d.is_zero() { Decimal::ZERO } else { d };
    x.rescale(2);
    x
}

/// A decimal as `num::plain` shows it, as the decimal that text parses to.
fn plain_value(d: Decimal) -> Decimal {
    if d.is_zero() {
        Decimal::ZERO
    } else {
        d.normalize()
    }
}

impl EmployeeView {
    /// Field `i` of [`EMPLOYEE_FIELDS`] as the projection shows it.
    pub fn field(&self, i: usize) -> Field {
        let e = &self.0;
        match i {
            0 => s(money(e.balance)),
            1 => s(money(e.contributed)),
            2 => s(money(e.deficiency)),
            3 => s(money(e.dividends_paid)),
            4 => e.deadline.map_or(Field::Null, |d| s(d.to_string())),
            5 => s(money(e.ordinary_income)),
            6 => e.rate.map_or(Field::Null, |r| s(rate(r))),
            7 => s(money(e.refunded)),
            8 => s(money(e.refunded_to_estate)),
            9 => s(plain(e.shares_certificated)),
            10 => s(plain(e.shares_held)),
            11 => s(e.status.as_str().to_string()),
            _ => Field::Null,
        }
    }

    /// Field `i` of [`EMPLOYEE_FIELDS`], unformatted.
    pub fn raw(&self, i: usize) -> Raw<'static> {
        let e = &self.0;
        match i {
            0 => dec(e.balance),
            1 => dec(e.contributed),
            2 => dec(e.deficiency),
            3 => dec(e.dividends_paid),
            4 => e.deadline.map_or(Raw::Null, Raw::Day),
            5 => dec(e.ordinary_income),
            6 => e.rate.map_or(Raw::Null, dec),
            7 => dec(e.refunded),
            8 => dec(e.refunded_to_estate),
            9 => dec(e.shares_certificated),
            10 => dec(e.shares_held),
            11 => Raw::Str(e.status.as_str()),
            _ => Raw::Null,
        }
    }

    /// Field `i` of [`EMPLOYEE_FIELDS`] as the decimal its text parses to (None when it is
    /// no decimal: null, a day, a status), without formatting it: what `diff` sums.
    pub fn value(&self, i: usize) -> Option<Decimal> {
        let e = &self.0;
        match i {
            0 => Some(money_value(e.balance)),
            1 => Some(money_value(e.contributed)),
            2 => Some(money_value(e.deficiency)),
            3 => Some(money_value(e.dividends_paid)),
            5 => Some(money_value(e.ordinary_income)),
            7 => Some(money_value(e.refunded)),
            8 => Some(money_value(e.refunded_to_estate)),
            9 => Some(plain_value(e.shares_certificated)),
            10 => Some(plain_value(e.shares_held)),
            // The rate, a day, a status: parse what is shown (a day or a status never
            // parses; kept exact rather than assumed).
            _ => parsed(&self.field(i)),
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
            5 => s(crate::num::text(p.price)),
            6 => Field::Bool(p.prorated),
            7 => s(plain(p.shares)),
            _ => Field::Null,
        }
    }

    /// Field `i` of [`PURCHASE_FIELDS`] as the decimal its text parses to (None when it is
    /// no decimal), without formatting the decimals.
    pub fn value(&self, i: usize) -> Option<Decimal> {
        let p = self.0;
        match i {
            1 => Some(plain_value(p.fmv_grant)),
            2 => Some(plain_value(p.fmv_purchase)),
            // Shown by its exact `Display`: it parses back to itself.
            5 => Some(p.price),
            7 => Some(plain_value(p.shares)),
            _ => parsed(&self.field(i)),
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

    /// Field `i` of [`ALLOCATION_FIELDS`] as the decimal its text parses to (None when it
    /// is no decimal), without formatting the decimals.
    pub fn value(&self, i: usize) -> Option<Decimal> {
        let a = self.0;
        match i {
            0 => Some(money_value(a.carried)),
            1 => Some(money_value(a.cost)),
            3 => Some(money_value(a.refunded)),
            4 => Some(plain_value(a.shares)),
            _ => parsed(&self.field(i)),
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

/// What `espp diff` reads of one side: its employees' figures in id order and its executed
/// purchases, from a whole [`State`] or from [`Rows`].
pub trait ProjectionRows {
    /// Every employee, in id order (the projection's).
    fn employee_views(&self) -> impl Iterator<Item = (&str, EmployeeView)> + '_;
    /// Every executed purchase, in the projection's order.
    fn purchase_views(&self) -> impl Iterator<Item = PurchaseView<'_>> + '_;
}

/// A state's employee figures and purchases only (see [`State::into_rows`]): a few percent
/// of the state, what `diff` keeps of the base fold while the other one runs.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    employees: Vec<(espp_events::EmployeeId, EmployeeRow)>,
    purchases: Vec<PurchaseDone>,
}

impl ProjectionRows for Rows {
    fn employee_views(&self) -> impl Iterator<Item = (&str, EmployeeView)> + '_ {
        self.employees
            .iter()
            .map(|(id, e)| (id.as_str(), EmployeeView(*e)))
    }
    fn purchase_views(&self) -> impl Iterator<Item = PurchaseView<'_>> + '_ {
        self.purchases.iter().map(PurchaseView)
    }
}

impl ProjectionRows for State {
    fn employee_views(&self) -> impl Iterator<Item = (&str, EmployeeView)> + '_ {
        State::employee_views(self)
    }
    fn purchase_views(&self) -> impl Iterator<Item = PurchaseView<'_>> + '_ {
        State::purchase_views(self)
    }
}

impl State {
    /// Every employee, in id order (the projection's).
    pub fn employee_views(&self) -> impl Iterator<Item = (&str, EmployeeView)> + '_ {
        self.employees
            .iter()
            .map(|(id, e)| (id.as_str(), EmployeeView(EmployeeRow::of(e))))
    }

    /// Every executed purchase, in the projection's order.
    pub fn purchase_views(&self) -> impl Iterator<Item = PurchaseView<'_>> + '_ {
        self.purchases.iter().map(PurchaseView)
    }

    /// The events these rules skipped: `(seq, reason)`, in fold order.
    pub fn skipped_events(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.skipped.iter().map(|x| (x.seq, x.reason.as_str()))
    }

    /// The state's employee figures and purchases, the rest dropped (lots, accounts'
    /// periods, dispositions, the plan, the market).
    pub fn into_rows(self) -> Rows {
        Rows {
            employees: self
                .employees
                .into_iter()
                .map(|(id, e)| (id, EmployeeRow::of(&e)))
                .collect(),
            purchases: self.purchases,
        }
    }
}
