//! The write commands: `append`, `import` and `demo`, with the guards that stop a mistake at
//! the door (INTERCHANGE.md): every bad line listed at once, dates typed years ahead, the
//! same file twice, a mistyped `--db` that would leave a stray ledger behind, and
//! `--dry-run` to see before writing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::Datelike;
use espp_engine::guards::Refusals;
use espp_engine::{now, Batch, KeptBook, Ledger, StoreError, StreamLine, StreamOptions};
use espp_events::{Actor, Line};
use serde_json::Value;

use super::output::{print_append_report, print_diff, print_state, print_statements};
use super::{actor, exit, options, Failure};
use crate::{Cli, Format, ImportKind};

use super::lines::{open_input, Input, JsonLines};

/// The switches of `append` and `import`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Guards {
    /// Judge and fold the batch exactly as a real append would, print what it would change
    /// and the seqs it would take, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept events dated more than 31 days after today.
    #[arg(long, env = "ESPP_ALLOW_FUTURE", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_future: bool,
    /// Store the batch even though an equal one (the same events in the same order) is
    /// stored already.
    #[arg(long)]
    pub again: bool,
    /// Lines of a JSON Lines input judged and written at a time: a longer file is appended
    /// as a stream of pieces in bounded memory, still acknowledged once, all or nothing
    /// (`store_stream.rs`). Hidden: for tests, which use small pieces.
    #[arg(long, hide = true, env = "ESPP_PIECE_LINES", default_value_t = espp_engine::PIECE_LINES as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub piece_lines: u64,
}

/// `espp append FILE` and `espp import KIND FILE`.
pub fn append(
    cli: &Cli,
    kind: Option<ImportKind>,
    file: &Path,
    guards: Guards,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let new_ledger = !cli.db.join("log").is_dir();
    let result = std::thread::scope(|s| {
        let opening = Opening::start(s, cli, new_ledger || guards.dry_run);
        append_inner(cli, kind, file, guards, new_ledger, out, opening)
    });
    match result {
        Err(f) if new_ledger && f.code != 0 => Err(f.with_note(format!(
            "there was no ledger at {}: nothing was created",
            cli.db.display()
        ))),
        other => other,
    }
}

/// An existing ledger opened for an append, and made ready to judge a batch (its acceptance
/// book loaded: `Ledger::prepare_to_append`), on a second thread while this one reads and
/// parses the input (issue 15: at 10,000 employees ~15 ms of parsing and ~60 ms of opening
/// and loading, one after the other in a ~130 ms payday append).
///
/// Nothing changes for the user: the input's refusals still come first (the opened ledger
/// is then closed, having written nothing but sled's own housekeeping, as any open does); a
/// ledger another process holds is not waited for here but by [`Opening::ledger`], as
/// before; and an error in opening or loading is the one the append would have given.
/// Not for a new ledger (a refused input must not create one) nor a dry run (it opens a
/// read-only ledger on a copy).
struct Opening<'s>(Option<std::thread::ScopedJoinHandle<'s, Result<Ledger, StoreError>>>);

