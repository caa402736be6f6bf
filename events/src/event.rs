//! The event catalogue of INTERCHANGE.md: one variant per plan action, with its fields.
//!
//! A single table ([`define_events!`]) declares every event once; from it come the Rust enum,
//! its JSON mapping (field names exactly as the spec) and its stored form. New events go at
//! the end of the table: the variant's position is its stored tag, frozen by the golden tests.
//! The rules of `plan_adopted` and `plan_amended` are boxed: rare events should not make
//! every record (a payroll line among millions) as large as a full set of rules.

use serde::{Deserialize, Serialize};

use crate::catalogue::{EventSpec, FieldSpec};
use crate::json::{FieldError, Fields, JsonField};
use crate::rules::RulesPatch;
use crate::value::{Day, EmployeeId, Fraction, Money, PerShare, PeriodId, Quantity, Ratio, Shares};

macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $( $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $( #[doc = $text] $variant, )* }

        impl $name {
            /// Every spelling, in order.
            pub const ALL: &'static [&'static str] = &[$($text),*];
            /// The interchange spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
            /// Parses the interchange spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some($name::$variant), )* _ => None }
            }
        }
    };
}

choice!(
    /// Why the plan was terminated (§23, §25(c)).
    TerminationReason { Board = "board", ChangeInControl = "change_in_control" }
);
choice!(
    /// A capital change's kind (§25).
    CapitalChangeKind {
        Split = "split",
        ReverseSplit = "reverse_split",
        StockDividend = "stock_dividend",
        SpinOff = "spin_off",
        Reorganization = "reorganization",
    }
);
choice!(
    /// How an employee stops deductions (§14(a)).
    StopOption { Reduce = "reduce", Withdraw = "withdraw" }
);
choice!(
    /// Why employment ended (§15, §16).
    EndReason { Quit = "quit", Fired = "fired", Retired = "retired" }
);
choice!(
    /// The kind of a leave of absence (§17).
    LeaveKind { Layoff = "layoff", Leave = "leave", Disability = "disability" }
);
choice!(
    /// An election after retirement, a return from leave or death (§16–§18).
    ElectionChoice { MakeUp = "make_up", Reduce = "reduce", Withdraw = "withdraw" }
);

/// Where `name` is in `list` (`list.len()` if it is not): for [`Event::type_index`], at
/// compile time.
pub(crate) const fn position(list: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < list.len() {
        let (a, b) = (list[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    list.len()
}

macro_rules! define_events {
    ($(
        $(#[doc = $doc:literal])* $variant:ident = $type:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty $(= $default:literal)? ),* $(,)?
        } example $example:literal
    ),* $(,)?) => {
        /// One plan action. The day it takes effect and its id live on the envelope.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Event {
            $( $(#[doc = $doc])* $variant { $( $(#[doc = $fdoc])* #[allow(missing_docs)] $field: $ty, )* }, )*
        }

        impl Event {
            /// Every `type` spelling, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$($type),*];

            /// The reference of every type: its purpose, its fields (names, kinds,
            /// optionality and defaults from the declarations the parser reads) and an example.
            pub const CATALOGUE: &'static [EventSpec] = &[$(
                EventSpec {
                    type_name: $type,
                    purpose: concat!("" $(, $doc)*),
                    fields: &[$(
                        FieldSpec {
                            name: stringify!($field),
                            kind: <$ty as JsonField>::KIND,
                            optional: <$ty as JsonField>::OPTIONAL,
                            default: concat!("" $(, $default)?),
                            purpose: concat!("" $(, $fdoc)*),
                        },
                    )*],
                    example: $example,
                },
            )*];

            /// The event's `type`.
            pub fn type_name(&self) -> &'static str {
                match self { $( Event::$variant { .. } => $type, )* }
            }

            /// The event's place in [`Event::TYPES`] and [`Event::CATALOGUE`] (worked out
            /// when compiling).
            pub fn type_index(&self) -> usize {
                match self { $( Event::$variant { .. } => const { position(Event::TYPES, $type) }, )* }
            }

            /// Reads the fields of an event of type `type_name`, consuming them from `f`.
            pub(crate) fn from_fields(type_name: &str, f: &mut Fields<'_>) -> Result<Option<Event>, FieldError> {
                Ok(Some(match type_name {
                    $( $type => Event::$variant { $( $field: f.get(stringify!($field))?, )* }, )*
                    _ => return Ok(None),
                }))
            }

            /// Hands each of the event's fields (not `type`, not the envelope) to `f`, in
            /// declaration order, absent optional ones too (see [`crate::json::WriteField`]).
            pub(crate) fn visit_fields<'a>(
                &'a self,
                f: &mut dyn FnMut(&'static str, &'a dyn crate::json::WriteField),
            ) {
                match self {
                    $( #[allow(unused_variables)] Event::$variant { $( $field, )* } => {
                        $( f(stringify!($field), $field); )*
                    } )*
                }
            }

            /// Writes the event's fields (not `type`, not the envelope) into `m`.
            pub(crate) fn put_fields(&self, m: &mut serde_json::Map<String, serde_json::Value>) {
                match self {
                    $( #[allow(unused_variables)] Event::$variant { $( $field, )* } => {
                        $( crate::json::put(m, stringify!($field), $field); )*
                    } )*
                }
            }
        }
    };
}

