//! `espp diff` from two folded [`State`]s directly (issue 15): the rows of [`crate::diff`]
//! — every employee and purchase whose figures differ, field by field (base, other,
//! delta), the totals and the events the other rules skip — read from the states' fields,
//! without rendering either projection as a `serde_json::Value` tree. [`StateDiff::write_json`]
//! writes the bytes `serde_json` writes for [`crate::diff`]'s `Value` (the test oracle).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use espp_projections::{
    AllocationView, Field, ProjectionRows, PurchaseView, RowView, State, EMPLOYEE_FIELDS,
};
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
    espp_projections::parsed_field(f)
}

/// A change of `base` to `other`, whose texts parse to `values` (if decimals).
fn change_of(base: Field, other: Field, values: (Option<Decimal>, Option<Decimal>)) -> Change {
    let delta = match values {
        (Some(a), Some(b)) => b.checked_sub(a).map(espp_projections::decimal_text),
        _ => None,
    };
    Change { base, other, delta }
}

fn change(base: Field, other: Field) -> Change {
    let values = (decimal(&base), decimal(&other));
    change_of(base, other, values)
}

/// The fields that differ between two rows (names of either; a missing one is null),
/// formatting only those whose raw values differ.
fn changed_fields(
    base: Option<&dyn RowView>,
    other: Option<&dyn RowView>,
    skip: &[&str],
) -> Vec<(&'static str, Change)> {
    let mut out = Vec::new();
    match (base, other) {
        (Some(b), Some(o)) if std::ptr::eq(b.names(), o.names()) => {
            for (i, k) in b.names().iter().enumerate() {
                if skip.contains(k) {
                    continue;
                }
                let (x, y) = (b.cell(i), o.cell(i));
                if x.raw() == y.raw() {
                    continue;
                }
                let (fx, fy) = (x.field(), y.field());
                if fx != fy {
                    out.push((*k, change_of(fx, fy, (x.value(), y.value()))));
                }
            }
        }
        _ => {
            let names: BTreeSet<&'static str> = [base, other]
                .into_iter()
                .flatten()
                .flat_map(|r| r.names().iter().copied())
                .collect();
            let get = |r: Option<&dyn RowView>, k: &str| {
                r.and_then(|r| {
                    r.names()
                        .iter()
                        .position(|n| *n == k)
                        .map(|i| r.cell(i).field())
                })
                .unwrap_or(Field::Null)
            };
            for k in names {
                if skip.contains(&k) {
                    continue;
                }
                let (x, y) = (get(base, k), get(other, k));
                if x != y {
                    out.push((k, change(x, y)));
                }
            }
        }
    }
    out
}

/// Where the rows go as they are found.
trait Sink {
    fn employee(&mut self, e: EmployeeDiff) -> io::Result<()>;
    /// Called once, after the last employee and before the first purchase.
    fn employees_done(&mut self) -> io::Result<()>;
    fn purchase(&mut self, p: PurchaseDiff) -> io::Result<()>;
}

/// The rows of one period in one fold: its own (the last purchase of the period's) and
/// each employee's allocation (the last one), in employee order, as the oracle keys them.
fn period_rows<'a>(
    purchases: &[PurchaseView<'a>],
) -> (Option<PurchaseView<'a>>, Vec<(&'a str, AllocationView<'a>)>) {
    let mut rows: Vec<(&'a str, AllocationView<'a>)> = purchases
        .iter()
        .flat_map(|p| p.allocations().map(|a| (a.employee(), a)))
        .collect();
    // One purchase's allocations come in employee order already; otherwise sort (stably)
    // and keep the last of each employee's.
    if !rows.windows(2).all(|w| w[0].0 < w[1].0) {
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut last: Vec<(&'a str, AllocationView<'a>)> = Vec::with_capacity(rows.len());
        for r in rows {
            match last.last_mut() {
                Some(l) if l.0 == r.0 => *l = r,
                _ => last.push(r),
            }
        }
        rows = last;
    }
    (purchases.last().copied(), rows)
}

fn by_period(s: &impl ProjectionRows) -> BTreeMap<&str, Vec<PurchaseView<'_>>> {
    let mut out: BTreeMap<&str, Vec<PurchaseView<'_>>> = BTreeMap::new();
    for p in s.purchase_views() {
        out.entry(p.period()).or_default().push(p);
    }
    out
}

