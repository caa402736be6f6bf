//! A chunk: the value under `r` + first seq holding up to 256 consecutive records, in
//! format version 2 (what is redundant inside a chunk stored once) or 1 (whole records, as
//! ledgers written before version 2 hold them; still read).
//!
//! Version 1: version byte, count (u32 LE), then per record its length (u32 LE) and its
//! versioned encoding (`espp_events::encode_into`).
//!
//! Version 2: version byte, the record format version of the parts
//! ([`RECORD_FORMAT_VERSION`]), count (u32 LE), the first record's `prev_hash` (32 bytes), the
//! chunk's usual `recorded_at` and `actor` (record parts, `espp_events::encode_part`), then
//! per record its length (LEB128) and: a flags byte (bit 0: its own `recorded_at` follows;
//! bit 1: its own `actor` follows), id (16 bytes), hash (32 bytes), those parts if flagged,
//! then `(date, event)`. A record's seq is the chunk's first seq plus its place, and its
//! `prev_hash` the hash of the record before it: records decode to the same [`Record`]s, with
//! the same hashes, as version 1.

use espp_events::{
    decode, decode_part, encode_part, Actor, DecodeError, Hash, Instant, Record,
    RECORD_FORMAT_VERSION,
};

use super::StoreError;

/// The version new chunks are written in.
pub(super) const CHUNK_VERSION: u8 = 2;
const OWN_RECORDED_AT: u8 = 1;
const OWN_ACTOR: u8 = 2;

/// Encodes consecutive records as one chunk value (version 2).
pub(super) fn encode_chunk(records: &[&Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + records.len() * 128);
    out.push(CHUNK_VERSION);
    out.push(RECORD_FORMAT_VERSION);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let Some(first) = records.first() else {
        return out;
    };
    out.extend_from_slice(&first.prev_hash.0);
    encode_part(&first.recorded_at, &mut out);
    encode_part(&first.actor, &mut out);
    let mut body = Vec::with_capacity(256);
    for r in records {
        body.clear();
        let own_at = r.recorded_at != first.recorded_at;
        let own_actor = r.actor != first.actor;
        body.push(if own_at { OWN_RECORDED_AT } else { 0 } | if own_actor { OWN_ACTOR } else { 0 });
        body.extend_from_slice(r.id.as_bytes());
        body.extend_from_slice(&r.hash.0);
        if own_at {
            encode_part(&r.recorded_at, &mut body);
        }
        if own_actor {
            encode_part(&r.actor, &mut body);
        }
        encode_part(&(r.date, &r.event), &mut body);
        let mut len = body.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(&body);
    }
    out
}

