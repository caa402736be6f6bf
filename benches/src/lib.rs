//! Shared workloads of the benchmarks: a synthetic company and its payroll stream.

pub mod company;

use espp_engine::{Ledger, Options};
use espp_events::{Day, EmployeeId, Event, EventInput, Money, Quantity, RulesPatch};
use rust_decimal::Decimal;

/// The payday every benchmark payroll event is dated (no period is scheduled, so it folds
/// as an ordinary payday: nothing is deducted and the state does not grow).
pub fn payday() -> Day {
    Day::from_ymd(2026, 1, 15).unwrap_or_else(|| unreachable!())
}

/// A plan and `employees` hired employees, E0…, dated 2026-01-02.
pub fn company(employees: u64) -> Vec<EventInput> {
    let day = Day::from_ymd(2026, 1, 2).unwrap_or_else(|| unreachable!());
    let q = |n: i64| Quantity::new(Decimal::from(n)).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![EventInput::new(
        day,
        Event::PlanAdopted {
            rules: Box::new(RulesPatch::default()),
        },
    )];
    for i in 0..employees {
        out.push(EventInput::new(
            day,
            Event::EmployeeHired {
                employee: employee(i),
                weekly_hours: q(40),
                months_per_year: q(12),
                hire_date: Day::from_ymd(2024, 1, 1),
            },
        ));
    }
    out
}

/// Employee `i`'s id.
pub fn employee(i: u64) -> EmployeeId {
    EmployeeId::new(format!("E{i}")).unwrap_or_else(|e| panic!("{e}"))
}

/// `count` payroll events numbered from `start`, spread over the first 1,000 employees.
pub fn payroll(start: u64, count: u64) -> Vec<EventInput> {
    // Pay varies with `start`, so no two benchmark batches are equal: the guard against a
    // file appended twice (which every append runs) never refuses one.
    let pay = Money::new(Decimal::new(400_000 + start as i64, 2)).unwrap_or_else(|e| panic!("{e}"));
    (start..start + count)
        .map(|n| {
            EventInput::new(
                payday(),
                Event::Payroll {
                    employee: employee(n % 1000),
                    gross_pay: pay,
                },
            )
        })
        .collect()
}

/// A new ledger in a temporary directory (kept alive by the returned guard).
pub fn temp_ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ledger =
        Ledger::open_or_create(dir.path(), &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    (dir, ledger)
}