/// One step of a merge: the item of either side, or of both when their keys are equal.
type Merged<K, A, B> = (Option<(K, A)>, Option<(K, B)>);

/// The next step of a merge of two sequences in key order: the item of each side with the
/// smallest key (both when both sides have it), None when both are done.
fn merge_next<K: Ord, A, B>(
    a: &mut std::iter::Peekable<impl Iterator<Item = (K, A)>>,
    b: &mut std::iter::Peekable<impl Iterator<Item = (K, B)>>,
) -> Option<Merged<K, A, B>> {
    Some(match (a.peek(), b.peek()) {
        (None, None) => return None,
        (Some((x, _)), Some((y, _))) if x == y => (a.next(), b.next()),
        (Some((x, _)), Some((y, _))) if x < y => (a.next(), None),
        (Some(_), None) => (a.next(), None),
        _ => (None, b.next()),
    })
}

/// Compares the two folds row by row, handing each row that differs to `sink` in the
/// output's order, and returns the totals that differ.
fn walk(
    base: &impl ProjectionRows,
    other: &impl ProjectionRows,
    sink: &mut dyn Sink,
) -> io::Result<Vec<(&'static str, Change)>> {
    // The sums, by field index (`rate` is not summed): as the projection's texts parse.
    let mut totals: [Option<(Decimal, Decimal)>; EMPLOYEE_FIELDS.len()] = Default::default();
    let rate = EMPLOYEE_FIELDS.iter().position(|k| *k == "rate");
    let (mut be, mut oe) = (
        base.employee_views().peekable(),
        other.employee_views().peekable(),
    );
    // A merge of the two id orders (both the projection's: byte order).
    while let Some((b, o)) = merge_next(&mut be, &mut oe) {
        let id = b.or(o).map(|(id, _)| id).unwrap_or_default();
        let (b, o) = (b.map(|(_, e)| e), o.map(|(_, e)| e));
        for (side, v) in [(0, &b), (1, &o)] {
            let Some(v) = v else { continue };
            for (i, t) in totals.iter_mut().enumerate() {
                if Some(i) == rate {
                    continue;
                }
                if let Some(d) = v.cell(i).value() {
                    let t = t.get_or_insert_default();
                    let slot = if side == 0 { &mut t.0 } else { &mut t.1 };
                    *slot = slot.checked_add(d).unwrap_or(*slot);
                }
            }
        }
        let fields = changed_fields(
            b.as_ref().map(|r| r as &dyn RowView),
            o.as_ref().map(|r| r as &dyn RowView),
            &[],
        );
        if !fields.is_empty() {
            sink.employee(EmployeeDiff {
                id: id.to_string(),
                fields,
            })?;
        }
    }
    sink.employees_done()?;
    let (bp, op) = (by_period(base), by_period(other));
    let periods: BTreeSet<&str> = bp.keys().chain(op.keys()).copied().collect();
    let skip = ["period", "employee"];
    for period in periods {
        let (b_own, b_alloc) = period_rows(bp.get(period).map_or(&[][..], |v| &v[..]));
        let (o_own, o_alloc) = period_rows(op.get(period).map_or(&[][..], |v| &v[..]));
        let fields = changed_fields(
            b_own.as_ref().map(|r| r as &dyn RowView),
            o_own.as_ref().map(|r| r as &dyn RowView),
            &skip,
        );
        if !fields.is_empty() {
            sink.purchase(PurchaseDiff {
                period: period.to_string(),
                employee: None,
                fields,
            })?;
        }
        let (mut bi, mut oi) = (
            b_alloc.into_iter().peekable(),
            o_alloc.into_iter().peekable(),
        );
        while let Some((b, o)) = merge_next(&mut bi, &mut oi) {
            let who = b.or(o).map(|(who, _)| who).unwrap_or_default();
            let fields = changed_fields(
                b.as_ref().map(|(_, a)| a as &dyn RowView),
                o.as_ref().map(|(_, a)| a as &dyn RowView),
                &skip,
            );
            if !fields.is_empty() {
                sink.purchase(PurchaseDiff {
                    period: period.to_string(),
                    employee: Some(who.to_string()),
                    fields,
                })?;
            }
        }
    }
    Ok(EMPLOYEE_FIELDS
        .iter()
        .zip(totals)
        .filter_map(|(k, t)| t.map(|t| (*k, t)))
        .filter(|(_, (a, b))| a != b)
        .map(|(k, (a, b))| {
            (
                k,
                change(Field::Str(a.to_string()), Field::Str(b.to_string())),
            )
        })
        .collect())
}

