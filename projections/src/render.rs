//! The projection JSON written straight from the [`State`] (issue 15): the same canonical
//! bytes as [`State::projection`] rendered by [`crate::canonical_json`] — keys sorted at
//! every level (here by construction: each object's keys are written in byte order), no
//! whitespace — without building a `serde_json::Value` tree. The digest is the SHA-256 of
//! those bytes without the `digest` key; since `digest` sorts third, the projection is
//! rendered once into memory in two pieces (the keys before `digest`, the keys after it),
//! hashed, then written with the digest between them: one rendering pass, at the cost of
//! holding the JSON text (22 MB at 10,000 employees).

use std::io::{self, Write};

use espp_events::Day;
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::num::{fixed, rate};
use crate::state::State;
use crate::tax::disposition_json;

/// What the engine adds to a projection after the fold (see [`crate::with_provenance`]):
/// the `--known-at` instant and the `(seq, hash)` of the latest record the query saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    /// `known_at`: the `--known-at` instant, or None (null).
    pub known_at: Option<&'a str>,
    /// `head`: `{"seq", "hash"}`, or None (null) for an empty log.
    pub head: Option<(u64, &'a str)>,
}

/// A writer into a SHA-256.
struct Hasher(Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Buffers small writes (the output may be unbuffered standard output; the hasher is faster
/// fed in blocks).
struct Buffered<'w, W: Write + ?Sized> {
    out: &'w mut W,
    buf: Vec<u8>,
}

impl<W: Write + ?Sized> Buffered<'_, W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write + ?Sized> Write for Buffered<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.put(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One JSON object being written: keys must come in byte order (checked in debug builds).
struct Obj<'a, 'w, W: Write + ?Sized> {
    w: &'a mut Buffered<'w, W>,
    first: bool,
    #[cfg(debug_assertions)]
    last: &'static str,
}

impl<'a, 'w, W: Write + ?Sized> Obj<'a, 'w, W> {
    fn new(w: &'a mut Buffered<'w, W>) -> io::Result<Self> {
        w.put(b"{")?;
        Ok(Obj {
            w,
            first: true,
            #[cfg(debug_assertions)]
            last: "",
        })
    }
    /// An object whose opening and first keys are written already.
    fn resume(w: &'a mut Buffered<'w, W>) -> Self {
        Obj {
            w,
            first: false,
            #[cfg(debug_assertions)]
            last: "",
        }
    }
    /// Writes `"key":` (keys are literals of plain ASCII: no escaping).
    fn key(&mut self, k: &'static str) -> io::Result<&mut Buffered<'w, W>> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(self.first || self.last < k, "{} before {k}", self.last);
            self.last = k;
        }
        if !self.first {
            self.w.put(b",")?;
        }
        self.first = false;
        self.w.put(b"\"")?;
        self.w.put(k.as_bytes())?;
        self.w.put(b"\":")?;
        Ok(self.w)
    }
    fn str(&mut self, k: &'static str, v: &str) -> io::Result<()> {
        let w = self.key(k)?;
        string(w, v)
    }
    fn opt_str(&mut self, k: &'static str, v: Option<&str>) -> io::Result<()> {
        let w = self.key(k)?;
        match v {
            Some(v) => string(w, v),
            None => w.put(b"null"),
        }
    }
    /// A value whose Display is plain JSON-safe text (a number, a decimal, a day), quoted.
    fn shown(&mut self, k: &'static str, v: impl std::fmt::Display) -> io::Result<()> {
        let w = self.key(k)?;
        w.put(b"\"")?;
        write!(w, "{v}")?;
        w.put(b"\"")
    }
    fn raw(&mut self, k: &'static str, v: impl std::fmt::Display) -> io::Result<()> {
        let w = self.key(k)?;
        write!(w, "{v}")
    }
    fn end(self) -> io::Result<()> {
        self.w.put(b"}")
    }
}

/// The estimated bytes of one lot in the projection (more than most take).
const LOT_BYTES: usize = 384;

/// A JSON string, escaped exactly as serde_json escapes it.
fn string<W: Write + ?Sized>(w: &mut Buffered<'_, W>, s: &str) -> io::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        w.put(b"\"")?;
        w.put(s.as_bytes())?;
        return w.put(b"\"");
    }
    serde_json::to_writer(&mut *w, s).map_err(io::Error::other)
}

/// A small value (the rules, a disposition) in canonical form.
fn value<W: Write + ?Sized>(w: &mut Buffered<'_, W>, v: &Value) -> io::Result<()> {
    w.put(crate::canonical_json(v).as_bytes())
}

