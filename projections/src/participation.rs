//! Employees' events (§4–§6): hiring and customary employment, ownership, enrolment and
//! rate changes that wait for the next period, payroll deductions and their reversal, and
//! purchases under the employer's other plans.

use espp_events::{Day, EmployeeId};
use rust_decimal::Decimal;

use crate::eligibility::judge;
use crate::employee::{check_rate, Deductions, Employee, FirstDayDue};
use crate::num;
use crate::state::{Rejection, State};

impl State {
    pub(crate) fn employee_hired(
        &mut self,
        date: Day,
        id: &EmployeeId,
        weekly_hours: Decimal,
        months_per_year: Decimal,
        hire_date: Day,
    ) -> Result<(), Rejection> {
        match self.employees.get_mut(id.as_str()) {
            Some(e) if e.died.is_some() => Err(Rejection::plan(
                "§4",
                format!(
                    "employee {id} died on {}; hired again on {date} is refused",
                    e.died.map(|d| d.to_string()).unwrap_or_default()
                ),
            )),
            Some(e) if e.employed => Err(Rejection::plan(
                "§4",
                format!(
                    "employee {id} is already employed (hired {}); hired again on {date} only after employment_ended",
                    e.hire_date
                ),
            )),
            Some(e) => {
                // A rehire: service counts from the new hire date.
                e.employed = true;
                e.hire_date = hire_date;
                e.weekly_hours = weekly_hours;
                e.months_per_year = months_per_year;
                // Not enrolled (leaving ended the enrolment): nothing on a period's first
                // day to judge again.
                Ok(())
            }
            None => {
                self.employees.insert(
                    id.clone(),
                    Employee::hired(hire_date, weekly_hours, months_per_year),
                );
                Ok(())
            }
        }
    }

    pub(crate) fn employee_changed(
        &mut self,
        date: Day,
        id: &EmployeeId,
        weekly_hours: Option<Decimal>,
        months_per_year: Option<Decimal>,
    ) -> Result<(), Rejection> {
        let e = self.employee_mut(id, "§4")?;
        let mut facts = e.section_4();
        if let Some(h) = weekly_hours {
            facts.weekly_hours = h;
        }
        if let Some(m) = months_per_year {
            facts.months_per_year = m;
        }
        // On the open period's first day the change counts for the judgement at its end
        // (DOMAIN.md §4), never as §19(b).
        let judged = self.first_day_verdict(date, id, facts)?;
        let customary = facts.customary(&self.rules);
        let open = self.periods.open;
        let e = self.employee_mut(id, "§4")?;
        let ends = judged.is_none() && e.holds_option(open) && e.employed && !customary;
        e.weekly_hours = facts.weekly_hours;
        e.months_per_year = facts.months_per_year;
        if judged.is_some() {
            self.apply_first_day_verdict(id, judged);
        } else if ends {
            // Ineligible during the period (§19(b)): refund, whole shares certificated, and a
            // new enrolment is needed for a later period.
            e.refund_balance(open);
            e.ended_in = open;
            e.drop_option();
            e.end_enrolment();
            self.certificate_whole_shares(id);
        }
        Ok(())
    }

    /// `ownership_reported` replaces the employee's figure (§4(d)); on the open period's first
    /// day it counts for the judgement at its end.
    pub(crate) fn ownership_reported(
        &mut self,
        date: Day,
        id: &EmployeeId,
        shares: Decimal,
    ) -> Result<(), Rejection> {
        let mut facts = self.employee_mut(id, "§4")?.section_4();
        facts.ownership = shares;
        let judged = self.first_day_verdict(date, id, facts)?;
        self.employee_mut(id, "§4")?.ownership = shares;
        self.apply_first_day_verdict(id, judged);
        Ok(())
    }

