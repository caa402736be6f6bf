//! The pieces every `espp` command shares: exit codes, failures, opening the ledger, folding
//! it with a progress bar, and reading command-line values and `--rules` files.
//!
//! One module per command family does the work (`append`, `read`, `docs`); everything
//! printed goes through `output`.

pub mod append;
pub mod docs;
pub mod explain;
mod lines;
pub mod output;
pub mod read;
pub mod replay;
pub mod tax;

use std::path::Path;

use espp_engine::{Ledger, Options, StoreError};
use espp_events::{Actor, Day, Instant};

use crate::{Cli, When};

/// Exit codes of INTERCHANGE.md.
pub mod exit {
    pub const REFUSED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const BUSY_OR_CONFLICT: u8 = 3;
    pub const DAMAGED: u8 = 4;
    pub const STORAGE: u8 = 5;
}

/// A failure with its exit code; the message may span several lines (one per refused line).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The failure as JSON for `--format json`: one object per line of the message (a refused
    /// file names each of its lines), `{"error", "line", "field", "rule", "exit"}`, with null
    /// where a part is unknown. Messages are written `line N: field `F`: RULE`, so the parts
    /// are read back off them.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.message
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|text| {
                let (line, rest) = match text.strip_prefix("line ").and_then(|r| r.split_once(": "))
                {
                    Some((n, rest)) => match n.parse::<u64>() {
                        Ok(n) => (Some(n), rest),
                        Err(_) => (None, text),
                    },
                    None => (None, text),
                };
                let (field, rule) = match rest
                    .strip_prefix("field `")
                    .and_then(|r| r.split_once("`: "))
                {
                    Some((f, rule)) => (Some(f), Some(rule)),
                    None => (None, line.map(|_| rest)),
                };
                serde_json::json!({
                    "error": text,
                    "line": line,
                    "field": field,
                    "rule": rule,
                    "exit": self.code,
                })
            })
            .collect()
    }

    /// The same failure with `note` added as a line of its own.
    pub fn with_note(mut self, note: impl AsRef<str>) -> Self {
        self.message.push('\n');
        self.message.push_str(note.as_ref());
        self
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Input { .. }
            | StoreError::Rejected { .. }
            | StoreError::Lines(_)
            | StoreError::Repeated { .. } => exit::REFUSED,
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

pub fn options(cli: &Cli) -> Options {
    Options {
        cache_bytes: cli.cache_mb.max(1) << 20,
        checkpoint_every: cli.checkpoint_every,
        sled_flusher: true,
        accounts_checkpoint_after: cli.accounts_checkpoint_after,
    }
}

/// A ledger opened for a read command, with the private copy it may read (dropped after it).
#[derive(Debug)]
pub struct Opened {
    ledger: Ledger,
    _copy: Option<tempfile::TempDir>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        // A read command's process ends with it: sled is flushed, not closed. An error here
        // changes nothing already answered; a normal close then tries again.
        let _ = self.ledger.leave();
    }
}