/// The events the other rules skip, without their records (the caller reads the log).
pub fn skipped_rows(other: &State) -> Vec<SkippedRow> {
    other
        .skipped_events()
        .map(|(seq, reason)| SkippedRow {
            seq,
            reason: reason.to_string(),
            record: None,
        })
        .collect()
}

struct Collect {
    employees: Vec<EmployeeDiff>,
    purchases: Vec<PurchaseDiff>,
}

impl Sink for Collect {
    fn employee(&mut self, e: EmployeeDiff) -> io::Result<()> {
        self.employees.push(e);
        Ok(())
    }
    fn employees_done(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn purchase(&mut self, p: PurchaseDiff) -> io::Result<()> {
        self.purchases.push(p);
        Ok(())
    }
}

/// The diff of two folds of the same log (`base` under its rules, `other` under others),
/// with the digests of their projections. `skipped` rows have no [`SkippedRecord`] yet.
pub fn diff_states(
    base: &impl ProjectionRows,
    other: &State,
    base_digest: String,
    other_digest: String,
) -> StateDiff {
    let mut rows = Collect {
        employees: Vec::new(),
        purchases: Vec::new(),
    };
    // Collecting into memory cannot fail.
    let totals = walk(base, other, &mut rows).unwrap_or_default();
    StateDiff {
        base_digest,
        other_digest,
        employees: rows.employees,
        purchases: rows.purchases,
        totals,
        skipped: skipped_rows(other),
    }
}

/// The other projection's digest: given, or being hashed on another thread.
enum OtherDigest<'s, 'w> {
    Ready(&'w str),
    Hashing(std::thread::ScopedJoinHandle<'s, String>),
}

/// Writes each row as JSON as it is found (nothing of the diff held but the row). The
/// purchases come after `other_digest`: while it is still being hashed, their rows are held
/// until it is done (then written, and the rest streamed).
struct JsonSink<'s, 'w, W: Write> {
    w: &'w mut W,
    first: bool,
    other_digest: Option<OtherDigest<'s, 'w>>,
    held: Held,
    /// Past this many bytes held, wait for the digest ([`HELD_MAX`] but in tests).
    held_max: usize,
}

/// Bytes held in blocks of a mebibyte (never copied to grow: the rows held at 100,000
/// employees are tens of megabytes).
#[derive(Default)]
struct Held(Vec<Vec<u8>>);

/// At most this many bytes of purchase rows are held while the other digest is hashed.
const HELD_MAX: usize = 8 << 20;

impl Held {
    fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        const BLOCK: usize = 1 << 20;
        match self.0.last_mut() {
            Some(b) if b.len() + buf.len() <= b.capacity() => b.extend_from_slice(buf),
            _ => {
                let mut b = Vec::with_capacity(BLOCK.max(buf.len()));
                b.extend_from_slice(buf);
                self.0.push(b);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> JsonSink<'_, '_, W> {
    /// Writes `other_digest` and what was held, if the digest is there (or `wait`).
    fn settle(&mut self, wait: bool) -> io::Result<()> {
        let digest = match self.other_digest.take() {
            None => return Ok(()),
            Some(OtherDigest::Hashing(h)) if !wait && !h.is_finished() => {
                self.other_digest = Some(OtherDigest::Hashing(h));
                return Ok(());
            }
            Some(OtherDigest::Hashing(h)) => {
                h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            }
            Some(OtherDigest::Ready(d)) => d.to_string(),
        };
        self.w.write_all(b"},\"other_digest\":")?;
        string(self.w, &digest)?;
        self.w.write_all(b",\"purchases\":[")?;
        for b in std::mem::take(&mut self.held.0) {
            self.w.write_all(&b)?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for JsonSink<'_, '_, W> {
    fn employee(&mut self, e: EmployeeDiff) -> io::Result<()> {
        if !std::mem::replace(&mut self.first, false) {
            self.w.write_all(b",")?;
        }
        string(self.w, &e.id)?;
        self.w.write_all(b":")?;
        fields_json(self.w, &e.fields)
    }
    fn employees_done(&mut self) -> io::Result<()> {
        self.first = true;
        self.settle(false)
    }
    fn purchase(&mut self, p: PurchaseDiff) -> io::Result<()> {
        self.settle(false)?;
        // Held rows are bounded: past `held_max` bytes, wait for the digest and stream (at
        // 100,000 employees under a price change every allocation differs, and holding
        // them all took a diff past 1 GiB).
        if self.held.len() >= self.held_max {
            self.settle(true)?;
        }
        let comma = !std::mem::replace(&mut self.first, false);
        if self.other_digest.is_some() {
            if comma {
                self.held.write_all(b",")?;
            }
            return purchase_json(&mut self.held, &p);
        }
        if comma {
            self.w.write_all(b",")?;
        }
        purchase_json(self.w, &p)
    }
}

/// Writes the diff of two folds as compact JSON, row by row as they are compared: the bytes
/// of [`StateDiff::write_json`] for [`diff_states`] with these `skipped` rows, without
/// holding the rows (no newline).
pub fn write_diff_json(
    base: &impl ProjectionRows,
    other: &State,
    base_digest: &str,
    other_digest: &str,
    skipped: &[SkippedRow],
    out: &mut impl Write,
) -> io::Result<()> {
    write_json(
        base,
        other,
        base_digest,
        (OtherDigest::Ready(other_digest), HELD_MAX),
        skipped,
        out,
    )
}

/// [`write_diff_json`] with the other projection's digest (as of `as_of`, with provenance
/// `p`) hashed on a second thread while the rows are compared.
pub fn write_diff_json_hashing_other(
    base: &impl ProjectionRows,
    other: &State,
    base_digest: &str,
    as_of: Option<espp_events::Day>,
    p: espp_projections::Provenance<'_>,
    skipped: &[SkippedRow],
    out: &mut impl Write,
) -> io::Result<()> {
    write_diff_json_hashing_other_holding(
        base,
        other,
        base_digest,
        (as_of, p),
        skipped,
        HELD_MAX,
        out,
    )
}

/// [`write_diff_json_hashing_other`] holding at most `held_max` bytes of rows while the
/// digest is hashed (tests: the bytes are the same whatever the bound).
#[doc(hidden)]
pub fn write_diff_json_hashing_other_holding(
    base: &impl ProjectionRows,
    other: &State,
    base_digest: &str,
    (as_of, p): (Option<espp_events::Day>, espp_projections::Provenance<'_>),
    skipped: &[SkippedRow],
    held_max: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    std::thread::scope(|s| {
        let h = s.spawn(|| other.projection_digest(as_of, p));
        write_json(
            base,
            other,
            base_digest,
            (OtherDigest::Hashing(h), held_max),
            skipped,
            out,
        )
    })
}

fn write_json<'s, 'w>(
    base: &impl ProjectionRows,
    other: &State,
    base_digest: &str,
    (other_digest, held_max): (OtherDigest<'s, 'w>, usize),
    skipped: &[SkippedRow],
    out: &mut impl Write,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    w.write_all(b"{\"base_digest\":")?;
    string(&mut w, base_digest)?;
    w.write_all(b",\"employees\":{")?;
    let mut sink = JsonSink {
        w: &mut w,
        first: true,
        other_digest: Some(other_digest),
        held: Held::default(),
        held_max,
    };
    let totals = walk(base, other, &mut sink)?;
    sink.settle(true)?;
    write_tail(&mut w, skipped, &totals)?;
    w.flush()
}

/// `],"skipped":[…],"totals":{…}}`.
fn write_tail(
    w: &mut impl Write,
    skipped: &[SkippedRow],
    totals: &[(&'static str, Change)],
) -> io::Result<()> {
    w.write_all(b"],\"skipped\":[")?;
    for (i, s) in skipped.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        cells_json(w, s.cells())?;
    }
    w.write_all(b"],\"totals\":")?;
    fields_json(w, totals)?;
    w.write_all(b"}")
}

fn purchase_json(w: &mut impl Write, p: &PurchaseDiff) -> io::Result<()> {
    let mut cells = vec![
        ("period", Cell::Str(&p.period)),
        (
            "employee",
            p.employee.as_deref().map_or(Cell::Null, Cell::Str),
        ),
    ];
    cells.extend(p.fields.iter().map(|(k, c)| (*k, Cell::Change(c))));
    cells_json(w, cells)
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
            purchase_json(&mut w, p)?;
        }
        write_tail(&mut w, &self.skipped, &self.totals)?;
        w.flush()
    }
}
