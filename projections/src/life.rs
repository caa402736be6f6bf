//! Stopping, leaving, electing (§14–§18, DOMAIN.md §6): `deductions_stopped`,
//! `employment_ended`, `leave_started` / `leave_ended`, `cash_payment`, `election` and
//! `died`. Each handler decides first and changes the employee only once it accepts.
//!
//! An employee's option in the open period ([`Employee::option_in`]) is what these events act
//! on: its deductions run, stop or are suspended (accruing `deficiency`), an election window
//! opens with its deadline in the fold's deadline index, and the option ends with a refund or
//! with the purchase.

use espp_events::{Day, ElectionChoice, EmployeeId, EndReason, LeaveKind, StopOption};
use rust_decimal::Decimal;

use crate::employee::{Deductions, Elected, Employee, Leave, Window, WindowKind};
use crate::num;
use crate::state::{end_employment, Rejection, State};

impl State {
    /// The open period's start and end.
    fn open_bounds(&self) -> Option<(Day, Day)> {
        self.periods.open_period().map(|p| (p.start, p.end))
    }

    /// Opens a window on `e` and indexes its deadline.
    fn open_window(&mut self, id: &EmployeeId, w: Window) {
        if let Some(e) = self.employees.get_mut(id.as_str()) {
            e.window = Some(w);
            if let Some(t) = w.deadline.add_days(1) {
                self.deadlines.insert((t, id.clone()));
            }
        }
    }

    /// The employee for an event of `section`, refused if never hired or dead.
    fn living(&self, id: &EmployeeId, section: &str, what: &str) -> Result<&Employee, Rejection> {
        let e = self.employees.get(id.as_str()).ok_or_else(|| {
            Rejection::plan(
                section,
                format!("{what} for employee {id}, who was never hired"),
            )
        })?;
        if let Some(d) = e.died {
            return Err(Rejection::plan(
                section,
                format!("{what} for employee {id}, who died on {d}"),
            ));
        }
        Ok(e)
    }

    pub(crate) fn deductions_stopped(
        &mut self,
        date: Day,
        id: &EmployeeId,
        option: StopOption,
    ) -> Result<(), Rejection> {
        let open = self.open_bounds();
        let what = format!("deductions_stopped {}", option.as_str());
        let e = self.living(id, "§14", &what)?;
        if !e.employed {
            return Err(Rejection::plan(
                "§14",
                format!("{what} for employee {id}, who is not employed (status {}); an election decides after retirement (§16)", e.status().as_str()),
            ));
        }
        let holds = e.holds_option(open.map(|o| o.0));
        if let (true, Some((start, end))) = (holds, open) {
            if date >= end {
                return Err(Rejection::plan(
                    "§14",
                    format!("{what} on {date} for employee {id}: deductions may be stopped only before the last day ({end}) of period {}", self.period_id(start)),
                ));
            }
        }
        match option {
            StopOption::Reduce => {
                if !holds {
                    return Err(Rejection::plan(
                        "§14",
                        format!("{what} on {date}: employee {id} holds no option in an open period (status {}); reduce applies to a participating employee", e.status().as_str()),
                    ));
                }
                if let Some(w) = e.window {
                    return Err(Rejection::plan(
                        "§14",
                        format!("{what} on {date}: employee {id} has an election window open after {} until {}; file an election instead", w.kind.cause(), w.deadline),
                    ));
                }
                if e.ends_at_purchase {
                    return Err(Rejection::plan(
                        "§14",
                        format!("{what} on {date}: employee {id}'s option is already reduced"),
                    ));
                }
                let e = self.employee_mut(id, "§14")?;
                e.deductions = if e.leave.is_some() {
                    Deductions::Suspended
                } else {
                    Deductions::Stopped
                };
                e.ends_at_purchase = true;
                e.end_enrolment();
                Ok(())
            }
            StopOption::Withdraw => {
                if !holds && !e.enrolled {
                    return Err(Rejection::plan(
                        "§14",
                        format!(
                            "{what} on {date}: employee {id} is not enrolled (status {})",
                            e.status().as_str()
                        ),
                    ));
                }
                let start = open.map(|o| o.0);
                let e = self.employee_mut(id, "§14")?;
                e.withdraw(start);
                Ok(())
            }
        }
    }

    pub(crate) fn employment_ended(
        &mut self,
        date: Day,
        id: &EmployeeId,
        reason: EndReason,
    ) -> Result<(), Rejection> {
        let what = format!("employment_ended {}", reason.as_str());
        let section = if reason == EndReason::Retired {
            "§16"
        } else {
            "§15"
        };
        let e = self.living(id, section, &what)?;
        if !e.employed {
            return Err(Rejection::plan(
                section,
                format!("{what} on {date}: employee {id} is not employed"),
            ));
        }
        match reason {
            EndReason::Quit | EndReason::Fired => {
                let open = self.periods.open;
                let e = self.employee_mut(id, section)?;
                end_employment(e, open);
                Ok(())
            }
            EndReason::Retired => {
                self.retire(date, id);
                Ok(())
            }
        }
    }

