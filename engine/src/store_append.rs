//! Appending: judging a group of batches against the book and the stored ids, then
//! writing the accepted records durably in one write (group commit), and the dry run.

use super::batches::{batch_entries, batch_key, StoredBatch};
use super::*;

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Seqs of the stored records, first and last (none if nothing was new).
    pub stored: Option<(u64, u64)>,
    /// Lines skipped because their id was stored already with identical content: (line, id, seq).
    pub skipped: Vec<(usize, Uuid, u64)>,
}

impl AppendReport {
    /// How many records were stored.
    pub fn stored_count(&self) -> u64 {
        self.stored.map_or(0, |(a, b)| b - a + 1)
    }
}

/// A batch to append: numbered input lines, all bare events or all exported records.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (1-based line number, parsed line).
    pub lines: Vec<(usize, Line)>,
    /// Who appends.
    pub actor: Actor,
    /// Accept events dated more than [`FUTURE_LIMIT_DAYS`](crate::guards::FUTURE_LIMIT_DAYS)
    /// after their recording day (`--allow-future`).
    pub allow_future: bool,
    /// Store the batch even if an equal one is stored already (`--again`).
    pub again: bool,
    /// Its records chained ahead of the ledger's open ([`Batch::chain_ahead`]); None for
    /// every batch made otherwise.
    pub chained: Option<Chained>,
}

/// A bare batch's records chained from the head the head file named before the ledger was
/// locked ([`Batch::chain_ahead`]): used only if they follow the ledger's very head.
#[derive(Debug, Clone)]
pub struct Chained {
    /// The head they follow (seq, hash).
    after: (u64, Hash),
    /// Their recording instant.
    at: Instant,
    records: Vec<Record>,
}

impl Batch {
    /// A batch of numbered lines, with every guard on.
    pub fn new(lines: Vec<(usize, Line)>, actor: Actor) -> Self {
        Batch {
            lines,
            actor,
            allow_future: false,
            again: false,
            chained: None,
        }
    }

    /// Chains the batch's records, recorded at `now`, from the acknowledged head the head
    /// file of the ledger at `dir` names, while the ledger is being opened on another thread
    /// (issue 15: a payday's 10,000 hashes, ~10 ms of its append, were chained only after
    /// the open). Only for a batch of bare events without ids (a payroll feed's). The append
    /// takes them only when, once it holds the lock, the ledger's head is that head and the
    /// instant the same; every check of the batch is made as before, and otherwise its
    /// records are chained again. Their ids are drawn like any new ids (see [`new_id`]).
    pub fn chain_ahead(&mut self, dir: &Path, now: Instant) {
        self.chained = None;
        let bare: Option<Vec<&EventInput>> = self
            .lines
            .iter()
            .map(|(_, l)| match l {
                Line::Bare(e) if e.id.is_none() => Some(e),
                _ => None,
            })
            .collect();
        let (Some(events), Some(acked)) = (bare, headfile::HeadFile::peek(dir)) else {
            return;
        };
        let mut records: Vec<Record> = Vec::with_capacity(events.len());
        let (mut seq, mut prev) = (acked.head.seq, acked.head.hash);
        for e in events {
            seq += 1;
            let r = Record::chain(
                seq,
                new_id(now),
                e.date,
                now,
                self.actor.clone(),
                prev,
                e.event.clone(),
            );
            prev = r.hash;
            records.push(r);
        }
        self.chained = Some(Chained {
            after: (acked.head.seq, acked.head.hash),
            at: now,
            records,
        });
    }

    /// The records [`Batch::chain_ahead`] chained, if it did (tests).
    #[doc(hidden)]
    pub fn chained_records(&self) -> Option<&[Record]> {
        self.chained.as_ref().map(|c| &c.records[..])
    }

    /// A batch of bare events, numbered from 1, with every guard on.
    pub fn of_events(events: Vec<EventInput>, actor: Actor) -> Self {
        Batch::new(
            events
                .into_iter()
                .map(Line::Bare)
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .collect(),
            actor,
        )
    }

