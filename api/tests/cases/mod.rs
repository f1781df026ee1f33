//! The objects both agreement tests judge: the API examples, and a table of invalid objects each
//! made by one edit of an example, with the field that makes it invalid. `schema_agreement.rs`
//! gives them to the CRD schema (jsonschema and kube's CEL crate), `real_api_agreement.rs` to a
//! real kube-apiserver; both compare with the Rust validation.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use update_status_api::{crd, validation};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UpgradeStatus,
    UpdateInformer,
    NodeProgressInsight,
}

impl Kind {
    /// The kind of an object, from its `kind` field.
    pub fn of(obj: &Value) -> Kind {
        match obj["kind"].as_str() {
            Some("UpgradeStatus") => Kind::UpgradeStatus,
            Some("UpdateInformer") => Kind::UpdateInformer,
            Some("NodeProgressInsight") => Kind::NodeProgressInsight,
            other => panic!("not a kind of this API: {other:?}"),
        }
    }

    /// The CRD of this kind, as `update-status-controller crds` prints it.
    pub fn crd(self) -> CustomResourceDefinition {
        match self {
            Kind::UpgradeStatus => crd::upgrade_status(),
            Kind::UpdateInformer => crd::update_informer(),
            Kind::NodeProgressInsight => crd::node_progress_insight(),
        }
        .unwrap()
    }
}

pub fn example(file: &str) -> Value {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Every `examples/*.yaml`, sorted by file name: `(file, kind, object)`.
pub fn examples() -> Vec<(String, Kind, Value)> {
    let dir = format!("{}/examples", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{dir}: {files:?}");
    files
        .into_iter()
        .map(|f| {
            let obj = example(&f);
            (f, Kind::of(&obj), obj)
        })
        .collect()
}

/// What the controller says: `(dotted path, what)` for each violation, none when it accepts.
pub fn rust_verdict(kind: Kind, obj: &Value) -> Vec<(String, String)> {
    let result = match kind {
        Kind::UpgradeStatus => validation::upgrade_status_from_value(obj.clone()).map(|_| ()),
        Kind::UpdateInformer => validation::update_informer_from_value(obj.clone()).map(|_| ()),
        Kind::NodeProgressInsight => {
            validation::node_progress_insight_from_value(obj.clone()).map(|_| ())
        }
    };
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.field, v.reason))
        .collect()
}

