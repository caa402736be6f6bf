//! The event reference (`espp events`, `espp schema`, docs/events.md) against the parser: every
//! example line parses as its own type, and the schema allows exactly the fields the parser
//! takes, requiring exactly those it refuses to do without.

use espp_events::catalogue::{self, Kind};
use espp_events::{parse_line, Event, Line};
use serde_json::Value;

fn branch<'a>(schema: &'a Value, type_name: &str) -> &'a Value {
    schema["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .find(|b| b["properties"]["type"]["const"] == type_name)
        .unwrap_or_else(|| panic!("no schema branch for {type_name}"))
}

fn names(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("a name").to_string())
            .collect(),
        _ => panic!("not a list of names: {v}"),
    }
}

/// The schema's verdict on the names alone: every key allowed, every required one present,
/// every enum/const respected, booleans and strings where the schema says so.
fn schema_check(schema: &Value, line: &Value) -> Result<(), String> {
    let obj = line.as_object().ok_or("not an object")?;
    let type_name = obj["type"].as_str().ok_or("no type")?;
    let b = branch(schema, type_name);
    let allowed = names(&b["properties"]);
    for k in obj.keys() {
        if !allowed.contains(k) {
            return Err(format!("{type_name}: field {k} not allowed by the schema"));
        }
        let s = &b["properties"][k];
        let v = &obj[k];
        if let Some(c) = s.get("const") {
            if c != v {
                return Err(format!("{k}: {v} is not {c}"));
            }
        }
        if let Some(Value::Array(e)) = s.get("enum") {
            if !e.contains(v) {
                return Err(format!("{k}: {v} is not one of {e:?}"));
            }
        }
        match s.get("type").and_then(Value::as_str) {
            Some("string") if !v.is_string() => return Err(format!("{k}: not a string")),
            Some("boolean") if !v.is_boolean() => return Err(format!("{k}: not a boolean")),
            Some("array") if !v.is_array() => return Err(format!("{k}: not an array")),
            _ => {}
        }
    }
    for k in names(&b["required"]) {
        if !obj.contains_key(&k) {
            return Err(format!("{type_name}: required field {k} missing"));
        }
    }
    Ok(())
}

#[test]
fn every_type_is_in_the_catalogue_once_in_order() {
    let types: Vec<&str> = catalogue::events().iter().map(|e| e.type_name).collect();
    assert_eq!(types, Event::TYPES);
}

#[test]
fn every_example_parses_as_its_own_type_and_fits_the_schema() {
    let schema = catalogue::schema();
    for e in catalogue::events() {
        let parsed = parse_line(e.example)
            .unwrap_or_else(|err| panic!("{}: example does not parse: {err}", e.type_name));
        let Line::Bare(input) = parsed else {
            panic!("{}: example has an envelope", e.type_name)
        };
        assert_eq!(input.event.type_name(), e.type_name);
        let v: Value = serde_json::from_str(e.example).expect("JSON");
        schema_check(&schema, &v).unwrap_or_else(|m| panic!("{}: {m}", e.type_name));
        assert!(!e.purpose.trim().is_empty(), "{}: no purpose", e.type_name);
    }
}

#[test]
fn schema_requires_what_the_parser_requires_and_allows_only_what_it_takes() {
    let schema = catalogue::schema();
    for e in catalogue::events() {
        let example: Value = serde_json::from_str(e.example).expect("JSON");
        let b = branch(&schema, e.type_name);
        let required = names(&b["required"]);
        // Every required field left out: the parser refuses the line, naming that field.
        for f in e.fields.iter().filter(|f| !f.optional) {
            assert!(required.contains(&f.name.to_string()), "{}", f.name);
            let mut line = example.clone();
            line.as_object_mut().expect("object").remove(f.name);
            let err = parse_line(&line.to_string()).expect_err("a required field left out");
            assert_eq!(err.field, f.name, "{}: {err}", e.type_name);
            assert!(schema_check(&schema, &line).is_err());
        }
        // A field the schema does not know: the parser refuses it too.
        let mut line = example.clone();
        line.as_object_mut()
            .expect("object")
            .insert("bogus".into(), Value::from("1"));
        assert_eq!(
            parse_line(&line.to_string()).expect_err("unknown").field,
            "bogus"
        );
        assert!(schema_check(&schema, &line).is_err());
        // Every optional field the schema allows, the parser takes (with a kind's value).
        for f in e.fields.iter().filter(|f| f.optional) {
            assert!(!required.contains(&f.name.to_string()));
            assert!(b["properties"].get(f.name).is_some(), "{}", f.name);
        }
        assert_eq!(b["additionalProperties"], false);
    }
}

