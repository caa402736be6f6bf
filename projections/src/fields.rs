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

/// An employee's fields in the projection, in key order ([`RowView::cell`]'s index).
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

/// How the projection shows a decimal field (the `num` function it goes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// `num::money`: two places.
    Money,
    /// `num::plain`: no trailing zeros.
    Plain,
    /// `num::rate`: two places, or more if the rate has more.
    Rate,
    /// Its exact `Display` (`num::text`).
    Exact,
}

/// One field of a row, unformatted, with how it is shown: [`Cell::raw`], [`Cell::field`]
/// and [`Cell::value`] are all read off it, so the three never disagree on which field is
/// which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// A decimal and how it is shown.
    Dec(Decimal, Shown),
    /// A day.
    Day(espp_events::Day),
    /// A flag.
    Bool(bool),
    /// A text.
    Str(&'a str),
    /// Nothing (`null`).
    Null,
}

impl<'a> Cell<'a> {
    /// The unformatted value, cheap to compare.
    pub fn raw(self) -> Raw<'a> {
        match self {
            Cell::Dec(d, _) => dec(d),
            Cell::Day(d) => Raw::Day(d),
            Cell::Bool(b) => Raw::Bool(b),
            Cell::Str(t) => Raw::Str(t),
            Cell::Null => Raw::Null,
        }
    }

    /// The value as the projection shows it.
    pub fn field(self) -> Field {
        match self {
            Cell::Dec(d, Shown::Money) => s(money(d)),
            Cell::Dec(d, Shown::Plain) => s(plain(d)),
            Cell::Dec(d, Shown::Rate) => s(rate(d)),
            Cell::Dec(d, Shown::Exact) => s(crate::num::text(d)),
            Cell::Day(d) => s(d.to_string()),
            Cell::Bool(b) => Field::Bool(b),
            Cell::Str(t) => s(t.to_string()),
            Cell::Null => Field::Null,
        }
    }

    /// The decimal the shown text parses to (None when it is no decimal), without
    /// formatting where the value is known: what `diff` sums and subtracts.
    pub fn value(self) -> Option<Decimal> {
        match self {
            Cell::Dec(d, Shown::Money) => Some(money_value(d)),
            Cell::Dec(d, Shown::Plain) => Some(plain_value(d)),
            // Shown by its exact `Display`: it parses back to itself.
            Cell::Dec(d, Shown::Exact) => Some(d),
            // The rate, a day, a text: parse what is shown (a day or a status never
            // parses; kept exact rather than assumed).
            _ => parsed(&self.field()),
        }
    }
}

/// A row of the projection read field by field: its field names (in key order) and each
/// field by index.
pub trait RowView {
    /// The fields' names, in key order.
    fn names(&self) -> &'static [&'static str];
    /// Field `i` of [`RowView::names`].
    fn cell(&self, i: usize) -> Cell<'_>;
}

impl RowView for EmployeeView {
    fn names(&self) -> &'static [&'static str] {
        &EMPLOYEE_FIELDS
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        let e = &self.0;
        let money = |d| Cell::Dec(d, Shown::Money);
        let plain = |d| Cell::Dec(d, Shown::Plain);
        match i {
            0 => money(e.balance),
            1 => money(e.contributed),
            2 => money(e.deficiency),
            3 => money(e.dividends_paid),
            4 => e.deadline.map_or(Cell::Null, Cell::Day),
            5 => money(e.ordinary_income),
            6 => e.rate.map_or(Cell::Null, |r| Cell::Dec(r, Shown::Rate)),
            7 => money(e.refunded),
            8 => money(e.refunded_to_estate),
            9 => plain(e.shares_certificated),
            10 => plain(e.shares_held),
            11 => Cell::Str(e.status.as_str()),
            _ => Cell::Null,
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

    /// Its allocations, in the projection's order.
    pub fn allocations(&self) -> impl Iterator<Item = AllocationView<'a>> + 'a {
        self.0.allocations.iter().map(AllocationView)
    }
}

impl RowView for PurchaseView<'_> {
    fn names(&self) -> &'static [&'static str] {
        &PURCHASE_FIELDS
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        let p = self.0;
        match i {
            0 => Cell::Day(p.date),
            1 => Cell::Dec(p.fmv_grant, Shown::Plain),
            2 => Cell::Dec(p.fmv_purchase, Shown::Plain),
            3 => Cell::Day(p.grant_date),
            4 => Cell::Str(p.period.as_str()),
            5 => Cell::Dec(p.price, Shown::Exact),
            6 => Cell::Bool(p.prorated),
            7 => Cell::Dec(p.shares, Shown::Plain),
            _ => Cell::Null,
        }
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
}

impl RowView for AllocationView<'_> {
    fn names(&self) -> &'static [&'static str] {
        &ALLOCATION_FIELDS
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        let a = self.0;
        match i {
            0 => Cell::Dec(a.carried, Shown::Money),
            1 => Cell::Dec(a.cost, Shown::Money),
            2 => Cell::Str(a.employee.as_str()),
            3 => Cell::Dec(a.refunded, Shown::Money),
            4 => Cell::Dec(a.shares, Shown::Plain),
            _ => Cell::Null,
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
