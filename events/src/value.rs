//! Value types of the event catalogue: checked decimals, days, instants and identifiers.
//!
//! Every type here refuses, in its constructor, a value that can never be valid (a negative
//! amount, money with fractions of a cent, a rate above 100%, an empty employee id). What the
//! *plan* forbids (a rate above `max_rate`, say) is the fold's to refuse, not these types'.
//!
//! The serde implementations exist only for the stored binary record (bincode 2 in serde
//! mode): decimals as rust_decimal's fixed 16-byte form, days as `i32` days from the common
//! era, instants as `i64` nanoseconds. The JSON mapping is hand-written in [`crate::json`], so
//! that every refusal can name its field.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused; the JSON layer adds the field name and line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// How much of a refused value a message echoes.
const SHOWN_CHARS: usize = 40;

/// A refused value as a message quotes it: escaped (no control character or terminal escape
/// reaches the terminal from a message), and cut after [`SHOWN_CHARS`] characters with its
/// size, so that a 100 MB value is not echoed whole.
pub fn shown(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_none() {
        format!("{s:?}")
    } else {
        format!("{head:?}… ({} bytes)", s.len())
    }
}

/// The largest number any value of an event may hold: 10^15 (a quadrillion dollars, shares
/// or hours). Far above any real plan, and far enough below `rust_decimal`'s range
/// (7.9 × 10^28) that sums over millions of events stay exact to the cent.
pub const MAX_VALUE: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Parses a decimal string of the interchange format: `^[0-9]+(\.[0-9]+)?$`, exactly
/// representable by `rust_decimal` (no silent rounding of long fractions).
pub fn parse_decimal(s: &str) -> Result<Decimal, ValueError> {
    let bytes = s.as_bytes();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if bytes.is_empty() || !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return err(format!(
            "expected a decimal string of plain digits with an optional fraction (like \"4000.00\"), got {}", shown(s)
        ));
    }
    let d = Decimal::from_str_exact(s).map_err(|_| {
        ValueError(format!(
            "{} is outside the decimal range (at most 28 significant digits, magnitude at most 79228162514264337593543950335)",
            shown(s)
        ))
    })?;
    if d > MAX_VALUE {
        return err(format!(
            "{} exceeds {MAX_VALUE}, the largest number the ledger takes",
            shown(s)
        ));
    }
    Ok(d)
}

/// Serde helpers for a `Decimal` as its fixed 16-byte binary form.
pub(crate) mod decimal_bytes {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        d.serialize().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let bytes = <[u8; 16]>::deserialize(d)?;
        Ok(Decimal::deserialize(bytes))
    }
}

macro_rules! decimal_type {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Checked constructor: refuses a value that can never be valid.
            pub fn new(value: Decimal) -> Result<Self, ValueError> {
                let check: fn(&Decimal) -> Result<(), ValueError> = $check;
                check(&value)?;
                Ok(Self(value))
            }
            /// Parses a decimal string of the interchange format, then checks it.
            pub fn parse(s: &str) -> Result<Self, ValueError> {
                Self::new(parse_decimal(s)?)
            }
            /// The value.
            pub fn get(self) -> Decimal {
                self.0
            }
            /// `num × 10^-scale`, for literals known to be valid (the plan's defaults).
            pub(crate) const fn literal(num: i64, scale: u32) -> Self {
                Self(Decimal::from_parts(num as u32, (num >> 32) as u32, 0, false, scale))
            }
        }

        impl fmt::Display for $name {
            /// The value as given, scale preserved (`"4000.00"` stays `"4000.00"`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                decimal_bytes::serialize(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = decimal_bytes::deserialize(d)?;
                Self::new(v).map_err(D::Error::custom)
            }
        }
    };
}

fn non_negative(d: &Decimal) -> Result<(), ValueError> {
    if d.is_sign_negative() && !d.is_zero() {
        return err(format!("{d} is negative"));
    }
    Ok(())
}

