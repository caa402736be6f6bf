//! The purchase at a period's last trading day (§8, §9, §13): the price with its look-back,
//! each participant's shares under every cap, the participation adjustment, the cost, the
//! refund or carry of what is left, and the lots.

use espp_events::{Day, EmployeeId, PeriodId, Residual};
use rust_decimal::Decimal;

use crate::explain::{Cap, Leftover, PurchaseSteps, Step};
use crate::num;
use crate::state::{PlanEnd, Rejection, State};

/// A lot's figures as purchased, before any later capital change (§25): what Form 3922
/// reports (DOMAIN.md §9).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AsPurchased {
    #[serde(with = "crate::ser::dec")]
    pub fmv_grant: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub fmv_purchase: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub price: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares: Decimal,
    /// The price factor the purchase used (the period's, where higher than the plan's).
    #[serde(with = "crate::ser::dec")]
    pub price_factor: Decimal,
    /// The rules' `price_decimals` at the purchase.
    pub price_decimals: u32,
}

/// Shares bought for one employee at one purchase, and where they are now. The per-share
/// figures and share counts are in today's shares: a capital change (§25) multiplies the
/// counts and divides the per-share values; `as_purchased` keeps them as they were bought.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Lot {
    pub employee: EmployeeId,
    pub period: PeriodId,
    /// The period's first day (§10, §11 count two years from it).
    pub period_start: Day,
    pub grant_date: Day,
    pub purchase_date: Day,
    #[serde(with = "crate::ser::dec")]
    pub fmv_grant: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub fmv_purchase: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub price: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub held: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub certificated: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub sold: Decimal,
    pub as_purchased: AsPurchased,
}

/// One employee's part of a purchase.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Allocation {
    pub employee: EmployeeId,
    #[serde(with = "crate::ser::dec")]
    pub shares: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub cost: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub refunded: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub carried: Decimal,
}

/// An executed purchase.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PurchaseDone {
    pub period: PeriodId,
    pub date: Day,
    pub grant_date: Day,
    #[serde(with = "crate::ser::dec")]
    pub fmv_grant: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub fmv_purchase: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub price: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares: Decimal,
    pub prorated: bool,
    pub allocations: Vec<Allocation>,
    /// The price factor used (the period's, where higher than the plan's).
    #[serde(with = "crate::ser::dec")]
    pub price_factor: Decimal,
    /// The rules' `price_decimals` at the purchase.
    pub price_decimals: u32,
    /// Each traced employee's steps (only when the fold keeps a trace; never stored).
    #[serde(skip)]
    pub explained: Vec<PurchaseSteps>,
}

/// What set a purchase off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A `purchase` event dated the period's last trading day.
    Event,
    /// A change in control terminating the plan on `terminated` (§25(c)): the period is
    /// deemed to end on the purchase's day, the last trading day before it, and every
    /// participant's option ends with the purchase.
    ChangeInControl { terminated: Day },
}

/// One participant's figures while the purchase is decided.
struct Want {
    employee: EmployeeId,
    balance: Decimal,
    /// Step 1: what the balance buys.
    wanted: Decimal,
    /// After the caps of steps 2–4.
    capped: Decimal,
    /// After the participation adjustment of step 5: what is bought.
    shares: Decimal,
    /// The option ends with this purchase (reduce, retirement, death).
    ends: bool,
    /// The caps of steps 2–4 with their figures, when the fold traces this employee.
    caps: Option<Vec<Cap>>,
    /// The annual limit's headroom (§9 step 2).
    headroom: Decimal,
}

impl State {
    pub(crate) fn purchase(
        &mut self,
        date: Day,
        seq: u64,
        seq_before: u64,
        period_id: &PeriodId,
    ) -> Result<(), Rejection> {
        let done = self.decide_purchase(date, seq, seq_before, period_id, Trigger::Event)?;
        self.execute_purchase(done, seq, Trigger::Event);
        Ok(())
    }

