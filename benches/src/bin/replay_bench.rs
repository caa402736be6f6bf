//! The replay benchmark of BENCHMARKS.md (issue 7): builds a large synthetic company ledger
//! (100,000 employees, four years of biweekly payroll: about 10 million events) and measures,
//! in one run: the raw read + decode rate, a full replay from scratch, `state --as-of` for
//! random days with and without checkpoints, the fold's peak memory (in a child process of
//! its own), and a bulk `espp append` of a 100,000-line file.
//!
//! `cargo run --release -p espp-benches --bin replay-bench -- [--employees N] [--years Y]
//! [--db PATH] [--checkpoint-every N]` (an existing `--db` is reused, not rebuilt).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant as Clock;

use espp_benches::company::Company;
use espp_engine::demo::Rng;
use espp_engine::{now, Batch, Ledger, Options};
use espp_events::{Actor, Day};
use espp_replay::Query;

struct Args {
    employees: u32,
    years: i32,
    db: PathBuf,
    checkpoint_every: u64,
    only_fold: bool,
    generate: Option<(usize, usize)>,
}

fn args() -> Args {
    let mut a = Args {
        employees: 100_000,
        years: 4,
        db: std::env::temp_dir().join("espp-replay-bench"),
        checkpoint_every: 1_000_000,
        only_fold: false,
        generate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--employees" => {
                a.employees = value()
                    .parse()
                    .unwrap_or_else(|e| panic!("--employees: {e}"))
            }
            "--years" => a.years = value().parse().unwrap_or_else(|e| panic!("--years: {e}")),
            "--db" => a.db = PathBuf::from(value()),
            "--checkpoint-every" => {
                a.checkpoint_every = value().parse().unwrap_or_else(|e| panic!("{e}"))
            }
            "--only-fold" => a.only_fold = true,
            "--generate" => {
                let v = value();
                let (f, t) = v
                    .split_once(':')
                    .unwrap_or_else(|| panic!("--generate FROM:TO"));
                a.generate = Some((
                    f.parse().unwrap_or_else(|e| panic!("{e}")),
                    t.parse().unwrap_or_else(|e| panic!("{e}")),
                ));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn open(a: &Args) -> Ledger {
    let options = Options {
        checkpoint_every: a.checkpoint_every,
        ..Options::default()
    };
    Ledger::open_or_create(&a.db, &options).unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let a = args();
    if a.only_fold {
        // Child: one full fold from scratch, then report the peak memory.
        let ledger = open(&a);
        let t = Clock::now();
        let state = ledger
            .fold_uncached(&Query::default(), &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        let secs = t.elapsed().as_secs_f64();
        println!("{} {secs:.3} {:.1}", state.through_seq(), peak_rss_mib());
        return;
    }
    let actor = Actor::new("replay-bench").unwrap_or_else(|e| panic!("{e}"));
    let company = Company {
        employees: a.employees,
        years: a.years,
        seed: 2026,
    };

    if let Some((from, to)) = a.generate {
        // Child: append batches [from, to) of the company, then exit (and free sled's heap).
        let mut ledger = open(&a);
        for batch in company.batches().skip(from).take(to - from) {
            let mut batch = Batch::of_events(batch, actor.clone());
            // The benchmark company's four years run past today.
            batch.allow_future = true;
            ledger
                .append(batch, now())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        return;
    }
    if !a.db.exists() {
        // sled 0.34 keeps heap for every key inserted while a database is open (about 3.5 KiB
        // per id-index entry, measured here), so the ledger is built by a series of child
        // processes of ten paydays each, as a payroll feed's `espp append` calls would be.
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let batches = company.batches().count();
        let t = Clock::now();
        let mut from = 0;
        while from < batches {
            let to = (from + 10).min(batches);
            let status = std::process::Command::new(&exe)
                .args([
                    "--employees",
                    &a.employees.to_string(),
                    "--years",
                    &a.years.to_string(),
                ])
                .args([
                    "--checkpoint-every",
                    &a.checkpoint_every.to_string(),
                    "--generate",
                    &format!("{from}:{to}"),
                    "--db",
                ])
                .arg(&a.db)
                .status()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(status.success(), "generating batches {from}..{to} failed");
            from = to;
            eprint!("\rgenerated {from}/{batches} batches");
        }
        let secs = t.elapsed().as_secs_f64();
        eprintln!();
        let n = open(&a).head_seq();
        println!(
            "build: {n} events in {secs:.1} s = {:.0} events/s (library appends of one payday each, durable, folded; a process per ten paydays)",
            n as f64 / secs
        );
    }

    let ledger = open(&a);
    let total = ledger.head_seq();
    println!(
        "ledger: {} events, {} checkpoints",
        total,
        ledger.checkpoint_headers().map(|h| h.len()).unwrap_or(0)
    );

    // Raw: read and decode every record, no fold.
    let t = Clock::now();
    let mut count = 0u64;
    for r in ledger.records() {
        r.unwrap_or_else(|e| panic!("{e}"));
        count += 1;
    }
    let raw = t.elapsed().as_secs_f64();
    println!(
        "raw read+decode: {count} records in {raw:.2} s = {:.0} records/s",
        count as f64 / raw
    );

    // Full replay from scratch (no checkpoint).
    let t = Clock::now();
    let state = ledger
        .fold_uncached(&Query::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let full = t.elapsed().as_secs_f64();
    println!(
        "full replay from scratch: {} events in {full:.2} s = {:.0} events/s ({:.0}% of the raw rate)",
        state.through_seq(),
        total as f64 / full,
        100.0 * raw / full
    );
    let bytes = espp_replay::checkpoint::encode_state(&state).len();
    println!(
        "the state: {:.1} MB encoded (a checkpoint); {} employees, {} lots",
        bytes as f64 / 1e6,
        state.employee_ids().count(),
        state.lot_count()
    );
    let t = Clock::now();
    let projection = state.projection(None);
    let render = t.elapsed().as_secs_f64();
    println!(
        "projection JSON with digest for {} employees: {render:.2} s",
        projection["employees"].as_object().map_or(0, |m| m.len())
    );
    drop((state, projection));

    // state --as-of a random day, with and without checkpoints.
    let mut rng = Rng::new(7);
    let first = Day::from_ymd(2026, 1, 1).unwrap_or_else(|| unreachable!());
    for _ in 0..5 {
        let as_of = first
            .add_days(rng.below(365 * a.years as u64) as i64)
            .unwrap_or(first);
        let q = Query {
            as_of: Some(as_of),
            ..Query::default()
        };
        let t = Clock::now();
        let with = ledger
            .fold(&q, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        let fold_with = t.elapsed().as_secs_f64();
        let t = Clock::now();
        let digest_with = with.digest();
        let render_with = t.elapsed().as_secs_f64();
        let t = Clock::now();
        let without = ledger
            .fold_uncached(&q, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        let fold_without = t.elapsed().as_secs_f64();
        assert_eq!(
            digest_with,
            without.digest(),
            "a checkpoint changed the answer for {as_of}"
        );
        println!(
            "state --as-of {as_of}: fold {:.0} ms with checkpoints, {:.0} ms without; digest {:.0} ms",
            fold_with * 1e3,
            fold_without * 1e3,
            render_with * 1e3
        );
    }
    drop(ledger);

    // Peak memory of a full fold, in a process of its own.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(&exe)
        .args(["--only-fold", "--db"])
        .arg(&a.db)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<&str> = text.split_whitespace().collect();
    println!(
        "fold in a fresh process: {} events in {} s, peak resident memory {} MiB",
        parts.first().unwrap_or(&"?"),
        parts.get(1).unwrap_or(&"?"),
        parts.get(2).unwrap_or(&"?")
    );

    bulk_append(&a, &company);
}

/// `espp append` of a 100,000-line file of payroll on a payday after the last purchase.
fn bulk_append(a: &Args, company: &Company) {
    let espp = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("espp")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| panic!("build the CLI first: cargo build --release -p espp-engine"));
    let payday = company
        .last_day()
        .add_days(7)
        .unwrap_or_else(|| unreachable!());
    let file = a.db.with_extension("bulk.jsonl");
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(&file).unwrap_or_else(|e| panic!("{e}")));
    let lines = 100_000u32;
    for i in 0..lines {
        let _ = writeln!(
            f,
            r#"{{"type":"payroll","date":"{payday}","employee":"E{:06}","gross_pay":"{}.{:02}"}}"#,
            i % a.employees,
            3000 + i % 997,
            i % 100
        );
    }
    drop(f);
    let t = Clock::now();
    let out = std::process::Command::new(&espp)
        .arg("--db")
        .arg(&a.db)
        .arg("append")
        .arg(&file)
        .output();
    let secs = t.elapsed().as_secs_f64();
    let ok = out.as_ref().map(|o| o.status.success()).unwrap_or(false);
    println!(
        "espp append of a {lines}-line file: {secs:.2} s = {:.0} events/s, durable ({})",
        f64::from(lines) / secs,
        if ok {
            "ok".to_string()
        } else {
            format!("{out:?}")
        }
    );
    let _ = std::fs::remove_file(Path::new(&file));
}
