//! The JSON mapping of INTERCHANGE.md, written by hand so that every refusal names its field.
//!
//! Input is strict: a line is one JSON object; duplicate keys, unknown or missing fields,
//! JSON numbers where a decimal string belongs and `null` are refused. Output is canonical:
//! `serde_json`'s map keeps keys sorted, so `to_string` of a record's value *is* the
//! canonical JSON that the hash chain covers.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalogue::Kind;
use crate::event::{
    CapitalChangeKind, ElectionChoice, EndReason, Event, LeaveKind, StopOption, TerminationReason,
};
use crate::record::{Envelope, Record};
use crate::rules::{Count, Residual, RulesPatch};
use crate::value::{
    Actor, Day, EmployeeId, Fraction, Hash, Instant, Money, PerShare, PeriodId, Quantity, Ratio,
    Shares, ValueError,
};

/// A refused field: its name (a dotted path inside nested objects; empty for the whole
/// line) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, like `gross_pay` or `rules.max_rate`; empty when the line itself is wrong.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
    fn whole(message: impl Into<String>) -> Self {
        FieldError::new("", message)
    }
    fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.field)
        };
        FieldError { field, ..self }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// The fields of one JSON object, consumed one by one; whatever is left is unknown.
///
/// A short list searched in order, not a map: an event has at most a dozen fields, and a
/// payday's 10,000 lines each built and emptied a `BTreeMap` (issue 15: a fifth of the
/// parse). The keys are distinct (both readers refuse or drop a repeated one before).
#[derive(Debug)]
pub struct Fields<'a> {
    list: Vec<(Cow<'a, str>, Field<'a>)>,
}

/// One field's value as read: the text of a plain JSON string borrowed from the line (what
/// [`flat_string_object`] finds, nearly every field of a payroll feed), or any JSON value.
#[derive(Debug)]
pub(crate) enum Field<'a> {
    Text(&'a str),
    Json(Value),
}

impl<'a> Fields<'a> {
    /// Fields from a JSON object's members (distinct keys: a serde_json map's).
    fn of_json(members: impl IntoIterator<Item = (String, Value)>) -> Self {
        Fields {
            list: members
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Field::Json(v)))
                .collect(),
        }
    }

    /// Takes field `key` (absent is `None` for optional types, an error for the others).
    pub(crate) fn get<T: JsonField>(&mut self, key: &str) -> Result<T, FieldError> {
        let v = self
            .list
            .iter()
            .position(|(k, _)| k == key)
            .map(|i| self.list.swap_remove(i).1);
        T::from_field(v).map_err(|e| e.within(key))
    }

    fn has(&self, key: &str) -> bool {
        self.list.iter().any(|(k, _)| k == key)
    }

    /// Refuses a field left over (the first in key order), naming what is `allowed`
    /// (written only then).
    fn finish(self, allowed: impl FnOnce() -> String) -> Result<(), FieldError> {
        match self.list.into_iter().map(|(k, _)| k).min() {
            None => Ok(()),
            Some(k) => Err(FieldError::new(
                k.into_owned(),
                format!("unknown field; {}", allowed()),
            )),
        }
    }
}

/// Writes an optional field into an output object.
pub(crate) fn put<T: JsonField>(m: &mut Map<String, Value>, key: &str, v: &T) {
    if let Some(v) = v.to_field() {
        m.insert(key.to_string(), v);
    }
}

/// Describes a JSON value for an error message.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the JSON number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("the string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A type that is one field's value in the interchange format.
pub(crate) trait JsonField: Sized {
    /// What the value should look like, for error messages.
    const EXPECTED: &'static str;
    /// Its kind, for the reference (`espp events`, `espp schema`).
    const KIND: Kind;
    /// Whether a line may leave the field out (only `Option`s).
    const OPTIONAL: bool = false;
    fn from_value(v: &Value) -> Result<Self, FieldError>;
    fn to_value(&self) -> Value;
    /// The value of a JSON string field with text `s` (no escapes): as
    /// [`JsonField::from_value`] of that string, without building it where the type reads
    /// text directly.
    fn from_text(s: &str) -> Result<Self, FieldError> {
        Self::from_value(&Value::String(s.to_owned()))
    }

