//! The projection's employee and purchase figures as flat rows of formatted fields, read
//! straight from the [`State`] (issue 15): what `espp diff` compares between two folds
//! without building either projection. Each field is the very value [`State::projection`]
//! shows (same formatting functions), keys in byte order.

use crate::num::{money, plain, rate};
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

/// An employee's fields in the projection, in key order (see [`State::employee_fields`]).
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

/// One row of a purchase in the projection: the purchase itself (`employee` None, fields
/// [`PURCHASE_FIELDS`]) or one allocation (fields [`ALLOCATION_FIELDS`]).
#[derive(Debug, Clone)]
pub struct PurchaseRow<'a> {
    /// The purchase's period id.
    pub period: &'a str,
    /// The allocation's employee; None for the purchase's own row.
    pub employee: Option<&'a str>,
    /// The values, in the order of the row's field names.
    pub fields: Vec<Field>,
}

fn s(x: String) -> Field {
    Field::Str(x)
}

impl State {
    /// Every employee's id and fields ([`EMPLOYEE_FIELDS`] order), in the state's order.
    pub fn employee_fields(&self) -> impl Iterator<Item = (&str, [Field; 12])> + '_ {
        self.employees.iter().map(|(id, e)| {
            (
                id.as_str(),
                [
                    s(money(e.balance)),
                    s(money(e.contributed)),
                    s(money(e.deficiency)),
                    s(money(e.dividends_paid)),
                    e.window.map_or(Field::Null, |w| s(w.deadline.to_string())),
                    s(money(e.ordinary_income)),
                    e.rate.map_or(Field::Null, |r| s(rate(r))),
                    s(money(e.refunded)),
                    s(money(e.refunded_to_estate)),
                    s(plain(e.shares_certificated)),
                    s(plain(e.shares_held)),
                    s(e.status().as_str().to_string()),
                ],
            )
        })
    }

    /// Every purchase's rows in the projection's order: its own, then its allocations'.
    pub fn purchase_rows(&self) -> impl Iterator<Item = PurchaseRow<'_>> + '_ {
        self.purchases.iter().flat_map(|p| {
            let own = PurchaseRow {
                period: p.period.as_str(),
                employee: None,
                fields: vec![
                    s(p.date.to_string()),
                    s(plain(p.fmv_grant)),
                    s(plain(p.fmv_purchase)),
                    s(p.grant_date.to_string()),
                    s(p.period.as_str().to_string()),
                    s(p.price.to_string()),
                    Field::Bool(p.prorated),
                    s(plain(p.shares)),
                ],
            };
            std::iter::once(own).chain(p.allocations.iter().map(move |a| PurchaseRow {
                period: p.period.as_str(),
                employee: Some(a.employee.as_str()),
                fields: vec![
                    s(money(a.carried)),
                    s(money(a.cost)),
                    s(a.employee.as_str().to_string()),
                    s(money(a.refunded)),
                    s(plain(a.shares)),
                ],
            }))
        })
    }

    /// The events these rules skipped: `(seq, reason)`, in fold order.
    pub fn skipped_events(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.skipped.iter().map(|x| (x.seq, x.reason.as_str()))
    }
}
