//! What changes when the same log is folded under other rules: every employee and purchase
//! whose figures differ, field by field (base, other, delta), with totals, and the events
//! the other rules skip (`skipped`, each with its seq and reason).
//!
//! Works on two projections (INTERCHANGE.md's JSON), so it compares exactly what an auditor
//! or a compliance team sees.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| Decimal::from_str(s).ok())
}

/// `{"base", "other"}` and, when both are decimals, `"delta"` (other − base).
fn change(base: &Value, other: &Value) -> Value {
    let mut m = Map::new();
    m.insert("base".into(), base.clone());
    m.insert("other".into(), other.clone());
    if let (Some(a), Some(b)) = (decimal(base), decimal(other)) {
        if let Some(d) = b.checked_sub(a) {
            m.insert("delta".into(), Value::String(d.to_string()));
        }
    }
    Value::Object(m)
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The changed fields between two objects (keys of either; a missing one is null).
fn changed_fields(base: &Value, other: &Value, skip: &[&str]) -> Map<String, Value> {
    let (b, o) = (object(base), object(other));
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(o.keys()).collect();
    let mut out = Map::new();
    for k in keys {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let (x, y) = (
            b.get(k).unwrap_or(&Value::Null),
            o.get(k).unwrap_or(&Value::Null),
        );
        if x != y {
            out.insert(k.clone(), change(x, y));
        }
    }
    out
}

/// Purchase rows keyed by (period, employee); the purchase's own figures under employee "".
fn purchase_rows(p: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for purchase in p["purchases"].as_array().into_iter().flatten() {
        let period = purchase["period"].as_str().unwrap_or_default().to_string();
        let mut own = object(purchase);
        own.remove("allocations");
        out.insert((period.clone(), String::new()), Value::Object(own));
        for a in purchase["allocations"].as_array().into_iter().flatten() {
            let who = a["employee"].as_str().unwrap_or_default().to_string();
            out.insert((period.clone(), who), a.clone());
        }
    }
    out
}

/// The diff of two projections, in INTERCHANGE's shape plus `delta`s and `totals`.
pub fn diff(base: &Value, other: &Value) -> Value {
    let (be, oe) = (object(&base["employees"]), object(&other["employees"]));
    let ids: std::collections::BTreeSet<&String> = be.keys().chain(oe.keys()).collect();
    let mut employees = Map::new();
    let mut totals: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for id in ids {
        let (b, o) = (
            be.get(id).unwrap_or(&Value::Null),
            oe.get(id).unwrap_or(&Value::Null),
        );
        for (side, v) in [(0, b), (1, o)] {
            for (k, x) in object(v) {
                if k == "rate" {
                    continue;
                }
                if let Some(d) = decimal(&x) {
                    let t = totals.entry(k).or_default();
                    let slot = if side == 0 { &mut t.0 } else { &mut t.1 };
                    *slot = slot.checked_add(d).unwrap_or(*slot);
                }
            }
        }
        let fields = changed_fields(b, o, &[]);
        if !fields.is_empty() {
            employees.insert(id.clone(), Value::Object(fields));
        }
    }
    let (bp, op) = (purchase_rows(base), purchase_rows(other));
    let keys: std::collections::BTreeSet<&(String, String)> = bp.keys().chain(op.keys()).collect();
    let mut purchases = Vec::new();
    for key in keys {
        let (b, o) = (
            bp.get(key).unwrap_or(&Value::Null),
            op.get(key).unwrap_or(&Value::Null),
        );
        let fields = changed_fields(b, o, &["period", "employee"]);
        if fields.is_empty() {
            continue;
        }
        let mut row = Map::new();
        row.insert("period".into(), Value::String(key.0.clone()));
        row.insert(
            "employee".into(),
            if key.1.is_empty() {
                Value::Null
            } else {
                Value::String(key.1.clone())
            },
        );
        row.extend(fields);
        purchases.push(Value::Object(row));
    }
    let totals: Map<String, Value> = totals
        .into_iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(k, (a, b))| {
            (
                k,
                change(&Value::String(a.to_string()), &Value::String(b.to_string())),
            )
        })
        .collect();
    // The events the other rules forbid: left out of the other fold, never rejected.
    let skipped: Vec<Value> = other["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    json!({
        "skipped": skipped,
        "base_digest": base["digest"],
        "other_digest": other["digest"],
        "employees": employees,
        "purchases": purchases,
        "totals": totals,
    })
}
