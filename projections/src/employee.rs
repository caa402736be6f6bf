//! An employee's account: employment facts, enrolment and rate, the purchase account's cash,
//! shares, and the eligibility test of §4.

use espp_events::{Day, ElectionChoice, LeaveKind, Rules};
use rust_decimal::Decimal;

use crate::accounts::Accounts;
use crate::state::Rejection;

/// An employee's status, as INTERCHANGE.md spells it: one label derived from the employee's
/// facts (`Employee::status`), in the order of INTERCHANGE.md's list (the first that
/// applies), never stored, so the same situation always gets the same label whatever the
/// order in which events arrived.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Status {
    /// Never enrolled, or the enrolment ended without the employee's choice.
    NotEnrolled,
    /// Enrolled, waiting for the first period, or between periods.
    Enrolled,
    /// Taking part in the open period.
    Participating,
    /// Enrolled but ineligible on the open period's first day (§4).
    SittingOut,
    /// On a leave of absence (§17).
    OnLeave,
    /// An election window is open (§16–§18).
    AwaitingElection,
    /// Buys at the purchase, then out (§14(a)(i)).
    Reduced,
    /// Withdrew, by choice or by default (§14(a)(ii)).
    Withdrawn,
    /// Employment ended (§15).
    Left,
    /// Died (§18).
    Deceased,
}

impl Status {
    /// The interchange spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotEnrolled => "not_enrolled",
            Status::Enrolled => "enrolled",
            Status::Participating => "participating",
            Status::SittingOut => "sitting_out",
            Status::OnLeave => "on_leave",
            Status::AwaitingElection => "awaiting_election",
            Status::Reduced => "reduced",
            Status::Withdrawn => "withdrawn",
            Status::Left => "left",
            Status::Deceased => "deceased",
        }
    }
}

/// What one employee did in one period: the §12 statement's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Account {
    #[serde(with = "crate::ser::dec")]
    pub deductions: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub cash_payments: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub refunds: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares_bought: Decimal,
    /// The purchase price, when the employee took part in the period's purchase.
    #[serde(with = "crate::ser::opt_dec")]
    pub price: Option<Decimal>,
    /// Shares the Agent held for the employee when the period closed.
    #[serde(with = "crate::ser::opt_dec")]
    pub shares_held_end: Option<Decimal>,
    /// The balance when the period opened (carried from before it).
    #[serde(with = "crate::ser::dec")]
    pub opening_balance: Decimal,
    /// What the period's purchase cost the employee.
    #[serde(with = "crate::ser::dec")]
    pub cost: Decimal,
    /// The balance when the period closed, carried into the next one.
    #[serde(with = "crate::ser::opt_dec")]
    pub carried: Option<Decimal>,
}

impl Account {
    pub(crate) fn new() -> Self {
        Account {
            deductions: Decimal::ZERO,
            cash_payments: Decimal::ZERO,
            refunds: Decimal::ZERO,
            shares_bought: Decimal::ZERO,
            price: None,
            shares_held_end: None,
            opening_balance: Decimal::ZERO,
            cost: Decimal::ZERO,
            carried: None,
        }
    }
}

/// How an option's payroll deductions stand (§14, §16–§18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Deductions {
    /// Deducted from each payday.
    Active,
    /// Stopped by the employee (§14(a)(i) reduce): nothing deducted, nothing accrues.
    Stopped,
    /// Suspended by leave, retirement or death: what would be deducted accrues as deficiency.
    Suspended,
}

/// Why an election window is open, which fixes its plan section and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum WindowKind {
    /// §16: 10 days after retirement (or a leave ending without a return); default withdraw.
    Retirement,
    /// §17: 10 days after a return from a leave without cash payments, capped at the
    /// period's end; default withdraw.
    Return,
    /// §17: on leave, elect by the period's last day; default withdraw.
    OnLeave,
    /// §18: 3 months after death, capped at the period's end; default refund to the estate.
    Death,
}

