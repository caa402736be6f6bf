//! A realistic demo company: about 50 employees with varied pay, hours, service and rates,
//! two years of biweekly payroll and daily prices, and four Withholding Periods with their
//! purchases. Deterministic: the same seed gives the same events.

use espp_events::{
    Day, EmployeeId, Event, EventInput, Fraction, Money, PerShare, PeriodId, Quantity, RulesPatch,
    Shares,
};
use rust_decimal::Decimal;

/// A small deterministic generator (xorshift64*): the demo needs variety, not cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_ymd(y, m, d).unwrap_or_else(|| unreachable!("literal demo dates are valid"))
}

fn dec(num: i64, scale: u32) -> Decimal {
    Decimal::new(num, scale)
}

fn id<T>(r: Result<T, espp_events::ValueError>) -> T {
    r.unwrap_or_else(|e| unreachable!("demo values are valid: {e}"))
}

/// The four demo periods: (id, start, end).
pub fn periods() -> Vec<(PeriodId, Day, Day)> {
    vec![
        (
            id(PeriodId::new("2026H1")),
            day(2026, 1, 1),
            day(2026, 6, 30),
        ),
        (
            id(PeriodId::new("2026H2")),
            day(2026, 7, 1),
            day(2026, 12, 31),
        ),
        (
            id(PeriodId::new("2027H1")),
            day(2027, 1, 1),
            day(2027, 6, 30),
        ),
        (
            id(PeriodId::new("2027H2")),
            day(2027, 7, 1),
            day(2027, 12, 31),
        ),
    ]
}

/// Whether the demo's market trades that day (Monday to Friday).
pub fn is_weekday(d: Day) -> bool {
    use chrono::Datelike;
    d.date().weekday().number_from_monday() <= 5
}

/// The demo's events, in the order they are appended (by day; each purchase after the other
/// events of its day, as closed books require).
pub fn events(employees: u32, seed: u64) -> Vec<EventInput> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<(Day, u8, EventInput)> = Vec::new();
    let mut push = |d: Day, order: u8, e: Event| out.push((d, order, EventInput::new(d, e)));
    let setup = day(2025, 12, 1);
    push(
        setup,
        0,
        Event::PlanAdopted {
            rules: Box::new(RulesPatch {
                name: Some("SAVVIS ESPP".into()),
                ..RulesPatch::default()
            }),
        },
    );
    push(
        setup,
        0,
        Event::SharesOutstanding {
            shares: id(Shares::new(dec(50_000_000, 0))),
        },
    );
    for (period, start, end) in periods() {
        push(
            setup,
            0,
            Event::PeriodScheduled {
                period,
                start,
                end,
                share_limit: None,
                value_limit: None,
                price_factor: None,
            },
        );
    }
    push(day(2025, 12, 15), 0, Event::StockholdersApproved {});

    // Employees: most long-serving full-timers; a few recent hires, part-timers and seasonals.
    let mut staff = Vec::new();
    for i in 1..=employees {
        let employee = id(EmployeeId::new(format!("E{i:03}")));
        let hire_date = match i % 10 {
            0 => day(2025, 11, 17), // under 3 months' service on 2026-01-01: sits out 2026H1
            _ => day(
                2015 + (rng.below(10) as i32),
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            ),
        };
        let weekly_hours = if i % 17 == 0 { dec(20, 0) } else { dec(40, 0) }; // 20 hours: ineligible
        let months = if i % 23 == 0 { dec(4, 0) } else { dec(12, 0) }; // seasonal: ineligible
        let salary = 40_000 + rng.below(210_000) as i64; // dollars a year
        push(
            setup,
            0,
            Event::EmployeeHired {
                employee: employee.clone(),
                weekly_hours: id(Quantity::new(weekly_hours)),
                months_per_year: id(Quantity::new(months)),
                hire_date: Some(hire_date),
            },
        );
        if i % 7 != 0 {
            // Enrolls for 2026H1, or mid-2026 (effective 2026H2) for every fifth.
            let when = if i % 5 == 0 {
                day(2026, 3, 2)
            } else {
                day(2025, 12, 10)
            };
            let rate = id(Fraction::new(dec(1 + rng.below(10) as i64, 2)));
            push(
                when,
                0,
                Event::Enrolled {
                    employee: employee.clone(),
                    rate,
                },
            );
            if i % 6 == 0 {
                let new_rate = id(Fraction::new(dec(1 + rng.below(10) as i64, 2)));
                push(
                    day(2026, 5, 4),
                    0,
                    Event::RateChanged {
                        employee: employee.clone(),
                        rate: new_rate,
                    },
                );
            }
        }
        staff.push((employee, salary));
    }

    // Daily prices on weekdays: a random walk from $20.00 in cents.
    let mut cents: i64 = 2000;
    let mut d = day(2026, 1, 1);
    let last = day(2027, 12, 31);
    let mut trading_days = Vec::new();
    while d <= last {
        if is_weekday(d) {
            cents = (cents + rng.below(81) as i64 - 39).max(500);
            push(
                d,
                0,
                Event::MarketPrice {
                    closes: Some(vec![id(PerShare::new(dec(cents, 2)))]),
                    bid: None,
                    ask: None,
                    high: None,
                    low: None,
                    board_fmv: None,
                    no_sale: None,
                },
            );
            trading_days.push(d);
        }
        d = d.add_days(1).unwrap_or(last);
        if d == last && !is_weekday(d) {
            break;
        }
    }

    // Biweekly payroll on Fridays from 2026-01-09.
    let mut payday = day(2026, 1, 9);
    while payday <= last {
        for (employee, salary) in &staff {
            let gross = dec(salary * 100 / 26, 2);
            push(
                payday,
                0,
                Event::Payroll {
                    employee: employee.clone(),
                    gross_pay: id(Money::new(gross)),
                },
            );
        }
        payday = payday.add_days(14).unwrap_or(last);
        if payday >= last {
            break;
        }
    }

    // A purchase on each period's last trading day, after that day's other events.
    for (period, start, end) in periods() {
        if let Some(&last_trading) = trading_days.iter().rfind(|t| **t >= start && **t <= end) {
            push(last_trading, 1, Event::Purchase { period });
        }
    }

    out.sort_by_key(|(d, order, _)| (*d, *order));
    out.into_iter().map(|(_, _, e)| e).collect()
}