/// Encodes consecutive records as a version 1 chunk: what ledgers written before version 2
/// hold (kept for tests that version 1 still decodes; tests/data/ledger-v1 is such a ledger).
#[cfg(test)]
fn encode_chunk_v1(records: &[&Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + records.len() * 180);
    out.push(1);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let mut buf = Vec::with_capacity(256);
    for r in records {
        buf.clear();
        espp_events::encode_into(r, &mut buf);
        out.extend_from_slice(&(buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&buf);
    }
    out
}

/// Decodes a chunk stored under `r` + `first` seq: its records in order, each an error from
/// the first damaged one on (then nothing after it).
pub(super) fn decode_chunk(first: u64, value: &[u8]) -> Vec<Result<Record, StoreError>> {
    let mut records = Vec::new();
    let damage = decode_chunk_into(first, value, &mut records);
    with_damage(records, damage)
}

/// Records, then the damage found after them, as one list of results.
fn with_damage(
    records: Vec<Record>,
    damage: Option<StoreError>,
) -> Vec<Result<Record, StoreError>> {
    let mut out: Vec<Result<Record, StoreError>> = Vec::with_capacity(records.len() + 1);
    out.extend(records.into_iter().map(Ok));
    out.extend(damage.map(Err));
    out
}

/// [`decode_chunk`] into `out` (the records that decode, in order, moved there once: `verify`
/// reads every record through this), returning the first damaged record's error, if any:
/// nothing after it is decoded.
pub(super) fn decode_chunk_into(
    first: u64,
    value: &[u8],
    out: &mut Vec<Record>,
) -> Option<StoreError> {
    let damaged = |i: usize, message: String| StoreError::Damaged {
        seq: first + i as u64,
        message,
    };
    match value.first() {
        Some(1) => match chunk_v1_records(first, value) {
            Err(e) => Some(e),
            Ok(parts) => {
                out.reserve(parts.len());
                for (i, bytes) in parts.into_iter().enumerate() {
                    match decode(bytes) {
                        Ok(r) => out.push(r),
                        Err(e) => return Some(damaged(i, e.to_string())),
                    }
                }
                None
            }
        },
        Some(2) => decode_v2_with(first, value, &|_| false, None, out),
        Some(v) => Some(damaged(
            0,
            format!("chunk format version {v} is unknown to this build"),
        )),
        None => Some(damaged(0, "empty chunk".into())),
    }
}

/// Decodes only the record at `seq` of a chunk stored under `r` + `first` (None if the chunk
/// does not hold it): the records before it are skipped, not decoded (a version 2 record's
/// hash, which the next one's `prev_hash` is, sits at a fixed place in its bytes).
pub(super) fn decode_one(first: u64, value: &[u8], seq: u64) -> Result<Option<Record>, StoreError> {
    let Some(index) = seq.checked_sub(first).map(|i| i as usize) else {
        return Ok(None);
    };
    let damaged = |seq: u64, message: String| StoreError::Damaged { seq, message };
    match value.first() {
        Some(1) => {
            let parts = chunk_v1_records(first, value)?;
            match parts.get(index) {
                None => Ok(None),
                Some(bytes) => decode(bytes)
                    .map(Some)
                    .map_err(|e| damaged(seq, e.to_string())),
            }
        }
        Some(2) => {
            let mut r = Reader {
                bytes: value,
                pos: 1,
            };
            let header = (|| -> Result<(usize, Hash, Instant, Actor), String> {
                r.take(1)?;
                let count =
                    u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "chunk truncated")?);
                let prev = r.hash()?;
                let at = r.part::<Instant>()?;
                let actor = r.part::<Actor>()?;
                Ok((count as usize, prev, at, actor))
            })();
            let (count, mut prev, _, _) = header
                .map_err(|m| damaged(first, format!("the chunk's header is damaged: {m}")))?;
            if index >= count {
                return Ok(None);
            }
            let header_end = r.pos;
            for i in 0..index {
                let skipped = (|| -> Result<Hash, String> {
                    let len = r.len()?;
                    let body = r.take(len)?;
                    let h = body.get(17..49).ok_or("record truncated")?;
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(h);
                    Ok(Hash(hash))
                })();
                prev = skipped.map_err(|m| {
                    damaged(first + i as u64, format!("record bytes do not decode: {m}"))
                })?;
            }
            // Decode the one record as the whole chunk's decoder would, with its `prev_hash`.
            let mut one = Vec::with_capacity(value.len() - r.pos + header_end);
            one.extend_from_slice(&value[..header_end]);
            one[2..6].copy_from_slice(&1u32.to_le_bytes());
            one[6..38].copy_from_slice(&prev.0);
            let rest = &value[r.pos..];
            let len = Reader {
                bytes: rest,
                pos: 0,
            }
            .len_with_prefix()
            .map_err(|m| damaged(seq, format!("record bytes do not decode: {m}")))?;
            one.extend_from_slice(&rest[..len]);
            match decode_v2(seq, &one).pop() {
                Some(Ok(rec)) => Ok(Some(rec)),
                Some(Err(e)) => Err(e),
                None => Ok(None),
            }
        }
        _ => decode_chunk(first, value)
            .into_iter()
            .nth(index)
            .transpose(),
    }
}