impl WindowKind {
    /// The plan section that governs the window.
    pub(crate) fn section(self) -> &'static str {
        match self {
            WindowKind::Retirement => "§16",
            WindowKind::Return | WindowKind::OnLeave => "§17",
            WindowKind::Death => "§18",
        }
    }

    /// The default taken when the window closes without an election (§16–§18): the one
    /// place that says it, read by the fold ([`crate::state::take_default`]) and by the
    /// explanation alike.
    pub(crate) fn default_choice(self) -> WindowDefault {
        match self {
            WindowKind::Death => WindowDefault::RefundToEstate,
            WindowKind::Retirement | WindowKind::Return | WindowKind::OnLeave => {
                WindowDefault::Withdraw
            }
        }
    }

    /// What opened the window, for messages.
    pub(crate) fn cause(self) -> &'static str {
        match self {
            WindowKind::Retirement => "retirement",
            WindowKind::Return => "the return from leave",
            WindowKind::OnLeave => "the leave",
            WindowKind::Death => "death",
        }
    }
}

/// What a window's default does (§16–§18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowDefault {
    /// Withdraw: refund all, the option and the enrolment end (§16, §17).
    Withdraw,
    /// Refund the balance to the estate; the option ends (§18).
    RefundToEstate,
}

impl WindowDefault {
    /// How the explanation names it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WindowDefault::Withdraw => "withdraw",
            WindowDefault::RefundToEstate => "refund to the estate",
        }
    }
}

/// An open election window: elections are accepted through `deadline` inclusive; the default
/// applies at the start of the next day (DOMAIN.md §1), or at the purchase if that comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Window {
    pub kind: WindowKind,
    pub opened: Day,
    pub deadline: Day,
}

/// A leave of absence in progress (§17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Leave {
    pub started: Day,
    pub kind: LeaveKind,
    /// The employee keeps paying in cash (periodic `cash_payment` allowed).
    pub cash_payments: bool,
    /// The day at whose start employment ends for a leave past the limit (none when
    /// re-employment is guaranteed).
    pub ends_employment: Option<Day>,
    /// A `cash_payment` was made during the leave.
    pub paid_cash: bool,
}

/// The election last filed for the option in force, and the window it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Elected {
    pub day: Day,
    pub choice: ElectionChoice,
    pub kind: WindowKind,
}

/// Decimals by calendar year, in year order: an employee's purchases at grant FMV (§9).
///
/// A short sorted list, not a map: an employee buys in a few years, and a `BTreeMap` node
/// took ~240 bytes of fresh memory for each of a payday's 10,000 decoded employees (issue
/// 15). Its serde form is the map's it replaced, so checkpoints do not change.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct ByYear(Vec<(i32, Decimal)>);

impl ByYear {
    /// The value of `year`, if any.
    pub(crate) fn get(&self, year: i32) -> Option<Decimal> {
        let i = self.0.binary_search_by_key(&year, |(y, _)| *y).ok()?;
        self.0.get(i).map(|(_, v)| *v)
    }

    /// The value of `year`, zero put in first when there is none.
    pub(crate) fn entry(&mut self, year: i32) -> &mut Decimal {
        let i = match self.0.binary_search_by_key(&year, |(y, _)| *y) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (year, Decimal::ZERO));
                i
            }
        };
        &mut self.0[i].1
    }

    /// From values in strictly increasing year order (None otherwise).
    pub(crate) fn from_sorted(values: Vec<(i32, Decimal)>) -> Option<ByYear> {
        values
            .windows(2)
            .all(|w| w[0].0 < w[1].0)
            .then_some(ByYear(values))
    }
}

impl std::fmt::Debug for ByYear {
    /// As the map it replaced prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(y, v)| (y, v)))
            .finish()
    }
}

impl serde::Serialize for ByYear {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(y, v)| (y, crate::ser::Bytes(*v))))
    }
}

impl<'de> serde::Deserialize<'de> for ByYear {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A map's keys are in order whatever order they were written in.
        let m = std::collections::BTreeMap::<i32, crate::ser::Bytes>::deserialize(d)?;
        Ok(ByYear(m.into_iter().map(|(y, v)| (y, v.0)).collect()))
    }
}

