//! Everything `espp` prints: projections, tables, CSV and JSON rows, statements, diffs and
//! the log listing, in one place that every command uses.

use std::io::Write;

use espp_events::{Day, Record};
use serde_json::Value;

use super::{exit, Failure};
use crate::Format;

mod diff;
mod explain;
pub mod html;
mod reference;
pub mod table;

pub use diff::{print_diff, print_state_diff};
pub use explain::{print_explanation, print_preview};
pub use reference::print_event_reference;

pub use table::Table;

/// The projection: JSON for programs, its employees as CSV, or the state table for people.
/// `folded_to` is the latest day the fold reached (the table's `as of` when no `--as-of`).
pub fn print_projection(
    out: &mut impl Write,
    format: Format,
    projection: &Value,
    folded_to: Option<Day>,
) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{projection}"),
        Format::Csv => print_employees_csv(out, projection),
        // Markdown is refused before any ledger is read (`Command::formats`).
        Format::Table | Format::Markdown | Format::Html => print_state(out, projection, folded_to),
    }
}

/// A CSV writer's failure. The csv crate wraps the I/O error, so a reader that went away
/// (`espp log --format csv | head -1`) is unwrapped here and ends `espp` quietly (exit 0), as
/// `From<io::Error>` does for every other write.
pub fn csv_failure(e: csv::Error) -> Failure {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::new(0, String::new());
        }
    }
    Failure::new(exit::STORAGE, format!("writing CSV: {e}"))
}

/// Rows of objects as a JSON array, CSV with a header, or an aligned table.
pub fn print_rows(
    out: &mut impl Write,
    format: Format,
    rows: &[Value],
    columns: &[&str],
) -> std::io::Result<()> {
    let labelled: Vec<(&str, &str)> = columns.iter().map(|c| (*c, *c)).collect();
    print_labelled_rows(out, format, rows, &labelled)
}

/// Rows of objects as a JSON array (their keys), or as CSV and an aligned table whose
/// headers are the columns' labels: `(key, label)` each.
pub fn print_labelled_rows(
    out: &mut impl Write,
    format: Format,
    rows: &[Value],
    labelled: &[(&str, &str)],
) -> std::io::Result<()> {
    let columns: Vec<&str> = labelled.iter().map(|c| c.0).collect();
    let labels: Vec<&str> = labelled.iter().map(|c| c.1).collect();
    match format {
        Format::Json => writeln!(out, "{}", Value::Array(rows.to_vec())),
        Format::Csv => {
            let mut w = csv_writer(out);
            w.write_record(&labels)?;
            for r in rows {
                w.write_record(columns.iter().map(|c| csv_cell(&r[*c])))?;
            }
            w.flush()
        }
        Format::Table | Format::Markdown | Format::Html => {
            if rows.is_empty() {
                return writeln!(out, "(none)");
            }
            let mut t = Table::new(&labels);
            for r in rows {
                t.row(columns.iter().map(|c| text(&r[*c])));
            }
            t.write(out)
        }
    }
}

/// A statement's columns, in the order that reconciles: opening_balance + deductions +
/// cash_payments − cost − refunds = carried, then the shares.
pub const STATEMENT_COLUMNS: [&str; 14] = [
    "employee",
    "period",
    "start",
    "end",
    "opening_balance",
    "deductions",
    "cash_payments",
    "cost",
    "refunds",
    "carried",
    "shares_bought",
    "price",
    "shares_held_end",
    "purchased",
];

pub fn print_statements(
    out: &mut impl Write,
    format: Format,
    rows: &[Value],
) -> std::io::Result<()> {
    if format == Format::Table && rows.is_empty() {
        return writeln!(out, "(no period with a purchase)");
    }
    print_rows(out, format, rows, &STATEMENT_COLUMNS)
}

/// The event's own fields, `key=value`, for the log listing.
pub fn details(r: &Record) -> String {
    let Value::Object(m) = r.to_json() else {
        return String::new();
    };
    m.iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "type" | "date" | "id" | "seq" | "recorded_at" | "actor" | "prev_hash" | "hash"
            )
        })
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={}", printable(s)),
            other => format!("{k}={}", printable(&other.to_string())),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as a table shows it: strings as they are (made printable), null as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => printable(s).into_owned(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `s` safe to print on a terminal: control characters (an escape sequence can retitle a
/// window or rewrite what was printed before), and the invisible and direction-changing
/// characters that make one text read as another, are shown as `\u{…}` escapes. Input can
/// carry them (an actor in an export someone else made, a JSON key in a refused line).
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_control() || espp_events::value::is_invisible(c);
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| {
                if hidden(c) {
                    format!("\\u{{{:04x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A CSV writer over `out` (quoting as RFC 4180 wants).
pub fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::Writer::from_writer(out)
}

/// A value as a CSV cell: null is empty; text that a spreadsheet would take for a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as
/// OWASP advises against CSV injection — an actor or a field can come from an export
/// someone else made. The ledger's own numbers are never negative in CSV output.
pub fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => csv_text(s),
        other => other.to_string(),
    }
}

/// Text as a CSV cell (see [`csv_cell`]).
pub fn csv_text(s: &str) -> String {
    let s = printable(s);
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.into_owned()
    }
}

pub const EMPLOYEE_COLUMNS: [&str; 10] = [
    "status",
    "rate",
    "balance",
    "deficiency",
    "contributed",
    "refunded",
    "shares_held",
    "shares_certificated",
    "dividends_paid",
    "ordinary_income",
];

/// The projection's employees as CSV, one row each.
pub fn print_employees_csv(out: &mut impl Write, p: &Value) -> std::io::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(std::iter::once("employee").chain(EMPLOYEE_COLUMNS))?;
    if let Some(Value::Object(emps)) = p.get("employees") {
        for (id, e) in emps {
            w.write_record(
                std::iter::once(csv_text(id))
                    .chain(EMPLOYEE_COLUMNS.iter().map(|c| csv_cell(&e[*c]))),
            )?;
        }
    }
    w.flush()
}

