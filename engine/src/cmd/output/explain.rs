//! `espp explain` and `--dry-run`'s output: a figure's trail step by step, and the preview of
//! what an append would change.

use std::io::Write;

use serde_json::Value;

use super::*;

/// `explain`: the trail as JSON, or one line per step for people (a purchase's and an
/// eligibility verdict's steps indented under it, each naming its plan section).
pub fn print_explanation(out: &mut impl Write, format: Format, v: &Value) -> std::io::Result<()> {
    if format == Format::Json {
        return writeln!(out, "{v}");
    }
    writeln!(
        out,
        "employee {}{}{} (through seq {}, head seq {})",
        text(&v["employee"]),
        v["period"]
            .as_str()
            .map(|p| format!(", period {p}"))
            .unwrap_or_default(),
        v["as_of"]
            .as_str()
            .map(|d| format!(", as of {d}"))
            .unwrap_or_default(),
        text(&v["through_seq"]),
        text(&v["head_seq"])
    )?;
    if format == Format::Csv {
        writeln!(out, "date,seq,kind,text")?;
    }
    for e in v["entries"].as_array().into_iter().flatten() {
        let seq = e.get("seq").map(text).unwrap_or_default();
        let kind = e.get("type").map(text).unwrap_or_else(|| text(&e["kind"]));
        if format == Format::Csv {
            writeln!(
                out,
                "{},{},{},\"{}\"",
                text(&e["date"]),
                seq,
                kind,
                text(&e["text"]).replace('"', "\"\"")
            )?;
            continue;
        }
        writeln!(
            out,
            "{:<10}  {:>7}  {:<20}  {}",
            text(&e["date"]),
            seq,
            kind,
            text(&e["text"])
        )?;
        for t in e["tests"].as_array().into_iter().flatten() {
            let mark = if t["pass"] == Value::Bool(true) {
                "met"
            } else {
                "NOT met"
            };
            writeln!(
                out,
                "{:<43}{:<7} {}: {}",
                "",
                text(&t["section"]),
                text(&t["rule"]),
                mark
            )?;
        }
        for s in e["steps"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "{:<43}{:<7} {}",
                "",
                text(&s["section"]),
                text(&s["text"])
            )?;
        }
    }
    let now = &v["now"];
    writeln!(
        out,
        "\nnow: status {}, balance {}, deficiency {}, contributed {}, refunded {}, shares held {}, certificated {}",
        text(&now["status"]),
        text(&now["balance"]),
        text(&now["deficiency"]),
        text(&now["contributed"]),
        text(&now["refunded"]),
        text(&now["shares_held"]),
        text(&now["shares_certificated"])
    )
}

/// The columns of a purchase preview's rows.
pub const PREVIEW_COLUMNS: [&str; 8] = [
    "employee", "balance", "wanted", "shares", "cost", "refunded", "carried", "binds",
];

/// `purchase --preview`: JSON, the rows as CSV, or the rows, totals and checks for people.
pub fn print_preview(out: &mut impl Write, format: Format, v: &Value) -> std::io::Result<()> {
    let rows: Vec<Value> = v["allocations"].as_array().cloned().unwrap_or_default();
    match format {
        Format::Json => writeln!(out, "{v}"),
        Format::Csv => print_rows(out, format, &rows, &PREVIEW_COLUMNS),
        Format::Table | Format::Markdown | Format::Html => {
            writeln!(
                out,
                "PREVIEW (nothing appended): purchase of period {} on {}{}",
                text(&v["period"]),
                text(&v["date"]),
                v["hypothetical_close"]
                    .as_str()
                    .map(|c| format!(" with a hypothetical close of {c}"))
                    .unwrap_or_default()
            )?;
            writeln!(
                out,
                "FMV at grant {} ({}), FMV at purchase {}, price {}{}\n",
                text(&v["fmv_grant"]),
                text(&v["grant_date"]),
                text(&v["fmv_purchase"]),
                text(&v["price"]),
                if v["prorated"] == Value::Bool(true) {
                    ", prorated (§13)"
                } else {
                    ""
                }
            )?;
            print_rows(out, format, &rows, &PREVIEW_COLUMNS)?;
            let t = &v["totals"];
            writeln!(
                out,
                "\ntotal: {} participants, {} shares, cost {}, refunded {}, carried {}",
                text(&t["participants"]),
                text(&t["shares"]),
                text(&t["cost"]),
                text(&t["refunded"]),
                text(&t["carried"])
            )?;
            let c = &v["checks"];
            let names = |k: &str| {
                let list: Vec<String> = c[k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x.get("employee").map_or_else(|| text(x), text))
                    .collect();
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            };
            writeln!(
                out,
                "participants with no deductions: {}",
                names("no_deductions")
            )?;
            writeln!(
                out,
                "balances above the annual headroom (§9 cap binds): {}",
                names("above_annual_headroom")
            )?;
            writeln!(out, "prorated (§13): {}", names("prorated"))?;
            writeln!(
                out,
                "within 10% of the 5% owner cap (§4(d)): {}",
                names("near_owner_cap")
            )?;
            writeln!(out, "reserve left after it: {}", text(&c["reserve_left"]))
        }
    }
}