/// One employee.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Employee {
    pub employed: bool,
    pub hire_date: Day,
    #[serde(with = "crate::ser::dec")]
    pub weekly_hours: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub months_per_year: Decimal,
    /// Holdings and options outside the plan (§4(d)).
    #[serde(with = "crate::ser::dec")]
    pub ownership: Decimal,
    /// An enrolment in force (carries over from period to period until stopped).
    pub enrolled: bool,
    /// Enrolled but judged ineligible for the open period on its first day (§4): sits it
    /// out. Cleared when the period closes or the enrolment ends.
    pub sat_out: bool,
    /// The latest participation ended by a withdrawal: the employee's own (§14(a)(ii), an
    /// election) or a window's default. Any other end of an enrolment (a reduce, §15, §16,
    /// §18, §19, the plan's end) clears it (INTERCHANGE.md: `withdrawn` vs `not_enrolled`).
    /// Nothing else changes it: a leave and return does not (INTERCHANGE.md), nor, where the
    /// spec is silent, a rehire (a retiree whose §16 window defaulted is `left`, and
    /// `withdrawn` once hired again).
    pub withdrew: bool,
    /// The latest accepted rate, even before it takes effect (the projection's `rate`).
    #[serde(with = "crate::ser::opt_dec")]
    pub rate: Option<Decimal>,
    /// The rate deducted in the open period.
    #[serde(with = "crate::ser::dec")]
    pub rate_in_force: Decimal,
    /// A rate waiting for the next period's first day (§5, §6).
    #[serde(with = "crate::ser::opt_dec")]
    pub pending_rate: Option<Decimal>,
    #[serde(with = "crate::ser::dec")]
    pub balance: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub deficiency: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub contributed: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub refunded: Decimal,
    /// Total purchase cost paid from the account (for the §11 cash invariant).
    #[serde(with = "crate::ser::dec")]
    pub spent: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares_held: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub shares_certificated: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub dividends_paid: Decimal,
    #[serde(with = "crate::ser::dec")]
    pub ordinary_income: Decimal,
    /// FMV at grant of shares bought per calendar year, here and under other plans (§9).
    pub bought_value: ByYear,
    /// Indices of the employee's lots in the state's lot list, oldest first.
    pub lots: Vec<usize>,
    /// Per-period figures for statements, keyed by the period's start (the closed ones held
    /// as their checkpoint bytes until read: see [`Accounts`]).
    pub accounts: Accounts,
    /// The start of the period in which the employee holds an option: takes part in its
    /// purchase (participating, reduced, on leave, awaiting an election, or deceased).
    pub option_in: Option<Day>,
    /// How the option's deductions stand.
    pub deductions: Deductions,
    /// The option ends with the purchase (reduce, retirement, death): what the purchase
    /// leaves is refunded and the employee is out.
    pub ends_at_purchase: bool,
    /// A make_up election is in force: cash payments up to the deficiency are accepted.
    pub make_up: bool,
    /// The election filed for the option in force.
    pub elected: Option<Elected>,
    /// An open election window.
    pub window: Option<Window>,
    /// A leave of absence in progress.
    pub leave: Option<Leave>,
    /// The day of death (§18): later refunds are paid to the estate (§20).
    pub died: Option<Day>,
    /// Refunds paid to the estate (included in `refunded`).
    #[serde(with = "crate::ser::dec")]
    pub refunded_to_estate: Decimal,
    /// The start of the period in which the employee's option ended early (withdrawal,
    /// §15, §19(b)): a new enrolment takes effect only in a later period (§19).
    pub ended_in: Option<Day>,
    /// What the open period's first-day payrolls deduct at the rate in force, for an employee
    /// who holds the option or sits the period out: eligibility is judged at the end of that
    /// day (DOMAIN.md §4), so one found eligible later that day is credited it then.
    pub first_day_due: Option<FirstDayDue>,
}

/// The sum of one day's deductions (see [`Employee::first_day_due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FirstDayDue {
    pub day: Day,
    #[serde(with = "crate::ser::dec")]
    pub amount: Decimal,
}

