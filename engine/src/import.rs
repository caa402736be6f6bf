//! CSV imports of payroll and price files into events, with ids derived from each line's
//! business key so that importing the same file again appends nothing.
//!
//! - payroll `employee,date,gross_pay`: the id covers (employee, date, occurrence of that
//!   pair in the file). Re-importing skips every line; a file that now says another
//!   `gross_pay` for the same employee and day is an id conflict (exit 3), not a second
//!   payday: a wrong deduction is corrected with `deduction_reversed`, never by re-import.
//! - prices `date,close[,bid,ask,high,low]`: the id covers the whole line, so a corrected
//!   price for a day is a new `market_price` that replaces the earlier one (DOMAIN.md §3).

use std::io::Read;

use espp_events::{Day, EmployeeId, Event, EventInput, Line, Money, PerShare, ValueError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

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
            Kind::Payroll => (&["employee", "date", "gross_pay"], &[]),
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

fn field_error(line: usize, field: &str, e: ValueError) -> StoreError {
    StoreError::Input {
        line,
        message: format!("field `{field}`: {e}"),
    }
}

/// Reads a CSV file of `kind` into numbered events (line numbers count the header as 1).
/// `progress` is called with each data line's number.
pub fn read_csv(
    kind: Kind,
    input: impl Read,
    mut progress: impl FnMut(usize),
) -> Result<Vec<(usize, Line)>, StoreError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
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
    let mut seen = std::collections::HashMap::<(String, String), u32>::new();
    for (n, row) in rdr.records().enumerate() {
        let line = n + 2;
        progress(line);
        let row = row.map_err(|e| StoreError::Input {
            line,
            message: format!("malformed CSV: {e}"),
        })?;
        let cell = |name: &str| {
            index
                .get(name)
                .and_then(|&i| row.get(i))
                .filter(|s| !s.is_empty())
        };
        let req = |name: &str| {
            cell(name).ok_or_else(|| StoreError::Input {
                line,
                message: format!("field `{name}`: missing"),
            })
        };
        let date = Day::parse(req("date")?).map_err(|e| field_error(line, "date", e))?;
        let input = match kind {
            Kind::Payroll => {
                let who = req("employee")?;
                let employee =
                    EmployeeId::new(who).map_err(|e| field_error(line, "employee", e))?;
                let gross_pay = Money::parse(req("gross_pay")?)
                    .map_err(|e| field_error(line, "gross_pay", e))?;
                let occurrence = seen.entry((who.to_string(), date.to_string())).or_insert(0);
                *occurrence += 1;
                let id = stable_id(&["payroll", who, &date.to_string(), &occurrence.to_string()]);
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
                let price = |name: &str| -> Result<Option<PerShare>, StoreError> {
                    cell(name)
                        .map(|s| PerShare::parse(s).map_err(|e| field_error(line, name, e)))
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
        let parsed = espp_events::parse_line(&json).map_err(|e| StoreError::Input {
            line,
            message: e.to_string(),
        })?;
        out.push((line, parsed));
    }
    if out.is_empty() {
        return Err(StoreError::Input {
            line: 1,
            message: "no rows to import".into(),
        });
    }
    Ok(out)
}