impl<'s> Opening<'s> {
    fn start<'e>(scope: &'s std::thread::Scope<'s, 'e>, cli: &'s Cli, not_now: bool) -> Self {
        if not_now || super::read_only(&cli.db) {
            return Opening(None);
        }
        Opening(Some(scope.spawn(move || {
            // The book file (the latest accounts checkpoint's accounts) is read and decoded
            // beside sled's open (each ~20–25 ms at 10,000 employees); the load uses it
            // only if it holds the very checkpoint the load starts from.
            let kept = scope.spawn(|| KeptBook::read(&cli.db));
            let opened = Ledger::open_or_create(&cli.db, &options(cli));
            let kept = kept.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            let mut ledger = opened?;
            ledger.prepare_to_append(kept)?;
            Ok(ledger)
        })))
    }

    /// The ledger opened (waiting for it as `--wait` says if another process held it).
    fn ledger(self, cli: &Cli) -> Result<Ledger, Failure> {
        match self.0.map(std::thread::ScopedJoinHandle::join) {
            Some(Ok(Ok(ledger))) => Ok(ledger),
            Some(Ok(Err(StoreError::Busy(_)))) | None => {
                super::waiting(cli, || Ledger::open_or_create(&cli.db, &options(cli)))
            }
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

fn append_inner(
    cli: &Cli,
    kind: Option<ImportKind>,
    file: &Path,
    guards: Guards,
    new_ledger: bool,
    out: &mut impl Write,
    opening: Opening,
) -> Result<(), Failure> {
    let recorded_at = now();
    let (lines, mut refusals) = match kind {
        Some(kind) => read_csv(kind, file)?,
        None => {
            // Up to a piece of lines is read first: a file that fits is one batch, as it
            // always was (and a dry run reads it all); a longer one streams.
            let mut input = JsonLines::new(open_input(file)?);
            let piece = usize::try_from(guards.piece_lines).unwrap_or(usize::MAX);
            // Room for about as many lines as the file can hold (a line of an event is over
            // 64 bytes), up to a piece: not grown by doubling (each step a copy of every
            // line into fresh pages; issue 15, a payday's 10,000). Only what is used is
            // touched.
            let guess = std::fs::metadata(file).map_or(0, |m| m.len() / 64);
            let mut first = Vec::with_capacity(
                usize::try_from(guess)
                    .unwrap_or(usize::MAX)
                    .min(piece.saturating_add(1)),
            );
            for item in input.by_ref() {
                first.push(item?);
                if first.len() > piece && !guards.dry_run {
                    return append_streamed(cli, first, input, guards, new_ledger, out, opening);
                }
            }
            collect_lines(file, first)?
        }
    };
    let mut batch = Batch {
        lines,
        actor: actor(cli)?,
        allow_future: guards.allow_future,
        again: guards.again,
        chained: None,
    };
    // Every line refused on its own, at once: malformed ones and those dated years ahead.
    refusals.merge(batch.future_refusals(recorded_at));
    if !refusals.is_empty() {
        return Err(StoreError::Lines(refusals).into());
    }
    if guards.dry_run {
        return dry_run(cli, batch, recorded_at, new_ledger, out);
    }
    let piece = usize::try_from(guards.piece_lines).unwrap_or(usize::MAX);
    if batch.lines.len() > piece {
        // A CSV import longer than a piece: its rows are read whole (the CSV reader checks
        // duplicate business keys across the file), its records, book and writes stream.
        let rows = batch.lines.into_iter().map(|(n, l)| StreamLine::Line(n, l));
        return append_streamed(
            cli,
            rows.collect(),
            JsonLines::empty(),
            guards,
            new_ledger,
            out,
            opening,
        );
    }
    // While the other thread opens the ledger: the records chained from the head the head
    // file names, used if the ledger's head is still that one once it is locked.
    batch.chain_ahead(&cli.db, recorded_at);
    let count = batch.lines.len();
    write_to_ledger(
        cli,
        new_ledger,
        out,
        opening,
        &format!("appending {count} line(s)"),
        |ledger, _| ledger.append(batch, recorded_at),
    )
}

/// Opens the ledger for writing (creating it if new), runs `append` on it with a spinner
/// showing `message`, and reports the outcome; a refused first batch removes the new ledger.
fn write_to_ledger(
    cli: &Cli,
    new_ledger: bool,
    out: &mut impl Write,
    opening: Opening,
    message: &str,
    append: impl FnOnce(
        &mut Ledger,
        &indicatif::ProgressBar,
    ) -> Result<espp_engine::AppendReport, StoreError>,
) -> Result<(), Failure> {
    if super::read_only(&cli.db) {
        return Err(Failure::new(
            exit::STORAGE,
            format!(
                "the ledger at {} is read-only (no write permission): nothing was appended",
                cli.db.display()
            ),
        ));
    }
    let dir_existed = cli.db.exists();
    let mut ledger = opening.ledger(cli)?;
    let spin = super::spinner(message);
    let appended = append(&mut ledger, &spin);
    spin.finish_and_clear();
    match appended {
        Ok(report) => {
            // The batch is durable and acknowledged: the process ends with the ledger, so
            // sled is flushed and left unclosed (its close would only fsync its file again),
            // and nothing of the ledger is freed. A failure here loses nothing acknowledged;
            // the ledger is then dropped, and sled closed, as usual.
            let _ = ledger.leave_for_exit();
            if new_ledger {
                eprintln!("espp: created a new ledger at {}", cli.db.display());
            }
            print_append_report(out, cli.format, &report, false)?;
            Ok(())
        }
        Err(e) => {
            drop(ledger);
            if new_ledger {
                remove_new_ledger(&cli.db, dir_existed);
            }
            Err(e.into())
        }
    }
}

/// A JSON Lines input longer than a piece: appended as a stream (`Ledger::append_stream`),
/// `first` being the items read already and `rest` what follows.
fn append_streamed(
    cli: &Cli,
    first: Vec<StreamLine>,
    rest: JsonLines<Input>,
    guards: Guards,
    new_ledger: bool,
    out: &mut impl Write,
    opening: Opening,
) -> Result<(), Failure> {
    let recorded_at = now();
    let options = StreamOptions {
        actor: actor(cli)?,
        allow_future: guards.allow_future,
        again: guards.again,
        piece_lines: usize::try_from(guards.piece_lines).unwrap_or(usize::MAX),
    };
    let input =
        first.into_iter().map(Ok).chain(rest.map(|item| {
            item.map_err(|e| StoreError::Io(format!("reading the input failed: {e}")))
        }));
    write_to_ledger(
        cli,
        new_ledger,
        out,
        opening,
        "appending",
        |ledger, spin| {
            ledger.append_stream(input, &options, recorded_at, &mut |n| {
                spin.set_message(format!(
                    "appending: {n} record(s) written, not yet acknowledged"
                ))
            })
        },
    )
}

/// Removes what opening a new ledger created, after its first batch was refused: the whole
/// directory if it did not exist before, else only the ledger's own entries in it.
fn remove_new_ledger(db: &Path, dir_existed: bool) {
    // sled's background jobs may hold its files a moment after the drop; removal is best
    // effort (a leftover empty ledger is harmless, a refused batch was never stored).
    if dir_existed {
        // What opening a ledger creates in its directory: sled's files, the lock, the head.
        let _ = std::fs::remove_dir_all(db.join("log"));
        let _ = std::fs::remove_file(db.join("espp.lock"));
        let _ = std::fs::remove_file(db.join("head"));
        // And what an append's checkpoints may write beside it (the book file).
        let _ = std::fs::remove_file(db.join("book"));
        let _ = std::fs::remove_file(db.join("book.new"));
    } else {
        let _ = std::fs::remove_dir_all(db);
    }
}

/// `--dry-run`: the batch judged and folded on the ledger (or, for a missing one, on an
/// empty ledger in a temporary directory), the changes printed as `diff` prints them.
fn dry_run(
    cli: &Cli,
    batch: Batch,
    recorded_at: espp_events::Instant,
    new_ledger: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let run = if new_ledger {
        let scratch = tempfile::tempdir()?;
        let path: PathBuf = scratch.path().join("ledger");
        let mut ledger = super::waiting(cli, || Ledger::open_or_create(&path, &options(cli)))?;
        ledger.append_dry_run(batch, recorded_at)?
    } else {
        // Through `open`, so that a read-only ledger is judged on a private copy.
        super::open(cli)?.append_dry_run(batch, recorded_at)?
    };
    let d = espp_replay::diff(&run.before.projection(None), &run.after.projection(None));
    if cli.format == Format::Json {
        let (first, last) = run.report.stored.unzip();
        let v = serde_json::json!({
            "dry_run": true,
            "stored": run.report.stored_count(),
            "first_seq": first,
            "last_seq": last,
            "skipped": run.report.skipped.iter().map(|(line, id, seq)| serde_json::json!({"line": line, "id": id.to_string(), "seq": seq})).collect::<Vec<Value>>(),
            "changes": d,
        });
        writeln!(out, "{v}")?;
    } else {
        if new_ledger {
            writeln!(
                out,
                "dry run: no ledger at {} yet; judged as its first batch",
                cli.db.display()
            )?;
        }
        print_append_report(out, cli.format, &run.report, true)?;
        writeln!(out)?;
        print_diff(out, &d)?;
        writeln!(out, "\ndry run: nothing was written")?;
    }
    Ok(())
}

/// `espp demo`: a demo company's two years, appended a month at a time.
pub fn demo(cli: &Cli, employees: u32, seed: u64, out: &mut impl Write) -> Result<(), Failure> {
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
    let mut ledger = super::waiting(cli, || Ledger::open_or_create(&cli.db, &options(cli)))?;
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
    let bar = super::bar(batches.len() as u64, "appending the demo a month at a time");
    for batch in batches {
        bar.inc(1);
        let mut batch = Batch::of_events(batch, actor.clone());
        // The demo company's calendar (2026-2027) is fixed, whatever today is.
        batch.allow_future = true;
        let report = ledger.append(batch, now())?;
        stored += report.stored_count();
        skipped += report.skipped.len();
    }
    bar.finish_and_clear();
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
    print_state(out, &projection, state.day())?;
    for who in ["E001", "E010", "E017"] {
        if let Ok(rows) = state.statement(who, None) {
            writeln!(out, "\nstatements of {who}:")?;
            print_statements(out, Format::Table, &rows)?;
        }
    }
    writeln!(out, "\nnext: espp --db {} log --limit 20 | state --format json | statement E002 | verify | export", cli.db.display())?;
    Ok(())
}

/// Reads a CSV import, with a progress bar on a terminal for files of many lines.
fn read_csv(kind: ImportKind, file: &Path) -> Result<(Vec<(usize, Line)>, Refusals), Failure> {
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

/// Reads a JSON Lines file into numbered, parsed lines, refusing the whole file at its first
/// bad line (exports, which must be intact).
pub fn read_lines(file: &Path) -> Result<Vec<(usize, Line)>, Failure> {
    let (lines, refusals) = read_lines_listing(file)?;
    if !refusals.is_empty() {
        return Err(StoreError::Lines(refusals).into());
    }
    Ok(lines)
}

/// Reads a JSON Lines file into numbered, parsed lines; blank lines are skipped, a UTF-8
/// byte-order mark before the first line is ignored, and every line refused on its own (not
/// UTF-8, longer than [`MAX_LINE_BYTES`](super::lines::MAX_LINE_BYTES), not a valid event) is
/// listed.
fn read_lines_listing(file: &Path) -> Result<(Vec<(usize, Line)>, Refusals), Failure> {
    let items = JsonLines::new(open_input(file)?).collect::<Result<Vec<_>, _>>()?;
    collect_lines(file, items)
}

/// The parsed lines and the refusals of a whole input's items; an input without a line is
/// refused.
fn collect_lines(
    file: &Path,
    items: Vec<StreamLine>,
) -> Result<(Vec<(usize, Line)>, Refusals), Failure> {
    let (out, refusals) = split_items(items);
    if out.is_empty() && refusals.is_empty() {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "{}: no events to append (the input is empty)",
                file.display()
            ),
        ));
    }
    Ok((out, refusals))
}