impl Employee {
    pub(crate) fn hired(hire_date: Day, weekly_hours: Decimal, months_per_year: Decimal) -> Self {
        Employee {
            employed: true,
            hire_date,
            weekly_hours,
            months_per_year,
            ownership: Decimal::ZERO,
            enrolled: false,
            sat_out: false,
            withdrew: false,
            rate: None,
            rate_in_force: Decimal::ZERO,
            pending_rate: None,
            balance: Decimal::ZERO,
            deficiency: Decimal::ZERO,
            contributed: Decimal::ZERO,
            refunded: Decimal::ZERO,
            spent: Decimal::ZERO,
            shares_held: Decimal::ZERO,
            shares_certificated: Decimal::ZERO,
            dividends_paid: Decimal::ZERO,
            ordinary_income: Decimal::ZERO,
            bought_value: ByYear::default(),
            lots: Vec::new(),
            accounts: Accounts::new(),
            option_in: None,
            deductions: Deductions::Active,
            ends_at_purchase: false,
            make_up: false,
            elected: None,
            window: None,
            leave: None,
            died: None,
            refunded_to_estate: Decimal::ZERO,
            ended_in: None,
            first_day_due: None,
        }
    }

    /// The status: the first of INTERCHANGE.md's list that applies.
    pub(crate) fn status(&self) -> Status {
        // An option is only ever held in the open period: the period's close drops it.
        let holds = self.option_in.is_some();
        if self.died.is_some() {
            Status::Deceased
        } else if self.window.is_some_and(|w| w.kind != WindowKind::OnLeave) {
            // A window that an event opened: §16 retirement, §17 return, §18 death. One on
            // leave who holds the option must also elect by the period's last day (its
            // deadline is shown), but that is the leave itself, not an event's window: the
            // label is `on_leave` ("anyone on a leave, enrolled or not"), as it has always
            // been; the issue that amended this list named no change for it.
            Status::AwaitingElection
        } else if self.leave.is_some() {
            Status::OnLeave
        } else if holds && self.ends_at_purchase {
            Status::Reduced
        } else if holds {
            Status::Participating
        } else if !self.employed {
            Status::Left
        } else if self.enrolled && self.sat_out {
            Status::SittingOut
        } else if self.enrolled {
            Status::Enrolled
        } else if self.withdrew {
            Status::Withdrawn
        } else {
            Status::NotEnrolled
        }
    }

    /// Holds an option in the period starting `start`.
    pub(crate) fn holds_option(&self, start: Option<Day>) -> bool {
        start.is_some() && self.option_in == start
    }

    /// Refunds the whole balance (to the estate after death), booked on the statement of the
    /// period starting `period` if any. Never overflows: refunded + balance ≤ contributed,
    /// which was checked when it was credited.
    pub(crate) fn refund_balance(&mut self, period: Option<Day>) -> Decimal {
        let amount = self.balance;
        if amount.is_zero() {
            return amount;
        }
        self.refunded = self.refunded.saturating_add(amount);
        if self.died.is_some() {
            self.refunded_to_estate = self.refunded_to_estate.saturating_add(amount);
        }
        self.balance = Decimal::ZERO;
        if let Some(start) = period {
            let acct = self.account(start);
            acct.refunds = acct.refunds.saturating_add(amount);
        }
        amount
    }

    /// The option ends: no window, no election, no deficiency.
    pub(crate) fn drop_option(&mut self) {
        self.option_in = None;
        self.deductions = Deductions::Active;
        self.ends_at_purchase = false;
        self.make_up = false;
        self.elected = None;
        self.window = None;
        self.deficiency = Decimal::ZERO;
    }

    /// The enrolment ends otherwise than by a withdrawal (a reduce, §15, §16, §18, §19, the
    /// plan's end): a new `enrolled` is needed for a later period. One not enrolled keeps
    /// how the enrolment ended before (a withdrawal stays one whatever follows).
    pub(crate) fn end_enrolment(&mut self) {
        if self.enrolled {
            self.withdrew = false;
        }
        self.enrolled = false;
        self.sat_out = false;
        self.pending_rate = None;
    }

