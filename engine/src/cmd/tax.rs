//! Form 3922 that can be filed: the issuer (`--issuer "NAME,EIN"`, the transferor) and the
//! payee file (`--payees FILE.csv`: employee,name,tin,address, a row per employee) joined
//! to the year's rows, every refusal naming its line.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{exit, Failure};

/// The columns of a Form 3922 row for tables and CSV: (JSON key, label), the boxes labelled
/// as DOMAIN.md §9 words them; the transferor's and payee's columns only when given.
pub fn columns(issuer: bool, payees: bool) -> Vec<(&'static str, &'static str)> {
    let mut c = vec![("employee", "employee"), ("period", "period")];
    if issuer {
        c.extend([
            ("transferor_name", "transferor name"),
            ("transferor_ein", "transferor EIN"),
        ]);
    }
    if payees {
        c.extend([
            ("payee_name", "employee name"),
            ("payee_tin", "employee TIN"),
            ("payee_address", "employee address"),
        ]);
    }
    c.extend([
        ("box1", "1 grant date"),
        ("box2", "2 purchase date"),
        ("box3", "3 FMV per share at grant"),
        ("box4", "4 FMV per share at purchase"),
        ("box5", "5 price paid per share"),
        ("box6", "6 shares"),
        ("box7", "7 date title transferred"),
        ("box8", "8 price per share as if bought at grant"),
    ]);
    c
}

/// The issuer of `--issuer "NAME,EIN"`: the name (it may hold commas: the EIN is after the
/// last one) and the EIN as `12-3456789`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub name: String,
    pub ein: String,
}

impl Issuer {
    pub fn parse(s: &str) -> Result<Issuer, Failure> {
        let bad = |why: &str| Failure::new(exit::USAGE, format!("--issuer: {why}, got {s:?}"));
        let (name, ein) = s.rsplit_once(',').ok_or_else(|| bad("give \"NAME,EIN\""))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        let ein = ein.trim();
        let digits: String = ein.chars().filter(|c| *c != '-').collect();
        let shaped = ein == digits
            || (ein.len() == 10 && ein.find('-') == Some(2) && ein.matches('-').count() == 1);
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || !shaped {
            return Err(bad("an EIN is 9 digits, 12-3456789"));
        }
        Ok(Issuer {
            name: name.to_string(),
            ein: format!("{}-{}", &digits[..2], &digits[2..]),
        })
    }
}

/// One payee of the payee file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payee {
    pub name: String,
    pub tin: String,
    pub address: String,
    /// The file's line the row is on.
    pub line: u64,
}

/// Whether `s` is a TIN: 9 digits, bare or dashed as an SSN (123-45-6789) or an EIN
/// (12-3456789).
pub fn is_tin(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        9 => digits(b),
        10 => b[2] == b'-' && digits(&b[..2]) && digits(&b[3..]),
        11 => {
            b[3] == b'-' && b[6] == b'-' && digits(&b[..3]) && digits(&b[4..6]) && digits(&b[7..])
        }
        _ => false,
    }
}

/// Reads the payee file: a header `employee,name,tin,address`, then a row per employee.
/// Every malformed row is named (line, field, rule), all of them at once.
pub fn read_payees(path: &Path) -> Result<BTreeMap<String, Payee>, Failure> {
    let text = std::fs::read(path)
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot read {}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut problems: Vec<String> = Vec::new();
    let mut payees: BTreeMap<String, Payee> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(i as u64 + 1, |p| p.line());
                problems.push(format!("line {line}: not CSV: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        if i == 0 {
            let header: Vec<String> = cells.iter().map(|c| c.to_ascii_lowercase()).collect();
            if header != ["employee", "name", "tin", "address"] {
                problems.push(format!(
                    "line {line}: the header must be employee,name,tin,address, got {}",
                    super::output::printable(&cells.join(","))
                ));
            }
            continue;
        }
        if cells.len() != 4 {
            problems.push(format!(
                "line {line}: 4 columns (employee,name,tin,address), got {}",
                cells.len()
            ));
            continue;
        }
        let mut ok = true;
        for (field, value) in ["employee", "name", "address"]
            .iter()
            .zip([cells[0], cells[1], cells[3]])
        {
            if value.is_empty() {
                problems.push(format!("line {line}: field `{field}`: empty"));
                ok = false;
            }
        }
        if !is_tin(cells[2]) {
            problems.push(format!(
                "line {line}: field `tin`: a TIN is 9 digits, with or without dashes \
                 (123-45-6789 or 12-3456789), got {:?}",
                super::output::printable(cells[2])
            ));
            ok = false;
        }
        if let Some(first) = payees.get(cells[0]) {
            problems.push(format!(
                "line {line}: field `employee`: {} has a row already, on line {}",
                super::output::printable(cells[0]),
                first.line
            ));
            ok = false;
        }
        if ok {
            payees.insert(
                cells[0].to_string(),
                Payee {
                    name: cells[1].to_string(),
                    tin: cells[2].to_string(),
                    address: cells[3].to_string(),
                    line,
                },
            );
        }
    }
    if problems.is_empty() {
        Ok(payees)
    } else {
        Err(Failure::new(
            exit::REFUSED,
            format!("{}: refused\n{}", path.display(), problems.join("\n")),
        ))
    }
}

/// Adds the transferor's and the payees' keys to each Form 3922 row; an employee with a row
/// but no payee is refused, naming the row.
pub fn join(
    rows: &mut [Value],
    issuer: Option<&Issuer>,
    payees: Option<(&Path, &BTreeMap<String, Payee>)>,
) -> Result<(), Failure> {
    let mut missing = Vec::new();
    for (i, row) in rows.iter_mut().enumerate() {
        let employee = row["employee"].as_str().unwrap_or_default().to_string();
        let Value::Object(m) = row else { continue };
        if let Some(issuer) = issuer {
            m.insert("transferor_name".into(), Value::String(issuer.name.clone()));
            m.insert("transferor_ein".into(), Value::String(issuer.ein.clone()));
        }
        if let Some((path, payees)) = payees {
            match payees.get(&employee) {
                Some(p) => {
                    m.insert("payee_name".into(), Value::String(p.name.clone()));
                    m.insert("payee_tin".into(), Value::String(p.tin.clone()));
                    m.insert("payee_address".into(), Value::String(p.address.clone()));
                }
                None => missing.push(format!(
                    "{}: no line for employee {employee} (Form 3922 row {}, period {})",
                    path.display(),
                    i + 1,
                    m.get("period").and_then(Value::as_str).unwrap_or_default()
                )),
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(exit::REFUSED, missing.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tins_and_eins() {
        assert!(is_tin("123456789"));
        assert!(is_tin("123-45-6789"));
        assert!(is_tin("12-3456789"));
        assert!(!is_tin("12345678"));
        assert!(!is_tin("1234-5-6789"));
        assert!(!is_tin("12345678a"));
        assert_eq!(
            Issuer::parse("SAVVIS, Inc.,123456789").ok(),
            Some(Issuer {
                name: "SAVVIS, Inc.".into(),
                ein: "12-3456789".into()
            })
        );
        assert!(Issuer::parse("SAVVIS,123-45-6789").is_err());
        assert!(Issuer::parse("12-3456789").is_err());
        assert!(Issuer::parse(",12-3456789").is_err());
    }
}