/// Parsed lines one way, refused ones the other.
///
/// Collected in place: a `StreamLine` and a `(usize, Line)` are the same size, so the
/// parsed lines stay in the memory they were read into (issue 15: a payday's 10,000 lines
/// are ~2.6 MB, and fresh pages cost ~8 µs each on the machine measured).
fn split_items(items: Vec<StreamLine>) -> (Vec<(usize, Line)>, Refusals) {
    let mut refusals = Refusals::new();
    let out = items
        .into_iter()
        .filter_map(|item| match item {
            StreamLine::Line(n, l) => Some((n, l)),
            StreamLine::Refused(n, m) => {
                refusals.push(n, m);
                None
            }
        })
        .collect();
    (out, refusals)
}

/// Every line of any reader, parsed (the whole input; tests).
#[cfg(test)]
fn parse_lines(input: impl std::io::BufRead) -> Result<(Vec<(usize, Line)>, Refusals), Failure> {
    let items = JsonLines::new(input).collect::<Result<Vec<_>, _>>()?;
    Ok(split_items(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lines::MAX_LINE_BYTES;

    #[test]
    fn every_bad_line_is_listed_with_its_own_number() {
        let input = "\u{feff}{\"type\":\"stockholders_approved\",\"date\":\"2026-01-02\"}\n\
                     not json\n\
                     \n\
                     {\"type\":\"stockholders_approved\",\"date\":\"2026-02-30\"}\r\n\
                     {\"type\":\"stockholders_approved\",\"date\":\"2026-01-03\"}\n";
        let (lines, refusals) = parse_lines(input.as_bytes()).expect("reads");
        assert_eq!(
            lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![1, 5]
        );
        let listed: Vec<usize> = refusals.listed().iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, vec![2, 4]);
        assert!(refusals.listed()[1].1.contains("date"));
    }

    #[test]
    fn a_line_past_the_limit_is_refused_and_the_next_is_read() {
        let long = format!(
            "{{\"type\":\"stockholders_approved\",\"date\":\"2026-01-02\",\"x\":\"{}\"}}\n",
            "a".repeat(MAX_LINE_BYTES * 3)
        );
        let input =
            format!("{long}{{\"type\":\"stockholders_approved\",\"date\":\"2026-01-03\"}}\n");
        let (lines, refusals) = parse_lines(input.as_bytes()).expect("reads");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, 2);
        assert_eq!(refusals.first_line(), Some(1));
        assert!(refusals.listed()[0].1.contains("longer than"));
    }
}