decimal_type!(
    /// An amount of money in dollars: never negative, whole cents (at most 2 decimal places).
    Money,
    |d| {
        non_negative(d)?;
        if d.scale() > 2 {
            return err(format!("{d} has more than 2 decimal places (money is whole cents)"));
        }
        Ok(())
    }
);

decimal_type!(
    /// A fraction of 1 (a contribution rate, a price factor, an ownership limit): 0 to 1 inclusive.
    Fraction,
    |d| {
        non_negative(d)?;
        if *d > Decimal::ONE {
            return err(format!("{d} exceeds 1 (100%)"));
        }
        Ok(())
    }
);

decimal_type!(
    /// A count of shares (whole or fractional): never negative.
    Shares,
    non_negative
);

decimal_type!(
    /// A value per share in dollars (a price, a fair market value, a dividend): never negative.
    PerShare,
    non_negative
);

decimal_type!(
    /// A non-negative quantity that is neither money nor shares (weekly hours, months a year).
    Quantity,
    non_negative
);

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money(Decimal::ZERO);
}

impl Shares {
    /// No shares.
    pub const ZERO: Shares = Shares(Decimal::ZERO);
}

/// A `capital_change` ratio: new shares per old share, as a decimal (`"2"`) or as two positive
/// integers `"NEW:OLD"` (`"1:3"`) for ratios a decimal cannot hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ratio {
    /// A decimal ratio, kept with its scale.
    Decimal(#[serde(with = "decimal_bytes")] Decimal),
    /// `NEW:OLD`.
    Fraction {
        /// New shares.
        new: u64,
        /// Old shares.
        old: u64,
    },
}

impl Ratio {
    /// Parses `"2"`, `"0.1"` or `"1:3"`; zero in any part is refused.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ratio = if let Some((n, o)) = s.split_once(':') {
            let int = |p: &str| -> Result<u64, ValueError> {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return err(format!(
                        "expected a ratio \"NEW:OLD\" of two positive integers, got {}",
                        shown(s)
                    ));
                }
                p.parse::<u64>()
                    .map_err(|_| ValueError(format!("ratio part {p:?} is too large")))
            };
            let (new, old) = (int(n)?, int(o)?);
            Ratio::Fraction { new, old }
        } else {
            Ratio::Decimal(parse_decimal(s)?)
        };
        ratio.check()?;
        Ok(ratio)
    }

    fn check(&self) -> Result<(), ValueError> {
        let positive = match *self {
            Ratio::Decimal(d) => d > Decimal::ZERO,
            Ratio::Fraction { new, old } => new > 0 && old > 0,
        };
        if positive {
            Ok(())
        } else {
            err(format!("ratio {self} is not positive"))
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ratio::Decimal(d) => write!(f, "{d}"),
            Ratio::Fraction { new, old } => write!(f, "{new}:{old}"),
        }
    }
}

/// A calendar day (valid time), `"YYYY-MM-DD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    /// Wraps a chrono date.
    pub fn from_date(d: NaiveDate) -> Self {
        Day(d)
    }
    /// A day from its year, month and day; `None` for an impossible date.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(y, m, d).map(Day)
    }
    /// The chrono date.
    pub fn date(self) -> NaiveDate {
        self.0
    }
    /// Parses exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), refusing
    /// impossible dates such as `2026-02-30`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return err(format!("expected a day \"YYYY-MM-DD\", got {}", shown(s)));
        }
        // The shape is checked: ten ASCII bytes, digits but the two dashes. The calendar
        // day from its numbers, as `parse_from_str(s, "%Y-%m-%d")` reads those (without
        // interpreting a format string for each of a payday's 10,000 lines).
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        i32::try_from(num(0..4))
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, num(5..7), num(8..10)))
            .map(Day)
            .ok_or_else(|| ValueError(format!("{} is not a calendar day", shown(s))))
    }
    /// The number of days since 0001-01-01 (day 1), the stored form.
    pub fn days_from_ce(self) -> i32 {
        self.0.num_days_from_ce()
    }
    /// The day numbered `n` from CE (as stored), if it is one.
    pub fn from_days_from_ce(n: i32) -> Option<Day> {
        NaiveDate::from_num_days_from_ce_opt(n).map(Day)
    }
    /// `months` calendar months later, clamped to the month's end (Nov 30 + 3 = Feb 28).
    pub fn add_months(self, months: u32) -> Option<Day> {
        self.0
            .checked_add_months(chrono::Months::new(months))
            .map(Day)
    }
    /// `days` days later (or earlier, when negative).
    pub fn add_days(self, days: i64) -> Option<Day> {
        if days == 1 {
            // The next day (the fold asks before every record): chrono's own step.
            return self.0.succ_opt().map(Day);
        }
        self.0
            .checked_add_signed(chrono::TimeDelta::try_days(days)?)
            .map(Day)
    }
    /// The calendar year.
    pub fn year(self) -> i32 {
        self.0.year()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for Day {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Day::parse(s)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.days_from_ce().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i32::deserialize(d)?;
        Day::from_days_from_ce(n)
            .ok_or_else(|| D::Error::custom(format!("day number {n} is out of range")))
    }
}

