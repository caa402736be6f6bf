//! `espp replay --from-export`: an auditor's fold of an exported file, without the database,
//! in memory bounded whatever the file's length (issue 15: holding the whole export's
//! records took 587 MB at 1M events).
//!
//! The file is read twice. The first pass reads only each line's `date` and notes, for each
//! block of [`BLOCK`] records, the earliest day it holds. The second pass parses every line,
//! checks the hash chain (a break is damage, exit 4) and folds the records a block at a time:
//! a record is folded once no later block holds an earlier day (`OrderedFold`'s bound, as the
//! ledger's own folds take it from their chunks' day summaries), so only the records waiting
//! on a back-dated one are held. Each block's earliest day is checked against the first
//! pass's as it comes: a file changed between the passes (or a line whose `date` read alone
//! is not its record's) is refused. Nothing is written before the whole file has passed, so
//! a refusal found late in the file leaves no output, as when the file was read whole.
//!
//! Standard input (`-`) cannot be read twice: it is read once into memory, as before.

use std::io::Write;
use std::path::Path;

use espp_engine::guards::Refusals;
use espp_engine::{StoreError, StreamLine};
use espp_events::{parse_line, Day, Hash, Line, Record};
use espp_replay::{OrderedFold, Query};

use super::lines::{open_input, Input, JsonLines, Text};
use super::output::print_projection;
use super::{exit, Failure};
use crate::{Cli, Format, When};

/// Records per block of the first pass's day summary (8 bytes of memory a block), unless
/// `--block-records` says otherwise.
pub const BLOCK: usize = 4096;

/// `espp replay --from-export`.
pub fn replay(
    cli: &Cli,
    from_export: &Path,
    when: &When,
    rules: Option<&Path>,
    block: usize,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let query = when.query(rules)?;
    let (state, head) = if from_export.as_os_str() == "-" {
        let records: Vec<Record> = Chain::new()
            .records(super::append::read_lines(from_export)?.into_iter().map(Ok))
            .collect::<Result<_, _>>()?;
        let head = super::head_seen_in(&records, &query);
        (fold(from_export, records, query.clone())?, head)
    } else {
        fold_twice(from_export, &query, block)?
    };
    if cli.format == Format::Json {
        return super::read::write_projection_json(&state, &query, head, out);
    }
    let projection = super::projection_of(&state, &query, head);
    print_projection(out, cli.format, &projection, state.day())?;
    Ok(())
}

/// The two passes over a file (see the module's doc): the state and the head the query saw.
fn fold_twice(
    file: &Path,
    query: &Query,
    block_records: usize,
) -> Result<(espp_projections::State, Option<(u64, String)>), Failure> {
    let earliest = earliest_days(file, block_records)?;
    // The earliest day of every block after each one: what a block's records wait for.
    let mut later: Vec<Option<Day>> = vec![None; earliest.len()];
    for b in (0..earliest.len().saturating_sub(1)).rev() {
        let next = earliest[b + 1];
        later[b] = Some(later[b + 1].map_or(next, |l| l.min(next)));
    }
    // Second pass: the lines read, parsed and chained a block at a time on a thread of their
    // own, a block or two ahead of the fold on this one.
    let changed = || {
        Failure::new(
            exit::REFUSED,
            format!(
                "{}: the file changed while it was read; replay it again",
                file.display()
            ),
        )
    };
    let lines = JsonLines::new(open_input(file)?);
    let mut fold = OrderedFold::from_start(query.clone());
    let mut head = None;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Record>, Failure>>(2);
    let blocks = std::thread::scope(|s| {
        s.spawn(move || read_blocks(file, lines, block_records, &tx));
        let mut b = 0usize;
        for block in rx {
            let block = block?;
            let least = block.iter().map(|r| r.date).min();
            if least != earliest.get(b).copied() {
                return Err(changed());
            }
            if let Some(r) = block.iter().rev().find(|r| {
                query.through_seq.is_none_or(|n| r.seq <= n)
                    && query.known_at.is_none_or(|t| r.recorded_at <= t)
            }) {
                head = Some((r.seq, r.hash.to_string()));
            }
            let bound = later.get(b).copied().flatten();
            fold.push(block, bound).map_err(|e| fold_failure(file, e))?;
            b += 1;
        }
        Ok(b)
    })?;
    if blocks != earliest.len() {
        return Err(changed());
    }
    let state = fold.finish().map_err(|e| fold_failure(file, e))?;
    Ok((state, head))
}

