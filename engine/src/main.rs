//! The `espp` command line: append, export, verify, list and fold the ledger (INTERCHANGE.md).

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Datelike;
use clap::{Parser, Subcommand, ValueEnum};
use espp_engine::{now, Batch, Ledger, Options, StoreError};
use espp_events::{parse_line, Actor, Day, Instant, Line, Record};
use serde_json::Value;

/// Exit codes of INTERCHANGE.md.
mod exit {
    pub const REFUSED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const BUSY_OR_CONFLICT: u8 = 3;
    pub const DAMAGED: u8 = 4;
    pub const STORAGE: u8 = 5;
}

#[derive(Parser, Debug)]
#[command(
    name = "espp",
    version,
    about = "An event-sourced ledger for a Section 423 Employee Stock Purchase Plan"
)]
struct Cli {
    /// The ledger directory.
    #[arg(long, global = true, env = "ESPP_DB", default_value = "./espp-ledger")]
    db: PathBuf,
    /// Output for people (table) or programs (json, csv).
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Who appends (recorded on every event); defaults to the OS user.
    #[arg(long, global = true, env = "ESPP_ACTOR")]
    actor: Option<String>,
    /// sled's page cache in MiB.
    #[arg(long, global = true, env = "ESPP_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    cache_mb: u64,
    /// Take a checkpoint every N appended events (0: only at purchases).
    #[arg(
        long,
        global = true,
        env = "ESPP_CHECKPOINT_EVERY",
        default_value_t = 1_000_000
    )]
    checkpoint_every: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ImportKind {
    Payroll,
    Prices,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append a JSON Lines file of events (or an export) as one atomic, durable batch.
    Append {
        /// The file, or `-` for standard input.
        file: PathBuf,
    },
    /// Write the log as JSON Lines with envelopes.
    Export,
    /// Import a payroll (`employee,date,gross_pay`) or price (`date,close[,bid,ask,high,low]`)
    /// CSV file as one atomic batch; importing the same file again appends nothing.
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: ImportKind,
        /// The CSV file, or `-` for standard input.
        file: PathBuf,
    },
    /// Check the hash chain and every record; exit 4 on damage.
    Verify,
    /// List the log for people.
    Log {
        /// First seq to show.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// How many records to show.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Build a demo ledger (about 50 employees, two years of payroll and prices, four
    /// purchases) in --db and show a summary and a few statements. Running it again appends
    /// nothing.
    Demo {
        /// Employees in the demo company.
        #[arg(long, default_value_t = 50)]
        employees: u32,
        /// Seed of the demo's pseudo-random pay, rates and prices.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// §12 statements of one employee: each period in which shares were bought, or the
    /// period named.
    Statement {
        /// The employee id.
        employee: String,
        /// One period's statement, shown even without a purchase.
        #[arg(long)]
        period: Option<String>,
    },
    /// Form 3922 rows (§423(c) information returns): one per lot bought in the year, boxes
    /// 1-8, figures as purchased.
    Form3922 {
        /// The calendar year of purchase.
        #[arg(long)]
        year: i32,
    },
    /// Every sale of the year with its classification and ordinary income (the figures
    /// payroll needs for the W-2).
    Dispositions {
        /// The calendar year of sale.
        #[arg(long)]
        year: i32,
    },
    /// The projection: what the ledger knows.
    State {
        #[command(flatten)]
        when: When,
        /// A JSON file holding a partial `rules` object that overrides the log's rules for
        /// this fold only.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Fold an exported JSON Lines file (an auditor's own copy; no database needed), after
    /// checking its hash chain.
    Replay {
        /// The export.
        #[arg(long)]
        from_export: PathBuf,
        #[command(flatten)]
        when: When,
        /// A JSON file of partial rules overriding the log's for this fold.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// What changes, per employee and per purchase, when the log is folded under other
    /// rules. Exits 0 whatever it finds.
    Diff {
        /// A JSON file of partial rules (as in `plan_adopted`).
        #[arg(long)]
        rules: PathBuf,
        /// Compare the books as of this day.
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// Which books to fold: valid time (`--as-of`) and transaction time (`--known-at` or
/// `--through-seq`), DOMAIN.md §1.
#[derive(clap::Args, Debug, Clone)]
struct When {
    /// Fold the events dated on or before this day, and the deadlines through it.
    #[arg(long)]
    as_of: Option<String>,
    /// Fold only what had been recorded at this instant (RFC 3339 UTC).
    #[arg(long, conflicts_with = "through_seq")]
    known_at: Option<String>,
    /// Fold only the records up to this seq.
    #[arg(long)]
    through_seq: Option<u64>,
}

impl When {
    fn query(&self, rules: Option<&Path>) -> Result<espp_replay::Query, Failure> {
        Ok(espp_replay::Query {
            as_of: self
                .as_of
                .as_deref()
                .map(|s| parse_arg("--as-of", s, Day::parse))
                .transpose()?,
            known_at: self
                .known_at
                .as_deref()
                .map(|s| parse_arg("--known-at", s, Instant::parse))
                .transpose()?,
            through_seq: self.through_seq,
            rules: rules.map(read_rules).transpose()?,
        })
    }
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Input { .. } | StoreError::Rejected { .. } => exit::REFUSED,
            StoreError::Busy(_)
            | StoreError::Conflict { .. }
            | StoreError::ConflictInInput { .. } => exit::BUSY_OR_CONFLICT,
            StoreError::Damaged { .. } | StoreError::Corrupt(_) => exit::DAMAGED,
            StoreError::Missing(_) | StoreError::Io(_) => exit::STORAGE,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`espp log | head`): nothing more to say to it.
            return Failure::new(0, String::new());
        }
        Failure::new(exit::STORAGE, format!("I/O error: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.code == 0 => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("espp: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn options(cli: &Cli) -> Options {
    Options {
        cache_bytes: cli.cache_mb.max(1) << 20,
        checkpoint_every: cli.checkpoint_every,
    }
}

fn actor(cli: &Cli) -> Result<Actor, Failure> {
    let name = match &cli.actor {
        Some(a) => a.clone(),
        None => whoami::username(),
    };
    Actor::new(name).map_err(|e| Failure::new(exit::USAGE, format!("--actor: {e}")))
}

fn run(cli: Cli) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match &cli.command {
        Command::Append { file } | Command::Import { file, .. } => {
            let lines = match &cli.command {
                Command::Import { kind, .. } => read_csv(*kind, file)?,
                _ => read_lines(file)?,
            };
            let actor = actor(&cli)?;
            let mut ledger = Ledger::open_or_create(&cli.db, &options(&cli))?;
            let report = ledger.append(Batch { lines, actor }, now())?;
            if cli.format == Format::Json {
                let skipped: Vec<Value> = report
                    .skipped
                    .iter()
                    .map(|(line, id, seq)| serde_json::json!({"line": line, "id": id.to_string(), "seq": seq}))
                    .collect();
                let v = serde_json::json!({
                    "stored": report.stored_count(),
                    "first_seq": report.stored.map(|s| s.0),
                    "last_seq": report.stored.map(|s| s.1),
                    "skipped": skipped,
                });
                writeln!(out, "{v}")?;
            } else {
                for (line, id, seq) in &report.skipped {
                    writeln!(
                        out,
                        "line {line}: skipped, id {id} is stored already as seq {seq}"
                    )?;
                }
                match report.stored {
                    Some((a, b)) => writeln!(
                        out,
                        "stored {} event(s), seq {a}-{b}",
                        report.stored_count()
                    )?,
                    None => writeln!(out, "nothing new: every event is stored already")?,
                }
            }
        }
        Command::Export => {
            // A damaged ledger still gives its intact prefix, then exit 4 saying so.
            let ledger = Ledger::open_salvage(&cli.db, &options(&cli))?;
            let exported = espp_engine::export::write_jsonl(&ledger, &mut out)?;
            if let Some(e) = exported.damage {
                out.flush()?;
                return Err(e.into());
            }
        }
        Command::Verify => {
            let ledger = Ledger::open_salvage(&cli.db, &options(&cli))?;
            let report = ledger.verify()?;
            if let Some(p) = &report.problem {
                return Err(Failure::new(
                    exit::DAMAGED,
                    format!(
                        "verify failed at seq {}: {} ({} records intact before it)",
                        p.seq, p.message, report.records
                    ),
                ));
            }
            // The chain is intact: now the fold from scratch against every checkpoint.
            let (digest, checks) = ledger.verify_checkpoints()?;
            let disagreeing: Vec<_> = checks.iter().filter(|c| c.disagrees).collect();
            if cli.format == Format::Json {
                let cps: Vec<Value> = checks
                    .iter()
                    .map(|c| serde_json::json!({"seq": c.seq, "kind": format!("{:?}", c.kind).to_lowercase(), "ok": c.problem.is_none(), "problem": c.problem}))
                    .collect();
                let v = serde_json::json!({"ok": disagreeing.is_empty(), "records": report.records, "head_hash": report.head_hash.to_string(), "digest": digest, "checkpoints": cps});
                writeln!(out, "{v}")?;
            } else {
                writeln!(
                    out,
                    "intact: {} records, hash chain verified, head {}",
                    report.records, report.head_hash
                )?;
                writeln!(
                    out,
                    "digest of the whole log, folded from scratch: {digest}"
                )?;
                for c in &checks {
                    let what = format!("{:?}", c.kind).to_lowercase();
                    match &c.problem {
                        None => writeln!(
                            out,
                            "checkpoint at seq {} ({what}): agrees with a fold from scratch",
                            c.seq
                        )?,
                        Some(p) => writeln!(out, "checkpoint at seq {} ({what}): {p}", c.seq)?,
                    }
                }
            }
            if let Some(c) = disagreeing.first() {
                out.flush()?;
                return Err(Failure::new(
                    exit::DAMAGED,
                    format!(
                        "checkpoint at seq {} disagrees with the log: {}",
                        c.seq,
                        c.problem.clone().unwrap_or_default()
                    ),
                ));
            }
        }
        Command::Log { from, limit } => {
            let ledger = Ledger::open(&cli.db, &options(&cli))?;
            let records = ledger
                .records_from(*from)
                .take(limit.map_or(usize::MAX, |l| l as usize));
            if cli.format == Format::Json {
                for r in records {
                    writeln!(out, "{}", r?.to_json())?;
                }
            } else if cli.format == Format::Csv {
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record(["seq", "date", "type", "recorded_at", "actor", "details"])
                    .map_err(csv_failure)?;
                for r in records {
                    let r = r?;
                    w.write_record([
                        r.seq.to_string(),
                        r.date.to_string(),
                        r.event.type_name().to_string(),
                        r.recorded_at.to_string(),
                        r.actor.to_string(),
                        details(&r),
                    ])
                    .map_err(csv_failure)?;
                }
                w.flush()?;
            } else {
                writeln!(
                    out,
                    "{:>8}  {:<10}  {:<22}  {:<27}  {:<14}  details",
                    "seq", "date", "type", "recorded_at", "actor"
                )?;
                for r in records {
                    let r = r?;
                    writeln!(
                        out,
                        "{:>8}  {:<10}  {:<22}  {:<27}  {:<14}  {}",
                        r.seq,
                        r.date,
                        r.event.type_name(),
                        r.recorded_at.to_string(),
                        r.actor.to_string(),
                        details(&r)
                    )?;
                }
            }
        }
        Command::Demo { employees, seed } => demo(&cli, *employees, *seed, &mut out)?,
        Command::Form3922 { year } | Command::Dispositions { year } => {
            let ledger = Ledger::open(&cli.db, &options(&cli))?;
            let state = fold_ledger(&ledger, &espp_replay::Query::default())?;
            let (rows, columns): (Vec<Value>, &[&str]) = match &cli.command {
                Command::Form3922 { .. } => {
                    (state.form3922(*year), &espp_projections::FORM3922_COLUMNS)
                }
                _ => (
                    state.dispositions(*year),
                    &espp_projections::DISPOSITION_COLUMNS,
                ),
            };
            print_rows(&mut out, cli.format, &rows, columns)?;
        }
        Command::Statement { employee, period } => {
            let mut ledger = Ledger::open(&cli.db, &options(&cli))?;
            let state = ledger.book()?.state();
            let rows = state
                .statement(employee, period.as_deref())
                .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
            print_statements(&mut out, cli.format, &rows)?;
        }
        Command::State { when, rules } => {
            let query = when.query(rules.as_deref())?;
            let ledger = Ledger::open(&cli.db, &options(&cli))?;
            let state = fold_ledger(&ledger, &query)?;
            print_projection(&mut out, cli.format, &state.projection(query.as_of))?;
        }
        Command::Replay {
            from_export,
            when,
            rules,
        } => {
            let query = when.query(rules.as_deref())?;
            let records = read_export(from_export)?;
            let state = espp_replay::fold_records(records, query.clone()).map_err(|e| {
                Failure::new(exit::REFUSED, format!("{}: {e}", from_export.display()))
            })?;
            print_projection(&mut out, cli.format, &state.projection(query.as_of))?;
        }
        Command::Diff { rules, as_of } => {
            let when = When {
                as_of: as_of.clone(),
                known_at: None,
                through_seq: None,
            };
            let base_query = when.query(None)?;
            let other_query = when.query(Some(rules))?;
            let ledger = Ledger::open(&cli.db, &options(&cli))?;
            let base = fold_ledger(&ledger, &base_query)?.projection(base_query.as_of);
            let other = fold_ledger(&ledger, &other_query)?.projection(other_query.as_of);
            let d = espp_replay::diff(&base, &other);
            if cli.format == Format::Json {
                writeln!(out, "{d}")?;
            } else {
                print_diff(&mut out, &d)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Folds the ledger for `query`, with a progress bar on a terminal for long logs.
fn fold_ledger(
    ledger: &Ledger,
    query: &espp_replay::Query,
) -> Result<espp_projections::State, Failure> {
    let total = ledger.head_seq();
    let bar = if total > 200_000 {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_message("folding");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let state = ledger.fold(query, &mut |seq| bar.set_position(seq))?;
    bar.finish_and_clear();
    Ok(state)
}

/// Reads an export and checks its hash chain; a break is damage (exit 4) naming the seq.
fn read_export(path: &Path) -> Result<Vec<Record>, Failure> {
    let lines = read_lines(path)?;
    let mut prev = espp_events::Hash::ZERO;
    let mut out = Vec::with_capacity(lines.len());
    for (line, l) in lines {
        let Line::Enveloped(r) = l else {
            return Err(Failure::new(
                exit::REFUSED,
                format!("line {line}: not an exported record (no envelope)"),
            ));
        };
        let expected = out.len() as u64 + 1;
        if r.seq != expected || r.prev_hash != prev || r.compute_hash() != r.hash {
            return Err(Failure::new(
                exit::DAMAGED,
                format!("line {line}: seq {} is missing, altered or out of place (expected seq {expected} after hash {prev})", r.seq),
            ));
        }
        prev = r.hash;
        out.push(r);
    }
    Ok(out)
}

fn print_projection(
    out: &mut impl Write,
    format: Format,
    projection: &Value,
) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{projection}"),
        Format::Csv => print_employees_csv(out, projection),
        Format::Table => print_state(out, projection),
    }
}

fn print_diff(out: &mut impl Write, d: &Value) -> std::io::Result<()> {
    let row = |out: &mut dyn Write, who: &str, field: &str, c: &Value| {
        writeln!(
            out,
            "{who:<24} {field:<20} {:>16} {:>16} {:>16}",
            text(&c["base"]),
            text(&c["other"]),
            c.get("delta").map(text).unwrap_or_default()
        )
    };
    writeln!(
        out,
        "{:<24} {:<20} {:>16} {:>16} {:>16}",
        "employee", "field", "base", "other", "delta"
    )?;
    for (id, fields) in d["employees"].as_object().into_iter().flatten() {
        for (f, c) in fields.as_object().into_iter().flatten() {
            row(out, id, f, c)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:<20} {:>16} {:>16} {:>16}",
        "purchase/employee", "field", "base", "other", "delta"
    )?;
    for p in d["purchases"].as_array().into_iter().flatten() {
        let who = format!(
            "{}/{}",
            text(&p["period"]),
            p["employee"].as_str().unwrap_or("(purchase)")
        );
        for (f, c) in p.as_object().into_iter().flatten() {
            if f != "period" && f != "employee" {
                row(out, &who, f, c)?;
            }
        }
    }
    writeln!(out)?;
    for (f, c) in d["totals"].as_object().into_iter().flatten() {
        row(out, "TOTAL", f, c)?;
    }
    writeln!(
        out,
        "\nbase digest  {}\nother digest {}",
        text(&d["base_digest"]),
        text(&d["other_digest"])
    )
}

fn csv_failure(e: csv::Error) -> Failure {
    Failure::new(exit::STORAGE, format!("writing CSV: {e}"))
}

/// Reads a `--rules` file: a JSON object of partial plan rules, checked like `plan_adopted`'s.
fn read_rules(path: &Path) -> Result<espp_events::RulesPatch, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot read {}: {e}", path.display())))?;
    let patch = espp_events::json::parse_rules(&text)
        .map_err(|e| Failure::new(exit::REFUSED, format!("{}: {e}", path.display())))?;
    espp_projections::check_overrides(&patch)
        .map_err(|e| Failure::new(exit::REFUSED, format!("{}: {e}", path.display())))?;
    Ok(patch)
}

fn demo(cli: &Cli, employees: u32, seed: u64, out: &mut impl Write) -> Result<(), Failure> {
    use sha2::{Digest, Sha256};
    let events: Vec<espp_events::EventInput> = espp_engine::demo::events(employees, seed)
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            // Ids from the seed and position: running the demo again appends nothing.
            let h = Sha256::digest(format!("espp-demo/{employees}/{seed}/{i}").as_bytes());
            let mut b = [0u8; 16];
            b.copy_from_slice(&h[..16]);
            e.id = Some(uuid::Uuid::new_v8(b));
            e
        })
        .collect();
    let total = events.len();
    let actor = Actor::new("espp-demo").map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let mut ledger = Ledger::open_or_create(&cli.db, &options(cli))?;
    // One append a month, as a payroll feed and a price feed would send them: the ledger
    // then takes a checkpoint at each purchase.
    let (mut stored, mut skipped) = (0u64, 0usize);
    let mut month: Vec<espp_events::EventInput> = Vec::new();
    let mut batches = Vec::new();
    for e in events {
        if month.last().is_some_and(|m| {
            (m.date.year(), m.date.date().month()) != (e.date.year(), e.date.date().month())
        }) {
            batches.push(std::mem::take(&mut month));
        }
        month.push(e);
    }
    batches.push(month);
    for batch in batches {
        let report = ledger.append(Batch::of_events(batch, actor.clone()), now())?;
        stored += report.stored_count();
        skipped += report.skipped.len();
    }
    writeln!(
        out,
        "demo ledger at {}: {total} events generated, {stored} stored, {skipped} already there",
        cli.db.display(),
    )?;
    let verified = ledger.verify()?;
    if let Some(p) = verified.problem {
        return Err(Failure::new(
            exit::DAMAGED,
            format!("verify failed at seq {}: {}", p.seq, p.message),
        ));
    }
    writeln!(out, "hash chain verified: {} records\n", verified.records)?;
    let state = ledger.book()?.state();
    let projection = state.projection(None);
    print_state(out, &projection)?;
    for who in ["E001", "E010", "E017"] {
        if let Ok(rows) = state.statement(who, None) {
            writeln!(out, "\nstatements of {who}:")?;
            print_statements(out, Format::Table, &rows)?;
        }
    }
    writeln!(out, "\nnext: espp --db {} log --limit 20 | state --format json | statement E002 | verify | export", cli.db.display())?;
    Ok(())
}

/// Rows of objects as a JSON array, CSV with a header, or an aligned table.
fn print_rows(
    out: &mut impl Write,
    format: Format,
    rows: &[Value],
    columns: &[&str],
) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", Value::Array(rows.to_vec())),
        Format::Csv => {
            writeln!(out, "{}", columns.join(","))?;
            for r in rows {
                writeln!(
                    out,
                    "{}",
                    columns
                        .iter()
                        .map(|c| text(&r[*c]))
                        .collect::<Vec<_>>()
                        .join(",")
                )?;
            }
            Ok(())
        }
        Format::Table => {
            if rows.is_empty() {
                return writeln!(out, "(none)");
            }
            let widths: Vec<usize> = columns
                .iter()
                .map(|c| {
                    rows.iter()
                        .map(|r| text(&r[*c]).len())
                        .max()
                        .unwrap_or(0)
                        .max(c.len())
                })
                .collect();
            for (c, w) in columns.iter().zip(&widths) {
                write!(out, "{c:>w$}  ")?;
            }
            writeln!(out)?;
            for r in rows {
                for (c, w) in columns.iter().zip(&widths) {
                    write!(out, "{:>w$}  ", text(&r[*c]))?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
    }
}

const STATEMENT_COLUMNS: [&str; 10] = [
    "employee",
    "period",
    "start",
    "end",
    "deductions",
    "cash_payments",
    "refunds",
    "shares_bought",
    "price",
    "shares_held_end",
];

fn print_statements(out: &mut impl Write, format: Format, rows: &[Value]) -> std::io::Result<()> {
    if format == Format::Table && rows.is_empty() {
        return writeln!(out, "(no period with a purchase)");
    }
    print_rows(out, format, rows, &STATEMENT_COLUMNS)
}

fn parse_arg<T>(
    flag: &str,
    s: &str,
    parse: fn(&str) -> Result<T, espp_events::ValueError>,
) -> Result<T, Failure> {
    parse(s).map_err(|e| Failure::new(exit::USAGE, format!("{flag}: {e}")))
}

/// Reads a CSV import, with a progress bar on a terminal for files of many lines.
fn read_csv(kind: ImportKind, file: &Path) -> Result<Vec<(usize, Line)>, Failure> {
    let input: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let f = std::fs::File::open(file).map_err(|e| {
            Failure::new(exit::USAGE, format!("cannot read {}: {e}", file.display()))
        })?;
        Box::new(std::io::BufReader::new(f))
    };
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    // About 30 bytes a line: a bar from a few thousand lines on; hidden when not a terminal.
    let bar = if size > 150_000 {
        indicatif::ProgressBar::with_draw_target(
            Some(size / 30),
            indicatif::ProgressDrawTarget::stderr(),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let kind = match kind {
        ImportKind::Payroll => espp_engine::import::Kind::Payroll,
        ImportKind::Prices => espp_engine::import::Kind::Prices,
    };
    let lines = espp_engine::import::read_csv(kind, input, |n| {
        if n % 1024 == 0 {
            bar.set_position(n as u64)
        }
    });
    bar.finish_and_clear();
    Ok(lines?)
}

/// Reads a JSON Lines file into numbered, parsed lines; blank lines are skipped.
fn read_lines(file: &Path) -> Result<Vec<(usize, Line)>, Failure> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(file).map_err(|e| {
            Failure::new(exit::USAGE, format!("cannot read {}: {e}", file.display()))
        })?;
    }
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let text = std::str::from_utf8(raw).map_err(|e| {
            Failure::new(
                exit::REFUSED,
                format!("line {line}: not UTF-8 text (byte {})", e.valid_up_to() + 1),
            )
        })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(text)
            .map_err(|e| Failure::new(exit::REFUSED, format!("line {line}: {e}")))?;
        out.push((line, parsed));
    }
    if out.is_empty() {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "{}: no events to append (the input is empty)",
                file.display()
            ),
        ));
    }
    Ok(out)
}

/// The event's own fields, `key=value`, for the log listing.
fn details(r: &Record) -> String {
    let Value::Object(m) = r.to_json() else {
        return String::new();
    };
    m.iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "type" | "date" | "id" | "seq" | "recorded_at" | "actor" | "prev_hash" | "hash"
            )
        })
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

