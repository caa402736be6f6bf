//! CSV imports of payroll and price files into events, with ids derived from each line's
//! business key so that importing the same file again appends nothing.
//!
//! - payroll `employee,date,gross_pay[,run]`: the id covers the business key (employee, date,
//!   `run`; an empty or missing `run` is `regular`). Re-importing skips every line; a file
//!   that now says another `gross_pay` for the same key is an id conflict (exit 3), not a
//!   second payday: a wrong deduction is corrected with `deduction_reversed`, never by
//!   re-import. A bonus or off-cycle run on a regular payday names its own `run` (`bonus`,
//!   `offcycle-2`, …) and is its own event. Two rows with one key in one file are refused.
//!   The `regular` run's id is the one earlier versions gave a day's first row, so files
//!   imported before `run` existed stay idempotent.
//! - prices `date,close[,bid,ask,high,low]`: the id covers the whole line, so a corrected
//!   price for a day is a new `market_price` that replaces the earlier one (DOMAIN.md §3).

use std::io::Read;

use espp_events::{Day, EmployeeId, Event, EventInput, Line, Money, PerShare, ValueError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::guards::Refusals;
use crate::store::StoreError;

/// What a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `employee,date,gross_pay`.
    Payroll,
    /// `date,close` and optional `bid,ask,high,low`.
    Prices,
}

impl Kind {
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Payroll => (&["employee", "date", "gross_pay"], &["run"]),
            Kind::Prices => (&["date"], &["close", "bid", "ask", "high", "low"]),
        }
    }
}

fn stable_id(parts: &[&str]) -> Uuid {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// The `run` of a payroll row when the file names none.
pub const REGULAR_RUN: &str = "regular";

fn field_error(field: &str, e: ValueError) -> String {
    format!("field `{field}`: {e}")
}

/// The id of a payroll row, from its business key.
fn payroll_id(employee: &str, date: Day, run: &str) -> Uuid {
    let date = date.to_string();
    if run == REGULAR_RUN {
        // What earlier versions gave a day's first row: (employee, date, occurrence 1).
        stable_id(&["payroll", employee, &date, "1"])
    } else {
        stable_id(&["payroll", employee, &date, "run", run])
    }
}

/// Reads a CSV file of `kind` into numbered events (line numbers are the file's own, the
/// header being line 1, blank lines counted). Every row refused on its own is listed in the
/// returned refusals (the rows around it are still read); a header that cannot be read
/// refuses the whole file. `progress` is called with each data line's number.
pub fn read_csv(
    kind: Kind,
    input: impl Read,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<(usize, Line)>, Refusals), StoreError> {
    let tail = std::rc::Rc::new(std::cell::RefCell::new(Tail::default()));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(Tracked {
            inner: input,
            tail: tail.clone(),
        });
    let headers = rdr
        .headers()
        .map_err(|e| StoreError::Input {
            line: 1,
            message: format!("not a CSV header: {e}"),
        })?
        .clone();
    let (required, optional) = kind.columns();
    let mut index = std::collections::BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        if !required.contains(&h) && !optional.contains(&h) {
            let mut all: Vec<&str> = required.to_vec();
            all.extend_from_slice(optional);
            return Err(StoreError::Input {
                line: 1,
                message: format!("unknown column {h:?}; expected {}", all.join(",")),
            });
        }
        if index.insert(h.to_string(), i).is_some() {
            return Err(StoreError::Input {
                line: 1,
                message: format!("column {h:?} appears twice"),
            });
        }
    }
    for r in required {
        if !index.contains_key(*r) {
            return Err(StoreError::Input {
                line: 1,
                message: format!("missing column {r:?}"),
            });
        }
    }
    let mut out = Vec::new();
    let mut refusals = Refusals::new();
    // Payroll business keys seen so far: (employee, date, run) → line.
    let mut seen = std::collections::HashMap::<(String, Day, String), usize>::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line() as usize;
        let row = match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let start = record.position().map_or(0, |p| p.byte());
                tail.borrow_mut().line_of(start, rdr.position().byte())
            }
            Err(e) => {
                let line = match e.position() {
                    Some(p) => tail.borrow_mut().line_of(p.byte(), rdr.position().byte()),
                    None => line,
                };
                refusals.push(line, format!("malformed CSV: {e}"));
                // A row of the wrong width is skipped whole; anything else (bad UTF-8 is
                // read as bytes, so this is rare) ends the file's reading here.
                if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    continue;
                }
                break;
            }
        };
        let line = row;
        progress(line);
        match row_event(kind, &index, &record, &mut seen, line) {
            Ok(parsed) => out.push((line, parsed)),
            Err(message) => refusals.push(line, message),
        }
    }
    if out.is_empty() && refusals.is_empty() {
        return Err(StoreError::Input {
            line: 1,
            message: "no rows to import".into(),
        });
    }
    Ok((out, refusals))
}