#[test]
fn exported_records_fit_the_schema_with_their_envelope() {
    let schema = catalogue::schema();
    let chain = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chain.jsonl"),
    )
    .expect("the chain vector");
    for line in chain.lines().filter(|l| !l.trim().is_empty()) {
        assert!(matches!(parse_line(line), Ok(Line::Enveloped(_))));
        let v: Value = serde_json::from_str(line).expect("JSON");
        schema_check(&schema, &v).unwrap_or_else(|m| panic!("{m}: {line}"));
    }
}

#[test]
fn schema_is_draft_2020_12_with_decimal_strings() {
    let schema = catalogue::schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let payroll = branch(&schema, "payroll");
    assert_eq!(payroll["properties"]["gross_pay"]["type"], "string");
    assert_eq!(
        payroll["properties"]["date"]["pattern"],
        catalogue::DAY_PATTERN
    );
    let rules = &schema["$defs"]["rules"];
    assert_eq!(
        rules["properties"]["max_rate"]["pattern"],
        catalogue::DECIMAL_PATTERN
    );
    assert_eq!(rules["properties"]["max_rate"]["default"], "0.10");
    assert_eq!(rules["properties"]["price_decimals"]["type"], "integer");
    assert_eq!(rules["additionalProperties"], false);
    // The rules table has every field the parser takes in a rules object.
    let rule_names: Vec<&str> = catalogue::rules().iter().map(|(f, _)| f.name).collect();
    assert_eq!(rule_names, espp_events::RulesPatch::FIELDS);
    assert!(matches!(
        Kind::Choice(Event::TYPES).name().split(" | ").count(),
        n if n == Event::TYPES.len()
    ));
}

/// `peek_part_employee` reads every type's employee (or its lack of one) from the stored
/// `(date, event)` bytes as a whole decode would, and refuses bytes cut short rather than
/// guessing: a reader skips another employee's records on its word.
#[test]
fn peek_part_employee_agrees_with_the_decoded_event() {
    for spec in Event::CATALOGUE {
        let Ok(Line::Bare(input)) = parse_line(spec.example) else {
            panic!(
                "{}: the example does not parse as a bare event",
                spec.type_name
            );
        };
        for employee in [None, Some("E000042"), Some(&*"x".repeat(64))] {
            let mut event = input.event.clone();
            if let (Some(id), Some(e)) = (employee, employee_mut(&mut event)) {
                *e = espp_events::EmployeeId::new(id).expect("a valid id");
            }
            let mut bytes = Vec::new();
            espp_events::encode_part(&(input.date, &event), &mut bytes);
            let peeked = espp_events::peek_part_employee(&bytes).expect("peeks");
            assert_eq!(
                peeked,
                event.employee().map(|e| e.as_str().as_bytes()),
                "{}",
                spec.type_name
            );
            if let Some(id) = peeked {
                // The id cut short: an error, not another id.
                let cut = &bytes[..bytes.len() - event_tail_len(&bytes, id)];
                assert!(
                    espp_events::peek_part_employee(cut).is_err(),
                    "{}",
                    spec.type_name
                );
            }
        }
    }
    assert!(espp_events::peek_part_employee(&[]).is_err());
}

/// The bytes after the employee id's first byte (so that cutting them leaves the id short).
fn event_tail_len(bytes: &[u8], id: &[u8]) -> usize {
    let at = bytes
        .windows(id.len())
        .position(|w| w == id)
        .expect("the id is in the bytes");
    bytes.len() - at - 1
}

fn employee_mut(event: &mut Event) -> Option<&mut espp_events::EmployeeId> {
    use Event::*;
    match event {
        EmployeeHired { employee, .. }
        | EmployeeChanged { employee, .. }
        | OwnershipReported { employee, .. }
        | Enrolled { employee, .. }
        | RateChanged { employee, .. }
        | Payroll { employee, .. }
        | DeductionsStopped { employee, .. }
        | EmploymentEnded { employee, .. }
        | LeaveStarted { employee, .. }
        | LeaveEnded { employee, .. }
        | CashPayment { employee, .. }
        | Election { employee, .. }
        | Died { employee }
        | CertificateRequested { employee, .. }
        | SharesSold { employee, .. }
        | DeductionReversed { employee, .. }
        | OtherPlanPurchase { employee, .. } => Some(employee),
        _ => None,
    }
}
