//! §12 statements as self-contained HTML pages (`statement --format html --out DIR`): one
//! page per employee and an index linking them, with no external asset and no script; each
//! period's closing prices drawn as an inline SVG chart marking the grant FMV, the purchase
//! FMV and the price. Every text put in a page goes through [`escape`].

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::text;

/// The statement rows of a page, in reading order: opening balance + deductions + cash
/// payments − cost − refunds = carried, then the shares.
pub const ROWS: [(&str, &str); 10] = [
    ("opening_balance", "Opening balance"),
    ("deductions", "+ Payroll deductions"),
    ("cash_payments", "+ Cash payments"),
    ("cost", "− Cost of shares bought"),
    ("refunds", "− Refunds"),
    ("carried", "= Carried (closing balance)"),
    ("shares_bought", "Shares bought"),
    ("price", "Purchase price per share"),
    ("shares_held_end", "Shares held at the period's end"),
    ("purchased", "Purchase executed"),
];

/// `s` safe as HTML text and as a quoted attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The file a statement page of `employee` is written to (ids are letters, digits, `-`,
/// `_`, `.`; the prefix keeps an employee called `index` off the index page).
pub fn file_name(employee: &str) -> String {
    format!("statement-{employee}.html")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #bbb;padding:.3em .7em}td.n{text-align:right;font-family:monospace}\
.check{color:#060}.bad{color:#a00}svg{border:1px solid #ddd}";

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| Decimal::from_str(s).ok())
}

