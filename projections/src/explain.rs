//! Why the ledger says what it says (issue 14): a trace the fold keeps only when asked.
//!
//! No rule is implemented twice. The fold itself records, into [`Trace`], what it did at the
//! points where it does it: the purchase keeps the figures of every step it computed (the
//! same locals that decide the shares), eligibility keeps the [`Test`]s whose conjunction
//! *is* the verdict, a window's default is named by the function that takes it, and each
//! event's effect is read off the employee's account before and after the event. A fold
//! without a trace pays one `Option::is_some` per record for all of this (`State::apply`).

use espp_events::{Day, EmployeeId, PeriodId, Residual};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::eligibility::Test;
use crate::employee::{Employee, Status, Window};
use crate::num::{fixed, money, plain};
use crate::state::State;

/// What to trace: one employee's whole trail, or (`None`) every employee's purchase steps
/// only (a purchase preview).
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub(crate) employee: Option<EmployeeId>,
    /// Without an employee: also every employed employee's §4 tests on each first day
    /// (the reports).
    pub(crate) everyone: bool,
    /// With `everyone`: which first days' judgements are kept (a report reads one first
    /// day's; all of them, at 10^4 employees and eight periods, were ~75 MB).
    pub(crate) first_days: FirstDays,
    pub(crate) steps: Vec<Step>,
}

/// Which first days' §4 judgements a report's trace keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum FirstDays {
    /// Every period's.
    #[default]
    All,
    /// This period's only (`report purchase`).
    Period(String),
    /// The latest first day's only (`report enrolment`).
    Latest,
}

impl Trace {
    /// A trace of `employee`'s whole trail (`explain`).
    pub fn employee(id: EmployeeId) -> Self {
        Trace {
            employee: Some(id),
            ..Trace::default()
        }
    }

    /// Every employee's purchase steps and §4 tests on each first day (the reports).
    pub fn report() -> Self {
        Trace {
            everyone: true,
            ..Trace::default()
        }
    }

    /// [`Trace::report`] keeping only `period`'s first-day judgements (`report purchase`).
    pub fn report_purchase(period: &str) -> Self {
        Trace {
            first_days: FirstDays::Period(period.to_string()),
            ..Trace::report()
        }
    }

    /// [`Trace::report`] keeping only the latest first day's judgements (`report enrolment`).
    pub fn report_enrolment() -> Self {
        Trace {
            first_days: FirstDays::Latest,
            ..Trace::report()
        }
    }

    /// A trace of every employee's purchase steps (a purchase preview).
    pub fn purchases() -> Self {
        Trace::default()
    }

    /// Whether `id`'s steps are kept.
    pub(crate) fn follows(&self, id: &str) -> bool {
        self.employee.as_ref().is_none_or(|e| e.as_str() == id)
    }

    /// Whether the whole trail (not only purchases) is kept.
    pub(crate) fn trail(&self) -> Option<&EmployeeId> {
        self.employee.as_ref()
    }
}

/// An employee's figures that an event may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snap {
    pub balance: Decimal,
    pub deficiency: Decimal,
    pub contributed: Decimal,
    pub refunded: Decimal,
    pub shares_held: Decimal,
    pub shares_certificated: Decimal,
    pub status: Status,
    pub window: Option<Window>,
    pub rate_in_force: Decimal,
}

impl Snap {
    pub(crate) fn of(e: &Employee) -> Snap {
        Snap {
            balance: e.balance,
            deficiency: e.deficiency,
            contributed: e.contributed,
            refunded: e.refunded,
            shares_held: e.shares_held,
            shares_certificated: e.shares_certificated,
            status: e.status(),
            window: e.window,
            rate_in_force: e.rate_in_force,
        }
    }
}

