//! Everything `espp` prints: projections, tables, CSV and JSON rows, statements, diffs and
//! the log listing, in one place that every command uses.

use std::io::Write;

use espp_events::{Day, Record};
use serde_json::Value;

use super::{exit, Failure};
use crate::Format;

pub mod html;
pub mod table;

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
            for r in records {
                writeln!(out, "{}", r?.to_json())?;
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

/// The event reference of `espp events`, from the event table: for a terminal (table), as
/// docs/events.md (markdown), or as JSON for programs.
pub fn print_event_reference(out: &mut impl Write, format: Format) -> std::io::Result<()> {
    use espp_events::catalogue::{self, Kind, COMMON, ENVELOPE};
    let events = catalogue::events();
    let rules = catalogue::rules();
    let default_of = |f: &catalogue::FieldSpec| -> String {
        match (f.optional, f.default) {
            (false, _) => String::new(),
            (true, "") => "absent".into(),
            (true, d) => d.into(),
        }
    };
    match format {
        Format::Json => {
            let field = |f: &catalogue::FieldSpec| {
                serde_json::json!({
                    "name": f.name, "kind": f.kind.name(), "optional": f.optional,
                    "default": if f.optional { Value::from(default_of(f)) } else { Value::Null },
                    "purpose": f.purpose.trim(),
                })
            };
            let v = serde_json::json!({
                "common": COMMON.iter().map(field).collect::<Vec<_>>(),
                "events": events.iter().map(|e| serde_json::json!({
                    "type": e.type_name,
                    "purpose": e.purpose.trim(),
                    "fields": e.fields.iter().map(field).collect::<Vec<_>>(),
                    "example": e.example,
                })).collect::<Vec<_>>(),
                "rules": rules.iter().map(|(f, d)| {
                    let mut v = field(f);
                    v["default"] = d.clone();
                    v
                }).collect::<Vec<_>>(),
                "envelope": ENVELOPE.iter().map(field).collect::<Vec<_>>(),
            });
            writeln!(out, "{v}")
        }
        Format::Markdown => {
            let cell = |s: &str| s.trim().replace('|', "\\|");
            writeln!(out, "# Events")?;
            writeln!(out)?;
            writeln!(
                out,
                "<!-- Generated by `espp events --format markdown > docs/events.md`: do not edit by hand; a test keeps this file equal to what the code generates. -->"
            )?;
            writeln!(out)?;
            writeln!(
                out,
                "`espp append FILE` takes JSON Lines: one JSON object per line, an event with its \
                 `type`, its `date` and its fields. Every number is a decimal **string** \
                 (`\"4000.00\"`), never a JSON number; booleans are JSON `true`/`false`. An unknown \
                 `type`, an unknown or missing field, or a value of the wrong shape refuses the \
                 line, naming its number, the field and what was expected. `espp schema` prints a \
                 JSON Schema (draft 2020-12) of one line for other tools."
            )?;
            writeln!(out)?;
            writeln!(out, "## Values")?;
            writeln!(out)?;
            writeln!(out, "| kind | written as |")?;
            writeln!(out, "|---|---|")?;
            for k in Kind::LISTED {
                writeln!(out, "| {} | {} |", cell(&k.name()), cell(k.describe()))?;
            }
            writeln!(
                out,
                "| `\"a\" \\| \"b\"` | {} |",
                cell(Kind::Choice(&[]).describe())
            )?;
            writeln!(out)?;
            writeln!(out, "## Every event")?;
            writeln!(out)?;
            writeln!(out, "| field | kind | required | meaning |")?;
            writeln!(out, "|---|---|---|---|")?;
            for f in COMMON {
                let kind = if f.name == "type" {
                    "one of the types below".to_string()
                } else {
                    f.kind.name()
                };
                let meaning = if f.optional {
                    format!("{} (default: {})", f.purpose, f.default)
                } else {
                    f.purpose.to_string()
                };
                writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    f.name,
                    cell(&kind),
                    if f.optional { "no" } else { "yes" },
                    cell(&meaning)
                )?;
            }
            writeln!(out)?;
            let types: Vec<String> = events
                .iter()
                .map(|e| format!("[`{t}`](#{t})", t = e.type_name))
                .collect();
            writeln!(out, "Types: {}.", types.join(", "))?;
            writeln!(out)?;
            for e in events {
                writeln!(out, "### {}", e.type_name)?;
                writeln!(out)?;
                writeln!(out, "{}", e.purpose.trim())?;
                writeln!(out)?;
                if e.fields.is_empty() {
                    writeln!(out, "No fields besides `type`, `date` and `id`.")?;
                } else {
                    writeln!(out, "| field | kind | required | default | meaning |")?;
                    writeln!(out, "|---|---|---|---|---|")?;
                    for f in e.fields {
                        writeln!(
                            out,
                            "| `{}` | {} | {} | {} | {} |",
                            f.name,
                            cell(&f.kind.name()),
                            if f.optional { "no" } else { "yes" },
                            cell(&default_of(f)),
                            cell(f.purpose)
                        )?;
                    }
                }
                writeln!(out)?;
                writeln!(out, "```json")?;
                writeln!(out, "{}", e.example)?;
                writeln!(out, "```")?;
                writeln!(out)?;
            }
            writeln!(out, "## The rules object")?;
            writeln!(out)?;
            writeln!(
                out,
                "The `rules` of `plan_adopted`, the `changes` of `plan_amended` and a `--rules` \
                 file (`espp state --rules`, `espp diff --rules`) are one JSON object of plan \
                 rules. Every rule is optional; one left out keeps the plan's default (or, in \
                 `changes` and `--rules`, the rule in force). Counts of months, years and \
                 decimal places are JSON integers; every other number is a decimal string."
            )?;
            writeln!(out)?;
            writeln!(out, "| rule | kind | default | meaning |")?;
            writeln!(out, "|---|---|---|---|")?;
            for (f, d) in &rules {
                writeln!(
                    out,
                    "| `{}` | {} | `{}` | {} |",
                    f.name,
                    cell(&f.kind.name()),
                    cell(&d.to_string()),
                    cell(f.purpose)
                )?;
            }
            writeln!(out)?;
            writeln!(out, "## Exported records: the envelope")?;
            writeln!(out)?;
            writeln!(
                out,
                "`espp export` writes each record with the envelope the engine added; `espp \
                 append` takes such lines back (a whole file of them continues the target \
                 ledger's chain). A line carries every envelope field and an `id`, or none."
            )?;
            writeln!(out)?;
            writeln!(out, "| field | kind | meaning |")?;
            writeln!(out, "|---|---|---|")?;
            for f in ENVELOPE {
                writeln!(
                    out,
                    "| `{}` | {} | {} |",
                    f.name,
                    cell(&f.kind.name()),
                    cell(f.purpose)
                )?;
            }
            Ok(())
        }
        Format::Table | Format::Csv | Format::Html => {
            writeln!(
                out,
                "Events are JSON Lines; every number is a decimal string (\"4000.00\"). Every event \
                 has `type`, `date` (YYYY-MM-DD) and may have `id` (a UUID)."
            )?;
            writeln!(
                out,
                "`espp events --format markdown` is this reference in full (docs/events.md); \
                 `espp schema` is its JSON Schema."
            )?;
            for e in events {
                writeln!(out)?;
                writeln!(out, "{} — {}", e.type_name, e.purpose.trim())?;
                for f in e.fields {
                    let need = if f.optional {
                        format!("optional, default {}", default_of(f))
                    } else {
                        "required".to_string()
                    };
                    writeln!(
                        out,
                        "  {:<24} {:<28} {}{}",
                        f.name,
                        f.kind.name(),
                        need,
                        if f.purpose.is_empty() {
                            String::new()
                        } else {
                            format!(". {}", f.purpose.trim())
                        }
                    )?;
                }
                writeln!(out, "  example: {}", e.example)?;
            }
            writeln!(out)?;
            writeln!(
                out,
                "rules object (plan_adopted, plan_amended changes, --rules):"
            )?;
            for (f, d) in &rules {
                writeln!(
                    out,
                    "  {:<24} {:<28} default {}. {}",
                    f.name,
                    f.kind.name(),
                    d,
                    f.purpose.trim()
                )?;
            }
            Ok(())
        }
    }
}