/// The first pass: the earliest day of each block of `block_records` records, read from
/// each line's `date` alone (a line whose date is not plainly there is parsed whole; one that
/// does not parse is left to the second pass, which refuses it).
fn earliest_days(file: &Path, block_records: usize) -> Result<Vec<Day>, Failure> {
    #[derive(serde::Deserialize)]
    struct Dated<'a> {
        #[serde(borrow)]
        date: &'a str,
    }
    let mut input = JsonLines::new(open_input(file)?);
    let mut earliest: Vec<Day> = Vec::new();
    let mut records = 0usize;
    while let Some(text) = input.read_text()? {
        let Text::Line(_, text) = text else { continue };
        let quick = serde_json::from_str::<Dated<'_>>(text)
            .ok()
            .and_then(|d| Day::parse(d.date).ok());
        let date = match quick {
            Some(d) => d,
            None => match parse_line(text) {
                Ok(Line::Enveloped(r)) => r.date,
                Ok(Line::Bare(e)) => e.date,
                Err(_) => continue,
            },
        };
        if records.is_multiple_of(block_records) {
            earliest.push(date);
        } else if let Some(e) = earliest.last_mut() {
            *e = (*e).min(date);
        }
        records += 1;
    }
    Ok(earliest)
}

/// The second pass's reader: sends the file's records in blocks, each checked against the
/// one before it, or the failure that ends the read. As the whole file was refused before
/// (issue 7), every line refused on its own is listed, and those come before a break in the
/// chain: after the first problem the rest is read only for refused lines.
fn read_blocks(
    file: &Path,
    lines: JsonLines<Input>,
    block_records: usize,
    tx: &std::sync::mpsc::SyncSender<Result<Vec<Record>, Failure>>,
) {
    let mut chain = Chain::new();
    let mut block = Vec::with_capacity(block_records.min(BLOCK));
    let mut refusals = Refusals::new();
    let mut broken: Option<Failure> = None;
    let mut any = false;
    for item in lines {
        let (line, l) = match item {
            Ok(StreamLine::Line(line, l)) => (line, l),
            Ok(StreamLine::Refused(line, why)) => {
                refusals.push(line, why);
                continue;
            }
            Err(e) => {
                let _ = tx.send(Err(e.into()));
                return;
            }
        };
        any = true;
        if !refusals.is_empty() || broken.is_some() {
            continue;
        }
        match chain.check(line, l) {
            Ok(r) => block.push(r),
            Err(e) => {
                broken = Some(e);
                continue;
            }
        }
        // The fold gone (it failed): nothing more to read.
        if block.len() == block_records && tx.send(Ok(std::mem::take(&mut block))).is_err() {
            return;
        }
    }
    let end = if !refusals.is_empty() {
        Err(StoreError::Lines(refusals).into())
    } else if let Some(e) = broken {
        Err(e)
    } else if !any {
        Err(Failure::new(
            exit::REFUSED,
            format!(
                "{}: no records to replay (the input is empty)",
                file.display()
            ),
        ))
    } else {
        Ok(block)
    };
    if !matches!(&end, Ok(b) if b.is_empty()) {
        let _ = tx.send(end);
    }
}

/// Folds records held in memory (standard input).
fn fold(
    file: &Path,
    records: Vec<Record>,
    query: Query,
) -> Result<espp_projections::State, Failure> {
    espp_replay::fold_records(records, query).map_err(|e| fold_failure(file, e))
}

fn fold_failure(file: &Path, e: espp_replay::FoldError) -> Failure {
    Failure::new(exit::REFUSED, format!("{}: {e}", file.display()))
}

/// The hash chain of an export as its lines are read: each must be an exported record that
/// follows the one before it.
struct Chain {
    prev: Hash,
    expected: u64,
}

impl Chain {
    fn new() -> Self {
        Chain {
            prev: Hash::ZERO,
            expected: 1,
        }
    }

    /// The records of `lines`, each checked ([`Chain::check`]).
    fn records<'c>(
        &'c mut self,
        lines: impl Iterator<Item = Result<(usize, Line), Failure>> + 'c,
    ) -> impl Iterator<Item = Result<Record, Failure>> + 'c {
        lines.map(move |item| {
            let (line, l) = item?;
            self.check(line, l)
        })
    }

    /// The record of `line` if it is an exported record that follows the one before; else
    /// the failure naming its line (damage, exit 4, for one missing, altered or out of place).
    fn check(&mut self, line: usize, l: Line) -> Result<Record, Failure> {
        let Line::Enveloped(r) = l else {
            return Err(Failure::new(
                exit::REFUSED,
                format!("line {line}: not an exported record (no envelope)"),
            ));
        };
        let (expected, prev) = (self.expected, self.prev);
        if r.seq != expected || r.prev_hash != prev || r.compute_hash() != r.hash {
            return Err(Failure::new(
                exit::DAMAGED,
                format!("line {line}: seq {} is missing, altered or out of place (expected seq {expected} after hash {prev})", r.seq),
            ));
        }
        self.prev = r.hash;
        self.expected += 1;
        Ok(r)
    }
}
