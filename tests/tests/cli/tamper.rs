//! Tamper evidence (INTERCHANGE.md `espp verify`, engine/src/store.rs layout): a byte changed
//! inside a stored record, or a chunk removed, behind the engine's back makes `verify` exit 4
//! naming the first damaged seq.

use std::path::Path;

use crate::util::{three_chunk_ledger, wait_until_closed, with_sled, Dir};

/// `r` + first seq big-endian: the key of the chunk starting at `seq` (engine/src/store.rs).
fn chunk_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'r'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The byte range of record `index` inside a chunk value: version byte, u32 LE count, then
/// u32 LE length-prefixed records.
fn record_range(chunk: &[u8], index: usize) -> std::ops::Range<usize> {
    assert_eq!(chunk[0], 1, "chunk format version");
    let count = u32::from_le_bytes(chunk[1..5].try_into().expect("4 bytes")) as usize;
    assert!(index < count, "the chunk has {count} records");
    let mut pos = 5;
    for i in 0.. {
        let len = u32::from_le_bytes(chunk[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        pos += 4;
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
    // Seq 6 is the sixth record of the chunk at seq 1; the actor is stored as its UTF-8.
    patch_record(&dir.db(), 1, 5, b"cli-test", b"cli-tesT");
    dir.espp(&["verify"])
        .expect_code(4)
        .stderr_has("seq 6")
        .stderr_has("5 records intact");
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

/// `i` + the id's 16 bytes: the id index's key (engine/src/store.rs).
fn index_key(id: &str) -> Vec<u8> {
    let mut k = vec![b'i'];
    k.extend_from_slice(uuid::Uuid::parse_str(id).expect("a UUID").as_bytes());
    k
}

/// The ids of the records, by seq (index 0 is seq 1).
fn ids(dir: &Dir) -> Vec<String> {
    crate::util::json_lines(&dir.export())
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_string())
        .collect()
}

/// The library's two verifiers agree on the ledger: the single-threaded `Ledger::verify`
/// and `verify`'s one pass with the fold (`Ledger::verify_all`).
fn both_verifiers_agree(db: &Path) {
    wait_until_closed(db);
    let ledger = espp_engine::Ledger::open(db, &espp_engine::Options::default()).expect("open");
    let (all, _) = ledger.verify_all().expect("verify_all");
    let one = ledger.verify().expect("verify");
    let p =
        |r: &espp_engine::VerifyReport| format!("{:?} {} {}", r.problem, r.records, r.head_hash);
    assert_eq!(p(&all), p(&one));
}

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
            |sled, ids| {
                sled.remove(index_key(&ids[4])).expect("remove");
            },
            "at seq 5: the id index maps {5} to None, not to this seq",
            "4 records intact",
        ),
        (
            |sled, ids| {
                sled.insert(index_key(&ids[6]), &3u64.to_be_bytes())
                    .expect("insert");
            },
            "at seq 7: the id index maps {7} to Some(3), not to this seq",
            "6 records intact",
        ),
        (
            |sled, _| {
                let stray = index_key("0193f0a4-7c00-7000-8000-0000000000ff");
                sled.insert(stray, &11u64.to_be_bytes()).expect("insert");
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
            sled.remove(index_key(&ids[index - 1])).expect("remove");
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
            sled.insert(index_key(&ids[index - 1]), &1u64.to_be_bytes())
                .expect("insert");
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
