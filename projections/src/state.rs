//! The fold's state: the order of days, the deadlines that run before each day, closed
//! books, the compliance override, and the dispatch of each event to the rule that decides
//! it and then applies it.
//!
//! Every handler decides first and changes the state only once the event is accepted, so a
//! [`Rejection::Plan`] leaves the state as it was (a skipped event under `--rules` relies on
//! this; the engine also discards the clone it folded a refused batch on).

use std::collections::BTreeMap;

use espp_events::{Day, EmployeeId, Event, Record, Rules, RulesPatch};
use rust_decimal::Decimal;

use crate::employee::{Employee, Status};
use crate::market::Market;
use crate::period::Periods;
use crate::purchase::{Lot, PurchaseDone};

/// Why an event cannot be folded: the plan section and the numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The plan forbids it.
    #[error("{section}: {message}")]
    Plan {
        /// The plan section, like `§6`.
        section: String,
        /// What is wrong, with the numbers.
        message: String,
    },
    /// Dated before what has been folded already: the caller must refold from earlier.
    #[error("dated {date}, before the day already folded ({folded})")]
    OutOfOrder {
        /// The event's day.
        date: Day,
        /// The latest day folded.
        folded: Day,
    },
}

impl Rejection {
    /// A refusal under plan section `section` (like `"§6"`).
    pub fn plan(section: &str, message: impl Into<String>) -> Self {
        Rejection::Plan {
            section: section.to_string(),
            message: message.into(),
        }
    }
}

/// The plan's own life (§1, §24).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Plan {
    pub adopted: Option<Day>,
    pub approved: Option<Day>,
    /// The rules as the log sets them (adoption, later amendments).
    pub log_rules: Rules,
    /// Shares bought under the plan so far (§1: reserve = left + bought).
    #[serde(with = "crate::ser::dec")]
    pub shares_bought: Decimal,
}

/// An event left out of a fold because the `--rules` override forbids it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Skipped {
    pub seq: u64,
    pub reason: String,
}

/// The fold's state after some prefix of the log in `(date, seq)` order.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub(crate) overrides: Option<RulesPatch>,
    pub(crate) day: Option<Day>,
    pub(crate) through_seq: u64,
    pub(crate) plan: Plan,
    /// The rules in force: the log's, with the override on top.
    pub(crate) rules: Rules,
    pub(crate) market: Market,
    pub(crate) periods: Periods,
    #[serde(with = "crate::ser::opt_dec")]
    pub(crate) shares_outstanding: Option<Decimal>,
    pub(crate) employees: BTreeMap<EmployeeId, Employee>,
    pub(crate) lots: Vec<Lot>,
    pub(crate) purchases: Vec<PurchaseDone>,
    pub(crate) skipped: Vec<Skipped>,
    /// The latest executed purchase: its day and seq (closed books, DOMAIN.md §1).
    pub(crate) closed: Option<(Day, u64)>,
}

impl State {
    /// An empty state; `overrides` replaces rules for this fold only (compliance replays).
    /// Check the override first with [`check_overrides`](crate::check_overrides).
    pub fn new(overrides: Option<RulesPatch>) -> Self {
        let rules = match &overrides {
            Some(o) => Rules::default().with(o),
            None => Rules::default(),
        };
        State {
            overrides,
            rules,
            ..State::default()
        }
    }

    /// The latest day folded.
    pub fn day(&self) -> Option<Day> {
        self.day
    }

    /// The highest seq folded (0 before any).
    pub fn through_seq(&self) -> u64 {
        self.through_seq
    }

    /// The last purchase's day: nothing may be dated on or before it (closed books).
    pub fn closed_through(&self) -> Option<Day> {
        self.closed.map(|(d, _)| d)
    }

