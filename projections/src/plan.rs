//! The plan's own events: adoption and approval (§1, §24), the period schedule (§7, §9), the
//! market (§8) — and the checks every set of rules must pass.

use espp_events::{Day, PeriodId, Rules, RulesPatch};
use rust_decimal::Decimal;

use crate::market::Quote;
use crate::num::MAX_SCALE;
use crate::period::Period;
use crate::state::{Rejection, State};

/// The lowest price factor the plan allows (§8; §23 lets it only be raised).
fn min_price_factor() -> Decimal {
    Decimal::new(85, 2)
}

/// Checks a full set of rules: what no amendment or override may set (§6, §8, §23).
pub fn check_rules(rules: &Rules) -> Result<(), Rejection> {
    let factor = rules.price_factor.get();
    if factor < min_price_factor() {
        return Err(Rejection::plan(
            "§8",
            format!("price_factor {factor} is below the plan's floor 0.85"),
        ));
    }
    if rules.max_rate.get() <= Decimal::ZERO {
        return Err(Rejection::plan(
            "§6",
            format!("max_rate {} must be above 0", rules.max_rate),
        ));
    }
    if rules.rate_step.get() <= Decimal::ZERO {
        return Err(Rejection::plan(
            "§6",
            format!("rate_step {} must be above 0", rules.rate_step),
        ));
    }
    for (name, n) in [
        ("price_decimals", rules.price_decimals.get()),
        ("share_decimals", rules.share_decimals.get()),
    ] {
        if n > MAX_SCALE {
            return Err(Rejection::plan(
                "§8",
                format!("{name} {n} exceeds the {MAX_SCALE} decimal places a decimal holds"),
            ));
        }
    }
    Ok(())
}

/// Checks a compliance `--rules` override, as it would stand on top of the plan's defaults.
pub fn check_overrides(patch: &RulesPatch) -> Result<(), Rejection> {
    check_rules(&Rules::default().with(patch))
}

impl State {
    pub(crate) fn plan_adopted(&mut self, date: Day, patch: &RulesPatch) -> Result<(), Rejection> {
        if let Some(adopted) = self.plan.adopted {
            return Err(Rejection::plan(
                "§24",
                format!("the plan was already adopted on {adopted}; a second plan_adopted is refused (plan_amended changes rules)"),
            ));
        }
        let log_rules = Rules::default().with(patch);
        check_rules(&log_rules)?;
        let rules = match &self.overrides {
            Some(o) => log_rules.with(o),
            None => log_rules.clone(),
        };
        self.plan.adopted = Some(date);
        self.plan.log_rules = log_rules;
        self.rules = rules;
        Ok(())
    }

    pub(crate) fn stockholders_approved(&mut self, date: Day) -> Result<(), Rejection> {
        let Some(adopted) = self.plan.adopted else {
            return Err(Rejection::plan(
                "§24",
                format!("stockholders approve a plan the Board adopted; none is adopted on {date}"),
            ));
        };
        if let Some(approved) = self.plan.approved {
            return Err(Rejection::plan(
                "§24",
                format!("the stockholders already approved the plan on {approved}"),
            ));
        }
        let months = self.rules.approval_window_months.get();
        if let Some(deadline) = adopted.add_months(months) {
            if date > deadline {
                return Err(Rejection::plan(
                    "§24",
                    format!("approval on {date} is after the window of {months} months from adoption on {adopted} (last day {deadline})"),
                ));
            }
        }
        self.plan.approved = Some(date);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn period_scheduled(
        &mut self,
        date: Day,
        id: &PeriodId,
        start: Day,
        end: Day,
        share_limit: Option<Decimal>,
        value_limit: Option<Decimal>,
        price_factor: Option<Decimal>,
    ) -> Result<(), Rejection> {
        if self.plan.adopted.is_none() {
            return Err(Rejection::plan(
                "§7",
                format!("period {id} is scheduled on {date}, before the plan is adopted"),
            ));
        }
        let period = Period {
            id: id.clone(),
            start,
            end,
            share_limit,
            value_limit,
            price_factor,
            rules: None,
            purchased: None,
        };
        self.periods
            .check_new(&period, date, self.rules.price_factor.get())?;
        self.periods.start_of.insert(id.clone(), start);
        self.periods.by_start.insert(start, period);
        // A period scheduled on (or after) its own first day opens at once.
        self.run_deadlines(date);
        Ok(())
    }

    pub(crate) fn market_price(&mut self, date: Day, quote: Quote<'_>) -> Result<(), Rejection> {
        let own = quote.own_fmv()?;
        if let Some((_, p)) = self.periods.by_start.range(..=date).next_back() {
            if let Some(bought) = p.purchased {
                if date <= p.end {
                    return Err(Rejection::plan(
                        "§9",
                        format!(
                            "period {}'s purchase executed on {bought}: no price within the period ({} to {}) may follow it, got one for {date}",
                            p.id, p.start, p.end
                        ),
                    ));
                }
            }
        }
        self.market.record(date, own);
        Ok(())
    }
}
