//! Group commit for library callers: concurrent appends are gathered into one durable write,
//! and each caller is answered only after its events are on disk.
//!
//! One thread owns the [`Ledger`]. Callers send a batch over a tokio channel and await a
//! oneshot answer. The thread takes the first waiting batch, then every batch that queued
//! behind it while the previous write was syncing (up to `max_group`), folds them one by one
//! (each atomic on its own), writes all accepted ones with one sled batch and one fsync, and
//! answers. Under load, the fsync cost is shared by everyone who waited for it.

use std::thread::JoinHandle;

use espp_events::{Actor, EventInput, Instant};
use tokio::sync::{mpsc, oneshot};

use crate::store::{AppendReport, Batch, Ledger, StoreError};

type Request = (Batch, oneshot::Sender<Result<AppendReport, StoreError>>);

/// A handle to the group-commit writer; cheap to clone, usable from many tasks.
#[derive(Debug, Clone)]
pub struct GroupCommitter {
    tx: mpsc::Sender<Request>,
}

/// The writer thread; [`WriterThread::join`] returns the ledger once every handle is gone.
#[derive(Debug)]
pub struct WriterThread(JoinHandle<Ledger>);

impl WriterThread {
    /// Waits for the writer to finish (all handles dropped) and gives the ledger back.
    pub fn join(self) -> Ledger {
        match self.0.join() {
            Ok(l) => l,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl GroupCommitter {
    /// Starts the writer thread; at most `max_group` batches share one durable write.
    pub fn start(
        mut ledger: Ledger,
        max_group: usize,
        clock: fn() -> Instant,
    ) -> (GroupCommitter, WriterThread) {
        let (tx, mut rx) = mpsc::channel::<Request>(max_group.max(1) * 4);
        let handle = std::thread::Builder::new()
            .name("espp-writer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < max_group.max(1) {
                        match rx.try_recv() {
                            Ok(r) => group.push(r),
                            Err(_) => break,
                        }
                    }
                    let (batches, replies): (Vec<Batch>, Vec<_>) = group.into_iter().unzip();
                    let results = ledger.append_group(batches, clock());
                    for (reply, result) in replies.into_iter().zip(results) {
                        // A caller that stopped waiting does not undo the write.
                        let _ = reply.send(result);
                    }
                }
                ledger
            });
        match handle {
            Ok(h) => (GroupCommitter { tx }, WriterThread(h)),
            Err(e) => panic!("cannot start the writer thread: {e}"),
        }
    }

    /// Appends `events` as one atomic batch; returns once they are durable.
    pub async fn append(
        &self,
        events: Vec<EventInput>,
        actor: Actor,
    ) -> Result<AppendReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((Batch::of_events(events, actor), reply))
            .await
            .map_err(|_| StoreError::Io("the writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Io("the writer thread stopped before answering".into()))?
    }
}
