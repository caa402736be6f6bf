//! The scale benchmark of BENCHMARKS.md (issue 15): builds the benchmark company (10,000
//! employees, four years: about 1.06 million events) with one `espp append` process per
//! payday, as a payroll feed would, then runs each row of the table as whole `espp`
//! processes, measuring wall time and peak resident memory (`wait4`'s `ru_maxrss`), and the
//! ledger's bytes on disk per event.
//!
//! `cargo build --release -p espp-engine -p espp-benches --bins && target/release/scale_bench
//! [--employees N] [--years Y] [--db PATH] [--runs R] [--espp PATH] [--one-append]` (an
//! existing `--db` is reused, not rebuilt; delete it to measure the appends again).
//! `--one-append` also appends the whole company in one `espp append` process into a fresh
//! ledger beside `--db` (the memory of a 10^6-event append), then deletes that ledger.
//! `--write-batches DIR` only writes the company's batches as `DIR/NNN.jsonl` (000 the setup,
//! then one a payday, as the build appends them) and exits: for measuring one append at a
//! chosen point of the build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant as Clock;

use espp_benches::company::Company;
use espp_engine::demo::Rng;
use espp_events::Day;

struct Args {
    employees: u32,
    years: i32,
    db: PathBuf,
    runs: usize,
    espp: PathBuf,
    one_append: bool,
    write_batches: Option<PathBuf>,
}

fn args() -> Args {
    let espp = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("espp")))
        .unwrap_or_else(|| PathBuf::from("espp"));
    let mut a = Args {
        employees: 10_000,
        years: 4,
        db: std::env::temp_dir().join("espp-scale-bench"),
        runs: 3,
        espp,
        one_append: false,
        write_batches: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--employees" => a.employees = value().parse().unwrap_or_else(|e| panic!("{e}")),
            "--years" => a.years = value().parse().unwrap_or_else(|e| panic!("{e}")),
            "--db" => a.db = PathBuf::from(value()),
            "--runs" => a.runs = value().parse().unwrap_or_else(|e| panic!("{e}")),
            "--espp" => a.espp = PathBuf::from(value()),
            "--one-append" => a.one_append = true,
            "--write-batches" => a.write_batches = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// One finished child process: wall seconds, peak RSS in MB (10^6 bytes), exit status,
/// and its standard output.
#[derive(Debug)]
struct Run {
    secs: f64,
    peak_mb: f64,
    ok: bool,
    stdout_bytes: u64,
    /// User + system CPU seconds (`wait4`'s `ru_utime` + `ru_stime`).
    cpu: f64,
}

/// Waits for `pid` with `wait4`, returning (exited with 0, peak RSS in KiB). The only
/// `unsafe` of the workspace outside its crates' `forbid`: std's `Child::wait` gives no
/// resource usage, and `wait4` is the one call that gives a single child's `ru_maxrss`.
#[allow(unsafe_code)]
fn wait4(pid: u32) -> (bool, i64, f64) {
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, writable locals; pid is our own unreaped child.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(r == pid as libc::pid_t, "wait4 failed");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        ok,
        usage.ru_maxrss,
        secs(usage.ru_utime) + secs(usage.ru_stime),
    )
}

/// Runs `espp --db DB ARGS…` (standard output counted and dropped, unless `keep`).
fn espp(a: &Args, args: &[&str], stdin: Option<&Path>) -> Run {
    let mut cmd = Command::new(&a.espp);
    cmd.arg("--db").arg(&a.db).args(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(p) = stdin {
        cmd.stdin(std::fs::File::open(p).unwrap_or_else(|e| panic!("{e}")));
    }
    let t = Clock::now();
    // Reaped by `wait4` below, which std's `Child::wait` cannot replace (no rusage).
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", a.espp.display()));
    let mut out = child.stdout.take().unwrap_or_else(|| unreachable!());
    let mut err = child.stderr.take().unwrap_or_else(|| unreachable!());
    let errs = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut s);
        s
    });
    let stdout_bytes = std::io::copy(&mut out, &mut std::io::sink()).unwrap_or(0);
    let (ok, kib, cpu) = wait4(child.id());
    let secs = t.elapsed().as_secs_f64();
    let errs = errs.join().unwrap_or_default();
    if !ok {
        eprintln!(
            "espp {args:?} failed: {}",
            String::from_utf8_lossy(&errs[..errs.len().min(2000)])
        );
    }
    Run {
        secs,
        peak_mb: kib as f64 * 1024.0 / 1e6,
        ok,
        stdout_bytes,
        cpu,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Apparent bytes of every file under `dir`, and bytes of allocated blocks.
fn disk_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = (0, 0);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return total;
    };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            let (a, b) = disk_bytes(&e.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += m.len();
            total.1 += m.blocks() * 512;
        }
    }
    total
}