/// A UTC instant (transaction time), written in RFC 3339 with `Z` and the shortest of 0, 3, 6
/// or 9 fractional digits that holds it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(DateTime<Utc>);

impl Instant {
    /// Wraps a chrono instant, truncated to whole nanoseconds within the stored range.
    pub fn from_datetime(t: DateTime<Utc>) -> Option<Self> {
        t.timestamp_nanos_opt()?;
        Some(Instant(t))
    }
    /// The chrono instant.
    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }
    /// The UTC calendar day of the instant.
    pub fn day(self) -> Day {
        Day(self.0.date_naive())
    }
    /// Nanoseconds since 1970-01-01T00:00:00Z, the stored form.
    pub fn nanos(self) -> i64 {
        // Checked at construction.
        self.0.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }
    /// Parses an RFC 3339 UTC instant in its canonical form (`2026-01-15T09:30:00Z`): a
    /// non-canonical spelling of the same instant would hash differently, so it is refused.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let t = DateTime::parse_from_rfc3339(s)
            .map_err(|_| {
                ValueError(format!(
                    "expected an RFC 3339 UTC instant like \"2026-01-15T09:30:00Z\", got {}",
                    shown(s)
                ))
            })?
            .with_timezone(&Utc);
        let instant = Instant::from_datetime(t)
            .ok_or_else(|| ValueError(format!("instant {} is out of range", shown(s))))?;
        if instant.to_string() != s {
            return err(format!(
                "instant {} is not in canonical form (UTC with `Z`, shortest exact fraction): expected {:?}",
                shown(s),
                instant.to_string()
            ));
        }
        Ok(instant)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Appends `n` as exactly `width` decimal digits (`n` has no more).
fn push_digits(out: &mut Vec<u8>, n: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(b'0' + (n / 10u32.pow(i) % 10) as u8);
    }
}