fn array<W: Write + ?Sized, T>(
    w: &mut Buffered<'_, W>,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Buffered<'_, W>, T) -> io::Result<()>,
) -> io::Result<()> {
    w.put(b"[")?;
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            w.put(b",")?;
        }
        each(w, x)?;
    }
    w.put(b"]")
}

/// Decimals as `num::plain` writes them, without its allocation for zero.
struct Plain(Decimal);
impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0");
        }
        let n = self.0.normalize();
        // A whole number (shares, mostly): as an integer, without the decimal's own
        // formatting (the same digits).
        match u64::try_from(n.mantissa().unsigned_abs()) {
            Ok(u) if n.scale() == 0 => {
                if n.is_sign_negative() {
                    f.write_str("-")?;
                }
                std::fmt::Display::fmt(&u, f)
            }
            _ => std::fmt::Display::fmt(&n, f),
        }
    }
}

/// A day as `Day`'s Display writes it (`%Y-%m-%d`), without chrono's format parsing for
/// the years 0 to 9999.
struct Ymd(Day);
impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::Datelike as _;
        let d = self.0.date();
        let (y, m, day) = (d.year(), d.month(), d.day());
        if !(0..=9999).contains(&y) {
            return std::fmt::Display::fmt(&self.0, f);
        }
        let y = y as u32;
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let b = [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(day / 10),
            digit(day),
        ];
        // ASCII digits and dashes.
        f.write_str(std::str::from_utf8(&b).map_err(|_| std::fmt::Error)?)
    }
}

/// Decimals as `num::money` writes them (two places).
struct Money(Decimal);
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut x = if self.0.is_zero() {
            Decimal::ZERO
        } else {
            self.0
        };
        x.rescale(2);
        // The same digits as the decimal's own formatting, from its mantissa.
        match u64::try_from(x.mantissa().unsigned_abs()) {
            Ok(u) if u != 0 && x.scale() == 2 => {
                if x.is_sign_negative() {
                    f.write_str("-")?;
                }
                write!(f, "{}.{:02}", u / 100, u % 100)
            }
            _ => std::fmt::Display::fmt(&x, f),
        }
    }
}

impl State {
    /// Writes the projection JSON of [`State::projection`] with provenance `p` (as
    /// [`crate::with_provenance`] sets it) to `out`, byte for byte what `Value`'s rendering
    /// gives, and returns its digest. No newline is written.
    pub fn write_projection(
        &self,
        as_of: Option<Day>,
        p: Provenance<'_>,
        out: &mut (impl Write + ?Sized),
    ) -> io::Result<String> {
        self.write_projection_split(as_of, p, self.lots_split(), out)
    }

