//! The employee index and the copies of the records of no employee (engine/src/whoindex.rs,
//! whoruns.rs, whocheck.rs), damaged behind the engine's back: `verify` checks them against
//! the log in its one pass and names the first record whose entry or copy is missing, extra
//! or wrong (exit 4, as for the id index); and `explain`/`state --employee`/`statement`
//! answer the same from the index as from the whole log.

use crate::util::{with_sled, Dir};

/// A block's entries: (who, seq).
type Entries = Vec<(u32, u64)>;

/// The employee index's blocks (`v` + run + block), edited in place: `edit` gets each
/// block's (who, seq) entries and may change, remove or add some; the block is written back
/// sorted.
fn edit_index(sled: &sled::Db, edit: &mut dyn FnMut(&mut Entries)) {
    let blocks: Vec<(sled::IVec, sled::IVec)> = sled
        .scan_prefix([b'v'])
        .map(|kv| kv.expect("read"))
        .collect();
    assert!(!blocks.is_empty(), "a block of the employee index");
    for (key, block) in blocks {
        let mut entries = espp_engine::store::who_decode_block(&block).expect("a block");
        edit(&mut entries);
        entries.sort();
        entries.dedup();
        sled.insert(key, espp_engine::store::who_encode_block(&entries))
            .expect("write the block back");
    }
}

/// A plan, a price, ten hires and another price: seqs 1 and 2 and 13 are of no employee,
/// 3-12 are E0-E9's.
fn ledger(dir: &Dir) {
    let mut input = String::from(
        r#"{"type":"plan_adopted","date":"2026-01-02","rules":{"name":"who"}}
{"type":"market_price","date":"2026-01-02","closes":["10.00"]}
"#,
    );
    for i in 0..10 {
        input.push_str(&format!(
            r#"{{"type":"employee_hired","date":"2026-01-05","employee":"E{i}","weekly_hours":"40","months_per_year":"12"}}"#
        ));
        input.push('\n');
    }
    dir.append(input).expect_code(0);
    dir.append(r#"{"type":"market_price","date":"2026-01-06","closes":["10.10"]}"#)
        .expect_code(0);
    dir.espp(&["verify"]).expect_code(0);
}

/// The `who` of seq `seq`'s entry.
fn who_at(sled: &sled::Db, seq: u64) -> u32 {
    let mut found = None;
    edit_index(sled, &mut |entries| {
        if let Some(e) = entries.iter().find(|e| e.1 == seq) {
            found = Some(e.0);
        }
    });
    found.expect("an entry at the seq")
}

#[test]
fn a_damaged_employee_index_or_copy_is_named() {
    type Edit = fn(&sled::Db);
    // (what is done, the words expected, records intact).
    let cases: [(Edit, &str, &str); 7] = [
        (
            |sled| edit_index(sled, &mut |e| e.retain(|e| e.1 != 7)),
            "at seq 7: the employee index lacks this record of E4",
            "6 records intact",
        ),
        (
            |sled| {
                let other = who_at(sled, 3);
                edit_index(sled, &mut |e| e.push((other, 9)));
            },
            "at seq 9: the employee index names this record of E6 more than once",
            "8 records intact",
        ),
        (
            |sled| {
                let other = who_at(sled, 3);
                edit_index(sled, &mut |e| {
                    e.retain(|e| e.1 != 10);
                    e.push((other, 10));
                });
            },
            "at seq 10: the employee index files this record of E7 under another employee",
            "9 records intact",
        ),
        (
            |sled| edit_index(sled, &mut |e| e.push((1, 2))),
            "at seq 2: the employee index names this record of no employee",
            "1 records intact",
        ),
        (
            |sled| edit_index(sled, &mut |e| e.push((1, 14))),
            "at seq 14: the employee index or its copies name seq 14, after the last record",
            "13 records intact",
        ),
        (
            |sled| {
                let mut k = vec![b'x'];
                k.extend_from_slice(&13u64.to_be_bytes());
                sled.remove(k).expect("remove").expect("the copy of seq 13");
            },
            "at seq 13: the employee index's copy of this record of no employee is missing",
            "12 records intact",
        ),
        (
            |sled| {
                let key = |s: u64| {
                    let mut k = vec![b'x'];
                    k.extend_from_slice(&s.to_be_bytes());
                    k
                };
                let first = sled.get(key(1)).expect("read").expect("the copy of seq 1");
                sled.insert(key(2), first).expect("write");
            },
            "at seq 2: the employee index's copy of this record of no employee is not this record",
            "1 records intact",
        ),
    ];
    for (edit, words, intact) in cases {
        let dir = Dir::new();
        ledger(&dir);
        with_sled(&dir.db(), edit);
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has(words)
            .stderr_has(intact);
    }
}

/// A block of the index that does not decode, or that is gone, is named too.
#[test]
fn a_malformed_or_missing_block_of_the_employee_index_is_named() {
    for remove in [false, true] {
        let dir = Dir::new();
        ledger(&dir);
        with_sled(&dir.db(), |sled| {
            let (k, _) = sled
                .scan_prefix([b'v'])
                .next()
                .expect("a block")
                .expect("read");
            if remove {
                sled.remove(k).expect("remove");
            } else {
                sled.insert(k, &[7u8, 0, 0][..]).expect("write");
            }
        });
        let words = if remove {
            "lacks its block 0"
        } else {
            "block 0 is malformed"
        };
        dir.espp(&["verify"])
            .expect_code(4)
            .stderr_has("at seq 14: the employee index's run")
            .stderr_has(words);
    }
}
