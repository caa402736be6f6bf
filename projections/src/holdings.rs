//! Shares after the purchase (§10, §11, §25(a)–(b), §27, DOMAIN.md §8–§9): capital changes,
//! dividends, certificates and sales, with each sale's tax classification.
//!
//! Each handler decides first and changes the state only once the event is accepted. A
//! capital change touches nearly everything, so it is worked out on a copy of the state that
//! replaces the original only when every product and quotient fitted.

use espp_events::{CapitalChangeKind, Day, EmployeeId, PeriodId, Ratio, Record, Shares};
use rust_decimal::Decimal;

use crate::num;
use crate::state::{Rejection, State};

/// Places per-share values keep after a capital change divides them (DOMAIN.md §8).
const PER_SHARE_DECIMALS: u32 = 10;

/// A capital change as folded: the ratio is new shares per old share.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CapitalChangeDone {
    pub date: Day,
    pub kind: CapitalChangeKind,
    pub ratio: Ratio,
}

/// How a sale of a lot's shares is taxed (Code §423(a), §421(b)–(c)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Classification {
    /// Sold more than two years after the grant and more than one year after the purchase,
    /// or by the estate.
    Qualifying,
    /// Sold earlier.
    Disqualifying,
}

impl Classification {
    /// The interchange spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Classification::Qualifying => "qualifying",
            Classification::Disqualifying => "disqualifying",
        }
    }
}

/// The part of one `shares_sold` taken from one lot.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Disposition {
    /// The sale's seq in the log.
    pub seq: u64,
    pub employee: EmployeeId,
    pub date: Day,
    pub period: PeriodId,
    pub grant_date: Day,
    pub purchase_date: Day,
    #[serde(with = "crate::ser::dec")]
    pub shares: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub sale_price: Decimal,
    pub classification: Classification,
    /// Rounded half up to cents, per lot per sale.
    #[serde(with = "crate::ser::dec")]
    pub ordinary_income: Decimal,
    /// Sold within two years of the period's start and recorded more than 30 days after
    /// the sale (§11).
    pub late: bool,
    /// Sold by the estate of a deceased employee (§18, Code §421(c)).
    pub estate: bool,
}

/// A ratio as `new / old`, applied as a product then a quotient so that `"1:3"` is exact.
#[derive(Debug, Clone, Copy)]
struct Factor {
    new: Decimal,
    old: Decimal,
    share_decimals: u32,
}

impl Factor {
    fn of(ratio: Ratio, share_decimals: u32) -> Self {
        let (new, old) = match ratio {
            Ratio::Decimal(d) => (d, Decimal::ONE),
            Ratio::Fraction { new, old } => (Decimal::from(new), Decimal::from(old)),
        };
        Factor {
            new,
            old,
            share_decimals,
        }
    }

    /// A share count after the change: × ratio, rounded down to `share_decimals`.
    fn shares(&self, x: Decimal) -> Result<Decimal, Rejection> {
        let what = "shares after the capital change";
        let scaled = num::div(num::mul(x, self.new, what)?, self.old, what)?;
        Ok(num::floor_dp(scaled, self.share_decimals))
    }

    /// A per-share value after the change: ÷ ratio, rounded half up to 10 places.
    fn per_share(&self, x: Decimal) -> Result<Decimal, Rejection> {
        let what = "a per-share value after the capital change";
        let scaled = num::div(num::mul(x, self.old, what)?, self.new, what)?;
        Ok(num::round_half_up(scaled, PER_SHARE_DECIMALS))
    }

    fn shares_value(&self, s: Shares) -> Result<Shares, Rejection> {
        let x = self.shares(s.get())?;
        Shares::new(x).map_err(|e| Rejection::plan("§25", e.0))
    }
}

/// The first day a certificate may be asked for shares of a period that began `start`:
/// two years later (§10), day-exact.
pub(crate) fn certificate_from(start: Day) -> Option<Day> {
    start.add_months(24)
}

