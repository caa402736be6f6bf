//! Trading days and fair market value (§8): every `market_price` kept by day, and the FMV
//! with each of the plan's fall-backs.

use std::collections::BTreeMap;

use espp_events::{Day, PerShare};
use rust_decimal::Decimal;

use crate::num;
use crate::state::Rejection;

/// The figures of one `market_price` event.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quote<'a> {
    pub closes: Option<&'a [PerShare]>,
    pub bid: Option<PerShare>,
    pub ask: Option<PerShare>,
    pub high: Option<PerShare>,
    pub low: Option<PerShare>,
    pub board_fmv: Option<PerShare>,
    pub no_sale: bool,
}

impl Quote<'_> {
    /// The day's own FMV (§8): the highest close; else the mean of bid and ask; else the mean
    /// of high and low; else the Board's FMV. `Ok(None)` for a day with no sale reported,
    /// whose FMV is the latest earlier trading day's.
    pub(crate) fn own_fmv(&self) -> Result<Option<Decimal>, Rejection> {
        if let Some(closes) = self.closes.filter(|c| !c.is_empty()) {
            return Ok(closes.iter().map(|c| c.get()).max());
        }
        let mean = |a: PerShare, b: PerShare| -> Result<Decimal, Rejection> {
            let sum = num::add(a.get(), b.get(), "the mean of two prices")?;
            num::div(sum, Decimal::TWO, "the mean of two prices")
        };
        if let (Some(bid), Some(ask)) = (self.bid, self.ask) {
            return mean(bid, ask).map(Some);
        }
        if let (Some(high), Some(low)) = (self.high, self.low) {
            return mean(high, low).map(Some);
        }
        if let Some(board) = self.board_fmv {
            return Ok(Some(board.get()));
        }
        if self.no_sale {
            return Ok(None);
        }
        Err(Rejection::plan(
            "§8",
            "a market_price needs closes, bid with ask, high with low, board_fmv or no_sale: true",
        ))
    }
}

/// Every trading day and its own FMV (`None`: no sale reported that day).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Market {
    #[serde(with = "crate::ser::opt_dec_map")]
    days: BTreeMap<Day, Option<Decimal>>,
}

impl Market {
    /// Records a day's price; a later one for the same day replaces it (a correction).
    pub(crate) fn record(&mut self, day: Day, own_fmv: Option<Decimal>) {
        self.days.insert(day, own_fmv);
    }

    /// The FMV of trading day `day`: its own, else the latest earlier trading day's that has
    /// one (§8, "on the day on which any sale shall have been reported").
    pub(crate) fn fmv(&self, day: Day) -> Option<Decimal> {
        match self.days.get(&day) {
            Some(Some(v)) => Some(*v),
            Some(None) => self.days.range(..day).rev().find_map(|(_, v)| *v),
            None => None,
        }
    }

    /// Replaces every FMV of a day before `day` by `f` of it (a capital change, §25).
    pub(crate) fn scale_before(
        &mut self,
        day: Day,
        f: impl Fn(Decimal) -> Result<Decimal, Rejection>,
    ) -> Result<(), Rejection> {
        for v in self.days.range_mut(..day).filter_map(|(_, v)| v.as_mut()) {
            *v = f(*v)?;
        }
        Ok(())
    }

    /// The trading days in `[start, end]`, in order.
    pub(crate) fn days_in(&self, start: Day, end: Day) -> Vec<Day> {
        if end < start {
            return Vec::new();
        }
        self.days.range(start..=end).map(|(d, _)| *d).collect()
    }

    /// The first trading day in `[start, end]` (none when `end` is before `start`).
    pub(crate) fn first_in(&self, start: Day, end: Day) -> Option<Day> {
        if end < start {
            return None;
        }
        self.days.range(start..=end).next().map(|(d, _)| *d)
    }

    /// The last trading day in `[start, end]` (none when `end` is before `start`).
    pub(crate) fn last_in(&self, start: Day, end: Day) -> Option<Day> {
        if end < start {
            return None;
        }
        self.days.range(start..=end).next_back().map(|(d, _)| *d)
    }
}
