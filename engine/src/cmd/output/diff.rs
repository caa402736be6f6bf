//! `espp diff`'s output: the differences of two projections (a JSON diff or a state diff) as
//! JSON or as a table for people.

use std::io::Write;

use serde_json::Value;

use super::*;

pub fn print_diff(out: &mut impl Write, d: &Value) -> std::io::Result<()> {
    let cells = |who: &str, field: &str, c: &Value| {
        [
            printable(who).into_owned(),
            field.to_string(),
            text(&c["base"]),
            text(&c["other"]),
            c.get("delta").map(text).unwrap_or_default(),
        ]
    };
    let mut t = Table::new(&["employee", "field", "base", "other", "delta"]);
    for (id, fields) in d["employees"].as_object().into_iter().flatten() {
        for (f, c) in fields.as_object().into_iter().flatten() {
            t.row(cells(id, f, c));
        }
    }
    t.write(out)?;
    writeln!(out)?;
    let mut t = Table::new(&["purchase/employee", "field", "base", "other", "delta"]);
    for p in d["purchases"].as_array().into_iter().flatten() {
        let who = format!(
            "{}/{}",
            text(&p["period"]),
            p["employee"].as_str().unwrap_or("(purchase)")
        );
        for (f, c) in p.as_object().into_iter().flatten() {
            if f != "period" && f != "employee" {
                t.row(cells(&who, f, c));
            }
        }
    }
    for (f, c) in d["totals"].as_object().into_iter().flatten() {
        t.row(cells("TOTAL", f, c));
    }
    t.write(out)?;
    let skipped = d["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| SKIPPED_COLUMNS.map(|k| s.get(k).map(text).unwrap_or_default()));
    print_diff_tail(
        out,
        skipped,
        &text(&d["base_digest"]),
        &text(&d["other_digest"]),
    )
}

/// The columns of a diff's table of skipped events (and their keys in its JSON).
const SKIPPED_COLUMNS: [&str; 5] = ["seq", "date", "type", "employee", "reason"];

/// The skipped events' table of a diff, then its two digests: the end of [`print_diff`]
/// and [`print_state_diff`].
fn print_diff_tail(
    out: &mut impl Write,
    skipped: impl Iterator<Item = [String; 5]>,
    base_digest: &str,
    other_digest: &str,
) -> std::io::Result<()> {
    let mut skipped = skipped.peekable();
    if skipped.peek().is_none() {
        writeln!(out, "\nskipped under the other rules: none")?;
    } else {
        writeln!(
            out,
            "\nskipped under the other rules (left out of its fold, never rejected):"
        )?;
        let mut t = Table::new(&SKIPPED_COLUMNS);
        for row in skipped {
            t.row(row);
        }
        t.write(out)?;
    }
    writeln!(
        out,
        "\nbase digest  {base_digest}\nother digest {other_digest}"
    )
}

/// [`print_diff`] of a diff of two states: the same tables, byte for byte.
pub fn print_state_diff(out: &mut impl Write, d: &espp_replay::StateDiff) -> std::io::Result<()> {
    let field = |f: &espp_projections::Field| match f {
        espp_projections::Field::Str(s) => printable(s).into_owned(),
        espp_projections::Field::Null => "-".into(),
        espp_projections::Field::Bool(b) => b.to_string(),
    };
    let cells = |who: &str, name: &str, c: &espp_replay::Change| {
        [
            printable(who).into_owned(),
            name.to_string(),
            field(&c.base),
            field(&c.other),
            c.delta
                .as_deref()
                .map(|s| printable(s).into_owned())
                .unwrap_or_default(),
        ]
    };
    let mut t = Table::new(&["employee", "field", "base", "other", "delta"]);
    for e in &d.employees {
        for (f, c) in &e.fields {
            t.row(cells(&e.id, f, c));
        }
    }
    t.write(out)?;
    writeln!(out)?;
    let mut t = Table::new(&["purchase/employee", "field", "base", "other", "delta"]);
    for p in &d.purchases {
        let who = format!(
            "{}/{}",
            printable(&p.period),
            p.employee.as_deref().unwrap_or("(purchase)")
        );
        for (f, c) in &p.fields {
            t.row(cells(&who, f, c));
        }
    }
    for (f, c) in &d.totals {
        t.row(cells("TOTAL", f, c));
    }
    t.write(out)?;
    let skipped = d.skipped.iter().map(|s| {
        let (date, event_type, employee) = match &s.record {
            Some(r) => (
                printable(&r.date).into_owned(),
                printable(&r.event_type).into_owned(),
                r.employee
                    .as_deref()
                    .map_or_else(|| "-".into(), |e| printable(e).into_owned()),
            ),
            None => Default::default(),
        };
        [
            s.seq.to_string(),
            date,
            event_type,
            employee,
            printable(&s.reason).into_owned(),
        ]
    });
    print_diff_tail(
        out,
        skipped,
        &printable(&d.base_digest),
        &printable(&d.other_digest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use espp_projections::Field;
    use espp_replay::{Change, EmployeeDiff, PurchaseDiff, SkippedRecord, SkippedRow, StateDiff};

    fn change(base: Field, other: Field, delta: Option<&str>) -> Change {
        Change {
            base,
            other,
            delta: delta.map(str::to_string),
        }
    }

    fn s(x: &str) -> Field {
        Field::Str(x.into())
    }

    fn table(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The table written from the typed diff is the one `print_diff` writes from its
    /// `Value` (the oracle): nulls, flags, missing deltas, escapes, skipped events with and
    /// without their record, and an empty diff.
    #[test]
    fn the_state_diff_table_is_the_value_diff_table() {
        let d = StateDiff {
            base_digest: "ab".repeat(32),
            other_digest: "cd".repeat(32),
            employees: vec![
                EmployeeDiff {
                    id: "E1".into(),
                    fields: vec![
                        ("balance", change(s("5.60"), s("18.83"), Some("13.23"))),
                        ("rate", change(Field::Null, s("0.05"), None)),
                        ("status", change(s("active"), s("withdrawn"), None)),
                    ],
                },
                EmployeeDiff {
                    id: "E2".into(),
                    fields: vec![("shares_held", change(s("10"), Field::Null, None))],
                },
            ],
            purchases: vec![
                PurchaseDiff {
                    period: "2026H1".into(),
                    employee: None,
                    fields: vec![
                        ("price", change(s("8.5000"), s("9.0000"), Some("0.5000"))),
                        (
                            "prorated",
                            change(Field::Bool(false), Field::Bool(true), None),
                        ),
                    ],
                },
                PurchaseDiff {
                    period: "2026H1".into(),
                    employee: Some("E1".into()),
                    fields: vec![("cost", change(s("100.00"), s("90.00"), Some("-10.00")))],
                },
            ],
            totals: vec![("balance", change(s("5.60"), s("18.83"), Some("13.23")))],
            skipped: vec![
                SkippedRow {
                    seq: 57,
                    reason: "§6: rate 0.10 exceeds\u{1b}[2J the maximum".into(),
                    record: Some(SkippedRecord {
                        date: "2025-12-10".into(),
                        event_type: "enrolled".into(),
                        employee: Some("E1".into()),
                    }),
                },
                SkippedRow {
                    seq: 58,
                    reason: "no employee".into(),
                    record: Some(SkippedRecord {
                        date: "2025-12-11".into(),
                        event_type: "plan_amended".into(),
                        employee: None,
                    }),
                },
                SkippedRow {
                    seq: 59,
                    reason: "not in the log".into(),
                    record: None,
                },
            ],
        };
        let expected = table(|o| print_diff(o, &d.to_value()));
        assert!(expected.contains("2026H1/(purchase)"), "{expected}");
        assert_eq!(table(|o| print_state_diff(o, &d)), expected);
        let empty = StateDiff {
            employees: vec![],
            purchases: vec![],
            totals: vec![],
            skipped: vec![],
            ..d
        };
        let expected = table(|o| print_diff(o, &empty.to_value()));
        assert!(expected.contains("none"), "{expected}");
        assert_eq!(table(|o| print_state_diff(o, &empty)), expected);
    }
}