impl std::ops::Deref for Opened {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

impl std::ops::DerefMut for Opened {
    fn deref_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
}

/// Opens the existing ledger of `--db` for a read command.
pub fn open(cli: &Cli) -> Result<Opened, Failure> {
    open_with(cli, Ledger::open)
}

/// Opens `--db` for `verify` and `export`, which read a damaged ledger as far as it goes.
pub fn open_salvage(cli: &Cli) -> Result<Opened, Failure> {
    open_with(cli, Ledger::open_salvage)
}

/// Opens `--db` with `how`. sled opens every database for writing, so a read-only ledger
/// (an auditor's copy with its write bits taken away, or on a read-only mount) is read
/// through a private temporary copy, said so on stderr; the ledger itself is not touched.
fn open_with(
    cli: &Cli,
    how: fn(&Path, &Options) -> Result<Ledger, StoreError>,
) -> Result<Opened, Failure> {
    let (path, copy) = if read_only(&cli.db) {
        let tmp = tempfile::tempdir()?;
        let to = tmp.path().join("ledger");
        copy_dir(&cli.db, &to).map_err(|e| {
            Failure::new(
                exit::STORAGE,
                format!(
                    "{} is read-only, and copying it to read failed: {e}",
                    cli.db.display()
                ),
            )
        })?;
        let note = format!(
            "the ledger at {} is read-only: reading a private copy of it",
            cli.db.display()
        );
        if cli.format == crate::Format::Json {
            eprintln!("{}", serde_json::json!({ "note": note }));
        } else {
            eprintln!("espp: {note}");
        }
        (to, Some(tmp))
    } else {
        (cli.db.clone(), None)
    };
    // Nothing to clean, so no flusher and its fsyncs (see `Options::sled_flusher`).
    let options = Options {
        sled_flusher: false,
        ..options(cli)
    };
    let ledger = waiting(cli, || how(&path, &options))?;
    Ok(Opened {
        ledger,
        _copy: copy,
    })
}

/// Whether the ledger directory cannot be written: no write bit on it or its `log/` (honoured
/// even for root: taking them away is how an auditor marks a copy as not to be touched), or
/// a write refused by the system (a read-only mount).
pub fn read_only(db: &Path) -> bool {
    let no_write_bits = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().readonly());
    if !db.join("log").is_dir() {
        return false; // missing: the open says so
    }
    no_write_bits(db)
        || no_write_bits(&db.join("log"))
        || std::fs::OpenOptions::new()
            .append(true)
            .open(db.join("espp.lock"))
            .is_err_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            })
}

/// Copies a directory tree, every copy writable by its owner (sled opens files for writing).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// `--known-at`'s value: an RFC 3339 instant with any offset (turned to UTC), or a bare day
/// (its start, 00:00 UTC).
pub fn parse_known_at(s: &str) -> Result<Instant, espp_events::ValueError> {
    if let Ok(day) = Day::parse(s) {
        let start = day.date().and_time(chrono::NaiveTime::MIN).and_utc();
        return Instant::from_datetime(start)
            .ok_or_else(|| espp_events::ValueError(format!("{s} is out of range")));
    }
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => Instant::from_datetime(t.with_timezone(&chrono::Utc))
            .ok_or_else(|| espp_events::ValueError(format!("{s} is out of range"))),
        Err(_) => Err(espp_events::ValueError(format!(
            "expected a day (2026-04-01, its start in UTC) or an RFC 3339 instant (2026-04-01T09:30:00Z, 2026-04-01T09:30:00-05:00), got {}",
            espp_events::value::shown(s)
        ))),
    }
}

/// `--wait`'s value: whole seconds, or `forever`.
pub fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    if s == "forever" {
        return Ok(std::time::Duration::MAX);
    }
    s.parse::<u64>()
        .map(std::time::Duration::from_secs)
        .map_err(|_| format!("expected whole seconds or nothing (as long as it takes), got {s:?}"))
}

