//! `espp diff` from two folded [`State`]s directly (issue 15): the rows of [`crate::diff`]
//! — every employee and purchase whose figures differ, field by field (base, other,
//! delta), the totals and the events the other rules skip — read from the states' fields,
//! without rendering either projection as a `serde_json::Value` tree. [`StateDiff::write_json`]
//! writes the bytes `serde_json` writes for [`crate::diff`]'s `Value` (the test oracle).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::str::FromStr;

use espp_projections::{Field, State, ALLOCATION_FIELDS, EMPLOYEE_FIELDS, PURCHASE_FIELDS};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// One field that differs: its value under each fold and, when both are decimals, the
/// difference (other − base).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Under the log's rules.
    pub base: Field,
    /// Under the other rules.
    pub other: Field,
    /// other − base, when both are decimals.
    pub delta: Option<String>,
}

/// An employee whose figures differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeDiff {
    /// The employee's id.
    pub id: String,
    /// The fields that differ, in key order.
    pub fields: Vec<(&'static str, Change)>,
}

/// A purchase (its own figures: `employee` None) or one allocation whose figures differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseDiff {
    /// The purchase's period.
    pub period: String,
    /// The allocation's employee, None for the purchase's own figures.
    pub employee: Option<String>,
    /// The fields that differ, in key order (`period` and `employee` are never among them).
    pub fields: Vec<(&'static str, Change)>,
}

/// What the log says of a skipped event (filled in by the caller that reads the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The event's day.
    pub date: String,
    /// The event's type.
    pub event_type: String,
    /// The employee it concerns, if any.
    pub employee: Option<String>,
}

/// An event the other rules skip (left out of their fold, never rejected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// Its seq.
    pub seq: u64,
    /// Why it was skipped.
    pub reason: String,
    /// What the log says of it, when the caller looked it up.
    pub record: Option<SkippedRecord>,
}

/// The diff of two folds: [`crate::diff`]'s content, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDiff {
    /// The base projection's digest.
    pub base_digest: String,
    /// The other projection's digest.
    pub other_digest: String,
    /// Employees whose figures differ, in id order.
    pub employees: Vec<EmployeeDiff>,
    /// Purchase rows whose figures differ, in (period, employee) order.
    pub purchases: Vec<PurchaseDiff>,
    /// The sums over every employee of each decimal field (but `rate`) that differ.
    pub totals: Vec<(&'static str, Change)>,
    /// The events the other rules skip, in fold order.
    pub skipped: Vec<SkippedRow>,
}

fn decimal(f: &Field) -> Option<Decimal> {
    f.as_str().and_then(|s| Decimal::from_str(s).ok())
}

fn change(base: Field, other: Field) -> Change {
    let delta = match (decimal(&base), decimal(&other)) {
        (Some(a), Some(b)) => b.checked_sub(a).map(|d| d.to_string()),
        _ => None,
    };
    Change { base, other, delta }
}

/// A row's fields: names in key order and their values.
type Row<'a> = (&'static [&'static str], &'a [Field]);

fn get<'a>(row: Option<Row<'a>>, k: &str) -> Option<&'a Field> {
    let (names, values) = row?;
    names
        .iter()
        .position(|n| *n == k)
        .and_then(|i| values.get(i))
}

/// The fields that differ between two rows (names of either; a missing one is null).
fn changed_fields(
    base: Option<Row<'_>>,
    other: Option<Row<'_>>,
    skip: &[&str],
) -> Vec<(&'static str, Change)> {
    let names: BTreeSet<&'static str> = [base, other]
        .into_iter()
        .flatten()
        .flat_map(|(n, _)| n.iter().copied())
        .collect();
    let mut out = Vec::new();
    for k in names {
        if skip.contains(&k) {
            continue;
        }
        let x = get(base, k).unwrap_or(&Field::Null);
        let y = get(other, k).unwrap_or(&Field::Null);
        if x != y {
            out.push((k, change(x.clone(), y.clone())));
        }
    }
    out
}

type Rows<'a> = BTreeMap<(&'a str, &'a str), (&'static [&'static str], Vec<Field>)>;

/// Purchase rows keyed by (period, employee); the purchase's own figures under employee "".
fn purchase_rows(s: &State) -> Rows<'_> {
    let mut out = BTreeMap::new();
    for row in s.purchase_rows() {
        let names: &'static [&'static str] = if row.employee.is_some() {
            &ALLOCATION_FIELDS
        } else {
            &PURCHASE_FIELDS
        };
        out.insert(
            (row.period, row.employee.unwrap_or_default()),
            (names, row.fields),
        );
    }
    out
}