    /// The latest outstanding shares (§4(d), §5 step 4); on the open period's first day
    /// everyone is judged again with them.
    pub(crate) fn shares_outstanding(
        &mut self,
        date: Day,
        shares: Decimal,
    ) -> Result<(), Rejection> {
        let before = self.shares_outstanding.replace(shares);
        if let Err(r) = self.rejudge_everyone(date) {
            self.shares_outstanding = before;
            return Err(r);
        }
        Ok(())
    }

    /// Moves the whole shares the Agent holds for `id` into the employee's name, oldest lot
    /// first (§19: termination of participation overrides §10's two-year wait).
    pub(crate) fn certificate_whole_shares(&mut self, id: &EmployeeId) {
        let Some(e) = self.employees.get_mut(id.as_str()) else {
            return;
        };
        let whole = e.shares_held.trunc();
        let mut left = whole;
        for &i in &e.lots {
            if left <= Decimal::ZERO {
                break;
            }
            if let Some(lot) = self.lots.get_mut(i) {
                let moved = lot.held.min(left);
                lot.held -= moved;
                lot.certificated += moved;
                left -= moved;
            }
        }
        let moved = whole - left;
        e.shares_held -= moved;
        e.shares_certificated += moved;
    }

    pub(crate) fn enrolled(
        &mut self,
        date: Day,
        id: &EmployeeId,
        rate: Decimal,
    ) -> Result<(), Rejection> {
        if self.plan.adopted.is_none() {
            return Err(Rejection::plan(
                "§5",
                format!("employee {id} enrolls on {date}, before the plan is adopted"),
            ));
        }
        self.check_not_ended(&format!("employee {id} enrolls on {date}"))?;
        let e = self
            .employees
            .get(id.as_str())
            .ok_or_else(|| Rejection::plan("§5", format!("employee {id} was never hired")))?;
        if !e.employed {
            return Err(Rejection::plan(
                "§5",
                format!("employee {id} is not employed on {date}"),
            ));
        }
        if e.enrolled {
            let current = e.rate.map(num::rate).unwrap_or_default();
            return Err(Rejection::plan(
                "§5",
                format!("employee {id} is already enrolled (rate {current}); rate_changed changes the rate"),
            ));
        }
        check_rate(rate, &self.rules, id.as_str())?;
        // Effective on the first day of the first period starting on or after `date`: a
        // period that opened today counts (judged with the facts as they stand, and again if
        // they change later today), unless the employee's option in it ended (§19). Whoever
        // still holds this period's option (reduced, awaiting the purchase) keeps it; the
        // enrolment is for later periods.
        let today = self
            .periods
            .open_period()
            .filter(|p| p.start == date && e.option_in.is_none())
            .map(|p| {
                (
                    p.start,
                    p.end,
                    p.rules.as_ref().unwrap_or(&self.rules).clone(),
                )
            });
        let outstanding = self.shares_outstanding;
        let e = self.employee_mut(id, "§5")?;
        e.enrolled = true;
        e.sat_out = false;
        e.rate = Some(rate);
        e.pending_rate = Some(rate);
        if let Some((start, end, rules)) = today {
            judge(e, start, end, &rules, outstanding);
            if self.trace.as_ref().and_then(|t| t.trail()) == Some(id) {
                self.trace_eligibility(start, &rules);
            }
        }
        Ok(())
    }

    pub(crate) fn rate_changed(
        &mut self,
        date: Day,
        id: &EmployeeId,
        rate: Decimal,
    ) -> Result<(), Rejection> {
        self.check_not_ended(&format!("rate_changed on {date} for employee {id}"))?;
        let rules = self.rules.clone();
        let open_start = self.periods.open;
        let e = self.employee_mut(id, "§6")?;
        if !e.enrolled {
            return Err(Rejection::plan(
                "§6",
                format!(
                    "employee {id} is not enrolled; enrolled, not rate_changed, sets a first rate"
                ),
            ));
        }
        check_rate(rate, &rules, id.as_str())?;
        e.rate = Some(rate);
        if open_start == Some(date) {
            // The period opened today: the new rate is in force from its first day.
            e.rate_in_force = rate;
            e.pending_rate = None;
        } else {
            // Never mid-period (§6): from the next period's first day.
            e.pending_rate = Some(rate);
        }
        Ok(())
    }

