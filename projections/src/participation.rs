//! Employees' events (§4–§6): hiring and customary employment, ownership, enrolment and
//! rate changes that wait for the next period, payroll deductions and their reversal, and
//! purchases under the employer's other plans.

use espp_events::{Day, EmployeeId};
use rust_decimal::Decimal;

use crate::employee::{check_rate, Deductions, Employee, Status};
use crate::num;
use crate::state::{judge, Rejection, State};

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
                e.status = e.resting_status();
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
        let rules = self.rules.clone();
        let outstanding = self.shares_outstanding;
        let open = self.periods.open_period().map(|p| (p.start, p.end));
        let open_start = open.map(|o| o.0);
        let e = self.employee_mut(id, "§4")?;
        let mut changed = e.clone();
        if let Some(h) = weekly_hours {
            changed.weekly_hours = h;
        }
        if let Some(m) = months_per_year {
            changed.months_per_year = m;
        }
        let mut ends = false;
        if let Some((start, end)) = open {
            if date == start && changed.window.is_none() && !changed.ends_at_purchase {
                // Still the period's first day: judged again with today's facts.
                judge(&mut changed, start, end, &rules, outstanding);
            } else if changed.holds_option(open_start)
                && changed.employed
                && !changed.customary_ok(&rules)
            {
                ends = true;
            }
        }
        if ends {
            // Ineligible during the period (§19(b)): refund, whole shares certificated, and a
            // new enrolment is needed for a later period.
            changed.refund_balance(open_start);
            changed.ended_in = open_start;
            changed.drop_option();
            changed.end_enrolment();
            changed.status = Status::NotEnrolled;
            *self.employee_mut(id, "§4")? = changed;
            self.certificate_whole_shares(id);
        } else {
            *e = changed;
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
        let rules = self.rules.clone();
        let outstanding = self.shares_outstanding;
        let open = self.periods.open_period().map(|p| (p.start, p.end));
        let e = self.employee_mut(id, "§5")?;
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
        check_rate(rate, &rules, id.as_str())?;
        e.enrolled = true;
        e.rate = Some(rate);
        e.pending_rate = Some(rate);
        // Whoever still holds this period's option (reduced, awaiting the purchase) keeps
        // it; the enrolment is for later periods.
        if e.option_in.is_none() {
            e.status = if e.leave.is_some() {
                Status::OnLeave
            } else {
                Status::Enrolled
            };
            // Effective on the first day of the first period starting on or after `date`: a
            // period that opened today counts, unless the employee's option in it ended (§19).
            if let Some((start, end)) = open.filter(|o| o.0 == date) {
                judge(e, start, end, &rules, outstanding);
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
        // A payday for someone no longer employed (a final paycheck, severance) is accepted
        // and deducts nothing (DOMAIN.md §4: "on any other payday nothing is deducted"):
        // refusing it would make a payroll feed's whole file fail.
        let Some((start, _)) = open.filter(|_| holds) else {
            return Ok(());
        };
        let what = "the payroll deduction";
        let deduction = num::round_half_up(num::mul(e.rate_in_force, gross_pay, what)?, 2);
        match e.deductions {
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
        let used = e.bought_value.get(&year).copied().unwrap_or_default();
        let total = num::add(used, value, "the year's purchases at grant FMV")?;
        e.bought_value.insert(year, total);
        Ok(())
    }
}
