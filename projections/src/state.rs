//! The fold's state: the order of days, the deadlines that run before each day, closed
//! books, the compliance override, and the dispatch of each event to the rule that decides
//! it and then applies it.
//!
//! Every handler decides first and changes the state only once the event is accepted, so a
//! [`Rejection::Plan`] leaves the state as it was (a skipped event under `--rules` relies on
//! this; the engine also discards the clone it folded a refused batch on).

use std::collections::{BTreeMap, BTreeSet};

use espp_events::{Day, EmployeeId, Event, Record, Rules, RulesPatch};
use rust_decimal::Decimal;

use crate::eligibility::judge;
use crate::employee::{Employee, WindowDefault};
use crate::employees::Employees;
use crate::explain::{Step, Trace};
use crate::holdings::{CapitalChangeDone, Disposition};
use crate::market::Market;
use crate::parts::HoldingsMark;
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
    /// Shares bought under the plan so far (§1: reserve = left + bought): always the sum of
    /// the lots' shares, after a capital change too (DOMAIN.md §8).
    #[serde(with = "crate::ser::dec")]
    pub shares_bought: Decimal,
    /// The day the plan ended and why (§23, §24).
    pub ended: Option<(Day, PlanEnd)>,
}

/// Why the plan ended (INTERCHANGE.md's plan `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum PlanEnd {
    /// The Board terminated it (§24, §19(a)).
    Board,
    /// The stockholders did not approve it within the approval window (§24).
    NotApproved,
    /// Its term ended (§24).
    TermEnded,
    /// A purchase used up the share reserve (§24).
    ReserveUsedUp,
    /// A change in control not assumed by the successor (§25(c)).
    ChangeInControl,
}

impl PlanEnd {
    /// The interchange spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PlanEnd::Board => "board",
            PlanEnd::NotApproved => "not_approved",
            PlanEnd::TermEnded => "term_ended",
            PlanEnd::ReserveUsedUp => "reserve_used_up",
            PlanEnd::ChangeInControl => "change_in_control",
        }
    }
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
    pub(crate) employees: Employees,
    pub(crate) lots: Vec<Lot>,
    pub(crate) purchases: Vec<PurchaseDone>,
    pub(crate) skipped: Vec<Skipped>,
    /// Capital changes folded, in order (§25).
    pub(crate) capital_changes: Vec<CapitalChangeDone>,
    /// Every sale, one entry per lot it took shares from, in fold order (§11).
    pub(crate) dispositions: Vec<Disposition>,
    /// The latest executed purchase: its day and seq (closed books, DOMAIN.md §1).
    pub(crate) closed: Option<(Day, u64)>,
    /// Employees' deadlines: the day at whose start a window's default or a leave's limit
    /// may apply. Entries made stale by an election or a return are skipped when reached.
    pub(crate) deadlines: BTreeSet<(Day, EmployeeId)>,
    /// What `explain` or a purchase preview asked the fold to record: None on every other
    /// fold, never stored in a checkpoint, never part of a projection.
    #[serde(skip)]
    pub(crate) trace: Option<Box<Trace>>,
    /// The plan's own next end as last computed, with what it was computed from (a cache:
    /// the deadlines are looked at before every record; never stored).
    #[serde(skip)]
    pub(crate) plan_end_memo: Option<(PlanEndInputs, Option<(Day, PlanEnd)>)>,
    /// A one-employee fold's purchases (`explain`, issue 15): for each period, the shares
    /// its purchase bought for every account, read from the purchase's checkpoint part. The
    /// purchase then takes the plan-wide sums of §13 from here, the state holding one account
    /// (only for a purchase not prorated, where what all wanted is what all bought). None on
    /// every other fold; never stored.
    #[serde(skip)]
    pub(crate) outside: Option<BTreeMap<String, Decimal>>,
    /// What is known of how the holdings (lots, purchases, dispositions) changed, for a
    /// caller that caches their parts' hashes (see [`HoldingsMark`]). Never stored.
    #[serde(skip)]
    pub(crate) holdings_mark: HoldingsMark,
}