    pub(crate) fn payroll(
        &mut self,
        date: Day,
        id: &EmployeeId,
        gross_pay: Decimal,
    ) -> Result<(), Rejection> {
        let open = self.periods.open_period().map(|p| (p.start, p.end));
        let Some(e) = self.employees.get_mut(id.as_str()) else {
            return Err(Rejection::plan(
                "§6",
                format!("payroll on {date} for employee {id}, who was never hired"),
            ));
        };
        let holds = open
            .is_some_and(|(start, end)| e.option_in == Some(start) && date >= start && date <= end);
        // On the period's first day, one who sat it out may still be found eligible by the
        // day's end (DOMAIN.md §4): what the payroll deducts is kept for that. Only for one
        // enrolled when the payroll is folded: an enrolment is the employee's election, not a
        // fact of §4, and deducts from paydays following it (§6); one dated the first day
        // but folded after that day's payroll does not reach back to it (the spec is silent;
        // a rate_changed dated the first day likewise applies from the next payroll).
        let first_day = open.is_some_and(|(start, _)| start == date) && (holds || e.sat_out);
        // A payday for someone no longer employed (a final paycheck, severance) is accepted
        // and deducts nothing (DOMAIN.md §4: "on any other payday nothing is deducted"):
        // refusing it would make a payroll feed's whole file fail.
        let Some((start, _)) = open.filter(|_| holds || first_day) else {
            return Ok(());
        };
        let what = "the payroll deduction";
        let deduction = num::round_half_up(num::mul(e.rate_in_force, gross_pay, what)?, 2);
        let due = if first_day {
            Some(num::add(e.due_on_first_day(start), deduction, what)?)
        } else {
            None
        };
        match e.deductions {
            _ if !holds => {}
            Deductions::Stopped => {}
            Deductions::Suspended => {
                // Suspended (leave, retirement, death): the deduction accrues as deficiency.
                e.deficiency = num::add(e.deficiency, deduction, "the deficiency")?;
            }
            Deductions::Active => {
                let balance = num::add(e.balance, deduction, what)?;
                let contributed = num::add(e.contributed, deduction, what)?;
                let acct = e.account(start);
                acct.deductions = num::add(acct.deductions, deduction, what)?;
                e.balance = balance;
                e.contributed = contributed;
            }
        }
        if let Some(amount) = due {
            e.first_day_due = Some(FirstDayDue { day: start, amount });
        }
        Ok(())
    }

    pub(crate) fn deduction_reversed(
        &mut self,
        date: Day,
        id: &EmployeeId,
        amount: Decimal,
    ) -> Result<(), Rejection> {
        let open = self.periods.open;
        let e = self.employee_mut(id, "§6")?;
        if amount > e.balance {
            return Err(Rejection::plan(
                "§6",
                format!(
                    "reversal of {} on {date} exceeds employee {id}'s balance {}",
                    num::money(amount),
                    num::money(e.balance)
                ),
            ));
        }
        e.balance -= amount;
        e.contributed -= amount;
        if let Some(acct) = open.and_then(|s| e.accounts.get_mut(&s)) {
            acct.deductions -= amount.min(acct.deductions);
        }
        Ok(())
    }

    pub(crate) fn other_plan_purchase(
        &mut self,
        date: Day,
        id: &EmployeeId,
        value: Decimal,
    ) -> Result<(), Rejection> {
        let e = self.employee_mut(id, "§9")?;
        let year = date.year();
        let used = e.bought_value.get(year).unwrap_or_default();
        let total = num::add(used, value, "the year's purchases at grant FMV")?;
        *e.bought_value.entry(year) = total;
        Ok(())
    }
}
