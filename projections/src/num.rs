//! Checked decimal arithmetic, the plan's roundings and the interchange's number formats.
//!
//! Every sum, product and quotient of money or shares goes through these helpers: an
//! overflow is a [`Rejection`] naming what was being computed, never a panic (DOMAIN.md §2).

use rust_decimal::{Decimal, RoundingStrategy};

use crate::state::Rejection;

/// The largest scale `rust_decimal` holds; rule counts above it are refused with the rules.
pub(crate) const MAX_SCALE: u32 = 28;

fn overflow(what: &str) -> Rejection {
    Rejection::plan(
        "§2",
        format!("arithmetic overflow computing {what}: the amounts are outside the decimal range"),
    )
}

pub(crate) fn add(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, Rejection> {
    a.checked_add(b).ok_or_else(|| overflow(what))
}

pub(crate) fn sub(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, Rejection> {
    a.checked_sub(b).ok_or_else(|| overflow(what))
}

pub(crate) fn mul(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, Rejection> {
    a.checked_mul(b).ok_or_else(|| overflow(what))
}

pub(crate) fn div(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, Rejection> {
    a.checked_div(b).ok_or_else(|| overflow(what))
}

/// Rounds half up (away from zero; every amount here is non-negative).
pub(crate) fn round_half_up(d: Decimal, dp: u32) -> Decimal {
    let dp = dp.min(MAX_SCALE);
    match round_half_up_small(d, dp) {
        Some(r) => r,
        None => d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero),
    }
}

/// [`round_half_up`] of a positive `d` with more than `dp` places and a mantissa that fits
/// in 64 bits, by one integer division: every payroll's deduction is rounded so, and
/// `rust_decimal`'s general rounding was ~3% of `verify`'s CPU (perf, issue 15). The same
/// value and scale as `round_dp_with_strategy` (a proptest compares the bytes); None where
/// it does not apply.
fn round_half_up_small(d: Decimal, dp: u32) -> Option<Decimal> {
    let scale = d.scale();
    if scale <= dp || d.is_sign_negative() {
        return None;
    }
    let m = u64::try_from(d.mantissa()).ok()?;
    let p = 10u64.checked_pow(scale - dp)?;
    let (q, r) = (m / p, m % p);
    // Half up: 2r ≥ p, written so that nothing overflows.
    let q = if r >= p - r { q + 1 } else { q };
    Decimal::try_from_i128_with_scale(i128::from(q), dp).ok()
}

/// Rounds up to `dp` places (the purchase price, the cost: never below the exact value).
pub(crate) fn round_up(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp.min(MAX_SCALE), RoundingStrategy::AwayFromZero)
}

/// Rounds down to `dp` places (share counts).
pub(crate) fn floor_dp(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp.min(MAX_SCALE), RoundingStrategy::ToZero)
}

/// One unit at `dp` places: 1, 0.1, 0.01, …
pub(crate) fn unit(dp: u32) -> Decimal {
    Decimal::new(1, dp.min(MAX_SCALE))
}

/// The largest multiple `x` of `unit(dp)` with `x × per_unit ≤ budget` (0 when none): an
/// exact floor of `budget / per_unit`, corrected for the quotient's own rounding so that
/// the inclusive limits of §9 hold to the cent.
pub(crate) fn max_units(
    budget: Decimal,
    per_unit: Decimal,
    dp: u32,
    what: &str,
) -> Result<Decimal, Rejection> {
    if budget <= Decimal::ZERO {
        return Ok(Decimal::ZERO);
    }
    if per_unit <= Decimal::ZERO {
        return Err(Rejection::plan(
            "§8",
            format!("{what}: a per-share value of {per_unit} cannot price shares"),
        ));
    }
    let step = unit(dp);
    let mut x = floor_dp(div(budget, per_unit, what)?, dp);
    while x > Decimal::ZERO && mul(x, per_unit, what)? > budget {
        x = sub(x, step, what)?;
    }
    loop {
        let next = add(x, step, what)?;
        if mul(next, per_unit, what)? <= budget {
            x = next;
        } else {
            break;
        }
    }
    Ok(x.max(Decimal::ZERO))
}

/// Money: exactly 2 places (`"4000.00"`).
pub(crate) fn money(d: Decimal) -> String {
    fixed(d, 2)
}

/// Exactly `dp` places (purchase prices with `price_decimals`).
pub(crate) fn fixed(d: Decimal, dp: u32) -> String {
    let mut x = if d.is_zero() { Decimal::ZERO } else { d };
    x.rescale(dp.min(MAX_SCALE));
    text(x)
}

/// A rate: 2 places, or more only if the rate has more (a `rate_step` finer than 1%).
pub(crate) fn rate(d: Decimal) -> String {
    let n = d.normalize();
    if n.scale() <= 2 {
        fixed(d, 2)
    } else {
        text(n)
    }
}

/// Any other decimal (shares, FMVs): no trailing zeros.
pub(crate) fn plain(d: Decimal) -> String {
    if d.is_zero() {
        return "0".to_string();
    }
    text(d.normalize())
}

/// `d.to_string()`, written from the mantissa's digits when it fits a `u64` and the scale
/// is at most 19 (every amount here): `rust_decimal`'s own formatting is several times
/// slower, and `diff` formats a few hundred thousand decimals (a proptest checks the two
/// agree).
pub fn text(d: Decimal) -> String {
    let scale = d.scale();
    let fast = u64::try_from(d.mantissa().unsigned_abs())
        .ok()
        .filter(|u| *u != 0)
        .and_then(|u| Some((u, 10u64.checked_pow(scale)?)));
    let Some((u, p)) = fast else {
        return d.to_string();
    };
    let mut out = String::with_capacity(24);
    if d.is_sign_negative() {
        out.push('-');
    }
    let mut digits = itoa(u / p);
    out.push_str(digits.as_str());
    if scale > 0 {
        out.push('.');
        digits = itoa(u % p);
        for _ in digits.as_str().len()..scale as usize {
            out.push('0');
        }
        out.push_str(digits.as_str());
    }
    out
}

/// A `u64`'s decimal digits, without the formatting machinery.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

fn itoa(mut n: u64) -> Digits {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Digits { buf, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    proptest! {
        /// The integer rounding gives what `rust_decimal`'s does, byte for byte (value and
        /// scale), on small and large mantissas, either sign, at every scale.
        #[test]
        fn round_half_up_is_rust_decimals(
            m in prop_oneof![0i64..1_000_000, any::<i64>(), Just(i64::MAX), Just(5), Just(15)],
            big in any::<bool>(),
            scale in 0u32..=28,
            dp in 0u32..=30,
        ) {
            let m = if big { i128::from(m) * 1_000_000_007 } else { i128::from(m) };
            let d = Decimal::from_i128_with_scale(m, scale);
            let want = d.round_dp_with_strategy(dp.min(MAX_SCALE), RoundingStrategy::MidpointAwayFromZero);
            prop_assert_eq!(round_half_up(d, dp).serialize(), want.serialize(), "{} {}", d, dp);
        }
    }

    #[test]
    fn round_half_up_at_the_midpoint() {
        for (x, want) in [
            ("0.125", "0.13"),
            ("0.1249", "0.12"),
            ("0.005", "0.01"),
            ("0.0049", "0.00"),
            ("2.5000", "2.50"),
            ("1234.5650", "1234.57"),
        ] {
            assert_eq!(round_half_up(d(x), 2).to_string(), want);
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn roundings() {
        assert_eq!(round_up(d("8.50001"), 4), d("8.5001"));
        assert_eq!(round_up(d("8.5"), 4), d("8.5"));
        assert_eq!(round_half_up(d("12.345"), 2), d("12.35"));
        assert_eq!(round_half_up(d("12.3449"), 2), d("12.34"));
        assert_eq!(floor_dp(d("3.99999"), 4), d("3.9999"));
    }

    #[test]
    fn max_units_is_an_inclusive_floor() {
        // 25000 / 25.00 = 1000 exactly: 1000 shares are allowed (inclusive).
        assert_eq!(max_units(d("25000"), d("25"), 0, "t").ok(), Some(d("1000")));
        // 100 / 3 = 33.333…: 33 whole shares, 33.3333 to 4 places.
        assert_eq!(max_units(d("100"), d("3"), 0, "t").ok(), Some(d("33")));
        assert_eq!(max_units(d("100"), d("3"), 4, "t").ok(), Some(d("33.3333")));
        assert_eq!(max_units(d("0"), d("3"), 0, "t").ok(), Some(d("0")));
    }

    proptest::proptest! {
        /// The fast formatting writes what the decimal's own `Display` writes.
        #[test]
        fn text_is_the_display(m in proptest::prelude::any::<i64>(), wide in proptest::prelude::any::<i128>(), scale in 0u32..=28) {
            for m in [i128::from(m), wide >> 32, i128::from(m % 1000), 0] {
                let Ok(x) = Decimal::try_from_i128_with_scale(m, scale) else { continue };
                proptest::prop_assert_eq!(text(x), x.to_string());
                proptest::prop_assert_eq!(text(-x), (-x).to_string());
                let mut r = if x.is_zero() { Decimal::ZERO } else { x };
                r.rescale(2);
                proptest::prop_assert_eq!(money(x), r.to_string());
                let n = if x.is_zero() { "0".to_string() } else { x.normalize().to_string() };
                proptest::prop_assert_eq!(plain(x), n);
            }
        }
    }

    #[test]
    fn formats() {
        assert_eq!(money(d("4000")), "4000.00");
        assert_eq!(fixed(d("8.5"), 4), "8.5000");
        assert_eq!(rate(d("0.1")), "0.10");
        assert_eq!(rate(d("0.055")), "0.055");
        assert_eq!(plain(d("10.500")), "10.5");
        assert_eq!(plain(d("0.000")), "0");
        assert_eq!(plain(d("1000")), "1000");
    }
}