/// The JSON Lines of a batch of events.
fn jsonl(batch: &[espp_events::EventInput], text: &mut String) {
    for e in batch {
        text.push_str(&e.to_json().to_string());
        text.push('\n');
    }
}

/// Builds the company: the setup batch, then one `espp append` process per payday. Returns
/// each payday append's (events, run).
fn build(a: &Args, company: &Company) -> Vec<(usize, Run)> {
    let file = std::env::temp_dir().join(format!("espp-scale-bench-{}.jsonl", std::process::id()));
    let mut runs = Vec::new();
    for (i, batch) in company.batches().enumerate() {
        let mut text = String::with_capacity(batch.len() * 120);
        jsonl(&batch, &mut text);
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let f = file.to_string_lossy().to_string();
        // The company's four years run past today; the payroll feed says so.
        let r = espp(
            a,
            &["--actor", "payroll", "append", "--allow-future", &f],
            None,
        );
        assert!(r.ok, "append of batch {i} failed");
        if i > 0 && i % 10 == 0 {
            eprintln!(
                "  batch {i}: {} events in {:.2} s ({:.0} MB peak)",
                batch.len(),
                r.secs,
                r.peak_mb
            );
        }
        runs.push((batch.len(), r));
    }
    let _ = std::fs::remove_file(&file);
    runs
}

/// This process's own peak RSS in MB (`VmHWM`), 0 if unknown.
///
/// Linux counts a child's pages from before its `exec` in the child's `ru_maxrss`, and a
/// child spawned by `Command` (a vfork-style clone) starts in this process's memory: a child
/// that stays smaller than this process reports this process's peak. Such rows are printed
/// as "≤" it (measure them with `/usr/bin/time -f %M` instead).
fn own_peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kib = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib * 1024.0 / 1e6)
}

fn row(name: &str, runs: &[Run], note: &str) {
    let secs: Vec<f64> = runs.iter().map(|r| r.secs).collect();
    let mb: Vec<f64> = runs.iter().map(|r| r.peak_mb).collect();
    let failed = runs.iter().filter(|r| !r.ok).count();
    let floor = own_peak_mb();
    let peak = |v: f64| {
        if v <= floor * 1.02 {
            format!("≤ {floor:.0}")
        } else {
            format!("{v:.0}")
        }
    };
    println!(
        "| {name} | {:.3} s (min {:.3}, max {:.3}; n={}) | {} MB (max {}) | {note}{} |",
        median(secs.clone()),
        secs.iter().copied().fold(f64::INFINITY, f64::min),
        max(&secs),
        runs.len(),
        peak(median(mb.clone())),
        peak(max(&mb)),
        if failed > 0 {
            format!(" **{failed} run(s) failed**")
        } else {
            String::new()
        }
    );
}

/// The whole company in one `espp append` process into a fresh ledger beside `--db`.
fn one_append(a: &Args, company: &Company, events: u64) {
    let file = std::env::temp_dir().join(format!("espp-scale-one-{}.jsonl", std::process::id()));
    let mut text = String::new();
    for batch in company.batches() {
        jsonl(&batch, &mut text);
    }
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let db = a.db.with_extension("one-append");
    let _ = std::fs::remove_dir_all(&db);
    let fresh = Args {
        db: db.clone(),
        espp: a.espp.clone(),
        write_batches: None,
        ..*a
    };
    let f = file.to_string_lossy().to_string();
    let r = espp(
        &fresh,
        &["--actor", "payroll", "append", "--allow-future", &f],
        None,
    );
    row(
        "`espp append` of the whole company, one process",
        std::slice::from_ref(&r),
        &format!("{:.0} events/s", events as f64 / r.secs),
    );
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&db);
}