/// The state table. Without an as-of day the projection's `as_of` is null (DOMAIN.md §1):
/// the table says which day the books were folded to, so that nobody reads them as today's.
pub fn print_state(out: &mut impl Write, p: &Value, folded_to: Option<Day>) -> std::io::Result<()> {
    let plan = &p["plan"];
    let as_of = match (&p["as_of"], folded_to) {
        (Value::Null, Some(day)) => format!("{day} (the latest event's day)"),
        (Value::Null, None) => "(no events)".to_string(),
        (as_of, _) => text(as_of),
    };
    let mut facts = vec![
        ("as of", as_of),
        ("through seq", text(&p["through_seq"])),
        (
            "plan",
            format!(
                "{}{}",
                text(&plan["status"]),
                plan.get("reason")
                    .map(|r| format!(" ({})", text(r)))
                    .unwrap_or_default()
            ),
        ),
    ];
    for key in ["share_reserve", "shares_bought", "shares_left"] {
        if let Some(v) = plan.get(key) {
            facts.push((key, text(v)));
        }
    }
    print_facts(out, &facts)?;
    if let Some(Value::Object(emps)) = p.get("employees") {
        if !emps.is_empty() {
            writeln!(out)?;
            let mut cols = vec![
                "status",
                "rate",
                "balance",
                "contributed",
                "refunded",
                "shares_held",
            ];
            if emps
                .values()
                .any(|e| e.get("election_deadline").is_some_and(|d| !d.is_null()))
            {
                cols.push("election_deadline");
            }
            let mut t = Table::new(&[&["employee"][..], &cols].concat());
            for (id, e) in emps {
                t.row(
                    std::iter::once(printable(id).into_owned())
                        .chain(cols.iter().map(|c| text(&e[*c]))),
                );
            }
            t.write(out)?;
        }
    }
    if let Some(Value::Array(ps)) = p.get("purchases") {
        if !ps.is_empty() {
            writeln!(out)?;
            let cols = [
                "period",
                "date",
                "fmv_grant",
                "fmv_purchase",
                "price",
                "shares",
            ];
            let mut t = Table::new(&[
                "purchase",
                "date",
                "fmv_grant",
                "fmv_purchase",
                "price",
                "shares",
            ]);
            for x in ps {
                t.row(cols.iter().map(|c| text(&x[*c])));
            }
            t.write(out)?;
        }
    }
    writeln!(out)?;
    print_facts(out, &[("digest", text(&p["digest"]))])
}

