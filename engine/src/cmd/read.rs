//! The read commands: export, verify, log, state, statement, tax rows and diff (replay of an
//! export: `replay.rs`). None of them appends anything.

use std::io::Write;
use std::path::Path;

use espp_engine::BookFileCheck;
use espp_events::Record;
use serde_json::Value;

use super::output::{self, print_projection, print_rows, print_statements};
use super::{exit, fold_ledger, open, Failure};
use crate::{Cli, Format, When};

/// `espp export`: the log as JSON Lines with envelopes.
pub fn export(cli: &Cli, out: &mut impl Write) -> Result<(), Failure> {
    // A damaged ledger still gives its intact prefix, then exit 4 saying so.
    let ledger = super::open_salvage(cli)?;
    let spin = super::spinner("exporting");
    let exported = espp_engine::export::write_jsonl(&ledger, out);
    spin.finish_and_clear();
    let exported = exported?;
    if let Some(e) = exported.damage {
        out.flush()?;
        return Err(e.into());
    }
    Ok(())
}

/// `espp verify`: the hash chain and a fold from scratch, in one pass, against every
/// checkpoint.
pub fn verify(cli: &Cli, out: &mut impl Write) -> Result<(), Failure> {
    let ledger = super::open_salvage(cli)?;
    // One pass: the chain, the fold and the checkpoints together (issue 15).
    let spin = super::spinner("verifying the hash chain, the fold and every checkpoint");
    let verified = ledger.verify_all();
    spin.finish_and_clear();
    let (report, folded) = verified?;
    if let Some(p) = &report.problem {
        return Err(Failure::new(
            exit::DAMAGED,
            format!(
                "verify failed at seq {}: {} ({} records intact before it)",
                p.seq, p.message, report.records
            ),
        ));
    }
    let Some((digest, checks)) = folded else {
        return Err(Failure::new(
            exit::DAMAGED,
            "verify failed: the log was not folded",
        ));
    };
    let disagreeing: Vec<_> = checks.iter().filter(|c| c.disagrees).collect();
    let book = ledger.check_book_file()?;
    if cli.format == Format::Json {
        let cps: Vec<Value> = checks
            .iter()
            .map(|c| serde_json::json!({"seq": c.seq, "kind": format!("{:?}", c.kind).to_lowercase(), "ok": c.problem.is_none(), "problem": c.problem}))
            .collect();
        let book_file = book.as_ref().map(|b| serde_json::json!({"checkpoint_seq": b.seq, "ok": b.problem.is_none(), "problem": b.problem}));
        let ok = disagreeing.is_empty() && !book.as_ref().is_some_and(|b| b.disagrees);
        let v = serde_json::json!({"ok": ok, "records": report.records, "head_hash": report.head_hash.to_string(), "digest": digest, "checkpoints": cps, "book_file": book_file});
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "intact: {} records, hash chain verified, head {}",
            report.records, report.head_hash
        )?;
        writeln!(
            out,
            "digest of the whole log, folded from scratch: {digest}"
        )?;
        for c in &checks {
            let what = format!("{:?}", c.kind).to_lowercase();
            match &c.problem {
                None => writeln!(
                    out,
                    "checkpoint at seq {} ({what}): agrees with a fold from scratch",
                    c.seq
                )?,
                Some(p) => writeln!(out, "checkpoint at seq {} ({what}): {p}", c.seq)?,
            }
        }
        match &book {
            None => {}
            Some(BookFileCheck {
                seq: Some(seq),
                problem: None,
                ..
            }) => writeln!(
                out,
                "book file: holds the accounts of checkpoint at seq {seq}"
            )?,
            Some(b) => writeln!(
                out,
                "book file: {}",
                b.problem.as_deref().unwrap_or_default()
            )?,
        }
    }
    if let Some(c) = disagreeing.first() {
        out.flush()?;
        return Err(Failure::new(
            exit::DAMAGED,
            format!(
                "checkpoint at seq {} disagrees with the log: {}",
                c.seq,
                c.problem.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(b) = book.filter(|b| b.disagrees) {
        out.flush()?;
        return Err(Failure::new(
            exit::DAMAGED,
            format!(
                "the book file disagrees with the checkpoint it names: {}",
                b.problem.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Which records `espp log` lists: by employee, type and date range.
#[derive(Debug, Default)]
pub struct LogFilter {
    employee: Option<String>,
    event_type: Option<String>,
    from_date: Option<espp_events::Day>,
    to_date: Option<espp_events::Day>,
}

impl LogFilter {
    pub fn new(
        employee: Option<&str>,
        event_type: Option<&str>,
        from_date: Option<&str>,
        to_date: Option<&str>,
    ) -> Result<Self, Failure> {
        let day = |flag: &str, s: Option<&str>| {
            s.map(|s| super::parse_arg(flag, s, espp_events::Day::parse))
                .transpose()
        };
        Ok(LogFilter {
            employee: employee.map(str::to_string),
            event_type: event_type.map(str::to_string),
            from_date: day("--from-date", from_date)?,
            to_date: day("--to-date", to_date)?,
        })
    }

    fn admits(&self, r: &Record) -> bool {
        self.employee
            .as_deref()
            .is_none_or(|e| r.event.employee().is_some_and(|x| x.as_str() == e))
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| r.event.type_name() == t)
            && self.from_date.is_none_or(|d| r.date >= d)
            && self.to_date.is_none_or(|d| r.date <= d)
    }
}

/// `espp log`: the records from a seq on (those the filter admits, up to `limit`), for
/// people or programs.
pub fn log(
    cli: &Cli,
    from: u64,
    limit: Option<u64>,
    filter: &LogFilter,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let ledger = open(cli)?;
    let records = ledger
        .records_from(from)
        .filter(|r| r.as_ref().map_or(true, |r| filter.admits(r)))
        .take(limit.map_or(usize::MAX, |l| l as usize));
    output::print_log(out, cli.format, records)
}

/// `espp form3922`: the year's rows, labelled, with the transferor and the payees when
/// given (both are checked before the ledger is opened).
pub fn form3922(
    cli: &Cli,
    year: i32,
    payees: Option<&Path>,
    issuer: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let issuer = issuer.map(super::tax::Issuer::parse).transpose()?;
    let payee_map = payees.map(super::tax::read_payees).transpose()?;
    let ledger = open(cli)?;
    let state = fold_ledger(&ledger, &espp_replay::Query::default())?;
    let mut rows = state.form3922(year);
    super::tax::join(&mut rows, issuer.as_ref(), payees.zip(payee_map.as_ref()))?;
    let columns = super::tax::columns(issuer.is_some(), payees.is_some());
    output::print_labelled_rows(out, cli.format, &rows, &columns)?;
    Ok(())
}

/// `espp dispositions`: the year's sales.
pub fn dispositions(cli: &Cli, year: i32, out: &mut impl Write) -> Result<(), Failure> {
    let ledger = open(cli)?;
    let state = fold_ledger(&ledger, &espp_replay::Query::default())?;
    print_rows(
        out,
        cli.format,
        &state.dispositions(year),
        &espp_projections::DISPOSITION_COLUMNS,
    )?;
    Ok(())
}

/// `espp statement`: §12 statements of one employee, or of every employee (`employee`
/// None); as HTML, pages written into `dir`.
pub fn statement(
    cli: &Cli,
    employee: Option<&str>,
    period: Option<&str>,
    dir: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let html = cli.format == Format::Html;
    match (html, dir) {
        (true, None) => {
            return Err(Failure::new(
                exit::USAGE,
                "statement --format html needs --out DIR (the pages are files)",
            ))
        }
        (false, Some(_)) => {
            return Err(Failure::new(
                exit::USAGE,
                "statement --out is for --format html",
            ))
        }
        _ => {}
    }
    let mut ledger = open(cli)?;
    // One employee's statements need only that employee's account, the periods and the
    // rules: read and folded without the others' where the ledger allows (issue 15).
    let one;
    let state = match employee {
        Some(e) => {
            one = ledger.fold_employee(&espp_replay::Query::default(), e)?;
            &one
        }
        None => ledger.book()?.state(),
    };
    let lookup = |e: espp_projections::Lookup| Failure::new(exit::USAGE, e.to_string());
    let employees = match (employee, period) {
        (Some(e), _) => vec![e.to_string()],
        (None, Some(p)) => state.statement_employees(p).map_err(lookup)?,
        (None, None) => state.employee_ids().map(str::to_string).collect(),
    };
    let mut pages = Vec::with_capacity(employees.len());
    for e in employees {
        let rows = state.statement(&e, period).map_err(lookup)?;
        // Without --period, --all lists the employees who bought shares.
        if employee.is_none() && period.is_none() && rows.is_empty() {
            continue;
        }
        pages.push((e, rows));
    }
    let Some(dir) = dir else {
        let rows: Vec<Value> = pages.into_iter().flat_map(|(_, r)| r).collect();
        print_statements(out, cli.format, &rows)?;
        return Ok(());
    };
    let cannot = |e: std::io::Error, p: &Path| {
        Failure::new(exit::STORAGE, format!("cannot write {}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot(e, dir))?;
    let plan = state.plan_name().to_string();
    let mut markets = std::collections::BTreeMap::new();
    for (_, rows) in &pages {
        for r in rows {
            let id = r["period"].as_str().unwrap_or_default().to_string();
            if let std::collections::btree_map::Entry::Vacant(slot) = markets.entry(id) {
                let m = state.period_market(slot.key()).map_err(lookup)?;
                slot.insert(m);
            }
        }
    }
    let mut index = Vec::with_capacity(pages.len());
    for (e, rows) in pages {
        let file = output::html::file_name(&e);
        let path = dir.join(&file);
        std::fs::write(
            &path,
            output::html::statement_page(&plan, &e, &rows, &markets),
        )
        .map_err(|err| cannot(err, &path))?;
        index.push((e, file, rows));
    }
    let path = dir.join("index.html");
    std::fs::write(&path, output::html::index_page(&plan, period, &index))
        .map_err(|err| cannot(err, &path))?;
    writeln!(
        out,
        "wrote {} statement page(s) and index.html to {}",
        index.len(),
        output::printable(&dir.display().to_string())
    )?;
    Ok(())
}

/// `espp state`: the projection; with `employee`, that employee's account only.
pub fn state(
    cli: &Cli,
    when: &When,
    rules: Option<&Path>,
    employee: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let query = when.query(rules)?;
    let ledger = open(cli)?;
    if let Some(id) = employee {
        let state = ledger.fold_employee(&query, id)?;
        let head = super::head_seen(&ledger, &query)?;
        return write_employee(cli.format, &state, id, &query, head, out);
    }
    let state = fold_ledger(&ledger, &query)?;
    let head = super::head_seen(&ledger, &query)?;
    if cli.format == Format::Json {
        // Written straight from the state, no Value tree (the same bytes, issue 15).
        return write_projection_json(&state, &query, head, out);
    }
    let projection = super::projection_of(&state, &query, head);
    print_projection(out, cli.format, &projection, state.day())?;
    Ok(())
}

/// The projection's `known_at` and `head` (`known_at` as text, kept by the caller).
fn provenance<'a>(
    known_at: &'a Option<String>,
    head: &'a Option<(u64, String)>,
) -> espp_projections::Provenance<'a> {
    espp_projections::Provenance {
        known_at: known_at.as_deref(),
        head: head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    }
}

/// `espp state --employee`: the one-employee projection (JSON), or its facts (table), or the
/// employee's row as `state --format csv` writes it.
fn write_employee(
    format: Format,
    state: &espp_projections::State,
    id: &str,
    query: &espp_replay::Query,
    head: Option<(u64, String)>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let known_at = query.known_at.map(|t| t.to_string());
    let provenance = provenance(&known_at, &head);
    let mut json = Vec::new();
    state.write_employee_projection(id, query.as_of, provenance, &mut json)?;
    if format == Format::Json {
        out.write_all(&json)?;
        writeln!(out)?;
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&json)
        .map_err(|e| Failure::new(exit::STORAGE, format!("internal: {e}")))?;
    let e = &v["employee"];
    if format == Format::Csv {
        let mut employees = serde_json::Map::new();
        if !e.is_null() {
            employees.insert(id.to_string(), e.clone());
        }
        let p = serde_json::json!({ "employees": employees });
        output::print_employees_csv(out, &p)?;
        return Ok(());
    }
    let as_of = match (&v["as_of"], state.day()) {
        (Value::Null, Some(day)) => format!("{day} (the latest event's day)"),
        (Value::Null, None) => "(no events)".to_string(),
        (as_of, _) => output::text(as_of),
    };
    let mut facts = vec![
        ("as of", as_of),
        ("employee", output::printable(id).into_owned()),
    ];
    match e.as_object() {
        None => facts.push(("status", "(not hired)".to_string())),
        Some(m) => {
            for (k, x) in m {
                facts.push((k.as_str(), output::text(x)));
            }
        }
    }
    output::print_facts(out, &facts)?;
    Ok(())
}

/// The projection JSON and a newline, as `print_projection` writes it for `--format json`,
/// written straight from the state (`State::write_projection`).
pub(super) fn write_projection_json(
    state: &espp_projections::State,
    query: &espp_replay::Query,
    head: Option<(u64, String)>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let known_at = query.known_at.map(|t| t.to_string());
    let provenance = provenance(&known_at, &head);
    state.write_projection(query.as_of, provenance, out)?;
    writeln!(out)?;
    Ok(())
}

/// `espp diff --rules`: who is treated differently under other rules.
pub fn diff(
    cli: &Cli,
    rules: &Path,
    as_of: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let when = When {
        as_of: as_of.map(str::to_string),
        known_at: None,
        through_seq: None,
    };
    let base_query = when.query(None)?;
    let other_query = when.query(Some(rules))?;
    let ledger = open(cli)?;
    let head = super::head_seen(&ledger, &base_query)?;
    // The two states compared directly (issue 15): neither projection is built; each
    // digest is hashed from its state. The log's rules fold from a checkpoint (and hash
    // their projection) on a thread of their own while the other rules fold from scratch,
    // with the progress bar, on this one.
    let known_at = base_query.known_at.map(|t| t.to_string());
    let provenance = provenance(&known_at, &head);
    let (base, other) = std::thread::scope(|s| {
        let base = s.spawn(|| -> Result<_, Failure> {
            let state = ledger.fold(&base_query, &mut |_| {})?;
            let digest = state.projection_digest(base_query.as_of, provenance);
            // Only the rows the diff compares are kept of the base (its employees' figures
            // and its purchases): the rest of the state is freed before the other fold
            // has grown (at 100,000 employees a whole state is ~0.5 GB).
            Ok((state.into_rows(), digest))
        });
        let other = fold_ledger(&ledger, &other_query);
        (
            base.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            other,
        )
    });
    let ((base, base_digest), other) = (base?, other?);
    // Each event the other rules skip, with what the log says of it: its day, type and
    // employee (the state names only the seq and the reason).
    let mut skipped = espp_replay::skipped_rows(&other);
    let found = skipped_records(&ledger, skipped.iter().map(|s| s.seq).collect())?;
    for s in &mut skipped {
        s.record = found.get(&s.seq).cloned();
    }
    if cli.format == Format::Json {
        // Row by row as the states are compared (the diff is never held whole), the other
        // projection hashed meanwhile on the second core.
        espp_replay::write_diff_json_hashing_other(
            &base,
            &other,
            &base_digest,
            other_query.as_of,
            provenance,
            &skipped,
            out,
        )?;
        writeln!(out)?;
    } else {
        let other_digest = other.projection_digest(other_query.as_of, provenance);
        let mut d = espp_replay::diff_states(&base, &other, base_digest, other_digest);
        d.skipped = skipped;
        output::print_state_diff(out, &d)?;
    }
    Ok(())
}

/// What the log says of each of `seqs` (the events other rules skip), read in seq order:
/// one pass over the chunks that hold them (a chunk is decoded whole; looking each seq up
/// on its own decoded its chunk once per seq), jumping over long stretches without one.
fn skipped_records(
    ledger: &espp_engine::store::Ledger,
    mut seqs: Vec<u64>,
) -> Result<std::collections::HashMap<u64, espp_replay::SkippedRecord>, Failure> {
    /// Read through a gap shorter than this; start again at the next seq past a longer one.
    const JUMP: u64 = 20_000;
    seqs.sort_unstable();
    seqs.dedup();
    let mut found = std::collections::HashMap::new();
    let mut wanted = seqs.into_iter().peekable();
    while let Some(&first) = wanted.peek() {
        for r in ledger.records_from(first) {
            let r = r?;
            while wanted.next_if(|&w| w < r.seq).is_some() {}
            let Some(&w) = wanted.peek() else { break };
            if w == r.seq {
                found.insert(
                    w,
                    espp_replay::SkippedRecord {
                        date: r.date.to_string(),
                        event_type: r.event.type_name().to_string(),
                        employee: r.event.employee().map(|e| e.to_string()),
                    },
                );
                wanted.next();
            } else if w - r.seq > JUMP {
                break;
            }
        }
        // Past the head (or the log ends first): what is left is not in the log.
        if wanted.peek().is_some_and(|&w| w <= first) {
            wanted.next();
        }
    }
    Ok(found)
}