fn main() {
    let a = args();
    let company = Company {
        employees: a.employees,
        years: a.years,
        seed: 2026,
    };
    if let Some(dir) = &a.write_batches {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        for (i, batch) in company.batches().enumerate() {
            let mut text = String::with_capacity(batch.len() * 120);
            jsonl(&batch, &mut text);
            std::fs::write(dir.join(format!("{i:03}.jsonl")), text)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        return;
    }
    let built = if a.db.exists() {
        eprintln!("reusing {}", a.db.display());
        None
    } else {
        eprintln!(
            "building {} ({} employees, {} years), one espp append per payday…",
            a.db.display(),
            a.employees,
            a.years
        );
        let t = Clock::now();
        let runs = build(&a, &company);
        eprintln!("built in {:.1} s", t.elapsed().as_secs_f64());
        Some(runs)
    };

    // The head seq, from `espp log` of the last record is not needed: count what verify says.
    let v = Command::new(&a.espp)
        .arg("--db")
        .arg(&a.db)
        .args(["--format", "json", "state"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&v.stdout);
    let events: u64 = text
        .split("\"through_seq\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (apparent, blocks) = disk_bytes(&a.db);

    println!(
        "\n{} events, {} employees; espp = {}; {} run(s) per row\n",
        events,
        a.employees,
        a.espp.display(),
        a.runs
    );
    println!("| command | wall (median) | peak RSS (median) | notes |");
    println!("|---|---:|---:|---|");

    if let Some(built) = &built {
        // Paydays are the batches with at least the company's payroll in them.
        let paydays: Vec<&(usize, Run)> = built
            .iter()
            .skip(1)
            .filter(|(n, _)| *n >= a.employees as usize)
            .collect();
        let rates: Vec<f64> = paydays.iter().map(|(n, r)| *n as f64 / r.secs).collect();
        let last10: Vec<f64> = rates.iter().rev().take(10).copied().collect();
        let runs: Vec<Run> = paydays
            .iter()
            .map(|(_, r)| Run {
                secs: r.secs,
                peak_mb: r.peak_mb,
                ok: r.ok,
                stdout_bytes: 0,
                cpu: r.cpu,
            })
            .collect();
        row(
            "`espp append` of one payday",
            &runs,
            &format!(
                "{:.0} events/s median over {} paydays (last ten: {:.0}/s; first: {:.0}/s); \
                 CPU (user+sys) median {:.3} s",
                median(rates.clone()),
                rates.len(),
                median(last10),
                rates.first().copied().unwrap_or(f64::NAN),
                median(runs.iter().map(|r| r.cpu).collect())
            ),
        );
    }

    let runs: Vec<Run> = (0..a.runs)
        .map(|_| espp(&a, &["--format", "json", "state"], None))
        .collect();
    let bytes = runs.first().map_or(0, |r| r.stdout_bytes);
    row(
        "`state --format json` (latest)",
        &runs,
        &format!("{bytes} bytes of JSON"),
    );

    // As-of days drawn from the company's four years (seeded; the same each run).
    let mut rng = Rng::new(15);
    let first = Day::from_ymd(2026, 1, 1).unwrap_or_else(|| unreachable!());
    let span = (a.years as u64) * 365;
    let days: Vec<Day> = (0..5)
        .map(|_| first.add_days(rng.below(span) as i64).unwrap_or(first))
        .collect();
    let mut runs = Vec::new();
    for d in &days {
        let d = d.to_string();
        for _ in 0..a.runs {
            runs.push(espp(
                &a,
                &["--format", "json", "state", "--as-of", &d],
                None,
            ));
        }
    }
    let list: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    row(
        "`state --as-of DAY --format json`",
        &runs,
        &format!("days {}", list.join(", ")),
    );

    let runs: Vec<Run> = (0..a.runs).map(|_| espp(&a, &["verify"], None)).collect();
    let secs = median(runs.iter().map(|r| r.secs).collect());
    row(
        "`verify`",
        &runs,
        &format!("{:.0} events/s", events as f64 / secs),
    );

    let rules = std::env::temp_dir().join("espp-scale-bench-rules.json");
    std::fs::write(&rules, "{\"price_factor\": \"0.90\"}\n").unwrap_or_else(|e| panic!("{e}"));
    let r = rules.to_string_lossy().to_string();
    let runs: Vec<Run> = (0..a.runs)
        .map(|_| espp(&a, &["--format", "json", "diff", "--rules", &r], None))
        .collect();
    row("`diff --rules` (price_factor 0.90)", &runs, "");

    // One employee as of a day (commands a binary without them fails: "run(s) failed").
    let mut rng = Rng::new(1515);
    let picks: Vec<(String, String)> = (0..5)
        .map(|_| {
            let e = format!("E{:06}", rng.below(u64::from(a.employees.max(1))));
            let d = first.add_days(rng.below(span) as i64).unwrap_or(first);
            (e, d.to_string())
        })
        .collect();
    let names: Vec<String> = picks.iter().map(|(e, d)| format!("{e} {d}")).collect();
    for (label, cmd) in [
        ("`state --employee E --as-of DAY`", "state"),
        ("`statement E`", "statement"),
        ("`explain E --as-of DAY`", "explain"),
    ] {
        let mut runs = Vec::new();
        for (e, d) in &picks {
            let args: Vec<&str> = match cmd {
                "state" => vec!["--format", "json", "state", "--employee", e, "--as-of", d],
                "statement" => vec!["--format", "json", "statement", e],
                _ => vec!["--format", "json", "explain", e, "--as-of", d],
            };
            for _ in 0..a.runs {
                runs.push(espp(&a, &args, None));
            }
        }
        row(
            label,
            &runs,
            &format!("(employee, day): {}", names.join(", ")),
        );
    }

    if a.one_append {
        one_append(&a, &company, events);
    }

    println!(
        "\nledger on disk: {apparent} bytes apparent = {:.0} B/event; {blocks} bytes allocated = {:.0} B/event",
        apparent as f64 / events.max(1) as f64,
        blocks as f64 / events.max(1) as f64
    );
}