impl Day {
    /// Appends the day as its `Display` writes it, without chrono's format machinery
    /// (issue 15: `verify` writes a day into every record's canonical JSON).
    pub(crate) fn write_text(self, out: &mut Vec<u8>) {
        match u32::try_from(self.0.year()) {
            Ok(year) if year <= 9999 => {
                push_digits(out, year, 4);
                out.push(b'-');
                push_digits(out, self.0.month(), 2);
                out.push(b'-');
                push_digits(out, self.0.day(), 2);
            }
            _ => {
                use std::io::Write as _;
                // Writing into memory cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    }
}

impl Instant {
    /// Appends the instant as its `Display` writes it (RFC 3339, `Z`, the shortest of 0, 3,
    /// 6 or 9 fractional digits), without chrono's formatting.
    pub(crate) fn write_text(self, out: &mut Vec<u8>) {
        use chrono::Timelike as _;
        let t = self.0.naive_utc();
        let nanos = t.nanosecond();
        let day = Day(t.date());
        if nanos >= 1_000_000_000 || !(0..=9999).contains(&t.year()) {
            use std::io::Write as _;
            // A leap second or a year of more than four digits: chrono's own spelling.
            let _ = write!(out, "{self}");
            return;
        }
        day.write_text(out);
        out.push(b'T');
        push_digits(out, t.hour(), 2);
        out.push(b':');
        push_digits(out, t.minute(), 2);
        out.push(b':');
        push_digits(out, t.second(), 2);
        if nanos != 0 {
            out.push(b'.');
            if nanos.is_multiple_of(1_000_000) {
                push_digits(out, nanos / 1_000_000, 3);
            } else if nanos.is_multiple_of(1_000) {
                push_digits(out, nanos / 1_000, 6);
            } else {
                push_digits(out, nanos, 9);
            }
        }
        out.push(b'Z');
    }
}

/// Appends `d` as its `Display` (`{}`) writes it, every digit of its scale kept, without
/// rust_decimal's formatting (issue 15).
pub(crate) fn write_decimal(d: Decimal, out: &mut Vec<u8>) {
    if d.is_sign_negative() {
        use std::io::Write as _;
        // Writing into memory cannot fail.
        let _ = write!(out, "{d}");
        return;
    }
    let mut digits = [0u8; 40];
    let mut len = 0;
    let mut put = |digit: u8| {
        digits[digits.len() - 1 - len] = b'0' + digit;
        len += 1;
    };
    let n = d.mantissa().unsigned_abs();
    match u64::try_from(n) {
        // Every amount of money: 64-bit division, not a call per digit into 128-bit division.
        Ok(mut n) => loop {
            put((n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        },
        Err(_) => {
            let mut n = n;
            loop {
                put((n % 10) as u8);
                n /= 10;
                if n == 0 {
                    break;
                }
            }
        }
    }
    let digits = &digits[digits.len() - len..];
    let scale = d.scale() as usize;
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if len > scale {
        out.extend_from_slice(&digits[..len - scale]);
        out.push(b'.');
        out.extend_from_slice(&digits[len - scale..]);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - len));
        out.extend_from_slice(digits);
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.nanos().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Instant(DateTime::from_timestamp_nanos(i64::deserialize(
            d,
        )?)))
    }
}

fn check_id(kind: &str, s: &str) -> Result<(), ValueError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        err(format!(
            "{kind} must be 1-64 ASCII letters, digits, '-', '_' or '.', got {}",
            shown(s)
        ))
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Held inline (no heap) up to 24 bytes: the fold keeps one in every lot and
        /// allocation, and decoding one per record should not allocate.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// Checked constructor.
            pub fn new(s: impl Into<String>) -> Result<Self, ValueError> {
                Self::from_checked(&s.into())
            }
            /// Checked constructor from a borrowed text (held inline up to 24 bytes: no
            /// allocation, as when decoded).
            pub(crate) fn from_checked(s: &str) -> Result<Self, ValueError> {
                check_id($kind, s)?;
                Ok(Self(CompactString::from(s)))
            }
            /// The id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = CompactString::deserialize(d)?;
                check_id($kind, &s).map_err(D::Error::custom)?;
                Ok(Self(s))
            }
        }
    };
}

id_type!(
    /// An employee id: 1–64 characters of letters, digits, `-`, `_`, `.`.
    EmployeeId,
    "an employee id"
);
id_type!(
    /// A Withholding Period id (`"2026H1"`), with the same alphabet as employee ids.
    PeriodId,
    "a period id"
);

/// Whether `c` is invisible or changes the direction of text around it: bidirectional
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width characters and marks
/// (U+200B–U+200F, U+2060–U+2064, U+FEFF), the soft hyphen, U+061C and U+180E — characters
/// that make one name or message read as another.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Who appended an event: a non-empty name of at most 256 characters with no control
/// characters (the OS user by default).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(CompactString);

