//! The streamed append: a batch too big to hold at once (the export of a whole ledger) read,
//! judged, folded and written in pieces, and acknowledged once at its end — all of it or
//! nothing, as [`Ledger::append`] is. Memory is bounded whatever the input's length.
//!
//! How it stays atomic:
//! - Each piece (up to [`StreamOptions::piece_lines`] lines) is prepared and folded as a
//!   batch of its own on top of the pieces before it, then written: chunks, day summaries,
//!   its id-index and employee-index runs, in one sled batch, not fsynced (sled's queue of
//!   log buffers is flushed before the next piece goes in, so that it stays short). Sled's
//!   head key, the wall, the batch-fingerprint entries and the head file are written only
//!   with the last piece, which is then made durable and acknowledged like any append.
//! - A piece written before the end is never acknowledged: sled's head key still names the
//!   previous head, so the open's reconciliation (`store_open.rs`) cannot take what lies
//!   beyond it for "one whole batch chaining from it" (that needs sled's head beyond the
//!   acknowledged one, which only the last piece's atomic batch writes) and removes it. A
//!   process killed mid-stream therefore leaves the previous head.
//! - A refusal found in any piece, or at the end (the repeat guard, which needs the whole
//!   file's fingerprint), removes the pieces already written in this process
//!   ([`Ledger::roll_back_to`], what the open does after a crash) before it is reported.
//!   A storage failure while writing marks the head file as failed-after, as any append
//!   does, and the next open removes what was written.
//!
//! While pieces are being written, `self.head` is the last written record (so reading the
//! log, the id index and the employee index sees the earlier pieces: the id rules within
//! the file, and a book loaded whole mid-stream); the acknowledged head is kept aside and
//! restored by the roll-back.
//!
//! What is judged the same as one batch, and what is not:
//! - Every line refused on its own (not an event, dated too far ahead) is listed, from the
//!   whole file: after the first refusal nothing more is written, but the rest is still
//!   read. Then, as for one batch: a file that mixes exported records and bare events, then
//!   a repeated file (`--again` to store it), then the first refusal of the id rules, the
//!   chain (exported records) or the plan.
//! - A batch's id errors are all found before it folds; here the pieces come in order, so
//!   a plan refusal in an earlier piece is reported before an id error in a later one.
//! - Each piece must fold onto the pieces before it: a record whose fold needs a later line
//!   of the file dated before it (a sale dated after the purchase that the file lists only
//!   after the sale) is refused where one batch, folded in date order, would take it. A
//!   file in date order (an export, a payroll feed) folds the same either way, and the
//!   state after it is the same bytes: the book folds in `(date, seq)` order whatever the
//!   pieces.
//! - Chunks are the same as one batch's (pieces are whole chunks) unless lines are skipped
//!   as already stored.
//!
//! Memory: a piece's lines and records, the book (its tail: the records since the latest
//! purchase, as any whole book holds), the skipped lines the report lists, one entry per
//! run of records of one `recorded_at` (exported records), and the line numbers where
//! line and seq stop moving together (blank or skipped lines).

use super::batches::BatchRuns;
use super::*;

/// Lines per piece unless told otherwise: 64 chunks of records.
pub const PIECE_LINES: usize = 64 * CHUNK_RECORDS;

/// One item of a streamed input.
///
/// Most items are lines, moved as they are into a piece (`Vec<(usize, Line)>`, as a batch
/// holds them): boxing the big variant would cost an allocation a line for the rare refusal.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StreamLine {
    /// A parsed line, with its 1-based number.
    Line(usize, Line),
    /// A line refused on its own (not UTF-8, too long, not an event), with why.
    Refused(usize, String),
}

/// How a streamed append goes.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Who appends.
    pub actor: Actor,
    /// `--allow-future`, as [`Batch::allow_future`].
    pub allow_future: bool,
    /// `--again`, as [`Batch::again`].
    pub again: bool,
    /// Lines judged, folded and written at a time (at least one).
    pub piece_lines: usize,
}