/// `explain`: the trail as JSON, or one line per step for people (a purchase's and an
/// eligibility verdict's steps indented under it, each naming its plan section).
pub fn print_explanation(out: &mut impl Write, format: Format, v: &Value) -> std::io::Result<()> {
    if format == Format::Json {
        return writeln!(out, "{v}");
    }
    writeln!(
        out,
        "employee {}{}{} (through seq {}, head seq {})",
        text(&v["employee"]),
        v["period"]
            .as_str()
            .map(|p| format!(", period {p}"))
            .unwrap_or_default(),
        v["as_of"]
            .as_str()
            .map(|d| format!(", as of {d}"))
            .unwrap_or_default(),
        text(&v["through_seq"]),
        text(&v["head_seq"])
    )?;
    if format == Format::Csv {
        writeln!(out, "date,seq,kind,text")?;
    }
    for e in v["entries"].as_array().into_iter().flatten() {
        let seq = e.get("seq").map(text).unwrap_or_default();
        let kind = e.get("type").map(text).unwrap_or_else(|| text(&e["kind"]));
        if format == Format::Csv {
            writeln!(
                out,
                "{},{},{},\"{}\"",
                text(&e["date"]),
                seq,
                kind,
                text(&e["text"]).replace('"', "\"\"")
            )?;
            continue;
        }
        writeln!(
            out,
            "{:<10}  {:>7}  {:<20}  {}",
            text(&e["date"]),
            seq,
            kind,
            text(&e["text"])
        )?;
        for t in e["tests"].as_array().into_iter().flatten() {
            let mark = if t["pass"] == Value::Bool(true) {
                "met"
            } else {
                "NOT met"
            };
            writeln!(
                out,
                "{:<43}{:<7} {}: {}",
                "",
                text(&t["section"]),
                text(&t["rule"]),
                mark
            )?;
        }
        for s in e["steps"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "{:<43}{:<7} {}",
                "",
                text(&s["section"]),
                text(&s["text"])
            )?;
        }
    }
    let now = &v["now"];
    writeln!(
        out,
        "\nnow: status {}, balance {}, deficiency {}, contributed {}, refunded {}, shares held {}, certificated {}",
        text(&now["status"]),
        text(&now["balance"]),
        text(&now["deficiency"]),
        text(&now["contributed"]),
        text(&now["refunded"]),
        text(&now["shares_held"]),
        text(&now["shares_certificated"])
    )
}

