//! The projection JSON of INTERCHANGE.md, the §12 statements, and the canonical digest.

use espp_events::Day;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::num::{fixed, money, plain, rate};
use crate::state::State;
use crate::tax::disposition_json;

/// Why a statement cannot be given: the caller named something that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lookup {
    /// No employee of that id was ever hired.
    #[error("unknown employee {0}")]
    UnknownEmployee(String),
    /// No period of that id is scheduled.
    #[error("unknown period {0}")]
    UnknownPeriod(String),
}

/// The canonical JSON of a value: keys sorted at every level, no whitespace (whatever map
/// order serde_json was built with).
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(4096);
    write_canonical(v, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            out.push(b'{');
            // serde_json's default map is sorted already; sort only if it is not.
            let sorted = m.keys().zip(m.keys().skip(1)).all(|(a, b)| a < b);
            let mut keys: Vec<&String> = m.keys().collect();
            if !sorted {
                keys.sort();
            }
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(k.as_str(), out);
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => write_json(other, out),
    }
}

/// Writes a key or a scalar as compact JSON.
fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a string or a scalar into memory cannot fail.
    let written = serde_json::to_writer(&mut *out, v);
    debug_assert!(written.is_ok());
}

/// Sets the projection's provenance, which only the engine knows, and computes its digest
/// again (it covers them, as every key but `digest`): `known_at`, the `--known-at`
/// instant or null; `head`, the `{"seq", "hash"}` of the latest record the query could see
/// (the log's head, or the last one recorded by `--known-at` / up to `--through-seq`),
/// null for an empty log.
pub fn with_provenance(
    projection: &mut Value,
    known_at: Option<String>,
    head: Option<(u64, String)>,
) {
    if let Value::Object(m) = projection {
        m.remove("digest");
        m.insert(
            "known_at".to_string(),
            known_at.map_or(Value::Null, Value::String),
        );
        m.insert(
            "head".to_string(),
            head.map_or(Value::Null, |(seq, hash)| json!({"seq": seq, "hash": hash})),
        );
        let digest = digest_without(projection);
        if let Value::Object(m) = projection {
            m.insert("digest".to_string(), Value::String(digest));
        }
    }
}

/// The lowercase hex SHA-256 of the canonical JSON of `projection` without its `digest`.
pub fn digest_of(projection: &Value) -> String {
    match projection {
        Value::Object(m) if m.contains_key("digest") => {
            let mut without = m.clone();
            without.remove("digest");
            digest_without(&Value::Object(without))
        }
        other => digest_without(other),
    }
}

fn digest_without(v: &Value) -> String {
    let mut out = Vec::with_capacity(1 << 16);
    write_canonical(v, &mut out);
    hex::encode(Sha256::digest(&out))
}

