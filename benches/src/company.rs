//! A large synthetic company for the replay benchmarks: N employees, Y years of biweekly
//! payroll, daily prices on weekdays, half-year periods with their purchases. Generated
//! batch by batch (one per payday), so that 10 million events never sit in memory at once.

use espp_engine::demo::{is_weekday, Rng};
use espp_events::{
    Day, EmployeeId, Event, EventInput, Fraction, Money, PerShare, PeriodId, Quantity, RulesPatch,
    Shares,
};
use rust_decimal::Decimal;

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_ymd(y, m, d).unwrap_or_else(|| unreachable!("valid literal dates"))
}

fn ok<T>(r: Result<T, espp_events::ValueError>) -> T {
    r.unwrap_or_else(|e| panic!("generated values are valid: {e}"))
}

/// The company's shape.
#[derive(Debug, Clone)]
pub struct Company {
    /// Employees hired before the first period.
    pub employees: u32,
    /// Years of periods, from 2026.
    pub years: i32,
    /// Seed of pay, rates and prices.
    pub seed: u64,
}

impl Company {
    /// The half-year periods: (id, start, end).
    pub fn periods(&self) -> Vec<(PeriodId, Day, Day)> {
        (2026..2026 + self.years)
            .flat_map(|y| {
                [
                    (
                        ok(PeriodId::new(format!("{y}H1"))),
                        day(y, 1, 1),
                        day(y, 6, 30),
                    ),
                    (
                        ok(PeriodId::new(format!("{y}H2"))),
                        day(y, 7, 1),
                        day(y, 12, 31),
                    ),
                ]
            })
            .collect()
    }

    /// The last day of the last period.
    pub fn last_day(&self) -> Day {
        day(2025 + self.years, 12, 31)
    }

    /// Batches in append order: the setup, then one per payday (the prices since the last
    /// one, the payroll, and a purchase when a period's last trading day falls in it).
    pub fn batches(&self) -> impl Iterator<Item = Vec<EventInput>> + '_ {
        let mut rng = Rng::new(self.seed);
        let setup_day = day(2025, 12, 1);
        let mut setup = vec![
            EventInput::new(
                setup_day,
                Event::PlanAdopted {
                    rules: Box::new(RulesPatch {
                        share_reserve: Some(ok(Shares::new(Decimal::from(1_000_000_000u64)))),
                        ..RulesPatch::default()
                    }),
                },
            ),
            EventInput::new(
                setup_day,
                Event::SharesOutstanding {
                    shares: ok(Shares::new(Decimal::from(5_000_000_000u64))),
                },
            ),
            EventInput::new(setup_day, Event::StockholdersApproved {}),
        ];
        for (period, start, end) in self.periods() {
            setup.push(EventInput::new(
                setup_day,
                Event::PeriodScheduled {
                    period,
                    start,
                    end,
                    share_limit: None,
                    value_limit: None,
                    price_factor: None,
                },
            ));
        }
        let mut salaries = Vec::with_capacity(self.employees as usize);
        for i in 0..self.employees {
            let employee = ok(EmployeeId::new(format!("E{i:06}")));
            setup.push(EventInput::new(
                setup_day,
                Event::EmployeeHired {
                    employee: employee.clone(),
                    weekly_hours: ok(Quantity::new(Decimal::from(40))),
                    months_per_year: ok(Quantity::new(Decimal::from(12))),
                    hire_date: Some(day(
                        2015 + (rng.below(10) as i32),
                        1 + rng.below(12) as u32,
                        1 + rng.below(28) as u32,
                    )),
                },
            ));
            if i % 5 != 0 {
                let rate = ok(Fraction::new(Decimal::new(1 + rng.below(10) as i64, 2)));
                setup.push(EventInput::new(
                    day(2025, 12, 10),
                    Event::Enrolled {
                        employee: employee.clone(),
                        rate,
                    },
                ));
            }
            let salary = 40_000 + rng.below(160_000) as i64;
            salaries.push((employee, ok(Money::new(Decimal::new(salary * 100 / 26, 2)))));
        }

        // Last trading day of each period, to place the purchases.
        let periods = self.periods();
        let last_trading: Vec<(PeriodId, Day)> = periods
            .iter()
            .map(|(p, _, end)| {
                let mut d = *end;
                while !is_weekday(d) {
                    d = d.add_days(-1).unwrap_or(d);
                }
                (p.clone(), d)
            })
            .collect();

        let last = self.last_day();
        let mut cents: i64 = 2000;
        let mut price_day = day(2026, 1, 1);
        let mut payday = day(2026, 1, 9);
        let mut first = Some(setup);
        std::iter::from_fn(move || {
            if let Some(s) = first.take() {
                return Some(s);
            }
            if price_day > last {
                return None;
            }
            let mut batch = Vec::new();
            // Everything up to and including the payday (or the end), purchases last on their day.
            let through = payday.min(last);
            while price_day <= through {
                if is_weekday(price_day) {
                    cents = (cents + rng.below(81) as i64 - 39).max(500);
                    batch.push(EventInput::new(
                        price_day,
                        Event::MarketPrice {
                            closes: Some(vec![ok(PerShare::new(Decimal::new(cents, 2)))]),
                            bid: None,
                            ask: None,
                            high: None,
                            low: None,
                            board_fmv: None,
                            no_sale: None,
                        },
                    ));
                }
                if price_day == payday {
                    for (employee, gross) in &salaries {
                        batch.push(EventInput::new(
                            payday,
                            Event::Payroll {
                                employee: employee.clone(),
                                gross_pay: *gross,
                            },
                        ));
                    }
                }
                if let Some((period, _)) = last_trading.iter().find(|(_, d)| *d == price_day) {
                    batch.push(EventInput::new(
                        price_day,
                        Event::Purchase {
                            period: period.clone(),
                        },
                    ));
                }
                price_day = price_day.add_days(1).unwrap_or(last);
            }
            payday = payday.add_days(14).unwrap_or(last);
            Some(batch)
        })
    }
}