/// Splits a version 1 chunk into its record byte slices.
fn chunk_v1_records(first: u64, value: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let damaged = |i: usize, message: &str| StoreError::Damaged {
        seq: first + i as u64,
        message: message.into(),
    };
    let rest = value.get(1..).unwrap_or_default();
    let count = rest
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let count = count.ok_or_else(|| damaged(0, "truncated chunk header"))?;
    let mut pos = 4;
    let mut out = Vec::with_capacity(count.min(4096));
    for i in 0..count {
        let len = rest
            .get(pos..pos + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| damaged(i, "record missing: chunk truncated"))?;
        pos += 4;
        let bytes = rest
            .get(pos..pos + len)
            .ok_or_else(|| damaged(i, "record truncated"))?;
        pos += len;
        out.push(bytes);
    }
    if pos != rest.len() {
        return Err(damaged(
            count,
            "unexpected bytes after the chunk's last record",
        ));
    }
    Ok(out)
}

/// A cursor over a version 2 chunk's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self
            .bytes
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or("chunk truncated")?;
        self.pos += n;
        Ok(out)
    }

    fn part<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, String> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let (v, used) = decode_part::<T>(rest).map_err(|e: DecodeError| e.to_string())?;
        self.pos += used;
        Ok(v)
    }

    fn len(&mut self) -> Result<usize, String> {
        let mut n: usize = 0;
        for shift in (0..35).step_by(7) {
            let b = *self.take(1)?.first().ok_or("chunk truncated")?;
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("a record length is malformed".into())
    }

    /// The length of the record starting here, its length prefix included.
    fn len_with_prefix(&mut self) -> Result<usize, String> {
        let start = self.pos;
        let len = self.len()?;
        let end = self.pos + len;
        if end > self.bytes.len() {
            return Err("chunk truncated".into());
        }
        Ok(end - start)
    }

    fn hash(&mut self) -> Result<Hash, String> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Ok(Hash(h))
    }
}

/// A record's place in the hash chain: its seq, its `prev_hash` and its hash.
pub(super) type Link = (u64, Hash, Hash);

/// Decodes the records of a chunk stored under `r` + `first` that are of no employee or of
/// `employee`, as [`decode_chunk`] does; a version 2 chunk's records of another employee are
/// not decoded (their employee is read from their bytes, [`espp_events::peek_part_employee`]).
/// Also returns every record's [`Link`], skipped ones included, for a version 2 chunk (None
/// for version 1, whose records are all decoded).
pub(super) fn decode_chunk_of(
    first: u64,
    value: &[u8],
    employee: &str,
) -> (Vec<Result<Record, StoreError>>, Option<Vec<Link>>) {
    match value.first() {
        Some(2) => {
            let mut links = Vec::with_capacity(256);
            let skip = |part: &[u8]| matches!(espp_events::peek_part_employee(part), Ok(Some(e)) if e != employee.as_bytes());
            let mut records = Vec::new();
            let damage = decode_v2_with(first, value, &skip, Some(&mut links), &mut records);
            (with_damage(records, damage), Some(links))
        }
        _ => (decode_chunk(first, value), None),
    }
}

fn decode_v2(first: u64, value: &[u8]) -> Vec<Result<Record, StoreError>> {
    let mut records = Vec::new();
    let damage = decode_v2_with(first, value, &|_| false, None, &mut records);
    with_damage(records, damage)
}