fn employee_row(v: Option<&[Field; 12]>) -> Option<Row<'_>> {
    v.map(|f| (&EMPLOYEE_FIELDS[..], &f[..]))
}

fn purchase_row<'a>(r: Option<&'a (&'static [&'static str], Vec<Field>)>) -> Option<Row<'a>> {
    r.map(|(n, f)| (*n, &f[..]))
}

/// The diff of two folds of the same log (`base` under its rules, `other` under others),
/// with the digests of their projections. `skipped` rows have no [`SkippedRecord`] yet.
pub fn diff_states(
    base: &State,
    other: &State,
    base_digest: String,
    other_digest: String,
) -> StateDiff {
    let be: BTreeMap<&str, [Field; 12]> = base.employee_fields().collect();
    let oe: BTreeMap<&str, [Field; 12]> = other.employee_fields().collect();
    let ids: BTreeSet<&str> = be.keys().chain(oe.keys()).copied().collect();
    let mut employees = Vec::new();
    let mut totals: BTreeMap<&'static str, (Decimal, Decimal)> = BTreeMap::new();
    for id in ids {
        let (b, o) = (be.get(id), oe.get(id));
        for (side, v) in [(0, b), (1, o)] {
            for (k, x) in EMPLOYEE_FIELDS.iter().zip(v.into_iter().flatten()) {
                if *k == "rate" {
                    continue;
                }
                if let Some(d) = decimal(x) {
                    let t = totals.entry(k).or_default();
                    let slot = if side == 0 { &mut t.0 } else { &mut t.1 };
                    *slot = slot.checked_add(d).unwrap_or(*slot);
                }
            }
        }
        let fields = changed_fields(employee_row(b), employee_row(o), &[]);
        if !fields.is_empty() {
            employees.push(EmployeeDiff {
                id: id.to_string(),
                fields,
            });
        }
    }
    let (bp, op) = (purchase_rows(base), purchase_rows(other));
    let keys: BTreeSet<&(&str, &str)> = bp.keys().chain(op.keys()).collect();
    let mut purchases = Vec::new();
    for key in keys {
        let fields = changed_fields(
            purchase_row(bp.get(key)),
            purchase_row(op.get(key)),
            &["period", "employee"],
        );
        if fields.is_empty() {
            continue;
        }
        purchases.push(PurchaseDiff {
            period: key.0.to_string(),
            employee: (!key.1.is_empty()).then(|| key.1.to_string()),
            fields,
        });
    }
    let totals = totals
        .into_iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(k, (a, b))| {
            (
                k,
                change(Field::Str(a.to_string()), Field::Str(b.to_string())),
            )
        })
        .collect();
    let skipped = other
        .skipped_events()
        .map(|(seq, reason)| SkippedRow {
            seq,
            reason: reason.to_string(),
            record: None,
        })
        .collect();
    StateDiff {
        base_digest,
        other_digest,
        employees,
        purchases,
        totals,
        skipped,
    }
}

fn field_value(f: &Field) -> Value {
    match f {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Str(s) => Value::String(s.clone()),
    }
}

fn change_value(c: &Change) -> Value {
    let mut m = Map::new();
    m.insert("base".into(), field_value(&c.base));
    m.insert("other".into(), field_value(&c.other));
    if let Some(d) = &c.delta {
        m.insert("delta".into(), Value::String(d.clone()));
    }
    Value::Object(m)
}

fn fields_value(fields: &[(&'static str, Change)]) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, c)| (k.to_string(), change_value(c)))
        .collect()
}

/// A JSON string as serde_json writes it.
fn string(w: &mut impl Write, s: &str) -> io::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        return w.write_all(b"\"");
    }
    serde_json::to_writer(w, s).map_err(io::Error::other)
}

fn field(w: &mut impl Write, f: &Field) -> io::Result<()> {
    match f {
        Field::Null => w.write_all(b"null"),
        Field::Bool(true) => w.write_all(b"true"),
        Field::Bool(false) => w.write_all(b"false"),
        Field::Str(s) => string(w, s),
    }
}

fn change_json(w: &mut impl Write, c: &Change) -> io::Result<()> {
    w.write_all(b"{\"base\":")?;
    field(w, &c.base)?;
    if let Some(d) = &c.delta {
        w.write_all(b",\"delta\":")?;
        string(w, d)?;
    }
    w.write_all(b",\"other\":")?;
    field(w, &c.other)?;
    w.write_all(b"}")
}