/// The columns of a purchase preview's rows.
pub const PREVIEW_COLUMNS: [&str; 8] = [
    "employee", "balance", "wanted", "shares", "cost", "refunded", "carried", "binds",
];

/// `purchase --preview`: JSON, the rows as CSV, or the rows, totals and checks for people.
pub fn print_preview(out: &mut impl Write, format: Format, v: &Value) -> std::io::Result<()> {
    let rows: Vec<Value> = v["allocations"].as_array().cloned().unwrap_or_default();
    match format {
        Format::Json => writeln!(out, "{v}"),
        Format::Csv => print_rows(out, format, &rows, &PREVIEW_COLUMNS),
        Format::Table | Format::Markdown | Format::Html => {
            writeln!(
                out,
                "PREVIEW (nothing appended): purchase of period {} on {}{}",
                text(&v["period"]),
                text(&v["date"]),
                v["hypothetical_close"]
                    .as_str()
                    .map(|c| format!(" with a hypothetical close of {c}"))
                    .unwrap_or_default()
            )?;
            writeln!(
                out,
                "FMV at grant {} ({}), FMV at purchase {}, price {}{}\n",
                text(&v["fmv_grant"]),
                text(&v["grant_date"]),
                text(&v["fmv_purchase"]),
                text(&v["price"]),
                if v["prorated"] == Value::Bool(true) {
                    ", prorated (§13)"
                } else {
                    ""
                }
            )?;
            print_rows(out, format, &rows, &PREVIEW_COLUMNS)?;
            let t = &v["totals"];
            writeln!(
                out,
                "\ntotal: {} participants, {} shares, cost {}, refunded {}, carried {}",
                text(&t["participants"]),
                text(&t["shares"]),
                text(&t["cost"]),
                text(&t["refunded"]),
                text(&t["carried"])
            )?;
            let c = &v["checks"];
            let names = |k: &str| {
                let list: Vec<String> = c[k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x.get("employee").map_or_else(|| text(x), text))
                    .collect();
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            };
            writeln!(
                out,
                "participants with no deductions: {}",
                names("no_deductions")
            )?;
            writeln!(
                out,
                "balances above the annual headroom (§9 cap binds): {}",
                names("above_annual_headroom")
            )?;
            writeln!(out, "prorated (§13): {}", names("prorated"))?;
            writeln!(
                out,
                "within 10% of the 5% owner cap (§4(d)): {}",
                names("near_owner_cap")
            )?;
            writeln!(out, "reserve left after it: {}", text(&c["reserve_left"]))
        }
    }
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