impl State {
    /// §25(a)–(b): the reserve, the shares bought, every holding and lot, reported
    /// ownership, outstanding shares and the share limits of periods still to buy are
    /// multiplied by the ratio (rounded down to `share_decimals`); the per-share values of
    /// lots and every stored market price dated before the change (what an open period's
    /// look-back will compare with) are divided by it (half up to 10 places). Dollar amounts
    /// and limits are unchanged. A `market_price` dated on the change's day is taken as
    /// after it: it is not divided.
    pub(crate) fn capital_change(
        &mut self,
        date: Day,
        kind: CapitalChangeKind,
        ratio: Ratio,
    ) -> Result<(), Rejection> {
        let f = Factor::of(ratio, self.rules.share_decimals.get());
        let mut next = self.clone();
        next.scale_shares(date, f)?;
        // Ownership and outstanding shares changed: on a period's first day, judged again.
        next.rejudge_everyone(date)?;
        next.capital_changes
            .push(CapitalChangeDone { date, kind, ratio });
        *self = next;
        Ok(())
    }

    fn scale_shares(&mut self, date: Day, f: Factor) -> Result<(), Rejection> {
        // The reserve, in the rules as the log sets them, in force, and in an override; the
        // shares left are what the reserve holds beyond the shares bought.
        self.plan.log_rules.share_reserve = f.shares_value(self.plan.log_rules.share_reserve)?;
        self.rules.share_reserve = f.shares_value(self.rules.share_reserve)?;
        if let Some(o) = &mut self.overrides {
            if let Some(r) = o.share_reserve {
                o.share_reserve = Some(f.shares_value(r)?);
            }
        }
        if let Some(out) = self.shares_outstanding {
            self.shares_outstanding = Some(f.shares(out)?);
        }
        // Each lot's parts are rounded down on their own and the lot is their sum, so that
        // shares = held + certificated + sold still holds exactly; the plan's shares bought
        // are the sum of the lots (DOMAIN.md §8: totals always equal the sum of the lots, so
        // 2:3 of lots of 100, 50 and 10 is 66.6666 + 33.3333 + 6.6666 = 106.6665, not
        // 106.6666).
        let mut bought = Decimal::ZERO;
        for lot in &mut self.lots {
            lot.held = f.shares(lot.held)?;
            lot.certificated = f.shares(lot.certificated)?;
            lot.sold = f.shares(lot.sold)?;
            lot.shares = num::add(
                num::add(lot.held, lot.certificated, "a lot's shares")?,
                lot.sold,
                "a lot's shares",
            )?;
            bought = num::add(bought, lot.shares, "the shares bought")?;
            lot.price = f.per_share(lot.price)?;
            lot.fmv_grant = f.per_share(lot.fmv_grant)?;
            lot.fmv_purchase = f.per_share(lot.fmv_purchase)?;
        }
        self.plan.shares_bought = bought;
        // An employee's holdings are the sums of the lots' (the §11 invariant).
        for e in self.employees.values_mut() {
            e.ownership = f.shares(e.ownership)?;
            let (mut held, mut certificated) = (Decimal::ZERO, Decimal::ZERO);
            for &i in &e.lots {
                if let Some(lot) = self.lots.get(i) {
                    held = num::add(held, lot.held, "the shares held")?;
                    certificated = num::add(certificated, lot.certificated, "the shares held")?;
                }
            }
            e.shares_held = held;
            e.shares_certificated = certificated;
        }
        for p in self.periods.by_start.values_mut() {
            if p.purchased.is_none() && p.end >= date {
                if let Some(limit) = p.share_limit {
                    p.share_limit = Some(f.shares(limit)?);
                }
            }
        }
        self.market.scale_before(date, |fmv| f.per_share(fmv))?;
        Ok(())
    }