impl Actor {
    /// Checked constructor, for a name given now (`--actor`, an envelope line being
    /// appended): besides [`Actor::check`], refuses the invisible characters that make a name
    /// read as another — bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069),
    /// zero-width characters and marks (U+200B–U+200F, U+2060–U+2064, U+FEFF), the soft
    /// hyphen, U+061C and U+180E. Records already stored are read with [`Actor::check`] alone,
    /// so that a ledger written before this rule still opens.
    pub fn new(s: impl Into<String>) -> Result<Self, ValueError> {
        let s = s.into();
        Actor::check(&s)?;
        if let Some(c) = s.chars().find(|c| is_invisible(*c)) {
            return err(format!(
                "an actor must not hold invisible or direction-changing characters, got U+{:04X} in {}",
                u32::from(c),
                shown(&s)
            ));
        }
        Ok(Actor(CompactString::from(s)))
    }

    fn check(s: &str) -> Result<(), ValueError> {
        if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
            return err(format!(
                "an actor must be 1-256 characters without control characters, got {}",
                shown(s)
            ));
        }
        Ok(())
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = CompactString::deserialize(d)?;
        Actor::check(&s).map_err(D::Error::custom)?;
        Ok(Actor(s))
    }
}

/// A SHA-256 digest of the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first record: 64 zeros.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Parses 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let mut out = [0u8; 32];
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return err(format!(
                "expected 64 lowercase hex digits, got {}",
                shown(s)
            ));
        }
        hex::decode_to_slice(s, &mut out).map_err(|_| {
            ValueError(format!(
                "expected 64 lowercase hex digits, got {}",
                shown(s)
            ))
        })?;
        Ok(Hash(out))
    }
}