    /// Everything the purchase will do, computed without changing the state.
    pub(crate) fn decide_purchase(
        &self,
        date: Day,
        seq: u64,
        seq_before: u64,
        period_id: &PeriodId,
        trigger: Trigger,
    ) -> Result<PurchaseDone, Rejection> {
        let Some(adopted) = self.plan.adopted else {
            return Err(Rejection::plan(
                "§9",
                format!("purchase of period {period_id} on {date}: no plan is adopted"),
            ));
        };
        self.check_not_ended(&format!("purchase of period {period_id} on {date}"))?;
        match self.plan.approved {
            Some(approved) if approved <= date => {}
            _ => {
                return Err(Rejection::plan(
                    "§9",
                    format!("purchase of period {period_id} on {date}: no shares are sold before the stockholders approve the plan (§24)"),
                ))
            }
        }
        let years = self.rules.term_years.get();
        if let Some(term_end) = adopted.add_months(years.saturating_mul(12)) {
            if date >= term_end {
                return Err(Rejection::plan(
                    "§24",
                    format!("purchase on {date} is on or after the end of the plan's {years}-year term ({term_end})"),
                ));
            }
        }
        if seq_before > seq {
            return Err(match trigger {
                Trigger::Event => Rejection::plan(
                    "§9",
                    format!("purchase of period {period_id} (seq {seq}) on {date}: an event recorded after it (seq {seq_before}) is dated on or before it, but the purchase closes the books through {date}"),
                ),
                Trigger::ChangeInControl { terminated } => Rejection::plan(
                    "§25",
                    format!("plan_terminated change_in_control (seq {seq}) on {terminated}: period {period_id} is deemed ended on {date} and its purchase executed then is final, but an event recorded after the termination (seq {seq_before}) is dated before it; date it on or after {terminated}"),
                ),
            });
        }
        let Some(period) = self.periods.get(period_id.as_str()) else {
            return Err(Rejection::plan(
                "§9",
                format!("purchase on {date} of period {period_id}, which is not scheduled"),
            ));
        };
        if let Some(bought) = period.purchased {
            return Err(Rejection::plan(
                "§9",
                format!("period {period_id}'s purchase already executed on {bought}"),
            ));
        }
        let last = match trigger {
            Trigger::Event => self.market.last_in(period.start, period.end),
            // The caller found `date`, the last trading day before the termination.
            Trigger::ChangeInControl { .. } => Some(date),
        };
        if last != Some(date) || self.periods.open != Some(period.start) {
            let (start, end) = (period.start, period.end);
            let why = match last {
                None => format!(
                    "period {period_id} ({start} to {end}) has no trading day yet: a purchase is dated the period's last trading day, so a market_price within the period must come first"
                ),
                Some(last) if date < last => format!(
                    "purchase of period {period_id} ({start} to {end}) is dated {date}; it must be dated {last}, the period's last trading day (its latest market_price)"
                ),
                Some(last) if date > last => format!(
                    "purchase of period {period_id} ({start} to {end}) is dated {date}, which has no market_price (the period's latest trading day on or before it is {last}): a purchase is dated the period's last trading day, the day of its latest market_price — date it that day, and append that day's market_price first if it is missing"
                ),
                Some(_) => format!(
                    "purchase of period {period_id} ({start} to {end}) is dated {date}, a day the period is not open"
                ),
            };
            return Err(Rejection::plan("§9", why));
        }
        let grant_date = self.market.first_in(period.start, date).unwrap_or(date);
        let no_fmv = |day: Day, which: &str| {
            Rejection::plan(
                "§8",
                format!("purchase of period {period_id}: no fair market value for {day}, its {which} trading day (no sale reported and no earlier price)"),
            )
        };
        let fmv_grant = self
            .market
            .fmv(grant_date)
            .ok_or_else(|| no_fmv(grant_date, "first"))?;
        let fmv_purchase = self.market.fmv(date).ok_or_else(|| no_fmv(date, "last"))?;
        let rules = period.rules.as_ref().unwrap_or(&self.rules);

        // §8: the lesser FMV times the price factor (the period's own where higher), rounded
        // up to price_decimals, never below par.
        let factor = period.price_factor.map_or(rules.price_factor.get(), |f| {
            f.max(rules.price_factor.get())
        });
        let price_dp = rules.price_decimals.get();
        let lower = fmv_grant.min(fmv_purchase);
        let mut price = num::round_up(num::mul(factor, lower, "the purchase price")?, price_dp)
            .max(rules.par_value.get());
        price.rescale(price_dp.min(num::MAX_SCALE));

        let dp = if rules.whole_shares {
            0
        } else {
            rules.share_decimals.get()
        };
        let year = date.year();
        let limit_of_ownership = match self.shares_outstanding {
            Some(out) => Some(num::mul(
                rules.ownership_limit.get(),
                out,
                "the 5% ownership limit",
            )?),
            None => None,
        };

        let traced = self.trace.as_deref();
        let mut wants = Vec::new();
        for (id, e) in &self.employees {
            // A window still open takes its default (withdraw, or the estate's refund) when
            // the period closes: no purchase for it.
            if e.option_in != Some(period.start) || e.window.is_some() || e.balance <= Decimal::ZERO
            {
                continue;
            }
            let wanted = num::max_units(e.balance, price, dp, "the shares a balance buys")?;
            let mut capped = wanted;
            let mut caps = traced
                .filter(|t| t.follows(id.as_str()))
                .map(|_| Vec::new());
            // Step 2: the annual limit at grant FMV, inclusive.
            let used = e.bought_value.get(year).unwrap_or_default();
            let annual = rules.annual_limit.get();
            let headroom = annual - used.min(annual);
            let annual_cap = num::max_units(headroom, fmv_grant, dp, "the annual limit")?;
            capped = capped.min(annual_cap);
            if let Some(caps) = &mut caps {
                caps.push(Cap {
                    name: "annual_limit",
                    section: "§9",
                    figures: format!(
                        "headroom {} = limit {} − {} bought in {year} at grant FMV; floor({} / FMV at grant {})",
                        num::money(headroom),
                        num::money(annual),
                        num::money(used.min(annual)),
                        num::money(headroom),
                        num::plain(fmv_grant)
                    ),
                    shares: annual_cap,
                });
            }
            // Step 3: the period's share and value limits.
            if let Some(limit) = period.share_limit {
                let cap = num::floor_dp(limit, dp);
                capped = capped.min(cap);
                if let Some(caps) = &mut caps {
                    caps.push(Cap {
                        name: "share_limit",
                        section: "§9",
                        figures: format!("period {period_id}'s share limit {}", num::plain(limit)),
                        shares: cap,
                    });
                }
            }
            if let Some(limit) = period.value_limit {
                let cap = num::max_units(limit, fmv_grant, dp, "the value limit")?;
                capped = capped.min(cap);
                if let Some(caps) = &mut caps {
                    caps.push(Cap {
                        name: "value_limit",
                        section: "§9",
                        figures: format!(
                            "floor(period {period_id}'s value limit {} / FMV at grant {})",
                            num::money(limit),
                            num::plain(fmv_grant)
                        ),
                        shares: cap,
                    });
                }
            }
            // Step 4: own less than the ownership limit afterwards.
            if let Some(limit) = limit_of_ownership {
                let room = num::sub(limit, e.owned(), "the ownership room")?;
                let cap = if room <= Decimal::ZERO {
                    Decimal::ZERO
                } else {
                    let floor = num::floor_dp(room, dp);
                    if floor == room {
                        floor - num::unit(dp)
                    } else {
                        floor
                    }
                };
                let cap = cap.max(Decimal::ZERO);
                capped = capped.min(cap);
                if let Some(caps) = &mut caps {
                    caps.push(Cap {
                        name: "ownership_limit",
                        section: "§4(d)",
                        figures: format!(
                            "own less than {} × {} outstanding = {} afterwards: owns {}, room {}",
                            num::plain(rules.ownership_limit.get()),
                            num::plain(self.shares_outstanding.unwrap_or_default()),
                            num::plain(limit),
                            num::plain(e.owned()),
                            num::plain(room)
                        ),
                        shares: cap,
                    });
                }
            }
            wants.push(Want {
                employee: id.clone(),
                balance: e.balance,
                wanted,
                capped,
                shares: capped,
                ends: e.ends_at_purchase
                    || !e.employed
                    || e.died.is_some()
                    || trigger != Trigger::Event,
                caps,
                headroom,
            });
        }

        // Step 5 (§13): the participation adjustment.
        // The reserve as amended today (a change to it takes effect at once, §23).
        let left = num::sub(
            self.rules.share_reserve.get(),
            self.plan.shares_bought,
            "the shares left",
        )?
        .max(Decimal::ZERO);
        let mut total_wanted = Decimal::ZERO;
        for w in &wants {
            total_wanted = num::add(total_wanted, w.capped, "the shares wanted")?;
        }
        // A one-employee fold takes every account's sum from the purchase's stored part (a
        // purchase not prorated: every account bought what it wanted).
        let outside = self
            .outside
            .as_ref()
            .and_then(|o| o.get(period_id.as_str()).copied());
        if let Some(all) = outside {
            total_wanted = all;
        }
        let prorated = total_wanted > left;
        let mut total = Decimal::ZERO;
        for w in &mut wants {
            if prorated {
                let scaled = num::mul(w.capped, left, "the participation adjustment")?;
                w.shares =
                    num::max_units(scaled, total_wanted, dp, "the participation adjustment")?;
            }
            total = num::add(total, w.shares, "the shares bought")?;
        }
        if let Some(all) = outside {
            total = all;
        }
        // The plan ends when this purchase leaves no shares in the reserve (§24), and with it
        // everyone's participation. It is not exhausted while shares are left: a §13
        // proration that floors every share leaves its remainder in the reserve.
        let exhausts = total >= left;
        let mut allocations = Vec::with_capacity(wants.len());
        let mut explained = Vec::new();
        for w in wants {
            let shares = w.shares;
            let cost = num::round_up(num::mul(shares, price, "the cost")?, 2);
            let rest = num::sub(w.balance, cost, "the cash left")?;
            // A cap (steps 2–5) binds only where it lowers this employee's own shares: cash
            // it leaves is refunded. One whose want was 0 (cash under one share's price) is
            // not capped, whatever happens to others: that cash follows `residual`, unless
            // participation ends with this purchase (DOMAIN.md §5).
            let capped = shares < w.wanted;
            let leftover = if capped {
                Leftover::CapBound
            } else if w.ends {
                Leftover::Ends
            } else if exhausts {
                Leftover::Exhausts
            } else {
                Leftover::Residual(rules.residual)
            };
            let (refunded, carried) = match leftover {
                Leftover::Residual(Residual::CarryForward) => (Decimal::ZERO, rest),
                _ => (rest, Decimal::ZERO),
            };
            if let Some(caps) = w.caps {
                explained.push(PurchaseSteps {
                    employee: w.employee.clone(),
                    period: period_id.clone(),
                    date,
                    grant_date,
                    fmv_grant,
                    fmv_purchase,
                    price_factor: factor,
                    price_exact: factor.saturating_mul(lower),
                    par_value: rules.par_value.get(),
                    price,
                    price_decimals: price_dp,
                    share_decimals: dp,
                    balance: w.balance,
                    wanted: w.wanted,
                    caps,
                    capped: w.capped,
                    left,
                    total_wanted,
                    prorated,
                    shares,
                    cost,
                    rest,
                    refunded,
                    carried,
                    leftover,
                    owned: self
                        .employees
                        .get(w.employee.as_str())
                        .map_or(Decimal::ZERO, |e| e.owned()),
                    ownership_limit_shares: limit_of_ownership,
                    headroom: w.headroom,
                });
            }
            allocations.push(Allocation {
                employee: w.employee,
                shares,
                cost,
                refunded,
                carried,
            });
        }
        Ok(PurchaseDone {
            period: period_id.clone(),
            date,
            grant_date,
            fmv_grant,
            fmv_purchase,
            price,
            shares: total,
            prorated,
            allocations,
            price_factor: factor,
            price_decimals: price_dp,
            explained,
        })
    }