/// The stream's running account.
struct Streamed {
    /// What was acknowledged before the stream: restored on any failure.
    acked: Acked,
    /// Lines parsed (what a repeated batch counts).
    lines: u64,
    /// Whether the file holds exported records, and the first line.
    enveloped: Option<(bool, usize)>,
    /// The content fingerprint while every line is a bare event without id.
    fingerprint: Option<crate::guards::Fingerprint>,
    /// Lines refused on their own.
    refusals: crate::guards::Refusals,
    /// The file mixes exported records and bare events (first such line).
    mixed: Option<StoreError>,
    /// The first refusal of a piece (ids, chain, plan).
    refused: Option<StoreError>,
    report: AppendReport,
    /// The batch-fingerprint entries of what was stored.
    runs: BatchRuns,
    /// (seq, line) wherever a stored record's line is not its predecessor's plus one: the
    /// line of any record of the stream, for an id used twice.
    lines_at: Vec<(u64, usize)>,
    /// Whether a piece was written (then a failure rolls back).
    written: bool,
}

impl Streamed {
    /// Whether pieces are still judged and written (no refusal yet).
    fn judging(&self) -> bool {
        self.refusals.is_empty() && self.mixed.is_none() && self.refused.is_none()
    }

    /// The 1-based line of a record this stream stored.
    fn line_of(&self, seq: u64) -> usize {
        let i = self.lines_at.partition_point(|(s, _)| *s <= seq);
        match i.checked_sub(1).and_then(|i| self.lines_at.get(i)) {
            Some(&(s, line)) => line + (seq - s) as usize,
            None => 0,
        }
    }

    /// Takes one input item: its checks on its own, and the parsed line into `piece`
    /// while pieces are judged.
    fn take(
        &mut self,
        item: StreamLine,
        allow_future: bool,
        now: Instant,
    ) -> Option<(usize, Line)> {
        let (n, line) = match item {
            StreamLine::Refused(n, message) => {
                self.refusals.push(n, message);
                return None;
            }
            StreamLine::Line(n, line) => (n, line),
        };
        self.lines += 1;
        let is_env = matches!(line, Line::Enveloped(_));
        match self.enveloped {
            None => self.enveloped = Some((is_env, n)),
            Some((env, first)) if env != is_env && self.mixed.is_none() => {
                let (with, without) = if env { (first, n) } else { (n, first) };
                self.mixed = Some(StoreError::Input {
                    line: n,
                    message: format!(
                        "the file mixes exported records (with envelopes, like line {with}) and bare events (like line {without}); append them separately"
                    ),
                });
            }
            Some(_) => {}
        }
        let (date, recorded_at) = match &line {
            Line::Bare(e) => (e.date, now),
            Line::Enveloped(r) => (r.date, r.recorded_at),
        };
        if !allow_future {
            if let Some(message) = crate::guards::too_far_ahead(date, recorded_at) {
                self.refusals.push(n, message);
            }
        }
        match (&line, &mut self.fingerprint) {
            (Line::Bare(e), Some(f)) if e.id.is_none() => f.add(e.date, &e.event),
            _ => self.fingerprint = None,
        }
        self.judging().then_some((n, line))
    }
}

