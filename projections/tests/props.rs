//! Property tests: DOMAIN.md §11's invariants after every event of generated company
//! histories (capital changes, dividends, certificates and sales included), and determinism
//! of the digest (two folds, and a fold resumed from a clone).
#![allow(clippy::unwrap_used)]

mod common;
mod history;

use std::collections::BTreeMap;
use std::str::FromStr;

use espp_projections::State;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;

fn dec(v: &Value) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"));
    assert!(!s.starts_with('-'), "negative: {s}");
    Decimal::from_str(s).unwrap()
}

/// DOMAIN.md §11 on one projection.
fn check_invariants(p: &Value) -> Result<(), TestCaseError> {
    // Purchase cost per employee, from the allocations.
    let mut cost: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut bought_total = Decimal::ZERO;
    for purchase in p["purchases"].as_array().unwrap() {
        let mut sum = Decimal::ZERO;
        for a in purchase["allocations"].as_array().unwrap() {
            *cost
                .entry(a["employee"].as_str().unwrap().to_string())
                .or_default() += dec(&a["cost"]);
            dec(&a["refunded"]);
            dec(&a["carried"]);
            sum += dec(&a["shares"]);
        }
        prop_assert_eq!(sum, dec(&purchase["shares"]));
        bought_total += sum;
    }
    // Lots per employee.
    let mut lot_held: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut lot_cert: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut lot_sold: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut lot_total = Decimal::ZERO;
    for lot in p["lots"].as_array().unwrap() {
        let shares = dec(&lot["shares"]);
        lot_total += shares;
        for key in ["price", "fmv_grant", "fmv_purchase"] {
            prop_assert!(dec(&lot[key]) > Decimal::ZERO, "lot {}", lot);
        }
        let (held, cert, sold) = (
            dec(&lot["held"]),
            dec(&lot["certificated"]),
            dec(&lot["sold"]),
        );
        prop_assert_eq!(shares, held + cert + sold, "lot {}", lot);
        let e = lot["employee"].as_str().unwrap().to_string();
        *lot_held.entry(e.clone()).or_default() += held;
        *lot_cert.entry(e.clone()).or_default() += cert;
        *lot_sold.entry(e).or_default() += sold;
    }
    // Sales per employee: ordinary income and, while no capital change has rescaled the
    // lots since, the shares sold.
    let split = !p["capital_changes"].as_array().unwrap().is_empty();
    let mut income: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut sold: BTreeMap<String, Decimal> = BTreeMap::new();
    for d in p["dispositions"].as_array().unwrap() {
        let e = d["employee"].as_str().unwrap().to_string();
        let class = d["classification"].as_str().unwrap();
        prop_assert!(class == "qualifying" || class == "disqualifying", "{}", d);
        if d["estate"] == true {
            prop_assert_eq!(class, "qualifying");
        }
        *income.entry(e.clone()).or_default() += dec(&d["ordinary_income"]);
        *sold.entry(e).or_default() += dec(&d["shares"]);
    }
    let (mut contributed, mut spent_refunded_balance) = (Decimal::ZERO, Decimal::ZERO);
    for (id, e) in p["employees"].as_object().unwrap() {
        let c = dec(&e["contributed"]);
        let rest =
            cost.get(id).copied().unwrap_or_default() + dec(&e["refunded"]) + dec(&e["balance"]);
        prop_assert_eq!(c, rest, "cash of {}: {}", id, e);
        contributed += c;
        spent_refunded_balance += rest;
        dec(&e["deficiency"]);
        prop_assert_eq!(
            dec(&e["shares_held"]),
            lot_held.get(id).copied().unwrap_or_default(),
            "held of {}",
            id
        );
        prop_assert_eq!(
            dec(&e["shares_certificated"]),
            lot_cert.get(id).copied().unwrap_or_default(),
            "certificated of {}",
            id
        );
        prop_assert_eq!(
            dec(&e["ordinary_income"]),
            income.get(id).copied().unwrap_or_default(),
            "ordinary income of {}",
            id
        );
        dec(&e["dividends_paid"]);
        if !split {
            prop_assert_eq!(
                sold.get(id).copied().unwrap_or_default(),
                lot_sold.get(id).copied().unwrap_or_default(),
                "sold of {}",
                id
            );
        }
    }
    prop_assert_eq!(contributed, spent_refunded_balance);
    let plan = &p["plan"];
    if plan["status"] != "not_adopted" {
        prop_assert_eq!(
            dec(&plan["share_reserve"]),
            dec(&plan["shares_left"]) + dec(&plan["shares_bought"])
        );
        // A capital change rounds each lot's parts down on their own, and the shares bought
        // as a whole: the lots then hold at most what was bought.
        let bought = dec(&plan["shares_bought"]);
        if split {
            prop_assert!(
                lot_total <= bought,
                "lots {} > bought {}",
                lot_total,
                bought
            );
        } else {
            prop_assert_eq!(bought, bought_total);
            prop_assert_eq!(lot_total, bought_total);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_event(company in history::company()) {
        let lines = company.lines();
        let recs = common::records(&lines);
        let mut state = State::new(None);
        let mut checkpoint = None;
        for (i, r) in recs.iter().enumerate() {
            if let Err(e) = common::apply_or_skip_after_end(&mut state, r) {
                return Err(TestCaseError::fail(format!("seq {} refused: {e}\n{}", r.seq, lines[i])));
            }
            check_invariants(&state.projection(None))?;
            if i == recs.len() / 2 {
                checkpoint = Some((state.clone(), i + 1));
            }
        }
        let digest = state.projection(None)["digest"].clone();
        // A second fold from scratch, and one resumed from a mid-way clone, agree.
        let mut again = State::new(None);
        for r in &recs {
            common::apply_or_skip_after_end(&mut again, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(&again.projection(None)["digest"], &digest);
        if let Some((mut resumed, from)) = checkpoint {
            for r in &recs[from..] {
                common::apply_or_skip_after_end(&mut resumed, r).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(&resumed.projection(None)["digest"], &digest);
        }
    }
}