    /// Applies a decided purchase: accounts, lots, the reserve, and the period closes. A
    /// purchase event that uses up the reserve ends the plan (§24); after a change in
    /// control the caller ends it.
    pub(crate) fn execute_purchase(&mut self, mut done: PurchaseDone, seq: u64, trigger: Trigger) {
        for p in std::mem::take(&mut done.explained) {
            self.trace_step(Step::Purchase(Box::new(p)));
        }
        let year = done.date.year();
        let start = self.periods.start_of.get(done.period.as_str()).copied();
        for a in &done.allocations {
            let Some(e) = self.employees.get_mut(a.employee.as_str()) else {
                continue;
            };
            // Sums below are bounded by the balance and by the checked totals above.
            e.balance -= a.cost + a.refunded;
            e.spent += a.cost;
            e.refunded += a.refunded;
            if e.died.is_some() {
                // §20: after death, cash is paid to the estate.
                e.refunded_to_estate += a.refunded;
            }
            e.shares_held += a.shares;
            let value = a.shares.saturating_mul(done.fmv_grant);
            let used = e.bought_value.entry(year);
            *used = used.saturating_add(value);
            if a.shares > Decimal::ZERO {
                e.lots.push(self.lots.len());
                self.lots.push(Lot {
                    employee: a.employee.clone(),
                    period: done.period.clone(),
                    period_start: start.unwrap_or(done.grant_date),
                    grant_date: done.grant_date,
                    purchase_date: done.date,
                    fmv_grant: done.fmv_grant,
                    fmv_purchase: done.fmv_purchase,
                    price: done.price,
                    shares: a.shares,
                    held: a.shares,
                    certificated: Decimal::ZERO,
                    sold: Decimal::ZERO,
                    as_purchased: AsPurchased {
                        fmv_grant: done.fmv_grant,
                        fmv_purchase: done.fmv_purchase,
                        price: done.price,
                        shares: a.shares,
                        price_factor: done.price_factor,
                        price_decimals: done.price_decimals,
                    },
                });
            }
            if let Some(start) = start {
                let held = e.shares_held;
                let acct = e.account(start);
                acct.shares_bought += a.shares;
                acct.refunds += a.refunded;
                acct.cost += a.cost;
                acct.price = Some(done.price);
                acct.shares_held_end = Some(held);
            }
        }
        self.plan.shares_bought += done.shares;
        if let Some(start) = start {
            if let Some(p) = self.periods.by_start.get_mut(&start) {
                p.purchased = Some(done.date);
            }
        }
        self.close_period();
        self.closed = Some((done.date, seq));
        let date = done.date;
        self.purchases.push(done);
        if trigger == Trigger::Event && self.plan.shares_bought >= self.rules.share_reserve.get() {
            self.end_plan(date, PlanEnd::ReserveUsedUp);
        }
    }
}