// Each entry: the purpose (doc comment), `type`, the fields with their types (an `Option` is
// an optional field; `= "…"` says what leaving it out means) and an example line that parses
// (tested). `espp events` and docs/events.md are generated from this table.
define_events! {
    /// The Board adopts the plan (§1, §24) with its rules.
    PlanAdopted = "plan_adopted" {
        /// The plan's rules; every rule left out has the plan's default.
        rules: Box<RulesPatch>,
    } example r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"SAVVIS ESPP","max_rate":"0.10"}}"#,
    /// The stockholders approve the plan (§24).
    StockholdersApproved = "stockholders_approved" {}
    example r#"{"type":"stockholders_approved","date":"2026-03-02"}"#,
    /// The Board amends the plan (§23).
    PlanAmended = "plan_amended" {
        /// The rules that change (a partial rules object).
        changes: Box<RulesPatch>,
        /// Whether the stockholders approved the amendment.
        stockholder_approved: Option<bool> = "false",
    } example r#"{"type":"plan_amended","date":"2026-06-01","changes":{"price_factor":"0.90"}}"#,
    /// The plan is terminated (§23, §25(c)).
    PlanTerminated = "plan_terminated" {
        reason: TerminationReason,
        /// Whether a successor assumes the options (§25(c)).
        assumed: Option<bool> = "false",
    } example r#"{"type":"plan_terminated","date":"2027-12-31","reason":"board"}"#,
    /// A Withholding Period is scheduled (§7, §9).
    PeriodScheduled = "period_scheduled" {
        /// The period's id, named by `purchase` and statements.
        period: PeriodId,
        /// Its first day (the grant date).
        start: Day,
        /// Its last day (the purchase date).
        end: Day,
        /// The most shares one employee may buy in it.
        share_limit: Option<Shares> = "no limit",
        /// The most grant-day value one employee may buy in it.
        value_limit: Option<Money> = "no limit",
        /// A price factor for this period, at least the plan's.
        price_factor: Option<Fraction> = "the plan's",
    } example r#"{"type":"period_scheduled","date":"2026-01-02","period":"2026H1","start":"2026-01-01","end":"2026-06-30"}"#,
    /// The stock's price on a day (§8); at least one of `closes`, `bid` with `ask`, `high` with `low`, `board_fmv`, `no_sale: true`.
    MarketPrice = "market_price" {
        /// Closing prices of the day's trades.
        closes: Option<Vec<PerShare>>,
        /// Closing bid (with `ask`).
        bid: Option<PerShare>,
        /// Closing ask (with `bid`).
        ask: Option<PerShare>,
        /// The day's high (with `low`).
        high: Option<PerShare>,
        /// The day's low (with `high`).
        low: Option<PerShare>,
        /// A value set by the Board.
        board_fmv: Option<PerShare>,
        /// No sale that day.
        no_sale: Option<bool> = "false",
    } example r#"{"type":"market_price","date":"2026-01-02","closes":["12.50"]}"#,
    /// The company's outstanding shares (the 5% test's denominator, §4(d)).
    SharesOutstanding = "shares_outstanding" { shares: Shares }
    example r#"{"type":"shares_outstanding","date":"2026-01-02","shares":"50000000"}"#,
    /// A split, reverse split, stock dividend, spin-off or reorganization (§25).
    CapitalChange = "capital_change" {
        kind: CapitalChangeKind,
        /// New shares per old share.
        ratio: Ratio,
    } example r#"{"type":"capital_change","date":"2026-04-01","kind":"split","ratio":"2"}"#,
    /// A cash dividend with this day as its record date (§27).
    Dividend = "dividend" { per_share: PerShare }
    example r#"{"type":"dividend","date":"2026-03-15","per_share":"0.25"}"#,
    /// The purchase at a period's end (§9).
    Purchase = "purchase" { period: PeriodId }
    example r#"{"type":"purchase","date":"2026-06-30","period":"2026H1"}"#,
    /// An employee is hired (or rehired).
    EmployeeHired = "employee_hired" {
        employee: EmployeeId,
        /// Customary hours a week.
        weekly_hours: Quantity,
        /// Customary months a year.
        months_per_year: Quantity,
        /// The first day of service.
        hire_date: Option<Day> = "the event's `date`",
    } example r#"{"type":"employee_hired","date":"2026-01-02","employee":"E1","hire_date":"2024-03-01","weekly_hours":"40","months_per_year":"12"}"#,
    /// An employee's customary employment changes (§4(b), §4(c)); at least one of the two.
    EmployeeChanged = "employee_changed" {
        employee: EmployeeId,
        /// Customary hours a week.
        weekly_hours: Option<Quantity> = "unchanged",
        /// Customary months a year.
        months_per_year: Option<Quantity> = "unchanged",
    } example r#"{"type":"employee_changed","date":"2026-02-01","employee":"E1","weekly_hours":"30"}"#,
    /// Shares and options an employee holds outside the plan (§4(d)).
    OwnershipReported = "ownership_reported" { employee: EmployeeId, shares: Shares }
    example r#"{"type":"ownership_reported","date":"2026-01-02","employee":"E1","shares":"1000"}"#,
    /// An employee elects to participate (§5, §6).
    Enrolled = "enrolled" {
        employee: EmployeeId,
        /// The share of each paycheck deducted.
        rate: Fraction,
    } example r#"{"type":"enrolled","date":"2026-01-05","employee":"E1","rate":"0.10"}"#,
    /// An employee changes the deduction rate (§6).
    RateChanged = "rate_changed" {
        employee: EmployeeId,
        /// The new share of each paycheck deducted.
        rate: Fraction,
    } example r#"{"type":"rate_changed","date":"2026-03-01","employee":"E1","rate":"0.05"}"#,
    /// A payday (§6).
    Payroll = "payroll" {
        employee: EmployeeId,
        /// The paycheck before deductions.
        gross_pay: Money,
    } example r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00"}"#,
    /// An employee stops deductions (§14).
    DeductionsStopped = "deductions_stopped" { employee: EmployeeId, option: StopOption }
    example r#"{"type":"deductions_stopped","date":"2026-04-01","employee":"E1","option":"withdraw"}"#,
    /// Employment ends (§15, §16).
    EmploymentEnded = "employment_ended" { employee: EmployeeId, reason: EndReason }
    example r#"{"type":"employment_ended","date":"2026-05-01","employee":"E1","reason":"quit"}"#,
    /// A leave of absence begins (§17).
    LeaveStarted = "leave_started" {
        employee: EmployeeId,
        kind: LeaveKind,
        /// The employee elects to keep paying in cash (§17).
        cash_payments: Option<bool> = "false",
        /// Re-employment is guaranteed by statute or contract.
        reemployment_guaranteed: Option<bool> = "false",
    } example r#"{"type":"leave_started","date":"2026-03-01","employee":"E1","kind":"leave","cash_payments":true}"#,
    /// A leave of absence ends (§17).
    LeaveEnded = "leave_ended" {
        employee: EmployeeId,
        /// Whether the employee came back to work.
        returned: bool,
    } example r#"{"type":"leave_ended","date":"2026-04-15","employee":"E1","returned":true}"#,
    /// A cash payment into the purchase account (§16–§18).
    CashPayment = "cash_payment" { employee: EmployeeId, amount: Money }
    example r#"{"type":"cash_payment","date":"2026-03-15","employee":"E1","amount":"400.00"}"#,
    /// An election after retirement, a return from leave or death (§16–§18).
    Election = "election" { employee: EmployeeId, choice: ElectionChoice }
    example r#"{"type":"election","date":"2026-05-10","employee":"E1","choice":"make_up"}"#,
    /// An employee dies (§18).
    Died = "died" { employee: EmployeeId }
    example r#"{"type":"died","date":"2026-05-01","employee":"E1"}"#,
    /// Whole shares moved out of the Agent's custody (§10).
    CertificateRequested = "certificate_requested" { employee: EmployeeId, shares: Shares }
    example r#"{"type":"certificate_requested","date":"2026-08-01","employee":"E1","shares":"10"}"#,
    /// Agent-held shares sold (§11).
    SharesSold = "shares_sold" {
        employee: EmployeeId,
        shares: Shares,
        /// The sale price per share.
        price: PerShare,
    } example r#"{"type":"shares_sold","date":"2026-09-01","employee":"E1","shares":"5","price":"14.20"}"#,
    /// A deduction credited in error is taken back.
    DeductionReversed = "deduction_reversed" { employee: EmployeeId, amount: Money }
    example r#"{"type":"deduction_reversed","date":"2026-01-20","employee":"E1","amount":"400.00"}"#,
    /// Grant-day FMV of shares bought this year under the employer's other §423 plans (§9).
    OtherPlanPurchase = "other_plan_purchase" { employee: EmployeeId, value: Money }
    example r#"{"type":"other_plan_purchase","date":"2026-02-01","employee":"E1","value":"5000.00"}"#,
}