/// One employee's page: each period statement as a table that reconciles, with the
/// period's chart. `markets` holds [`State::period_market`] of each period, by id.
///
/// [`State::period_market`]: espp_projections::State::period_market
pub fn statement_page(
    plan: &str,
    employee: &str,
    statements: &[Value],
    markets: &std::collections::BTreeMap<String, Value>,
) -> String {
    let mut h = head(&format!("{plan}: statement of {employee}"));
    h.push_str(&format!(
        "<h1>{}</h1>\n<p>Employee Stock Purchase Plan statement (§12) of employee \
         <strong class=\"employee\">{}</strong></p>\n",
        escape(plan),
        escape(employee)
    ));
    if statements.is_empty() {
        h.push_str("<p>No period with a purchase.</p>\n");
    }
    for s in statements {
        let period = text(&s["period"]);
        h.push_str(&format!(
            "<section class=\"statement\" data-period=\"{p}\">\n<h2>Period {p}: {} to {}</h2>\n\
             <table>\n<tbody>\n",
            escape(&text(&s["start"])),
            escape(&text(&s["end"])),
            p = escape(&period),
        ));
        for (key, label) in ROWS {
            let v = match &s[key] {
                Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
                other => text(other),
            };
            h.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td class=\"n\" data-key=\"{key}\">{}</td></tr>\n",
                escape(label),
                escape(&v)
            ));
        }
        h.push_str("</tbody>\n</table>\n");
        h.push_str(&reconciliation(s));
        if let Some(m) = markets.get(&period) {
            h.push_str(&chart(m));
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// The sentence that proves the table: opening + deductions + cash − cost − refunds =
/// carried, worked with the row's own figures.
fn reconciliation(s: &Value) -> String {
    let get = |k: &str| decimal(&s[k]).unwrap_or_default();
    let sum = get("opening_balance") + get("deductions") + get("cash_payments")
        - get("cost")
        - get("refunds");
    let ok = sum == get("carried");
    format!(
        "<p class=\"{}\">{} + {} + {} − {} − {} = {} {} carried {}</p>\n",
        if ok { "check" } else { "bad" },
        escape(&text(&s["opening_balance"])),
        escape(&text(&s["deductions"])),
        escape(&text(&s["cash_payments"])),
        escape(&text(&s["cost"])),
        escape(&text(&s["refunds"])),
        escape(&sum.to_string()),
        if ok { "=" } else { "≠" },
        escape(&text(&s["carried"])),
    )
}

// The chart's frame, in SVG user units.
const WIDTH: i64 = 640;
const HEIGHT: i64 = 240;
const LEFT: i64 = 70;
const RIGHT: i64 = 130;
const TOP: i64 = 20;
const BOTTOM: i64 = 30;

/// The period's FMV on each trading day as a polyline, with the grant FMV, the purchase FMV
/// and the price as labelled horizontal lines. Coordinates are decimals rounded to one
/// place.
fn chart(m: &Value) -> String {
    let prices: Vec<(String, Decimal)> = m["prices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((text(&p["date"]), decimal(&p["fmv"])?)))
        .collect();
    let marks: Vec<(&str, &str, Decimal)> = [
        ("fmv_grant", "grant FMV", "#1565c0"),
        ("fmv_purchase", "purchase FMV", "#2e7d32"),
        ("price", "price", "#c62828"),
    ]
    .into_iter()
    .filter_map(|(k, label, colour)| decimal(&m[k]).map(|v| (label, colour, v)))
    .collect();
    let values = prices.iter().map(|p| p.1).chain(marks.iter().map(|m| m.2));
    let (Some(lo), Some(hi)) = (values.clone().min(), values.max()) else {
        return "<p>No prices in this period.</p>\n".to_string();
    };
    let plot_w = Decimal::from(WIDTH - LEFT - RIGHT);
    let plot_h = Decimal::from(HEIGHT - TOP - BOTTOM);
    let y = |v: Decimal| -> Decimal {
        let frac = if hi == lo {
            Decimal::new(5, 1)
        } else {
            (hi - v) / (hi - lo)
        };
        (Decimal::from(TOP) + frac * plot_h).round_dp(1)
    };
    let n = prices.len();
    let x = |i: usize| -> Decimal {
        let step = if n > 1 {
            Decimal::from(i) / Decimal::from(n - 1)
        } else {
            Decimal::new(5, 1)
        };
        (Decimal::from(LEFT) + step * plot_w).round_dp(1)
    };
    let mut s = format!(
        "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\n",
        escape(&format!("closing prices of period {}", text(&m["period"])))
    );
    // The value axis: the highest and the lowest value shown.
    for v in [hi, lo] {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
            LEFT - 6,
            y(v),
            escape(&v.to_string())
        ));
    }
    let points: Vec<String> = prices
        .iter()
        .enumerate()
        .map(|(i, (_, v))| format!("{},{}", x(i), y(*v)))
        .collect();
    if !points.is_empty() {
        s.push_str(&format!(
            "<polyline class=\"closes\" fill=\"none\" stroke=\"#444\" stroke-width=\"1.5\" \
             points=\"{}\"/>\n",
            points.join(" ")
        ));
    }
    for (i, (day, v)) in prices.iter().enumerate() {
        s.push_str(&format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"2\" fill=\"#444\"><title>{}</title></circle>\n",
            x(i),
            y(*v),
            escape(&format!("{day}: {v}"))
        ));
    }
    for (label, colour, v) in &marks {
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yv}\" y2=\"{yv}\" stroke=\"{colour}\" \
             stroke-dasharray=\"4 3\"/>\n<text class=\"mark\" x=\"{}\" y=\"{yv}\" \
             font-size=\"11\" fill=\"{colour}\">{}</text>\n",
            WIDTH - RIGHT,
            WIDTH - RIGHT + 4,
            escape(&format!("{label} {v}")),
            yv = y(*v),
        ));
    }
    if let (Some(first), Some(last)) = (prices.first(), prices.last()) {
        let base = HEIGHT - BOTTOM + 16;
        s.push_str(&format!(
            "<text x=\"{LEFT}\" y=\"{base}\" font-size=\"11\">{}</text>\n\
             <text x=\"{}\" y=\"{base}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
            escape(&first.0),
            WIDTH - RIGHT,
            escape(&last.0)
        ));
    }
    s.push_str(&format!(
        "</svg>\n<figcaption>{}</figcaption>\n</figure>\n",
        escape(&format!(
            "FMV on each trading day of period {}; dashed: the grant FMV, the purchase FMV and \
             the purchase price",
            text(&m["period"])
        ))
    ));
    s
}

/// The index page: one link per employee's page, with the period's figures.
pub fn index_page(
    plan: &str,
    period: Option<&str>,
    pages: &[(String, String, Vec<Value>)],
) -> String {
    let title = match period {
        Some(p) => format!("{plan}: statements of period {p}"),
        None => format!("{plan}: statements"),
    };
    let mut h = head(&title);
    h.push_str(&format!(
        "<h1>{}</h1>\n<table>\n<thead><tr><th>employee</th><th>periods</th>\
         <th>shares bought</th></tr></thead>\n<tbody>\n",
        escape(&title)
    ));
    for (employee, file, statements) in pages {
        let shares: Decimal = statements
            .iter()
            .filter_map(|s| decimal(&s["shares_bought"]))
            .sum();
        h.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(file),
            escape(employee),
            statements.len(),
            escape(&shares.normalize().to_string())
        ));
    }
    h.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    h
}