/// The bytes read from the CSV input since the last row, to number rows by their own line.
///
/// csv's record position is where it began reading a row: before the blank lines that
/// precede it, and after a CRLF's `\r` but before its `\n`. So a row's line is counted from
/// its first byte that is not a line break. Only the bytes since the previous row (and the
/// reader's read-ahead) are kept.
#[derive(Debug, Default)]
struct Tail {
    /// Absolute offset of `kept[0]`.
    base: u64,
    /// Line breaks before `base`.
    lines_before: usize,
    kept: Vec<u8>,
}

impl Tail {
    /// The 1-based line of the row read from byte `start` to byte `end`; forgets what is
    /// before `end`.
    fn line_of(&mut self, start: u64, end: u64) -> usize {
        let at = |o: u64| (o.saturating_sub(self.base) as usize).min(self.kept.len());
        let (from, to) = (at(start), at(end));
        let first = self.kept[from..to]
            .iter()
            .position(|b| *b != b'\n' && *b != b'\r')
            .map_or(to, |i| from + i);
        let line = self.lines_before + self.breaks(0, first) + 1;
        // A `\r` last in what was read may be the first half of a `\r\n`: keep it.
        let keep_from = if to > 0 && to == self.kept.len() && self.kept[to - 1] == b'\r' {
            to - 1
        } else {
            to
        };
        self.lines_before += self.breaks(0, keep_from);
        self.kept.drain(..keep_from);
        self.base += keep_from as u64;
        line
    }

    /// Line breaks among `kept[from..to]`: `\n`, `\r\n` and a lone `\r` (csv ends a row at
    /// each), a `\r` counted only once the byte after it is known.
    fn breaks(&self, from: usize, to: usize) -> usize {
        (from..to)
            .filter(|&i| match self.kept[i] {
                b'\n' => true,
                b'\r' => self.kept.get(i + 1).is_some_and(|b| *b != b'\n'),
                _ => false,
            })
            .count()
    }
}

/// The CSV input, keeping what was read since the last row (see [`Tail`]).
struct Tracked<R> {
    inner: R,
    tail: std::rc::Rc<std::cell::RefCell<Tail>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tail.borrow_mut().kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// One row's event, or why the row is refused.
fn row_event(
    kind: Kind,
    index: &std::collections::BTreeMap<String, usize>,
    row: &csv::StringRecord,
    seen: &mut std::collections::HashMap<(String, Day, String), usize>,
    line: usize,
) -> Result<Line, String> {
    {
        let cell = |name: &str| {
            index
                .get(name)
                .and_then(|&i| row.get(i))
                .filter(|s| !s.is_empty())
        };
        let req = |name: &str| cell(name).ok_or_else(|| format!("field `{name}`: missing"));
        let date = Day::parse(req("date")?).map_err(|e| field_error("date", e))?;
        let input = match kind {
            Kind::Payroll => {
                let who = req("employee")?;
                let employee = EmployeeId::new(who).map_err(|e| field_error("employee", e))?;
                let gross_pay =
                    Money::parse(req("gross_pay")?).map_err(|e| field_error("gross_pay", e))?;
                let run = cell("run").unwrap_or(REGULAR_RUN);
                // A run names a payroll run: the same characters as an id.
                EmployeeId::new(run).map_err(|e| field_error("run", e))?;
                if let Some(earlier) = seen.insert((who.to_string(), date, run.to_string()), line) {
                    return Err(format!(
                        "field `run`: line {earlier} already pays {who} on {date} in run {run:?}; \
                         a second payment that day needs its own `run` (like `bonus`)"
                    ));
                }
                let id = payroll_id(who, date, run);
                EventInput {
                    id: Some(id),
                    date,
                    event: Event::Payroll {
                        employee,
                        gross_pay,
                    },
                }
            }
            Kind::Prices => {
                let price = |name: &str| -> Result<Option<PerShare>, String> {
                    cell(name)
                        .map(|s| PerShare::parse(s).map_err(|e| field_error(name, e)))
                        .transpose()
                };
                let event = Event::MarketPrice {
                    closes: price("close")?.map(|c| vec![c]),
                    bid: price("bid")?,
                    ask: price("ask")?,
                    high: price("high")?,
                    low: price("low")?,
                    board_fmv: None,
                    no_sale: None,
                };
                let text = EventInput::new(date, event.clone()).to_json().to_string();
                EventInput {
                    id: Some(stable_id(&["market_price", &text])),
                    date,
                    event,
                }
            }
        };
        // The same checks as a JSON line gets (a bid without an ask, a row with no price).
        let json = input.to_json().to_string();
        espp_events::parse_line(&json).map_err(|e| e.to_string())
    }
}
