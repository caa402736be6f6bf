//! Tamper evidence (INTERCHANGE.md `espp verify`, engine/src/store.rs layout): a byte changed
//! inside a stored record, a chunk removed, or an id-index entry changed behind the engine's
//! back makes `verify` exit 4 naming the first damaged seq.

use std::path::Path;

use crate::util::{three_chunk_ledger, wait_until_closed, while_busy, with_sled, Dir};

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

/// `verify` hashes a chunk's records on the fold's thread or on the reader's, whichever has
/// time (issue 15): whichever altered record comes first is the one named, with the records
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
            while_busy(|| espp_engine::Ledger::open(&dir.db(), &espp_engine::Options::default()))
                .expect("open");
        let one = ledger.verify().expect("verify");
        let p = |r: &espp_engine::VerifyReport| {
            format!("{:?} {} {}", r.problem, r.records, r.head_hash)
        };
        // The reader hashing every record, the fold's thread hashing every one, and the two
        // sharing them as they have time.
        for on in HASH_ON {
            let (all, folded) = ledger.verify_all_with(on).expect("verify_all");
            assert!(folded.is_none());
            assert_eq!(p(&all), p(&one), "{on:?}");
        }
    }
}

/// Altered records in two chunks, one hashed on each thread (`HashOn::Alternate`: the
/// chunk at seq 1 on the fold's, at 5 on the reader's, at 8 on the fold's again), and in
/// whichever way `verify` shares them: the first in the log is named.
#[test]
fn the_first_altered_record_is_named_across_chunks_hashed_on_either_thread() {
    for (first, second) in [(3u64, 6u64), (6, 9), (2, 10)] {
        let dir = Dir::new();
        let hire = |i: usize| {
            format!(
                r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
            )
        };
        let mut plan = vec![
            r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"tamper"}}"#.to_string(),
        ];
        plan.extend((0..3).map(hire));
        dir.append(plan.join("\n")).expect_code(0);
        dir.append((3..6).map(hire).collect::<Vec<_>>().join("\n"))
            .expect_code(0);
        dir.append((6..9).map(hire).collect::<Vec<_>>().join("\n"))
            .expect_code(0);
        dir.espp(&["verify"]).expect_code(0);
        let forty = rust_decimal::Decimal::from(40).serialize();
        let mut forty_one = forty;
        forty_one[4] += 1;
        // Chunks start at seq 1 (the plan and three hires), 5 and 8.
        let at = |seq: u64| {
            let first = [8, 5, 1].into_iter().find(|f| *f <= seq).unwrap_or(1);
            (first, (seq - first) as usize)
        };
        for seq in [second, first] {
            let (chunk, index) = at(seq);
            patch_record(&dir.db(), chunk, index, &forty, &forty_one);
        }
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(&format!("at seq {first}: altered"))
            .stderr_has(&format!("{} records intact", first - 1));
        both_verifiers_agree(&dir.db());
    }
}

/// One block's id index entries: (event id, seq).
type Entries = Vec<([u8; 16], u64)>;

/// The id index's entries, edited in place (engine/src/idindex.rs: `j` + run + block →
/// sorted entries of id (16 bytes) and seq (u64 LE)): `edit` gets each block's entries and
/// may change, remove or add some; the block is written back sorted by id.
fn edit_index(sled: &sled::Db, edit: &mut dyn FnMut(&mut Entries)) {
    let blocks: Vec<(sled::IVec, sled::IVec)> = sled
        .scan_prefix([b'j'])
        .map(|kv| kv.expect("read"))
        .collect();
    assert!(!blocks.is_empty(), "a block of the id index");
    for (key, block) in blocks {
        let mut entries: Vec<([u8; 16], u64)> = block
            .chunks_exact(24)
            .map(|e| {
                let id: [u8; 16] = e[..16].try_into().expect("16 bytes");
                let seq = u64::from_le_bytes(e[16..].try_into().expect("8 bytes"));
                (id, seq)
            })
            .collect();
        edit(&mut entries);
        entries.sort();
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|(id, seq)| id.iter().copied().chain(seq.to_le_bytes()))
            .collect();
        sled.insert(key, bytes).expect("write the block back");
    }
}

fn uuid_bytes(id: &str) -> [u8; 16] {
    *uuid::Uuid::parse_str(id).expect("a UUID").as_bytes()
}

/// Removes `id`'s entry from the id index.
fn remove_index_entry(sled: &sled::Db, id: &str) {
    let id = uuid_bytes(id);
    edit_index(sled, &mut |entries| entries.retain(|(i, _)| *i != id));
}

/// Maps `id` to `seq` in the id index (in the block that holds it).
fn set_index_entry(sled: &sled::Db, id: &str, seq: u64) {
    let id = uuid_bytes(id);
    edit_index(sled, &mut |entries| {
        for e in entries.iter_mut().filter(|(i, _)| *i == id) {
            e.1 = seq;
        }
    });
}

/// The ids of the records, by seq (index 0 is seq 1).
fn ids(dir: &Dir) -> Vec<String> {
    crate::util::json_lines(&dir.export())
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_string())
        .collect()
}

