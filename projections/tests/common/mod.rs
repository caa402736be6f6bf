//! Shared test helpers: JSON lines to chained records, the fold in `(date, seq)` order, and
//! the data-driven `check` of projection fields.
#![allow(dead_code, clippy::unwrap_used)]

use espp_events::{parse_line, Actor, Hash, Instant, Line, Record};
use espp_projections::{Rejection, State};
use serde_json::Value;

/// Parses JSON lines (bare events) and chains them as records, seq from 1.
pub fn records(lines: &[String]) -> Vec<Record> {
    records_recorded(lines, &[])
}

/// As [`records`], line `i` recorded at `recorded[i]` (an RFC 3339 instant) where given,
/// else at 2026-11-01T00:00:00Z.
pub fn records_recorded(lines: &[String], recorded: &[(usize, &str)]) -> Vec<Record> {
    let default = Instant::parse("2026-11-01T00:00:00Z").unwrap();
    let actor = Actor::new("test").unwrap();
    let mut prev = Hash::ZERO;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let input = match parse_line(line) {
            Ok(Line::Bare(e)) => e,
            other => panic!(
                "line {}: {line} did not parse as a bare event: {other:?}",
                i + 1
            ),
        };
        let seq = i as u64 + 1;
        let at = recorded
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(default, |(_, t)| Instant::parse(t).unwrap());
        let id = input.id.unwrap_or(uuid::Uuid::from_u128(seq as u128));
        let r = Record::chain(seq, id, input.date, at, actor.clone(), prev, input.event);
        prev = r.hash;
        out.push(r);
    }
    out
}

/// Folds records in `(date, seq)` order; the first refusal stops it with the record's seq.
pub fn fold_records(state: &mut State, recs: &[Record]) -> Result<(), (u64, Rejection)> {
    let mut sorted: Vec<&Record> = recs.iter().collect();
    sorted.sort_by_key(|r| (r.date, r.seq));
    for r in sorted {
        state.apply(r).map_err(|e| (r.seq, e))?;
    }
    Ok(())
}