pub fn set(obj: &mut Value, pointer: &str, value: Value) {
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

pub fn remove(obj: &mut Value, pointer: &str) {
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

pub struct Case {
    pub what: &'static str,
    pub kind: Kind,
    pub base: &'static str,
    pub edit: Box<dyn Fn(&mut Value)>,
    /// The dotted field both sides must name (as a prefix of, or equal to, their path).
    pub field: &'static str,
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
        Kind::NodeProgressInsight => "nodeprogressinsight.yaml",
    };
    Case {
        what,
        kind,
        base,
        edit: Box::new(edit),
        field,
    }
}

/// The example with a status, for cases about what the controller writes.
const MC_INFORMER: &str = "updateinformer-machine-config.yaml";

fn case_on(
    what: &'static str,
    base: &'static str,
    field: &'static str,
    edit: impl Fn(&mut Value) + 'static,
) -> Case {
    Case {
        base,
        ..case(what, Kind::UpdateInformer, field, edit)
    }
}

pub fn invalid_cases() -> Vec<Case> {
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
            "summary refuses a bidi override (Trojan Source)",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.summary",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/summary"),
                    json!("Update is \u{202e}dekcolb\u{202c} fine"),
                )
            },
        ),
        case(
            "description refuses bidi isolates, zero-width and tag characters",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.impact.description",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/impact/description"),
                    json!("a\u{2066}b\u{2069}\nc\u{200b}d\u{e0041}"),
                )
            },
        ),
        case(
            "reference refuses invisible characters",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.remediation.reference",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/remediation/reference"),
                    json!("https://example.com/\u{200f}runbook"),
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
                    json!("Update Stalled"),
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
            "times are not before the year 0000 (RFC 3339 cannot write them)",
            UpgradeStatus,
            "status.controlPlane.informers[0].insights[2].insight.health.startedAt",
            |o| {
                set(
                    o,
                    &format!("{CP0}/2/insight/health/startedAt"),
                    json!("-000001-01-01T00:00:00Z"),
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
            "node estimate is whole seconds, never negative",
            NodeProgressInsight,
            "status.estimatedToCompleteSeconds",
            |o| set(o, "/status/estimatedToCompleteSeconds", json!(-300)),
        ),
        case(
            "node estimate is at most 30 days",
            NodeProgressInsight,
            "status.estimatedToCompleteSeconds",
            |o| set(o, "/status/estimatedToCompleteSeconds", json!(2_592_001)),
        ),
        case(
            "condition types are unique",
            NodeProgressInsight,
            "status.conditions",
            |o| set(o, "/status/conditions/1/type", json!("Updating")),
        ),
        case(
            "condition reason is CamelCase",
            NodeProgressInsight,
            "status.conditions[0].reason",
            |o| set(o, "/status/conditions/0/reason", json!("not ready")),
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
            NodeProgressInsight,
            "status.name",
            |o| set(o, "/status/name", json!("Worker A")),
        ),
        case(
            "a NodeProgressInsight is named after its node (CEL)",
            NodeProgressInsight,
            "",
            |o| set(o, "/status/name", json!("worker-b")),
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
            "reportIntervalSeconds is at least 10 (no 0 that the controller skips)",
            UpdateInformer,
            "spec.reportIntervalSeconds",
            |o| set(o, "/spec/reportIntervalSeconds", json!(0)),
        ),
        case(
            "reportIntervalSeconds is at most a day",
            UpdateInformer,
            "spec.reportIntervalSeconds",
            |o| set(o, "/spec/reportIntervalSeconds", json!(86401)),
        ),
        case(
            "reportIntervalSeconds is an integer, not a Go duration",
            UpdateInformer,
            "spec.reportIntervalSeconds",
            |o| set(o, "/spec/reportIntervalSeconds", json!("5m")),
        ),
        case("reporting is required", UpdateInformer, "spec", |o| {
            remove(o, "/spec/reporting")
        }),
        case(
            "reporting is Enabled or Disabled, not a boolean",
            UpdateInformer,
            "spec.reporting",
            |o| set(o, "/spec/reporting", json!(true)),
        ),
        case(
            "maxInsights is at most 50000",
            UpdateInformer,
            "spec.maxInsights",
            |o| set(o, "/spec/maxInsights", json!(50001)),
        ),
        case(
            "maxInsights is at least 1",
            UpdateInformer,
            "spec.maxInsights",
            |o| set(o, "/spec/maxInsights", json!(0)),
        ),
        case(
            "producers has at least one entry",
            UpdateInformer,
            "spec.producers",
            |o| set(o, "/spec/producers", json!([])),
        ),
        case(
            "allowedInsightTypes, when set, has at least one entry",
            UpdateInformer,
            "spec.allowedInsightTypes",
            |o| set(o, "/spec/allowedInsightTypes", json!([])),
        ),
        case(
            "allowedScopes, when set, has at least one entry",
            UpdateInformer,
            "spec.allowedScopes",
            |o| set(o, "/spec/allowedScopes", json!([])),
        ),
        case(
            "alerts is a built-in name no UpdateInformer may take over (CEL)",
            UpdateInformer,
            "",
            |o| set(o, "/metadata/name", json!("alerts")),
        ),
        case_on(
            "a condition reason is never empty",
            MC_INFORMER,
            "status.conditions[0].reason",
            |o| set(o, "/status/conditions/0/reason", json!("")),
        ),
        case_on(
            "a condition reason is CamelCase",
            MC_INFORMER,
            "status.conditions[0].reason",
            |o| set(o, "/status/conditions/0/reason", json!("not reporting")),
        ),
        case_on(
            "condition types are unique",
            MC_INFORMER,
            "status.conditions",
            |o| set(o, "/status/conditions/1/type", json!("Reporting")),
        ),
        case_on(
            "observedGeneration is not negative",
            MC_INFORMER,
            "status.observedGeneration",
            |o| set(o, "/status/observedGeneration", json!(-1)),
        ),
        case_on(
            "at most five recent rejections",
            MC_INFORMER,
            "status.recentRejections",
            |o| {
                let r = o.pointer("/status/recentRejections/0").unwrap().clone();
                set(o, "/status/recentRejections", json!([r, r, r, r, r, r]))
            },
        ),
        case_on(
            "a rejection message is one line",
            MC_INFORMER,
            "status.recentRejections[0].message",
            |o| set(o, "/status/recentRejections/0/message", json!("one\ntwo")),
        ),
        case_on(
            "a rejection message is at most 1024 characters",
            MC_INFORMER,
            "status.recentRejections[0].message",
            |o| {
                set(
                    o,
                    "/status/recentRejections/0/message",
                    json!("x".repeat(1025)),
                )
            },
        ),
        case_on(
            "held insights are not negative",
            MC_INFORMER,
            "status.heldInsights",
            |o| set(o, "/status/heldInsights", json!(-1)),
        ),
        case(
            "allowed scopes are known values",
            UpdateInformer,
            "spec.allowedScopes[0]",
            |o| set(o, "/spec/allowedScopes", json!(["Everywhere"])),
        ),
    ]
}