    fn from_field(v: Option<Field<'_>>) -> Result<Self, FieldError> {
        match v {
            None => Err(FieldError::whole(format!(
                "missing; expected {}",
                Self::EXPECTED
            ))),
            Some(Field::Text(s)) => Self::from_text(s),
            Some(Field::Json(v)) => Self::from_value(&v),
        }
    }
    fn to_field(&self) -> Option<Value> {
        Some(self.to_value())
    }
    fn wrong(v: &Value) -> FieldError {
        FieldError::whole(format!("expected {}, got {}", Self::EXPECTED, describe(v)))
    }
    /// Whether [`JsonField::to_field`] gives a value (an absent optional field gives none).
    fn is_present(&self) -> bool {
        true
    }
    /// Appends the JSON text of [`JsonField::to_value`] to `out`, byte for byte, without
    /// building the `Value` (issue 15: `verify` hashes every record's canonical JSON).
    fn write_json(&self, out: &mut Vec<u8>) {
        write_value(out, &self.to_value());
    }
}

/// Appends `v` as `serde_json` prints it (compact; object keys sorted).
fn write_value(out: &mut Vec<u8>, v: &Value) {
    // Writing into memory cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Whether `serde_json` escapes byte `b` inside a string (`"`, `\\` and control characters
/// below U+0020; every other byte of UTF-8 text is copied).
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any byte of `bytes` needs escaping: every byte looked at (no early exit), which
/// the compiler turns into a few wide comparisons (`verify` scans every record's strings).
fn has_escape(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |any, &b| any | needs_escape(b))
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if has_escape(s.as_bytes()) {
        write_value(out, &Value::String(s.to_string()));
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// A string-valued field's text: its `Display`, appended directly where that is faster.
pub(crate) trait JsonText: fmt::Display {
    /// Appends exactly what `to_string` gives.
    fn write_text(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing into memory cannot fail.
        let _ = write!(out, "{self}");
    }
    /// True when the text is printable ASCII by construction (digits, signs, hex, the
    /// punctuation of days and instants), which JSON never escapes: not scanned then.
    fn plain(&self) -> bool {
        false
    }
}

macro_rules! decimal_text {
    ($($ty:ty),*) => {$(
        impl JsonText for $ty {
            fn write_text(&self, out: &mut Vec<u8>) {
                crate::value::write_decimal(self.get(), out);
            }
            fn plain(&self) -> bool {
                true
            }
        }
    )*};
}
decimal_text!(Money, Fraction, Shares, PerShare, Quantity);
impl JsonText for Ratio {}
impl JsonText for Day {
    fn write_text(&self, out: &mut Vec<u8>) {
        Day::write_text(*self, out);
    }
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for Instant {
    fn write_text(&self, out: &mut Vec<u8>) {
        Instant::write_text(*self, out);
    }
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for Hash {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hex());
    }
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for Uuid {
    fn write_text(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.extend_from_slice(self.hyphenated().encode_lower(&mut buf).as_bytes());
    }
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for EmployeeId {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }
    /// Letters, digits, `-`, `_` and `.` only: every constructor and decoder checks
    /// (`check_id`).
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for PeriodId {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }
    /// Letters, digits, `-`, `_` and `.` only: every constructor and decoder checks
    /// (`check_id`).
    fn plain(&self) -> bool {
        true
    }
}
impl JsonText for Actor {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }
}
impl JsonText for String {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

/// Appends `v`'s text as a JSON string, as `Value::String(v.to_string())` prints.
pub(crate) fn write_json_text(out: &mut Vec<u8>, v: &dyn JsonText) {
    let start = out.len();
    out.push(b'"');
    v.write_text(out);
    if !v.plain() && has_escape(&out[start + 1..]) {
        let text = String::from_utf8_lossy(&out[start + 1..]).into_owned();
        out.truncate(start);
        write_value(out, &Value::String(text));
    } else {
        out.push(b'"');
    }
}

/// A field's value as [`Record::write_canonical_json`] writes it: object-safe, so that an
/// event's fields and the envelope's can be sorted together by key.
pub(crate) trait WriteField {
    /// Whether the field appears in the object at all.
    fn is_set(&self) -> bool;
    /// Appends its JSON text.
    fn put_json(&self, out: &mut Vec<u8>);
}

impl<T: JsonField> WriteField for T {
    fn is_set(&self) -> bool {
        self.is_present()
    }
    fn put_json(&self, out: &mut Vec<u8>) {
        self.write_json(out);
    }
}

impl<T: JsonField> JsonField for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    const KIND: Kind = T::KIND;
    const OPTIONAL: bool = true;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        T::from_value(v).map(Some)
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
    fn from_field(v: Option<Field<'_>>) -> Result<Self, FieldError> {
        v.map(|f| T::from_field(Some(f))).transpose()
    }
    fn to_field(&self) -> Option<Value> {
        self.as_ref().map(T::to_value)
    }
    fn is_present(&self) -> bool {
        self.is_some()
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

fn string_value<'a>(v: &'a Value, expected: &str) -> Result<&'a str, FieldError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Err(FieldError::whole(format!(
            "expected {expected}, got the JSON number {n} (numbers are written as strings here: \"{n}\")"
        ))),
        other => Err(FieldError::whole(format!("expected {expected}, got {}", describe(other)))),
    }
}

