//! The hash-chain vector (shared/spec/vectors/chain.md): an export made elsewhere is
//! appended verbatim, verifies, exports back to the same objects, and an altered byte is
//! refused naming its seq.

use crate::util::{chain_vector, json_lines, Dir};

#[test]
fn chain_vector_appends_verifies_and_exports_back() {
    let dir = Dir::new();
    let run = dir.append(chain_vector());
    run.expect_code(0);
    assert!(
        run.stdout.contains("stored 3 event(s), seq 1-3"),
        "{}",
        run.stdout
    );
    let verify = dir.espp(&["verify"]);
    verify.expect_code(0);
    assert!(
        verify
            .stdout
            .contains("16553a2e4f27f018ad1943173cd5d0271d393c869a02b45fe2b076ddc1d3e641"),
        "verify names the head hash: {}",
        verify.stdout
    );
    assert_eq!(
        json_lines(&dir.export()),
        json_lines(chain_vector().as_bytes()),
        "export gives the vector's objects back"
    );
}

#[test]
fn chain_vector_appended_twice_is_a_no_op_naming_the_lines() {
    let dir = Dir::new();
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    let run = dir.append(chain_vector());
    run.expect_code(0);
    // Lines 1-3 were stored as seqs 1-3: named as one range.
    assert!(
        run.stdout
            .contains("lines 1-3: skipped, 3 events stored already as seq 1-3"),
        "lines not named as skipped: {}",
        run.stdout
    );
    assert!(run.stdout.contains("nothing new"), "{}", run.stdout);
    assert_eq!(dir.export(), before);

    // The same through --format json.
    let f = dir.file("again.jsonl", chain_vector());
    let run = dir.espp(&["append", f.to_str().expect("UTF-8"), "--format", "json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(v["stored"], 0);
    assert_eq!(v["skipped"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["skipped"][2]["line"], 3);
    assert_eq!(v["skipped"][2]["seq"], 3);
    dir.espp(&["verify"]).expect_code(0);
}

#[test]
fn altered_chain_vector_is_refused_naming_seq_3() {
    let altered = chain_vector().replace("\"4000.00\"", "\"4000.01\"");
    assert_ne!(altered, chain_vector());
    let dir = Dir::new();
    dir.append(&altered)
        .expect_code(1)
        .stderr_has("line 3")
        .stderr_has("seq 3")
        .stderr_has("`hash`");
    let export = dir.espp(&["export"]);
    assert!(
        export.code == 5 || (export.code == 0 && export.stdout.is_empty()),
        "the refused vector left {:?} (exit {})",
        export.stdout,
        export.code
    );

    // Against a ledger holding the true vector, seq 3's id is stored with other content.
    dir.append(chain_vector()).expect_code(0);
    let before = dir.export();
    dir.append(&altered).expect_code(3).stderr_has("line 3");
    assert_eq!(dir.export(), before);
}

#[test]
fn chain_vector_with_a_line_missing_is_refused() {
    // Dropping seq 2 breaks the chain at seq 3: refused, nothing stored.
    let text = chain_vector();
    let v: Vec<&str> = text.lines().collect();
    let dir = Dir::new();
    dir.append(format!("{}\n{}\n", v[0], v[2]))
        .expect_code(1)
        .stderr_has("line 2")
        .stderr_has("`seq`");
}
