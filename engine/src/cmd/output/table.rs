//! Aligned tables for people: every column as wide as its widest cell (header included),
//! numbers right-aligned and text left-aligned, two spaces between columns, no trailing
//! spaces. Every table `espp` prints goes through [`Table`].

use std::io::Write;

/// A table being built: a header and rows of cells already made printable.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as headers; missing cells are empty).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Writes the table. A column whose every cell is a number (or `-`, a null) is
    /// right-aligned, header included; any other is left-aligned.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let n = self.headers.len();
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| width(cell(r, i)))
                    .chain([width(&self.headers[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..n)
            .map(|i| {
                let mut cells = self.rows.iter().map(|r| cell(r, i));
                cells.clone().any(is_number)
                    && cells.all(|c| is_number(c) || c == "-" || c.is_empty())
            })
            .collect();
        let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, c) in cells.enumerate().take(n) {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(width(c));
                if numeric[i] {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(c);
                } else {
                    text.push_str(c);
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        line(out, &mut self.headers.iter().map(String::as_str))?;
        for r in &self.rows {
            line(out, &mut (0..n).map(|i| cell(r, i)))?;
        }
        Ok(())
    }
}

/// The `i`th cell of a row ("" past its end).
fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

/// Columns a cell takes (characters, not bytes: names can be any script).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// A decimal or integer as the ledger writes them (an optional `-`, digits, an optional
/// fraction).
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Table) -> String {
        let mut out = Vec::new();
        t.write(&mut out).expect("writes to memory");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn text_left_numbers_right_no_trailing_spaces() {
        let mut t = Table::new(&["employee", "status", "balance"]);
        t.row(["E1", "participating", "400.00"]);
        t.row(["a-38-character-long-employee-id-xxxxxx", "left", "-"]);
        t.row(["Zoë", "enrolled", "12345.67"]);
        assert_eq!(
            render(&t),
            "employee                                status          balance\n\
             E1                                      participating    400.00\n\
             a-38-character-long-employee-id-xxxxxx  left                  -\n\
             Zoë                                     enrolled       12345.67\n"
        );
    }
}