fn value_error(e: ValueError) -> FieldError {
    FieldError::whole(e.0)
}

macro_rules! string_field {
    ($ty:ty, $kind:expr, $expected:literal, $parse:expr) => {
        impl JsonField for $ty {
            const EXPECTED: &'static str = $expected;
            const KIND: Kind = $kind;
            fn from_value(v: &Value) -> Result<Self, FieldError> {
                Self::from_text(string_value(v, Self::EXPECTED)?)
            }
            fn from_text(s: &str) -> Result<Self, FieldError> {
                let parse: fn(&str) -> Result<$ty, FieldError> = $parse;
                parse(s)
            }
            fn to_value(&self) -> Value {
                Value::String(self.to_string())
            }
            fn write_json(&self, out: &mut Vec<u8>) {
                write_json_text(out, self);
            }
        }
    };
}

string_field!(
    Money,
    Kind::Money,
    "an amount of money as a decimal string with at most 2 places (like \"4000.00\")",
    |s| Money::parse(s).map_err(value_error)
);
string_field!(
    Fraction,
    Kind::Fraction,
    "a fraction from 0 to 1 as a decimal string (like \"0.10\")",
    |s| Fraction::parse(s).map_err(value_error)
);
string_field!(
    Shares,
    Kind::Shares,
    "a number of shares as a decimal string (like \"100\")",
    |s| Shares::parse(s).map_err(value_error)
);
string_field!(
    PerShare,
    Kind::PerShare,
    "a value per share as a decimal string (like \"12.50\")",
    |s| PerShare::parse(s).map_err(value_error)
);
string_field!(
    Quantity,
    Kind::Quantity,
    "a decimal string (like \"40\")",
    |s| { Quantity::parse(s).map_err(value_error) }
);
string_field!(
    Ratio,
    Kind::Ratio,
    "a ratio as a decimal string (\"2\") or \"NEW:OLD\" (\"1:3\")",
    |s| Ratio::parse(s).map_err(value_error)
);
string_field!(Day, Kind::Day, "a day \"YYYY-MM-DD\"", |s| Day::parse(s)
    .map_err(value_error));
string_field!(
    Instant,
    Kind::Instant,
    "an RFC 3339 UTC instant (like \"2026-01-15T09:30:00Z\")",
    |s| Instant::parse(s).map_err(value_error)
);
string_field!(
    EmployeeId,
    Kind::EmployeeId,
    "an employee id (1-64 letters, digits, '-', '_', '.')",
    |s| EmployeeId::new(s).map_err(value_error)
);
string_field!(
    PeriodId,
    Kind::PeriodId,
    "a period id (1-64 letters, digits, '-', '_', '.')",
    |s| PeriodId::new(s).map_err(value_error)
);
string_field!(Actor, Kind::Actor, "an actor name", |s| Actor::new(s)
    .map_err(value_error));
string_field!(Hash, Kind::Hash, "64 lowercase hex digits", |s| {
    Hash::parse(s).map_err(value_error)
});
string_field!(
    Uuid,
    Kind::Uuid,
    "a UUID in lowercase hyphenated form",
    |s| {
        match Uuid::try_parse(s) {
        Ok(u) if u.hyphenated().to_string() == s && !u.is_nil() => Ok(u),
        _ => Err(FieldError::whole(format!("expected a UUID in lowercase hyphenated form (like \"0193f0a4-7c00-7000-8000-000000000001\"), got {s:?}"))),
    }
    }
);
string_field!(String, Kind::Text, "a string", |s| {
    if s.chars().any(char::is_control) || s.chars().count() > 256 {
        Err(FieldError::whole(
            "expected at most 256 characters without control characters",
        ))
    } else {
        Ok(s.to_string())
    }
});