impl Event {
    /// The employee the event is about, if any.
    pub fn employee(&self) -> Option<&EmployeeId> {
        use Event::*;
        match self {
            EmployeeHired { employee, .. }
            | EmployeeChanged { employee, .. }
            | OwnershipReported { employee, .. }
            | Enrolled { employee, .. }
            | RateChanged { employee, .. }
            | Payroll { employee, .. }
            | DeductionsStopped { employee, .. }
            | EmploymentEnded { employee, .. }
            | LeaveStarted { employee, .. }
            | LeaveEnded { employee, .. }
            | CashPayment { employee, .. }
            | Election { employee, .. }
            | Died { employee }
            | CertificateRequested { employee, .. }
            | SharesSold { employee, .. }
            | DeductionReversed { employee, .. }
            | OtherPlanPurchase { employee, .. } => Some(employee),
            PlanAdopted { .. }
            | StockholdersApproved {}
            | PlanAmended { .. }
            | PlanTerminated { .. }
            | PeriodScheduled { .. }
            | MarketPrice { .. }
            | SharesOutstanding { .. }
            | CapitalChange { .. }
            | Dividend { .. }
            | Purchase { .. } => None,
        }
    }

    /// Checks that hold between fields of one event, whatever the plan says (a period that
    /// ends before it starts, a price with a bid but no ask, a change that changes nothing).
    pub(crate) fn check_shape(&self) -> Result<(), FieldError> {
        match self {
            Event::PeriodScheduled { start, end, .. } if end < start => Err(FieldError::new(
                "end",
                format!("the period ends ({end}) before it starts ({start})"),
            )),
            Event::MarketPrice {
                closes,
                bid,
                ask,
                high,
                low,
                board_fmv,
                no_sale,
            } => {
                if bid.is_some() != ask.is_some() {
                    let missing = if bid.is_some() { "ask" } else { "bid" };
                    return Err(FieldError::new(missing, "`bid` and `ask` come together"));
                }
                if high.is_some() != low.is_some() {
                    let missing = if high.is_some() { "low" } else { "high" };
                    return Err(FieldError::new(missing, "`high` and `low` come together"));
                }
                if closes.as_ref().is_some_and(Vec::is_empty) {
                    return Err(FieldError::new(
                        "closes",
                        "expected at least one closing price",
                    ));
                }
                if closes.is_none()
                    && bid.is_none()
                    && high.is_none()
                    && board_fmv.is_none()
                    && *no_sale != Some(true)
                {
                    return Err(FieldError::new(
                        "closes",
                        "a market_price needs at least one of `closes`, `bid` with `ask`, `high` with `low`, `board_fmv`, `no_sale: true`",
                    ));
                }
                Ok(())
            }
            Event::EmployeeChanged {
                weekly_hours: None,
                months_per_year: None,
                ..
            } => Err(FieldError::new(
                "weekly_hours",
                "an employee_changed needs `weekly_hours` or `months_per_year`",
            )),
            Event::SharesSold { shares, .. } | Event::CertificateRequested { shares, .. }
                if shares.get().is_zero() =>
            {
                Err(FieldError::new(
                    "shares",
                    "expected a positive number of shares",
                ))
            }
            Event::CashPayment { amount, .. } | Event::DeductionReversed { amount, .. }
                if amount.get().is_zero() =>
            {
                Err(FieldError::new("amount", "expected a positive amount"))
            }
            _ => Ok(()),
        }
    }
}
