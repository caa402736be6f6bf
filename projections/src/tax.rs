//! Tax reporting (DOMAIN.md §9): Form 3922 rows per lot bought in a year, with the figures
//! as purchased, and the year's dispositions with the ordinary income payroll reports.

use serde_json::{json, Value};

use crate::holdings::Disposition;
use crate::num::{self, fixed, money, plain};
use crate::state::State;

/// The keys of a [`State::form3922`] row, in column order (for tables and CSV).
pub const FORM3922_COLUMNS: [&str; 10] = [
    "employee", "period", "box1", "box2", "box3", "box4", "box5", "box6", "box7", "box8",
];

/// The keys of a [`State::dispositions`] row, in column order (for tables and CSV).
pub const DISPOSITION_COLUMNS: [&str; 12] = [
    "employee",
    "date",
    "period",
    "grant_date",
    "purchase_date",
    "shares",
    "sale_price",
    "classification",
    "ordinary_income",
    "late",
    "estate",
    "seq",
];

/// One disposition as JSON (the projection's `dispositions` and [`State::dispositions`]).
pub(crate) fn disposition_json(d: &Disposition) -> Value {
    json!({
        "employee": d.employee.as_str(),
        "date": d.date.to_string(),
        "period": d.period.as_str(),
        "grant_date": d.grant_date.to_string(),
        "purchase_date": d.purchase_date.to_string(),
        "shares": plain(d.shares),
        "sale_price": plain(d.sale_price),
        "classification": d.classification.as_str(),
        "ordinary_income": money(d.ordinary_income),
        "late": d.late,
        "estate": d.estate,
        "seq": d.seq,
    })
}

impl State {
    /// Form 3922 for calendar year `year`: one row per lot bought that year, ordered by
    /// purchase date then employee, as `{"employee", "period", "box1" … "box8"}` with the
    /// figures as purchased (before any later capital change): box 1 the grant date (the
    /// period's first trading day), 2 the purchase date, 3 the FMV per share at grant, 4 the
    /// FMV per share at purchase, 5 the price paid per share (`price_decimals` places), 6
    /// the shares, 7 the date title transferred (the purchase date), 8 the price per share
    /// as if bought at grant, round_up(price_factor × box 3, price_decimals) with the
    /// factor the purchase used. Days are `"YYYY-MM-DD"`, FMVs and shares without trailing
    /// zeros. An empty array for a year without purchases.
    pub fn form3922(&self, year: i32) -> Vec<Value> {
        let mut lots: Vec<_> = self
            .lots
            .iter()
            .filter(|l| l.purchase_date.year() == year)
            .collect();
        lots.sort_by(|a, b| {
            (a.purchase_date, a.employee.as_str()).cmp(&(b.purchase_date, b.employee.as_str()))
        });
        lots.into_iter()
            .map(|l| {
                let p = &l.as_purchased;
                let dp = p.price_decimals;
                let at_grant = num::round_up(p.price_factor.saturating_mul(p.fmv_grant), dp);
                json!({
                    "employee": l.employee.as_str(),
                    "period": l.period.as_str(),
                    "box1": l.grant_date.to_string(),
                    "box2": l.purchase_date.to_string(),
                    "box3": plain(p.fmv_grant),
                    "box4": plain(p.fmv_purchase),
                    "box5": fixed(p.price, dp),
                    "box6": plain(p.shares),
                    "box7": l.purchase_date.to_string(),
                    "box8": fixed(at_grant, dp),
                })
            })
            .collect()
    }

    /// The sales of calendar year `year` (by sale date), one row per lot each sale took
    /// shares from, in `(date, seq)` order then oldest lot first: `employee`, `date`,
    /// `period`, `grant_date`, `purchase_date`, `shares`, `sale_price` (as given, no
    /// trailing zeros), `classification` (`qualifying` | `disqualifying`),
    /// `ordinary_income` (money, half up to cents per lot per sale), `late` (§11 notice
    /// more than 30 days after a sale within two years of the period's start), `estate`
    /// (sold by a deceased employee's estate) and the sale's `seq`.
    pub fn dispositions(&self, year: i32) -> Vec<Value> {
        self.dispositions
            .iter()
            .filter(|d| d.date.year() == year)
            .map(disposition_json)
            .collect()
    }
}
