//! The `espp` command line: parses the arguments and dispatches each command to the module
//! of its family (`cmd::append`, `cmd::read`, `cmd::docs`), which prints through `cmd::output`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

mod cmd;

/// The `--help` epilogue of a subcommand: an example, the formats of days and instants, the
/// exit codes (INTERCHANGE.md).
macro_rules! after_help {
    (append: $($example:literal),+) => {
        concat!(
            "Append options (before or after the subcommand):\n",
            "  --actor <ACTOR>         Who appends, recorded on every event [env: ESPP_ACTOR] \
             [default: the OS user]\n",
            "  --checkpoint-every <N>  Take a checkpoint every N appended events (0: only at \
             purchases) [env: ESPP_CHECKPOINT_EVERY] [default: 1000000]\n",
            "  --accounts-checkpoint-after <N>  Checkpoint the accounts once N events per \
             employee were appended since the last checkpoint (0: never) \
             [env: ESPP_ACCOUNTS_CHECKPOINT_AFTER] [default: 3]\n\n",
            after_help!($($example),+)
        )
    };
    ($($example:literal),+) => {
        concat!(
            "Examples:\n",
            $("  ", $example, "\n",)+
            "\nDays are YYYY-MM-DD (2026-01-15); instants are RFC 3339 UTC (2026-01-15T09:30:00Z); \
             every number in events is a decimal string (\"4000.00\").\n",
            "Exit codes: 0 done; 1 input refused (names the line, field and rule); 2 usage; \
             3 busy or an id conflict; 4 damage (found by verify, or by any command reading \
             it); 5 storage or I/O failure (a full disk and a missing ledger included)."
        )
    };
}

use cmd::append::Guards;
use cmd::{read, Failure};

