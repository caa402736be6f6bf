//! Asking the ledger why (issue 14): `explain` (one employee's derivation trail) and
//! `purchase --preview` (the purchase as if it executed now, nothing appended). Both fold
//! the log from its start with a trace the fold itself fills in, so every figure shown is
//! the one the fold computed, never a second implementation of a rule. `explain` folds only
//! the employee's records and the global ones where the employee index allows
//! (`Ledger::fold_traced_employee`).

use std::io::Write;
use std::str::FromStr;

use espp_engine::Ledger;
use espp_events::{Day, EmployeeId, Instant, Line, Record};
use espp_projections::{State, Trace};
use espp_replay::{OrderedFold, Query};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::output::{print_explanation, print_preview, print_report};
use super::{actor, exit, open, parse_arg, Failure};
use crate::Cli;

/// Folds the whole log from the start with `trace`, through `query`'s deadlines, then
/// `extra` (records after the head, dated anywhere: a preview's), in `(date, seq)` order.
/// The log is streamed chunk by chunk, each chunk pushed with the earliest day of all that
/// follows it, so only the records that wait for an earlier-dated one are held — never the
/// whole log (at 10^6 events that was ~450 MB of decoded records).
fn traced_fold(
    ledger: &Ledger,
    trace: Trace,
    query: Query,
    extra: Vec<Record>,
) -> Result<State, Failure> {
    let refused = |e: espp_replay::FoldError| Failure::new(exit::REFUSED, e.to_string());
    let extra_min = extra.iter().map(|r| r.date).min();
    // Each chunk's first seq, and the earliest day of it and of everything after it.
    let chunks = ledger.chunk_days()?;
    let mut later_min: Vec<Option<Day>> = vec![extra_min; chunks.len() + 1];
    for i in (0..chunks.len()).rev() {
        later_min[i] = Some(later_min[i + 1].map_or(chunks[i].1, |d| d.min(chunks[i].1)));
    }
    let mut fold = OrderedFold::new(State::with_trace(query.rules.clone(), trace), query);
    let mut batch: Vec<Record> = Vec::new();
    // The next chunk to start (index into `chunks`).
    let mut next = 0;
    for r in ledger.records() {
        let r = r?;
        // A record starting a later chunk: what was read so far is followed by that chunk.
        let mut starts = next;
        while chunks.get(starts).is_some_and(|c| c.0 <= r.seq) {
            starts += 1;
        }
        if starts > next {
            if !batch.is_empty() {
                fold.push(std::mem::take(&mut batch), later_min[starts - 1])
                    .map_err(refused)?;
            }
            next = starts;
        }
        batch.push(r);
    }
    fold.push(batch, extra_min).map_err(refused)?;
    fold.push(extra, None).map_err(refused)?;
    fold.finish().map_err(refused)
}

/// `espp explain EMPLOYEE [--period ID] [--as-of DAY]`.
pub fn explain(
    cli: &Cli,
    employee: &str,
    period: Option<&str>,
    as_of: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let id = EmployeeId::new(employee)
        .map_err(|e| Failure::new(exit::USAGE, format!("employee {employee}: {e}")))?;
    let as_of = as_of
        .map(|s| parse_arg("--as-of", s, Day::parse))
        .transpose()?;
    let ledger = open(cli)?;
    let head = (ledger.head_seq(), ledger.head_hash().to_string());
    let query = Query {
        as_of,
        ..Query::default()
    };
    // From the employee index, the employee's records and the global ones only, where the
    // ledger allows (issue 15); else the whole log, with the same trace and the same bytes.
    let state =
        match ledger.fold_traced_employee(&query, Trace::employee(id.clone()), id.as_str())? {
            Some(state) => state,
            None => traced_fold(&ledger, Trace::employee(id), query, Vec::new())?,
        };
    drop(ledger);
    let between = match period {
        Some(p) => {
            let info = state
                .period_info(p)
                .ok_or_else(|| Failure::new(exit::USAGE, format!("unknown period {p}")))?;
            Some((info.start, info.end))
        }
        None => None,
    };
    let mut v = state
        .explanation(between)
        .ok_or_else(|| Failure::new(exit::USAGE, format!("unknown employee {employee}")))?;
    if let Value::Object(m) = &mut v {
        m.insert("period".into(), json!(period));
        m.insert("as_of".into(), json!(as_of.map(|d| d.to_string())));
        m.insert("through_seq".into(), json!(state.through_seq()));
        m.insert("head_seq".into(), json!(head.0));
        m.insert("head_hash".into(), json!(head.1));
    }
    print_explanation(out, cli.format, &v)?;
    Ok(())
}

