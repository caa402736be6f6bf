//! Eligibility on a period's first day (§4, DOMAIN.md §4): judged when the period opens, and
//! judged again whenever a fact of §4 changes later that same day, so that the facts at the
//! end of the first day decide whatever the seq order of that day's events.
//!
//! The fold applies events in `(date, seq)` order, and a projection may be asked for at any
//! point (an as-of fold on the first day, a checkpoint, the acceptance book folding in
//! place). So the state is kept, after every event of the first day, as the end of that day
//! would judge it with what has been folded so far: a change that makes an option holder
//! ineligible takes the day's deductions back, as if the option had never been granted; one
//! that makes an employee who sat the period out eligible grants the option and credits the
//! day's payrolls, which the employee's [`Employee::first_day_due`] kept for that. Neither
//! is §19(b): nothing is refunded or certificated for it, and the enrolment goes on.
//!
//! Nothing here runs on days other than a period's first, and nothing allocates.

use espp_events::{Day, EmployeeId, Rules};
use rust_decimal::Decimal;

use crate::employee::Employee;
use crate::num;
use crate::state::{Rejection, State};

/// The facts §4 judges, other than employment itself (which §15–§18 govern).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section4 {
    pub hire_date: Day,
    pub weekly_hours: Decimal,
    pub months_per_year: Decimal,
    /// Holdings and options reported outside the plan.
    pub ownership: Decimal,
    /// Shares bought under the plan, held by the Agent or certificated.
    pub plan_shares: Decimal,
}

/// One requirement of §4 as judged: its section, whether it is met, and the figures it
/// compared. [`Section4::met`] is "every test passes", so an explanation that lists these
/// is the judgement itself, not a second copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    /// §4(a): hired at least `months` before the period's first day.
    Service {
        hire_date: Day,
        months: u32,
        /// hire_date + months (None when out of the calendar's range).
        served_from: Option<Day>,
        start: Day,
        pass: bool,
    },
    /// §4(b): customarily employed at least `min` months a year.
    Months {
        months_per_year: Decimal,
        min: u32,
        pass: bool,
    },
    /// §4(c): customarily employed more than `min` hours a week.
    Hours {
        weekly_hours: Decimal,
        min: Decimal,
        pass: bool,
    },
    /// §4(d): owns less than `limit` × the latest outstanding shares (no test while none
    /// has been reported).
    Ownership {
        owned: Decimal,
        limit: Decimal,
        outstanding: Option<Decimal>,
        pass: bool,
    },
}

impl Test {
    /// Whether the requirement is met.
    pub(crate) fn pass(&self) -> bool {
        match *self {
            Test::Service { pass, .. }
            | Test::Months { pass, .. }
            | Test::Hours { pass, .. }
            | Test::Ownership { pass, .. } => pass,
        }
    }

    /// The plan section.
    pub(crate) fn section(&self) -> &'static str {
        match self {
            Test::Service { .. } => "§4(a)",
            Test::Months { .. } => "§4(b)",
            Test::Hours { .. } => "§4(c)",
            Test::Ownership { .. } => "§4(d)",
        }
    }

    /// The facts and the rule, as a person reads them ("weekly hours 20, not more than 20").
    pub(crate) fn describe(&self) -> String {
        let p = crate::num::plain;
        match *self {
            Test::Service {
                hire_date,
                months,
                served_from,
                start,
                pass,
            } => {
                let from = served_from.map_or("never".to_string(), |d| d.to_string());
                let verdict = if pass { "on or before" } else { "after" };
                format!("service: hired {hire_date}, {months} months' service reached {from}, {verdict} the first day {start}")
            }
            Test::Months {
                months_per_year,
                min,
                pass,
            } => {
                let verdict = if pass { "at least" } else { "fewer than" };
                format!(
                    "customary months a year {}, {verdict} {min}",
                    p(months_per_year)
                )
            }
            Test::Hours {
                weekly_hours,
                min,
                pass,
            } => {
                let verdict = if pass { "more than" } else { "not more than" };
                format!("weekly hours {}, {verdict} {}", p(weekly_hours), p(min))
            }
            Test::Ownership {
                owned,
                limit,
                outstanding,
                pass,
            } => match outstanding {
                None => format!(
                    "ownership {} shares: no shares_outstanding reported, no test",
                    p(owned)
                ),
                Some(out) => {
                    let verdict = if pass { "below" } else { "not below" };
                    format!(
                        "ownership {} shares (reported and plan shares), {verdict} {} × {} outstanding = {}",
                        p(owned),
                        p(limit),
                        p(out),
                        p(limit.saturating_mul(out))
                    )
                }
            },
        }
    }
}