    /// The rules in force (the log's, with the override on top).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Every hired employee's id, in order.
    pub fn employee_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.employees.keys().map(|k| k.as_str())
    }

    /// Every scheduled period's id, in start order.
    pub fn period_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.periods.by_start.values().map(|p| p.id.as_str())
    }

    /// Folds one record; records come in `(date, seq)` order. Before the record's day, every
    /// deadline of an earlier day runs (a period opens on its first day, closes the day after
    /// its end). Under a `--rules` override an event the plan then forbids is skipped and
    /// listed, never rejected.
    pub fn apply(&mut self, r: &Record) -> Result<(), Rejection> {
        if let Some(folded) = self.day {
            if r.date < folded {
                return Err(Rejection::OutOfOrder {
                    date: r.date,
                    folded,
                });
            }
        }
        self.run_deadlines(r.date);
        self.day = Some(r.date);
        let seq_before = self.through_seq;
        self.through_seq = self.through_seq.max(r.seq);
        match self.decide_and_apply(r, seq_before) {
            Err(Rejection::Plan { section, message }) if self.overrides.is_some() => {
                self.skipped.push(Skipped {
                    seq: r.seq,
                    reason: format!("{section}: {message}"),
                });
                Ok(())
            }
            other => other,
        }
    }

    /// Applies every deadline that falls on or before `day` (an as-of fold on `day`): the
    /// projection then shows the books at the end of `day`.
    pub fn advance_to(&mut self, day: Day) -> Result<(), Rejection> {
        if let Some(folded) = self.day {
            if day < folded {
                return Err(Rejection::OutOfOrder { date: day, folded });
            }
        }
        self.run_deadlines(day);
        self.day = Some(day);
        Ok(())
    }

    /// Runs, in day order, every period opening and closing due at the start of a day up to
    /// and including `day`.
    pub(crate) fn run_deadlines(&mut self, day: Day) {
        loop {
            let close_at = self.periods.open_period().and_then(|p| p.end.add_days(1));
            let open_at = self.periods.next_start();
            match (close_at, open_at) {
                (Some(c), o) if c <= day && o.is_none_or(|o| c <= o) => self.close_period(),
                (_, Some(o)) if o <= day => self.open_period(o),
                _ => break,
            }
        }
    }

    /// A period's first day: pending enrolments and rates take effect and each enrolled
    /// employee is judged eligible or sits the period out (§4, §5, §6).
    pub(crate) fn open_period(&mut self, start: Day) {
        if self.periods.open.is_some() {
            self.close_period();
        }
        let rules = self.rules.clone();
        let outstanding = self.shares_outstanding;
        if let Some(p) = self.periods.by_start.get_mut(&start) {
            p.rules = Some(rules.clone());
        }
        self.periods.open = Some(start);
        self.periods.opened_through = Some(start);
        for e in self.employees.values_mut() {
            judge(e, start, &rules, outstanding);
        }
    }

    /// The open period ends (its purchase executed, or its last day passed): its
    /// participants are enrolled between periods, their balances carried.
    pub(crate) fn close_period(&mut self) {
        self.periods.open = None;
        for e in self.employees.values_mut() {
            if matches!(e.status, Status::Participating | Status::SittingOut) {
                e.status = Status::Enrolled;
            }
        }
    }

    /// Decides whether `r` is acceptable and, if so, applies it.
    fn decide_and_apply(&mut self, r: &Record, seq_before: u64) -> Result<(), Rejection> {
        if let Some((closed, _)) = self.closed {
            if r.date <= closed {
                let period = self
                    .purchases
                    .last()
                    .map(|p| p.period.to_string())
                    .unwrap_or_default();
                return Err(Rejection::plan(
                    "§9",
                    format!(
                        "the books are closed through {closed} (the purchase of period {period}): a {} dated {} must be dated later",
                        r.event.type_name(),
                        r.date
                    ),
                ));
            }
        }
        let date = r.date;
        match &r.event {
            Event::PlanAdopted { rules } => self.plan_adopted(date, rules),
            Event::StockholdersApproved {} => self.stockholders_approved(date),
            Event::PeriodScheduled {
                period,
                start,
                end,
                share_limit,
                value_limit,
                price_factor,
            } => self.period_scheduled(
                date,
                period,
                *start,
                *end,
                share_limit.map(|s| s.get()),
                value_limit.map(|v| v.get()),
                price_factor.map(|f| f.get()),
            ),
            Event::MarketPrice {
                closes,
                bid,
                ask,
                high,
                low,
                board_fmv,
                no_sale,
            } => self.market_price(
                date,
                crate::market::Quote {
                    closes: closes.as_deref(),
                    bid: *bid,
                    ask: *ask,
                    high: *high,
                    low: *low,
                    board_fmv: *board_fmv,
                    no_sale: *no_sale == Some(true),
                },
            ),
            Event::SharesOutstanding { shares } => {
                self.shares_outstanding = Some(shares.get());
                Ok(())
            }
            Event::Purchase { period } => self.purchase(date, r.seq, seq_before, period),
            Event::EmployeeHired {
                employee,
                weekly_hours,
                months_per_year,
                hire_date,
            } => self.employee_hired(
                date,
                employee,
                weekly_hours.get(),
                months_per_year.get(),
                hire_date.unwrap_or(date),
            ),
            Event::EmployeeChanged {
                employee,
                weekly_hours,
                months_per_year,
            } => self.employee_changed(
                date,
                employee,
                weekly_hours.map(|h| h.get()),
                months_per_year.map(|m| m.get()),
            ),
            Event::OwnershipReported { employee, shares } => {
                self.employee_mut(employee, "§4")?.ownership = shares.get();
                Ok(())
            }
            Event::Enrolled { employee, rate } => self.enrolled(date, employee, rate.get()),
            Event::RateChanged { employee, rate } => self.rate_changed(date, employee, rate.get()),
            Event::Payroll {
                employee,
                gross_pay,
            } => self.payroll(date, employee, gross_pay.get()),
            Event::DeductionReversed { employee, amount } => {
                self.deduction_reversed(date, employee, amount.get())
            }
            Event::OtherPlanPurchase { employee, value } => {
                self.other_plan_purchase(date, employee, value.get())
            }
            Event::DeductionsStopped { .. } => unsupported("§14", &r.event),
            Event::EmploymentEnded { .. } => unsupported("§15", &r.event),
            Event::LeaveStarted { .. } | Event::LeaveEnded { .. } | Event::CashPayment { .. } => {
                unsupported("§17", &r.event)
            }
            Event::Election { .. } => unsupported("§16", &r.event),
            Event::Died { .. } => unsupported("§18", &r.event),
            Event::PlanAmended { .. } | Event::PlanTerminated { .. } => {
                unsupported("§23", &r.event)
            }
            Event::CapitalChange { .. } => unsupported("§25", &r.event),
            Event::Dividend { .. } => unsupported("§27", &r.event),
            Event::CertificateRequested { .. } => unsupported("§10", &r.event),
            Event::SharesSold { .. } => unsupported("§11", &r.event),
        }
    }

    /// The employee, or a refusal naming the section of the event that needs one.
    pub(crate) fn employee_mut(
        &mut self,
        id: &EmployeeId,
        section: &str,
    ) -> Result<&mut Employee, Rejection> {
        self.employees
            .get_mut(id.as_str())
            .ok_or_else(|| Rejection::plan(section, format!("employee {id} was never hired")))
    }
}

/// Judges an enrolled employee on a period's first day; a pending rate takes effect.
pub(crate) fn judge(e: &mut Employee, start: Day, rules: &Rules, outstanding: Option<Decimal>) {
    if !e.enrolled {
        return;
    }
    if let Some(rate) = e.pending_rate.take() {
        e.rate_in_force = rate;
    }
    if matches!(
        e.status,
        Status::Enrolled | Status::Participating | Status::SittingOut
    ) {
        e.status = if e.eligible_on(start, rules, outstanding) {
            Status::Participating
        } else {
            Status::SittingOut
        };
    }
}

fn unsupported(section: &str, event: &Event) -> Result<(), Rejection> {
    Err(Rejection::plan(
        section,
        format!("{} is not supported by this build yet", event.type_name()),
    ))
}