impl Hash {
    /// The 64 lowercase hex digits (what `Display` writes).
    pub fn hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 15)];
        }
        out
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Serde helpers for a UUID as 16 raw bytes (bincode's serde mode has no borrowed byte
/// slices when decoding from an owned buffer, and a fixed array needs no length).
pub(crate) mod uuid_bytes {
    use super::*;
    use uuid::Uuid;
    pub fn serialize<S: Serializer>(u: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        u.as_bytes().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        Ok(Uuid::from_bytes(<[u8; 16]>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Day::parse` reads its digits itself: it must accept exactly the days chrono's
    /// `"%Y-%m-%d"` accepts, and give the same day, for every year, month and day number
    /// around the edges (leap years, month ends, zeros, out of range).
    #[test]
    fn days_parse_as_chrono_reads_them() {
        let mut accepted = 0;
        for y in [
            "0000", "0001", "1900", "2000", "2023", "2024", "2100", "9999",
        ] {
            for m in 0..=13 {
                for d in 0..=32 {
                    let s = format!("{y}-{m:02}-{d:02}");
                    let chrono = NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok();
                    assert_eq!(Day::parse(&s).ok().map(|d| d.0), chrono, "{s}");
                    accepted += usize::from(chrono.is_some());
                }
            }
        }
        // 8 years of 365 days, 4 of them leap (0000, 2000, 2024, and not 1900 or 2100: 0000
        // is, as a multiple of 400).
        assert_eq!(accepted, 8 * 365 + 3);
        assert!(Day::parse("2024-02-29").is_ok() && Day::parse("2023-02-29").is_err());
    }

    #[test]
    fn decimals_refuse_every_wrong_shape() {
        for bad in [
            "", "-1", "+1", "1e3", " 1", "1.", ".5", "1,000", "0x10", "1.2.3",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_decimal("123456789012345678901234567890").is_err());
        assert!(parse_decimal("79228162514264337593543950336").is_err());
        assert_eq!(
            parse_decimal("4000.00").map(|d| d.to_string()),
            Ok("4000.00".into())
        );
    }

    #[test]
    fn numbers_stop_at_a_quadrillion() {
        assert_eq!(MAX_VALUE.to_string(), "1000000000000000");
        assert!(Money::parse("1000000000000000.00").is_ok());
        let e = Money::parse("1000000000000000.01").expect_err("above the maximum");
        assert!(e.0.contains("exceeds 1000000000000000"), "{e}");
        // The payroll that once summed with lost cents.
        assert!(Money::parse("79228162514264337593543950335").is_err());
    }

    #[test]
    fn refused_values_are_escaped_and_cut() {
        let e = Day::parse("\u{1b}]0;PWNED\u{7}").expect_err("not a day");
        assert!(!e.0.contains('\u{1b}') && e.0.contains("\\u{1b}"), "{e}");
        let long = "9".repeat(10_000);
        let e = parse_decimal(&long).expect_err("out of range");
        assert!(e.0.len() < 200 && e.0.contains("(10000 bytes)"), "{e}");
    }

    #[test]
    fn actors_refuse_invisible_and_direction_changing_characters() {
        for bad in [
            "ad\u{202E}nimda",
            "alice\u{200B}",
            "\u{2066}bob",
            "eve\u{FEFF}",
        ] {
            let e = Actor::new(bad).expect_err("refused");
            assert!(e.0.contains("U+"), "{e}");
        }
        assert!(Actor::new("Zoë Ñúñez").is_ok());
    }

    #[test]
    fn money_is_whole_cents() {
        assert!(Money::parse("1.005").is_err());
        assert_eq!(
            Money::parse("1.50").map(|m| m.to_string()),
            Ok("1.50".into())
        );
    }

    #[test]
    fn fraction_caps_at_one() {
        assert!(Fraction::parse("1.01").is_err());
        assert!(Fraction::parse("1").is_ok());
    }

    #[test]
    fn days_are_strict() {
        for bad in [
            "2026-02-30",
            "2026-1-05",
            "26-01-05",
            "2026/01/05",
            "2026-13-01",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad:?} accepted");
        }
        let d =
            Day::parse("2025-11-30").and_then(|d| d.add_months(3).ok_or(ValueError(String::new())));
        assert_eq!(d.map(|d| d.to_string()), Ok("2026-02-28".into()));
    }

    #[test]
    fn instants_are_canonical() {
        assert!(Instant::parse("2026-01-15T09:30:00Z").is_ok());
        assert!(Instant::parse("2026-01-15T09:30:00.500Z").is_ok());
        assert!(Instant::parse("2026-01-15T09:30:00.5Z").is_err());
        assert!(Instant::parse("2026-01-15T10:30:00+01:00").is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(EmployeeId::new("E 1").is_err());
        assert!(EmployeeId::new("").is_err());
        assert!(EmployeeId::new("a".repeat(65)).is_err());
        assert!(EmployeeId::new("emp-1_2.x").is_ok());
    }

    #[test]
    fn ratios() {
        assert_eq!(Ratio::parse("1:3"), Ok(Ratio::Fraction { new: 1, old: 3 }));
        assert!(Ratio::parse("0").is_err());
        assert!(Ratio::parse("0:3").is_err());
        assert!(Ratio::parse("1:").is_err());
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    /// The direct writers give `Display`'s text, on the edges of each fast path.
    #[test]
    fn direct_text_is_display() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::new();
            f(&mut out);
            String::from_utf8(out).unwrap_or_default()
        };
        for s in [
            "0",
            "0.00",
            "0.005",
            "1",
            "10",
            "4000.00",
            "4000.0",
            "0.10",
            "12.5000",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "-1.50",
            "-0",
        ] {
            let d: Decimal = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(text(&|o| write_decimal(d, o)), d.to_string(), "{s}");
        }
        for n in [1, 365, 738_000, 3_652_059, -1000] {
            if let Some(date) = NaiveDate::from_num_days_from_ce_opt(n) {
                let day = Day(date);
                assert_eq!(text(&|o| day.write_text(o)), day.to_string(), "{n}");
            }
        }
        for nanos in [
            0i64,
            1,
            1_000,
            1_000_000,
            999_999_999,
            1_768_469_400_000_000_000,
            1_768_469_400_500_000_000,
            1_768_469_400_000_250_000,
            -6_213_559_680_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let i = Instant(DateTime::from_timestamp_nanos(nanos));
            assert_eq!(text(&|o| i.write_text(o)), i.to_string(), "{nanos}");
        }
    }
}
