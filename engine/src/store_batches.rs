//! The batch-fingerprint index: one `b` entry per stored batch (the content fingerprint of a
//! run of records of one `recorded_at`, and its seqs), which the guard against a file
//! appended twice reads (moved out of `store_append.rs`; the streamed append builds its
//! entries a record at a time with [`BatchRuns`]).

use super::*;

/// A stored batch, as its fingerprint entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoredBatch {
    pub(super) first_seq: u64,
    pub(super) last_seq: u64,
    pub(super) recorded_at: Instant,
}

impl StoredBatch {
    pub(super) fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.first_seq.to_be_bytes());
        v[8..16].copy_from_slice(&self.last_seq.to_be_bytes());
        v[16..].copy_from_slice(&self.recorded_at.nanos().to_be_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<StoredBatch> {
        let nanos = i64::from_be_bytes(v.get(16..24)?.try_into().ok()?);
        Some(StoredBatch {
            first_seq: be_u64(v.get(..8)?)?,
            last_seq: be_u64(v.get(8..16)?)?,
            recorded_at: Instant::from_datetime(chrono::DateTime::from_timestamp_nanos(nanos))?,
        })
    }
}

pub(super) fn batch_key(fingerprint: &[u8; 32]) -> [u8; 33] {
    let mut k = [BATCH; 33];
    k[1..].copy_from_slice(fingerprint);
    k
}

/// The fingerprint entries of stored records: one per run of records that share a
/// `recorded_at` (what one append stored, INTERCHANGE.md). Records come in seq order.
pub(super) fn batch_entries<'a>(
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<([u8; 33], StoredBatch)> {
    let mut runs = BatchRuns::default();
    for r in records {
        runs.push(r);
    }
    runs.finish()
}

/// [`batch_entries`] fed one record at a time (a streamed append sees its records a piece
/// at a time): the runs closed so far, and the open one.
#[derive(Default)]
pub(super) struct BatchRuns {
    closed: Vec<([u8; 33], StoredBatch)>,
    open: Option<(crate::guards::Fingerprint, StoredBatch)>,
}

impl BatchRuns {
    /// Adds the next stored record.
    pub(super) fn push(&mut self, r: &Record) {
        match &mut self.open {
            Some((f, b)) if b.recorded_at == r.recorded_at => {
                f.add(r.date, &r.event);
                b.last_seq = r.seq;
            }
            _ => {
                self.close();
                let mut f = crate::guards::Fingerprint::new();
                f.add(r.date, &r.event);
                self.open = Some((
                    f,
                    StoredBatch {
                        first_seq: r.seq,
                        last_seq: r.seq,
                        recorded_at: r.recorded_at,
                    },
                ));
            }
        }
    }

    fn close(&mut self) {
        if let Some((f, b)) = self.open.take() {
            self.closed.push((batch_key(&f.finish()), b));
        }
    }

    /// Every entry, in seq order.
    pub(super) fn finish(mut self) -> Vec<([u8; 33], StoredBatch)> {
        self.close();
        self.closed
    }
}

impl Ledger {
    /// Builds the batch-fingerprint index from the log if this ledger predates it (one scan,
    /// once; atomic with its completion mark, so an interrupted build starts again).
    pub(super) fn ensure_batch_index(&mut self) -> Result<(), StoreError> {
        if self.db.get(BATCHES_KEY)?.is_some() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut run: Vec<Record> = Vec::new();
        for r in self.records() {
            let r = r?;
            if run.last().is_some_and(|l| l.recorded_at != r.recorded_at) {
                for (k, b) in batch_entries(&run) {
                    batch.insert(&k[..], &b.encode()[..]);
                }
                run.clear();
            }
            run.push(r);
        }
        for (k, b) in batch_entries(&run) {
            batch.insert(&k[..], &b.encode()[..]);
        }
        batch.insert(BATCHES_KEY, &[BATCH_INDEX_VERSION]);
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// The stored batch with this fingerprint, if any.
    pub(super) fn stored_batch(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<StoredBatch>, StoreError> {
        self.stored_batch_through(fingerprint, self.head.seq)
    }

    /// The batch with this fingerprint stored through seq `through`, if any.
    pub(super) fn stored_batch_through(
        &self,
        fingerprint: &[u8; 32],
        through: u64,
    ) -> Result<Option<StoredBatch>, StoreError> {
        // An entry past the acknowledged head belongs to records that open removed as never
        // acknowledged (a crash between sled's write and the head file's): not stored.
        Ok(self
            .db
            .get(batch_key(fingerprint))?
            .and_then(|v| StoredBatch::decode(&v))
            .filter(|b| b.last_seq <= through))
    }
}
