//! The CRD schemas (what a real API server enforces) and the Rust validation (what the controller
//! applies to every report) must agree: the examples pass both, and every invalid object in the
//! table fails both, at the stated field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

use kube::core::cel::{Validator as CelValidator, compile_schema};
use serde_json::{Value, json};
use update_status_api::{crd, validation};

#[derive(Clone, Copy, Debug)]
enum Kind {
    UpgradeStatus,
    UpdateInformer,
}

fn example(file: &str) -> Value {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn schema(kind: Kind) -> Value {
    let c = match kind {
        Kind::UpgradeStatus => crd::upgrade_status(),
        Kind::UpdateInformer => crd::update_informer(),
    };
    crd::schema_of(&c.unwrap()).unwrap()
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

/// What the controller says.
fn rust_verdict(kind: Kind, obj: &Value) -> Vec<(String, String)> {
    let result = match kind {
        Kind::UpgradeStatus => validation::upgrade_status_from_value(obj.clone()).map(|_| ()),
        Kind::UpdateInformer => validation::update_informer_from_value(obj.clone()).map(|_| ()),
    };
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.field, v.reason))
        .collect()
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

fn set(obj: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = obj
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match target {
        Value::Object(m) => {
            m.insert(key.to_owned(), value);
        }
        Value::Array(a) => {
            let i: usize = key.parse().unwrap();
            if i == a.len() {
                a.push(value)
            } else {
                a[i] = value
            }
        }
        _ => panic!("cannot set {pointer}"),
    }
}

fn remove(obj: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    obj.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap();
}

const CP0: &str = "/status/controlPlane/informers/0/insights";
const WP0: &str = "/status/workerPools/0/informers/0/insights";

struct Case {
    what: &'static str,
    kind: Kind,
    base: &'static str,
    edit: Box<dyn Fn(&mut Value)>,
    /// The dotted field both sides must name (as a prefix of, or equal to, their path).
    field: &'static str,
}

fn case(
    what: &'static str,
    kind: Kind,
    field: &'static str,
    edit: impl Fn(&mut Value) + 'static,
) -> Case {
    let base = match kind {
        Kind::UpgradeStatus => "upgradestatus.yaml",
        Kind::UpdateInformer => "updateinformer-third-party.yaml",
    };
    Case {
        what,
        kind,
        base,
        edit: Box::new(edit),
        field,
    }
}

fn invalid_cases() -> Vec<Case> {
    use Kind::*;
    vec![
        case(
            "UpgradeStatus must be named cluster",
            UpgradeStatus,
            "",
            |o| set(o, "/metadata/name", json!("other")),
        ),
        case(
            "insight uid must be a DNS label",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].uid",
            |o| set(o, &format!("{CP0}/0/uid"), json!("CV_Version")),
        ),
        case(
            "union member must match type",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].insight",
            |o| set(o, &format!("{CP0}/0/insight/type"), json!("Node")),
        ),
        case(
            "union may hold only one member",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[1].insight",
            |o| {
                let cv = o
                    .pointer(&format!("{CP0}/0/insight/clusterVersion"))
                    .unwrap()
                    .clone();
                set(o, &format!("{CP0}/1/insight/clusterVersion"), cv)
            },
        ),
        case(
            "union needs a type",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].insight",
            |o| remove(o, &format!("{CP0}/0/insight/type")),
        ),
        case(
            "version must be an anchored semver",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].insight.clusterVersion.versions.target.version",
            |o| {
                set(
                    o,
                    &format!("{CP0}/0/insight/clusterVersion/versions/target/version"),
                    json!("latest 4.16"),
                )
            },
        ),
        case(
            "completion is at most 100",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].insight.clusterVersion.completion",
            |o| {
                set(
                    o,
                    &format!("{CP0}/0/insight/clusterVersion/completion"),
                    json!(101),
                )
            },
        ),
        case(
            "assessment is a known value",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[0].insight.clusterVersion.assessment",
            |o| {
                set(
                    o,
                    &format!("{CP0}/0/insight/clusterVersion/assessment"),
                    json!("Great"),
                )
            },
        ),
        case(
            "summary is at most 256 characters",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.summary",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/summary"),
                    json!("x".repeat(257)),
                )
            },
        ),
        case(
            "summary refuses terminal escapes",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.summary",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/summary"),
                    json!("\u{1b}[2J\u{1b}[H all good"),
                )
            },
        ),
        case(
            "summary is one line",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.summary",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/summary"),
                    json!("one\ntwo"),
                )
            },
        ),
        case(
            "reference must be an http(s) URL",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.remediation.reference",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/remediation/reference"),
                    json!("javascript:alert(1)"),
                )
            },
        ),
        case(
            "impact type is a known value",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.type",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/type"),
                    json!("UpdateStalled"),
                )
            },
        ),
        case(
            "health startedAt is a date-time",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.startedAt",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/startedAt"),
                    json!("yesterday"),
                )
            },
        ),
        case(
            "WorkerPool scope needs a pool (CEL)",
            UpgradeStatus,
            "status.workerPools[0].informers[1].insights[0].insight.health.scope",
            |o| {
                remove(
                    o,
                    "/status/workerPools/0/informers/1/insights/0/insight/health/scope/pool",
                )
            },
        ),
        case(
            "node estimate is a Go duration, never negative",
            UpgradeStatus,
            "status.workerPools[0].informers[0].insights[1].insight.node.estimatedToComplete",
            |o| {
                set(
                    o,
                    &format!("{WP0}/1/insight/node/estimatedToComplete"),
                    json!("-5m"),
                )
            },
        ),
        case(
            "condition types are unique",
            UpgradeStatus,
            "status.workerPools[0].informers[0].insights[1].insight.node.conditions",
            |o| {
                set(
                    o,
                    &format!("{WP0}/1/insight/node/conditions/1/type"),
                    json!("Updating"),
                )
            },
        ),
        case(
            "condition reason is CamelCase",
            UpgradeStatus,
            "status.workerPools[0].informers[0].insights[1].insight.node.conditions[0].reason",
            |o| {
                set(
                    o,
                    &format!("{WP0}/1/insight/node/conditions/0/reason"),
                    json!("not ready"),
                )
            },
        ),
        case(
            "insight uids are unique within an informer",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights",
            |o| set(o, &format!("{CP0}/1/uid"), json!("cv-version")),
        ),
        case(
            "worker pools are unique by name",
            UpgradeStatus,
            "status.workerPools",
            |o| {
                let p = o.pointer("/status/workerPools/0").unwrap().clone();
                set(o, "/status/workerPools/1", p)
            },
        ),
        case(
            "summaries have at most 7 entries",
            UpgradeStatus,
            "status.workerPools[0].informers[0].insights[0].insight.machineConfigPool.summaries",
            |o| {
                set(
                    o,
                    &format!("{WP0}/0/insight/machineConfigPool/summaries/7"),
                    json!({"type": "Total", "count": 1}),
                )
            },
        ),
        case(
            "node names are RFC 1123 subdomains",
            UpgradeStatus,
            "status.workerPools[0].informers[0].insights[1].insight.node.name",
            |o| set(o, &format!("{WP0}/1/insight/node/name"), json!("Worker A")),
        ),
        case(
            "UpdateInformer name must be a label (CEL)",
            UpdateInformer,
            "",
            |o| set(o, "/metadata/name", json!("example.storage")),
        ),
        case(
            "third parties may only send Health (CEL)",
            UpdateInformer,
            "",
            |o| set(o, "/spec/allowedInsightTypes", json!(["Health", "Node"])),
        ),
        case(
            "a service account is listed once (CEL)",
            UpdateInformer,
            "spec.producers",
            |o| {
                let p = o.pointer("/spec/producers/0").unwrap().clone();
                set(o, "/spec/producers/1", p)
            },
        ),
        case(
            "producer uid is a Kubernetes UID",
            UpdateInformer,
            "spec.producers[0].serviceAccount.uid",
            |o| {
                set(
                    o,
                    "/spec/producers/0/serviceAccount/uid",
                    json!("not-a-uid"),
                )
            },
        ),
        case(
            "reportInterval is a Go duration",
            UpdateInformer,
            "spec.reportInterval",
            |o| set(o, "/spec/reportInterval", json!("five minutes")),
        ),
        case("enabled is required", UpdateInformer, "spec", |o| {
            remove(o, "/spec/enabled")
        }),
        case(
            "maxInsights is at most 8192",
            UpdateInformer,
            "spec.maxInsights",
            |o| set(o, "/spec/maxInsights", json!(100000)),
        ),
        case(
            "allowed scopes are known values",
            UpdateInformer,
            "spec.allowedScopes[0]",
            |o| set(o, "/spec/allowedScopes", json!(["Everywhere"])),
        ),
    ]
}

#[test]
fn examples_pass_both_the_schema_and_the_rust_validation() {
    for (file, kind) in [
        ("upgradestatus.yaml", Kind::UpgradeStatus),
        ("updateinformer-machine-config.yaml", Kind::UpdateInformer),
        ("updateinformer-third-party.yaml", Kind::UpdateInformer),
    ] {
        let obj = example(file);
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
    for kind in [Kind::UpgradeStatus, Kind::UpdateInformer] {
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