impl Section4 {
    /// §4(a)–(d) for the period starting `start`, each requirement with its figures.
    pub(crate) fn tests(
        &self,
        start: Day,
        rules: &Rules,
        outstanding: Option<Decimal>,
    ) -> [Test; 4] {
        let months = rules.min_service_months.get();
        let served_from = self.hire_date.add_months(months);
        let owned = self.owned();
        let limit = rules.ownership_limit.get();
        [
            Test::Service {
                hire_date: self.hire_date,
                months,
                served_from,
                start,
                pass: served_from.is_some_and(|d| d <= start),
            },
            Test::Months {
                months_per_year: self.months_per_year,
                min: rules.min_customary_months.get(),
                pass: self.months_per_year >= Decimal::from(rules.min_customary_months.get()),
            },
            Test::Hours {
                weekly_hours: self.weekly_hours,
                min: rules.min_weekly_hours.get(),
                pass: self.weekly_hours > rules.min_weekly_hours.get(),
            },
            Test::Ownership {
                owned,
                limit,
                outstanding,
                pass: outstanding.is_none_or(|out| owned < limit.saturating_mul(out)),
            },
        ]
    }

    /// §4(a)–(d) for the period starting `start`: service, customary employment, and
    /// ownership below the limit of the latest reported outstanding shares (no ownership
    /// test while none has been reported). Every one of [`Section4::tests`].
    pub(crate) fn met(&self, start: Day, rules: &Rules, outstanding: Option<Decimal>) -> bool {
        self.tests(start, rules, outstanding).iter().all(Test::pass)
    }

    /// Customary employment meets §4(b) and §4(c): at least `min_customary_months` a year and
    /// more than `min_weekly_hours` a week (the tests §19(b) applies during a period).
    pub(crate) fn customary(&self, rules: &Rules) -> bool {
        // The start day plays no part in §4(b) and §4(c).
        self.tests(self.hire_date, rules, None)
            .iter()
            .filter(|t| matches!(t, Test::Months { .. } | Test::Hours { .. }))
            .all(Test::pass)
    }

    /// Shares owned for §4(d): reported holdings and options plus plan shares.
    pub(crate) fn owned(&self) -> Decimal {
        self.ownership.saturating_add(self.plan_shares)
    }
}

impl Employee {
    /// The employee's facts of §4 as they stand.
    pub(crate) fn section_4(&self) -> Section4 {
        Section4 {
            hire_date: self.hire_date,
            weekly_hours: self.weekly_hours,
            months_per_year: self.months_per_year,
            ownership: self.ownership,
            plan_shares: self.shares_held.saturating_add(self.shares_certificated),
        }
    }
}

/// Judges an enrolled employee on the first day `start` of the period ending `end`, with the
/// facts as they stand: when the period opens, or when an enrolment dated that day arrives.
/// A pending rate takes effect. The eligible hold the option; the others sit it out.
/// Returns whether the employee was judged (enrolled, and the option not ended earlier).
pub(crate) fn judge(
    e: &mut Employee,
    start: Day,
    end: Day,
    rules: &Rules,
    outstanding: Option<Decimal>,
) -> bool {
    if !e.enrolled || e.ended_in == Some(start) {
        return false;
    }
    if let Some(rate) = e.pending_rate.take() {
        e.rate_in_force = rate;
    }
    if e.employed && e.section_4().met(start, rules, outstanding) {
        e.grant_option(start, end);
    } else {
        e.drop_option();
        e.sat_out = true;
    }
    true
}

/// What judging one employee again on the first day does, worked out before anything
/// changes (so that a refusal leaves the state as it was).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict {
    /// The verdict stands.
    Keep,
    /// An option holder is now ineligible: the option goes as if never granted, and the
    /// day's deductions are taken back (the new balance and contributed).
    Lose {
        balance: Decimal,
        contributed: Decimal,
    },
    /// One who sat the period out is now eligible: the option is granted and the day's
    /// payrolls deduct (the new balance, contributed, period deductions and deficiency).
    Gain {
        balance: Decimal,
        contributed: Decimal,
        deductions: Decimal,
        deficiency: Decimal,
    },
}

/// The verdict for `e` on the first day `start`, with §4's facts `eligible` or not.
///
/// An option that ended earlier that day (a withdrawal, §15) is not reinstated (§19), and
/// one whose employment ended that day (retirement, death) cannot gain an option; but it can
/// lose one it held, as if it had never been granted: employment itself is not one of the
/// facts judged here (§15–§18 govern it), so the order of a death and an ownership report
/// on the same day does not matter.
pub(crate) fn verdict(e: &Employee, start: Day, eligible: bool) -> Result<Verdict, Rejection> {
    if e.ended_in == Some(start) {
        return Ok(Verdict::Keep);
    }
    let holds = e.option_in == Some(start);
    let what = "the first day's deductions";
    if holds && !eligible {
        // On the first day the period's deductions are all that day's.
        let taken = e
            .accounts
            .get(&start)
            .map_or(Decimal::ZERO, |a| a.deductions);
        return Ok(Verdict::Lose {
            balance: num::sub(e.balance, taken, what)?,
            contributed: num::sub(e.contributed, taken, what)?,
        });
    }
    if !holds && eligible && e.sat_out && e.employed {
        let due = e.due_on_first_day(start);
        let deductions = e
            .accounts
            .get(&start)
            .map_or(Decimal::ZERO, |a| a.deductions);
        return Ok(if e.leave.is_some() {
            // On leave: the option is granted with deductions suspended (§17), so the day's
            // payrolls accrue as deficiency.
            Verdict::Gain {
                balance: e.balance,
                contributed: e.contributed,
                deductions,
                deficiency: num::add(e.deficiency, due, what)?,
            }
        } else {
            Verdict::Gain {
                balance: num::add(e.balance, due, what)?,
                contributed: num::add(e.contributed, due, what)?,
                deductions: num::add(deductions, due, what)?,
                deficiency: e.deficiency,
            }
        });
    }
    Ok(Verdict::Keep)
}

