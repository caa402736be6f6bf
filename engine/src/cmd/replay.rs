//! `espp replay --from-export`: an auditor's fold of an exported file, without the database,
//! in memory bounded whatever the file's length (issue 15: holding the whole export's
//! records took 587 MB at 1M events).
//!
//! The file is read twice. The first pass checks the hash chain (a break is damage, exit 4,
//! before anything is folded) and notes, for each block of [`BLOCK`] records, the earliest
//! day it holds. The second pass folds the records a block at a time: a record is folded
//! once no later block holds an earlier day (`OrderedFold`'s bound, as the ledger's own folds
//! take it from their chunks' day summaries), so only the records waiting on a back-dated
//! one are held. The second pass checks the chain again and each block's earliest day
//! against the first's: a file changed between the passes is refused, never folded as half
//! of each.
//!
//! Standard input (`-`) cannot be read twice: it is read once into memory, as before.

use std::io::Write;
use std::path::Path;

use espp_events::{Day, Hash, Line, Record};
use espp_replay::{OrderedFold, Query};

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
    // First pass: the chain and each block's earliest day.
    let mut earliest: Vec<Day> = Vec::new();
    let mut chain = Chain::new();
    for (i, r) in chain.records(lines(file)?).enumerate() {
        let r = r?;
        if i % block_records == 0 {
            earliest.push(r.date);
        } else if let Some(e) = earliest.last_mut() {
            *e = (*e).min(r.date);
        }
    }
    let first_head = chain.prev;
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
    let lines = lines(file)?;
    let mut fold = OrderedFold::from_start(query.clone());
    let mut head = None;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Record>, Failure>>(2);
    let (blocks, last) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut chain = Chain::new();
            let mut block = Vec::with_capacity(block_records.min(BLOCK));
            for r in chain.records(lines) {
                let full = match r {
                    Ok(r) => {
                        block.push(r);
                        block.len() == block_records
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return None;
                    }
                };
                // The fold gone (it failed): nothing more to read.
                if full && tx.send(Ok(std::mem::take(&mut block))).is_err() {
                    return None;
                }
            }
            if !block.is_empty() && tx.send(Ok(block)).is_err() {
                return None;
            }
            Some(chain.prev)
        });
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
        let last = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        Ok((b, last))
    })?;
    if blocks != earliest.len() || last != Some(first_head) {
        return Err(changed());
    }
    let state = fold.finish().map_err(|e| fold_failure(file, e))?;
    Ok((state, head))
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

/// The numbered lines of a file.
fn lines(
    file: &Path,
) -> Result<impl Iterator<Item = Result<(usize, Line), Failure>> + Send, Failure> {
    Ok(super::append::read_lines(file)?.into_iter().map(Ok))
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

    /// The records of `lines`, each checked: not an exported record, or one that is missing,
    /// altered or out of place (damage, exit 4), ends the read with an error naming its line.
    fn records<'c>(
        &'c mut self,
        lines: impl Iterator<Item = Result<(usize, Line), Failure>> + 'c,
    ) -> impl Iterator<Item = Result<Record, Failure>> + 'c {
        lines.map(move |item| {
            let (line, l) = item?;
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
        })
    }
}
