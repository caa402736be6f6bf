//! The event catalogue of INTERCHANGE.md: one variant per plan action, with its fields.
//!
//! A single table ([`define_events!`]) declares every event once; from it come the Rust enum,
//! its JSON mapping (field names exactly as the spec) and its stored form. New events go at
//! the end of the table: the variant's position is its stored tag, frozen by the golden tests.
//! The rules of `plan_adopted` and `plan_amended` are boxed: rare events should not make
//! every record (a payroll line among millions) as large as a full set of rules.

use serde::{Deserialize, Serialize};

use crate::json::{FieldError, Fields};
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

macro_rules! define_events {
    ($( $(#[$doc:meta])* $variant:ident = $type:literal { $( $field:ident : $ty:ty ),* $(,)? } ),* $(,)?) => {
        /// One plan action. The day it takes effect and its id live on the envelope.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Event {
            $( $(#[$doc])* $variant { $( #[allow(missing_docs)] $field: $ty, )* }, )*
        }

        impl Event {
            /// Every `type` spelling, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$($type),*];

            /// The event's `type`.
            pub fn type_name(&self) -> &'static str {
                match self { $( Event::$variant { .. } => $type, )* }
            }

            /// Reads the fields of an event of type `type_name`, consuming them from `f`.
            pub(crate) fn from_fields(type_name: &str, f: &mut Fields) -> Result<Option<Event>, FieldError> {
                Ok(Some(match type_name {
                    $( $type => Event::$variant { $( $field: f.get(stringify!($field))?, )* }, )*
                    _ => return Ok(None),
                }))
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

define_events! {
    /// The Board adopts the plan (§1, §24) with its rules.
    PlanAdopted = "plan_adopted" { rules: Box<RulesPatch> },
    /// The stockholders approve the plan (§24).
    StockholdersApproved = "stockholders_approved" {},
    /// The Board amends the plan (§23).
    PlanAmended = "plan_amended" { changes: Box<RulesPatch>, stockholder_approved: Option<bool> },
    /// The plan is terminated (§23, §25(c)).
    PlanTerminated = "plan_terminated" { reason: TerminationReason, assumed: Option<bool> },
    /// A Withholding Period is scheduled (§7, §9).
    PeriodScheduled = "period_scheduled" {
        period: PeriodId, start: Day, end: Day,
        share_limit: Option<Shares>, value_limit: Option<Money>, price_factor: Option<Fraction>,
    },
    /// The stock's price on a day (§8).
    MarketPrice = "market_price" {
        closes: Option<Vec<PerShare>>, bid: Option<PerShare>, ask: Option<PerShare>,
        high: Option<PerShare>, low: Option<PerShare>, board_fmv: Option<PerShare>,
        no_sale: Option<bool>,
    },
    /// The company's outstanding shares (the 5% test's denominator, §4(d)).
    SharesOutstanding = "shares_outstanding" { shares: Shares },
    /// A split, reverse split, stock dividend, spin-off or reorganization (§25).
    CapitalChange = "capital_change" { kind: CapitalChangeKind, ratio: Ratio },
    /// A cash dividend with this day as its record date (§27).
    Dividend = "dividend" { per_share: PerShare },
    /// The purchase at a period's end (§9).
    Purchase = "purchase" { period: PeriodId },
    /// An employee is hired (or rehired).
    EmployeeHired = "employee_hired" {
        employee: EmployeeId, weekly_hours: Quantity, months_per_year: Quantity, hire_date: Option<Day>,
    },
    /// An employee's customary employment changes (§4(b), §4(c)).
    EmployeeChanged = "employee_changed" {
        employee: EmployeeId, weekly_hours: Option<Quantity>, months_per_year: Option<Quantity>,
    },
    /// Shares and options an employee holds outside the plan (§4(d)).
    OwnershipReported = "ownership_reported" { employee: EmployeeId, shares: Shares },
    /// An employee elects to participate (§5, §6).
    Enrolled = "enrolled" { employee: EmployeeId, rate: Fraction },
    /// An employee changes the deduction rate (§6).
    RateChanged = "rate_changed" { employee: EmployeeId, rate: Fraction },
    /// A payday (§6).
    Payroll = "payroll" { employee: EmployeeId, gross_pay: Money },
    /// An employee stops deductions (§14).
    DeductionsStopped = "deductions_stopped" { employee: EmployeeId, option: StopOption },
    /// Employment ends (§15, §16).
    EmploymentEnded = "employment_ended" { employee: EmployeeId, reason: EndReason },
    /// A leave of absence begins (§17).
    LeaveStarted = "leave_started" {
        employee: EmployeeId, kind: LeaveKind,
        cash_payments: Option<bool>, reemployment_guaranteed: Option<bool>,
    },
    /// A leave of absence ends (§17).
    LeaveEnded = "leave_ended" { employee: EmployeeId, returned: bool },
    /// A cash payment into the purchase account (§16–§18).
    CashPayment = "cash_payment" { employee: EmployeeId, amount: Money },
    /// An election after retirement, a return from leave or death (§16–§18).
    Election = "election" { employee: EmployeeId, choice: ElectionChoice },
    /// An employee dies (§18).
    Died = "died" { employee: EmployeeId },
    /// Whole shares moved out of the Agent's custody (§10).
    CertificateRequested = "certificate_requested" { employee: EmployeeId, shares: Shares },
    /// Agent-held shares sold (§11).
    SharesSold = "shares_sold" { employee: EmployeeId, shares: Shares, price: PerShare },
    /// A deduction credited in error is taken back.
    DeductionReversed = "deduction_reversed" { employee: EmployeeId, amount: Money },
    /// Grant-day FMV of shares bought this year under the employer's other §423 plans (§9).
    OtherPlanPurchase = "other_plan_purchase" { employee: EmployeeId, value: Money },
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