    /// §27: each employee is paid the dividend on the shares the Agent holds on the record
    /// date, half up to cents; never into the purchase account (certificated shares are
    /// paid outside the plan).
    pub(crate) fn dividend(&mut self, per_share: Decimal) -> Result<(), Rejection> {
        let mut paid = Vec::new();
        for (id, e) in &self.employees {
            if e.shares_held <= Decimal::ZERO {
                continue;
            }
            let what = "the dividend";
            let amount = num::round_half_up(num::mul(per_share, e.shares_held, what)?, 2);
            paid.push((id.clone(), num::add(e.dividends_paid, amount, what)?));
        }
        for (id, total) in paid {
            if let Some(e) = self.employees.get_mut(id.as_str()) {
                e.dividends_paid = total;
            }
        }
        Ok(())
    }

    /// §10: whole shares move from the Agent's custody into the employee's name, oldest lot
    /// first, only from lots whose period began at least two years earlier; more than those
    /// lots hold is refused whole, with the first day it would be allowed.
    pub(crate) fn certificate_requested(
        &mut self,
        date: Day,
        id: &EmployeeId,
        shares: Decimal,
    ) -> Result<(), Rejection> {
        let what = format!(
            "certificate_requested of {} shares on {date} for employee {id}",
            num::plain(shares)
        );
        let e = self.employees.get(id.as_str()).ok_or_else(|| {
            Rejection::plan("§10", format!("{what}: the employee was never hired"))
        })?;
        if !shares.fract().is_zero() {
            return Err(Rejection::plan(
                "§10",
                format!("{what}: certificates are issued for whole shares only"),
            ));
        }
        // Every lot the Agent holds shares of, with the day it may be certificated.
        let mut lots: Vec<(usize, Day, Decimal)> = Vec::new();
        for &i in &e.lots {
            let Some(lot) = self.lots.get(i) else {
                continue;
            };
            if lot.held > Decimal::ZERO {
                let from = certificate_from(lot.period_start).ok_or_else(|| {
                    Rejection::plan(
                        "§10",
                        format!("{what}: no date two years after {}", lot.period_start),
                    )
                })?;
                lots.push((i, from, lot.held));
            }
        }
        let mut eligible = Decimal::ZERO;
        for (_, from, held) in &lots {
            if *from <= date {
                eligible = num::add(eligible, *held, "the eligible shares")?;
            }
        }
        if shares > eligible {
            let held = e.shares_held;
            // The first day enough lots are two years old: later lots only add shares.
            let mut by_day: Vec<(Day, Decimal)> = lots.iter().map(|(_, d, h)| (*d, *h)).collect();
            by_day.sort_by_key(|(d, _)| *d);
            let mut total = Decimal::ZERO;
            let mut first = None;
            for (d, h) in by_day {
                total = num::add(total, h, "the eligible shares")?;
                if total >= shares {
                    first = Some(d);
                    break;
                }
            }
            let why = match first {
                Some(d) => format!(
                    "only {} of the {} shares the Agent holds are in lots whose period began at least two years earlier; the first day this request would be allowed is {d}",
                    num::plain(eligible),
                    num::plain(held)
                ),
                None => format!("the Agent holds only {} shares for the employee", num::plain(held)),
            };
            return Err(Rejection::plan("§10", format!("{what}: {why}")));
        }
        let mut left = shares;
        for (i, from, _) in lots {
            if left <= Decimal::ZERO {
                break;
            }
            if from > date {
                continue;
            }
            if let Some(lot) = self.lots.get_mut(i) {
                let moved = lot.held.min(left);
                lot.held -= moved;
                lot.certificated += moved;
                left -= moved;
            }
        }
        if let Some(e) = self.employees.get_mut(id.as_str()) {
            e.shares_held -= shares;
            e.shares_certificated += shares;
        }
        Ok(())
    }