    /// Lines dated too far ahead of their recording day (`now` for bare events, their own
    /// `recorded_at` for exported records), unless the batch allows the future.
    pub fn future_refusals(&self, now: Instant) -> crate::guards::Refusals {
        let mut refusals = crate::guards::Refusals::new();
        if self.allow_future {
            return refusals;
        }
        for (line, l) in &self.lines {
            let (date, recorded_at) = match l {
                Line::Bare(e) => (e.date, now),
                Line::Enveloped(r) => (r.date, r.recorded_at),
            };
            if let Some(message) = crate::guards::too_far_ahead(date, recorded_at) {
                refusals.push(*line, message);
            }
        }
        refusals
    }

    /// The fingerprint of the batch's content when every line is a bare event without id —
    /// the batches the guard against a repeated file judges (lines with ids have the id
    /// rules). Computed once per batch: it is also what the batch index stores for it.
    fn content_fingerprint(&self) -> Option<[u8; 32]> {
        let mut f = crate::guards::Fingerprint::new();
        for (_, l) in &self.lines {
            match l {
                Line::Bare(e) if e.id.is_none() => f.add(e.date, &e.event),
                _ => return None,
            }
        }
        Some(f.finish())
    }
}

/// What a dry run found: the report the append would give and the books before and after.
#[derive(Debug)]
pub struct DryRun {
    /// What the append would store and skip.
    pub report: AppendReport,
    /// The acceptance book's state before the batch.
    pub before: espp_projections::State,
    /// Its state with the batch folded in.
    pub after: espp_projections::State,
}

/// The outcome of judging a group of batches: each one's result, the accepted records, and
/// the head after them.
pub(super) struct Judged {
    results: Vec<Result<AppendReport, StoreError>>,
    accepted: Vec<Accepted>,
    head: Head,
}

/// What the earlier batches of a group commit accepted, for the id and repeat checks of the
/// later ones.
#[derive(Clone, Copy)]
pub(super) struct Group<'a> {
    ids: &'a HashMap<Uuid, (usize, usize)>,
    accepted: &'a [Accepted],
    batches: &'a HashMap<[u8; 32], StoredBatch>,
}

/// A batch's new records, chained ([`Ledger::prepare`]), and the input line of each.
pub(super) struct Prepared {
    pub(super) lines: Vec<usize>,
    pub(super) records: Vec<Record>,
}

impl Prepared {
    /// The seqs of the first and last record, if any ([`AppendReport::stored`]).
    fn stored(&self) -> Option<(u64, u64)> {
        let (a, b) = self.records.first().zip(self.records.last())?;
        Some((a.seq, b.seq))
    }
}

/// A batch's records that fold, and its content fingerprint if it was computed already.
pub(super) struct Accepted {
    records: Vec<Record>,
    fingerprint: Option<[u8; 32]>,
}

impl Ledger {
    /// Appends one batch atomically: all of it, durably, or nothing.
    pub fn append(&mut self, batch: Batch, now: Instant) -> Result<AppendReport, StoreError> {
        self.append_group(vec![batch], now)
            .pop()
            .unwrap_or_else(|| Err(StoreError::Io("no result".into())))
    }

