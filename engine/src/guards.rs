//! Mistakes stopped at the door (INTERCHANGE.md, "Mistakes stop at the door"): the checks an
//! append makes before anything is folded — dates typed years ahead, the same file sent
//! twice — and the list of every refused line that a malformed file reports at once.
//!
//! An append-only log cannot take a mistake back, only correct it with a new event, so these
//! checks are cheap to pass and hard to miss: each names the line, the field and the rule,
//! and each has an explicit override (`--allow-future`, `--again`) for the rare time the
//! administrator means it.

use std::fmt;

use espp_events::{encode_content_into, Day, Event, Instant};
use sha2::{Digest, Sha256};

/// How many days after its recording day an event may be dated without `--allow-future`.
///
/// A month covers a payroll or price file prepared ahead of a payday or a period's start; a
/// year typed `2062` for `2026` is decades out.
pub const FUTURE_LIMIT_DAYS: i64 = 31;

/// How many refused lines a refusal lists before it only counts the rest.
pub const LISTED_LINES: usize = 50;

/// The refusal of an event dated too far after the day it is recorded, or `None`.
pub fn too_far_ahead(date: Day, recorded_at: Instant) -> Option<String> {
    let recorded = recorded_at.day();
    let limit = recorded.add_days(FUTURE_LIMIT_DAYS)?;
    (date > limit).then(|| {
        format!(
            "field `date`: {date} is more than {FUTURE_LIMIT_DAYS} days after the day it is recorded ({recorded}); \
             a mistyped year? (`append --allow-future` or ESPP_ALLOW_FUTURE=1 accepts it)"
        )
    })
}

/// Every refused line of one input, in line order: the first [`LISTED_LINES`] with their
/// messages, then a count of the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    listed: Vec<(usize, String)>,
    total: usize,
}

impl Refusals {
    /// No refusal yet.
    pub fn new() -> Self {
        Refusals::default()
    }

    /// Notes that `line` is refused for `message` (lines come in increasing order).
    pub fn push(&mut self, line: usize, message: impl Into<String>) {
        self.total += 1;
        if self.listed.len() < LISTED_LINES {
            self.listed.push((line, message.into()));
        }
    }

    /// Adds another list's refusals, keeping the whole in line order.
    pub fn merge(&mut self, other: Refusals) {
        let mut all = std::mem::take(&mut self.listed);
        all.extend(other.listed);
        all.sort_by_key(|(line, _)| *line);
        all.truncate(LISTED_LINES);
        self.listed = all;
        self.total += other.total;
    }

    /// True when no line was refused.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many lines were refused in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The first refused line's number, if any.
    pub fn first_line(&self) -> Option<usize> {
        self.listed.first().map(|(line, _)| *line)
    }

    /// The listed (line, message) pairs.
    pub fn listed(&self) -> &[(usize, String)] {
        &self.listed
    }
}

impl fmt::Display for Refusals {
    /// One line per refused input line; a count of any beyond those listed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (line, message)) in self.listed.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "line {line}: {message}")?;
        }
        let more = self.total - self.listed.len();
        if more > 0 {
            write!(
                f,
                "\n… and {more} more refused line(s), {} in all",
                self.total
            )?;
        }
        Ok(())
    }
}

/// The fingerprint of a batch's content: its events' days, types and fields, in order, as
/// written (ids and envelopes left out). Equal fingerprints mean the same file was sent again.
#[derive(Debug, Default)]
pub struct Fingerprint {
    hasher: Sha256,
    buf: Vec<u8>,
    events: u64,
}

impl Fingerprint {
    /// An empty batch's fingerprint, ready for events.
    pub fn new() -> Self {
        Fingerprint::default()
    }

    /// Adds the next event of the batch.
    pub fn add(&mut self, date: Day, event: &Event) {
        self.buf.clear();
        encode_content_into(date, event, &mut self.buf);
        // Length-prefixed, so that no two sequences of events hash the same bytes.
        self.hasher.update((self.buf.len() as u64).to_be_bytes());
        self.hasher.update(&self.buf);
        self.events += 1;
    }

    /// The digest, which also covers the number of events.
    pub fn finish(self) -> [u8; 32] {
        let mut h = self.hasher;
        h.update(self.events.to_be_bytes());
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use espp_events::{EmployeeId, Money};

    fn day(s: &str) -> Day {
        Day::parse(s).expect("a day")
    }

    fn pay(amount: &str) -> Event {
        Event::Payroll {
            employee: EmployeeId::new("E1").expect("an id"),
            gross_pay: Money::parse(amount).expect("money"),
        }
    }

    #[test]
    fn thirty_one_days_ahead_is_the_last_day_accepted() {
        let at = Instant::parse("2026-12-01T23:59:59Z").expect("an instant");
        assert_eq!(too_far_ahead(day("2027-01-01"), at), None);
        let refused = too_far_ahead(day("2027-01-02"), at).expect("refused");
        assert!(refused.contains("2027-01-02") && refused.contains("2026-12-01"));
        assert_eq!(too_far_ahead(day("1999-01-01"), at), None);
    }

    #[test]
    fn fingerprints_see_order_scale_and_count() {
        let one = |events: &[(&str, &str)]| {
            let mut f = Fingerprint::new();
            for (d, a) in events {
                f.add(day(d), &pay(a));
            }
            f.finish()
        };
        let a = [("2026-01-15", "4000.00"), ("2026-01-29", "4000.00")];
        assert_eq!(one(&a), one(&a));
        assert_ne!(one(&a), one(&[a[1], a[0]]), "order matters");
        assert_ne!(one(&a), one(&[a[0]]), "a prefix is another batch");
        assert_ne!(
            one(&[("2026-01-15", "4000.00")]),
            one(&[("2026-01-15", "4000.0")]),
            "values compare as written"
        );
    }

    #[test]
    fn refusals_list_fifty_then_count() {
        let mut r = Refusals::new();
        for line in 1..=60 {
            r.push(line, "field `date`: not a day");
        }
        assert_eq!(r.total(), 60);
        assert_eq!(r.listed().len(), LISTED_LINES);
        let text = r.to_string();
        assert!(text.starts_with("line 1: field `date`"));
        assert!(text.ends_with("… and 10 more refused line(s), 60 in all"));
    }
}
