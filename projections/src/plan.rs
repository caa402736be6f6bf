//! The plan's own events: adoption and approval (§1, §24), the period schedule (§7, §9), the
//! market (§8) — and the checks every set of rules must pass.

use espp_events::{Day, PeriodId, Rules, RulesPatch, TerminationReason};
use rust_decimal::Decimal;

use crate::market::Quote;
use crate::num::MAX_SCALE;
use crate::period::Period;
use crate::purchase::Trigger;
use crate::state::{PlanEnd, Rejection, State};

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
        self.check_not_ended(&format!("stockholders_approved on {date}"))?;
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
        self.check_not_ended(&format!("period {id} scheduled on {date}"))?;
        let period = Period {
            id: id.clone(),
            start,
            end,
            share_limit,
            value_limit,
            price_factor,
            rules: None,
            purchased: None,
            deemed_end: None,
        };
        self.periods
            .check_new(&period, date, self.rules.price_factor.get())?;
        self.periods.start_of.insert(id.clone(), start);
        self.periods.by_start.insert(start, period);
        // A period scheduled on (or after) its own first day opens at once.
        self.run_deadlines(date);
        Ok(())
    }

    /// §23: the Board amends the plan. The reserve changes at once; purchase terms apply
    /// to periods that start later (each period keeps the rules it opened with). Raising the
    /// reserve or changing eligibility needs the stockholders' approval; the price factor
    /// may only be raised; the reserve never goes below the shares already bought.
    pub(crate) fn plan_amended(
        &mut self,
        date: Day,
        changes: &RulesPatch,
        stockholder_approved: bool,
    ) -> Result<(), Rejection> {
        if self.plan.adopted.is_none() {
            return Err(Rejection::plan(
                "§23",
                format!("plan_amended on {date}: no plan is adopted"),
            ));
        }
        self.check_not_ended(&format!("plan_amended on {date}"))?;
        let old = &self.plan.log_rules;
        let new = old.with(changes);
        check_rules(&new)?;
        let needs_approval = |what: String| {
            Rejection::plan(
                "§23",
                format!("plan_amended on {date}: {what} needs the stockholders' approval (stockholder_approved: true)"),
            )
        };
        let (old_reserve, new_reserve) = (old.share_reserve.get(), new.share_reserve.get());
        if new_reserve > old_reserve && !stockholder_approved {
            return Err(needs_approval(format!(
                "raising the share reserve from {old_reserve} to {new_reserve}"
            )));
        }
        if new_reserve < self.plan.shares_bought {
            return Err(Rejection::plan(
                "§23",
                format!(
                    "plan_amended on {date}: a share reserve of {new_reserve} is below the {} shares already bought",
                    crate::num::plain(self.plan.shares_bought)
                ),
            ));
        }
        let eligibility = [
            (
                "min_service_months",
                old.min_service_months != new.min_service_months,
            ),
            (
                "min_customary_months",
                old.min_customary_months != new.min_customary_months,
            ),
            (
                "min_weekly_hours",
                old.min_weekly_hours != new.min_weekly_hours,
            ),
            (
                "ownership_limit",
                old.ownership_limit != new.ownership_limit,
            ),
        ];
        if !stockholder_approved {
            if let Some((name, _)) = eligibility.iter().find(|(_, changed)| *changed) {
                return Err(needs_approval(format!(
                    "changing the eligibility requirement {name}"
                )));
            }
        }
        if new.price_factor.get() < old.price_factor.get() {
            return Err(Rejection::plan(
                "§23",
                format!(
                    "plan_amended on {date}: price_factor {} is below the {} in force; it may only be raised",
                    new.price_factor, old.price_factor
                ),
            ));
        }
        let rules = match &self.overrides {
            Some(o) => new.with(o),
            None => new.clone(),
        };
        self.plan.log_rules = new;
        self.rules = rules;
        Ok(())
    }

    /// §24: the Board terminates the plan (as §19(a)); or a change in control (§25(c)).
    pub(crate) fn plan_terminated(
        &mut self,
        date: Day,
        seq: u64,
        seq_before: u64,
        reason: TerminationReason,
        assumed: Option<bool>,
    ) -> Result<(), Rejection> {
        let what = reason.as_str();
        if assumed == Some(true) && reason == TerminationReason::Board {
            return Err(Rejection::plan(
                "§24",
                format!("plan_terminated board on {date}: assumed applies only to a change in control (§25(c))"),
            ));
        }
        if self.plan.adopted.is_none() {
            return Err(Rejection::plan(
                "§24",
                format!("plan_terminated {what} on {date}: no plan is adopted"),
            ));
        }
        self.check_not_ended(&format!("plan_terminated {what} on {date}"))?;
        match reason {
            TerminationReason::Board => {
                self.end_plan(date, PlanEnd::Board);
                Ok(())
            }
            // §25(c): the successor continues the plan and assumes the rights: nothing
            // changes.
            TerminationReason::ChangeInControl if assumed == Some(true) => Ok(()),
            TerminationReason::ChangeInControl => self.change_in_control(date, seq, seq_before),
        }
    }

    /// §25(c), DOMAIN.md §7: the open period is deemed to end on the last trading day before
    /// the termination; its purchase executes there (dated that day, closing the books
    /// through it); then the plan ends as at the end of its term: what cash is left is
    /// refunded and the shares stay with the Agent. Without an open period, a trading day
    /// in it before `date`, or the stockholders' approval by that day, nothing is bought.
    fn change_in_control(&mut self, date: Day, seq: u64, seq_before: u64) -> Result<(), Rejection> {
        let deemed = self.periods.open_period().and_then(|p| {
            let before = date.add_days(-1)?;
            let last = self.market.last_in(p.start, before)?;
            Some((p.id.clone(), last))
        });
        if let Some((period, last)) = deemed {
            let approved = self.plan.approved.is_some_and(|a| a <= last);
            if approved {
                let trigger = Trigger::ChangeInControl { terminated: date };
                let done = self.decide_purchase(last, seq, seq_before, &period, trigger)?;
                self.execute_purchase(done, seq, trigger);
            }
            if let Some(start) = self.periods.start_of.get(period.as_str()).copied() {
                if let Some(p) = self.periods.by_start.get_mut(&start) {
                    p.deemed_end = Some(last);
                }
            }
        }
        self.end_plan(date, PlanEnd::ChangeInControl);
        Ok(())
    }

    pub(crate) fn market_price(&mut self, date: Day, quote: Quote<'_>) -> Result<(), Rejection> {
        let own = quote.own_fmv()?;
        if let Some((_, p)) = self.periods.by_start.range(..=date).next_back() {
            if let Some(bought) = p.purchased {
                // A period a change in control ended early ends on its deemed last day.
                if date <= p.deemed_end.unwrap_or(p.end) {
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