    /// Withdraws (§14(a)(ii), an election, a default): refund all, the option and the
    /// enrolment end, no re-entry in the period `open`.
    pub(crate) fn withdraw(&mut self, open: Option<Day>) {
        let period = self.option_in.or(open);
        self.refund_balance(period);
        if self.option_in.is_some() {
            self.ended_in = self.option_in;
        }
        self.drop_option();
        self.end_enrolment();
        self.withdrew = true;
    }

    /// Grants the option of the period `start`..=`end` to an eligible enrolled employee: on
    /// leave, with deductions suspended and the §17 window open until the period's last day.
    pub(crate) fn grant_option(&mut self, start: Day, end: Day) {
        self.option_in = Some(start);
        self.sat_out = false;
        self.ends_at_purchase = false;
        self.make_up = false;
        self.elected = None;
        if self.leave.is_some() {
            self.deductions = Deductions::Suspended;
            self.window = Some(Window {
                kind: WindowKind::OnLeave,
                opened: start,
                deadline: end,
            });
        } else {
            self.deductions = Deductions::Active;
            self.window = None;
        }
    }

    /// What the first-day payrolls of the period starting `start` deduct (0 on another day).
    pub(crate) fn due_on_first_day(&self, start: Day) -> Decimal {
        self.first_day_due
            .filter(|d| d.day == start)
            .map_or(Decimal::ZERO, |d| d.amount)
    }

    /// Shares owned for the 5% test: reported holdings and options plus plan shares.
    pub(crate) fn owned(&self) -> Decimal {
        self.section_4().owned()
    }

    /// The statement account of the period starting `start`, created on first use.
    pub(crate) fn account(&mut self, start: Day) -> &mut Account {
        self.accounts.entry(start)
    }
}

/// Checks a rate against §6: above 0, at most `max_rate`, a multiple of `rate_step`.
pub(crate) fn check_rate(rate: Decimal, rules: &Rules, employee: &str) -> Result<(), Rejection> {
    let max = rules.max_rate.get();
    let step = rules.rate_step.get();
    if rate <= Decimal::ZERO {
        return Err(Rejection::plan(
            "§6",
            format!("rate {rate} is not above 0; deductions are a positive percentage of pay (employee {employee})"),
        ));
    }
    if rate > max {
        return Err(Rejection::plan(
            "§6",
            format!("rate {rate} exceeds the plan maximum {max} (employee {employee})"),
        ));
    }
    if !step.is_zero() && !rate.checked_rem(step).is_some_and(|r| r.is_zero()) {
        return Err(Rejection::plan(
            "§6",
            format!("rate {rate} is not a multiple of the rate step {step} (employee {employee})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn bincode<T: serde::Serialize>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).expect("encodes")
    }

    /// `ByYear` keeps its years in order whatever order they are added in, finds each, and
    /// encodes to the bytes the map it replaced encoded to (checkpoints unchanged), and
    /// back.
    #[test]
    fn by_year_is_the_map_it_replaced() {
        let mut by_year = ByYear::default();
        let mut map: BTreeMap<i32, Decimal> = BTreeMap::new();
        for (year, cents) in [
            (2027, 150_000),
            (2026, 99),
            (2029, 1),
            (2027, 25),
            (2028, 0),
        ] {
            let v = Decimal::new(cents, 2);
            *by_year.entry(year) += v;
            *map.entry(year).or_default() += v;
        }
        for year in 2025..=2030 {
            assert_eq!(by_year.get(year), map.get(&year).copied(), "{year}");
        }
        assert_eq!(by_year.get(2027), Some(Decimal::new(150_025, 2)));
        let as_map: BTreeMap<i32, crate::ser::Bytes> = map
            .iter()
            .map(|(y, v)| (*y, crate::ser::Bytes(*v)))
            .collect();
        let bytes = bincode(&by_year);
        assert_eq!(bytes, bincode(&as_map));
        let (back, _): (ByYear, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                .expect("decodes");
        assert!(back == by_year);
        assert_eq!(format!("{by_year:?}"), format!("{map:?}"));
        assert!(ByYear::from_sorted(vec![(2026, Decimal::ONE), (2026, Decimal::ONE)]).is_none());
    }
}
