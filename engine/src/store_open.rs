//! Opening a ledger: its lock, sled, the head file, and the reconciling of what sled holds
//! with what was acknowledged (removing what never was).

use super::*;

impl Ledger {
    /// Opens an existing ledger; a missing one is [`StoreError::Missing`]. Damage found on
    /// opening (the end of the log gone, a head file that does not read) is an error.
    pub fn open(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        if !is_ledger(path)? {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ledger::open_inner(path, options, false)
    }

    /// Opens an existing ledger to save or check what can still be read of it (`export`,
    /// `verify`): damage found on opening (the end of the log gone or unreadable) is kept in
    /// [`Ledger::damage`] rather than refused; then nothing is repaired, reads stop at the
    /// acknowledged head, and appends are refused. An intact ledger opens as with
    /// [`Ledger::open`].
    pub fn open_salvage(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        if !is_ledger(path)? {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ledger::open_inner(path, options, true)
    }

    /// Opens a ledger, creating its directory if it does not exist.
    pub fn open_or_create(path: &Path, options: &Options) -> Result<Ledger, StoreError> {
        is_ledger(path)?;
        let created = !path.exists();
        std::fs::create_dir_all(path)?;
        if created {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ledger::open_inner(path, options, false)
    }

    fn open_inner(path: &Path, options: &Options, salvage: bool) -> Result<Ledger, StoreError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join("espp.lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Busy(path.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        let log_dir = path.join("log");
        remove_unfinished_snapshots(&log_dir)?;
        let head_file = HeadFile::open(path)?;
        let dir_durable = head_file.is_some();
        let acked_seq = head_file.as_ref().map(|(_, a)| a.head.seq);
        let mut config = sled_config(&log_dir)?;
        if !options.sled_flusher {
            config = config.flush_every_ms(None);
        }
        let db = config
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| match e {
                // sled's own file lock outlives a dropped `sled::Db` while its background
                // jobs finish, so a ledger just closed in this or another process can still
                // hold it after `espp.lock` is free: that is busy, not a storage failure.
                sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Busy(path.to_path_buf())
                }
                sled::Error::Io(io) => StoreError::Io(format!(
                    "cannot open the log in {}: {}",
                    log_dir.display(),
                    describe_io(&io)
                )),
                sled::Error::Corruption { at, .. } => StoreError::Corrupt(format!(
                    "sled cannot recover the log in {}: corrupted data in its files{}; {}",
                    log_dir.display(),
                    at.map(|at| format!(" ({at})")).unwrap_or_default(),
                    match acked_seq {
                        Some(seq) => format!("the last acknowledged seq is {seq}"),
                        None => "the last acknowledged seq is unknown (no head file)".into(),
                    }
                )),
                e => e.into(),
            })?;
        let db = Sled::opened(db);
        // sled creates its files on open: they and their directory entries are made durable
        // before the first write is (`make_durable`), not here: a read command then costs
        // no fsync (issue 15).
        let data_file = File::open(log_dir.join("db"))?;
        let head = match db.get(HEAD_KEY)? {
            None => Head::EMPTY,
            Some(v) => Head::decode(&v).ok_or_else(|| StoreError::Damaged {
                seq: 0,
                message: "the head record is malformed".into(),
            })?,
        };
        let wall = match db.get(WALL_KEY)? {
            None => None,
            Some(v) => Some(
                v.as_ref()
                    .try_into()
                    .ok()
                    .and_then(|b: [u8; 4]| {
                        chrono::NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(b))
                    })
                    .map(Day::from_date)
                    .ok_or_else(|| StoreError::Damaged {
                        seq: 0,
                        message: "the wall record is malformed".into(),
                    })?,
            ),
        };
        let checkpoints = db.open_tree("checkpoints")?;
        let ids = IdIndex::load(&db)?;
        let who = WhoIndex::load(&db)?;
        // The acknowledged head: from the head file, or (a ledger made before it existed, or
        // a new one) from sled's head, recorded in a new head file without a word.
        let (head_file, acked) = match head_file {
            Some((f, acked)) => (Some(f), acked),
            None => {
                let acked = Acked {
                    head,
                    wall,
                    failed_after: false,
                };
                if head.seq == 0 && db.range(rec_key(0)..=rec_key(u64::MAX)).next().is_some() {
                    return Err(StoreError::Damaged {
                        seq: 1,
                        message: "the head record is missing, yet records are stored".into(),
                    });
                }
                match HeadFile::create(path, &acked) {
                    Ok(f) => (Some(f), acked),
                    // Salvage writes nothing it can do without.
                    Err(_) if salvage => (None, acked),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            _lock: lock,
            db,
            head_file,
            damage: None,
            data_file,
            files_synced: false,
            dir_durable,
            synced_blobs: BTreeSet::new(),
            head,
            book: None,
            lean: None,
            kept: None,
            book_parts: std::sync::Mutex::new(None),
            whole_book_loads: std::sync::atomic::AtomicU64::new(0),
            ids,
            who,
            options: options.clone(),
            checkpoints,
            wall,
        };
        ledger.synced_blobs = ledger.blob_names()?;
        ledger.reconcile(acked, salvage)?;
        // Opened: sled may close normally from now on (unless a write fails).
        ledger
            .db
            .failed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(ledger)
    }

    /// Brings sled's view in line with the acknowledged head (the head file), on opening.
    ///
    /// - The records must reach the acknowledged head with its hash; if they stop short,
    ///   acknowledged records were lost (sled truncates its log at the first message that
    ///   does not check, the head key with it): damage, refused (kept in `damage` for a
    ///   salvage open).
    /// - Anything sled holds beyond the acknowledged head was never acknowledged. A batch
    ///   that is there whole and chains from the head (a crash after sled's durable write,
    ///   before the head file was updated) is kept, unless the append that wrote it was
    ///   reported as failed; anything else is removed: chunks, day summaries and id-index
    ///   entries beyond the head, and sled's head and wall are set back.
    fn reconcile(&mut self, acked: Acked, salvage: bool) -> Result<(), StoreError> {
        let a = acked.head;
        let end = self.check_acked_end(&a).or_else(|e| match e {
            // The tail cannot be read at all: damage too, as far as it can be named.
            StoreError::Corrupt(m) => Ok(Some(Problem {
                seq: a.seq.max(1),
                message: format!(
                    "unreadable: {m}, reading the records up to the last acknowledged seq {}",
                    a.seq
                ),
            })),
            e => Err(e),
        })?;
        if let Some(problem) = end {
            if !salvage {
                return Err(StoreError::Damaged {
                    seq: problem.seq,
                    message: problem.message,
                });
            }
            self.damage = Some(problem);
        }
        if self.damage.is_some() {
            // Read up to the acknowledged head; repairs wait until the damage is dealt with.
            self.head = a;
            self.wall = acked.wall;
            return Ok(());
        }
        let after = a.seq.saturating_add(1);
        let chunk_beyond = self
            .db
            .range(rec_key(after)..=rec_key(u64::MAX))
            .next()
            .transpose()?
            .is_some();
        let summary_beyond = self
            .db
            .range(summary_key(after)..=summary_key(u64::MAX))
            .next()
            .transpose()?
            .is_some();
        let clean = !chunk_beyond
            && !summary_beyond
            && self.head == a
            && self.wall == acked.wall
            && !acked.failed_after;
        if clean {
            return Ok(());
        }
        let sled_head = self.head;
        if !acked.failed_after && sled_head.seq > a.seq && self.whole_beyond(&a, &sled_head)? {
            let adopted = Acked {
                head: sled_head,
                wall: self.wall,
                failed_after: false,
            };
            return self.record_head(&adopted, Sync::Now);
        }
        self.roll_back_to(&acked)
    }

    /// None if the stored records end exactly at the acknowledged head `a` (seq and hash);
    /// else the first seq lost or altered.
    fn check_acked_end(&self, a: &Head) -> Result<Option<Problem>, StoreError> {
        if a.seq == 0 {
            return Ok(None);
        }
        let Some((k, v)) = self
            .db
            .range(rec_key(0)..=rec_key(a.seq))
            .next_back()
            .transpose()?
        else {
            return Ok(Some(Problem {
                seq: 1,
                message: format!(
                    "missing: seq {} was the last acknowledged (hash {}), but no record is stored: all are lost",
                    a.seq, a.hash
                ),
            }));
        };
        let first = be_u64(&k[1..]).unwrap_or(0);
        let mut last = first.saturating_sub(1);
        for r in decode_chunk(&k, &v) {
            match r {
                Ok(r) if r.seq == a.seq && r.hash == a.hash => return Ok(None),
                Ok(r) if r.seq == a.seq => {
                    return Ok(Some(Problem {
                        seq: a.seq,
                        message: format!(
                        "altered: seq {} was acknowledged with hash {}, the stored record has {}",
                        a.seq, a.hash, r.hash
                    ),
                    }))
                }
                Ok(r) => last = r.seq,
                Err(StoreError::Damaged { seq, message }) => {
                    return Ok(Some(Problem { seq, message }))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Problem {
            seq: last + 1,
            message: format!(
                "missing: seq {} was the last acknowledged (hash {}), but the stored records stop at seq {last}: seqs {}-{} are lost",
                a.seq,
                a.hash,
                last + 1,
                a.seq
            ),
        }))
    }

    /// Whether sled holds, beyond the acknowledged head `a`, exactly a whole write up to its
    /// own head: chunks from `a.seq + 1` on, chaining from `a`'s hash, each record hashing to
    /// itself and in the id index, each chunk with its day summary, ending at `sled_head`.
    fn whole_beyond(&self, a: &Head, sled_head: &Head) -> Result<bool, StoreError> {
        let mut prev = a.hash;
        let mut next = a.seq + 1;
        let mut chunk_seqs = Vec::new();
        for kv in self.db.range(rec_key(next)..=rec_key(u64::MAX)) {
            let (k, v) = kv?;
            let first = be_u64(&k[1..]).unwrap_or(0);
            if first != next {
                return Ok(false);
            }
            let mut records = Vec::new();
            for r in decode_chunk(&k, &v) {
                let Ok(r) = r else { return Ok(false) };
                if r.seq != next || r.prev_hash != prev || r.compute_hash() != r.hash {
                    return Ok(false);
                }
                if self.stored_seq_of(&r.id)? != Some(r.seq) {
                    return Ok(false);
                }
                prev = r.hash;
                next += 1;
                records.push(r);
            }
            let refs: Vec<&Record> = records.iter().collect();
            if self.db.get(summary_key(first))?.as_deref() != Some(&encode_summary(&refs)[..]) {
                return Ok(false);
            }
            chunk_seqs.push(first);
        }
        let mut summaries = Vec::new();
        for k in self
            .db
            .range(summary_key(a.seq + 1)..=summary_key(u64::MAX))
            .keys()
        {
            summaries.push(be_u64(&k?[1..]).unwrap_or(0));
        }
        Ok(summaries == chunk_seqs && next - 1 == sled_head.seq && prev == sled_head.hash)
    }

    /// Removes everything sled holds beyond the acknowledged head and sets its head and wall
    /// back, durably; then records the head as clean.
    pub(super) fn roll_back_to(&mut self, acked: &Acked) -> Result<(), StoreError> {
        let a = acked.head.seq;
        let after = a.saturating_add(1);
        let mut batch = sled::Batch::default();
        for k in self.db.range(rec_key(after)..=rec_key(u64::MAX)).keys() {
            batch.remove(k?);
        }
        for k in self
            .db
            .range(summary_key(after)..=summary_key(u64::MAX))
            .keys()
        {
            batch.remove(k?);
        }
        // Ids of records that were never acknowledged: a full pass over the index, since ids
        // given in the input are in no order. Only after a failed or interrupted write.
        for kv in self.db.scan_prefix([IDX]) {
            let (k, v) = kv?;
            if be_u64(&v).is_some_and(|seq| seq > a) {
                batch.remove(k);
            }
        }
        batch.insert(HEAD_KEY, acked.head.encode());
        if let Err(e) = self
            .ids
            .roll_back(&self.db, a)
            .and_then(|()| self.roll_back_who(&mut batch, a))
        {
            self.db.fail();
            return Err(e);
        }
        match acked.wall {
            Some(w) => batch.insert(WALL_KEY, &w.days_from_ce().to_le_bytes()),
            None => batch.remove(WALL_KEY),
        }
        let applied = self.db.apply_batch(batch);
        self.track(applied)?;
        self.drop_checkpoints_after(a)?;
        if let Err(e) = self.make_durable() {
            self.db.fail();
            return Err(e);
        }
        self.head = acked.head;
        self.wall = acked.wall;
        self.record_head(
            &Acked {
                failed_after: false,
                ..*acked
            },
            Sync::Now,
        )
    }

    /// Writes `acked` to the head file, made durable as `sync` says.
    pub(super) fn record_head(&mut self, acked: &Acked, sync: Sync) -> Result<(), StoreError> {
        let result = match self.head_file.as_mut() {
            Some(f) => f.write(acked, sync),
            None => Err(StoreError::Io("the ledger has no head file".into())),
        };
        if result.is_err() {
            self.db.fail();
        }
        result
    }

    /// Passes a sled result on, marking the ledger failed if it is an error (see `Drop`).
    pub(super) fn track<T>(&self, r: Result<T, sled::Error>) -> Result<T, StoreError> {
        r.map_err(|e| {
            self.db.fail();
            e.into()
        })
    }

    /// Why this ledger takes no append, if it does not.
    pub(super) fn refusal(&self) -> Option<StoreError> {
        if let Some(p) = &self.damage {
            return Some(StoreError::Damaged {
                seq: p.seq,
                message: p.message.clone(),
            });
        }
        if self.db.has_failed() {
            return Some(StoreError::Io(
                "an earlier write to this ledger failed: open it again".into(),
            ));
        }
        None
    }
}