/// One step of a trail.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// An event that named the employee or changed the employee's figures.
    Event {
        seq: u64,
        date: Day,
        type_name: &'static str,
        before: Option<Snap>,
        after: Option<Snap>,
    },
    /// A deadline the fold applied at the start of `date` that changed the employee.
    Deadline {
        date: Day,
        what: String,
        before: Option<Snap>,
        after: Option<Snap>,
    },
    /// §4 judged on a period's first day (when it opened, or again later that day).
    Eligibility {
        employee: EmployeeId,
        date: Day,
        period: PeriodId,
        employed: bool,
        enrolled: bool,
        tests: [Test; 4],
        holds_option: bool,
    },
    /// A purchase, step by step.
    Purchase(Box<PurchaseSteps>),
}

/// A cap of §5 steps 2–4, with its figures.
#[derive(Debug, Clone)]
pub(crate) struct Cap {
    pub name: &'static str,
    pub section: &'static str,
    pub figures: String,
    pub shares: Decimal,
}

/// Why the cash a purchase leaves is refunded or carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// A cap (steps 2–5) lowered this employee's shares: refunded (§9).
    CapBound,
    /// The option ends with this purchase (reduce, retirement, death, a change in control).
    Ends,
    /// The purchase leaves no shares in the reserve: the plan ends (§24).
    Exhausts,
    /// Cash under one share's price follows `residual` (§9, §19).
    Residual(Residual),
}

/// Every figure of one employee's part of one purchase (DOMAIN.md §5), as computed.
#[derive(Debug, Clone)]
pub(crate) struct PurchaseSteps {
    pub employee: EmployeeId,
    pub period: PeriodId,
    pub date: Day,
    pub grant_date: Day,
    pub fmv_grant: Decimal,
    pub fmv_purchase: Decimal,
    pub price_factor: Decimal,
    pub price_exact: Decimal,
    pub par_value: Decimal,
    pub price: Decimal,
    pub price_decimals: u32,
    pub share_decimals: u32,
    pub balance: Decimal,
    pub wanted: Decimal,
    pub caps: Vec<Cap>,
    pub capped: Decimal,
    pub left: Decimal,
    pub total_wanted: Decimal,
    pub prorated: bool,
    pub shares: Decimal,
    pub cost: Decimal,
    pub rest: Decimal,
    pub refunded: Decimal,
    pub carried: Decimal,
    pub leftover: Leftover,
    /// Shares owned before the purchase for §4(d) (reported and plan shares).
    pub owned: Decimal,
    /// The ownership limit in shares (limit × outstanding), when outstanding is reported.
    pub ownership_limit_shares: Option<Decimal>,
    /// The year's annual-limit headroom at grant FMV.
    pub headroom: Decimal,
}

/// One scheduled period as `state` and the reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodInfo {
    /// Its id.
    pub id: String,
    /// Its first day.
    pub start: Day,
    /// Its last day.
    pub end: Day,
    /// `scheduled`, `open`, `purchased` or `closed` (ended without a purchase).
    pub status: &'static str,
    /// The day its purchase executed.
    pub purchased: Option<Day>,
    /// Its first and last trading days so far (days with a price within it).
    pub first_trading_day: Option<Day>,
    /// See `first_trading_day`.
    pub last_trading_day: Option<Day>,
}

impl State {
    /// Every scheduled period, in start order, with where the fold stands in it.
    pub fn period_infos(&self) -> Vec<PeriodInfo> {
        self.periods
            .by_start
            .values()
            .map(|p| {
                let status = if p.purchased.is_some() {
                    "purchased"
                } else if self.periods.open == Some(p.start) {
                    "open"
                } else if self.periods.opened_through.is_some_and(|o| o >= p.start) {
                    "closed"
                } else {
                    "scheduled"
                };
                PeriodInfo {
                    id: p.id.to_string(),
                    start: p.start,
                    end: p.end,
                    status,
                    purchased: p.purchased,
                    first_trading_day: self.market.first_in(p.start, p.end),
                    last_trading_day: self.market.last_in(p.start, p.end),
                }
            })
            .collect()
    }

    /// One period's [`PeriodInfo`].
    pub fn period_info(&self, id: &str) -> Option<PeriodInfo> {
        self.period_infos().into_iter().find(|p| p.id == id)
    }