impl State {
    /// The projection JSON of INTERCHANGE.md, `digest` included. For an as-of fold, call
    /// [`State::advance_to`] with the same day first.
    pub fn projection(&self, as_of: Option<Day>) -> Value {
        let status = self.plan_status();
        let reserve = self.rules.share_reserve.get();
        let mut plan = json!({
            "status": status,
            "name": self.rules.name,
            "share_reserve": plain(reserve),
            "shares_bought": plain(self.plan.shares_bought),
            "shares_left": plain((reserve - self.plan.shares_bought).max(Decimal::ZERO)),
        });
        if let (Some((day, reason)), Value::Object(m)) = (self.plan.ended, &mut plan) {
            m.insert("reason".to_string(), json!(reason.as_str()));
            m.insert("terminated_on".to_string(), json!(day.to_string()));
        }
        let mut employees = Map::new();
        for (id, e) in &self.employees {
            employees.insert(
                id.to_string(),
                json!({
                    "status": e.status().as_str(),
                    "rate": e.rate.map(rate),
                    "balance": money(e.balance),
                    "deficiency": money(e.deficiency),
                    "contributed": money(e.contributed),
                    "refunded": money(e.refunded),
                    "shares_held": plain(e.shares_held),
                    "shares_certificated": plain(e.shares_certificated),
                    "dividends_paid": money(e.dividends_paid),
                    "ordinary_income": money(e.ordinary_income),
                    "election_deadline": e.window.map(|w| w.deadline.to_string()),
                    "refunded_to_estate": money(e.refunded_to_estate),
                }),
            );
        }
        // Lots are appended in purchase order and, within a purchase, in employee order.
        let lots: Vec<Value> = self
            .lots
            .iter()
            .map(|l| {
                json!({
                    "employee": l.employee.as_str(),
                    "period": l.period.as_str(),
                    "grant_date": l.grant_date.to_string(),
                    "purchase_date": l.purchase_date.to_string(),
                    "fmv_grant": plain(l.fmv_grant),
                    "fmv_purchase": plain(l.fmv_purchase),
                    // A price as purchased has `price_decimals` places; one a capital change
                    // divided is written like any other per-share value.
                    "price": if l.price == l.as_purchased.price {
                        fixed(l.price, l.as_purchased.price_decimals)
                    } else {
                        plain(l.price)
                    },
                    "shares": plain(l.shares),
                    "held": plain(l.held),
                    "certificated": plain(l.certificated),
                    "sold": plain(l.sold),
                })
            })
            .collect();
        let skipped: Vec<Value> = self
            .skipped
            .iter()
            .map(|s| json!({"seq": s.seq, "reason": s.reason}))
            .collect();
        let purchases: Vec<Value> = self
            .purchases
            .iter()
            .map(|p| {
                let allocations: Vec<Value> = p
                    .allocations
                    .iter()
                    .map(|a| {
                        json!({
                            "employee": a.employee.as_str(),
                            "shares": plain(a.shares),
                            "cost": money(a.cost),
                            "refunded": money(a.refunded),
                            "carried": money(a.carried),
                        })
                    })
                    .collect();
                json!({
                    "period": p.period.as_str(),
                    "date": p.date.to_string(),
                    "grant_date": p.grant_date.to_string(),
                    "fmv_grant": plain(p.fmv_grant),
                    "fmv_purchase": plain(p.fmv_purchase),
                    "price": p.price.to_string(),
                    "shares": plain(p.shares),
                    "prorated": p.prorated,
                    "allocations": allocations,
                })
            })
            .collect();
        let capital_changes: Vec<Value> = self
            .capital_changes
            .iter()
            .map(|c| {
                json!({
                    "date": c.date.to_string(),
                    "kind": c.kind.as_str(),
                    "ratio": match c.ratio {
                        espp_events::Ratio::Decimal(d) => plain(d),
                        other => other.to_string(),
                    },
                })
            })
            .collect();
        let dispositions: Vec<Value> = self.dispositions.iter().map(disposition_json).collect();
        let periods: Vec<Value> = self
            .periods
            .by_start
            .values()
            .map(|p| {
                json!({
                    "id": p.id.as_str(),
                    "start": p.start.to_string(),
                    "end": p.end.to_string(),
                    "status": self.period_status(p.start),
                    "purchase_date": p.purchased.map(|d| d.to_string()),
                })
            })
            .collect();
        let mut v = json!({
            "as_of": as_of.map(|d| d.to_string()),
            "through_seq": self.through_seq,
            "plan": plan,
            "employees": employees,
            "lots": lots,
            "skipped": skipped,
            "purchases": purchases,
            "capital_changes": capital_changes,
            "dispositions": dispositions,
            "periods": periods,
            "rules": espp_events::RulesPatch::from(&self.rules).to_json(),
            // Provenance the pure fold cannot know: the engine fills them in with
            // [`with_provenance`], which computes the digest again.
            "known_at": Value::Null,
            "head": Value::Null,
        });
        let digest = digest_without(&v);
        if let Value::Object(m) = &mut v {
            m.insert("digest".to_string(), Value::String(digest));
        }
        v
    }

