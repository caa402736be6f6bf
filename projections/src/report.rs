//! The administrators' reports (issue 14): a purchase's figures and what became of its
//! shares, and who is enrolled, eligible, sitting out or due to elect. Read off a fold made
//! with [`Trace::report`](crate::Trace::report), so eligibility is the fold's own §4 tests
//! and each purchase's figures are the ones it computed.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::explain::Step;
use crate::num::{self, fixed, money, plain};
use crate::output::Lookup;
use crate::state::{Rejection, State};

impl State {
    /// `report purchase PERIOD`: participants and eligible employees (the participation
    /// rate), contributions, shares, price and both FMVs, the discount value, refunds and
    /// cash carried, the reserve left, and how many of the shares have since been sold,
    /// certificated or are still held. One row per employee in `rows`.
    pub fn report_purchase(&self, period: &str) -> Result<Value, Lookup> {
        let start = *self
            .periods
            .start_of
            .get(period)
            .ok_or_else(|| Lookup::UnknownPeriod(period.to_string()))?;
        let p = self.periods.by_start.get(&start);
        let end = p.map_or(start, |p| p.end);
        let bought = self.purchases.iter().find(|x| x.period.as_str() == period);
        let first_day: Vec<(&str, bool, bool)> = self
            .trace
            .iter()
            .flat_map(|t| t.steps.iter())
            .filter_map(|s| match s {
                Step::Eligibility {
                    employee,
                    date,
                    tests,
                    employed,
                    holds_option,
                    ..
                } if *date == start => Some((
                    employee.as_str(),
                    *employed && tests.iter().all(|t| t.pass()),
                    *holds_option,
                )),
                _ => None,
            })
            .collect();
        let eligible = first_day.iter().filter(|x| x.1).count();
        let holders = first_day.iter().filter(|x| x.2).count();
        let sum = |f: &dyn Fn(&crate::employee::Account) -> Decimal| -> Result<Decimal, Rejection> {
            let mut total = Decimal::ZERO;
            for e in self.employees.values() {
                if let Some(a) = e.accounts.get(&start) {
                    total = num::add(total, f(&a), "the report's totals")?;
                }
            }
            Ok(total)
        };
        let overflow = |_| Lookup::UnknownPeriod(format!("{period} (totals overflow)"));
        let deductions = sum(&|a| a.deductions).map_err(overflow)?;
        let cash = sum(&|a| a.cash_payments).map_err(overflow)?;
        let refunds_in_period = sum(&|a| a.refunds).map_err(overflow)?;
        let contributions = num::add(deductions, cash, "contributions").map_err(overflow)?;
        let participants = bought.map_or(0, |b| {
            b.allocations
                .iter()
                .filter(|a| a.shares > Decimal::ZERO)
                .count()
        });
        let rate = if eligible == 0 {
            None
        } else {
            // participants / eligible, as a percentage with 2 places (decimal arithmetic).
            num::div(
                Decimal::from(participants as u64 * 100),
                Decimal::from(eligible as u64),
                "the participation rate",
            )
            .ok()
            .map(|r| fixed(num::round_half_up(r, 2), 2))
        };
        let mut rows = Vec::new();
        let (mut refunded, mut carried, mut cost) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut discount = None;
        let mut reserve_left = None;
        if let Some(b) = bought {
            for a in &b.allocations {
                refunded = num::add(refunded, a.refunded, "refunds").map_err(overflow)?;
                carried = num::add(carried, a.carried, "carried").map_err(overflow)?;
                cost = num::add(cost, a.cost, "cost").map_err(overflow)?;
                rows.push(json!({
                    "employee": a.employee.as_str(),
                    "shares": plain(a.shares),
                    "cost": money(a.cost),
                    "refunded": money(a.refunded),
                    "carried": money(a.carried),
                }));
            }
            let per_share = num::sub(b.fmv_purchase, b.price, "the discount").map_err(overflow)?;
            discount = Some(money(num::round_half_up(
                num::mul(per_share, b.shares, "the discount value").map_err(overflow)?,
                2,
            )));
            // The shares left right after it: the traced purchase saw the shares left before.
            reserve_left = self
                .trace
                .iter()
                .flat_map(|t| t.steps.iter())
                .find_map(|s| match s {
                    Step::Purchase(p) if p.period.as_str() == period => {
                        Some(plain(p.left - b.shares.min(p.left)))
                    }
                    _ => None,
                });
        }
        let (mut sold, mut certificated, mut held, mut lot_shares) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for l in self.lots.iter().filter(|l| l.period.as_str() == period) {
            sold = sold.saturating_add(l.sold);
            certificated = certificated.saturating_add(l.certificated);
            held = held.saturating_add(l.held);
            lot_shares = lot_shares.saturating_add(l.shares);
        }
        let price_dp = bought.map_or(4, |b| b.price_decimals);
        Ok(json!({
            "period": period,
            "start": start.to_string(),
            "end": end.to_string(),
            "purchased": bought.map(|b| b.date.to_string()),
            "eligible": eligible,
            "holding_option_on_first_day": holders,
            "participants": participants,
            "participation_rate_percent": rate,
            "deductions": money(deductions),
            "cash_payments": money(cash),
            "contributions": money(contributions),
            "grant_date": bought.map(|b| b.grant_date.to_string()),
            "fmv_grant": bought.map(|b| plain(b.fmv_grant)),
            "fmv_purchase": bought.map(|b| plain(b.fmv_purchase)),
            "price": bought.map(|b| fixed(b.price, price_dp)),
            "shares_bought": bought.map(|b| plain(b.shares)),
            "cost": money(cost),
            "discount_value": discount,
            "refunded_at_purchase": money(refunded),
            "refunds_in_period": money(refunds_in_period),
            "carried": money(carried),
            "reserve_left": reserve_left,
            "prorated": bought.map(|b| b.prorated),
            "since": {
                "shares": plain(lot_shares),
                "sold": plain(sold),
                "certificated": plain(certificated),
                "held": plain(held),
            },
            "rows": rows,
        }))
    }

