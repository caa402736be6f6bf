//! A generator of plausible company histories for property tests: a plan adopted and
//! approved, quarterly periods with a daily price path, employees hired with varied hours
//! and service, enrolments, rate changes, biweekly payroll and a purchase on each period's
//! last trading day (and, in some companies, a payroll on each period's first day); changes
//! of hours and ownership (§4), some dated a period's first day; life events (§14–§18),
//! amendments and terminations (a Board's, or a
//! change in control, assumed or not); capital changes of every kind, dividends, and each
//! employee's certificates and sales over the years after the purchases (§10, §11, §25,
//! §27).
#![allow(dead_code)]

use chrono::{Datelike, NaiveDate, Weekday};
use proptest::prelude::*;

use crate::common::ev;

/// One employee's story.
#[derive(Debug, Clone)]
pub struct Person {
    /// Months of service before 2026-01-01 (0–2 sit the first period out).
    pub service_months: u32,
    pub weekly_hours: u32,
    pub months_per_year: u32,
    /// Days after 2025-12-01 the employee enrolls (some enroll mid-period).
    pub enroll_after_days: Option<u32>,
    /// Whole percent.
    pub rate: u32,
    /// A rate change: days after 2026-01-01 and the new whole percent.
    pub rate_change: Option<(u32, u32)>,
    /// Gross pay per payday in dollars.
    pub gross_pay: u32,
    /// Shares owned outside the plan.
    pub ownership: u32,
    /// Something that happens to the employee: days after 2026-01-01 and what.
    pub life: Option<(u32, Life)>,
    /// What the employee does with the shares: days after 2026-01-01 (up to mid-2029)
    /// and what.
    pub after: Vec<(u32, After)>,
    /// A change of a fact of §4, on a period's first day or another day.
    pub hr: Option<(HrDay, Hr)>,
}

/// When a change of §4's facts is dated.
#[derive(Debug, Clone, Copy)]
pub enum HrDay {
    /// The first day of the period of this index (modulo the periods scheduled).
    First(u32),
    /// Days after 2026-01-01.
    Day(u32),
}

/// A change of a fact of §4.
#[derive(Debug, Clone, Copy)]
pub enum Hr {
    /// `employee_changed` to these weekly hours.
    Hours(u32),
    /// `ownership_reported` of these shares.
    Ownership(u32),
}

fn hr() -> impl Strategy<Value = (HrDay, Hr)> {
    (
        prop_oneof![
            (0u32..4).prop_map(HrDay::First),
            (0u32..365).prop_map(HrDay::Day)
        ],
        prop_oneof![
            prop::sample::select(vec![15u32, 21, 40]).prop_map(Hr::Hours),
            prop::sample::select(vec![0u32, 100, 4_000, 60_000]).prop_map(Hr::Ownership),
        ],
    )
}

/// A certificate or a sale (§10, §11).
#[derive(Debug, Clone)]
pub enum After {
    /// A certificate for this many whole shares.
    Certificate(u32),
    /// A sale of this many tenths of a share at this many cents.
    Sell { tenths: u32, cents: u32 },
}

fn after() -> impl Strategy<Value = (u32, After)> {
    // Sales mostly after the first purchase; certificates mostly once two years have passed.
    prop_oneof![
        (700u32..1300, 1u32..80).prop_map(|(t, n)| (t, After::Certificate(n))),
        (80u32..1300, 1u32..600, 100u32..6000)
            .prop_map(|(t, tenths, cents)| (t, After::Sell { tenths, cents })),
    ]
}

/// Capital changes the generator draws from: kind and ratio.
const CAPITAL: [(&str, &str); 5] = [
    ("split", "2"),
    ("reverse_split", "1:10"),
    ("stock_dividend", "3:2"),
    ("reorganization", "1:3"),
    ("spin_off", "1.5"),
];

/// An election's choice, by index: make_up, reduce, withdraw.
const CHOICES: [&str; 3] = ["make_up", "reduce", "withdraw"];

/// A §14–§18 event and what follows it.
#[derive(Debug, Clone)]
pub enum Life {
    /// §14: reduce (true) or withdraw.
    Stop(bool),
    /// §15: quit (true) or fired.
    Quit(bool),
    /// §16: an election some days later (choice index), and a make-up payment in dollars.
    Retire(Option<(u32, usize)>, u32),
    /// §17: cash payments, re-employment guaranteed, length in days, returned, an election
    /// days after the start (choice index), a cash payment in dollars.
    Leave {
        cash: bool,
        guaranteed: bool,
        days: u32,
        returned: bool,
        elect: Option<(u32, usize)>,
        pay: u32,
    },
    /// §18: the estate's election days later, and a make-up payment in dollars.
    Died(Option<(u32, usize)>, u32),
}