macro_rules! choice_field {
    ($ty:ty, $expected:literal) => {
        impl JsonField for $ty {
            const EXPECTED: &'static str = $expected;
            const KIND: Kind = Kind::Choice(<$ty>::ALL);
            fn from_value(v: &Value) -> Result<Self, FieldError> {
                Self::from_text(string_value(v, Self::EXPECTED)?)
            }
            fn from_text(s: &str) -> Result<Self, FieldError> {
                <$ty>::parse(s).ok_or_else(|| {
                    FieldError::whole(format!("expected {}, got {s:?}", Self::EXPECTED))
                })
            }
            fn to_value(&self) -> Value {
                Value::String(self.as_str().to_string())
            }
            fn write_json(&self, out: &mut Vec<u8>) {
                write_json_str(out, self.as_str());
            }
        }
    };
}

choice_field!(TerminationReason, "\"board\" or \"change_in_control\"");
choice_field!(
    CapitalChangeKind,
    "one of \"split\", \"reverse_split\", \"stock_dividend\", \"spin_off\", \"reorganization\""
);
choice_field!(StopOption, "\"reduce\" or \"withdraw\"");
choice_field!(EndReason, "one of \"quit\", \"fired\", \"retired\"");
choice_field!(LeaveKind, "one of \"layoff\", \"leave\", \"disability\"");
choice_field!(
    ElectionChoice,
    "one of \"make_up\", \"reduce\", \"withdraw\""
);
choice_field!(Residual, "\"carry_forward\" or \"refund\"");

impl<T: JsonField> JsonField for Box<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    const KIND: Kind = T::KIND;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        T::from_value(v).map(Box::new)
    }
    fn to_value(&self) -> Value {
        T::to_value(self)
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        T::write_json(self, out);
    }
}

impl JsonField for bool {
    const EXPECTED: &'static str = "true or false";
    const KIND: Kind = Kind::Bool;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        v.as_bool().ok_or_else(|| Self::wrong(v))
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl JsonField for Count {
    const EXPECTED: &'static str = "a JSON integer from 0 to 1200";
    const KIND: Kind = Kind::Count;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .and_then(Count::new)
            .ok_or_else(|| Self::wrong(v))
    }
    fn to_value(&self) -> Value {
        Value::from(self.get())
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing into memory cannot fail.
        let _ = write!(out, "{}", self.get());
    }
}

impl JsonField for u64 {
    const EXPECTED: &'static str = "a positive JSON integer";
    const KIND: Kind = Kind::Seq;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        v.as_u64().filter(|n| *n > 0).ok_or_else(|| Self::wrong(v))
    }
    fn to_value(&self) -> Value {
        Value::from(*self)
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing into memory cannot fail.
        let _ = write!(out, "{self}");
    }
}

impl JsonField for Vec<PerShare> {
    const EXPECTED: &'static str = "an array of prices as decimal strings (like [\"12.50\"])";
    const KIND: Kind = Kind::PriceList;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        let items = v.as_array().ok_or_else(|| Self::wrong(v))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| PerShare::from_value(item).map_err(|e| e.within(&i.to_string())))
            .collect()
    }
    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(JsonField::to_value).collect())
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            p.write_json(out);
        }
        out.push(b']');
    }
}

impl JsonField for RulesPatch {
    const EXPECTED: &'static str = "an object of plan rules";
    const KIND: Kind = Kind::Rules;
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        let Value::Object(m) = v else {
            return Err(Self::wrong(v));
        };
        let mut f = Fields::of_json(m.clone());
        let patch = RulesPatch::from_fields(&mut f)?;
        f.finish(|| format!("plan rules are {}", RulesPatch::FIELDS.join(", ")))?;
        Ok(patch)
    }
    fn to_value(&self) -> Value {
        self.to_json()
    }
}

/// A JSON value parsed with duplicate keys refused (serde_json would keep the last one
/// silently, and a ledger must not guess which `gross_pay` was meant).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    // Only kept to be named in the refusal: no float ever reaches an amount.
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate field `{k}`")));
            }
            out.insert(k, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parses a JSON object of partial plan rules (a `--rules` file, as in `plan_adopted`).
pub fn parse_rules(text: &str) -> Result<RulesPatch, FieldError> {
    let value = match serde_json::from_str::<Strict>(text) {
        Ok(Strict(v)) => v,
        Err(e) => return Err(FieldError::whole(format!("not valid JSON: {e}"))),
    };
    RulesPatch::from_value(&value)
}

/// One event as an administrator or a payroll feed writes it: no envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInput {
    /// The event's id, if the writer gave one (the engine assigns one otherwise).
    pub id: Option<Uuid>,
    /// The day it takes effect.
    pub date: Day,
    /// What happened.
    pub event: Event,
}