    /// [`State::write_projection`] with the tail rendered in two pieces, split after
    /// `split` lots: the second on a thread of its own while this one renders the first and
    /// hashes it, so rendering takes about half as long on two cores (issue 15: rendering
    /// and hashing were ~40% of `state` latest at 1M). The bytes are the same whatever the
    /// split (public for the tests that check it).
    #[doc(hidden)]
    pub fn write_projection_split(
        &self,
        as_of: Option<Day>,
        p: Provenance<'_>,
        split: usize,
        out: &mut (impl Write + ?Sized),
    ) -> io::Result<String> {
        let mut head: Vec<u8> = Vec::new();
        let mut w = Buffered {
            out: &mut head,
            buf: Vec::with_capacity(1 << 12),
        };
        self.render_head(as_of, &mut w)?;
        w.finish()?;
        // Each piece reserved once from an upper estimate of its size (tens of megabytes:
        // grown by doubling it would be copied and faulted in again at each step; pages
        // reserved but never written cost nothing).
        let render =
            |estimate: usize, piece: &dyn Fn(&mut Buffered<'_, Vec<u8>>) -> io::Result<()>| {
                let mut bytes: Vec<u8> = Vec::new();
                let _ = bytes.try_reserve(estimate);
                let mut w = Buffered {
                    out: &mut bytes,
                    buf: Vec::with_capacity(1 << 17),
                };
                piece(&mut w)?;
                w.finish()?;
                Ok::<_, io::Error>(bytes)
            };
        let (first_estimate, second_estimate) = self.tail_estimates(split);
        let mut h = Sha256::new();
        h.update(&head);
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| render(second_estimate, &|w| self.render_tail_after(split, w)));
            let first = render(first_estimate, &|w| self.render_tail_before(p, split, w));
            if let Ok(first) = &first {
                h.update(first);
            }
            let second = second
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (first, second)
        });
        let (first, second) = (first?, second?);
        h.update(&second);
        let digest = hex::encode(h.finalize());
        out.write_all(&head)?;
        out.write_all(b",\"digest\":\"")?;
        out.write_all(digest.as_bytes())?;
        out.write_all(b"\"")?;
        out.write_all(&first)?;
        out.write_all(&second)?;
        Ok(digest)
    }

    /// Where [`State::write_projection`] splits the lots: the tail's estimated bytes
    /// (see [`State::tail_estimates`]) halved.
    fn lots_split(&self) -> usize {
        let (before, after) = self.tail_estimates(0);
        let half = (before + after) / 2;
        (half.saturating_sub(before) / LOT_BYTES).min(self.lots.len())
    }

    /// More than the bytes of the projection's tail before and after `split` lots, as a
    /// rule (an employee's object is ~330 bytes, a lot's ~300, an allocation's ~120, a
    /// disposition's ~400).
    fn tail_estimates(&self, split: usize) -> (usize, usize) {
        let allocations: usize = self.purchases.iter().map(|p| p.allocations.len()).sum();
        let split = split.min(self.lots.len());
        let before = (1 << 15)
            + self.employees.len() * 448
            + split * LOT_BYTES
            + self.dispositions.len() * 512;
        let after = (1 << 15)
            + (self.lots.len() - split) * LOT_BYTES
            + allocations * 160
            + self.purchases.len() * 320
            + self.periods.by_start.len() * 256
            + self.skipped.len() * 256;
        (before, after)
    }

    /// The digest of the projection with provenance `p`: the SHA-256 of its canonical JSON
    /// without `digest`, computed without building it.
    pub fn projection_digest(&self, as_of: Option<Day>, p: Provenance<'_>) -> String {
        let mut h = Hasher(Sha256::new());
        let mut w = Buffered {
            out: &mut h,
            buf: Vec::with_capacity(1 << 17),
        };
        // Writing into a hash cannot fail.
        let written = self
            .render(as_of, p, None, &mut w)
            .and_then(|()| w.finish());
        debug_assert!(written.is_ok());
        hex::encode(h.0.finalize())
    }

    fn render<W: Write + ?Sized>(
        &self,
        as_of: Option<Day>,
        p: Provenance<'_>,
        digest: Option<&str>,
        w: &mut Buffered<'_, W>,
    ) -> io::Result<()> {
        self.render_head(as_of, w)?;
        if let Some(d) = digest {
            w.put(b",")?;
            string(w, "digest")?;
            w.put(b":")?;
            string(w, d)?;
        }
        self.render_tail(p, w)
    }

    /// The projection's opening and its keys before `digest`.
    fn render_head<W: Write + ?Sized>(
        &self,
        as_of: Option<Day>,
        w: &mut Buffered<'_, W>,
    ) -> io::Result<()> {
        let mut top = Obj::new(w)?;
        top.opt_str("as_of", as_of.map(|d| d.to_string()).as_deref())?;
        let w = top.key("capital_changes")?;
        array(w, &self.capital_changes, |w, c| {
            let mut o = Obj::new(w)?;
            o.shown("date", Ymd(c.date))?;
            o.str("kind", c.kind.as_str())?;
            match c.ratio {
                espp_events::Ratio::Decimal(d) => o.shown("ratio", Plain(d))?,
                other => o.str("ratio", &other.to_string())?,
            }
            o.end()
        })?;
        Ok(())
    }

    /// The projection's keys after `digest` (each after a comma) and its closing.
    fn render_tail<W: Write + ?Sized>(
        &self,
        p: Provenance<'_>,
        w: &mut Buffered<'_, W>,
    ) -> io::Result<()> {
        self.render_tail_before(p, self.lots.len(), w)?;
        self.render_tail_after(self.lots.len(), w)
    }

    /// The tail's keys up to `lots` and the first `split` lots, the array left open.
    fn render_tail_before<W: Write + ?Sized>(
        &self,
        p: Provenance<'_>,
        split: usize,
        w: &mut Buffered<'_, W>,
    ) -> io::Result<()> {
        let mut top = Obj::resume(w);
        let w = top.key("dispositions")?;
        array(w, &self.dispositions, |w, d| value(w, &disposition_json(d)))?;
        let w = top.key("employees")?;
        {
            let mut all = ObjDyn::new(w)?;
            for (id, e) in &self.employees {
                let w = all.key(id.as_str())?;
                employee_object(w, e)?;
            }
            all.end()?;
        }
        {
            head_object(top.key("head")?, p.head)?;
        }
        top.opt_str("known_at", p.known_at)?;
        let w = top.key("lots")?;
        w.put(b"[")?;
        for (i, l) in self.lots.iter().take(split).enumerate() {
            if i > 0 {
                w.put(b",")?;
            }
            lot_object(w, l)?;
        }
        Ok(())
    }

    /// The lots after the first `split`, closing the array, and the tail's later keys.
    fn render_tail_after<W: Write + ?Sized>(
        &self,
        split: usize,
        w: &mut Buffered<'_, W>,
    ) -> io::Result<()> {
        for (i, l) in self.lots.iter().enumerate().skip(split) {
            if i > 0 {
                w.put(b",")?;
            }
            lot_object(w, l)?;
        }
        w.put(b"]")?;
        // Resumed after `lots`: its first key is written after a comma.
        let mut top = Obj::resume(w);
        let w = top.key("periods")?;
        array(w, self.periods.by_start.values(), |w, per| {
            let mut o = Obj::new(w)?;
            o.shown("end", Ymd(per.end))?;
            o.str("id", per.id.as_str())?;
            match per.purchased {
                Some(d) => o.shown("purchase_date", Ymd(d))?,
                None => o.raw("purchase_date", "null")?,
            }
            o.shown("start", Ymd(per.start))?;
            o.str("status", self.period_status(per.start))?;
            o.end()
        })?;
        {
            let w = top.key("plan")?;
            let reserve = self.rules.share_reserve.get();
            let mut o = Obj::new(w)?;
            o.str("name", &self.rules.name)?;
            if let Some((_, reason)) = self.plan.ended {
                o.str("reason", reason.as_str())?;
            }
            o.shown("share_reserve", Plain(reserve))?;
            o.shown("shares_bought", Plain(self.plan.shares_bought))?;
            o.shown(
                "shares_left",
                Plain((reserve - self.plan.shares_bought).max(Decimal::ZERO)),
            )?;
            o.str("status", self.plan_status())?;
            if let Some((day, _)) = self.plan.ended {
                o.shown("terminated_on", Ymd(day))?;
            }
            o.end()?;
        }
        let w = top.key("purchases")?;
        array(w, &self.purchases, |w, pu| {
            let mut o = Obj::new(w)?;
            let w = o.key("allocations")?;
            array(w, &pu.allocations, |w, a| {
                let mut o = Obj::new(w)?;
                o.shown("carried", Money(a.carried))?;
                o.shown("cost", Money(a.cost))?;
                o.str("employee", a.employee.as_str())?;
                o.shown("refunded", Money(a.refunded))?;
                o.shown("shares", Plain(a.shares))?;
                o.end()
            })?;
            o.shown("date", Ymd(pu.date))?;
            o.shown("fmv_grant", Plain(pu.fmv_grant))?;
            o.shown("fmv_purchase", Plain(pu.fmv_purchase))?;
            o.shown("grant_date", Ymd(pu.grant_date))?;
            o.str("period", pu.period.as_str())?;
            o.str("price", &pu.price.to_string())?;
            o.raw("prorated", pu.prorated)?;
            o.shown("shares", Plain(pu.shares))?;
            o.end()
        })?;
        let w = top.key("rules")?;
        value(w, &espp_events::RulesPatch::from(&self.rules).to_json())?;
        let w = top.key("skipped")?;
        array(w, &self.skipped, |w, s| {
            let mut o = Obj::new(w)?;
            o.str("reason", &s.reason)?;
            o.raw("seq", s.seq)?;
            o.end()
        })?;
        top.raw("through_seq", self.through_seq)?;
        top.end()
    }
}

