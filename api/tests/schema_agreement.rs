//! The CRD schemas (what a real API server enforces) and the Rust validation (what the controller
//! applies to every report) must agree: the examples pass both, and every invalid object in the
//! table fails both, at the stated field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

mod cases;

use cases::{Kind, example, examples, invalid_cases, rust_verdict};
use kube::core::cel::{Validator as CelValidator, compile_schema};
use serde_json::{Value, json};
use update_status_api::crd;

fn schema(kind: Kind) -> Value {
    crd::schema_of(&kind.crd()).unwrap()
}

/// What the API server would say: OpenAPI validation, keyed-list uniqueness, then CEL.
/// Errors are `(dotted path, what)`.
fn schema_verdict(kind: Kind, obj: &Value) -> Vec<(String, String)> {
    let schema = schema(kind);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let mut errors: Vec<(String, String)> = validator
        .iter_errors(obj)
        .map(|e| {
            (
                pointer_to_dotted(&e.instance_path.to_string()),
                e.to_string(),
            )
        })
        .collect();
    list_map_duplicates(&schema, obj, String::new(), &mut errors);
    if let Err(cel) = CelValidator::new().validate(&schema, obj, None) {
        errors.extend(
            cel.iter()
                .map(|e| (e.field_path.clone(), format!("CEL: {}", e.message))),
        );
    }
    errors
}

/// `/status/workerPools/0/name` → `status.workerPools[0].name`.
fn pointer_to_dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The API server refuses duplicate keys in `x-kubernetes-list-type: map` lists; jsonschema does
/// not know that extension, so it is checked here the way the API server does.
fn list_map_duplicates(
    schema: &Value,
    obj: &Value,
    path: String,
    errors: &mut Vec<(String, String)>,
) {
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties");
            for (k, v) in map {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    list_map_duplicates(s, v, child, errors);
                }
            }
        }
        Value::Array(items) => {
            if schema.get("x-kubernetes-list-type") == Some(&json!("map")) {
                let keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    let key: Vec<String> = keys
                        .iter()
                        .filter_map(|k| k.as_str())
                        .map(|k| item.get(k).map(|v| v.to_string()).unwrap_or_default())
                        .collect();
                    if !seen.insert(key.clone()) {
                        errors.push((path.clone(), format!("Duplicate value: {key:?}")));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    list_map_duplicates(item_schema, item, format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn examples_pass_both_the_schema_and_the_rust_validation() {
    for (file, kind, obj) in examples() {
        assert_eq!(schema_verdict(kind, &obj), vec![], "{file}: schema");
        assert_eq!(rust_verdict(kind, &obj), vec![], "{file}: rust");
    }
}

#[test]
fn invalid_objects_fail_both_for_the_stated_reason() {
    let cases = invalid_cases();
    assert!(cases.len() >= 25);
    for c in cases {
        let mut obj = example(c.base);
        (c.edit)(&mut obj);
        let schema = schema_verdict(c.kind, &obj);
        let rust = rust_verdict(c.kind, &obj);
        assert!(!schema.is_empty(), "{}: the schema accepted it", c.what);
        assert!(
            !rust.is_empty(),
            "{}: the Rust validation accepted it",
            c.what
        );
        let names =
            |errs: &[(String, String)]| errs.iter().any(|(path, _)| path.starts_with(c.field));
        assert!(
            names(&schema),
            "{}: schema errors do not name {}: {schema:?}",
            c.what,
            c.field
        );
        assert!(
            names(&rust),
            "{}: Rust errors do not name {}: {rust:?}",
            c.what,
            c.field
        );
    }
}

#[test]
fn every_cel_rule_compiles() {
    for kind in [
        Kind::UpgradeStatus,
        Kind::UpdateInformer,
        Kind::NodeProgressInsight,
    ] {
        let compiled = compile_schema(&schema(kind));
        assert!(
            !compiled.has_errors(),
            "{kind:?}: {:?}",
            compiled.compilation_errors()
        );
    }
}

#[test]
fn the_example_report_is_accepted_whole() {
    let body = std::fs::read(format!(
        "{}/examples/report.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let parsed = update_status_api::wire::parse_report(&body, 100).unwrap();
    assert_eq!(parsed.rejected, vec![]);
    assert_eq!(parsed.accepted.len(), 1);
}
