//! Withholding Periods (§7, §9): the schedule, which period is open, and the checks that
//! keep periods apart, short and their limits announced in advance.

use std::collections::BTreeMap;
use std::ops::Bound;

use espp_events::{Day, PeriodId, Rules};
use rust_decimal::Decimal;

use crate::state::Rejection;

/// One scheduled period.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Period {
    pub id: PeriodId,
    pub start: Day,
    pub end: Day,
    #[serde(with = "crate::ser::opt_dec")]
    pub share_limit: Option<Decimal>,
    #[serde(with = "crate::ser::opt_dec")]
    pub value_limit: Option<Decimal>,
    #[serde(with = "crate::ser::opt_dec")]
    pub price_factor: Option<Decimal>,
    /// The rules in force when the period opened: purchase terms amended later apply to
    /// later periods only (DOMAIN.md §7).
    pub rules: Option<Rules>,
    /// The day its purchase executed.
    pub purchased: Option<Day>,
    /// The day a change in control deemed it ended (§25(c)), before its scheduled end.
    pub deemed_end: Option<Day>,
}

/// Every period, by start day, and where the fold stands among them.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Periods {
    pub by_start: BTreeMap<Day, Period>,
    pub start_of: BTreeMap<PeriodId, Day>,
    /// The start of the open period: opened on its first day, closed by its purchase or the
    /// day after its end.
    pub open: Option<Day>,
    /// The start of the latest period opened.
    pub opened_through: Option<Day>,
    /// [`Periods::next_start`] as last computed, with `opened_through` and the number of
    /// periods it was computed from (periods are only ever added, never removed or moved:
    /// those two say whether it still holds). A cache, never stored.
    #[serde(skip)]
    next_start_memo: Option<NextStartMemo>,
}

/// `(opened_through, periods scheduled)` and the next start they gave.
type NextStartMemo = ((Option<Day>, usize), Option<Day>);

impl Periods {
    /// The open period.
    pub(crate) fn open_period(&self) -> Option<&Period> {
        self.open.and_then(|s| self.by_start.get(&s))
    }

    /// [`Periods::next_start`], looked up again only when a period was added or opened.
    pub(crate) fn next_start_cached(&mut self) -> Option<Day> {
        let inputs = (self.opened_through, self.by_start.len());
        match self.next_start_memo {
            Some((was, next)) if was == inputs => next,
            _ => {
                let next = self.next_start();
                self.next_start_memo = Some((inputs, next));
                next
            }
        }
    }

    /// The next period to open: the first that starts after the latest opened.
    pub(crate) fn next_start(&self) -> Option<Day> {
        let lower = match self.opened_through {
            Some(d) => Bound::Excluded(d),
            None => Bound::Unbounded,
        };
        self.by_start
            .range((lower, Bound::Unbounded))
            .next()
            .map(|(d, _)| *d)
    }

    /// A period by id.
    pub(crate) fn get(&self, id: &str) -> Option<&Period> {
        self.start_of.get(id).and_then(|s| self.by_start.get(s))
    }

    /// Checks a new period against the schedule (§7, §9, Code §423(b)(7)); `date` is the day
    /// it is scheduled.
    pub(crate) fn check_new(
        &self,
        p: &Period,
        date: Day,
        plan_factor: Decimal,
    ) -> Result<(), Rejection> {
        let id = &p.id;
        if let Some(other) = self.get(id.as_str()) {
            return Err(Rejection::plan(
                "§7",
                format!(
                    "period {id} is already scheduled ({} to {})",
                    other.start, other.end
                ),
            ));
        }
        if p.end < p.start {
            return Err(Rejection::plan(
                "§7",
                format!(
                    "period {id} ends ({}) before it starts ({})",
                    p.end, p.start
                ),
            ));
        }
        match p.start.add_months(27) {
            Some(limit) if p.end < limit => {}
            _ => {
                return Err(Rejection::plan(
                    "§7",
                    format!(
                        "period {id} runs {} to {}: longer than 27 months (Code §423(b)(7))",
                        p.start, p.end
                    ),
                ))
            }
        }
        if date > p.end {
            return Err(Rejection::plan(
                "§7",
                format!(
                    "period {id} is scheduled on {date}, after its end {}",
                    p.end
                ),
            ));
        }
        if let Some((_, before)) = self.by_start.range(..=p.start).next_back() {
            if before.end >= p.start {
                return Err(Rejection::plan(
                    "§7",
                    format!(
                        "period {id} ({} to {}) overlaps period {} ({} to {})",
                        p.start, p.end, before.id, before.start, before.end
                    ),
                ));
            }
        }
        if let Some((_, after)) = self
            .by_start
            .range((Bound::Excluded(p.start), Bound::Unbounded))
            .next()
        {
            if after.start <= p.end {
                return Err(Rejection::plan(
                    "§7",
                    format!(
                        "period {id} ({} to {}) overlaps period {} ({} to {})",
                        p.start, p.end, after.id, after.start, after.end
                    ),
                ));
            }
        }
        if (p.share_limit.is_some() || p.value_limit.is_some()) && date >= p.start {
            return Err(Rejection::plan(
                "§9",
                format!(
                    "period {id}'s share or value limit is dated {date}, not before the period's start {}",
                    p.start
                ),
            ));
        }
        if let Some(f) = p.price_factor {
            if f < plan_factor {
                return Err(Rejection::plan(
                    "§8",
                    format!("period {id}'s price_factor {f} is below the plan's {plan_factor}"),
                ));
            }
        }
        Ok(())
    }
}