    /// `report enrolment`: who is eligible but not enrolled (judged on the latest period's
    /// first day), who sits out and which §4 test failed, open election windows with their
    /// deadlines, and the period calendar.
    pub fn report_enrolment(&self) -> Value {
        let latest = self.periods.opened_through;
        let mut not_enrolled = Vec::new();
        let mut sitting_out = Vec::new();
        let mut seen = BTreeSet::new();
        // The latest judgement of each employee on the latest first day.
        for s in self.trace.iter().flat_map(|t| t.steps.iter()).rev() {
            let Step::Eligibility {
                employee,
                date,
                period,
                employed,
                enrolled,
                tests,
                ..
            } = s
            else {
                continue;
            };
            if Some(*date) != latest || !seen.insert(employee.clone()) {
                continue;
            }
            let Some(e) = self.employees.get(employee.as_str()) else {
                continue;
            };
            let failed: Vec<Value> = tests
                .iter()
                .filter(|t| !t.pass())
                .map(|t| json!({"section": t.section(), "rule": t.describe()}))
                .collect();
            if !enrolled && *employed && failed.is_empty() && !e.enrolled && e.employed {
                not_enrolled.push(json!({
                    "employee": employee.as_str(),
                    "period": period.as_str(),
                    "status": e.status().as_str(),
                }));
            }
            if e.status() == crate::Status::SittingOut {
                sitting_out.push(json!({
                    "employee": employee.as_str(),
                    "period": period.as_str(),
                    "why": failed,
                }));
            }
        }
        not_enrolled.reverse();
        sitting_out.reverse();
        let windows: Vec<Value> = self
            .employees
            .iter()
            .filter_map(|(id, e)| {
                e.window.map(|w| {
                    json!({
                        "employee": id.as_str(),
                        "section": w.kind.section(),
                        "after": w.kind.cause(),
                        "opened": w.opened.to_string(),
                        "deadline": w.deadline.to_string(),
                        "default": w.kind.default_choice().as_str(),
                    })
                })
            })
            .collect();
        let calendar: Vec<Value> = self
            .period_infos()
            .into_iter()
            .map(|p| {
                json!({
                    "period": p.id,
                    "start": p.start.to_string(),
                    "end": p.end.to_string(),
                    "status": p.status,
                    "purchased": p.purchased.map(|d| d.to_string()),
                })
            })
            .collect();
        json!({
            "eligible_not_enrolled": not_enrolled,
            "sitting_out": sitting_out,
            "open_windows": windows,
            "periods": calendar,
        })
    }
}