/// Decodes a version 2 chunk's records into `out`, but not those whose `(date, event)` bytes
/// `skip` says to leave (their links still go to `links`); returns the first damage found
/// (nothing after it is decoded).
fn decode_v2_with(
    first: u64,
    value: &[u8],
    skip: &dyn Fn(&[u8]) -> bool,
    mut links: Option<&mut Vec<Link>>,
    out: &mut Vec<Record>,
) -> Option<StoreError> {
    let mut r = Reader {
        bytes: value,
        pos: 1,
    };
    let header = (|| -> Result<(usize, Hash, Instant, Actor), String> {
        let format = r.take(1)?[0];
        if format != RECORD_FORMAT_VERSION {
            return Err(format!(
                "record format version {format} is unknown to this build (it reads version {RECORD_FORMAT_VERSION})"
            ));
        }
        let count = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "chunk truncated")?);
        let prev = r.hash()?;
        let at = r.part::<Instant>()?;
        let actor = r.part::<Actor>()?;
        Ok((count as usize, prev, at, actor))
    })();
    let (count, mut prev, at, actor) = match header {
        Ok(h) => h,
        Err(message) => {
            return Some(StoreError::Damaged {
                seq: first,
                message: format!("the chunk's header is damaged: {message}"),
            })
        }
    };
    out.reserve(count.min(4096));
    for i in 0..count {
        let seq = first + i as u64;
        let record = (|| -> Result<Option<Record>, String> {
            let len = r.len()?;
            let body = r.take(len)?;
            let mut b = Reader {
                bytes: body,
                pos: 0,
            };
            let flags = b.take(1)?[0];
            if flags & !(OWN_RECORDED_AT | OWN_ACTOR) != 0 {
                return Err(format!("unknown record flags {flags:#04x}"));
            }
            let id = uuid::Uuid::from_bytes(b.take(16)?.try_into().map_err(|_| "truncated")?);
            let hash = b.hash()?;
            if let Some(links) = links.as_deref_mut() {
                links.push((seq, prev, hash));
            }
            let recorded_at = if flags & OWN_RECORDED_AT != 0 {
                b.part::<Instant>()?
            } else {
                at
            };
            let own_actor = if flags & OWN_ACTOR != 0 {
                Some(b.part::<Actor>()?)
            } else {
                None
            };
            if skip(&body[b.pos..]) {
                prev = hash;
                return Ok(None);
            }
            let actor = own_actor.unwrap_or_else(|| actor.clone());
            let ((date, event), used) =
                espp_events::decode_dated_event(body.get(b.pos..).unwrap_or_default())
                    .map_err(|e| e.to_string())?;
            b.pos += used;
            if b.pos != body.len() {
                return Err(format!(
                    "{} trailing bytes after the record",
                    body.len() - b.pos
                ));
            }
            Ok(Some(Record {
                seq,
                id,
                date,
                recorded_at,
                actor,
                prev_hash: prev,
                hash,
                event,
            }))
        })();
        match record {
            Ok(None) => {}
            Ok(Some(rec)) => {
                prev = rec.hash;
                out.push(rec);
            }
            Err(message) => {
                return Some(StoreError::Damaged {
                    seq,
                    message: format!("record bytes do not decode: {message}"),
                });
            }
        }
    }
    (r.pos != value.len()).then(|| StoreError::Damaged {
        seq: first + count as u64,
        message: "unexpected bytes after the chunk's last record".into(),
    })
}

#[cfg(test)]
mod tests {
    use espp_events::{parse_line, Line};

    use super::*;

    /// Chained records whose `recorded_at` and `actor` change inside the run, as a group
    /// commit of several callers' batches stores them in one chunk.
    fn records(n: usize) -> Vec<Record> {
        let t0 = crate::now();
        let t1 = Instant::from_datetime(chrono::DateTime::from_timestamp_nanos(t0.nanos() + 1))
            .expect("an instant");
        let mut prev = Hash([7; 32]);
        (0..n)
            .map(|i| {
                let text = format!(
                    r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
                );
                let Ok(Line::Bare(e)) = parse_line(&text) else {
                    panic!("a bare event")
                };
                let actor = Actor::new(if i % 3 == 2 { "other" } else { "payroll" })
                    .expect("an actor");
                let at = if i % 5 == 4 { t1 } else { t0 };
                let r = Record::chain(
                    100 + i as u64,
                    uuid::Uuid::from_u128(i as u128 * 7919),
                    e.date,
                    at,
                    actor,
                    prev,
                    e.event,
                );
                prev = r.hash;
                r
            })
            .collect()
    }

    #[test]
    fn both_versions_decode_to_the_same_records_with_the_same_hashes() {
        let rs = records(40);
        let refs: Vec<&Record> = rs.iter().collect();
        let v2 = encode_chunk(&refs);
        let v1 = encode_chunk_v1(&refs);
        assert!(v2.len() < v1.len() * 3 / 4, "{} vs {}", v2.len(), v1.len());
        for value in [&v2, &v1] {
            let back: Vec<Record> = decode_chunk(100, value)
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("decodes");
            assert_eq!(back, rs);
            assert!(back.iter().all(|r| r.compute_hash() == r.hash));
        }
    }