/// The hypothetical events of a preview as JSON lines, and the purchase's day: with
/// `close`, a `market_price` on the day after the period's latest price (capped at its last
/// day, where it replaces that day's price) and the purchase on that day; without, the
/// purchase on the latest trading day within the period.
fn hypothetical(
    state: &State,
    period: &str,
    close: Option<&str>,
) -> Result<(Vec<String>, Day), Failure> {
    let info = state
        .period_info(period)
        .ok_or_else(|| Failure::new(exit::USAGE, format!("unknown period {period}")))?;
    if let Some(day) = info.purchased {
        return Err(Failure::new(
            exit::REFUSED,
            format!("period {period}'s purchase already executed on {day}"),
        ));
    }
    let buy = |d: Day| format!(r#"{{"type":"purchase","date":"{d}","period":"{period}"}}"#);
    match close {
        Some(c) => {
            let price = Decimal::from_str(c)
                .ok()
                .filter(|p| *p > Decimal::ZERO)
                .ok_or_else(|| {
                    Failure::new(exit::USAGE, format!("--close: {c} is not a positive price"))
                })?;
            let day = match info.last_trading_day {
                Some(d) if d >= info.end => info.end,
                Some(d) => d.add_days(1).unwrap_or(info.end).min(info.end),
                None => info.start,
            };
            Ok((
                vec![
                    format!(r#"{{"type":"market_price","date":"{day}","closes":["{price}"]}}"#),
                    buy(day),
                ],
                day,
            ))
        }
        None => {
            let day = info.last_trading_day.ok_or_else(|| {
                Failure::new(
                    exit::REFUSED,
                    format!("period {period} has no price yet: give --close PRICE"),
                )
            })?;
            Ok((vec![buy(day)], day))
        }
    }
}

/// `espp purchase --preview PERIOD [--close PRICE]`: the fold's answer as if the purchase
/// executed now, the same records a real append would store folded in their `(date, seq)`
/// places; nothing is appended.
pub fn preview(
    cli: &Cli,
    period: &str,
    close: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let ledger = open(cli)?;
    let (head_seq, head_hash) = (ledger.head_seq(), ledger.head_hash());
    let before = traced_fold(&ledger, Trace::purchases(), Query::default(), Vec::new())?;
    let (lines, day) = hypothetical(&before, period, close)?;
    let now = Instant::from_datetime(chrono::Utc::now())
        .ok_or_else(|| Failure::new(exit::STORAGE, "the clock is out of range"))?;
    let who = actor(cli)?;
    let mut all = Vec::with_capacity(lines.len());
    let mut prev = head_hash;
    for (i, l) in lines.iter().enumerate() {
        let Ok(Line::Bare(e)) = espp_events::parse_line(l) else {
            return Err(Failure::new(exit::USAGE, format!("cannot build {l}")));
        };
        let seq = head_seq + 1 + i as u64;
        let r = Record::chain(
            seq,
            uuid::Uuid::new_v4(),
            e.date,
            now,
            who.clone(),
            prev,
            e.event,
        );
        prev = r.hash;
        all.push(r);
    }
    let after = traced_fold(&ledger, Trace::purchases(), Query::default(), all)?;
    drop(ledger);
    let projection = after.projection(None);
    let purchase = projection["purchases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["period"] == period))
        .cloned()
        .ok_or_else(|| {
            Failure::new(
                exit::REFUSED,
                format!("period {period}: no purchase would execute on {day}"),
            )
        })?;
    let steps: Vec<Value> = after
        .traced_purchases()
        .into_iter()
        .filter(|s| s["period"] == period)
        .collect();
    let v = report(&before, &projection, &purchase, &steps, period, day, close)?;
    print_preview(out, cli.format, &v)?;
    Ok(())
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| Decimal::from_str(s).ok())
        .unwrap_or_default()
}

/// The preview's rows, totals and the checks administrators run by hand.
fn report(
    before: &State,
    projection: &Value,
    purchase: &Value,
    steps: &[Value],
    period: &str,
    day: Day,
    close: Option<&str>,
) -> Result<Value, Failure> {
    let overflow = || Failure::new(exit::REFUSED, "the preview's totals overflow");
    let mut rows = Vec::new();
    let (mut cost, mut refunded, mut carried) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut over_headroom = Vec::new();
    let mut prorated = Vec::new();
    let mut near_owner_cap = Vec::new();
    for a in purchase["allocations"].as_array().into_iter().flatten() {
        let who = a["employee"].as_str().unwrap_or_default();
        let s = steps.iter().find(|s| s["employee"] == who);
        let binds = s.map_or(json!([]), |s| s["binds"].clone());
        cost = cost.checked_add(dec(&a["cost"])).ok_or_else(overflow)?;
        refunded = refunded
            .checked_add(dec(&a["refunded"]))
            .ok_or_else(overflow)?;
        carried = carried
            .checked_add(dec(&a["carried"]))
            .ok_or_else(overflow)?;
        if let Some(s) = s {
            if binds
                .as_array()
                .is_some_and(|b| b.iter().any(|x| x == "annual_limit"))
            {
                over_headroom.push(
                    json!({"employee": who, "balance": s["balance"], "headroom": s["headroom"]}),
                );
            }
            if binds
                .as_array()
                .is_some_and(|b| b.iter().any(|x| x == "proration"))
            {
                prorated
                    .push(json!({"employee": who, "capped": s["capped"], "shares": s["shares"]}));
            }
            // Within 10% of the 5% owner cap: owning at least 90% of the limit afterwards.
            if let Some(limit) = s["ownership_limit_shares"].as_str() {
                let limit = Decimal::from_str(limit).unwrap_or_default();
                let owned = dec(&s["owned_before"])
                    .checked_add(dec(&a["shares"]))
                    .ok_or_else(overflow)?;
                let near = limit.checked_mul(Decimal::new(9, 1)).ok_or_else(overflow)?;
                if owned >= near {
                    near_owner_cap.push(json!({"employee": who, "owned_after": owned.normalize().to_string(), "limit": limit.normalize().to_string()}));
                }
            }
        }
        rows.push(json!({
            "employee": who,
            "balance": s.map_or(Value::Null, |s| s["balance"].clone()),
            "wanted": s.map_or(Value::Null, |s| s["wanted"].clone()),
            "shares": a["shares"],
            "cost": a["cost"],
            "refunded": a["refunded"],
            "carried": a["carried"],
            "binds": binds.as_array().map(|b| b.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("+")).unwrap_or_default(),
        }));
    }
    // Participants (holding the option) with no deduction in the period.
    let start = before.period_info(period).map(|p| p.start);
    let mut no_deductions = Vec::new();
    let pre = before.projection(None);
    for (id, e) in pre["employees"].as_object().into_iter().flatten() {
        let holds = matches!(
            e["status"].as_str(),
            Some("participating" | "reduced" | "on_leave" | "awaiting_election")
        );
        if !holds || start.is_none() {
            continue;
        }
        let deductions = before
            .statement(id, Some(period))
            .ok()
            .and_then(|rows| rows.first().map(|r| dec(&r["deductions"])))
            .unwrap_or_default();
        if deductions.is_zero() {
            no_deductions.push(json!(id));
        }
    }
    Ok(json!({
        "period": period,
        "date": day.to_string(),
        "hypothetical_close": close,
        "grant_date": purchase["grant_date"],
        "fmv_grant": purchase["fmv_grant"],
        "fmv_purchase": purchase["fmv_purchase"],
        "price": purchase["price"],
        "prorated": purchase["prorated"],
        "allocations": rows,
        "totals": {
            "participants": rows.len(),
            "shares": purchase["shares"],
            "cost": format!("{:.2}", cost),
            "refunded": format!("{:.2}", refunded),
            "carried": format!("{:.2}", carried),
        },
        "checks": {
            "no_deductions": no_deductions,
            "above_annual_headroom": over_headroom,
            "prorated": prorated,
            "reserve_left": projection["plan"]["shares_left"],
            "near_owner_cap": near_owner_cap,
        },
        "appended": false,
    }))
}

/// `espp report purchase PERIOD`.
pub fn report_purchase(cli: &Cli, period: &str, out: &mut impl Write) -> Result<(), Failure> {
    let ledger = open(cli)?;
    let state = traced_fold(
        &ledger,
        Trace::report_purchase(period),
        Query::default(),
        Vec::new(),
    )?;
    drop(ledger);
    let v = state
        .report_purchase(period)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    print_report(out, cli.format, &v, "rows")?;
    Ok(())
}

/// `espp report enrolment [--as-of DAY]`.
pub fn report_enrolment(
    cli: &Cli,
    as_of: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let as_of = as_of
        .map(|s| parse_arg("--as-of", s, Day::parse))
        .transpose()?;
    let ledger = open(cli)?;
    let query = Query {
        as_of,
        ..Query::default()
    };
    let state = traced_fold(&ledger, Trace::report_enrolment(), query, Vec::new())?;
    drop(ledger);
    let mut v = state.report_enrolment();
    if let Value::Object(m) = &mut v {
        m.insert("as_of".into(), json!(as_of.map(|d| d.to_string())));
    }
    print_report(out, cli.format, &v, "")?;
    Ok(())
}
