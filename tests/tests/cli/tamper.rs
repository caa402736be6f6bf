//! Tamper evidence (INTERCHANGE.md `espp verify`, engine/src/store.rs layout): a byte changed
//! inside a stored record, a chunk removed, or an id-index entry changed behind the engine's
//! back makes `verify` exit 4 naming the first damaged seq.

use std::path::Path;

use crate::util::{three_chunk_ledger, wait_until_closed, with_sled, Dir};

/// `r` + first seq big-endian: the key of the chunk starting at `seq` (engine/src/store.rs).
fn chunk_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'r'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The byte range of record `index` inside a chunk value (engine/src/chunk.rs, version 2):
/// version byte, record format byte, u32 LE count, the first `prev_hash` (32 bytes), the
/// shared `recorded_at` (bincode varint: 253 and 8 bytes for today's instants) and `actor`
/// (one length byte, then UTF-8), then LEB128 length-prefixed records.
fn record_range(chunk: &[u8], index: usize) -> std::ops::Range<usize> {
    assert_eq!(chunk[0], 2, "chunk format version");
    let count = u32::from_le_bytes(chunk[2..6].try_into().expect("4 bytes")) as usize;
    assert!(index < count, "the chunk has {count} records");
    let mut pos = 6 + 32;
    assert_eq!(chunk[pos], 253, "an instant of today is a u64 varint");
    pos += 9;
    pos += 1 + chunk[pos] as usize;
    for i in 0.. {
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let b = chunk[pos];
            pos += 1;
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if i == index {
            return pos..pos + len;
        }
        pos += len;
    }
    unreachable!()
}

/// Replaces the first occurrence of `from` inside record `index` of the chunk at `first_seq`.
fn patch_record(db: &Path, first_seq: u64, index: usize, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    with_sled(db, |sled| {
        let key = chunk_key(first_seq);
        let mut chunk = sled.get(&key).expect("read").expect("the chunk").to_vec();
        let range = record_range(&chunk, index);
        let record = &mut chunk[range];
        let at = record
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{from:?} is not in record {index}"));
        record[at..at + from.len()].copy_from_slice(to);
        sled.insert(key, chunk).expect("write the chunk back");
    });
}

/// A ledger of one append: plan_adopted and ten hires (seq 1-11, one chunk).
fn one_chunk_ledger(dir: &Dir) {
    let mut input =
        String::from(r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"tamper"}}"#);
    input.push('\n');
    for i in 0..10 {
        input.push_str(&format!(
            r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
        ));
        input.push('\n');
    }
    dir.append(input).expect_code(0);
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn a_changed_actor_byte_is_found() {
    let dir = Dir::new();
    one_chunk_ledger(&dir);
    // The actor is stored once in the chunk's header (the records of one append share it):
    // changed there, it alters every record of the chunk, and the first is named.
    with_sled(&dir.db(), |sled| {
        let key = chunk_key(1);
        let mut chunk = sled.get(&key).expect("read").expect("the chunk").to_vec();
        let header = ..record_range(&chunk, 0).start;
        let at = chunk[header]
            .windows(8)
            .position(|w| w == b"cli-test")
            .expect("the actor in the chunk's header");
        chunk[at + 7] = b'T';
        sled.insert(key, chunk).expect("write the chunk back");
    });
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 1")
        .stderr_has("0 records intact");
}

#[test]
fn a_changed_decimal_byte_is_found() {
    let dir = Dir::new();
    one_chunk_ledger(&dir);
    // weekly_hours "40" is rust_decimal's 16 bytes (flags, lo, mid, hi): make it 41.
    let forty = rust_decimal::Decimal::from(40).serialize();
    let mut forty_one = forty;
    forty_one[4] += 1;
    patch_record(&dir.db(), 1, 8, &forty, &forty_one);
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 9")
        .stderr_has("altered");
}

#[test]
fn a_deleted_middle_chunk_is_found() {
    let dir = Dir::new();
    three_chunk_ledger(&dir);
    with_sled(&dir.db(), |sled| {
        assert!(
            sled.remove(chunk_key(3)).expect("remove").is_some(),
            "no chunk at seq 3"
        );
    });
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 3")
        .stderr_has("missing");
}

#[test]
fn a_deleted_last_chunk_is_found() {
    let dir = Dir::new();
    three_chunk_ledger(&dir);
    with_sled(&dir.db(), |sled| {
        assert!(
            sled.remove(chunk_key(6)).expect("remove").is_some(),
            "no chunk at seq 6"
        );
    });
    // Seqs 6-8 are gone: the first one missing is named.
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("at seq 6")
        .stderr_has("missing");
}

/// `verify` hashes records of odd seq on the fold's thread, the others on the reader's
/// (issue 15): whichever altered record comes first is the one named, with the records
/// intact before it, as the library's single-threaded `Ledger::verify` says.
#[test]
fn the_first_altered_record_is_named_whichever_thread_hashed_it() {
    for (first, second) in [(3usize, 8usize), (4, 9)] {
        let dir = Dir::new();
        one_chunk_ledger(&dir);
        let forty = rust_decimal::Decimal::from(40).serialize();
        let mut forty_one = forty;
        forty_one[4] += 1;
        // Records at chunk index i are seq i + 1; both are hires.
        patch_record(&dir.db(), 1, second - 1, &forty, &forty_one);
        patch_record(&dir.db(), 1, first - 1, &forty, &forty_one);
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(&format!("seq {first}"))
            .stderr_has(&format!("{} records intact", first - 1));
        wait_until_closed(&dir.db());
        let ledger =
            espp_engine::Ledger::open(&dir.db(), &espp_engine::Options::default()).expect("open");
        let (all, folded) = ledger.verify_all().expect("verify_all");
        let one = ledger.verify().expect("verify");
        assert!(folded.is_none());
        let p = |r: &espp_engine::VerifyReport| {
            format!("{:?} {} {}", r.problem, r.records, r.head_hash)
        };
        assert_eq!(p(&all), p(&one));
    }
}

/// The id index's runs (engine/src/idindex.rs): `j` + run + block → sorted (id 16 bytes,
/// seq u64 LE) entries. An entry changed behind the engine's back is found by `verify`.
#[test]
fn a_changed_id_index_entry_is_found() {
    let dir = Dir::new();
    one_chunk_ledger(&dir);
    with_sled(&dir.db(), |sled| {
        let (key, block) = sled
            .scan_prefix([b'j'])
            .next()
            .expect("a block of the id index")
            .expect("read");
        let mut block = block.to_vec();
        assert_eq!(block.len(), 11 * 24, "one entry per record");
        // The first entry's seq, one more.
        block[16] ^= 0x40;
        sled.insert(key, block).expect("write the block back");
    });
    dir.espp(&["verify"]).expect_code(4).stderr_has("id index");
}