/// Applies `r` as the engine appends it: on a clone kept only if it folds. A generated
/// history cannot know everything the fold decides: that the plan has ended (its reserve
/// used up, its term over), that an election window has already taken its default, how
/// large a deficiency is, whether a leave has outlasted its limit, how many shares (of
/// which lots) an employee holds. An event refused by the
/// plan for such a reason is left out (`Ok(false)`), the state as it was; any other refusal
/// is an error.
pub fn apply_or_skip_after_end(state: &mut State, r: &Record) -> Result<bool, Rejection> {
    let mut next = state.clone();
    match next.apply(r) {
        Ok(()) => {
            *state = next;
            Ok(true)
        }
        Err(e) if timing_dependent(r, &e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn timing_dependent(r: &Record, e: &Rejection) -> bool {
    let Rejection::Plan { message, .. } = e else {
        return false;
    };
    let life = matches!(
        r.event.type_name(),
        "deductions_stopped"
            | "employment_ended"
            | "leave_started"
            | "leave_ended"
            | "cash_payment"
            | "election"
            | "died"
            | "rate_changed"
    );
    // How many shares an employee holds, and in which lots, is the fold's to know.
    let holdings = matches!(r.event.type_name(), "certificate_requested" | "shares_sold")
        && message.contains("the Agent holds");
    // An amendment's reserve is written before a capital change the generator cannot
    // follow may have multiplied the shares bought.
    let reserve = r.event.type_name() == "plan_amended" && message.contains("already bought");
    life || holdings
        || reserve
        || message.contains("the plan terminated on")
        || message.contains("not employed")
}

/// Folds JSON lines from an empty state.
pub fn fold(lines: &[String]) -> Result<State, (u64, Rejection)> {
    let mut s = State::new(None);
    fold_records(&mut s, &records(lines))?;
    Ok(s)
}

/// Folds `lines` and asserts each `(JSON pointer, expected value)` on the projection.
pub fn check(lines: &[String], expected: &[(&str, Value)]) -> Value {
    let state = match fold(lines) {
        Ok(s) => s,
        Err((seq, e)) => panic!("seq {seq} refused: {e}"),
    };
    check_state(&state, None, expected)
}

/// Asserts fields of an already folded state's projection.
pub fn check_state(
    state: &State,
    as_of: Option<espp_events::Day>,
    expected: &[(&str, Value)],
) -> Value {
    let p = state.projection(as_of);
    for (pointer, want) in expected {
        let got = p.pointer(pointer).unwrap_or(&Value::Null);
        assert_eq!(got, want, "at {pointer}; projection: {p:#}");
    }
    p
}

/// Folds `lines` and asserts the fold is refused at seq `at` with a plan refusal of
/// `section` whose message contains every one of `words`.
pub fn check_refused(lines: &[String], at: u64, section: &str, words: &[&str]) -> String {
    match fold(lines) {
        Ok(s) => panic!("accepted; projection {:#}", s.projection(None)),
        Err((seq, e)) => {
            let text = e.to_string();
            assert_eq!(seq, at, "refused at seq {seq}, expected {at}: {text}");
            match &e {
                Rejection::Plan { section: s, .. } => assert_eq!(s, section, "{text}"),
                other => panic!("not a plan refusal: {other}"),
            }
            for w in words {
                assert!(text.contains(w), "{text:?} does not mention {w:?}");
            }
            text
        }
    }
}

/// Builds JSON lines from `(type, date, fields)` shorthand: `ev("payroll", "2026-01-15",
/// r#""employee":"E1","gross_pay":"5000.00""#)`.
pub fn ev(kind: &str, date: &str, fields: &str) -> String {
    if fields.is_empty() {
        format!(r#"{{"type":"{kind}","date":"{date}"}}"#)
    } else {
        format!(r#"{{"type":"{kind}","date":"{date}",{fields}}}"#)
    }
}

/// A closing price.
pub fn close(date: &str, price: &str) -> String {
    ev("market_price", date, &format!(r#""closes":["{price}"]"#))
}

/// A payday.
pub fn pay(date: &str, id: &str, gross: &str) -> String {
    ev(
        "payroll",
        date,
        &format!(r#""employee":"{id}","gross_pay":"{gross}""#),
    )
}

/// A purchase.
pub fn buy(date: &str, period: &str) -> String {
    ev("purchase", date, &format!(r#""period":"{period}""#))
}

/// The common company of the life and amended scenarios: plan adopted 2025-01-02 with
/// `rules` (a JSON object body), approved 2025-02-03, period 2026H1 (2026-01-01 to
/// 2026-06-30), E1 hired 2024-01-01 (40 h, 12 months) and enrolled at 10% on 2025-12-10, FMV
/// 10.00 on 2026-01-02 (the first trading day).
pub fn company(rules: &str) -> Vec<String> {
    vec![
        ev(
            "plan_adopted",
            "2025-01-02",
            &format!(r#""rules":{{{rules}}}"#),
        ),
        ev("stockholders_approved", "2025-02-03", ""),
        ev(
            "period_scheduled",
            "2025-12-01",
            r#""period":"2026H1","start":"2026-01-01","end":"2026-06-30""#,
        ),
        hire("2025-03-01", "E1", "2024-01-01", "40"),
        ev("enrolled", "2025-12-10", r#""employee":"E1","rate":"0.10""#),
        close("2026-01-02", "10.00"),
    ]
}

/// 2026H1's last trading day (FMV 20.00) and its purchase.
pub fn purchase() -> [String; 2] {
    [close("2026-06-30", "20.00"), buy("2026-06-30", "2026H1")]
}

/// `lines` with `extra` after them.
pub fn with(mut lines: Vec<String>, extra: &[String]) -> Vec<String> {
    lines.extend_from_slice(extra);
    lines
}

/// A day, from `"YYYY-MM-DD"`.
pub fn day(s: &str) -> espp_events::Day {
    espp_events::Day::parse(s).unwrap()
}

/// Folds `lines`, then the deadlines through `as_of` (an as-of fold), and checks.
pub fn check_as_of(lines: &[String], as_of: &str, expected: &[(&str, Value)]) -> Value {
    let mut s = fold(lines).unwrap_or_else(|(seq, e)| panic!("seq {seq} refused: {e}"));
    s.advance_to(day(as_of)).unwrap();
    check_state(&s, Some(day(as_of)), expected)
}

/// A hire (12 months a year).
pub fn hire(date: &str, id: &str, hire_date: &str, hours: &str) -> String {
    ev(
        "employee_hired",
        date,
        &format!(
            r#""employee":"{id}","hire_date":"{hire_date}","weekly_hours":"{hours}","months_per_year":"12""#
        ),
    )
}