#[derive(Parser, Debug)]
#[command(
    name = "espp",
    version,
    about = "An event-sourced ledger for a Section 423 Employee Stock Purchase Plan"
)]
struct Cli {
    /// The ledger directory. Also an option of every command that opens a ledger (after the
    /// subcommand), and only of those (`LedgerOptions`).
    #[arg(long, env = "ESPP_DB", default_value = "./espp-ledger")]
    db: PathBuf,
    /// Output for people (table) or programs (json, csv; markdown for `espp events`; html
    /// for `espp statement --out`). Each
    /// command takes the formats its `--help` lists and refuses the others (exit 2); with
    /// json, errors are JSON on stderr too.
    #[arg(long = "format", global = true, value_enum, value_name = "FORMAT")]
    format_asked: Option<Format>,
    /// The format in force: `--format`, or the command's default (set after parsing).
    #[arg(skip)]
    format: Format,
    /// Who appends (recorded on every event); defaults to the OS user. Accepted before or
    /// after any subcommand (INTERCHANGE.md), but it does something only where events are
    /// appended: hidden from every help, and described in the help of `append`, `import`
    /// and `demo` (`WRITE_OPTIONS`).
    #[arg(long, global = true, env = "ESPP_ACTOR", hide = true)]
    actor: Option<String>,
    /// sled's page cache in MiB.
    #[arg(long, env = "ESPP_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    cache_mb: u64,
    /// Take a checkpoint every N appended events (0: only at purchases). Like `--actor`,
    /// described only where events are appended.
    #[arg(
        long,
        global = true,
        env = "ESPP_CHECKPOINT_EVERY",
        default_value_t = 1_000_000,
        hide = true
    )]
    checkpoint_every: u64,
    /// Checkpoint the accounts (a lean acceptance book's global part and employee blocks)
    /// once N events per employee were appended since the last checkpoint (0: never).
    /// Described only where events are appended.
    #[arg(
        long,
        global = true,
        env = "ESPP_ACCOUNTS_CHECKPOINT_AFTER",
        default_value_t = 3,
        hide = true
    )]
    accounts_checkpoint_after: u64,
    /// Wait for a ledger another process holds, up to SECONDS (without a value: as long as
    /// it takes), instead of exiting busy (3) at once.
    #[arg(long, env = "ESPP_WAIT", value_name = "SECONDS", num_args = 0..=1,
          default_missing_value = "forever", value_parser = cmd::parse_wait)]
    wait: Option<std::time::Duration>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Markdown,
    Html,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ImportKind {
    Payroll,
    Prices,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append a JSON Lines file of events (or an export) as one atomic, durable batch
    /// (`espp events` lists every event type and its fields).
    #[command(after_help = after_help!(append: "espp --db L append events.jsonl", "espp --db L append --dry-run --format json - < events.jsonl"))]
    Append {
        /// The file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        guards: Guards,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Write the log as JSON Lines with envelopes.
    #[command(after_help = after_help!("espp --db L export > L.jsonl", "espp --db L2 append L.jsonl   # rebuilds the same ledger"))]
    Export {
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Import a payroll (`employee,date,gross_pay[,run]`) or price
    /// (`date,close[,bid,ask,high,low]`) CSV file as one atomic batch; importing the same
    /// file again appends nothing.
    #[command(after_help = after_help!(append: "espp --db L import payroll pay.csv", "espp --db L import prices prices.csv --dry-run"))]
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: ImportKind,
        /// The CSV file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        guards: Guards,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Check the hash chain and every record; exit 4 on damage.
    #[command(after_help = after_help!("espp --db L verify", "espp --db L verify --format json"))]
    Verify {
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// List the log for people.
    #[command(after_help = after_help!("espp --db L log --from 100 --limit 20", "espp --db L log --format csv | head"))]
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
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Build a demo ledger (about 50 employees, two years of payroll and prices, four
    /// purchases) in --db and show a summary and a few statements. Running it again appends
    /// nothing.
    #[command(after_help = after_help!(append: "espp demo --db ./demo-ledger --employees 10"))]
    Demo {
        /// Employees in the demo company.
        #[arg(long, default_value_t = 50)]
        employees: u32,
        /// Seed of the demo's pseudo-random pay, rates and prices.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// §12 statements of one employee, or of all: each period in which shares were bought,
    /// or the period named. Each row reconciles: opening_balance + deductions +
    /// cash_payments − cost − refunds = carried. `--format html --out DIR` writes one
    /// self-contained page per employee and an index.html linking them.
    #[command(after_help = after_help!("espp --db L statement E1", "espp --db L statement E1 --period 2026H1 --format csv", "espp --db L statement --all --period 2026H1 --format html --out statements/"))]
    Statement {
        /// The employee id (or `--all`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        employee: Option<String>,
        /// One period's statement, shown even without a purchase.
        #[arg(long)]
        period: Option<String>,
        /// Every employee: with `--period`, each who had an account in it; else each
        /// statement of a period with a purchase.
        #[arg(long)]
        all: bool,
        /// With `--format html`: the directory the pages are written to (created if
        /// missing; pages of the same names are replaced).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Form 3922 rows (§423(c) information returns): one per lot bought in the year, boxes
    /// 1-8 labelled, figures as purchased; with the transferor (`--issuer`) and the payees
    /// (`--payees`) the CSV can be filed.
    #[command(after_help = after_help!("espp --db L form3922 --year 2026 --format csv", "espp --db L form3922 --year 2026 --issuer \"SAVVIS Inc.,12-3456789\" --payees payees.csv --format csv"))]
    Form3922 {
        /// The calendar year of purchase (four digits).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1900..=9999))]
        year: i32,
        /// A CSV file `employee,name,tin,address` with a row per employee (TIN: 9 digits,
        /// with or without dashes); a missing employee or a malformed row is refused.
        #[arg(long, value_name = "FILE")]
        payees: Option<PathBuf>,
        /// The transferor (the issuing corporation): "NAME,EIN", the EIN as 12-3456789.
        #[arg(long, value_name = "NAME,EIN")]
        issuer: Option<String>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Every sale of the year with its classification and ordinary income (the figures
    /// payroll needs for the W-2).
    #[command(after_help = after_help!("espp --db L dispositions --year 2026"))]
    Dispositions {
        /// The calendar year of sale (four digits).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1900..=9999))]
        year: i32,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// The projection: what the ledger knows. With --employee, one employee's account only:
    /// `{"as_of", "employee", "head", "id", "known_at"}`, `employee` being that employee's
    /// object byte for byte as the whole projection's `employees` holds it (null if not
    /// hired), `as_of`, `head` and `known_at` the whole projection's (docs/projection.md).
    #[command(after_help = after_help!("espp --db L state --format json", "espp --db L state --as-of 2026-03-31 --known-at 2026-04-01T00:00:00Z", "espp --db L state --employee E123 --as-of 2026-03-31 --format json", "espp --db L state --rules r.json   # r.json: {\"price_factor\":\"0.90\"}"))]
    State {
        #[command(flatten)]
        when: When,
        /// Only this employee's account (read and folded without the others' where it can).
        #[arg(long)]
        employee: Option<String>,
        /// A JSON file holding a partial `rules` object that overrides the log's rules for
        /// this fold only.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Fold an exported JSON Lines file (an auditor's own copy; no database needed), after
    /// checking its hash chain.
    #[command(after_help = after_help!("espp replay --from-export L.jsonl --as-of 2026-06-30 --format json"))]
    Replay {
        /// The export.
        #[arg(long)]
        from_export: PathBuf,
        #[command(flatten)]
        when: When,
        /// A JSON file of partial rules overriding the log's for this fold.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Records per block of the fold's day summary (`cmd/replay.rs`). Hidden: for tests,
        /// which use small blocks.
        #[arg(long, hide = true, env = "ESPP_REPLAY_BLOCK", default_value_t = cmd::replay::BLOCK as u64,
              value_parser = clap::value_parser!(u64).range(1..))]
        block_records: u64,
    },
    /// Why the ledger says what it says about one employee: every event that touched the
    /// employee with its effect, each eligibility verdict, each election window, and each
    /// purchase worked step by step, every step naming its plan section.
    #[command(after_help = after_help!("espp --db L explain E001", "espp --db L explain E001 --period 2026H1 --as-of 2026-06-30 --format json"))]
    Explain {
        /// The employee id.
        employee: String,
        /// Only the steps dated within this period.
        #[arg(long)]
        period: Option<String>,
        /// The trail as of this day (its deadlines included).
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// The practice purchase: what the period's purchase would do if it executed now (or
    /// with a hypothetical last-day close); nothing is appended.
    #[command(after_help = after_help!("espp --db L purchase --preview 2026H1", "espp --db L purchase --preview 2026H1 --close 8.00 --format csv"))]
    Purchase {
        /// The period to preview.
        #[arg(long, value_name = "PERIOD")]
        preview: String,
        /// A hypothetical close on the day after the period's latest price (its last day at
        /// most).
        #[arg(long, value_name = "PRICE")]
        close: Option<String>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// Reports for administrators: a purchase's figures, or the enrolment picture.
    #[command(after_help = after_help!("espp --db L report purchase 2026H1", "espp --db L report enrolment --as-of 2026-12-01 --format csv"))]
    Report {
        #[command(subcommand)]
        report: ReportKind,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// What changes, per employee and per purchase, when the log is folded under other
    /// rules. Exits 0 whatever it finds.
    #[command(after_help = after_help!("espp --db L diff --rules r.json --as-of 2026-06-30"))]
    Diff {
        /// A JSON file of partial rules (as in `plan_adopted`).
        #[arg(long)]
        rules: PathBuf,
        /// Compare the books as of this day.
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        ledger: LedgerOptions,
    },
    /// The event reference: every type, its fields (kind, required or optional, default),
    /// its purpose and an example line; `--format markdown` is docs/events.md.
    #[command(after_help = after_help!("espp events", "espp events --format markdown > docs/events.md"))]
    Events,
    /// A JSON Schema (draft 2020-12) of one event line, for other tools.
    #[command(after_help = after_help!("espp schema > event-line.schema.json"))]
    Schema,
    /// A shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    #[command(after_help = after_help!("espp completions bash > ~/.local/share/bash-completion/completions/espp", "espp completions zsh > \"${fpath[1]}/_espp\""))]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on stdout.
    #[command(after_help = after_help!("espp man > ~/.local/share/man/man1/espp.1"))]
    Man,
}

/// The options of the commands that open a ledger, given after the subcommand (before it,
/// they are the top-level options; given here, they win). `replay`, `events`, `schema`,
/// `completions` and `man` open none, so they neither take nor list them.
#[derive(clap::Args, Debug, Clone, Default)]
struct LedgerOptions {
    /// The ledger directory [env: ESPP_DB] [default: ./espp-ledger].
    #[arg(long = "db", value_name = "DB", global = true)]
    db: Option<PathBuf>,
    /// sled's page cache in MiB [env: ESPP_CACHE_MB] [default: 64].
    #[arg(long = "cache-mb", value_name = "CACHE_MB", global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    cache_mb: Option<u64>,
    /// Wait for a ledger another process holds, up to SECONDS (without a value: as long as
    /// it takes), instead of exiting busy (3) at once [env: ESPP_WAIT].
    #[arg(long = "wait", value_name = "SECONDS", num_args = 0..=1, global = true,
          default_missing_value = "forever", value_parser = cmd::parse_wait)]
    wait: Option<std::time::Duration>,
}

impl Command {
    /// The ledger options given after the subcommand, for the commands that open a ledger.
    fn ledger_options(&self) -> Option<&LedgerOptions> {
        match self {
            Command::Append { ledger, .. }
            | Command::Export { ledger }
            | Command::Import { ledger, .. }
            | Command::Verify { ledger }
            | Command::Log { ledger, .. }
            | Command::Demo { ledger, .. }
            | Command::Statement { ledger, .. }
            | Command::Form3922 { ledger, .. }
            | Command::Dispositions { ledger, .. }
            | Command::State { ledger, .. }
            | Command::Explain { ledger, .. }
            | Command::Purchase { ledger, .. }
            | Command::Report { ledger, .. }
            | Command::Diff { ledger, .. } => Some(ledger),
            Command::Replay { .. }
            | Command::Events
            | Command::Schema
            | Command::Completions { .. }
            | Command::Man => None,
        }
    }

    /// The formats the command writes; the first is its default. Any other is refused.
    fn formats(&self) -> &'static [Format] {
        use Format::*;
        match self {
            Command::Append { .. } | Command::Import { .. } => &[Table, Json],
            Command::Export { .. } => &[Json],
            Command::Verify { .. } | Command::Diff { .. } => &[Table, Json],
            Command::Demo { .. } => &[Table],
            Command::Statement { .. } => &[Table, Json, Csv, Html],
            Command::Log { .. }
            | Command::Form3922 { .. }
            | Command::Dispositions { .. }
            | Command::State { .. }
            | Command::Replay { .. }
            | Command::Purchase { .. }
            | Command::Report { .. } => &[Table, Json, Csv],
            Command::Explain { .. } => &[Table, Json],
            Command::Events => &[Table, Markdown, Json],
            Command::Schema => &[Json],
            Command::Completions { .. } | Command::Man => &[],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Command::Append { .. } => "append",
            Command::Import { .. } => "import",
            Command::Export { .. } => "export",
            Command::Verify { .. } => "verify",
            Command::Log { .. } => "log",
            Command::Demo { .. } => "demo",
            Command::Statement { .. } => "statement",
            Command::Form3922 { .. } => "form3922",
            Command::Dispositions { .. } => "dispositions",
            Command::State { .. } => "state",
            Command::Replay { .. } => "replay",
            Command::Diff { .. } => "diff",
            Command::Explain { .. } => "explain",
            Command::Purchase { .. } => "purchase",
            Command::Report { .. } => "report",
            Command::Events => "events",
            Command::Schema => "schema",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }

    /// The format in force for this command, or a usage failure naming the ones it takes.
    fn format(&self, asked: Option<Format>) -> Result<Format, Failure> {
        let formats = self.formats();
        let Some(asked) = asked else {
            return Ok(formats.first().copied().unwrap_or_default());
        };
        if formats.contains(&asked) {
            return Ok(asked);
        }
        let takes = match formats {
            [] => "no --format (its output has one form)".to_string(),
            [one] => format!("only --format {}", one.name()),
            many => format!(
                "--format {}",
                many.iter().map(|f| f.name()).collect::<Vec<_>>().join("|")
            ),
        };
        Err(Failure::new(
            cmd::exit::USAGE,
            format!(
                "{} does not write {}: it takes {takes}",
                self.name(),
                asked.name()
            ),
        ))
    }
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
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_asked(std::env::args()) => {
            // A usage error of a program that asked for JSON: JSON on stderr too, its first
            // line (clap's usage and tip are for people).
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("usage");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            return report(&Failure::new(cmd::exit::USAGE, message), true);
        }
        Err(e) => e.exit(),
    };
    // The ledger options given after the subcommand win over those before it (or from the
    // environment, or the defaults); from here on `cli.db`, `cli.cache_mb`, `cli.wait` are
    // the ones in force.
    if let Some(l) = cli.command.ledger_options().cloned() {
        if let Some(db) = l.db {
            cli.db = db;
        }
        if let Some(mb) = l.cache_mb {
            cli.cache_mb = mb;
        }
        if l.wait.is_some() {
            cli.wait = l.wait;
        }
    }
    let json = cli.format_asked == Some(Format::Json);
    let result = cli.command.format(cli.format_asked).and_then(|format| {
        cli.format = format;
        run(&cli)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(&f, json),
    }
}

/// Prints a failure (nothing for a reader that went away) and turns it into the exit code.
fn report(f: &Failure, json: bool) -> ExitCode {
    if f.code == 0 {
        return ExitCode::SUCCESS;
    }
    if json {
        for v in f.to_json() {
            eprintln!("{v}");
        }
    } else {
        for line in f.message.lines() {
            eprintln!("espp: {}", cmd::output::printable(line));
        }
    }
    ExitCode::from(f.code)
}

/// Whether the raw arguments ask for `--format json` (for errors found before parsing ends).
fn json_asked(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.iter().any(|a| a == "--format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match &cli.command {
        Command::Events => cmd::docs::events(cli.format, &mut out)?,
        Command::Schema => cmd::docs::schema(&mut out)?,
        Command::Completions { shell } => {
            cmd::docs::completions(*shell, &mut Cli::command(), &mut out)?
        }
        Command::Man => cmd::docs::man(Cli::command(), &mut out)?,
        Command::Append { file, guards, .. } => {
            cmd::append::append(cli, None, file, *guards, &mut out)?
        }
        Command::Import {
            kind, file, guards, ..
        } => cmd::append::append(cli, Some(*kind), file, *guards, &mut out)?,
        Command::Demo {
            employees, seed, ..
        } => cmd::append::demo(cli, *employees, *seed, &mut out)?,
        Command::Export { .. } => read::export(cli, &mut out)?,
        Command::Verify { .. } => read::verify(cli, &mut out)?,
        Command::Log {
            from,
            limit,
            employee,
            event_type,
            from_date,
            to_date,
            ..
        } => {
            let filter = read::LogFilter::new(
                employee.as_deref(),
                event_type.as_deref(),
                from_date.as_deref(),
                to_date.as_deref(),
            )?;
            read::log(cli, *from, *limit, &filter, &mut out)?
        }
        Command::Form3922 {
            year,
            payees,
            issuer,
            ..
        } => read::form3922(cli, *year, payees.as_deref(), issuer.as_deref(), &mut out)?,
        Command::Dispositions { year, .. } => read::dispositions(cli, *year, &mut out)?,
        Command::Statement {
            employee,
            period,
            all,
            out: dir,
            ..
        } => read::statement(
            cli,
            if *all { None } else { employee.as_deref() },
            period.as_deref(),
            dir.as_deref(),
            &mut out,
        )?,
        Command::State {
            when,
            rules,
            employee,
            ..
        } => read::state(cli, when, rules.as_deref(), employee.as_deref(), &mut out)?,
        Command::Replay {
            from_export,
            when,
            rules,
            block_records,
        } => cmd::replay::replay(
            cli,
            from_export,
            when,
            rules.as_deref(),
            usize::try_from(*block_records).unwrap_or(usize::MAX),
            &mut out,
        )?,
        Command::Diff { rules, as_of, .. } => read::diff(cli, rules, as_of.as_deref(), &mut out)?,
        Command::Explain {
            employee,
            period,
            as_of,
            ..
        } => cmd::explain::explain(cli, employee, period.as_deref(), as_of.as_deref(), &mut out)?,
        Command::Report { report, .. } => match report {
            ReportKind::Purchase { period } => {
                cmd::explain::report_purchase(cli, period, &mut out)?
            }
            ReportKind::Enrolment { as_of } => {
                cmd::explain::report_enrolment(cli, as_of.as_deref(), &mut out)?
            }
        },
        Command::Purchase { preview, close, .. } => {
            cmd::explain::preview(cli, preview, close.as_deref(), &mut out)?
        }
    }
    out.flush()?;
    Ok(())
}