    /// Appends several independent batches with one durable write (group commit). Each batch
    /// is atomic on its own: a refused one leaves the others untouched. The results are in
    /// the batches' order; an I/O failure fails them all.
    pub fn append_group(
        &mut self,
        batches: Vec<Batch>,
        now: Instant,
    ) -> Vec<Result<AppendReport, StoreError>> {
        let judged = match self.judge(batches, now) {
            Ok(j) => j,
            Err((e, n)) => return (0..n).map(|_| Err(e.share())).collect(),
        };
        let Judged {
            results,
            accepted,
            head,
        } = judged;
        if accepted.is_empty() {
            return results;
        }
        let wall = self.book.as_ref().and_then(Book::wall);
        match self.write(&accepted, head, wall) {
            Ok(()) => {
                self.head = head;
                let moved = wall != self.wall;
                self.wall = wall;
                // Checkpoints are a cache: failing to take one loses no data (but sled is
                // not to be trusted with a flush on drop after a failed write). Merging the
                // id index's runs changes no answer either way.
                let checkpointed = self.take_checkpoints(moved);
                if self.ids.merge_due() {
                    // A merge reads and writes runs whose pages sled's cache keeps, with its
                    // write buffers (~2 × 24 bytes an entry merged: 4.4M entries at 9.3M
                    // events): the acceptance book is not held through it. It is a cache of
                    // the store, loaded again by the next append if there is one (issue 15:
                    // at 100,000 employees a purchase payday that merged peaked at 1.1 GB).
                    self.book = None;
                    self.lean = None;
                }
                if checkpointed.is_err()
                    || self.ids.compact(&self.db).is_err()
                    || self.who.runs.compact(&self.db).is_err()
                {
                    self.db.fail();
                }
                results
            }
            Err(e) => {
                // The book is ahead of the disk: fold it again from what is stored.
                self.book = None;
                self.lean = None;
                results.into_iter().map(|r| r.and(Err(e.share()))).collect()
            }
        }
    }