    /// A new state that keeps `trace` while it folds (`explain`, a purchase preview).
    pub fn with_trace(overrides: Option<espp_events::RulesPatch>, trace: Trace) -> Self {
        let mut s = State::new(overrides);
        s.trace = Some(Box::new(trace));
        s
    }

    /// The traced employee's figures, when a whole trail is kept.
    pub(crate) fn traced_snap(&self) -> Option<Snap> {
        let t = self.trace.as_ref()?;
        let id = t.trail()?;
        self.employees.get(id.as_str()).map(Snap::of)
    }

    /// Records a step (a no-op without a trace).
    pub(crate) fn trace_step(&mut self, step: Step) {
        if let Some(t) = &mut self.trace {
            t.steps.push(step);
        }
    }

    /// The purchase steps traced so far, as JSON (a preview reads them), in fold order.
    pub fn traced_purchases(&self) -> Vec<Value> {
        self.trace
            .iter()
            .flat_map(|t| t.steps.iter())
            .filter_map(|s| match s {
                Step::Purchase(p) => Some(purchase_json(p)),
                _ => None,
            })
            .collect()
    }

    /// The traced employee's trail as JSON: `{"employee", "entries": [...], "now": {...}}`,
    /// entries in fold order, restricted to `between` (inclusive days) when given. `now`
    /// holds the employee's figures as the projection shows them. None without a trail or
    /// for an employee never hired.
    pub fn explanation(&self, between: Option<(Day, Day)>) -> Option<Value> {
        let t = self.trace.as_ref()?;
        let id = t.trail()?;
        let e = self.employees.get(id.as_str())?;
        let within = |d: Day| between.is_none_or(|(a, b)| a <= d && d <= b);
        let mut entries = Vec::new();
        for s in &t.steps {
            let (date, v) = match s {
                Step::Event {
                    seq,
                    date,
                    type_name,
                    before,
                    after,
                } => (
                    *date,
                    json!({
                        "kind": "event",
                        "seq": seq,
                        "date": date.to_string(),
                        "type": type_name,
                        "effect": effect(before, after),
                        "text": effect_text(before, after),
                    }),
                ),
                Step::Deadline {
                    date,
                    what,
                    before,
                    after,
                } => (
                    *date,
                    json!({
                        "kind": "deadline",
                        "date": date.to_string(),
                        "what": what,
                        "effect": effect(before, after),
                        "text": format!("{what}; {}", effect_text(before, after)),
                    }),
                ),
                Step::Eligibility {
                    date,
                    period,
                    employed,
                    tests,
                    holds_option,
                    ..
                } => {
                    let lines: Vec<Value> = tests
                        .iter()
                        .map(|t| {
                            json!({"section": t.section(), "pass": t.pass(), "rule": t.describe()})
                        })
                        .collect();
                    let verdict = if *holds_option {
                        "eligible: holds the option"
                    } else if !employed {
                        "not employed: sits the period out"
                    } else {
                        "ineligible: sits the period out (judged again next period)"
                    };
                    (
                        *date,
                        json!({
                            "kind": "eligibility",
                            "date": date.to_string(),
                            "period": period.as_str(),
                            "section": "§4",
                            "employed": employed,
                            "eligible": holds_option,
                            "tests": lines,
                            "text": format!("§4 judged for period {period} on its first day: {verdict}"),
                        }),
                    )
                }
                Step::Purchase(p) => (p.date, purchase_json(p)),
            };
            if within(date) {
                entries.push(v);
            }
        }
        Some(json!({
            "employee": id.as_str(),
            "entries": entries,
            "now": {
                "status": e.status().as_str(),
                "balance": money(e.balance),
                "deficiency": money(e.deficiency),
                "contributed": money(e.contributed),
                "refunded": money(e.refunded),
                "shares_held": plain(e.shares_held),
                "shares_certificated": plain(e.shares_certificated),
                "election_deadline": e.window.map(|w| w.deadline.to_string()),
            },
        }))
    }
}

