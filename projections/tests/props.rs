//! Property tests: DOMAIN.md §11's invariants after every event of generated company
//! histories (capital changes, dividends, certificates and sales included), determinism
//! of the digest (two folds, and a fold resumed from a clone), and statuses that depend on
//! the facts, not on the order in which each day's events arrived (INTERCHANGE.md, DOMAIN.md
//! §4).
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
        // The plan's shares bought are always the sum of the lots (DOMAIN.md §8), after a
        // capital change (which rounds each lot down on its own) too.
        let bought = dec(&plan["shares_bought"]);
        prop_assert_eq!(lot_total, bought);
        if !split {
            prop_assert_eq!(bought, bought_total);
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

/// A small deterministic generator for the reordering (no global randomness).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

/// An event line's type and the employee it is about.
fn type_and_employee(line: &str) -> (String, Option<String>) {
    let v: Value = serde_json::from_str(line).unwrap();
    let kind = v["type"].as_str().unwrap().to_string();
    (kind, v["employee"].as_str().map(str::to_string))
}

/// One day's events in another order of arrival that leaves the facts at the end of the day
/// as they were: the plan's own events (but prices and outstanding shares) stay where they
/// are, as barriers; between them, different employees' events interleave at random (they
/// touch different accounts), prices and outstanding shares move past employees' events,
/// and one employee's payrolls and changes of §4's facts (hours, ownership) move past each
/// other, but not past that employee's other events (an enrolment, a stop, a leave …).
fn reorder_day(day: &[String], rng: &mut Lcg) -> Vec<String> {
    fn interleave(block: &[String], rng: &mut Lcg, out: &mut Vec<String>) {
        // Per employee (None: prices and outstanding shares, in their order), the events
        // in order, each run of payrolls and §4 changes shuffled.
        let mut lists: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        let mut run: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        let flush = |who: &Option<String>,
                     run: &mut BTreeMap<Option<String>, Vec<String>>,
                     lists: &mut BTreeMap<Option<String>, Vec<String>>,
                     rng: &mut Lcg| {
            let mut r = run.remove(who).unwrap_or_default();
            let list = lists.entry(who.clone()).or_default();
            while !r.is_empty() {
                list.push(r.remove(rng.below(r.len())));
            }
        };
        for line in block {
            let (kind, who) = type_and_employee(line);
            let floats = who.is_some()
                && matches!(
                    kind.as_str(),
                    "payroll" | "employee_changed" | "ownership_reported"
                );
            if floats {
                run.entry(who).or_default().push(line.clone());
            } else {
                flush(&who, &mut run, &mut lists, rng);
                lists.entry(who).or_default().push(line.clone());
            }
        }
        let pending: Vec<Option<String>> = run.keys().cloned().collect();
        for who in pending {
            flush(&who, &mut run, &mut lists, rng);
        }
        let mut lists: Vec<Vec<String>> = lists.into_values().filter(|l| !l.is_empty()).collect();
        while !lists.is_empty() {
            let i = rng.below(lists.len());
            out.push(lists[i].remove(0));
            if lists[i].is_empty() {
                lists.remove(i);
            }
        }
    }
    let mut out = Vec::with_capacity(day.len());
    let mut block = Vec::new();
    for line in day {
        let (kind, who) = type_and_employee(line);
        let barrier =
            who.is_none() && !matches!(kind.as_str(), "market_price" | "shares_outstanding");
        if barrier {
            interleave(&block, rng, &mut out);
            block.clear();
            out.push(line.clone());
        } else {
            block.push(line.clone());
        }
    }
    interleave(&block, rng, &mut out);
    out
}

/// What must not depend on the order of arrival: each employee's status, and the money and
/// shares its facts decide.
fn employees(state: &State) -> Value {
    let p = state.projection(None);
    let mut out = serde_json::Map::new();
    for (id, e) in p["employees"].as_object().unwrap() {
        out.insert(
            id.clone(),
            serde_json::json!([
                e["status"],
                e["election_deadline"],
                e["balance"],
                e["deficiency"],
                e["shares_held"]
            ]),
        );
    }
    Value::Object(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// INTERCHANGE.md: the status is "decided by this order, never by the order in which
    /// events arrived"; DOMAIN.md §4: a period's first day is judged on the facts at its end,
    /// whatever their seq. The same history with each day's events arriving in another order
    /// that keeps the facts (see `reorder_day`) gives, after every day, the same status,
    /// balance, deficiency and shares to every employee. Where the new order makes the plan
    /// refuse an event the first accepted, or the other way round (a stop filed before or
    /// after the change that made the option go), the facts differ: the comparison stops.
    #[test]
    fn status_is_a_function_of_the_facts_not_of_the_order_of_arrival(
        company in history::company(),
        seed in any::<u64>(),
    ) {
        let lines = company.lines();
        let mut rng = Lcg(seed);
        let mut other = Vec::with_capacity(lines.len());
        let mut from = 0;
        let recs = common::records(&lines);
        while from < lines.len() {
            let to = from + recs[from..].iter().take_while(|r| r.date == recs[from].date).count();
            other.extend(reorder_day(&lines[from..to], &mut rng));
            from = to;
        }
        let others = common::records(&other);
        let (mut a, mut b) = (State::new(None), State::new(None));
        let mut i = 0;
        while i < recs.len() {
            let day = recs[i].date;
            let (mut took_a, mut took_b) = (Vec::new(), Vec::new());
            while i < recs.len() && recs[i].date == day {
                prop_assert_eq!(others[i].date, day);
                if common::apply_or_skip_after_end(&mut a, &recs[i]).map_err(|e| TestCaseError::fail(e.to_string()))? {
                    took_a.push(&lines[i]);
                }
                if common::apply_or_skip_after_end(&mut b, &others[i]).map_err(|e| TestCaseError::fail(e.to_string()))? {
                    took_b.push(&other[i]);
                }
                i += 1;
            }
            took_a.sort();
            took_b.sort();
            if took_a != took_b {
                return Ok(());
            }
            prop_assert_eq!(employees(&a), employees(&b), "after {}", day);
        }
    }
}
