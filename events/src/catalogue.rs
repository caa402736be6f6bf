//! The event reference, read off the one table that declares the events (`define_events!`)
//! and the rules (`define_rules!`): every type, its fields with their value kinds, which are
//! optional, their defaults, a purpose, an example line, and a JSON Schema of one line.
//!
//! Nothing here is written a second time by hand: field names, kinds and optionality come
//! from the same declarations the parser reads ([`crate::json::JsonField`] gives each Rust
//! type its [`Kind`]), so the reference cannot drift from what `parse_line` accepts.

use serde_json::{json, Map, Value};

/// What a field's value looks like in the interchange format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Dollars as a decimal string with at most 2 places.
    Money,
    /// A value per share as a decimal string.
    PerShare,
    /// A number of shares as a decimal string.
    Shares,
    /// A fraction from 0 to 1 as a decimal string.
    Fraction,
    /// A plain decimal string (hours, months).
    Quantity,
    /// A ratio as a decimal string or `NEW:OLD`.
    Ratio,
    /// A day `YYYY-MM-DD`.
    Day,
    /// An RFC 3339 UTC instant.
    Instant,
    /// An employee id.
    EmployeeId,
    /// A period id.
    PeriodId,
    /// Free text (at most 256 characters, no control characters).
    Text,
    /// An actor name.
    Actor,
    /// `true` or `false`.
    Bool,
    /// A JSON integer count of months, years or decimal places.
    Count,
    /// A positive JSON integer (a seq).
    Seq,
    /// A lowercase hyphenated UUID.
    Uuid,
    /// 64 lowercase hex digits.
    Hash,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A non-empty array of values per share.
    PriceList,
    /// An object of plan rules, every field optional (see [`RULES`]).
    Rules,
}

/// A decimal string: digits, an optional point and fraction; no sign, exponent or spaces.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";
/// Money: a decimal string with at most 2 places.
pub const MONEY_PATTERN: &str = r"^[0-9]+(\.[0-9]{1,2})?$";
/// A day.
pub const DAY_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// An employee or period id.
pub const ID_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";

impl Kind {
    /// A short name for the kind, as the reference's tables show it.
    pub fn name(self) -> String {
        match self {
            Kind::Money => "money".into(),
            Kind::PerShare => "per-share value".into(),
            Kind::Shares => "shares".into(),
            Kind::Fraction => "fraction".into(),
            Kind::Quantity => "decimal".into(),
            Kind::Ratio => "ratio".into(),
            Kind::Day => "day".into(),
            Kind::Instant => "instant".into(),
            Kind::EmployeeId => "employee id".into(),
            Kind::PeriodId => "period id".into(),
            Kind::Text => "text".into(),
            Kind::Actor => "actor".into(),
            Kind::Bool => "bool".into(),
            Kind::Count => "integer".into(),
            Kind::Seq => "seq".into(),
            Kind::Uuid => "uuid".into(),
            Kind::Hash => "hash".into(),
            Kind::Choice(all) => all
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(" | "),
            Kind::PriceList => "array of per-share values".into(),
            Kind::Rules => "rules object".into(),
        }
    }