impl Ledger {
    /// Appends a stream of lines as one batch, atomically (see the module's doc): all of
    /// it durably and acknowledged once, or nothing. `progress` is told the records written
    /// so far after each piece.
    pub fn append_stream(
        &mut self,
        input: impl Iterator<Item = Result<StreamLine, StoreError>>,
        options: &StreamOptions,
        now: Instant,
        progress: &mut dyn FnMut(u64),
    ) -> Result<AppendReport, StoreError> {
        self.ready_to_append()?;
        let mut s = Streamed {
            acked: Acked {
                head: self.head,
                wall: self.wall,
                failed_after: false,
            },
            lines: 0,
            enveloped: None,
            fingerprint: Some(crate::guards::Fingerprint::new()),
            refusals: crate::guards::Refusals::new(),
            mixed: None,
            refused: None,
            report: AppendReport::default(),
            runs: BatchRuns::default(),
            lines_at: Vec::new(),
            written: false,
        };
        let piece_lines = options.piece_lines.max(1);
        let mut piece: Vec<(usize, Line)> = Vec::new();
        for item in input {
            let item = match item {
                Ok(item) => item,
                Err(e) => return Err(self.abandon_stream(&mut s, e)),
            };
            if let Some(line) = s.take(item, options.allow_future, now) {
                piece.push(line);
            }
            if piece.len() >= piece_lines {
                match self.stream_piece(&mut s, std::mem::take(&mut piece), options, now) {
                    Ok(Some(records)) if !records.is_empty() => {
                        // A write failure was dealt with there (`write_failed`).
                        self.write_piece(&mut s, &records)?;
                        progress(self.head.seq - s.acked.head.seq);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(self.abandon_stream(&mut s, e)),
                }
            }
        }
        // The last piece goes with sled's head, in the write that acknowledges.
        let mut last = Vec::new();
        if s.judging() && !piece.is_empty() {
            match self.stream_piece(&mut s, std::mem::take(&mut piece), options, now) {
                Ok(records) => last = records.unwrap_or_default(),
                Err(e) => return Err(self.abandon_stream(&mut s, e)),
            }
        }
        if s.lines == 0 && s.refusals.is_empty() {
            return Err(StoreError::Input {
                line: 1,
                message: "no events to append (the input is empty)".into(),
            });
        }
        let repeated = match s
            .fingerprint
            .take()
            .filter(|_| !options.again && s.lines > 0)
        {
            Some(f) => match self.stored_batch_through(&f.finish(), s.acked.head.seq) {
                Ok(b) => b,
                Err(e) => return Err(self.abandon_stream(&mut s, e)),
            },
            None => None,
        };
        let refusal = if !s.refusals.is_empty() {
            Some(StoreError::Lines(std::mem::take(&mut s.refusals)))
        } else if let Some(e) = s.mixed.take() {
            Some(e)
        } else if let Some(b) = repeated {
            Some(StoreError::Repeated {
                first_seq: b.first_seq,
                last_seq: b.last_seq,
                recorded_at: b.recorded_at,
                events: s.lines,
            })
        } else {
            s.refused.take()
        };
        if let Some(e) = refusal {
            return Err(self.abandon_stream(&mut s, e));
        }
        self.finish_stream(&mut s, &last)?;
        Ok(s.report)
    }

    /// Prepares and folds one piece on top of the pieces before it: its new records, or
    /// None when it was refused (the refusal is kept in `s`). An error is a storage failure.
    fn stream_piece(
        &mut self,
        s: &mut Streamed,
        piece: Vec<(usize, Line)>,
        options: &StreamOptions,
        now: Instant,
    ) -> Result<Option<Vec<Record>>, StoreError> {
        let batch = Batch {
            lines: piece,
            actor: options.actor.clone(),
            // Both checked line by line already (the repeat guard on the whole stream).
            allow_future: true,
            again: true,
            chained: None,
        };
        // `self.head` is the last record written by this stream's pieces.
        let head = self.head;
        let (records, report) = match self.prepare_alone(batch, head, now) {
            Ok(p) => p,
            Err(StoreError::Conflict { line, id, seq }) if seq > s.acked.head.seq => {
                // Stored by this stream: the id is used twice in the file.
                s.refused = Some(StoreError::ConflictInInput {
                    line,
                    id,
                    earlier: s.line_of(seq),
                });
                return Ok(None);
            }
            Err(e) if is_refusal(&e) => {
                s.refused = Some(e);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let super::append::Prepared {
            lines,
            records: plain,
        } = records;
        match self.fold_batch(&plain, &[])? {
            Ok(()) => {}
            Err(BookRejection { index, rejection }) => {
                s.refused = Some(StoreError::Rejected {
                    line: lines.get(index).copied().unwrap_or(0),
                    rejection,
                });
                return Ok(None);
            }
        }
        s.report.skipped.extend(report.skipped);
        if let Some((a, b)) = report.stored {
            s.report.stored = Some((s.report.stored.map_or(a, |(first, _)| first), b));
        }
        for (line, r) in lines.iter().zip(&plain) {
            if s.line_of(r.seq) != *line {
                s.lines_at.push((r.seq, *line));
            }
            s.runs.push(r);
        }
        Ok(Some(plain))
    }
}

impl Ledger {
    /// Writes a judged piece that is not the last: its records and index runs, flushed
    /// (sled's queue stays short), not made durable, not acknowledged; sled's head stays.
    fn write_piece(&mut self, s: &mut Streamed, records: &[Record]) -> Result<(), StoreError> {
        let head = next_head(self.head, records);
        let refs: Vec<&Record> = records.iter().collect();
        let mut batch = sled::Batch::default();
        let (run, who_run) = match self.stage_records(&mut batch, &refs, head.seq) {
            Ok(runs) => runs,
            Err(e) => return Err(self.stream_write_failed(s, e)),
        };
        // sled writes its log buffers on its threads (each write waits for the disk); a
        // flush waits for them. Waiting for the previous piece's here, before this one goes
        // in, bounds sled's queue of buffers to about a piece while the writes overlap the
        // judging of the next piece (a flush after each write made the stream wait for
        // the disk at every piece).
        let flushed = self.db.flush().map(drop);
        // Before the write: one that fails may have left part of it in sled.
        s.written = true;
        let applied = flushed
            .and_then(|()| self.db.apply_batch(batch))
            .map_err(StoreError::from);
        if let Err(e) = applied {
            return Err(self.stream_write_failed(s, e));
        }
        self.ids.commit(run);
        self.commit_who(who_run, head.seq);
        self.head = head;
        // Merging runs changes no answer (the id lookups of the next pieces get faster).
        let merged = self
            .ids
            .compact(&self.db)
            .and_then(|()| self.who.runs.compact(&self.db));
        if let Err(e) = merged {
            return Err(self.stream_write_failed(s, e));
        }
        Ok(())
    }

    /// Writes the last piece with sled's head, the wall and the batch-fingerprint entries
    /// in one atomic batch, makes everything durable and acknowledges it.
    fn finish_stream(&mut self, s: &mut Streamed, records: &[Record]) -> Result<(), StoreError> {
        if s.report.stored.is_none() {
            // Every line was stored already: nothing to write (nothing was folded either).
            return Ok(());
        }
        let head = next_head(self.head, records);
        let wall = self.book.as_ref().and_then(Book::wall);
        let refs: Vec<&Record> = records.iter().collect();
        let mut batch = sled::Batch::default();
        let (run, who_run) = match self.stage_records(&mut batch, &refs, head.seq) {
            Ok(runs) => runs,
            Err(e) => return Err(self.stream_write_failed(s, e)),
        };
        for (k, b) in std::mem::take(&mut s.runs).finish() {
            batch.insert(&k[..], &b.encode()[..]);
        }
        s.written = true;
        if let Err(e) = self.store_sealed(batch, head, wall, s.acked.wall) {
            return Err(self.stream_write_failed(s, e));
        }
        self.ids.commit(run);
        self.commit_who(who_run, head.seq);
        self.head = head;
        self.acknowledge(head, wall)?;
        let moved = wall != s.acked.wall;
        self.wall = wall;
        // As after any append: checkpoints are a cache, merging runs changes no answer.
        if self.take_checkpoints(moved).is_err()
            || self.ids.compact(&self.db).is_err()
            || self.who.runs.compact(&self.db).is_err()
        {
            self.db.fail();
        }
        Ok(())
    }

    /// After a write of the stream failed: the acknowledged head back in memory, then what
    /// any failed append does (`write_failed`: the head file says the append failed, so the
    /// next open removes what reached sled).
    fn stream_write_failed(&mut self, s: &Streamed, e: StoreError) -> StoreError {
        self.book = None;
        self.lean = None;
        self.head = s.acked.head;
        self.wall = s.acked.wall;
        self.write_failed(e)
    }

    /// Gives up the stream for `e` (a refusal, an unreadable input, a failure reading the
    /// store): removes the pieces written so far, so that nothing of it is visible, and
    /// passes `e` on.
    fn abandon_stream(&mut self, s: &mut Streamed, e: StoreError) -> StoreError {
        // The book folded pieces that are not kept.
        self.book = None;
        self.lean = None;
        if !s.written {
            return e;
        }
        if self.db.has_failed() {
            // Nothing more is written to a failed ledger: its next open removes the pieces.
            self.head = s.acked.head;
            self.wall = s.acked.wall;
            return e;
        }
        s.written = false;
        match self.roll_back_to(&s.acked) {
            Ok(()) => e,
            Err(r) => {
                self.db.fail();
                self.head = s.acked.head;
                self.wall = s.acked.wall;
                StoreError::Io(format!(
                    "{e}; removing what was written of the batch then failed ({r}): nothing of it is acknowledged, and the next open removes it"
                ))
            }
        }
    }
}

/// The head after `records` (consecutive, chaining from `head`).
fn next_head(head: Head, records: &[Record]) -> Head {
    match records.last() {
        None => head,
        Some(last) => Head {
            seq: last.seq,
            hash: last.hash,
            max_recorded_at: records
                .iter()
                .map(|r| r.recorded_at)
                .chain(head.max_recorded_at)
                .max(),
        },
    }
}

/// Whether an error refuses the input (rather than being a storage failure).
fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Input { .. }
            | StoreError::Rejected { .. }
            | StoreError::Conflict { .. }
            | StoreError::ConflictInInput { .. }
            | StoreError::Lines(_)
            | StoreError::Repeated { .. }
    )
}