/// One lot of the projection's `lots`.
fn lot_object<W: Write + ?Sized>(
    w: &mut Buffered<'_, W>,
    l: &crate::purchase::Lot,
) -> io::Result<()> {
    let mut o = Obj::new(w)?;
    o.shown("certificated", Plain(l.certificated))?;
    o.str("employee", l.employee.as_str())?;
    o.shown("fmv_grant", Plain(l.fmv_grant))?;
    o.shown("fmv_purchase", Plain(l.fmv_purchase))?;
    o.shown("grant_date", Ymd(l.grant_date))?;
    o.shown("held", Plain(l.held))?;
    o.str("period", l.period.as_str())?;
    if l.price == l.as_purchased.price {
        o.str("price", &fixed(l.price, l.as_purchased.price_decimals))?;
    } else {
        o.shown("price", Plain(l.price))?;
    }
    o.shown("purchase_date", Ymd(l.purchase_date))?;
    o.shown("shares", Plain(l.shares))?;
    o.shown("sold", Plain(l.sold))?;
    o.end()
}

/// One employee's object of the projection's `employees`.
/// `head`: `{"hash", "seq"}`, or null for an empty log.
fn head_object<W: Write + ?Sized>(
    w: &mut Buffered<'_, W>,
    head: Option<(u64, &str)>,
) -> io::Result<()> {
    match head {
        None => w.put(b"null"),
        Some((seq, hash)) => {
            let mut o = Obj::new(w)?;
            o.str("hash", hash)?;
            o.raw("seq", seq)?;
            o.end()
        }
    }
}