fn life() -> impl Strategy<Value = Life> {
    let elect = prop::option::of((0u32..14, 0usize..3));
    prop_oneof![
        any::<bool>().prop_map(Life::Stop),
        any::<bool>().prop_map(Life::Quit),
        (elect.clone(), 1u32..800).prop_map(|(e, p)| Life::Retire(e, p)),
        (
            any::<bool>(),
            any::<bool>(),
            1u32..150,
            any::<bool>(),
            elect.clone(),
            1u32..800
        )
            .prop_map(
                |(cash, guaranteed, days, returned, elect, pay)| Life::Leave {
                    cash,
                    guaranteed,
                    days,
                    returned,
                    elect,
                    pay
                }
            ),
        (elect, 1u32..800).prop_map(|(e, p)| Life::Died(e, p)),
    ]
}

/// A company's history, before it is written as events.
#[derive(Debug, Clone)]
pub struct Company {
    pub share_reserve: u32,
    pub whole_shares: bool,
    pub refund_residual: bool,
    pub quarters: u32,
    /// Per quarter: an optional share limit.
    pub share_limits: Vec<Option<u32>>,
    pub shares_outstanding: Option<u32>,
    /// Seed of the price path.
    pub price_seed: u64,
    pub people: Vec<Person>,
    /// The plan's own events: days after 2026-01-01 of an approved amendment doubling the
    /// reserve, and of the Board's termination.
    pub amend: Option<u32>,
    /// Days after 2026-01-01 of a termination: the Board's (0), a change in control (1), or
    /// one the successor assumes (2).
    pub terminate: Option<(u32, u8)>,
    /// Days after 2026-01-01 and an index into [`CAPITAL`].
    pub capital_changes: Vec<(u32, usize)>,
    /// Days after 2026-01-01 and the dividend per share in tenths of a cent.
    pub dividends: Vec<(u32, u32)>,
    /// Everyone is also paid on each period's first day.
    pub first_day_payroll: bool,
    /// A `shares_outstanding` dated the first day of the period of this index (modulo the
    /// periods scheduled).
    pub outstanding_change: Option<(u32, u32)>,
}

fn person() -> impl Strategy<Value = Person> {
    (
        0u32..30,
        prop::sample::select(vec![10u32, 20, 21, 30, 40]),
        prop::sample::select(vec![4u32, 5, 12]),
        prop::option::weighted(0.9, 0u32..120),
        1u32..=10,
        prop::option::of((0u32..200, 1u32..=10)),
        500u32..40_000,
        prop::sample::select(vec![0u32, 0, 100, 4_000]),
        prop::option::weighted(0.5, (0u32..300, life())),
        prop::collection::vec(after(), 0..=3),
        prop::option::weighted(0.4, hr()),
    )
        .prop_map(
            |(
                service_months,
                weekly_hours,
                months_per_year,
                enroll_after_days,
                rate,
                rate_change,
                gross_pay,
                ownership,
                life,
                after,
                hr,
            )| Person {
                service_months,
                weekly_hours,
                months_per_year,
                enroll_after_days,
                rate,
                rate_change,
                gross_pay,
                ownership,
                life,
                after,
                hr,
            },
        )
}

/// Plausible companies of 1–10 employees over 1–4 quarters.
pub fn company() -> impl Strategy<Value = Company> {
    (
        prop::sample::select(vec![50u32, 500, 5_000, 6_000_000]),
        any::<bool>(),
        any::<bool>(),
        1u32..=4,
        prop::collection::vec(prop::option::weighted(0.2, 1u32..200), 4),
        prop::option::of(prop::sample::select(vec![50_000u32, 100_000, 1_000_000])),
        any::<u64>(),
        prop::collection::vec(person(), 1..=10),
        prop::option::weighted(0.2, 0u32..300),
        prop::option::weighted(0.15, (0u32..300, 0u8..3)),
        prop::collection::vec((0u32..500, 0usize..CAPITAL.len()), 0..=2),
        (
            prop::collection::vec((0u32..900, 1u32..2000), 0..=2),
            any::<bool>(),
            prop::option::weighted(
                0.3,
                (
                    0u32..4,
                    prop::sample::select(vec![10_000u32, 50_000, 1_000_000]),
                ),
            ),
        ),
    )
        .prop_map(
            |(
                share_reserve,
                whole_shares,
                refund_residual,
                quarters,
                share_limits,
                shares_outstanding,
                price_seed,
                people,
                amend,
                terminate,
                capital_changes,
                (dividends, first_day_payroll, outstanding_change),
            )| Company {
                share_reserve,
                whole_shares,
                refund_residual,
                quarters,
                share_limits,
                shares_outstanding,
                price_seed,
                people,
                amend,
                terminate,
                capital_changes,
                dividends,
                first_day_payroll,
                outstanding_change,
            },
        )
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()
}