impl EventInput {
    /// An event with no id yet.
    pub fn new(date: Day, event: Event) -> Self {
        EventInput {
            id: None,
            date,
            event,
        }
    }

    /// The JSON object of the interchange format.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.event.type_name().into()));
        put(&mut m, "date", &self.date);
        put(&mut m, "id", &self.id);
        self.event.put_fields(&mut m);
        Value::Object(m)
    }
}

/// A line of an input file: a bare event, or an exported record with its whole envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An event without envelope.
    Bare(EventInput),
    /// A record from `espp export`.
    Enveloped(Record),
}

const ENVELOPE_FIELDS: [&str; 5] = ["seq", "recorded_at", "actor", "prev_hash", "hash"];

/// Parses one line of JSON Lines input.
pub fn parse_line(line: &str) -> Result<Line, FieldError> {
    match flat_string_object(line) {
        Some(fields) => line_of_fields(fields),
        None => parse_line_general(line),
    }
}

/// [`parse_line`] through serde_json's parser, whatever the line holds.
fn parse_line_general(line: &str) -> Result<Line, FieldError> {
    let value = match serde_json::from_str::<Strict>(line) {
        Ok(Strict(v)) => v,
        Err(e) => return Err(FieldError::whole(format!("not valid JSON: {e}"))),
    };
    let Value::Object(map) = value else {
        return Err(FieldError::whole(format!(
            "expected a JSON object, got {}",
            describe(&value)
        )));
    };
    line_of_fields(Fields::of_json(map))
}

/// The fields of `line` when it is the common shape of an event line (a payroll feed's
/// every line): one JSON object, at least one field, every value a string with no escape
/// and no control character, no key twice, JSON whitespace only between tokens. None for
/// anything else (including every malformed line), which [`parse_line_general`] then
/// parses or refuses with serde_json's words. For the lines it takes, the fields are
/// exactly the ones serde_json gives, their values the text borrowed from `line` (issue 15: a
/// payday's 10,000 lines without building a `Value` tree, a map, or a `String` a field).
fn flat_string_object(line: &str) -> Option<Fields<'_>> {
    let b = line.as_bytes();
    let ws = |i: &mut usize| {
        while b
            .get(*i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            *i += 1;
        }
    };
    // A string without escapes or control characters: its text, and `i` past it.
    let string = |i: &mut usize| -> Option<&str> {
        if b.get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        let len = b
            .get(start..)?
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let end = start + len;
        if b[end] != b'"' {
            return None;
        }
        *i = end + 1;
        line.get(start..end)
    };
    let mut list: Vec<(Cow<'_, str>, Field<'_>)> = Vec::with_capacity(8);
    let mut i = 0;
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        ws(&mut i);
        let key = string(&mut i)?;
        ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ws(&mut i);
        let value = string(&mut i)?;
        if list.iter().any(|(k, _)| k == key) {
            return None;
        }
        list.push((Cow::Borrowed(key), Field::Text(value)));
        ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => break,
            _ => return None,
        }
    }
    i += 1;
    ws(&mut i);
    (i == b.len()).then_some(Fields { list })
}

/// A line's event (and envelope) from its fields.
fn line_of_fields(mut f: Fields<'_>) -> Result<Line, FieldError> {
    let type_name: String = match f.get::<String>("type") {
        Ok(t) => t,
        Err(e) => {
            return Err(FieldError::new(
                "type",
                format!("{}; expected an event type", e.message),
            ))
        }
    };
    let date: Day = f.get("date")?;
    let id: Option<Uuid> = f.get("id")?;
    let envelope = if ENVELOPE_FIELDS.iter().any(|k| f.has(k)) {
        Some(Envelope {
            seq: f.get("seq")?,
            recorded_at: f.get("recorded_at")?,
            actor: f.get("actor")?,
            prev_hash: f.get("prev_hash")?,
            hash: f.get("hash")?,
        })
    } else {
        None
    };
    let event = Event::from_fields(&type_name, &mut f)?.ok_or_else(|| {
        FieldError::new(
            "type",
            format!(
                "unknown event type {type_name:?}; expected one of {}",
                Event::TYPES.join(", ")
            ),
        )
    })?;
    // "an `enrolled` event", "a `payroll` event".
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    f.finish(|| format!("{article} `{type_name}` event has no such field"))?;
    event.check_shape()?;
    Ok(match envelope {
        None => Line::Bare(EventInput { id, date, event }),
        Some(env) => {
            let id = id.ok_or_else(|| {
                FieldError::new("id", "missing; an exported record carries its id")
            })?;
            Line::Enveloped(Record::from_parts(env, id, date, event))
        }
    })
}