/// The figures that changed, `{"field": {"before", "after"}}`; a window that opened or
/// closed names its section, deadline and default.
fn effect(before: &Option<Snap>, after: &Option<Snap>) -> Value {
    let mut m = serde_json::Map::new();
    let (b, a) = match (before, after) {
        (Some(b), Some(a)) => (*b, *a),
        (None, Some(a)) => {
            m.insert("hired".into(), json!(true));
            m.insert(
                "status".into(),
                json!({"before": null, "after": a.status.as_str()}),
            );
            return Value::Object(m);
        }
        _ => return Value::Object(m),
    };
    let mut money_field = |k: &str, x: Decimal, y: Decimal| {
        if x != y {
            m.insert(k.into(), json!({"before": money(x), "after": money(y)}));
        }
    };
    money_field("balance", b.balance, a.balance);
    money_field("deficiency", b.deficiency, a.deficiency);
    money_field("contributed", b.contributed, a.contributed);
    money_field("refunded", b.refunded, a.refunded);
    for (k, x, y) in [
        ("shares_held", b.shares_held, a.shares_held),
        (
            "shares_certificated",
            b.shares_certificated,
            a.shares_certificated,
        ),
    ] {
        if x != y {
            m.insert(k.into(), json!({"before": plain(x), "after": plain(y)}));
        }
    }
    if b.rate_in_force != a.rate_in_force {
        m.insert(
            "rate_in_force".into(),
            json!({"before": crate::num::rate(b.rate_in_force), "after": crate::num::rate(a.rate_in_force)}),
        );
    }
    if b.status != a.status {
        m.insert(
            "status".into(),
            json!({"before": b.status.as_str(), "after": a.status.as_str()}),
        );
    }
    if b.window != a.window {
        let w = |w: Option<Window>| {
            w.map(|w| {
                json!({
                    "section": w.kind.section(),
                    "after": w.kind.cause(),
                    "opened": w.opened.to_string(),
                    "deadline": w.deadline.to_string(),
                    "default": w.kind.default_choice().as_str(),
                })
            })
        };
        m.insert(
            "window".into(),
            json!({"before": w(b.window), "after": w(a.window)}),
        );
    }
    Value::Object(m)
}