    /// Retirement, or a leave ending without a return (§16, §17): deductions stop and the
    /// 10-day window opens for an option holder; anyone else is refunded and out.
    fn retire(&mut self, date: Day, id: &EmployeeId) {
        let open = self.open_bounds();
        let Some(e) = self.employees.get_mut(id.as_str()) else {
            return;
        };
        e.employed = false;
        e.leave = None;
        e.end_enrolment();
        if !e.holds_option(open.map(|o| o.0)) {
            end_employment(e, open.map(|o| o.0));
            return;
        }
        e.deductions = Deductions::Suspended;
        if e.ends_at_purchase && e.elected.is_none() && e.window.is_none() {
            // Reduced under §14 already: that is one of §16's alternatives.
            return;
        }
        e.ends_at_purchase = true;
        e.make_up = false;
        e.elected = None;
        if let Some(deadline) = date.add_days(10) {
            self.open_window(
                id,
                Window {
                    kind: WindowKind::Retirement,
                    opened: date,
                    deadline,
                },
            );
        }
    }

    pub(crate) fn leave_started(
        &mut self,
        date: Day,
        id: &EmployeeId,
        kind: LeaveKind,
        cash_payments: bool,
        guaranteed: bool,
    ) -> Result<(), Rejection> {
        let open = self.open_bounds();
        let months = self.rules.leave_limit_months.get();
        let e = self.living(id, "§17", "leave_started")?;
        if !e.employed {
            return Err(Rejection::plan(
                "§17",
                format!("leave_started on {date}: employee {id} is not employed"),
            ));
        }
        if let Some(l) = e.leave {
            return Err(Rejection::plan(
                "§17",
                format!(
                    "leave_started on {date}: employee {id} is already on leave since {}",
                    l.started
                ),
            ));
        }
        let ends_employment = if guaranteed {
            None
        } else {
            date.add_months(months).and_then(|d| d.add_days(1))
        };
        let holds = e.holds_option(open.map(|o| o.0));
        let e = self.employee_mut(id, "§17")?;
        e.leave = Some(Leave {
            started: date,
            kind,
            cash_payments,
            ends_employment,
            paid_cash: false,
        });
        if let Some(t) = ends_employment {
            self.deadlines.insert((t, id.clone()));
        }
        let e = self.employee_mut(id, "§17")?;
        if holds {
            if e.deductions == Deductions::Active {
                e.deductions = Deductions::Suspended;
            }
            if e.ends_at_purchase && e.window.is_none() {
                // An election (or a §14 reduce) is already in force for this option: it is
                // the election for the §17 window, which does not open (DOMAIN.md §6).
                return Ok(());
            }
            e.elected = None;
            e.make_up = false;
            if let Some((_, end)) = open {
                // On leave at the period's last day: elect by then (§17).
                e.window = Some(Window {
                    kind: WindowKind::OnLeave,
                    opened: date,
                    deadline: end,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn leave_ended(
        &mut self,
        date: Day,
        id: &EmployeeId,
        returned: bool,
    ) -> Result<(), Rejection> {
        let open = self.open_bounds();
        let e = self.living(id, "§17", "leave_ended")?;
        let Some(leave) = e.leave else {
            return Err(Rejection::plan(
                "§17",
                format!(
                    "leave_ended on {date}: employee {id} is not on leave (status {})",
                    e.status().as_str()
                ),
            ));
        };
        if !returned {
            // As retirement (§16).
            self.retire(date, id);
            return Ok(());
        }
        let holds = e.holds_option(open.map(|o| o.0));
        let e = self.employee_mut(id, "§17")?;
        e.leave = None;
        if !holds {
            return Ok(());
        }
        if e.deductions == Deductions::Suspended {
            e.deductions = Deductions::Active;
        }
        match e.window {
            Some(w) if w.kind == WindowKind::OnLeave => {
                e.window = None;
                if leave.paid_cash {
                    // Cash paid during the leave: no return window (§17).
                } else if let Some((_, end)) = open {
                    // No cash paid during the leave: the return window (§17).
                    let deadline = date.add_days(10).map_or(end, |d| d.min(end));
                    self.open_window(
                        id,
                        Window {
                            kind: WindowKind::Return,
                            opened: date,
                            deadline,
                        },
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn cash_payment(
        &mut self,
        date: Day,
        id: &EmployeeId,
        amount: Decimal,
    ) -> Result<(), Rejection> {
        let open = self.open_bounds();
        let e = self.employees.get(id.as_str()).ok_or_else(|| {
            Rejection::plan(
                "§17",
                format!("cash_payment on {date} for employee {id}, who was never hired"),
            )
        })?;
        let section = e.elected.map_or("§17", |x| x.kind.section());
        let Some((start, _)) = open.filter(|o| e.holds_option(Some(o.0))) else {
            return Err(Rejection::plan(
                section,
                format!("cash_payment of {} on {date}: employee {id} holds no option in an open period (status {})", num::money(amount), e.status().as_str()),
            ));
        };
        let periodic = e.leave.is_some_and(|l| l.cash_payments);
        if !e.make_up && !periodic {
            let why = match e.window {
                Some(w) => format!(
                    "an election window is open after {} until {}: elect make_up first",
                    w.kind.cause(),
                    w.deadline
                ),
                None => "no make_up election is in force and the employee is not on a leave with cash_payments: true".to_string(),
            };
            return Err(Rejection::plan(
                section,
                format!(
                    "cash_payment of {} on {date} for employee {id}: {why}",
                    num::money(amount)
                ),
            ));
        }
        if amount > e.deficiency {
            return Err(Rejection::plan(
                section,
                format!(
                    "cash_payment of {} on {date} exceeds employee {id}'s deficiency {}",
                    num::money(amount),
                    num::money(e.deficiency)
                ),
            ));
        }
        let what = "the cash payment";
        let balance = num::add(e.balance, amount, what)?;
        let contributed = num::add(e.contributed, amount, what)?;
        let e = self.employee_mut(id, section)?;
        let acct = e.account(start);
        acct.cash_payments = num::add(acct.cash_payments, amount, what)?;
        e.balance = balance;
        e.contributed = contributed;
        e.deficiency -= amount;
        if let Some(l) = &mut e.leave {
            l.paid_cash = true;
        }
        Ok(())
    }

    pub(crate) fn election(
        &mut self,
        date: Day,
        id: &EmployeeId,
        choice: ElectionChoice,
    ) -> Result<(), Rejection> {
        let open = self.periods.open;
        let e = self.employees.get(id.as_str()).ok_or_else(|| {
            Rejection::plan(
                "§16",
                format!("election on {date} for employee {id}, who was never hired"),
            )
        })?;
        let Some(w) = e.window else {
            let message = match e.elected {
                Some(x) => format!(
                    "election {} on {date}: employee {id} already elected {} on {} (after {}); an election is made once",
                    choice.as_str(),
                    x.choice.as_str(),
                    x.day,
                    x.kind.cause()
                ),
                None => format!(
                    "election {} on {date}: no election window is open for employee {id} (status {}); elections follow retirement (§16), a leave (§17) or death (§18)",
                    choice.as_str(),
                    e.status().as_str()
                ),
            };
            let section = e.elected.map_or("§16", |x| x.kind.section());
            return Err(Rejection::plan(section, message));
        };
        if date > w.deadline {
            return Err(Rejection::plan(
                w.kind.section(),
                format!(
                    "election {} on {date}: employee {id}'s window after {} closed on {}",
                    choice.as_str(),
                    w.kind.cause(),
                    w.deadline
                ),
            ));
        }
        let e = self.employee_mut(id, w.kind.section())?;
        e.window = None;
        e.elected = Some(Elected {
            day: date,
            choice,
            kind: w.kind,
        });
        match choice {
            ElectionChoice::Withdraw => {
                e.withdraw(open);
                e.elected = Some(Elected {
                    day: date,
                    choice,
                    kind: w.kind,
                });
            }
            ElectionChoice::MakeUp | ElectionChoice::Reduce => {
                e.make_up = choice == ElectionChoice::MakeUp;
                if choice == ElectionChoice::Reduce {
                    e.ends_at_purchase = true;
                    e.end_enrolment();
                }
            }
        }
        Ok(())
    }

    pub(crate) fn died(&mut self, date: Day, id: &EmployeeId) -> Result<(), Rejection> {
        let open = self.open_bounds();
        self.living(id, "§18", "died")?;
        let e = self.employee_mut(id, "§18")?;
        e.died = Some(date);
        e.employed = false;
        e.leave = None;
        e.end_enrolment();
        if !e.holds_option(open.map(|o| o.0)) {
            e.refund_balance(open.map(|o| o.0));
            e.drop_option();
            return Ok(());
        }
        e.deductions = Deductions::Suspended;
        e.ends_at_purchase = true;
        e.make_up = false;
        e.elected = None;
        if let Some((_, end)) = open {
            let deadline = date.add_months(3).map_or(end, |d| d.min(end));
            self.open_window(
                id,
                Window {
                    kind: WindowKind::Death,
                    opened: date,
                    deadline,
                },
            );
        }
        Ok(())
    }

    /// A period's id by its start, for messages.
    pub(crate) fn period_id(&self, start: Day) -> String {
        self.periods
            .by_start
            .get(&start)
            .map(|p| p.id.to_string())
            .unwrap_or_default()
    }
}