/// A small deterministic generator for the price path (no clock, no global randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

impl Company {
    /// The history as JSON lines in date order (the log's order: seq follows it).
    pub fn lines(&self) -> Vec<String> {
        let mut dated: Vec<(NaiveDate, String)> = Vec::new();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap_or_default();
        let rules = format!(
            r#""rules":{{"share_reserve":"{}","whole_shares":{},"residual":"{}"}}"#,
            self.share_reserve,
            self.whole_shares,
            if self.refund_residual {
                "refund"
            } else {
                "carry_forward"
            }
        );
        dated.push((d(2025, 1, 2), ev("plan_adopted", "2025-01-02", &rules)));
        dated.push((d(2025, 2, 3), ev("stockholders_approved", "2025-02-03", "")));
        if let Some(out) = self.shares_outstanding {
            dated.push((
                d(2025, 3, 1),
                ev(
                    "shares_outstanding",
                    "2025-03-01",
                    &format!(r#""shares":"{out}""#),
                ),
            ));
        }
        let mut periods = Vec::new();
        for q in 0..self.quarters {
            let s = start()
                .checked_add_months(chrono::Months::new(3 * q))
                .unwrap_or_default();
            let e = s
                .checked_add_months(chrono::Months::new(3))
                .and_then(|x| x.pred_opt())
                .unwrap_or_default();
            let limit = self
                .share_limits
                .get(q as usize)
                .copied()
                .flatten()
                .map(|l| format!(r#","share_limit":"{l}""#))
                .unwrap_or_default();
            dated.push((
                d(2025, 12, 1),
                ev(
                    "period_scheduled",
                    "2025-12-01",
                    &format!(
                        r#""period":"Q{}","start":"{}","end":"{}"{limit}"#,
                        q + 1,
                        day(s),
                        day(e)
                    ),
                ),
            ));
            periods.push((q + 1, s, e));
        }
        let last_day = periods.last().map(|p| p.2).unwrap_or_else(start);
        // Daily prices on weekdays from 2025-12-29, a random walk in cents; a few days are
        // quoted by bid/ask or high/low, or report no sale.
        let mut rng = Lcg(self.price_seed);
        let mut cents: i64 = 500 + (rng.next() % 5000) as i64;
        let mut trading = Vec::new();
        let mut t = d(2025, 12, 29);
        while t <= last_day {
            if !matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
                let step = (rng.next() % 81) as i64 - 40;
                cents = (cents + cents * step / 1000).clamp(50, 100_000);
                let p = format!("{}.{:02}", cents / 100, cents % 100);
                let q = format!("{}.{:02}", (cents + 2) / 100, (cents + 2) % 100);
                let fields = match rng.next() % 20 {
                    0 => format!(r#""bid":"{p}","ask":"{q}""#),
                    1 => format!(r#""high":"{q}","low":"{p}""#),
                    2 if t > d(2025, 12, 29) => r#""no_sale":true"#.to_string(),
                    _ => format!(r#""closes":["{p}"]"#),
                };
                dated.push((t, ev("market_price", &day(t), &fields)));
                trading.push(t);
            }
            t = t.succ_opt().unwrap_or(t);
        }
        for (i, p) in self.people.iter().enumerate() {
            let id = format!("E{}", i + 1);
            let hire_date = start()
                .checked_sub_months(chrono::Months::new(p.service_months))
                .unwrap_or_default();
            let hired_on = hire_date.min(d(2025, 11, 1));
            dated.push((
                hired_on,
                ev(
                    "employee_hired",
                    &day(hired_on),
                    &format!(
                        r#""employee":"{id}","hire_date":"{}","weekly_hours":"{}","months_per_year":"{}""#,
                        day(hire_date),
                        // Someone with a life event works full time, so that the event
                        // usually meets an option to act on.
                        if p.life.is_some() { 40 } else { p.weekly_hours },
                        if p.life.is_some() { 12 } else { p.months_per_year }
                    ),
                ),
            ));
            if p.ownership > 0 {
                dated.push((
                    d(2025, 11, 2),
                    ev(
                        "ownership_reported",
                        "2025-11-02",
                        &format!(r#""employee":"{id}","shares":"{}""#, p.ownership),
                    ),
                ));
            }
            let Some(after) = p.enroll_after_days else {
                continue;
            };
            let enrolled = d(2025, 12, 1) + chrono::Days::new(u64::from(after));
            dated.push((
                enrolled,
                ev(
                    "enrolled",
                    &day(enrolled),
                    &format!(r#""employee":"{id}","rate":"0.{:02}""#, p.rate),
                ),
            ));
            if let Some((days, rate)) = p.rate_change {
                let changed = (start() + chrono::Days::new(u64::from(days))).max(enrolled);
                if changed < last_day {
                    dated.push((
                        changed,
                        ev(
                            "rate_changed",
                            &day(changed),
                            &format!(r#""employee":"{id}","rate":"0.{rate:02}""#),
                        ),
                    ));
                }
            }
            let at = |days: u32| start() + chrono::Days::new(u64::from(days));
            let e = |kind: &str, t: NaiveDate, fields: &str| {
                (
                    t,
                    ev(kind, &day(t), &format!(r#""employee":"{id}"{fields}"#)),
                )
            };
            let elect = |t: NaiveDate, choice: usize| {
                e(
                    "election",
                    t,
                    &format!(r#","choice":"{}""#, CHOICES[choice % 3]),
                )
            };
            let cash = |t: NaiveDate, dollars: u32| {
                e("cash_payment", t, &format!(r#","amount":"{dollars}.00""#))
            };
            // Paydays stop when employment ends.
            let mut paid_until = last_day;
            if let Some((days, what)) = &p.life {
                // Within the scheduled periods, after the enrolment.
                let span = (last_day - start()).num_days().max(1) as u32;
                let t = at(*days % span).max(enrolled);
                match what {
                    Life::Stop(reduce) => dated.push(e(
                        "deductions_stopped",
                        t,
                        if *reduce {
                            r#","option":"reduce""#
                        } else {
                            r#","option":"withdraw""#
                        },
                    )),
                    Life::Quit(quit) => {
                        dated.push(e(
                            "employment_ended",
                            t,
                            if *quit {
                                r#","reason":"quit""#
                            } else {
                                r#","reason":"fired""#
                            },
                        ));
                        paid_until = t;
                    }
                    Life::Retire(el, dollars) => {
                        dated.push(e("employment_ended", t, r#","reason":"retired""#));
                        if let Some((after, choice)) = el {
                            let te = t + chrono::Days::new(u64::from(*after));
                            dated.push(elect(te, *choice));
                            dated.push(cash(te + chrono::Days::new(1), *dollars));
                        }
                        paid_until = t + chrono::Days::new(20);
                    }
                    Life::Leave {
                        cash: pays,
                        guaranteed,
                        days,
                        returned,
                        elect: el,
                        pay,
                    } => {
                        dated.push(e(
                            "leave_started",
                            t,
                            &format!(
                                r#","kind":"leave","cash_payments":{pays},"reemployment_guaranteed":{guaranteed}"#
                            ),
                        ));
                        let back = t + chrono::Days::new(u64::from(*days));
                        if *pays {
                            dated.push(cash(t + chrono::Days::new(16), *pay));
                        }
                        if let Some((after, choice)) = el {
                            let te = t + chrono::Days::new(u64::from(*after));
                            dated.push(elect(te, *choice));
                        }
                        dated.push(e(
                            "leave_ended",
                            back,
                            &format!(r#","returned":{returned}"#),
                        ));
                        if let Some((after, choice)) = el {
                            let te = back + chrono::Days::new(u64::from(*after));
                            dated.push(elect(te, *choice));
                            dated.push(cash(te + chrono::Days::new(1), *pay));
                        }
                        if !returned {
                            paid_until = back;
                        }
                    }
                    Life::Died(el, dollars) => {
                        dated.push(e("died", t, ""));
                        if let Some((after, choice)) = el {
                            let te = t + chrono::Days::new(u64::from(*after));
                            dated.push(elect(te, *choice));
                            dated.push(cash(te + chrono::Days::new(1), *dollars));
                        }
                        paid_until = t + chrono::Days::new(20);
                    }
                }
            }
            let mut payday = d(2026, 1, 9);
            while payday <= last_day.min(paid_until) {
                dated.push((
                    payday,
                    ev(
                        "payroll",
                        &day(payday),
                        &format!(r#""employee":"{id}","gross_pay":"{}.00""#, p.gross_pay),
                    ),
                ));
                payday = payday + chrono::Days::new(14);
            }
            let pay = |t: NaiveDate| {
                (
                    t,
                    ev(
                        "payroll",
                        &day(t),
                        &format!(r#""employee":"{id}","gross_pay":"{}.00""#, p.gross_pay),
                    ),
                )
            };
            if self.first_day_payroll {
                for (_, s, _) in &periods {
                    if *s <= paid_until {
                        dated.push(pay(*s));
                    }
                }
            }
            // After the day's payroll in seq order: a change dated a period's first day that
            // arrives after that day's payroll (DOMAIN.md §4).
            if let Some((when, what)) = p.hr {
                let t = match when {
                    HrDay::First(q) => periods[q as usize % periods.len()].1,
                    HrDay::Day(days) => at(days),
                };
                dated.push(match what {
                    Hr::Hours(h) => e("employee_changed", t, &format!(r#","weekly_hours":"{h}""#)),
                    Hr::Ownership(n) => e("ownership_reported", t, &format!(r#","shares":"{n}""#)),
                });
            }
        }
        if let Some((q, shares)) = self.outstanding_change {
            if let Some((_, t, _)) = periods.get(q as usize % periods.len().max(1)) {
                dated.push((
                    *t,
                    ev(
                        "shares_outstanding",
                        &day(*t),
                        &format!(r#""shares":"{shares}""#),
                    ),
                ));
            }
        }
        if let Some(days) = self.amend {
            let t = start() + chrono::Days::new(u64::from(days));
            dated.push((
                t,
                ev(
                    "plan_amended",
                    &day(t),
                    &format!(
                        r#""changes":{{"share_reserve":"{}"}},"stockholder_approved":true"#,
                        u64::from(self.share_reserve) * 2
                    ),
                ),
            ));
        }
        if let Some((days, kind)) = self.terminate {
            let t = start() + chrono::Days::new(u64::from(days));
            let reason = match kind {
                0 => r#""reason":"board""#,
                1 => r#""reason":"change_in_control""#,
                _ => r#""reason":"change_in_control","assumed":true"#,
            };
            dated.push((t, ev("plan_terminated", &day(t), reason)));
        }
        for (days, i) in &self.capital_changes {
            let t = start() + chrono::Days::new(u64::from(*days));
            let (kind, ratio) = CAPITAL[*i % CAPITAL.len()];
            dated.push((
                t,
                ev(
                    "capital_change",
                    &day(t),
                    &format!(r#""kind":"{kind}","ratio":"{ratio}""#),
                ),
            ));
        }
        for (days, mills) in &self.dividends {
            let t = start() + chrono::Days::new(u64::from(*days));
            dated.push((
                t,
                ev(
                    "dividend",
                    &day(t),
                    &format!(r#""per_share":"{}.{:03}""#, mills / 1000, mills % 1000),
                ),
            ));
        }
        for (i, p) in self.people.iter().enumerate() {
            let id = format!("E{}", i + 1);
            for (days, what) in &p.after {
                let t = start() + chrono::Days::new(u64::from(*days));
                let line = match what {
                    After::Certificate(n) => ev(
                        "certificate_requested",
                        &day(t),
                        &format!(r#""employee":"{id}","shares":"{n}""#),
                    ),
                    After::Sell { tenths, cents } => ev(
                        "shares_sold",
                        &day(t),
                        &format!(
                            r#""employee":"{id}","shares":"{}.{}","price":"{}.{:02}""#,
                            tenths / 10,
                            tenths % 10,
                            cents / 100,
                            cents % 100
                        ),
                    ),
                };
                dated.push((t, line));
            }
        }
        // The purchase comes after every other event of its day (its books close).
        let mut purchases = Vec::new();
        for (n, s, e) in &periods {
            if let Some(last) = trading.iter().rev().find(|t| *t >= s && *t <= e) {
                purchases.push((
                    *last,
                    ev("purchase", &day(*last), &format!(r#""period":"Q{n}""#)),
                ));
            }
        }
        dated.sort_by_key(|(t, _)| *t);
        for (t, line) in purchases {
            let at = dated.partition_point(|(x, _)| *x <= t);
            dated.insert(at, (t, line));
        }
        dated.into_iter().map(|(_, l)| l).collect()
    }
}