/// Applies a verdict reached on the first day `start` of the period ending `end`.
pub(crate) fn apply(e: &mut Employee, v: Verdict, start: Day, end: Day) {
    match v {
        Verdict::Keep => {}
        Verdict::Lose {
            balance,
            contributed,
        } => {
            e.balance = balance;
            e.contributed = contributed;
            if let Some(a) = e.accounts.get_mut(&start) {
                a.deductions = Decimal::ZERO;
            }
            // Cash paid that day (a leave with cash payments) stays in the balance, carried
            // like any other (the spec is silent).
            if e.ends_at_purchase {
                // A reduce, retirement or death filed earlier that day had this option end
                // with the purchase; with the option gone there is nothing to buy, so the
                // balance is refunded now, as the purchase would have (the spec is silent;
                // the reduce stays filed: it ended the enrolment when accepted).
                e.refund_balance(Some(start));
            }
            e.drop_option();
            e.sat_out = e.enrolled;
        }
        Verdict::Gain {
            balance,
            contributed,
            deductions,
            deficiency,
        } => {
            e.grant_option(start, end);
            e.balance = balance;
            e.contributed = contributed;
            e.deficiency = deficiency;
            if deductions
                != e.accounts
                    .get(&start)
                    .map_or(Decimal::ZERO, |a| a.deductions)
            {
                e.account(start).deductions = deductions;
            }
        }
    }
}

impl State {
    /// The open period's first day, end and rules, when `date` is that first day. The rules
    /// are those the period opened with: an amendment of the eligibility requirements dated
    /// its first day applies from the next period, like one of its purchase terms (DOMAIN.md
    /// §7 says when purchase terms take effect; it is silent on eligibility).
    fn first_day_of_open(&self, date: Day) -> Option<(Day, Day, &Rules)> {
        self.periods
            .open_period()
            .filter(|p| p.start == date)
            .map(|p| (p.start, p.end, p.rules.as_ref().unwrap_or(&self.rules)))
    }

    /// On the open period's first day, the verdict for employee `id` once its §4 facts are
    /// `facts`; None on any other day (then §19(b) may apply instead).
    pub(crate) fn first_day_verdict(
        &self,
        date: Day,
        id: &EmployeeId,
        facts: Section4,
    ) -> Result<Option<(Day, Day, Verdict)>, Rejection> {
        let Some((start, end, rules)) = self.first_day_of_open(date) else {
            return Ok(None);
        };
        let Some(e) = self.employees.get(id.as_str()) else {
            return Ok(None);
        };
        let eligible = facts.met(start, rules, self.shares_outstanding);
        Ok(Some((start, end, verdict(e, start, eligible)?)))
    }

    /// Applies what [`State::first_day_verdict`] found for employee `id`.
    pub(crate) fn apply_first_day_verdict(
        &mut self,
        id: &EmployeeId,
        judged: Option<(Day, Day, Verdict)>,
    ) {
        if let (Some((start, end, v)), Some(e)) = (judged, self.employees.get_mut(id.as_str())) {
            apply(e, v, start, end);
            if self.trace.as_ref().and_then(|t| t.trail()) == Some(id) {
                self.trace_first_day(start);
            }
        }
    }

    /// Records §4's judgement of the traced employee again on the first day `start`, with
    /// the rules the period opened with.
    pub(crate) fn trace_first_day(&mut self, start: Day) {
        let rules = self
            .periods
            .by_start
            .get(&start)
            .and_then(|p| p.rules.clone())
            .unwrap_or_else(|| self.rules.clone());
        self.trace_eligibility(start, &rules);
    }

    /// On the open period's first day, after a fact of §4 changed for everyone (outstanding
    /// shares, a capital change): every employee judged again. Every verdict is worked out
    /// before any is applied, so a refusal changes nothing.
    pub(crate) fn rejudge_everyone(&mut self, date: Day) -> Result<(), Rejection> {
        let Some(p) = self.periods.open_period().filter(|p| p.start == date) else {
            return Ok(());
        };
        let (start, end) = (p.start, p.end);
        let rules = p.rules.as_ref().unwrap_or(&self.rules);
        let outstanding = self.shares_outstanding;
        for e in self.employees.values() {
            verdict(e, start, e.section_4().met(start, rules, outstanding))?;
        }
        for e in self.employees.values_mut() {
            let eligible = e.section_4().met(start, rules, outstanding);
            if let Ok(v) = verdict(e, start, eligible) {
                apply(e, v, start, end);
            }
        }
        Ok(())
    }
}