    #[test]
    fn one_record_decodes_alone_as_in_the_whole_chunk() {
        let rs = records(40);
        let refs: Vec<&Record> = rs.iter().collect();
        for value in [encode_chunk(&refs), encode_chunk_v1(&refs)] {
            for (i, r) in rs.iter().enumerate() {
                let one = decode_one(100, &value, 100 + i as u64).expect("decodes");
                assert_eq!(one.as_ref(), Some(r));
            }
            assert_eq!(decode_one(100, &value, 99).expect("none"), None);
            assert_eq!(decode_one(100, &value, 140).expect("none"), None);
        }
    }

    #[test]
    fn one_employees_records_decode_as_in_the_whole_chunk_with_every_link() {
        // Employees E0, E1, E2 in turn, every fourth record a price of no employee.
        let mut prev = Hash([9; 32]);
        let rs: Vec<Record> = (0..60)
            .map(|i| {
                let text = if i % 4 == 3 {
                    r#"{"type":"market_price","date":"2026-01-05","closes":["12.50"]}"#.to_string()
                } else {
                    format!(r#"{{"type":"payroll","date":"2026-01-05","employee":"E{}","gross_pay":"4000.00"}}"#, i % 3)
                };
                let Ok(Line::Bare(e)) = parse_line(&text) else {
                    panic!("a bare event")
                };
                let actor = Actor::new("payroll").expect("an actor");
                let r = Record::chain(
                    100 + i as u64,
                    uuid::Uuid::from_u128(i as u128 + 1),
                    e.date,
                    crate::now(),
                    actor,
                    prev,
                    e.event,
                );
                prev = r.hash;
                r
            })
            .collect();
        let refs: Vec<&Record> = rs.iter().collect();
        let all_links: Vec<Link> = rs.iter().map(|r| (r.seq, r.prev_hash, r.hash)).collect();
        for employee in ["E0", "E1", "E9"] {
            let wanted: Vec<&Record> = rs
                .iter()
                .filter(|r| r.event.employee().is_none_or(|e| e.as_str() == employee))
                .collect();
            let (kept, links) = decode_chunk_of(100, &encode_chunk(&refs), employee);
            let kept: Vec<Record> = kept.into_iter().collect::<Result<_, _>>().expect("decodes");
            assert_eq!(kept.iter().collect::<Vec<_>>(), wanted, "{employee}");
            assert_eq!(links.as_ref(), Some(&all_links), "{employee}");
            // Version 1: every record decoded, no links of its own.
            let (v1, links) = decode_chunk_of(100, &encode_chunk_v1(&refs), employee);
            assert_eq!(v1.len(), rs.len());
            assert!(links.is_none());
        }
        // A record cut short is still named, skipped or not.
        let mut cut = encode_chunk(&refs);
        cut.truncate(cut.len() - 3);
        let (kept, _) = decode_chunk_of(100, &cut, "E1");
        assert!(matches!(
            kept.last(),
            Some(Err(StoreError::Damaged { seq: 159, .. }))
        ));
    }

    #[test]
    fn a_damaged_v2_record_is_named_and_the_ones_before_it_decode() {
        let rs = records(10);
        let refs: Vec<&Record> = rs.iter().collect();
        let mut v2 = encode_chunk(&refs);
        // Cut the chunk inside its last record.
        v2.truncate(v2.len() - 3);
        let back = decode_chunk(100, &v2);
        assert_eq!(back.len(), 10);
        assert!(back[..9].iter().all(Result::is_ok));
        match &back[9] {
            Err(StoreError::Damaged { seq, .. }) => assert_eq!(*seq, 109),
            other => panic!("{other:?}"),
        }
        // An unknown version is refused at the chunk's first seq.
        let mut v9 = encode_chunk(&refs);
        v9[0] = 9;
        match decode_chunk(100, &v9).as_slice() {
            [Err(StoreError::Damaged { seq: 100, message })] => {
                assert!(message.contains("version 9"))
            }
            other => panic!("{other:?}"),
        }
    }
}