/// What [`State::plan_deadline`] depends on: adopted, approved, ended, the term in years,
/// the approval window in months.
pub(crate) type PlanEndInputs = (Option<Day>, bool, bool, u32, u32);

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
            holdings_mark: HoldingsMark::fresh(),
            ..State::default()
        }
    }

    /// The mark of this state's holdings (see [`HoldingsMark`]).
    pub fn holdings_mark(&self) -> &HoldingsMark {
        &self.holdings_mark
    }

    /// The latest day folded.
    pub fn day(&self) -> Option<Day> {
        self.day
    }

    /// The highest seq folded (0 before any).
    pub fn through_seq(&self) -> u64 {
        self.through_seq
    }

    /// A one-employee fold's purchases (see the field `outside`): `bought` maps a period
    /// to the shares its purchase (not prorated) bought for every account.
    pub fn set_outside_purchases(&mut self, bought: BTreeMap<String, Decimal>) {
        self.outside = Some(bought);
    }

    /// A fold that left out records another fold would have folded (one employee's) says
    /// the seq that fold reached, `seq`, as its own highest.
    pub fn reach_seq(&mut self, seq: u64) {
        self.through_seq = self.through_seq.max(seq);
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

    /// How many lots the purchases created.
    pub fn lot_count(&self) -> usize {
        self.lots.len()
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
        if self.trace.is_some() {
            return self.apply_traced(r);
        }
        self.apply_untraced(r)
    }

    /// [`State::apply`] recording the traced employee's account before and after `r`.
    fn apply_traced(&mut self, r: &Record) -> Result<(), Rejection> {
        let trail = self.trace.as_ref().and_then(|t| t.trail().cloned());
        if self.day.is_none_or(|d| d <= r.date) {
            // The deadlines before the record's day run first (recording their own steps);
            // running them again inside `apply_untraced` finds nothing left to do.
            self.run_deadlines(r.date);
        }
        let before = self.traced_snap();
        let result = self.apply_untraced(r);
        if result.is_ok() {
            if let Some(id) = trail {
                let after = self.traced_snap();
                let named = r.event.employee().is_some_and(|e| *e == id);
                if named || before != after {
                    let step = Step::Event {
                        seq: r.seq,
                        date: r.date,
                        type_name: r.event.type_name(),
                        before,
                        after,
                    };
                    // The purchase's own steps were recorded while it executed: the event
                    // goes before them.
                    let at = self.trace.as_ref().map_or(0, |t| {
                        t.steps
                            .iter()
                            .rposition(|s| !matches!(s, Step::Purchase(p) if p.date == r.date))
                            .map_or(0, |i| i + 1)
                    });
                    if let Some(t) = &mut self.trace {
                        t.steps.insert(at.min(t.steps.len()), step);
                    }
                }
            }
        }
        result
    }

    fn apply_untraced(&mut self, r: &Record) -> Result<(), Rejection> {
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
        if !matches!(r.event, Event::Purchase { .. })
            && !crate::parts::folds_without_holdings(&r.event)
        {
            // The holdings may change in place (refused or not: a mark too many only
            // costs an encoding).
            self.holdings_mark = HoldingsMark::fresh();
        }
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

    /// Runs, in day order, every deadline due at the start of a day up to and including
    /// `day`. On one day: the plan's own end first, then employees' defaults and leave
    /// limits, then the open period's close, then the next period's opening.
    pub(crate) fn run_deadlines(&mut self, day: Day) {
        loop {
            let plan_end = self.plan_deadline_cached();
            let employee_at = self.deadlines.first().map(|(d, _)| *d);
            let close_at = self.periods.open_period().and_then(|p| p.end.add_days(1));
            let open_at = if self.plan.ended.is_some() {
                None
            } else {
                self.periods.next_start_cached()
            };
            let due = |d: Option<Day>| d.filter(|d| *d <= day);
            let first = [plan_end.map(|p| p.0), employee_at, close_at, open_at]
                .into_iter()
                .flatten()
                .filter(|d| *d <= day)
                .min();
            let Some(first) = first else { break };
            let before = self.traced_snap();
            let mark = self.trace.as_ref().map_or(0, |t| t.steps.len());
            // What ran, kept as plain values: described only when a trace asks.
            let ran = if let Some((d, reason)) = plan_end.filter(|p| p.0 == first) {
                self.end_plan(d, reason);
                Ran::PlanEnd(reason)
            } else if due(employee_at) == Some(first) {
                let Some((d, id)) = self.deadlines.pop_first() else {
                    break;
                };
                let window = self.employees.get(id.as_str()).and_then(|e| e.window);
                self.employee_deadline(d, &id);
                match window.filter(|w| w.deadline.add_days(1) == Some(d)) {
                    Some(w) => Ran::Default(w),
                    None => Ran::LeaveLimit,
                }
            } else if due(close_at) == Some(first) {
                let start = self.periods.open;
                self.close_period();
                Ran::Close(start)
            } else if let Some(o) = due(open_at) {
                self.open_period(o);
                Ran::Open(o)
            } else {
                break;
            };
            if self.trace.is_some() {
                let after = self.traced_snap();
                if before != after {
                    let what = match ran {
                        Ran::PlanEnd(reason) => format!("§24: the plan ends ({})", reason.as_str()),
                        Ran::Default(w) => format!(
                            "{}: no election after {} by {}, the default ({}) is taken",
                            w.kind.section(),
                            w.kind.cause(),
                            w.deadline,
                            w.kind.default_choice().as_str()
                        ),
                        Ran::LeaveLimit => "§17: the leave outlasts its limit without re-employment guaranteed: employment ends as §15".to_string(),
                        Ran::Close(start) => format!(
                            "§7: period {} ends without a purchase",
                            start.map(|s| self.period_id(s)).unwrap_or_default()
                        ),
                        Ran::Open(o) => format!("§7: period {} opens", self.period_id(o)),
                    };
                    let step = Step::Deadline {
                        date: first,
                        what,
                        before,
                        after,
                    };
                    // Before the steps it caused (the eligibility a period's opening judged).
                    if let Some(t) = &mut self.trace {
                        t.steps.insert(mark.min(t.steps.len()), step);
                    }
                }
            }
        }
    }

    /// [`State::plan_deadline`], computed again only when what it depends on changed.
    fn plan_deadline_cached(&mut self) -> Option<(Day, PlanEnd)> {
        let inputs: PlanEndInputs = (
            self.plan.adopted,
            self.plan.approved.is_some(),
            self.plan.ended.is_some(),
            self.rules.term_years.get(),
            self.rules.approval_window_months.get(),
        );
        match self.plan_end_memo {
            Some((was, end)) if was == inputs => end,
            _ => {
                let end = self.plan_deadline();
                self.plan_end_memo = Some((inputs, end));
                end
            }
        }
    }

    /// The plan's own next end: the approval window's lapse or the term's end (§24).
    fn plan_deadline(&self) -> Option<(Day, PlanEnd)> {
        if self.plan.ended.is_some() {
            return None;
        }
        let adopted = self.plan.adopted?;
        let term = adopted
            .add_months(self.rules.term_years.get().saturating_mul(12))
            .map(|d| (d, PlanEnd::TermEnded));
        let lapse = match self.plan.approved {
            Some(_) => None,
            None => adopted
                .add_months(self.rules.approval_window_months.get())
                .and_then(|d| d.add_days(1))
                .map(|d| (d, PlanEnd::NotApproved)),
        };
        match (lapse, term) {
            (Some(l), Some(t)) if t.0 < l.0 => Some(t),
            (Some(l), _) => Some(l),
            (None, t) => t,
        }
    }

    /// A deadline of employee `id` reached at the start of `day`: a window's default, or a
    /// leave past its limit ending employment (as §15).
    fn employee_deadline(&mut self, day: Day, id: &EmployeeId) {
        let open = self.periods.open;
        let Some(e) = self.employees.get_mut(id.as_str()) else {
            return;
        };
        if let Some(w) = e.window {
            if w.deadline.add_days(1) == Some(day) {
                take_default(e, open);
            }
        }
        if let Some(l) = e.leave {
            if l.ends_employment == Some(day) {
                end_employment(e, open);
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
        let mut end = start;
        if let Some(p) = self.periods.by_start.get_mut(&start) {
            p.rules = Some(rules.clone());
            end = p.end;
        }
        self.periods.open = Some(start);
        self.periods.opened_through = Some(start);
        for e in self.employees.values_mut() {
            // The §12 statement's opening balance: cash carried into the period.
            if !e.balance.is_zero() {
                e.account(start).opening_balance = e.balance;
            }
            judge(e, start, end, &rules, outstanding);
        }
        if self.trace.is_some() {
            self.trace_eligibility(start, &rules);
        }
    }

    /// Records how §4 judged the traced employee on the first day `start`, with the facts
    /// and the rules the judgement used.
    pub(crate) fn trace_eligibility(&mut self, start: Day, rules: &Rules) {
        let Some(t) = self.trace.as_deref() else {
            return;
        };
        let Some(period) = self.periods.by_start.get(&start).map(|p| p.id.clone()) else {
            return;
        };
        match &t.first_days {
            crate::explain::FirstDays::Period(p) if t.everyone && p != period.as_str() => return,
            _ => {}
        }
        let mut steps = Vec::new();
        for (id, e) in &self.employees {
            let wanted = match t.trail() {
                Some(traced) => traced == id && (e.enrolled || e.option_in == Some(start)),
                // A report: everyone employed, enrolled or not.
                None => t.everyone && e.employed,
            };
            if wanted {
                steps.push(Step::Eligibility {
                    employee: id.clone(),
                    date: start,
                    period: period.clone(),
                    employed: e.employed,
                    enrolled: e.enrolled || e.option_in == Some(start),
                    tests: e.section_4().tests(start, rules, self.shares_outstanding),
                    holds_option: e.option_in == Some(start),
                });
            }
        }
        if let Some(t) = self.trace.as_deref_mut() {
            if t.everyone && t.first_days == crate::explain::FirstDays::Latest {
                t.steps
                    .retain(|s| !matches!(s, Step::Eligibility { date, .. } if *date != start));
            }
        }
        for s in steps {
            self.trace_step(s);
        }
    }

    /// The open period ends (its purchase executed, or its last day passed). A window still
    /// open takes its default; an option that ends with the purchase ends, what is left of
    /// its cash refunded; the others are enrolled between periods, their balances carried.
    pub(crate) fn close_period(&mut self) {
        let Some(start) = self.periods.open.take() else {
            return;
        };
        for e in self.employees.values_mut() {
            if e.option_in == Some(start) && e.window.is_some() {
                take_default(e, Some(start));
            }
            if e.option_in == Some(start) {
                if e.ends_at_purchase || !e.employed || e.died.is_some() {
                    e.refund_balance(Some(start));
                }
                e.drop_option();
            }
            // The §12 statement's closing figure: what the period carries forward.
            let balance = e.balance;
            if let Some(a) = e.accounts.get_mut(&start) {
                a.carried = Some(balance);
            }
            e.sat_out = false;
            e.first_day_due = None;
        }
    }

    /// The plan ends on `day` for `reason`: the open period closes without a purchase, every
    /// balance is refunded, every option and enrolment ends; after the Board's termination
    /// the whole shares the Agent holds are certificated (§19(a)); otherwise they stay with
    /// the Agent (DOMAIN.md §7).
    pub(crate) fn end_plan(&mut self, day: Day, reason: PlanEnd) {
        let open = self.periods.open.take();
        self.plan.ended = Some((day, reason));
        for e in self.employees.values_mut() {
            e.refund_balance(e.option_in.or(open));
            e.drop_option();
            e.end_enrolment();
            e.first_day_due = None;
        }
        if reason == PlanEnd::Board {
            let ids: Vec<EmployeeId> = self.employees.keys().cloned().collect();
            for id in ids {
                self.certificate_whole_shares(&id);
            }
        }
    }

    /// Refuses `what` once the plan has ended.
    pub(crate) fn check_not_ended(&self, what: &str) -> Result<(), Rejection> {
        match self.plan.ended {
            Some((day, reason)) => {
                let why = match (reason, day.add_days(-1)) {
                    (PlanEnd::NotApproved, Some(last)) => format!(
                        ": the stockholders did not approve it by {last}, the approval window's last day"
                    ),
                    _ => String::new(),
                };
                Err(Rejection::plan(
                    "§24",
                    format!(
                        "{what}: the plan terminated on {day} ({}){why}",
                        reason.as_str()
                    ),
                ))
            }
            None => Ok(()),
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
            Event::SharesOutstanding { shares } => self.shares_outstanding(date, shares.get()),
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
                self.ownership_reported(date, employee, shares.get())
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
            Event::DeductionsStopped { employee, option } => {
                self.deductions_stopped(date, employee, *option)
            }
            Event::EmploymentEnded { employee, reason } => {
                self.employment_ended(date, employee, *reason)
            }
            Event::LeaveStarted {
                employee,
                kind,
                cash_payments,
                reemployment_guaranteed,
            } => self.leave_started(
                date,
                employee,
                *kind,
                *cash_payments == Some(true),
                *reemployment_guaranteed == Some(true),
            ),
            Event::LeaveEnded { employee, returned } => self.leave_ended(date, employee, *returned),
            Event::CashPayment { employee, amount } => {
                self.cash_payment(date, employee, amount.get())
            }
            Event::Election { employee, choice } => self.election(date, employee, *choice),
            Event::Died { employee } => self.died(date, employee),
            Event::PlanAmended {
                changes,
                stockholder_approved,
            } => self.plan_amended(date, changes, *stockholder_approved == Some(true)),
            Event::PlanTerminated { reason, assumed } => {
                self.plan_terminated(date, r.seq, seq_before, *reason, *assumed)
            }
            Event::CapitalChange { kind, ratio } => self.capital_change(date, *kind, *ratio),
            Event::Dividend { per_share } => self.dividend(per_share.get()),
            Event::CertificateRequested { employee, shares } => {
                self.certificate_requested(date, employee, shares.get())
            }
            Event::SharesSold {
                employee,
                shares,
                price,
            } => self.shares_sold(r, employee, shares.get(), price.get()),
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

/// A deadline that ran (described only for a trace).
#[derive(Debug, Clone, Copy)]
enum Ran {
    PlanEnd(PlanEnd),
    Default(crate::employee::Window),
    LeaveLimit,
    Close(Option<Day>),
    Open(Day),
}

/// A window's default (§16–§18): withdraw, or for the estate the refund (§18).
pub(crate) fn take_default(e: &mut Employee, open: Option<Day>) {
    let Some(w) = e.window else { return };
    match w.kind.default_choice() {
        WindowDefault::RefundToEstate => {
            let period = e.option_in.or(open);
            e.refund_balance(period);
            if e.option_in.is_some() {
                e.ended_in = e.option_in;
            }
            e.drop_option();
        }
        WindowDefault::Withdraw => e.withdraw(open),
    }
}

/// Employment ends as §15 (quit, fired, a leave past its limit): refund all, the option and
/// the enrolment end.
pub(crate) fn end_employment(e: &mut Employee, open: Option<Day>) {
    let period = e.option_in.or(open);
    e.refund_balance(period);
    if e.option_in.is_some() {
        e.ended_in = e.option_in;
    }
    e.drop_option();
    e.end_enrolment();
    e.employed = false;
    e.leave = None;
}