/// `{"field":{change},…}` (fields in key order).
fn fields_json(w: &mut impl Write, fields: &[(&'static str, Change)]) -> io::Result<()> {
    w.write_all(b"{")?;
    for (i, (k, c)) in fields.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        string(w, k)?;
        w.write_all(b":")?;
        change_json(w, c)?;
    }
    w.write_all(b"}")
}

/// One value of a purchase row or a skipped row, for writing its keys in order.
enum Cell<'a> {
    Str(&'a str),
    Null,
    Num(u64),
    Change(&'a Change),
}

fn cells_json(w: &mut impl Write, mut cells: Vec<(&str, Cell<'_>)>) -> io::Result<()> {
    cells.sort_by(|a, b| a.0.cmp(b.0));
    w.write_all(b"{")?;
    for (i, (k, c)) in cells.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        string(w, k)?;
        w.write_all(b":")?;
        match c {
            Cell::Str(s) => string(w, s)?,
            Cell::Null => w.write_all(b"null")?,
            Cell::Num(n) => write!(w, "{n}")?,
            Cell::Change(c) => change_json(w, c)?,
        }
    }
    w.write_all(b"}")
}

impl SkippedRow {
    fn cells(&self) -> Vec<(&str, Cell<'_>)> {
        let mut cells = vec![
            ("reason", Cell::Str(&self.reason)),
            ("seq", Cell::Num(self.seq)),
        ];
        if let Some(r) = &self.record {
            cells.push(("date", Cell::Str(&r.date)));
            cells.push(("type", Cell::Str(&r.event_type)));
            cells.push((
                "employee",
                r.employee.as_deref().map_or(Cell::Null, Cell::Str),
            ));
        }
        cells
    }
}

impl StateDiff {
    /// The diff as [`crate::diff`]'s `Value` (with the skipped events' records as
    /// `espp diff` adds them): for tests against the oracle.
    pub fn to_value(&self) -> Value {
        let employees: Map<String, Value> = self
            .employees
            .iter()
            .map(|e| (e.id.clone(), Value::Object(fields_value(&e.fields))))
            .collect();
        let purchases: Vec<Value> = self
            .purchases
            .iter()
            .map(|p| {
                let mut row = Map::new();
                row.insert("period".into(), Value::String(p.period.clone()));
                row.insert(
                    "employee".into(),
                    p.employee.clone().map_or(Value::Null, Value::String),
                );
                row.extend(fields_value(&p.fields));
                Value::Object(row)
            })
            .collect();
        let skipped: Vec<Value> = self
            .skipped
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("seq".into(), Value::from(s.seq));
                m.insert("reason".into(), Value::String(s.reason.clone()));
                if let Some(r) = &s.record {
                    m.insert("date".into(), Value::String(r.date.clone()));
                    m.insert("type".into(), Value::String(r.event_type.clone()));
                    m.insert(
                        "employee".into(),
                        r.employee.clone().map_or(Value::Null, Value::String),
                    );
                }
                Value::Object(m)
            })
            .collect();
        serde_json::json!({
            "skipped": skipped,
            "base_digest": self.base_digest,
            "other_digest": self.other_digest,
            "employees": employees,
            "purchases": purchases,
            "totals": Value::Object(fields_value(&self.totals)),
        })
    }

    /// Writes the diff as compact JSON, keys sorted: the bytes `serde_json` writes for
    /// [`StateDiff::to_value`] (no newline).
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        let mut w = io::BufWriter::with_capacity(1 << 16, out);
        w.write_all(b"{\"base_digest\":")?;
        string(&mut w, &self.base_digest)?;
        w.write_all(b",\"employees\":{")?;
        for (i, e) in self.employees.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            string(&mut w, &e.id)?;
            w.write_all(b":")?;
            fields_json(&mut w, &e.fields)?;
        }
        w.write_all(b"},\"other_digest\":")?;
        string(&mut w, &self.other_digest)?;
        w.write_all(b",\"purchases\":[")?;
        for (i, p) in self.purchases.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            let mut cells = vec![
                ("period", Cell::Str(&p.period)),
                (
                    "employee",
                    p.employee.as_deref().map_or(Cell::Null, Cell::Str),
                ),
            ];
            cells.extend(p.fields.iter().map(|(k, c)| (*k, Cell::Change(c))));
            cells_json(&mut w, cells)?;
        }
        w.write_all(b"],\"skipped\":[")?;
        for (i, s) in self.skipped.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            cells_json(&mut w, s.cells())?;
        }
        w.write_all(b"],\"totals\":")?;
        fields_json(&mut w, &self.totals)?;
        w.write_all(b"}")?;
        w.flush()
    }
}
