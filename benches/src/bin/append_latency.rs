//! The latency of single-event durable appends, one by one: a ledger with 1,000 employees,
//! then N appends of one payroll event each (default 2,000), each timed; prints the median,
//! the 10th and 90th percentiles and the mean. Criterion's `append_durable/one_event_per_append`
//! gives the mean alone; fsync stalls make the tail matter (BENCHMARKS.md).
//!
//! Usage: `append_latency [N]` (release build: `cargo run --release -p espp-benches --bin
//! append_latency -- 2000`). The ledger is in a temp directory, on the disk of `TMPDIR`.

use espp_benches::{company, payroll, temp_ledger};
use espp_engine::{now, Batch};
use espp_events::Actor;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
        .max(10);
    let actor = Actor::new("bench").unwrap_or_else(|e| panic!("{e}"));
    let (_dir, mut ledger) = temp_ledger();
    ledger
        .append(Batch::of_events(company(1000), actor.clone()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut micros = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = std::time::Instant::now();
        ledger
            .append(Batch::of_events(payroll(i + 1, 1), actor.clone()), now())
            .unwrap_or_else(|e| panic!("{e}"));
        micros.push(t.elapsed().as_micros() as u64);
    }
    micros.sort_unstable();
    let at = |q: usize| micros[micros.len() * q / 100];
    let mean = micros.iter().sum::<u64>() / n;
    println!(
        "{n} single-event appends: median {} µs, p10 {} µs, p90 {} µs, mean {mean} µs",
        at(50),
        at(10),
        at(90)
    );
}