fn employee_object<W: Write + ?Sized>(
    w: &mut Buffered<'_, W>,
    e: &crate::employee::Employee,
) -> io::Result<()> {
    let mut o = Obj::new(w)?;
    o.shown("balance", Money(e.balance))?;
    o.shown("contributed", Money(e.contributed))?;
    o.shown("deficiency", Money(e.deficiency))?;
    o.shown("dividends_paid", Money(e.dividends_paid))?;
    match e.window {
        Some(win) => o.shown("election_deadline", Ymd(win.deadline))?,
        None => o.raw("election_deadline", "null")?,
    }
    o.shown("ordinary_income", Money(e.ordinary_income))?;
    o.opt_str("rate", e.rate.map(rate).as_deref())?;
    o.shown("refunded", Money(e.refunded))?;
    o.shown("refunded_to_estate", Money(e.refunded_to_estate))?;
    o.shown("shares_certificated", Plain(e.shares_certificated))?;
    o.shown("shares_held", Plain(e.shares_held))?;
    o.str("status", e.status().as_str())?;
    o.end()
}

impl State {
    /// Writes the one-employee projection of `espp state --employee` (docs/projection.md):
    /// `{"as_of", "employee", "head", "id", "known_at"}`, where `employee` is the employee's
    /// object byte for byte as the full projection's `employees` holds it (null if `id` was
    /// never hired). No newline is written.
    pub fn write_employee_projection(
        &self,
        id: &str,
        as_of: Option<Day>,
        p: Provenance<'_>,
        out: &mut (impl Write + ?Sized),
    ) -> io::Result<()> {
        let mut buffered = Buffered {
            out,
            buf: Vec::with_capacity(1 << 10),
        };
        let mut top = Obj::new(&mut buffered)?;
        top.opt_str("as_of", as_of.map(|d| d.to_string()).as_deref())?;
        {
            let w = top.key("employee")?;
            match self.employees.get(id) {
                Some(e) => employee_object(w, e)?,
                None => w.put(b"null")?,
            }
        }
        {
            head_object(top.key("head")?, p.head)?;
        }
        top.str("id", id)?;
        top.opt_str("known_at", p.known_at)?;
        top.end()?;
        buffered.finish()
    }
}

/// An object whose keys are data (employee ids, in the map's order: byte order).
struct ObjDyn<'a, 'w, W: Write + ?Sized> {
    w: &'a mut Buffered<'w, W>,
    first: bool,
}

impl<'a, 'w, W: Write + ?Sized> ObjDyn<'a, 'w, W> {
    fn new(w: &'a mut Buffered<'w, W>) -> io::Result<Self> {
        w.put(b"{")?;
        Ok(ObjDyn { w, first: true })
    }
    fn key(&mut self, k: &str) -> io::Result<&mut Buffered<'w, W>> {
        if !self.first {
            self.w.put(b",")?;
        }
        self.first = false;
        string(self.w, k)?;
        self.w.put(b":")?;
        Ok(self.w)
    }
    fn end(self) -> io::Result<()> {
        self.w.put(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast formatters write what the decimal's and the day's own Display write.
        #[test]
        fn fast_formats_are_the_displays(m in any::<i64>(), wide in any::<i128>(), scale in 0u32..=28, days in -800_000i64..3_000_000) {
            for m in [i128::from(m), wide >> 32, i128::from(m % 1000)] {
                let Ok(x) = Decimal::try_from_i128_with_scale(m, scale) else { continue };
                let mut r = if x.is_zero() { Decimal::ZERO } else { x };
                r.rescale(2);
                prop_assert_eq!(Money(x).to_string(), r.to_string());
                let plain = if x.is_zero() { "0".to_string() } else { x.normalize().to_string() };
                prop_assert_eq!(Plain(x).to_string(), plain);
            }
            if let Some(d) = Day::from_ymd(1, 1, 1).and_then(|d| d.add_days(days)) {
                prop_assert_eq!(Ymd(d).to_string(), d.to_string());
            }
        }
    }
}