/// The library's two verifiers agree on the ledger: the single-threaded `Ledger::verify`
/// and `verify`'s one pass with the fold (`Ledger::verify_all`), whichever thread of the
/// latter hashes the records (the reader all of them, the fold's thread all, or shared).
fn both_verifiers_agree(db: &Path) {
    wait_until_closed(db);
    let ledger = while_busy(|| espp_engine::Ledger::open(db, &espp_engine::Options::default()))
        .expect("open");
    let one = ledger.verify().expect("verify");
    let p =
        |r: &espp_engine::VerifyReport| format!("{:?} {} {}", r.problem, r.records, r.head_hash);
    for on in HASH_ON {
        let (all, _) = ledger.verify_all_with(on).expect("verify_all");
        assert_eq!(p(&all), p(&one), "{on:?}");
    }
}

/// Every way `verify_all` can share the hashing between its threads.
const HASH_ON: [espp_engine::HashOn; 4] = [
    espp_engine::HashOn::Reader,
    espp_engine::HashOn::Fold,
    espp_engine::HashOn::Alternate,
    espp_engine::HashOn::Shared,
];

/// The id index, damaged behind the engine's back (issue 15: `verify` checks it with one scan
/// of the index, looking records up one by one only when the scan disagrees): a missing
/// entry, a wrong seq, an extra entry and a malformed one are each named as when every
/// record was looked up, the first record whose entry is wrong with the records before it.
#[test]
fn a_damaged_id_index_is_named() {
    // (what is done to the index, given the ids; the words expected; records intact).
    type Edit = fn(&sled::Db, &[String]);
    let cases: [(Edit, &str, &str); 4] = [
        (
            |sled, ids| remove_index_entry(sled, &ids[4]),
            "at seq 5: the id index maps {5} to None, not to this seq",
            "4 records intact",
        ),
        (
            |sled, ids| set_index_entry(sled, &ids[6], 3),
            "at seq 7: the id index maps {7} to Some(3), not to this seq",
            "6 records intact",
        ),
        (
            |sled, _| {
                let stray = uuid_bytes("0193f0a4-7c00-7000-8000-0000000000ff");
                edit_index(sled, &mut |entries| entries.push((stray, 11)));
            },
            "at seq 12: the id index has 12 entries for 11 records",
            "11 records intact",
        ),
        (
            |sled, _| {
                sled.insert(b"i-not-an-id", &11u64.to_be_bytes())
                    .expect("insert");
            },
            "at seq 12: the id index has 12 entries for 11 records",
            "11 records intact",
        ),
    ];
    for (edit, words, intact) in cases {
        let dir = Dir::new();
        one_chunk_ledger(&dir);
        let ids = ids(&dir);
        with_sled(&dir.db(), |sled| edit(sled, &ids));
        let mut words = words.to_string();
        for (i, id) in ids.iter().enumerate() {
            words = words.replace(&format!("{{{}}}", i + 1), id);
        }
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(&words)
            .stderr_has(intact);
        both_verifiers_agree(&dir.db());
    }
}

/// A wrong index entry and a damaged record: whichever comes first in the log is named (at
/// the same record, its hash before its index entry), whichever thread hashed the record.
/// (Before the index was checked by a scan, `espp verify` named the index at (7, 7): the
/// reader stopped at the entry before the fold's thread hashed record 7; `Ledger::verify`
/// said "altered".)
#[test]
fn a_wrong_index_entry_and_an_altered_record_the_first_is_named() {
    // (seq whose index entry is removed, seq altered, the seq named, what is said).
    let cases = [
        (3, 8, 3, "the id index maps"),
        (3, 9, 3, "the id index maps"),
        (9, 4, 4, "altered"),
        (9, 5, 5, "altered"),
        (6, 6, 6, "altered"),
        (7, 7, 7, "altered"),
    ];
    for (index, altered, named, says) in cases {
        let dir = Dir::new();
        one_chunk_ledger(&dir);
        let ids = ids(&dir);
        with_sled(&dir.db(), |sled| {
            remove_index_entry(sled, &ids[index - 1]);
        });
        let forty = rust_decimal::Decimal::from(40).serialize();
        let mut forty_one = forty;
        forty_one[4] += 1;
        patch_record(&dir.db(), 1, altered - 1, &forty, &forty_one);
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(&format!("at seq {named}: {says}"))
            .stderr_has(&format!("{} records intact", named - 1));
        both_verifiers_agree(&dir.db());
    }
}

/// A wrong index entry before a missing chunk is named first; one after it is not reached.
#[test]
fn a_wrong_index_entry_before_a_missing_chunk_is_named_first() {
    for (index, named, says) in [(2, 2, "the id index maps"), (7, 3, "missing")] {
        let dir = Dir::new();
        three_chunk_ledger(&dir);
        let ids = ids(&dir);
        with_sled(&dir.db(), |sled| {
            set_index_entry(sled, &ids[index - 1], 1);
            sled.remove(chunk_key(3))
                .expect("remove")
                .expect("a chunk at seq 3");
        });
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(&format!("at seq {named}: {says}"))
            .stderr_has(&format!("{} records intact", named - 1));
        both_verifiers_agree(&dir.db());
    }
}
