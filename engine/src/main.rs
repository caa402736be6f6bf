//! The `espp` command line: parses the arguments and dispatches each command to the module
//! of its family (`cmd::append`, `cmd::read`), which prints through `cmd::output`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod cmd;

use cmd::append::Guards;
use cmd::{read, Failure};

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
    #[arg(long, global = true, env = "ESPP_CACHE_MB", default_value_t = 64)]
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
        #[command(flatten)]
        guards: Guards,
    },
    /// Write the log as JSON Lines with envelopes.
    Export,
    /// Import a payroll (`employee,date,gross_pay[,run]`) or price
    /// (`date,close[,bid,ask,high,low]`) CSV file as one atomic batch; importing the same
    /// file again appends nothing.
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: ImportKind,
        /// The CSV file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        guards: Guards,
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
        /// Only events naming this employee.
        #[arg(long)]
        employee: Option<String>,
        /// Only events of this type (`payroll`, `purchase`, …).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// Only events dated on or after this day.
        #[arg(long)]
        from_date: Option<String>,
        /// Only events dated on or before this day.
        #[arg(long)]
        to_date: Option<String>,
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
    /// Why the ledger says what it says about one employee: every event that touched the
    /// employee with its effect, each eligibility verdict, each election window, and each
    /// purchase worked step by step, every step naming its plan section.
    Explain {
        /// The employee id.
        employee: String,
        /// Only the steps dated within this period.
        #[arg(long)]
        period: Option<String>,
        /// The trail as of this day (its deadlines included).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// The practice purchase: what the period's purchase would do if it executed now (or
    /// with a hypothetical last-day close); nothing is appended.
    Purchase {
        /// The period to preview.
        #[arg(long, value_name = "PERIOD")]
        preview: String,
        /// A hypothetical close on the day after the period's latest price (its last day at
        /// most).
        #[arg(long, value_name = "PRICE")]
        close: Option<String>,
    },
    /// Reports for administrators: a purchase's figures, or the enrolment picture.
    Report {
        #[command(subcommand)]
        report: ReportKind,
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

/// The reports of `espp report`.
#[derive(Subcommand, Debug)]
enum ReportKind {
    /// One purchase: participation, contributions, shares, price and FMVs, discount value,
    /// refunds and cash carried, reserve left, and what became of its shares since.
    Purchase {
        /// The period.
        period: String,
    },
    /// Who is eligible but not enrolled, who sits out and why, open election windows, and
    /// the period calendar.
    Enrolment {
        /// The picture as of this day (its deadlines included).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.code == 0 => ExitCode::SUCCESS,
        Err(f) => {
            for line in f.message.lines() {
                eprintln!("espp: {line}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match &cli.command {
        Command::Append { file, guards } => {
            cmd::append::append(cli, None, file, *guards, &mut out)?
        }
        Command::Import { kind, file, guards } => {
            cmd::append::append(cli, Some(*kind), file, *guards, &mut out)?
        }
        Command::Demo { employees, seed } => cmd::append::demo(cli, *employees, *seed, &mut out)?,
        Command::Export => read::export(cli, &mut out)?,
        Command::Verify => read::verify(cli, &mut out)?,
        Command::Log {
            from,
            limit,
            employee,
            event_type,
            from_date,
            to_date,
        } => {
            let filter = read::LogFilter::new(
                employee.as_deref(),
                event_type.as_deref(),
                from_date.as_deref(),
                to_date.as_deref(),
            )?;
            read::log(cli, *from, *limit, &filter, &mut out)?
        }
        Command::Form3922 { year } => read::tax_rows(cli, *year, true, &mut out)?,
        Command::Dispositions { year } => read::tax_rows(cli, *year, false, &mut out)?,
        Command::Statement { employee, period } => {
            read::statement(cli, employee, period.as_deref(), &mut out)?
        }
        Command::State { when, rules } => read::state(cli, when, rules.as_deref(), &mut out)?,
        Command::Replay {
            from_export,
            when,
            rules,
        } => read::replay(cli, from_export, when, rules.as_deref(), &mut out)?,
        Command::Diff { rules, as_of } => read::diff(cli, rules, as_of.as_deref(), &mut out)?,
        Command::Explain {
            employee,
            period,
            as_of,
        } => cmd::explain::explain(cli, employee, period.as_deref(), as_of.as_deref(), &mut out)?,
        Command::Report { report } => match report {
            ReportKind::Purchase { period } => {
                cmd::explain::report_purchase(cli, period, &mut out)?
            }
            ReportKind::Enrolment { as_of } => {
                cmd::explain::report_enrolment(cli, as_of.as_deref(), &mut out)?
            }
        },
        Command::Purchase { preview, close } => {
            cmd::explain::preview(cli, preview, close.as_deref(), &mut out)?
        }
    }
    out.flush()?;
    Ok(())
}