/// `label: value` lines, the values aligned one space after the longest label.
pub fn print_facts(out: &mut impl Write, facts: &[(&str, String)]) -> std::io::Result<()> {
    // At least as wide as the state's own labels, so that its facts line up with the digest.
    let width = facts
        .iter()
        .map(|(l, _)| l.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max("share_reserve:".len());
    for (label, value) in facts {
        let label = format!("{label}:");
        writeln!(out, "{label:<width$} {value}")?;
    }
    Ok(())
}

/// What an append stored and skipped: one line per skipped line and a summary, or JSON.
pub fn print_append_report(
    out: &mut impl Write,
    format: Format,
    report: &espp_engine::AppendReport,
    dry_run: bool,
) -> std::io::Result<()> {
    if format == Format::Json {
        let skipped: Vec<Value> = report
            .skipped
            .iter()
            .map(|(line, id, seq)| serde_json::json!({"line": line, "id": id.to_string(), "seq": seq}))
            .collect();
        let v = serde_json::json!({
            "dry_run": dry_run,
            "stored": report.stored_count(),
            "first_seq": report.stored.map(|s| s.0),
            "last_seq": report.stored.map(|s| s.1),
            "skipped": skipped,
        });
        return writeln!(out, "{v}");
    }
    // Every skipped line is named; a run of consecutive lines stored as consecutive seqs (an
    // export appended again) as one range, so a re-append says one line, not thousands.
    let mut i = 0;
    while i < report.skipped.len() {
        let (line, id, seq) = report.skipped[i];
        let mut j = i + 1;
        while j < report.skipped.len()
            && report.skipped[j].0 == line + (j - i)
            && report.skipped[j].2 == seq + (j - i) as u64
        {
            j += 1;
        }
        if j - i == 1 {
            writeln!(
                out,
                "line {line}: skipped, id {id} is stored already as seq {seq}"
            )?;
        } else {
            let (last_line, _, last_seq) = report.skipped[j - 1];
            writeln!(
                out,
                "lines {line}-{last_line}: skipped, {} events stored already as seq {seq}-{last_seq}",
                j - i
            )?;
        }
        i = j;
    }
    let verb = if dry_run { "would store" } else { "stored" };
    match report.stored {
        Some((a, b)) => writeln!(
            out,
            "{verb} {} event(s), seq {a}-{b}",
            report.stored_count()
        ),
        None => writeln!(out, "nothing new: every event is stored already"),
    }
}

/// The log listing: JSON Lines, CSV or an aligned table.
pub fn print_log(
    out: &mut impl Write,
    format: Format,
    records: impl Iterator<Item = Result<Record, espp_engine::StoreError>>,
) -> Result<(), Failure> {
    match format {
        Format::Json => {
            // Each line written directly, as `export` writes it.
            let mut line = Vec::with_capacity(512);
            for r in records {
                line.clear();
                r?.write_exported_json(&mut line);
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(["seq", "date", "type", "recorded_at", "actor", "details"])
                .map_err(csv_failure)?;
            for r in records {
                let r = r?;
                w.write_record([
                    r.seq.to_string(),
                    r.date.to_string(),
                    r.event.type_name().to_string(),
                    r.recorded_at.to_string(),
                    csv_text(r.actor.as_str()),
                    csv_text(&details(&r)),
                ])
                .map_err(csv_failure)?;
            }
            w.flush()?;
        }
        Format::Table | Format::Markdown | Format::Html => {
            writeln!(
                out,
                "{:>8}  {:<10}  {:<22}  {:<27}  {:<14}  details",
                "seq", "date", "type", "recorded_at", "actor"
            )?;
            for r in records {
                let r = r?;
                writeln!(
                    out,
                    "{:>8}  {:<10}  {:<22}  {:<27}  {:<14}  {}",
                    r.seq,
                    r.date,
                    r.event.type_name(),
                    r.recorded_at.to_string(),
                    printable(r.actor.as_str()),
                    details(&r)
                )?;
            }
        }
    }
    Ok(())
}

/// A JSON value, indented for people who read a schema.
pub fn print_json_pretty(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")
}

/// A report: JSON; or for people its scalar figures as `key: value` lines and each list as
/// a table; or as CSV its lists, one `list,column…` block each (`rows_key`, when given, is
/// the report's main list, printed alone as CSV).
pub fn print_report(
    out: &mut impl Write,
    format: Format,
    v: &Value,
    rows_key: &str,
) -> std::io::Result<()> {
    let Value::Object(m) = v else {
        return writeln!(out, "{v}");
    };
    let columns_of = |rows: &[Value]| -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        for r in rows {
            for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
        cols
    };
    let cell = |x: &Value| match x {
        Value::Array(a) => a
            .iter()
            .map(|i| i.get("rule").map_or_else(|| text(i), text))
            .collect::<Vec<_>>()
            .join("; "),
        other => text(other),
    };
    match format {
        Format::Json => writeln!(out, "{v}"),
        Format::Csv => {
            let lists: Vec<(&String, &Vec<Value>)> = m
                .iter()
                .filter_map(|(k, x)| x.as_array().map(|a| (k, a)))
                .filter(|(k, _)| rows_key.is_empty() || k.as_str() == rows_key)
                .collect();
            for (name, rows) in lists {
                let cols = columns_of(rows);
                let mut w = csv::Writer::from_writer(&mut *out);
                let mut header = vec!["list".to_string()];
                header.extend(cols.iter().cloned());
                w.write_record(&header).map_err(std::io::Error::other)?;
                for r in rows {
                    let mut rec = vec![name.clone()];
                    rec.extend(cols.iter().map(|c| cell(&r[c.as_str()])));
                    w.write_record(&rec).map_err(std::io::Error::other)?;
                }
                w.flush()?;
            }
            Ok(())
        }
        Format::Table | Format::Markdown | Format::Html => {
            for (k, x) in m {
                match x {
                    Value::Array(_) => {}
                    Value::Object(o) => {
                        let parts: Vec<String> =
                            o.iter().map(|(a, b)| format!("{a} {}", text(b))).collect();
                        writeln!(out, "{k:<28} {}", parts.join(", "))?;
                    }
                    other => writeln!(out, "{k:<28} {}", text(other))?,
                }
            }
            for (k, x) in m {
                let Value::Array(rows) = x else { continue };
                writeln!(out, "\n{k}:")?;
                if rows.is_empty() {
                    writeln!(out, "  (none)")?;
                    continue;
                }
                let cols = columns_of(rows);
                let flat: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        Value::Object(
                            cols.iter()
                                .map(|c| (c.clone(), Value::String(cell(&r[c.as_str()]))))
                                .collect(),
                        )
                    })
                    .collect();
                let names: Vec<&str> = cols.iter().map(String::as_str).collect();
                print_rows(out, Format::Table, &flat, &names)?;
            }
            Ok(())
        }
    }
}