const EMPLOYEE_COLUMNS: [&str; 10] = [
    "status",
    "rate",
    "balance",
    "deficiency",
    "contributed",
    "refunded",
    "shares_held",
    "shares_certificated",
    "dividends_paid",
    "ordinary_income",
];

/// The projection's employees as CSV, one row each.
fn print_employees_csv(out: &mut impl Write, p: &Value) -> std::io::Result<()> {
    writeln!(out, "employee,{}", EMPLOYEE_COLUMNS.join(","))?;
    if let Some(Value::Object(emps)) = p.get("employees") {
        for (id, e) in emps {
            let cells: Vec<String> = EMPLOYEE_COLUMNS.iter().map(|c| text(&e[*c])).collect();
            writeln!(out, "{id},{}", cells.join(","))?;
        }
    }
    Ok(())
}

fn print_state(out: &mut impl Write, p: &Value) -> std::io::Result<()> {
    let plan = &p["plan"];
    writeln!(out, "as of:        {}", text(&p["as_of"]))?;
    writeln!(out, "through seq:  {}", text(&p["through_seq"]))?;
    writeln!(
        out,
        "plan:         {}{}",
        text(&plan["status"]),
        plan.get("reason")
            .map(|r| format!(" ({})", text(r)))
            .unwrap_or_default()
    )?;
    for key in ["share_reserve", "shares_bought", "shares_left"] {
        if let Some(v) = plan.get(key) {
            writeln!(out, "{:<14}{}", format!("{key}:"), text(v))?;
        }
    }
    if let Some(Value::Object(emps)) = p.get("employees") {
        if !emps.is_empty() {
            writeln!(out)?;
            let mut cols = vec![
                "status",
                "rate",
                "balance",
                "contributed",
                "refunded",
                "shares_held",
            ];
            if emps
                .values()
                .any(|e| e.get("election_deadline").is_some_and(|d| !d.is_null()))
            {
                cols.push("election_deadline");
            }
            write!(out, "{:<12}", "employee")?;
            for c in &cols {
                write!(out, " {c:>17}")?;
            }
            writeln!(out)?;
            for (id, e) in emps {
                write!(out, "{id:<12}")?;
                for c in &cols {
                    write!(out, " {:>17}", text(&e[*c]))?;
                }
                writeln!(out)?;
            }
        }
    }
    if let Some(Value::Array(ps)) = p.get("purchases") {
        if !ps.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "{:<12} {:<10} {:>12} {:>12} {:>12} {:>14}",
                "purchase", "date", "fmv_grant", "fmv_purchase", "price", "shares"
            )?;
            for x in ps {
                writeln!(
                    out,
                    "{:<12} {:<10} {:>12} {:>12} {:>12} {:>14}",
                    text(&x["period"]),
                    text(&x["date"]),
                    text(&x["fmv_grant"]),
                    text(&x["fmv_purchase"]),
                    text(&x["price"]),
                    text(&x["shares"])
                )?;
            }
        }
    }
    writeln!(out, "\ndigest:       {}", text(&p["digest"]))
}
