//! Reading JSON Lines input one line at a time (`append`, `import`'s events, `replay
//! --from-export`): numbered lines, each parsed or refused on its own, in bounded memory.

use std::io::{BufRead, Read as _};
use std::path::Path;

use espp_engine::StreamLine;
use espp_events::parse_line;

use super::{exit, Failure};

/// Longest input line taken, in bytes. The largest event a person or a feed writes (a
/// `plan_adopted` with every rule, a `market_price` with thousands of closes) is a few KiB;
/// anything longer is refused before it is parsed, so a hostile file cannot make a read cost
/// gigabytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// An input being read: a file or standard input.
pub(super) type Input = Box<dyn BufRead + Send>;

/// A JSON Lines file (or `-`, standard input) to read.
pub(super) fn open_input(file: &Path) -> Result<Input, Failure> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(file)
        .map_err(|e| Failure::new(exit::USAGE, format!("cannot read {}: {e}", file.display())))?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

/// The lines of a JSON Lines input, one at a time: each parsed, or refused on its own.
/// Blank lines are skipped; a UTF-8 byte-order mark before the first line is ignored; a line
/// longer than [`MAX_LINE_BYTES`] is refused without being kept. An I/O error ends it.
pub(super) struct JsonLines<R> {
    input: R,
    raw: Vec<u8>,
    line: usize,
    done: bool,
}

impl JsonLines<Input> {
    /// No lines at all.
    pub(super) fn empty() -> Self {
        let mut lines = JsonLines::new(Box::new(std::io::empty()) as Input);
        lines.done = true;
        lines
    }
}

impl<R: BufRead> JsonLines<R> {
    pub(super) fn new(input: R) -> Self {
        JsonLines {
            input,
            raw: Vec::new(),
            line: 0,
            done: false,
        }
    }

    /// The next line's item; None for a blank line; Err at the end of the input.
    fn read_one(&mut self) -> std::io::Result<Option<Option<StreamLine>>> {
        Ok(self.read_text()?.map(|text| match text {
            Text::Line(line, text) => Some(match parse_line(text) {
                Ok(parsed) => StreamLine::Line(line, parsed),
                Err(e) => StreamLine::Refused(line, e.to_string()),
            }),
            Text::Refused(line, why) => Some(StreamLine::Refused(line, why)),
            Text::Blank => None,
        }))
    }

    /// The next line's text, not parsed (None at the end of the input): what `replay`'s
    /// first pass reads.
    pub(super) fn read_text(&mut self) -> std::io::Result<Option<Text<'_>>> {
        if self.done {
            return Ok(None);
        }
        self.line += 1;
        let line = self.line;
        self.raw.clear();
        // One byte more than the limit tells a line that is too long from one that fits.
        let read = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.raw)?;
        if read == 0 {
            self.done = true;
            return Ok(None);
        }
        if self.raw.last() != Some(&b'\n') && self.raw.len() > MAX_LINE_BYTES {
            // Skip the rest of the line without keeping it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let n = (&mut self.input)
                    .take(1 << 16)
                    .read_until(b'\n', &mut rest)?;
                if n == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Some(Text::Refused(
                line,
                format!("longer than {MAX_LINE_BYTES} bytes, the most one event may take"),
            )));
        }
        let mut bytes = self.raw.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                return Ok(Some(Text::Refused(
                    line,
                    format!("not UTF-8 text (byte {})", e.valid_up_to() + 1),
                )))
            }
        };
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            return Ok(Some(Text::Blank));
        }
        Ok(Some(Text::Line(line, text)))
    }
}

/// One line of input before it is parsed.
pub(super) enum Text<'a> {
    /// Its number and text (without its line ending).
    Line(usize, &'a str),
    /// Refused on its own (too long, not UTF-8): its number and why.
    Refused(usize, String),
    /// A blank line, skipped.
    Blank,
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = std::io::Result<StreamLine>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.read_one() {
                Ok(Some(Some(item))) => return Some(Ok(item)),
                Ok(Some(None)) => continue,
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