    /// The plan's status: `not_adopted`, `terminated`, `awaiting_approval` or `active`.
    pub(crate) fn plan_status(&self) -> &'static str {
        if self.plan.adopted.is_none() {
            "not_adopted"
        } else if self.plan.ended.is_some() {
            "terminated"
        } else if self.plan.approved.is_none() {
            "awaiting_approval"
        } else {
            "active"
        }
    }

    /// A period's status as the fold stands: `scheduled` (not opened yet), `open`,
    /// `purchased` (its purchase executed) or `closed` (ended without a purchase).
    pub(crate) fn period_status(&self, start: Day) -> &'static str {
        let purchased = self
            .periods
            .by_start
            .get(&start)
            .is_some_and(|p| p.purchased.is_some());
        if self.periods.open == Some(start) {
            "open"
        } else if purchased {
            "purchased"
        } else if self.periods.opened_through.is_some_and(|o| start <= o) {
            "closed"
        } else {
            "scheduled"
        }
    }

    /// The employees with an account in period `period` (enrolled in it at some point), in
    /// id order: whose §12 statements `statement --all --period` gives.
    pub fn statement_employees(&self, period: &str) -> Result<Vec<String>, Lookup> {
        let start = self
            .periods
            .start_of
            .get(period)
            .copied()
            .ok_or_else(|| Lookup::UnknownPeriod(period.to_string()))?;
        Ok(self
            .employees
            .iter()
            .filter(|(_, e)| e.accounts.contains_key(&start))
            .map(|(id, _)| id.to_string())
            .collect())
    }

    /// The plan's name, from its rules.
    pub fn plan_name(&self) -> &str {
        &self.rules.name
    }

    /// A period's market for a statement's chart: `{"period", "start", "end", "prices":
    /// [{"date", "fmv"}], "grant_date", "fmv_grant", "purchase_date", "fmv_purchase",
    /// "price"}` — each trading day's FMV within the period (DOMAIN.md §3) and, once it
    /// has executed, the purchase's figures (null before).
    pub fn period_market(&self, period: &str) -> Result<Value, Lookup> {
        let p = self
            .periods
            .get(period)
            .ok_or_else(|| Lookup::UnknownPeriod(period.to_string()))?;
        let prices: Vec<Value> = self
            .market
            .days_in(p.start, p.end)
            .into_iter()
            .filter_map(|d| {
                self.market
                    .fmv(d)
                    .map(|f| json!({"date": d.to_string(), "fmv": plain(f)}))
            })
            .collect();
        let done = self.purchases.iter().find(|x| x.period.as_str() == period);
        Ok(json!({
            "period": period,
            "start": p.start.to_string(),
            "end": p.end.to_string(),
            "prices": prices,
            "grant_date": done.map(|x| x.grant_date.to_string()),
            "fmv_grant": done.map(|x| plain(x.fmv_grant)),
            "purchase_date": done.map(|x| x.date.to_string()),
            "fmv_purchase": done.map(|x| plain(x.fmv_purchase)),
            "price": done.map(|x| x.price.to_string()),
        }))
    }

    /// The digest of [`State::projection`] without an as-of day: two states that fold to the
    /// same books have the same digest.
    pub fn digest(&self) -> String {
        self.projection_digest(None, crate::render::Provenance::default())
    }

    /// §12 statements of `employee`: one per period in which the employee bought shares, in
    /// period order; with `period`, that period's alone, also when nothing was bought
    /// (`"purchased": false`).
    pub fn statement(&self, employee: &str, period: Option<&str>) -> Result<Vec<Value>, Lookup> {
        let e = self
            .employees
            .get(employee)
            .ok_or_else(|| Lookup::UnknownEmployee(employee.to_string()))?;
        let wanted_start = match period {
            Some(id) => Some(
                self.periods
                    .start_of
                    .get(id)
                    .copied()
                    .ok_or_else(|| Lookup::UnknownPeriod(id.to_string()))?,
            ),
            None => None,
        };
        let mut out = Vec::new();
        for (start, p) in &self.periods.by_start {
            if wanted_start.is_some_and(|s| s != *start) {
                continue;
            }
            let held = e.accounts.get(start);
            let acct = held.as_deref();
            let bought = acct.is_some_and(|a| a.shares_bought > Decimal::ZERO);
            if wanted_start.is_none() && !bought {
                continue;
            }
            let zero = Decimal::ZERO;
            let price_dp = p.rules.as_ref().unwrap_or(&self.rules).price_decimals.get();
            out.push(json!({
                "employee": employee,
                "period": p.id.as_str(),
                "start": p.start.to_string(),
                "end": p.end.to_string(),
                "deductions": money(acct.map_or(zero, |a| a.deductions)),
                "cash_payments": money(acct.map_or(zero, |a| a.cash_payments)),
                "refunds": money(acct.map_or(zero, |a| a.refunds)),
                "shares_bought": plain(acct.map_or(zero, |a| a.shares_bought)),
                "price": acct.and_then(|a| a.price).map(|x| fixed(x, price_dp)),
                "shares_held_end": plain(acct.and_then(|a| a.shares_held_end).unwrap_or(e.shares_held)),
                "purchased": bought,
                // Reconciles: opening_balance + deductions + cash_payments − cost − refunds
                // = carried (the balance the period closed with, or now while it is open).
                "opening_balance": money(acct.map_or(zero, |a| a.opening_balance)),
                "cost": money(acct.map_or(zero, |a| a.cost)),
                "carried": money(acct.and_then(|a| a.carried).unwrap_or(
                    if self.periods.open == Some(*start) { e.balance } else { zero }
                )),
            }));
        }
        Ok(out)
    }
}