    /// Judges and folds one batch exactly as [`Ledger::append`] would, and writes nothing:
    /// the report it would give and the book's state before and after (`--dry-run`).
    pub fn append_dry_run(&mut self, batch: Batch, now: Instant) -> Result<DryRun, StoreError> {
        let before = self.book()?.state().clone();
        let judged = self.judge(vec![batch], now).map_err(|(e, _)| e)?;
        let after = self.book()?.state().clone();
        // The book folded the batch in place: drop it, so nothing of the batch stays.
        self.book = None;
        self.lean = None;
        let report = judged
            .results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(StoreError::Io("no result".into())))?;
        Ok(DryRun {
            report,
            before,
            after,
        })
    }

    /// Prepares each batch and folds it into the book (which stays as it was for a refused
    /// one). On a failure before any batch could be judged, the error and the batch count.
    fn judge(&mut self, batches: Vec<Batch>, now: Instant) -> Result<Judged, (StoreError, usize)> {
        let n = batches.len();
        if let Err(e) = self.ready_to_append() {
            return Err((e, n));
        }
        let mut head = self.head;
        let mut accepted: Vec<Accepted> = Vec::new();
        // The ids of earlier batches of this group: (batch in `accepted`, place in it). Kept
        // only while more batches follow.
        let mut group_ids: HashMap<Uuid, (usize, usize)> = HashMap::new();
        let mut group_batches: HashMap<[u8; 32], StoredBatch> = HashMap::new();
        let mut results: Vec<Result<AppendReport, StoreError>> = Vec::with_capacity(n);
        for (b, batch) in batches.into_iter().enumerate() {
            let fingerprint = batch.content_fingerprint();
            let group = Group {
                ids: &group_ids,
                accepted: &accepted,
                batches: &group_batches,
            };
            let prepared = self.prepare(batch, fingerprint, head, now, group);
            let (records, report) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let Prepared {
                lines,
                records: plain,
            } = records;
            let Some(last) = plain.last().map(|r| Head {
                seq: r.seq,
                hash: r.hash,
                max_recorded_at: plain
                    .iter()
                    .map(|r| r.recorded_at)
                    .chain(head.max_recorded_at)
                    .max(),
            }) else {
                results.push(Ok(report));
                continue;
            };
            let outcome = match self.fold_batch(&plain, &accepted) {
                Ok(o) => o,
                Err(e) => return Err((e, n)),
            };
            match outcome {
                Ok(()) => {
                    head = last;
                    if b + 1 < n {
                        for (i, r) in plain.iter().enumerate() {
                            group_ids.insert(r.id, (accepted.len(), i));
                        }
                    }
                    if let (Some(f), Some((a, b))) = (fingerprint, report.stored) {
                        group_batches.insert(
                            f,
                            StoredBatch {
                                first_seq: a,
                                last_seq: b,
                                recorded_at: now,
                            },
                        );
                    }
                    accepted.push(Accepted {
                        records: plain,
                        fingerprint,
                    });
                    results.push(Ok(report));
                }
                Err(BookRejection { index, rejection }) => {
                    results.push(Err(StoreError::Rejected {
                        line: lines[index],
                        rejection,
                    }));
                }
            }
        }
        Ok(Judged {
            results,
            accepted,
            head,
        })
    }

    /// Does now what the next append would do first (refusing on a damaged or failed
    /// ledger, building the indexes a ledger written before them lacks, loading the
    /// acceptance book), so that a caller can do it while it reads the batch: the append
    /// then finds it done (a few key lookups). Its error is the one the append would give.
    /// `kept`: the book file, read already (`KeptBook::read`, on a thread beside the open);
    /// the load uses it as it would the file.
    pub fn prepare_to_append(&mut self, kept: Option<KeptBook>) -> Result<(), StoreError> {
        if self.book.is_none() {
            self.kept = Some(kept);
        }
        self.ready_to_append()
    }

    /// What every append does before judging anything: refuses on a damaged or failed
    /// ledger, builds the indexes a ledger written before them lacks, loads the book.
    pub(super) fn ready_to_append(&mut self) -> Result<(), StoreError> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        // A ledger written before the employee index: built from the log (once), before the
        // book is loaded (their memory does not add up).
        if let Err(e) = self.ensure_who_index() {
            self.db.fail();
            return Err(e);
        }
        self.load_book_if_needed()?;
        self.ensure_batch_index()?;
        if self.ids.has_legacy() {
            // A ledger written before the index had runs: fold its per-event keys into runs
            // (once; the next durable write makes it durable).
            if let Err(e) = self.ids.upgrade(&self.db) {
                self.db.fail();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Folds one batch's records into the book, loading or completing it first when the
    /// batch needs that (`accepted`: this group's batches judged but not stored, which a
    /// book loaded from the store lacks). A refusal leaves the book as it was.
    pub(super) fn fold_batch(
        &mut self,
        plain: &[Record],
        accepted: &[Accepted],
    ) -> Result<Result<(), BookRejection>, StoreError> {
        if self.book.as_ref().is_none_or(|b| b.needs_full(plain)) {
            self.book = Some(self.full_book(accepted)?);
        } else if self.lean.is_some()
            && !plain
                .iter()
                .all(|r| espp_projections::parts::folds_without_holdings(&r.event))
        {
            self.complete_book(accepted)?;
        }
        let was_lean = self.lean.is_some();
        let Some(book) = self.book.as_mut() else {
            unreachable!("loaded above")
        };
        // The book folds in place and, on a refusal, stays as it was (a partial one is
        // spoiled: loaded whole again, with this group's accepted batches).
        let mut outcome = book.apply(plain);
        if book.is_spoiled() {
            self.book = Some(self.full_book(accepted)?);
            if was_lean {
                // A lean book's refusal is judged again on the whole book (`acceptance.rs`).
                if let Some(book) = self.book.as_mut() {
                    outcome = book.apply(plain);
                }
            }
        }
        Ok(outcome)
    }

    /// The whole acceptance book (closed books and the tail) of what is stored, with the
    /// batches this group accepted so far folded in again.
    pub(super) fn full_book(&mut self, accepted: &[Accepted]) -> Result<Book, StoreError> {
        // Whatever book this replaces, the whole one lacks nothing.
        self.lean = None;
        let mut book = self.load_book()?;
        for a in accepted {
            book.apply(&a.records).map_err(|e| {
                StoreError::Io(format!(
                    "an accepted batch no longer folds into the whole book: {e}"
                ))
            })?;
        }
        Ok(book)
    }

    /// [`Ledger::prepare`] for a batch that is no group's (a piece of a streamed append,
    /// whose repeat check is the whole stream's).
    pub(super) fn prepare_alone(
        &self,
        batch: Batch,
        head: Head,
        now: Instant,
    ) -> Result<(Prepared, AppendReport), StoreError> {
        let (ids, batches) = (HashMap::new(), HashMap::new());
        let group = Group {
            ids: &ids,
            accepted: &[],
            batches: &batches,
        };
        self.prepare(batch, None, head, now, group)
    }

    /// Turns a batch's lines into chained records after `head`, skipping ids already stored
    /// with identical content. Returns the records with each one's input line, and the
    /// report to give.
    pub(super) fn prepare(
        &self,
        batch: Batch,
        fingerprint: Option<[u8; 32]>,
        head: Head,
        now: Instant,
        group: Group<'_>,
    ) -> Result<(Prepared, AppendReport), StoreError> {
        let Some(&(first_line, ref first)) = batch.lines.first() else {
            return Err(StoreError::Input {
                line: 1,
                message: "no events to append (the input is empty)".into(),
            });
        };
        let enveloped = matches!(first, Line::Enveloped(_));
        if let Some((line, _)) = batch
            .lines
            .iter()
            .find(|(_, l)| matches!(l, Line::Enveloped(_)) != enveloped)
        {
            let (with, without) = if enveloped {
                (first_line, *line)
            } else {
                (*line, first_line)
            };
            return Err(StoreError::Input {
                line: *line,
                message: format!(
                    "the file mixes exported records (with envelopes, like line {with}) and bare events (like line {without}); append them separately"
                ),
            });
        }
        let future = batch.future_refusals(now);
        if !future.is_empty() {
            return Err(StoreError::Lines(future));
        }
        if let Some(f) = fingerprint.filter(|_| !batch.again) {
            let stored = match group.batches.get(&f) {
                Some(b) => Some(*b),
                None => self.stored_batch(&f)?,
            };
            if let Some(b) = stored {
                return Err(StoreError::Repeated {
                    first_seq: b.first_seq,
                    last_seq: b.last_seq,
                    recorded_at: b.recorded_at,
                    events: batch.lines.len() as u64,
                });
            }
        }
        let mut report = AppendReport::default();
        // Chained ahead from this very head, alone in its group: the records are the ones
        // the loop below would make (bare events without ids: no id to look up, none twice).
        if let Some(c) = batch.chained {
            let follows = c.after == (head.seq, head.hash)
                && c.at == now
                && c.records.len() == batch.lines.len()
                && group.ids.is_empty()
                && group.accepted.is_empty();
            if follows {
                let out = Prepared {
                    lines: batch.lines.iter().map(|(n, _)| *n).collect(),
                    records: c.records,
                };
                report.stored = out.stored();
                return Ok((out, report));
            }
        }
        // Reserved whole: grown by doubling, 10,000 records were copied again and again into
        // fresh pages (issue 15: a payday).
        let n = batch.lines.len();
        let mut out = Prepared {
            lines: Vec::with_capacity(n),
            records: Vec::with_capacity(n),
        };
        let mut batch_ids: HashMap<Uuid, usize> = HashMap::with_capacity(n);
        let mut next = head;
        for (line, item) in batch.lines {
            let id = match &item {
                Line::Bare(e) => e.id,
                Line::Enveloped(r) => Some(r.id),
            };
            if let Some(id) = id {
                let in_group = group
                    .ids
                    .get(&id)
                    .and_then(|&(b, i)| group.accepted.get(b)?.records.get(i));
                let stored = match in_group {
                    Some(r) => Some(r.clone()),
                    None => match self.stored_seq_of(&id)? {
                        Some(seq) => {
                            Some(self.record(seq)?.ok_or_else(|| StoreError::Damaged {
                                seq,
                                message: format!(
                                    "the id index names seq {seq} for {id}, which is missing"
                                ),
                            })?)
                        }
                        None => None,
                    },
                };
                if let Some(stored) = stored {
                    let same = match &item {
                        Line::Bare(e) => e.date == stored.date && e.event == stored.event,
                        Line::Enveloped(r) => *r == stored,
                    };
                    if !same {
                        return Err(StoreError::Conflict {
                            line,
                            id,
                            seq: stored.seq,
                        });
                    }
                    report.skipped.push((line, id, stored.seq));
                    continue;
                }
                if let Some(&idx) = batch_ids.get(&id) {
                    let earlier = &out.records[idx];
                    let same = match &item {
                        Line::Bare(e) => e.date == earlier.date && e.event == earlier.event,
                        Line::Enveloped(r) => r == earlier,
                    };
                    if !same {
                        return Err(StoreError::ConflictInInput {
                            line,
                            id,
                            earlier: out.lines[idx],
                        });
                    }
                    report.skipped.push((line, id, earlier.seq));
                    continue;
                }
            }
            let record = match item {
                Line::Bare(e) => {
                    let id = e.id.unwrap_or_else(|| new_id(now));
                    Record::chain(
                        next.seq + 1,
                        id,
                        e.date,
                        now,
                        batch.actor.clone(),
                        next.hash,
                        e.event,
                    )
                }
                Line::Enveloped(r) => {
                    let expected = next.seq + 1;
                    if r.seq != expected {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `seq`: seq {} does not continue this ledger (its next seq is {expected})", r.seq),
                        });
                    }
                    if r.prev_hash != next.hash {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `prev_hash`: seq {} does not link to this ledger's last hash {}", r.seq, next.hash),
                        });
                    }
                    if r.compute_hash() != r.hash {
                        return Err(StoreError::Input {
                            line,
                            message: format!("field `hash`: seq {} was altered: its content hashes to {}, not {}", r.seq, r.compute_hash(), r.hash),
                        });
                    }
                    r
                }
            };
            next = Head {
                seq: record.seq,
                hash: record.hash,
                max_recorded_at: next.max_recorded_at,
            };
            batch_ids.insert(record.id, out.records.len());
            out.lines.push(line);
            out.records.push(record);
        }
        report.stored = out.stored();
        Ok((out, report))
    }

    /// One atomic sled batch for every accepted record, then durability.
    fn write(
        &mut self,
        accepted: &[Accepted],
        head: Head,
        wall: Option<Day>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        // The group's batches have consecutive seqs and go in one atomic `apply_batch`, so
        // they share chunks: 256 single-event batches make one chunk, not 256.
        let records: Vec<&Record> = accepted.iter().flat_map(|a| &a.records).collect();
        let (run, who_run) = match self.stage_records(&mut batch, &records, head.seq) {
            Ok(runs) => runs,
            Err(e) => return Err(self.write_failed(e)),
        };
        for a in accepted {
            match (a.fingerprint, a.records.first(), a.records.last()) {
                // A batch of bare events: one recording instant, its fingerprint known.
                (Some(f), Some(first), Some(last)) => {
                    let b = StoredBatch {
                        first_seq: first.seq,
                        last_seq: last.seq,
                        recorded_at: first.recorded_at,
                    };
                    batch.insert(&batch_key(&f)[..], &b.encode()[..]);
                }
                _ => {
                    for (k, b) in batch_entries(&a.records) {
                        batch.insert(&k[..], &b.encode()[..]);
                    }
                }
            }
        }
        if let Err(e) = self.store_sealed(batch, head, wall, self.wall) {
            return Err(self.write_failed(e));
        }
        self.ids.commit(run);
        self.commit_who(who_run, head.seq);
        self.acknowledge(head, wall)
    }

    /// Stores an append's last batch with sled's head and, if it moved from `acked_wall`,
    /// the wall, in the same atomic `apply_batch`, and makes everything durable: what
    /// [`Ledger::acknowledge`] then reports was written.
    pub(super) fn store_sealed(
        &mut self,
        mut batch: sled::Batch,
        head: Head,
        wall: Option<Day>,
        acked_wall: Option<Day>,
    ) -> Result<(), StoreError> {
        batch.insert(HEAD_KEY, head.encode());
        if wall != acked_wall {
            if let Some(w) = wall {
                batch.insert(WALL_KEY, &w.days_from_ce().to_le_bytes());
            }
        }
        self.db.apply_batch(batch)?;
        self.make_durable()
    }

    /// Records `head` and `wall` in the head file after their write is durable: the append
    /// is acknowledged once the head file says so. A crash before this leaves a whole batch
    /// that the next open keeps (it chains from the recorded head).
    pub(super) fn acknowledge(&mut self, head: Head, wall: Option<Day>) -> Result<(), StoreError> {
        let acked = Acked {
            head,
            wall,
            failed_after: false,
        };
        if let Err(e) = self.record_head(&acked, Sync::Soon) {
            return Err(StoreError::Io(format!(
                "the batch reached the log, but recording its acknowledgement in {} failed ({}): it is not acknowledged, and the next open keeps it only if it is there whole",
                self.path.join(headfile::FILE_NAME).display(),
                match e {
                    StoreError::Io(m) => m,
                    other => other.to_string(),
                }
            )));
        }
        Ok(())
    }

    /// Puts `records` (consecutive, in seq order) in `batch`: their chunks and day summaries,
    /// their id-index run and their employee-index run (with the index's mark at
    /// `who_head`). The runs are taken into the indexes once the batch is applied.
    pub(super) fn stage_records(
        &self,
        batch: &mut sled::Batch,
        records: &[&Record],
        who_head: u64,
    ) -> Result<(idindex::PendingRun, whoruns::PendingRun), StoreError> {
        for chunk in records.chunks(CHUNK_RECORDS) {
            batch.insert(&rec_key(chunk[0].seq), encode_chunk(chunk));
            batch.insert(&summary_key(chunk[0].seq), &encode_summary(chunk));
        }
        let entries = records.iter().map(|r| (*r.id.as_bytes(), r.seq)).collect();
        let run = self.ids.add_run(&self.db, batch, entries)?;
        let who_run = self.write_who(batch, records, who_head)?;
        Ok((run, who_run))
    }

    /// After sled or the fsyncs failed on an append: marks the ledger failed (no flush on
    /// drop, no further appends), records in the head file that the append failed (so the
    /// next open removes whatever sled wrote of it, even a whole batch), and says so.
    pub(super) fn write_failed(&mut self, e: StoreError) -> StoreError {
        self.db.fail();
        let cause = match e {
            StoreError::Io(m) => m,
            other => other.to_string(),
        };
        let void = Acked {
            head: self.head,
            wall: self.wall,
            failed_after: true,
        };
        let when = if cause.starts_with("no space") {
            "once space is freed"
        } else {
            "once the cause is removed"
        };
        match self.head_file.as_mut().map(|f| f.write(&void, Sync::Now)) {
            Some(Ok(())) => StoreError::Io(format!(
                "{cause}; the append was not stored: nothing of it will be visible (what reached sled's files is removed when the ledger is next opened), and the ledger is usable again {when} (seq {} is the last stored)",
                self.head.seq
            )),
            _ => StoreError::Io(format!(
                "{cause}; the append was not acknowledged (and recording that failed too): the next open keeps it only if it reached the log whole; the ledger is usable again {when}"
            )),
        }
    }
}

/// A time-ordered (v7) id from the append's instant: the id index then grows at its end.
///
/// The context adds a counter within a millisecond, so a batch's ids are strictly increasing
/// too: every id-index insert then lands at the right edge of sled's tree. One context for
/// the process: ids chained ahead of the open ([`Batch::chain_ahead`]) and any drawn later
/// come from the same counter, never twice the same.
pub(super) fn new_id(now: Instant) -> Uuid {
    static CONTEXT: std::sync::OnceLock<std::sync::Mutex<uuid::ContextV7>> =
        std::sync::OnceLock::new();
    let context = CONTEXT.get_or_init(|| std::sync::Mutex::new(uuid::ContextV7::new()));
    // A poisoned lock only means another append panicked; the counter is still good.
    let context = context
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let context = &*context;
    let nanos = now.nanos();
    let secs = nanos.div_euclid(1_000_000_000) as u64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    Uuid::new_v7(uuid::Timestamp::from_unix(context, secs, sub))
}