    /// §11: Agent-held shares sold, oldest lot first; each lot's part is classified and its
    /// ordinary income worked out (DOMAIN.md §9). More than the Agent holds is refused whole.
    pub(crate) fn shares_sold(
        &mut self,
        r: &Record,
        id: &EmployeeId,
        shares: Decimal,
        sale_price: Decimal,
    ) -> Result<(), Rejection> {
        let date = r.date;
        let what = format!(
            "shares_sold of {} shares on {date} for employee {id}",
            num::plain(shares)
        );
        let e = self.employees.get(id.as_str()).ok_or_else(|| {
            Rejection::plan("§11", format!("{what}: the employee was never hired"))
        })?;
        if shares > e.shares_held {
            return Err(Rejection::plan(
                "§11",
                format!(
                    "{what}: the Agent holds only {} shares for the employee",
                    num::plain(e.shares_held)
                ),
            ));
        }
        // A sale after death is the estate's (the fold never sees a death dated later).
        let estate = e.died.is_some();
        let recorded = r.recorded_at.day();
        let notice_by = date.add_days(30);
        let mut parts = Vec::new();
        let mut income_total = e.ordinary_income;
        let mut left = shares;
        for &i in &e.lots {
            if left <= Decimal::ZERO {
                break;
            }
            let Some(lot) = self.lots.get(i) else {
                continue;
            };
            if lot.held <= Decimal::ZERO {
                continue;
            }
            let n = lot.held.min(left);
            left -= n;
            let qualifying = estate || held_long_enough(date, lot.grant_date, lot.purchase_date);
            let w = "the ordinary income";
            let per_share = if qualifying {
                // The lesser of the gain and the discount at grant, never below 0.
                let gain = num::sub(sale_price, lot.price, w)?;
                let discount = num::mul(
                    lot.fmv_grant,
                    num::sub(Decimal::ONE, lot.as_purchased.price_factor, w)?,
                    w,
                )?;
                gain.min(discount).max(Decimal::ZERO)
            } else {
                // The spread at purchase, whatever the sale price.
                num::sub(lot.fmv_purchase, lot.price, w)?.max(Decimal::ZERO)
            };
            let income = num::round_half_up(num::mul(per_share, n, w)?, 2);
            income_total = num::add(income_total, income, w)?;
            // §11: within two years of the period's start (before the day §10 counts as
            // two years later), notice is due within 30 days.
            let within = certificate_from(lot.period_start).is_none_or(|d| date < d);
            let late = within && notice_by.is_some_and(|by| recorded > by);
            parts.push((
                i,
                Disposition {
                    seq: r.seq,
                    employee: id.clone(),
                    date,
                    period: lot.period.clone(),
                    grant_date: lot.grant_date,
                    purchase_date: lot.purchase_date,
                    shares: n,
                    sale_price,
                    classification: if qualifying {
                        Classification::Qualifying
                    } else {
                        Classification::Disqualifying
                    },
                    ordinary_income: income,
                    late,
                    estate,
                },
            ));
        }
        // Fewer shares owned (§4(d)): on a period's first day, judged again.
        let mut facts = e.section_4();
        facts.plan_shares = num::sub(facts.plan_shares, shares, "the shares owned")?;
        let judged = self.first_day_verdict(date, id, facts)?;
        for (i, d) in parts {
            if let Some(lot) = self.lots.get_mut(i) {
                lot.held -= d.shares;
                lot.sold += d.shares;
            }
            self.dispositions.push(d);
        }
        if let Some(e) = self.employees.get_mut(id.as_str()) {
            e.shares_held -= shares;
            e.ordinary_income = income_total;
        }
        self.apply_first_day_verdict(id, judged);
        Ok(())
    }
}

/// Code §423(a)(1): sold more than two years after the grant and more than one year after
/// the purchase, day-exact (the second anniversary itself is still too early).
pub(crate) fn held_long_enough(sale: Day, grant: Day, purchase: Day) -> bool {
    let after_grant = grant.add_months(24).is_some_and(|d| sale > d);
    let after_purchase = purchase.add_months(12).is_some_and(|d| sale > d);
    after_grant && after_purchase
}