impl Record {
    /// The record as exported: the event's fields and the whole envelope.
    pub fn to_json(&self) -> Value {
        let mut v = self.to_json_without_hash();
        if let Value::Object(m) = &mut v {
            put(m, "hash", &self.hash);
        }
        v
    }

    fn to_json_without_hash(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.event.type_name().into()));
        put(&mut m, "date", &self.date);
        put(&mut m, "id", &self.id);
        put(&mut m, "seq", &self.seq);
        put(&mut m, "recorded_at", &self.recorded_at);
        put(&mut m, "actor", &self.actor);
        put(&mut m, "prev_hash", &self.prev_hash);
        self.event.put_fields(&mut m);
        Value::Object(m)
    }

    /// The canonical JSON the hash covers: the exported object without `hash`, keys sorted,
    /// no whitespace.
    pub fn canonical_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_canonical_json(&mut out);
        String::from_utf8(out).unwrap_or_else(|_| self.canonical_json_via_value())
    }

    /// [`Record::canonical_json`] as it was first written, through a `serde_json::Value` of
    /// the whole record: the oracle the direct writer is tested against.
    #[doc(hidden)]
    pub fn canonical_json_via_value(&self) -> String {
        self.to_json_without_hash().to_string()
    }

    /// Appends [`Record::canonical_json`]'s bytes to `out` without building any
    /// `serde_json::Value` (issue 15: `verify` hashes every record): the keys in their
    /// type's fixed order, each value written directly (`canonical.rs`).
    pub fn write_canonical_json(&self, out: &mut Vec<u8>) {
        crate::canonical::write(self, &self.prev_hash.hex(), None, out);
    }

    /// Appends the exported line's bytes (`to_json()` printed, without its newline) to
    /// `out` the same way: `espp export` writes every record.
    pub fn write_exported_json(&self, out: &mut Vec<u8>) {
        crate::canonical::write(self, &self.prev_hash.hex(), Some(&self.hash.hex()), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast path gives what serde_json's gives, event or refusal, word for word.
    fn same_as_general(line: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            format!("{:?}", parse_line(line)),
            format!("{:?}", parse_line_general(line)),
            "{}",
            line
        );
        Ok(())
    }

    const PAYROLL: &str =
        r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00"}"#;

    #[test]
    fn the_fast_path_takes_flat_lines_and_leaves_the_rest() {
        assert!(flat_string_object(PAYROLL).is_some());
        assert!(flat_string_object(" {\t\"a\" : \"b\" }\r\n").is_some());
        for other in [
            "{}",
            r#"{"a":"b","a":"c"}"#,
            r#"{"a":"b\"c"}"#,
            r#"{"a":1}"#,
            r#"{"a":["b"]}"#,
            r#"{"a":"b"} x"#,
            r#"{"a":"b",}"#,
            "{\"a\":\"b\u{1}\"}",
            r#"["a"]"#,
        ] {
            assert!(flat_string_object(other).is_none(), "{other}");
        }
        let lines = [
            PAYROLL,
            r#"  {"date":"2026-01-15" , "type":"payroll","gross_pay":"4000.00","employee":"E1"}  "#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00","id":"0190c3c5-0000-7000-8000-000000000001"}"#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00","x":"y"}"#,
            r#"{"type":"payroll","date":"2026-02-30","employee":"E1","gross_pay":"4000.00"}"#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"E 1","gross_pay":"-4"}"#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"E1"}"#,
            r#"{"type":"payrol","date":"2026-01-15"}"#,
            r#"{"type":"stockholders_approved","date":"2026-01-15"}"#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"É1","gross_pay":"4000.00"}"#,
            r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00","seq":"1"}"#,
            r#"{"date":"2026-01-15"}"#,
        ];
        for line in lines {
            same_as_general(line).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    proptest! {
        /// Any edit of a payroll line (a byte replaced, inserted or removed, from a set of
        /// the characters that matter to JSON) is taken or refused as serde_json's path
        /// takes or refuses it.
        #[test]
        fn the_fast_path_agrees_with_serde_json(
            edits in proptest::collection::vec((0usize..200, 0usize..3, proptest::sample::select(vec![
                '"', '\\', '{', '}', ':', ',', ' ', '\t', '\n', 'a', '1', '.', '-', '\u{1}', 'é', '[', ']',
            ])), 0..4)
        ) {
            let mut line: Vec<char> = PAYROLL.chars().collect();
            for (at, op, c) in edits {
                let at = at % (line.len() + 1);
                match op {
                    0 => line.insert(at, c),
                    1 if at < line.len() => line[at] = c,
                    _ if at < line.len() => { line.remove(at); }
                    _ => {}
                }
            }
            let line: String = line.into_iter().collect();
            same_as_general(&line)?;
        }
    }

    fn field_of(line: &str) -> String {
        match parse_line(line) {
            Ok(l) => panic!("accepted {line}: {l:?}"),
            Err(e) => e.field,
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let ok = r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"4000.00"}"#;
        assert!(parse_line(ok).is_ok());
        assert_eq!(
            field_of(r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":4000}"#),
            "gross_pay"
        );
        assert_eq!(
            field_of(r#"{"type":"payroll","date":"2026-02-30","employee":"E1","gross_pay":"1"}"#),
            "date"
        );
        assert_eq!(
            field_of(r#"{"type":"payroll","date":"2026-01-15","employee":"E1"}"#),
            "gross_pay"
        );
        assert_eq!(
            field_of(
                r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"1","x":1}"#
            ),
            "x"
        );
        assert_eq!(field_of(r#"{"type":"payrol","date":"2026-01-15"}"#), "type");
        assert_eq!(
            field_of(r#"{"type":"plan_adopted","date":"2026-01-15","rules":{"max_rate":"2"}}"#),
            "rules.max_rate"
        );
        assert_eq!(
            field_of(r#"{"type":"plan_adopted","date":"2026-01-15","rules":{"bogus":"2"}}"#),
            "rules.bogus"
        );
        assert_eq!(
            field_of(r#"{"type":"market_price","date":"2026-01-15","closes":["1",2]}"#),
            "closes.1"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse_line(
            r#"{"type":"payroll","date":"2026-01-15","employee":"E1","gross_pay":"1","gross_pay":"2"}"#,
        );
        assert!(e.is_err_and(|e| e.message.contains("duplicate field `gross_pay`")));
    }

    #[test]
    fn bare_event_round_trips_through_json() {
        let line = r#"{"type":"leave_started","date":"2026-01-15","employee":"E1","kind":"leave","cash_payments":true}"#;
        let Ok(Line::Bare(input)) = parse_line(line) else {
            panic!("not bare")
        };
        let again = input.to_json().to_string();
        assert_eq!(parse_line(&again), Ok(Line::Bare(input)));
    }

    /// The direct writer of a record's canonical JSON (what its hash covers) gives the bytes
    /// of the `Value` rendering, for every event type's catalogue example and actors that
    /// need escaping.
    #[test]
    fn canonical_json_is_written_directly_with_the_same_bytes() {
        let actors = ["payroll", "a \"quoted\" \\ actor", "Zoë ✓ / x"];
        let mut checked = 0;
        for spec in Event::CATALOGUE {
            let Ok(Line::Bare(input)) = parse_line(spec.example) else {
                panic!("{} does not parse", spec.example);
            };
            for (i, actor) in actors.iter().enumerate() {
                let Ok(actor) = crate::Actor::new(*actor) else {
                    continue;
                };
                let r = Record::chain(
                    7 + i as u64,
                    Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef + i as u128),
                    input.date,
                    crate::Instant::parse("2026-01-15T09:30:00.500Z")
                        .unwrap_or_else(|e| panic!("{e}")),
                    actor,
                    crate::Hash::ZERO,
                    input.event.clone(),
                );
                assert_eq!(
                    r.canonical_json(),
                    r.canonical_json_via_value(),
                    "{}",
                    spec.example
                );
                checked += 1;
            }
        }
        assert!(checked >= 2 * Event::CATALOGUE.len(), "{checked}");
    }
}