/// The effect for people: "balance 0.00 → 400.00, status enrolled → participating".
fn effect_text(before: &Option<Snap>, after: &Option<Snap>) -> String {
    let v = effect(before, after);
    let Value::Object(m) = v else {
        return String::new();
    };
    if m.is_empty() {
        return "no change to the account".to_string();
    }
    let mut parts = Vec::new();
    for (k, c) in &m {
        match k.as_str() {
            "hired" => parts.push("hired".to_string()),
            "window" => match (&c["before"], &c["after"]) {
                (_, Value::Object(w)) => parts.push(format!(
                    "{} election window opened after {}: elect by {}, default {}",
                    text(&w["section"]),
                    text(&w["after"]),
                    text(&w["deadline"]),
                    text(&w["default"])
                )),
                (Value::Object(w), _) => parts.push(format!(
                    "{} window (elect by {}) closed",
                    text(&w["section"]),
                    text(&w["deadline"])
                )),
                _ => {}
            },
            _ => parts.push(format!(
                "{k} {} → {}",
                text(&c["before"]),
                text(&c["after"])
            )),
        }
    }
    parts.join(", ")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// One employee's purchase, worked step by step, each step naming its plan section.
fn purchase_json(p: &PurchaseSteps) -> Value {
    let dp = p.price_decimals;
    let shares_unit = if p.share_decimals == 0 {
        "whole shares".to_string()
    } else {
        format!("shares to {} places", p.share_decimals)
    };
    let lower = p.fmv_grant.min(p.fmv_purchase);
    let mut steps = vec![
        json!({
            "section": "§8",
            "step": "price",
            "text": format!(
                "price = max(par {}, round_up({} × min(FMV at grant {} on {}, FMV at purchase {} on {}) = {}, {dp} places)) = {}",
                plain(p.par_value), plain(p.price_factor), plain(p.fmv_grant), p.grant_date,
                plain(p.fmv_purchase), p.date, plain(p.price_exact), fixed(p.price, dp)
            ),
        }),
        json!({
            "section": "§9",
            "step": "wanted",
            "text": format!("wanted = floor(balance {} / price {}) = {} ({shares_unit})",
                money(p.balance), fixed(p.price, dp), plain(p.wanted)),
        }),
    ];
    let binding = p.capped < p.wanted;
    let caps: Vec<Value> = p
        .caps
        .iter()
        .map(|c| {
            let binds = binding && c.shares == p.capped;
            steps.push(json!({
                "section": c.section,
                "step": c.name,
                "text": format!("{}: {} → at most {}{}", c.name, c.figures, plain(c.shares),
                    if binds { " (binds)" } else { "" }),
            }));
            json!({
                "cap": c.name,
                "section": c.section,
                "figures": c.figures,
                "shares": plain(c.shares),
                "binds": binds,
            })
        })
        .collect();
    let bound: Vec<&str> = p
        .caps
        .iter()
        .filter(|c| binding && c.shares == p.capped)
        .map(|c| c.name)
        .collect();
    let mut binds: Vec<String> = bound.iter().map(|s| s.to_string()).collect();
    if p.shares < p.capped {
        binds.push("proration".to_string());
    }
    steps.push(json!({
        "section": "§13",
        "step": "proration",
        "text": if p.prorated {
            format!("§13 participation adjustment: wants {} exceed the {} shares left; floor({} × {} / {}) = {}",
                plain(p.total_wanted), plain(p.left), plain(p.capped), plain(p.left), plain(p.total_wanted), plain(p.shares))
        } else {
            format!("no proration: wants {} within the {} shares left; buys {}", plain(p.total_wanted), plain(p.left), plain(p.shares))
        },
    }));
    steps.push(json!({
        "section": "§9",
        "step": "cost",
        "text": format!("cost = round_up({} × {}, 2) = {}", plain(p.shares), fixed(p.price, dp), money(p.cost)),
    }));
    let why = match p.leftover {
        Leftover::CapBound => "refunded: a cap lowered the shares (§9)".to_string(),
        Leftover::Ends => {
            "refunded: the option ends with this purchase (§14, §16–§18, §25)".to_string()
        }
        Leftover::Exhausts => {
            "refunded: the purchase uses up the reserve and the plan ends (§24)".to_string()
        }
        Leftover::Residual(Residual::CarryForward) => {
            "carried forward: cash under one share's price (§9, residual carry_forward)".to_string()
        }
        Leftover::Residual(Residual::Refund) => {
            "refunded: cash under one share's price (§9, residual refund)".to_string()
        }
    };
    steps.push(json!({
        "section": "§9",
        "step": "leftover",
        "text": format!("left {} = balance {} − cost {}: {why}", money(p.rest), money(p.balance), money(p.cost)),
    }));
    json!({
        "kind": "purchase",
        "date": p.date.to_string(),
        "period": p.period.as_str(),
        "employee": p.employee.as_str(),
        "grant_date": p.grant_date.to_string(),
        "fmv_grant": plain(p.fmv_grant),
        "fmv_purchase": plain(p.fmv_purchase),
        "fmv_lower": plain(lower),
        "price_factor": plain(p.price_factor),
        "price": fixed(p.price, dp),
        "balance": money(p.balance),
        "wanted": plain(p.wanted),
        "caps": caps,
        "capped": plain(p.capped),
        "shares_left": plain(p.left),
        "total_wanted": plain(p.total_wanted),
        "prorated": p.prorated,
        "shares": plain(p.shares),
        "cost": money(p.cost),
        "refunded": money(p.refunded),
        "carried": money(p.carried),
        "binds": binds,
        "leftover": why,
        "headroom": money(p.headroom),
        "owned_before": plain(p.owned),
        "ownership_limit_shares": p.ownership_limit_shares.map(plain),
        "steps": steps,
        "text": format!("purchase of period {}: {} shares at {}, cost {}, refunded {}, carried {}",
            p.period, plain(p.shares), fixed(p.price, dp), money(p.cost), money(p.refunded), money(p.carried)),
    })
}