    /// Every kind that has a line of its own in the reference's list of value kinds.
    pub const LISTED: &'static [Kind] = &[
        Kind::Money,
        Kind::PerShare,
        Kind::Shares,
        Kind::Fraction,
        Kind::Quantity,
        Kind::Ratio,
        Kind::Day,
        Kind::Instant,
        Kind::EmployeeId,
        Kind::PeriodId,
        Kind::Text,
        Kind::Bool,
        Kind::Count,
        Kind::Uuid,
    ];

    /// What a value of the kind looks like, in words, with an example.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Money => "dollars as a decimal string with at most 2 places: \"4000.00\"",
            Kind::PerShare => "a value per share as a decimal string, any number of places: \"12.5025\"",
            Kind::Shares => "a number of shares as a decimal string: \"100\", \"2.5\"",
            Kind::Fraction => "a fraction from 0 to 1 as a decimal string: \"0.10\" is 10%",
            Kind::Quantity => "a decimal string: \"40\", \"37.5\"",
            Kind::Ratio => "new shares per old share as a decimal string (\"2\") or \"NEW:OLD\" with two positive integers (\"1:3\")",
            Kind::Day => "a day \"YYYY-MM-DD\": \"2026-01-15\"",
            Kind::Instant => "an RFC 3339 UTC instant: \"2026-01-15T09:30:00Z\"",
            Kind::EmployeeId => "1-64 letters, digits, '-', '_', '.': \"E1\"",
            Kind::PeriodId => "1-64 letters, digits, '-', '_', '.': \"2026H1\"",
            Kind::Text => "a string of at most 256 characters without control characters",
            Kind::Actor => "who recorded the event",
            Kind::Bool => "true or false (JSON booleans, not strings)",
            Kind::Count => "a JSON integer from 0 to 1200 (months, years, decimal places)",
            Kind::Seq => "a positive JSON integer",
            Kind::Uuid => "a UUID in lowercase hyphenated form: \"0193f0a4-7c00-7000-8000-000000000001\"",
            Kind::Hash => "64 lowercase hex digits",
            Kind::Choice(_) => "one of the strings listed",
            Kind::PriceList => "a non-empty JSON array of per-share values: [\"12.50\", \"12.75\"]",
            Kind::Rules => "a JSON object of plan rules, every field optional (see the rules table)",
        }
    }

    /// The JSON Schema (draft 2020-12) of a value of the kind.
    pub fn schema(self) -> Value {
        let string = |pattern: &str| json!({"type": "string", "pattern": pattern});
        match self {
            Kind::Money => string(MONEY_PATTERN),
            Kind::PerShare | Kind::Shares | Kind::Fraction | Kind::Quantity => {
                string(DECIMAL_PATTERN)
            }
            Kind::Ratio => string(r"^([0-9]+(\.[0-9]+)?|[0-9]+:[0-9]+)$"),
            Kind::Day => json!({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
            Kind::Instant => json!({"type": "string", "format": "date-time",
                "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"}),
            Kind::EmployeeId | Kind::PeriodId => string(ID_PATTERN),
            Kind::Text | Kind::Actor => json!({"type": "string", "maxLength": 256}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Count => json!({"type": "integer", "minimum": 0, "maximum": 1200}),
            Kind::Seq => json!({"type": "integer", "minimum": 1}),
            Kind::Uuid => json!({"type": "string", "format": "uuid",
                "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}),
            Kind::Hash => string("^[0-9a-f]{64}$"),
            Kind::Choice(all) => json!({"type": "string", "enum": all}),
            Kind::PriceList => {
                json!({"type": "array", "minItems": 1, "items": string(DECIMAL_PATTERN)})
            }
            Kind::Rules => json!({"$ref": "#/$defs/rules"}),
        }
    }
}

/// One field of an event (or of the rules, or of the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Its JSON name.
    pub name: &'static str,
    /// What its value looks like.
    pub kind: Kind,
    /// Whether a line may leave it out.
    pub optional: bool,
    /// What leaving it out means, in words (empty when it is required or simply absent).
    pub default: &'static str,
    /// What it is for, as its doc comment says it (trim it: a doc comment keeps its leading
    /// space); empty where the event's purpose says it all.
    pub purpose: &'static str,
}

/// One event type of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    /// Its `type`.
    pub type_name: &'static str,
    /// What it records, in one line (its doc comment; trim it).
    pub purpose: &'static str,
    /// Its fields besides `type`, `date` and `id`, in declaration order.
    pub fields: &'static [FieldSpec],
    /// A line that parses.
    pub example: &'static str,
}

/// The fields every event line has: `type`, `date` and an optional `id`.
pub const COMMON: &[FieldSpec] = &[
    FieldSpec {
        name: "type",
        kind: Kind::Choice(crate::event::Event::TYPES),
        optional: false,
        default: "",
        purpose: "the event type",
    },
    FieldSpec {
        name: "date",
        kind: Kind::Day,
        optional: false,
        default: "",
        purpose: "the day it takes effect",
    },
    FieldSpec {
        name: "id",
        kind: Kind::Uuid,
        optional: true,
        default: "a fresh UUID",
        purpose:
            "appending the same id again is a no-op; the same id with other content is refused",
    },
];

/// The envelope the engine adds and `espp export` shows; a line has all of it or none.
pub const ENVELOPE: &[FieldSpec] = &[
    FieldSpec {
        name: "seq",
        kind: Kind::Seq,
        optional: true,
        default: "",
        purpose: "the record's place in the log",
    },
    FieldSpec {
        name: "recorded_at",
        kind: Kind::Instant,
        optional: true,
        default: "",
        purpose: "when it was appended",
    },
    FieldSpec {
        name: "actor",
        kind: Kind::Actor,
        optional: true,
        default: "",
        purpose: "who appended it",
    },
    FieldSpec {
        name: "prev_hash",
        kind: Kind::Hash,
        optional: true,
        default: "",
        purpose: "the previous record's hash (64 zeros for seq 1)",
    },
    FieldSpec {
        name: "hash",
        kind: Kind::Hash,
        optional: true,
        default: "",
        purpose: "SHA-256 of prev_hash, a newline and the record's canonical JSON without hash",
    },
];

/// Every event type, in catalogue order.
pub fn events() -> &'static [EventSpec] {
    crate::event::Event::CATALOGUE
}

/// The fields of the `rules` object, with the plan's defaults as JSON.
pub fn rules() -> Vec<(FieldSpec, Value)> {
    let defaults = crate::rules::RulesPatch::from(&crate::rules::Rules::default()).to_json();
    crate::rules::RulesPatch::SPECS
        .iter()
        .map(|f| (*f, defaults.get(f.name).cloned().unwrap_or(Value::Null)))
        .collect()
}

/// The JSON Schema (draft 2020-12) of one line of event input or export: one branch per
/// event type, told apart by `type`; envelope fields all present or all absent.
pub fn schema() -> Value {
    let field_schema = |f: &FieldSpec| {
        let mut s = f.kind.schema();
        if let Value::Object(m) = &mut s {
            if !f.purpose.trim().is_empty() {
                m.insert("description".into(), Value::String(f.purpose.trim().into()));
            }
        }
        s
    };
    let branches: Vec<Value> = events()
        .iter()
        .map(|e| {
            let mut props = Map::new();
            let mut required = vec![Value::from("type"), Value::from("date")];
            props.insert("type".into(), json!({"const": e.type_name}));
            for f in COMMON.iter().skip(1).chain(ENVELOPE).chain(e.fields) {
                props.insert(f.name.into(), field_schema(f));
            }
            required.extend(
                e.fields
                    .iter()
                    .filter(|f| !f.optional)
                    .map(|f| Value::from(f.name)),
            );
            json!({
                "title": e.type_name,
                "description": e.purpose.trim(),
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": false,
                "examples": [serde_json::from_str::<Value>(e.example).unwrap_or(Value::Null)],
            })
        })
        .collect();
    let mut rule_props = Map::new();
    for (f, default) in rules() {
        let mut s = field_schema(&f);
        if let Value::Object(m) = &mut s {
            m.insert("default".into(), default);
        }
        rule_props.insert(f.name.into(), s);
    }
    let mut dependent = Map::new();
    for f in ENVELOPE {
        let others: Vec<Value> = ENVELOPE
            .iter()
            .filter(|o| o.name != f.name)
            .map(|o| Value::from(o.name))
            .chain([Value::from("id")])
            .collect();
        dependent.insert(f.name.into(), Value::Array(others));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://espp-ledger.invalid/schema/event-line.json",
        "title": "espp-ledger event line",
        "description": "One line of JSON Lines input to `espp append` (or of `espp export` output, with the whole envelope). Every number is a decimal string. Generated by `espp schema`.",
        "type": "object",
        "required": ["type", "date"],
        "properties": {"type": {"enum": crate::event::Event::TYPES}},
        "dependentRequired": dependent,
        "oneOf": branches,
        "$defs": {
            "rules": {
                "description": "Plan rules, every field optional; defaults are the plan's.",
                "type": "object",
                "properties": rule_props,
                "additionalProperties": false,
            }
        }
    })
}
