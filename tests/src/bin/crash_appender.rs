//! Helper of the crash test (tests/tests/cli/crash.rs): appends batches through the library
//! until it is killed, acknowledging each one on stdout only after `append` returned Ok.
//!
//! Usage: `crash_appender DB ROUND SEED`. Batch `b` of round `r` is `n` `employee_hired`
//! events whose employee ids are `r<r>.b<b>.i<k>.n<n>` (k = 0..n), so that a reader of the
//! log can tell, from the records alone, which batch each belongs to and how big it was.
//! After each durable append it prints `ack <batch> <first_seq> <last_seq>` and flushes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use espp_engine::{now, Batch, Ledger, Options};
use espp_events::{parse_line, Actor, Line};

/// Batch sizes to draw from: single events, sizes around the 256-record chunk boundary and
/// batches that span two or three chunks.
const SIZES: [usize; 10] = [1, 2, 7, 31, 255, 256, 257, 300, 513, 700];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, round, seed] = args.as_slice() else {
        eprintln!("usage: crash_appender DB ROUND SEED");
        return ExitCode::from(2);
    };
    let (Ok(round), Ok(seed)) = (round.parse::<u64>(), seed.parse::<u64>()) else {
        eprintln!("ROUND and SEED are integers");
        return ExitCode::from(2);
    };
    let mut ledger = match Ledger::open_or_create(&PathBuf::from(db), &Options::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("open: {e}");
            return ExitCode::from(5);
        }
    };
    let actor = Actor::new("crash-appender").expect("a valid actor");
    // xorshift64*: the sizes depend only on the seed and the round.
    let mut state = (seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let stdout = std::io::stdout();
    for batch in 0u64.. {
        let n = SIZES[(next() % SIZES.len() as u64) as usize];
        let mut lines = Vec::with_capacity(n);
        for k in 0..n {
            let text = format!(
                r#"{{"type":"employee_hired","date":"2026-01-05","employee":"r{round}.b{batch}.i{k}.n{n}","weekly_hours":"40","months_per_year":"12"}}"#
            );
            let line = parse_line(&text).expect("a valid event");
            assert!(matches!(line, Line::Bare(_)));
            lines.push((k + 1, line));
        }
        match ledger.append(Batch::new(lines, actor.clone()), now()) {
            Ok(report) => {
                let Some((first, last)) = report.stored else {
                    eprintln!("batch {batch}: nothing stored");
                    return ExitCode::from(1);
                };
                let mut out = stdout.lock();
                // If the test stopped reading, there is nobody left to tell.
                if writeln!(out, "ack {batch} {first} {last}")
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("batch {batch}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