/// Runs `open` until the ledger is not busy or `--wait` runs out (at once without it).
pub fn waiting<T>(
    cli: &Cli,
    mut open: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, Failure> {
    let start = std::time::Instant::now();
    let mut told = false;
    loop {
        match open() {
            Err(StoreError::Busy(path)) => {
                let Some(limit) = cli.wait.filter(|w| start.elapsed() < *w) else {
                    return Err(StoreError::Busy(path).into());
                };
                if !told && cli.format != crate::Format::Json {
                    eprintln!(
                        "espp: waiting for the ledger at {} (another process has it open{})",
                        path.display(),
                        if limit == std::time::Duration::MAX {
                            String::new()
                        } else {
                            format!("; up to {} s", limit.as_secs())
                        }
                    );
                    told = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return Ok(other?),
        }
    }
}

pub fn actor(cli: &Cli) -> Result<Actor, Failure> {
    let name = match &cli.actor {
        Some(a) => a.clone(),
        None => whoami::username(),
    };
    Actor::new(name).map_err(|e| Failure::new(exit::USAGE, format!("--actor: {e}")))
}

pub fn parse_arg<T>(
    flag: &str,
    s: &str,
    parse: fn(&str) -> Result<T, espp_events::ValueError>,
) -> Result<T, Failure> {
    parse(s).map_err(|e| Failure::new(exit::USAGE, format!("{flag}: {e}")))
}

impl When {
    pub fn query(&self, rules: Option<&Path>) -> Result<espp_replay::Query, Failure> {
        Ok(espp_replay::Query {
            as_of: self
                .as_of
                .as_deref()
                .map(|s| parse_arg("--as-of", s, Day::parse))
                .transpose()?,
            known_at: self
                .known_at
                .as_deref()
                .map(|s| parse_arg("--known-at", s, parse_known_at))
                .transpose()?,
            through_seq: self.through_seq,
            rules: rules.map(read_rules).transpose()?,
        })
    }
}

/// A spinner with `message` and the time taken, on stderr when it is a terminal (never in a
/// pipe or a file): for work whose length is not known ahead. Clear it when done.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar of `total` steps on stderr when it is a terminal (never in a pipe or a file).
pub fn bar(total: u64, message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_message(message.to_string());
    bar
}

/// Folds the ledger for `query`, with a progress bar on a terminal for long logs.
pub fn fold_ledger(
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

/// The latest record `query` could see in transaction time (`--through-seq`,
/// `--known-at`; `--as-of` does not hide records, only their days), as the projection's
/// `head` `(seq, hash)`; None for an empty log.
pub fn head_seen(
    ledger: &Ledger,
    query: &espp_replay::Query,
) -> Result<Option<(u64, String)>, Failure> {
    let last = query
        .through_seq
        .map_or(ledger.head_seq(), |n| n.min(ledger.head_seq()));
    if query.known_at.is_none() {
        if last == 0 {
            return Ok(None);
        }
        if last == ledger.head_seq() {
            return Ok(Some((last, ledger.head_hash().to_string())));
        }
        return Ok(ledger.record(last)?.map(|r| (r.seq, r.hash.to_string())));
    }
    let mut seen = None;
    for r in ledger.records() {
        let r = r?;
        if r.seq > last {
            break;
        }
        if query.known_at.is_none_or(|t| r.recorded_at <= t) {
            seen = Some((r.seq, r.hash.to_string()));
        }
    }
    Ok(seen)
}

/// [`head_seen`] of records in memory (an export).
pub fn head_seen_in(
    records: &[espp_events::Record],
    query: &espp_replay::Query,
) -> Option<(u64, String)> {
    records
        .iter()
        .rfind(|r| {
            query.through_seq.is_none_or(|n| r.seq <= n)
                && query.known_at.is_none_or(|t| r.recorded_at <= t)
        })
        .map(|r| (r.seq, r.hash.to_string()))
}

/// The projection of a fold with its provenance (`known_at`, `head`) and the digest that
/// covers them.
pub fn projection_of(
    state: &espp_projections::State,
    query: &espp_replay::Query,
    head: Option<(u64, String)>,
) -> serde_json::Value {
    let mut v = state.projection(query.as_of);
    espp_projections::with_provenance(&mut v, query.known_at.map(|t| t.to_string()), head);
    v
}

/// Reads a `--rules` file: a JSON object of partial plan rules, checked like `plan_adopted`'s.
/// A rules file is one small JSON object; anything longer is refused unread (`--rules
/// /dev/zero` must not fill the memory).
pub const MAX_RULES_BYTES: u64 = 64 * 1024;

pub fn read_rules(path: &Path) -> Result<espp_events::RulesPatch, Failure> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        Failure::new(exit::USAGE, format!("cannot read {}: {e}", path.display()))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_RULES_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_RULES_BYTES {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "{}: longer than {MAX_RULES_BYTES} bytes; a rules file is one small JSON object",
                path.display()
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::new(
            exit::REFUSED,
            format!(
                "{}: not UTF-8 text (byte {})",
                path.display(),
                e.utf8_error().valid_up_to() + 1
            ),
        )
    })?;
    let patch = espp_events::json::parse_rules(&text)
        .map_err(|e| Failure::new(exit::REFUSED, format!("{}: {e}", path.display())))?;
    espp_projections::check_overrides(&patch)
        .map_err(|e| Failure::new(exit::REFUSED, format!("{}: {e}", path.display())))?;
    Ok(patch)
}
