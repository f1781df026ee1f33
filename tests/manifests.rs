//! The deployment the cluster version operator applies from the release payload (`manifests/`):
//! every document parses into its typed Kubernetes object with no field the type does not know,
//! and the properties a security reviewer and an OpenShift reviewer check by hand hold —
//! least-privilege RBAC without wildcards, release annotations, a restricted pod, consistent
//! names and ports across objects, the CRDs exactly as generated, and examples that the API
//! accepts. The helpers return their findings so that the tests at the bottom can show that each
//! check catches what it is meant to catch.

// The helpers below are test code too: a manifest that cannot be read should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use update_status_api::v1alpha1::{
    InsightType, STATUS_INSIGHT_INFORMERS, ScopeType, UpdateInformer,
};

const NAMESPACE: &str = "openshift-update-status-controller";
const MCO_NAMESPACE: &str = "openshift-machine-config-operator";
const NAME: &str = "update-status-controller";
const CRD_MANIFEST: &str = "0000_00_update-status-controller_01_crds.yaml";
const IMAGE_REFERENCES: &str = "image-references";
const EXAMPLES: &str = "examples";
/// The platform Prometheus, which scrapes the controller and evaluates its alerts.
const PROMETHEUS: (&str, &str) = ("openshift-monitoring", "prometheus-k8s");
/// The run level of what depends on the monitoring stack's CRDs (which come at 50).
const MONITORING_PREFIX: &str = "0000_90_update-status-controller_";

/// Without both, the CVO skips the object on the two profiles this controller runs on.
const RELEASE_ANNOTATIONS: [&str; 2] = [
    "include.release.openshift.io/self-managed-high-availability",
    "include.release.openshift.io/single-node-developer",
];
const INCLUDE_PREFIX: &str = "include.release.openshift.io/";
/// Annotations that, when present, must be the same on every object or the CVO installs half
/// of the component.
const GATING_ANNOTATIONS: [&str; 2] = [
    "release.openshift.io/feature-set",
    "capability.openshift.io/name",
];

/// Built-in cluster roles a binding here may refer to, and why each is acceptable.
const BUILTIN_CLUSTER_ROLES: [(&str, &str); 3] = [
    (
        "system:auth-delegator",
        "create TokenReviews and SubjectAccessReviews",
    ),
    (
        "system:service-account-issuer-discovery",
        "get /.well-known/openid-configuration and /openid/v1/jwks",
    ),
    (
        "cluster-monitoring-view",
        "read-only access to the platform monitoring query APIs",
    ),
];

const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// Every write the controller may make: (API group, resource, namespace or None for
/// cluster-wide, verbs). Anything else that is not get, list or watch is a finding.
const ALLOWED_WRITES: [(&str, &str, Option<&str>, &[&str]); 9] = [
    (
        "update.openshift.io",
        "nodeprogressinsights",
        None,
        &["create", "patch", "delete"],
    ),
    (
        "update.openshift.io",
        "nodeprogressinsights/status",
        None,
        &["patch"],
    ),
    (
        "update.openshift.io",
        "upgradestatuses",
        None,
        &["create", "patch", "update"],
    ),
    (
        "update.openshift.io",
        "upgradestatuses/status",
        None,
        &["patch", "update"],
    ),
    (
        "update.openshift.io",
        "updateinformers/status",
        None,
        &["patch", "update"],
    ),
    (
        "coordination.k8s.io",
        "leases",
        Some(NAMESPACE),
        &["create", "update"],
    ),
    // Events about cluster-scoped objects (UpdateInformers, the UpgradeStatus) are accepted only
    // in "default" or "kube-system".
    (
        "events.k8s.io",
        "events",
        Some("default"),
        &["create", "patch"],
    ),
    ("authentication.k8s.io", "tokenreviews", None, &["create"]),
    (
        "authorization.k8s.io",
        "subjectaccessreviews",
        None,
        &["create"],
    ),
];

// ---------------------------------------------------------------------------------------------
// Loading

/// One object the CVO applies, typed by its kind. (A few dozen of them: their size does not
/// matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
    Deployment(Deployment),
    Service(Service),
    PodDisruptionBudget(PodDisruptionBudget),
    NetworkPolicy(NetworkPolicy),
    CustomResourceDefinition(CustomResourceDefinition),
    ServiceMonitor(ServiceMonitor),
    PrometheusRule(PrometheusRule),
}

/// The prometheus-operator ServiceMonitor (monitoring.coreos.com/v1), as far as this deployment
/// uses it; a field it does not name is refused, so a misspelt one cannot be ignored by the
/// operator unnoticed.
#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ServiceMonitorSpec,
}

#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceMonitorSpec {
    selector: LabelSelector,
    namespace_selector: NamespaceSelector,
    endpoints: Vec<ScrapeEndpoint>,
}

#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceSelector {
    match_names: Vec<String>,
}

#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScrapeEndpoint {
    port: String,
    scheme: String,
    path: String,
    interval: String,
    bearer_token_file: String,
    tls_config: ScrapeTls,
}

#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScrapeTls {
    ca_file: String,
    server_name: String,
}

/// The prometheus-operator PrometheusRule; its `spec` is a Prometheus rule file, which
/// `tests/alert_rules.rs` checks with promtool.
#[derive(Debug, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrometheusRule {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: Value,
}

impl Object {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::ClusterRole(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::CustomResourceDefinition(o) => &o.metadata,
            Object::ServiceMonitor(o) => &o.metadata,
            Object::PrometheusRule(o) => &o.metadata,
        }
    }

    /// What only the monitoring stack reads: applied at run level 90, after its CRDs exist.
    fn is_monitoring(&self) -> bool {
        match self {
            Object::ServiceMonitor(_) | Object::PrometheusRule(_) => true,
            Object::Role(r) => name(&r.metadata) == PROMETHEUS.1,
            Object::RoleBinding(b) => name(&b.metadata) == PROMETHEUS.1,
            _ => false,
        }
    }

    fn namespaced(&self) -> bool {
        !matches!(
            self,
            Object::Namespace(_)
                | Object::ClusterRole(_)
                | Object::ClusterRoleBinding(_)
                | Object::CustomResourceDefinition(_)
        )
    }

    fn is_crd(&self) -> bool {
        matches!(self, Object::CustomResourceDefinition(_))
    }
}

/// A document of a top-level manifest.
#[derive(Debug)]
struct Doc {
    file: String,
    object: Object,
}

impl Doc {
    fn describe(&self) -> String {
        let m = self.object.metadata();
        format!(
            "{} {}/{}",
            self.file,
            m.namespace.as_deref().unwrap_or("-"),
            m.name.as_deref().unwrap_or("?")
        )
    }
}

/// An example UpdateInformer from `manifests/examples/`.
struct Example {
    file: String,
    raw: Value,
    informer: UpdateInformer,
}

/// Everything under `manifests/`.
struct Manifests {
    /// The top-level `.yaml` file names, sorted as the CVO orders them.
    files: Vec<String>,
    docs: Vec<Doc>,
    examples: Vec<Example>,
    image_references: Value,
    /// Every file under `manifests/`, recursively, with its text.
    texts: Vec<(PathBuf, String)>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifests_dir() -> PathBuf {
    repo().join("manifests")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every YAML document of a file, as JSON values (empty documents skipped).
fn documents(text: &str, file: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{file}: not valid YAML: {e}"))
}

/// The manifests, read once for all tests that only look.
fn manifests() -> &'static Manifests {
    static MANIFESTS: OnceLock<Manifests> = OnceLock::new();
    MANIFESTS.get_or_init(load)
}

fn load() -> Manifests {
    let root = manifests_dir();
    let mut m = Manifests {
        files: Vec::new(),
        docs: Vec::new(),
        examples: Vec::new(),
        image_references: Value::Null,
        texts: Vec::new(),
    };
    for path in files_under(&root) {
        let text = fs::read_to_string(&path).unwrap();
        let relative = path.strip_prefix(&root).unwrap();
        let shown = relative.display().to_string();
        let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
        match parts.as_slice() {
            [name] if name == IMAGE_REFERENCES => {
                m.image_references = serde_saphyr::from_str(&text).unwrap();
            }
            [name] => {
                assert!(
                    name.ends_with(".yaml"),
                    "{shown}: the CVO applies only .yaml, .yml and .json files; this would be ignored"
                );
                for raw in documents(&text, &shown) {
                    let object = parse_object(&raw).unwrap_or_else(|e| panic!("{shown}: {e}"));
                    m.docs.push(Doc {
                        file: name.to_string(),
                        object,
                    });
                }
                m.files.push(name.to_string());
            }
            [dir, name] if dir == EXAMPLES && name.ends_with(".yaml") => {
                for raw in documents(&text, &shown) {
                    let informer = parse_example(&raw).unwrap_or_else(|e| panic!("{shown}: {e}"));
                    m.examples.push(Example {
                        file: shown.clone(),
                        raw,
                        informer,
                    });
                }
            }
            _ => panic!(
                "{shown}: unexpected file; only CVO manifests, {IMAGE_REFERENCES} and {EXAMPLES}/*.yaml belong here"
            ),
        }
        m.texts.push((path, text));
    }
    m.files.sort();
    m
}

/// Types a document by its `apiVersion` and `kind`; refuses kinds this deployment does not
/// use, and fields the type does not know (the API server would drop them silently).
fn parse_object(raw: &Value) -> Result<Object, String> {
    let kind = raw.get("kind").and_then(Value::as_str).unwrap_or_default();
    Ok(match kind {
        "Namespace" => Object::Namespace(typed(raw)?),
        "ServiceAccount" => Object::ServiceAccount(typed(raw)?),
        "ClusterRole" => Object::ClusterRole(typed(raw)?),
        "ClusterRoleBinding" => Object::ClusterRoleBinding(typed(raw)?),
        "Role" => Object::Role(typed(raw)?),
        "RoleBinding" => Object::RoleBinding(typed(raw)?),
        "Deployment" => Object::Deployment(typed(raw)?),
        "Service" => Object::Service(typed(raw)?),
        "PodDisruptionBudget" => Object::PodDisruptionBudget(typed(raw)?),
        "NetworkPolicy" => Object::NetworkPolicy(typed(raw)?),
        "CustomResourceDefinition" => Object::CustomResourceDefinition(typed(raw)?),
        "ServiceMonitor" => Object::ServiceMonitor(monitoring(raw)?),
        "PrometheusRule" => Object::PrometheusRule(monitoring(raw)?),
        other => return Err(format!("unexpected kind {other:?}")),
    })
}

fn typed<T>(raw: &Value) -> Result<T, String>
where
    T: k8s_openapi::Resource + DeserializeOwned + Serialize,
{
    let api_version = raw.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(T::API_VERSION) {
        return Err(format!(
            "{} must be apiVersion {}, not {api_version:?}",
            T::KIND,
            T::API_VERSION
        ));
    }
    let object: T = serde_json::from_value(raw.clone()).map_err(|e| format!("{}: {e}", T::KIND))?;
    no_unknown_fields(raw, &object)?;
    Ok(object)
}

/// A prometheus-operator object, which must be `monitoring.coreos.com/v1`.
fn monitoring<T: DeserializeOwned + Serialize>(raw: &Value) -> Result<T, String> {
    let api_version = raw.get("apiVersion").and_then(Value::as_str);
    if api_version != Some("monitoring.coreos.com/v1") {
        return Err(format!(
            "must be apiVersion monitoring.coreos.com/v1, not {api_version:?}"
        ));
    }
    let object: T = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
    no_unknown_fields(raw, &object)?;
    Ok(object)
}

fn parse_example(raw: &Value) -> Result<UpdateInformer, String> {
    let informer: UpdateInformer =
        serde_json::from_value(raw.clone()).map_err(|e| format!("not an UpdateInformer: {e}"))?;
    no_unknown_fields(raw, &informer)?;
    Ok(informer)
}

/// Every field written in `raw` survives a round trip through the type.
fn no_unknown_fields<T: Serialize>(raw: &Value, object: &T) -> Result<(), String> {
    let back = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let mut lost = Vec::new();
    lost_fields(raw, &back, String::new(), &mut lost);
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!("fields the type does not know: {lost:?}"))
    }
}

fn lost_fields(raw: &Value, back: &Value, path: String, lost: &mut Vec<String>) {
    match (raw, back) {
        (Value::Object(r), Value::Object(b)) => {
            for (k, v) in r {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(bv) => lost_fields(v, bv, p, lost),
                    None => lost.push(p),
                }
            }
        }
        (Value::Array(r), Value::Array(b)) => {
            for (i, v) in r.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match b.get(i) {
                    Some(bv) => lost_fields(v, bv, p, lost),
                    None => lost.push(p),
                }
            }
        }
        (Value::Object(_) | Value::Array(_), _) => lost.push(path),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Accessors

impl Manifests {
    fn all<'a, T>(&'a self, pick: impl Fn(&'a Object) -> Option<&'a T>) -> Vec<&'a T> {
        self.docs.iter().filter_map(|d| pick(&d.object)).collect()
    }

    fn cluster_roles(&self) -> Vec<&ClusterRole> {
        self.all(|o| match o {
            Object::ClusterRole(r) => Some(r),
            _ => None,
        })
    }

    fn cluster_role_bindings(&self) -> Vec<&ClusterRoleBinding> {
        self.all(|o| match o {
            Object::ClusterRoleBinding(r) => Some(r),
            _ => None,
        })
    }

    fn roles(&self) -> Vec<&Role> {
        self.all(|o| match o {
            Object::Role(r) => Some(r),
            _ => None,
        })
    }

    fn role_bindings(&self) -> Vec<&RoleBinding> {
        self.all(|o| match o {
            Object::RoleBinding(r) => Some(r),
            _ => None,
        })
    }

    fn network_policies(&self) -> Vec<&NetworkPolicy> {
        self.all(|o| match o {
            Object::NetworkPolicy(r) => Some(r),
            _ => None,
        })
    }

    fn pod_disruption_budgets(&self) -> Vec<&PodDisruptionBudget> {
        self.all(|o| match o {
            Object::PodDisruptionBudget(r) => Some(r),
            _ => None,
        })
    }

    fn crds(&self) -> Vec<&CustomResourceDefinition> {
        self.all(|o| match o {
            Object::CustomResourceDefinition(r) => Some(r),
            _ => None,
        })
    }

    fn one<'a, T>(&'a self, what: &str, pick: impl Fn(&'a Object) -> Option<&'a T>) -> &'a T {
        let all = self.all(pick);
        assert_eq!(all.len(), 1, "expected exactly one {what}");
        all[0]
    }

    fn namespace(&self) -> &Namespace {
        self.one("Namespace", |o| match o {
            Object::Namespace(r) => Some(r),
            _ => None,
        })
    }

    fn service_account(&self) -> &ServiceAccount {
        self.one("ServiceAccount", |o| match o {
            Object::ServiceAccount(r) => Some(r),
            _ => None,
        })
    }

    fn deployment(&self) -> &Deployment {
        self.one("Deployment", |o| match o {
            Object::Deployment(r) => Some(r),
            _ => None,
        })
    }

    fn service(&self) -> &Service {
        self.one("Service", |o| match o {
            Object::Service(r) => Some(r),
            _ => None,
        })
    }
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("the Deployment has a pod template spec")
}

fn pod_labels(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn container(d: &Deployment) -> &Container {
    let containers = &pod_spec(d).containers;
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container port a Service target port, probe port or policy port refers to.
fn resolve_port(c: &Container, port: &IntOrString) -> Option<i32> {
    let ports = c.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(n) => ports.iter().find(|p| p.container_port == *n),
        IntOrString::String(s) => ports.iter().find(|p| p.name.as_deref() == Some(s)),
    }
    .map(|p| p.container_port)
}

/// `--key=value` arguments.
fn flags(c: &Container) -> BTreeMap<String, String> {
    c.args
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.strip_prefix("--"))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether a selector (matchLabels only; matchExpressions are not used here) selects `labels`.
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert!(
        selector.match_expressions.is_none(),
        "matchExpressions are not evaluated by this test"
    );
    selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

// ---------------------------------------------------------------------------------------------
// RBAC model

/// One rule the controller's service account holds, and where it applies.
#[derive(Debug, Clone)]
struct Grant {
    /// None: cluster-wide (a ClusterRole bound by a ClusterRoleBinding).
    namespace: Option<String>,
    rule: PolicyRule,
    via: String,
}

fn is_controller(s: &Subject) -> bool {
    s.kind == "ServiceAccount" && s.name == NAME && s.namespace.as_deref() == Some(NAMESPACE)
}

/// The rules of the built-in roles, as far as this test relies on them.
fn builtin_rules(role: &str) -> Vec<PolicyRule> {
    let rule = |group: &str, resource: &str, verb: &str| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: vec![verb.into()],
        ..PolicyRule::default()
    };
    match role {
        "system:auth-delegator" => vec![
            rule("authentication.k8s.io", "tokenreviews", "create"),
            rule("authorization.k8s.io", "subjectaccessreviews", "create"),
        ],
        "system:service-account-issuer-discovery" => vec![PolicyRule {
            non_resource_urls: Some(vec![
                "/.well-known/openid-configuration".into(),
                "/openid/v1/jwks".into(),
            ]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }],
        // Owned by the monitoring stack and changed between releases; allowed by name as
        // read-only (see BUILTIN_CLUSTER_ROLES), not modelled rule by rule.
        _ => Vec::new(),
    }
}

/// Everything the controller's service account is granted by these manifests.
fn grants(m: &Manifests) -> Vec<Grant> {
    let mut out = Vec::new();
    let cluster_roles: BTreeMap<&str, &ClusterRole> = m
        .cluster_roles()
        .into_iter()
        .map(|r| (name(&r.metadata), r))
        .collect();
    let roles: BTreeMap<(&str, &str), &Role> = m
        .roles()
        .into_iter()
        .map(|r| {
            (
                (
                    r.metadata.namespace.as_deref().unwrap_or_default(),
                    name(&r.metadata),
                ),
                r,
            )
        })
        .collect();
    for b in m.cluster_role_bindings() {
        if !b.subjects.iter().flatten().any(is_controller) {
            continue;
        }
        let rules = match cluster_roles.get(b.role_ref.name.as_str()) {
            Some(r) => r.rules.clone().unwrap_or_default(),
            None => builtin_rules(&b.role_ref.name),
        };
        out.extend(rules.into_iter().map(|rule| Grant {
            namespace: None,
            rule,
            via: format!("ClusterRoleBinding {}", name(&b.metadata)),
        }));
    }
    for b in m.role_bindings() {
        if !b.subjects.iter().flatten().any(is_controller) {
            continue;
        }
        let ns = b.metadata.namespace.as_deref().unwrap_or_default();
        let rules = match b.role_ref.kind.as_str() {
            "Role" => roles
                .get(&(ns, b.role_ref.name.as_str()))
                .and_then(|r| r.rules.clone()),
            _ => cluster_roles
                .get(b.role_ref.name.as_str())
                .and_then(|r| r.rules.clone()),
        };
        out.extend(rules.into_iter().flatten().map(|rule| Grant {
            namespace: Some(ns.to_string()),
            rule,
            via: format!("RoleBinding {ns}/{}", name(&b.metadata)),
        }));
    }
    out
}

/// A resource request, as the API server's authorizer sees it. `name` is the object's name for
/// get/update/patch, and the `metadata.name` field selector for list and watch.
struct Request<'a> {
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn allows(grants: &[Grant], r: &Request<'_>) -> bool {
    grants.iter().any(|g| {
        let rule = &g.rule;
        let in_scope = match &g.namespace {
            None => true,
            Some(ns) => r.namespace == Some(ns.as_str()),
        };
        let names = rule.resource_names.as_deref().unwrap_or_default();
        in_scope
            && rule.verbs.iter().any(|v| v == r.verb)
            && rule.api_groups.iter().flatten().any(|g| g == r.group)
            && rule.resources.iter().flatten().any(|x| x == r.resource)
            && (names.is_empty() || r.name.is_some_and(|n| names.iter().any(|x| x == n)))
    })
}

/// Every write verb a grant holds outside [`ALLOWED_WRITES`].
fn forbidden_writes(grants: &[Grant]) -> Vec<String> {
    let mut out = Vec::new();
    for g in grants {
        if g.rule.non_resource_urls.is_some() {
            for v in &g.rule.verbs {
                if v != "get" {
                    out.push(format!("{}: {v} on non-resource URLs", g.via));
                }
            }
        }
        for verb in g
            .rule
            .verbs
            .iter()
            .filter(|v| !READ_VERBS.contains(&v.as_str()))
        {
            for group in g.rule.api_groups.iter().flatten() {
                for resource in g.rule.resources.iter().flatten() {
                    let ok = ALLOWED_WRITES.iter().any(|(ag, res, ns, verbs)| {
                        ag == group
                            && res == resource
                            && verbs.contains(&verb.as_str())
                            && match ns {
                                None => true,
                                Some(ns) => g.namespace.as_deref() == Some(*ns),
                            }
                    });
                    if !ok {
                        out.push(format!(
                            "{}: {verb} {resource}.{group} in {}",
                            g.via,
                            g.namespace.as_deref().unwrap_or("all namespaces")
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Every `*` in a rule.
fn wildcards(rule: &PolicyRule) -> Vec<String> {
    let lists = [
        ("verbs", Some(&rule.verbs)),
        ("apiGroups", rule.api_groups.as_ref()),
        ("resources", rule.resources.as_ref()),
        ("resourceNames", rule.resource_names.as_ref()),
        ("nonResourceURLs", rule.non_resource_urls.as_ref()),
    ];
    lists
        .into_iter()
        .flat_map(|(field, values)| {
            values
                .into_iter()
                .flatten()
                .filter(|v| v.contains('*'))
                .map(move |v| format!("{field}: {v:?}"))
        })
        .collect()
}

fn all_rules(m: &Manifests) -> Vec<(String, &PolicyRule)> {
    let mut out = Vec::new();
    for r in m.cluster_roles() {
        for rule in r.rules.iter().flatten() {
            out.push((format!("ClusterRole {}", name(&r.metadata)), rule));
        }
    }
    for r in m.roles() {
        for rule in r.rules.iter().flatten() {
            out.push((format!("Role {}", name(&r.metadata)), rule));
        }
    }
    out
}

/// Whether a PodDisruptionBudget lets the only ready pod of a `replicas`-replica Deployment be
/// evicted (the leader is the only ready pod, and draining its node must not block).
fn pdb_allows_evicting_the_only_ready_pod(pdb: &PodDisruptionBudget, replicas: i32) -> bool {
    let spec = pdb.spec.clone().unwrap_or_default();
    let scaled = |v: &IntOrString| match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let percent: i32 = s.trim_end_matches('%').parse().unwrap_or(100);
            (replicas * percent + 99) / 100
        }
    };
    let desired_healthy = match (&spec.min_available, &spec.max_unavailable) {
        (Some(min), _) => scaled(min),
        (None, Some(max)) => replicas - scaled(max),
        (None, None) => 1,
    };
    1 - desired_healthy >= 1
}

// ---------------------------------------------------------------------------------------------
// Files and annotations

#[test]
fn every_file_is_named_in_the_cvo_convention() {
    let m = manifests();
    assert!(!m.files.is_empty());
    for f in &m.files {
        assert!(
            cvo_file_name(f),
            "{f}: not 0000_00_update-status-controller_NN_<what>.yaml"
        );
    }
    assert!(
        m.image_references.is_object(),
        "{IMAGE_REFERENCES} is missing"
    );
}

/// `^0000_(00|90)_update-status-controller_[0-9]{2}_[a-z0-9-]+\.yaml$`
fn cvo_file_name(f: &str) -> bool {
    let Some(rest) = f
        .strip_prefix("0000_00_update-status-controller_")
        .or_else(|| f.strip_prefix(MONITORING_PREFIX))
    else {
        return false;
    };
    let Some(what) = rest.strip_suffix(".yaml") else {
        return false;
    };
    let bytes = what.as_bytes();
    bytes.len() > 3
        && bytes[0].is_ascii_digit()
        && bytes[1].is_ascii_digit()
        && bytes[2] == b'_'
        && bytes[3..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[test]
fn every_kind_is_present_as_expected() {
    let m = manifests();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &m.docs {
        let kind = match &d.object {
            Object::Namespace(_) => "Namespace",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::ClusterRole(_) => "ClusterRole",
            Object::ClusterRoleBinding(_) => "ClusterRoleBinding",
            Object::Role(_) => "Role",
            Object::RoleBinding(_) => "RoleBinding",
            Object::Deployment(_) => "Deployment",
            Object::Service(_) => "Service",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::CustomResourceDefinition(_) => "CustomResourceDefinition",
            Object::ServiceMonitor(_) => "ServiceMonitor",
            Object::PrometheusRule(_) => "PrometheusRule",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("Namespace", 1),
        ("ServiceAccount", 1),
        ("ClusterRole", 4),
        ("ClusterRoleBinding", 7),
        ("Role", 4),
        ("RoleBinding", 4),
        ("Deployment", 1),
        ("Service", 1),
        ("NetworkPolicy", 2),
        ("CustomResourceDefinition", 3),
        ("ServiceMonitor", 1),
        ("PrometheusRule", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, expected);
    assert_eq!(m.examples.len(), 2, "two example UpdateInformers");
}

#[test]
fn every_object_carries_the_release_annotations() {
    let m = manifests();
    for d in &m.docs {
        let annotations = d.object.metadata().annotations.clone().unwrap_or_default();
        for a in RELEASE_ANNOTATIONS {
            assert_eq!(
                annotations.get(a).map(String::as_str),
                Some("true"),
                "{}: {a}",
                d.describe()
            );
        }
    }
}

#[test]
fn every_object_is_included_in_the_same_cluster_profiles() {
    let m = manifests();
    assert!(
        profile_findings(&m.docs).is_empty(),
        "{:#?}",
        profile_findings(&m.docs)
    );
}

/// Objects that the CVO would apply in a different set of profiles, feature sets or
/// capabilities than the rest of the workload, so that some cluster gets half of it. The CRDs
/// may be included more widely (an unused CRD is harmless), never less.
fn profile_findings(docs: &[Doc]) -> Vec<String> {
    let gating = |d: &Doc| -> BTreeMap<String, String> {
        d.object
            .metadata()
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with(INCLUDE_PREFIX) || GATING_ANNOTATIONS.contains(&k.as_str())
            })
            .collect()
    };
    let mut out = Vec::new();
    let workload: Vec<&Doc> = docs.iter().filter(|d| !d.object.is_crd()).collect();
    let Some(first) = workload.first() else {
        return vec!["no workload objects".into()];
    };
    let reference = gating(first);
    for d in &workload {
        if gating(d) != reference {
            out.push(format!(
                "{}: {:?} differs from {:?}",
                d.describe(),
                gating(d),
                reference
            ));
        }
    }
    for d in docs.iter().filter(|d| d.object.is_crd()) {
        let crd = gating(d);
        for (k, v) in &reference {
            if k.starts_with(INCLUDE_PREFIX) && crd.get(k) != Some(v) {
                out.push(format!(
                    "{}: lacks {k}, which the workload has",
                    d.describe()
                ));
            }
        }
        for k in GATING_ANNOTATIONS {
            if crd.get(k) != reference.get(k) {
                out.push(format!("{}: {k} differs from the workload", d.describe()));
            }
        }
    }
    out
}

#[test]
fn every_namespaced_object_names_its_namespace() {
    let m = manifests();
    for d in &m.docs {
        let ns = d.object.metadata().namespace.as_deref();
        if d.object.namespaced() {
            let allowed = match &d.object {
                Object::Role(_) | Object::RoleBinding(_) => {
                    [NAMESPACE, MCO_NAMESPACE, "default"].as_slice()
                }
                _ => [NAMESPACE].as_slice(),
            };
            assert!(
                ns.is_some_and(|ns| allowed.contains(&ns)),
                "{}: namespace must be one of {allowed:?}",
                d.describe()
            );
        } else {
            assert_eq!(ns, None, "{}: cluster-scoped", d.describe());
        }
    }
}

#[test]
fn the_cvo_creates_things_in_a_working_order() {
    let m = manifests();
    let file_of = |pred: &dyn Fn(&Object) -> bool| -> Vec<&str> {
        m.docs
            .iter()
            .filter(|d| pred(&d.object))
            .map(|d| d.file.as_str())
            .collect()
    };
    let namespace_file = file_of(&|o| matches!(o, Object::Namespace(_)))[0];
    assert_eq!(m.files[0], namespace_file, "the Namespace comes first");
    let deployment_file = file_of(&|o| matches!(o, Object::Deployment(_)))[0];
    for f in file_of(&|o| {
        !matches!(o, Object::Deployment(_))
            && !o.is_monitoring()
            && o.metadata().namespace.as_deref() != Some(MCO_NAMESPACE)
    }) {
        assert!(
            f < deployment_file,
            "{f}: what the pod needs (CRDs, account, RBAC, Service, network policy) exists before the pod"
        );
    }
    // The machine-config-operator namespace may not exist on a fresh install; a failure there
    // must come after the Deployment, since the CVO stops a component at its first failure.
    let last = m
        .files
        .iter()
        .rfind(|f| !f.starts_with(MONITORING_PREFIX))
        .unwrap();
    for f in file_of(&|o| o.metadata().namespace.as_deref() == Some(MCO_NAMESPACE)) {
        assert_eq!(
            f, last,
            "objects in {MCO_NAMESPACE} are in the last run-level-00 file"
        );
    }
    assert!(deployment_file < last.as_str());
    // The monitoring stack installs the ServiceMonitor and PrometheusRule CRDs at run level 50;
    // at run level 00 the CVO would stop at them on a fresh install, before the Deployment.
    for d in &m.docs {
        assert_eq!(
            d.file.starts_with(MONITORING_PREFIX),
            d.object.is_monitoring(),
            "{}: monitoring objects, and only they, are at run level 90",
            d.describe()
        );
    }
}

#[test]
fn nothing_refers_to_the_development_certificates() {
    let m = manifests();
    for (path, text) in &m.texts {
        assert!(
            !text.contains("certs-dev"),
            "{} refers to certs-dev",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CRDs

#[test]
fn crd_manifest_is_the_generated_crds_byte_for_byte() {
    let root = repo();
    let concatenated: String = update_status_controller::crds::CRD_FILES
        .iter()
        .map(|f| {
            format!(
                "---\n{}",
                fs::read_to_string(root.join("crds").join(f)).unwrap()
            )
        })
        .collect();
    let manifest = fs::read_to_string(manifests_dir().join(CRD_MANIFEST)).unwrap();
    assert!(
        manifest == concatenated,
        "manifests/{CRD_MANIFEST} differs from crds/*; regenerate it with \
         `cargo run -q -- crds > manifests/{CRD_MANIFEST}`"
    );
    assert!(
        manifest == update_status_controller::crds::yaml_stream().unwrap(),
        "manifests/{CRD_MANIFEST} is not what `update-status-controller crds` prints"
    );
}

#[test]
fn crds_are_the_three_kinds_of_the_api_group() {
    let m = manifests();
    let names: BTreeSet<&str> = m.crds().iter().map(|c| name(&c.metadata)).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "upgradestatuses.update.openshift.io",
            "updateinformers.update.openshift.io",
            "nodeprogressinsights.update.openshift.io"
        ])
    );
    for crd in m.crds() {
        assert_eq!(crd.spec.group, update_status_api::GROUP);
        assert_eq!(crd.spec.scope, "Cluster");
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace and service account

#[test]
fn namespace_is_restricted_monitored_and_partitioned() {
    let m = manifests();
    let ns = m.namespace();
    assert_eq!(name(&ns.metadata), NAMESPACE);
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    for (k, v) in [
        ("openshift.io/run-level", ""),
        ("openshift.io/cluster-monitoring", "true"),
        ("pod-security.kubernetes.io/enforce", "restricted"),
        ("pod-security.kubernetes.io/audit", "restricted"),
        ("pod-security.kubernetes.io/warn", "restricted"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
    }
    let annotations = ns.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("workload.openshift.io/allowed")
            .map(String::as_str),
        Some("management")
    );
    assert_eq!(name(&m.service_account().metadata), NAME);
}

// ---------------------------------------------------------------------------------------------
// RBAC

#[test]
fn no_rbac_rule_uses_a_wildcard() {
    let m = manifests();
    let rules = all_rules(m);
    assert!(!rules.is_empty());
    for (role, rule) in rules {
        assert!(wildcards(rule).is_empty(), "{role}: {:?}", wildcards(rule));
    }
}

#[test]
fn no_role_aggregates_or_is_aggregated() {
    let m = manifests();
    for r in m.cluster_roles() {
        assert!(r.aggregation_rule.is_none(), "{}", name(&r.metadata));
        let labels = r.metadata.labels.clone().unwrap_or_default();
        assert!(
            !labels.keys().any(|k| k.contains("aggregate-to")),
            "{}: its rights would flow into the aggregated roles",
            name(&r.metadata)
        );
    }
}

#[test]
fn every_binding_grants_a_known_role_to_the_controller_only() {
    let m = manifests();
    let cluster_roles: BTreeSet<&str> = m
        .cluster_roles()
        .iter()
        .map(|r| name(&r.metadata))
        .collect();
    let builtins: BTreeSet<&str> = BUILTIN_CLUSTER_ROLES.iter().map(|(n, _)| *n).collect();
    let roles: BTreeSet<(&str, &str)> = m
        .roles()
        .iter()
        .map(|r| {
            (
                r.metadata.namespace.as_deref().unwrap_or_default(),
                name(&r.metadata),
            )
        })
        .collect();
    let mut bound_cluster_roles = BTreeSet::new();
    let mut bound_roles = BTreeSet::new();
    for b in m.cluster_role_bindings() {
        let what = format!("ClusterRoleBinding {}", name(&b.metadata));
        assert_eq!(b.role_ref.api_group, "rbac.authorization.k8s.io", "{what}");
        assert_eq!(b.role_ref.kind, "ClusterRole", "{what}");
        let r = b.role_ref.name.as_str();
        assert!(
            cluster_roles.contains(r) || builtins.contains(r),
            "{what}: {r} is neither defined here nor an allowed built-in"
        );
        bound_cluster_roles.insert(r);
        assert_only_the_controller(&what, b.subjects.as_deref());
    }
    for b in m.role_bindings() {
        let ns = b.metadata.namespace.as_deref().unwrap_or_default();
        let what = format!("RoleBinding {ns}/{}", name(&b.metadata));
        assert_eq!(b.role_ref.api_group, "rbac.authorization.k8s.io", "{what}");
        assert_eq!(b.role_ref.kind, "Role", "{what}");
        assert!(
            roles.contains(&(ns, b.role_ref.name.as_str())),
            "{what}: Role {} is not defined in {ns}",
            b.role_ref.name
        );
        bound_roles.insert((ns, b.role_ref.name.as_str()));
        if b.subjects.iter().flatten().any(is_prometheus) {
            assert_prometheus_reads_only(m, b);
        } else {
            assert_only_the_controller(&what, b.subjects.as_deref());
        }
    }
    assert_eq!(bound_roles, roles, "every Role is bound");
    assert!(
        cluster_roles.is_subset(&bound_cluster_roles),
        "every ClusterRole is bound"
    );
    for (builtin, why) in BUILTIN_CLUSTER_ROLES {
        assert!(
            bound_cluster_roles.contains(builtin),
            "{builtin} is bound ({why})"
        );
    }
}

fn is_prometheus(s: &Subject) -> bool {
    s.kind == "ServiceAccount"
        && s.name == PROMETHEUS.1
        && s.namespace.as_deref() == Some(PROMETHEUS.0)
}

/// The platform Prometheus' binding: it alone, in the controller's namespace, to a Role that
/// only reads what target discovery needs.
fn assert_prometheus_reads_only(m: &Manifests, b: &RoleBinding) {
    let what = format!("RoleBinding {}", name(&b.metadata));
    let subjects = b.subjects.as_deref().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{what}: one subject");
    assert_eq!(b.metadata.namespace.as_deref(), Some(NAMESPACE), "{what}");
    let role = m
        .roles()
        .into_iter()
        .find(|r| {
            name(&r.metadata) == b.role_ref.name
                && r.metadata.namespace.as_deref() == Some(NAMESPACE)
        })
        .unwrap();
    let discovery = ["services", "endpoints", "pods", "endpointslices"];
    for rule in role.rules.iter().flatten() {
        assert!(
            rule.verbs.iter().all(|v| READ_VERBS.contains(&v.as_str())),
            "{what}: {rule:?}"
        );
        assert!(
            rule.resources
                .iter()
                .flatten()
                .all(|r| discovery.contains(&r.as_str())),
            "{what}: {rule:?}"
        );
    }
}

fn assert_only_the_controller(what: &str, subjects: Option<&[Subject]>) {
    let subjects = subjects.unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{what}: one subject");
    assert!(is_controller(&subjects[0]), "{what}: {:?}", subjects[0]);
}

#[test]
fn the_controller_writes_only_what_it_owns() {
    let m = manifests();
    let grants = grants(m);
    assert!(!grants.is_empty());
    assert!(
        forbidden_writes(&grants).is_empty(),
        "{:#?}",
        forbidden_writes(&grants)
    );
    // The singleton's writes (everything but create, which cannot be name-restricted) name it.
    for g in &grants {
        let on_upgrade_status = g
            .rule
            .resources
            .iter()
            .flatten()
            .any(|r| r.starts_with("upgradestatuses"));
        if on_upgrade_status && g.rule.verbs.iter().any(|v| v != "create") {
            assert_eq!(
                g.rule.resource_names.as_deref(),
                Some(["cluster".to_string()].as_slice()),
                "{}: {:?}",
                g.via,
                g.rule
            );
        }
    }
}

/// Requests in kubectl's words: `<verb> <resource>[.<group>] [<namespace>/][<name>]`, for
/// example `get deployments.apps openshift-machine-config-operator/machine-config-operator`,
/// `list nodes`, `create leases.coordination.k8s.io openshift-update-status-controller/`.
fn request(line: &str) -> Request<'_> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap();
    let (resource, group) = words
        .next()
        .map(|r| r.split_once('.').unwrap_or((r, "")))
        .unwrap();
    let (namespace, name) = match words.next() {
        None => (None, None),
        Some(target) => match target.split_once('/') {
            Some((ns, "")) => (Some(ns), None),
            Some((ns, name)) => (Some(ns), Some(name)),
            None => (None, Some(target)),
        },
    };
    Request {
        verb,
        group,
        resource,
        namespace,
        name,
    }
}

/// What the built-in informers, the publisher, the authenticator and leader election need. For
/// list and watch, a name means the request's `metadata.name` field selector.
const NEEDED: &str = "
    get clusterversions.config.openshift.io version
    list clusterversions.config.openshift.io version
    watch clusterversions.config.openshift.io version
    get clusteroperators.config.openshift.io machine-config
    list clusteroperators.config.openshift.io
    watch clusteroperators.config.openshift.io
    get apiservers.config.openshift.io cluster
    list apiservers.config.openshift.io cluster
    watch apiservers.config.openshift.io cluster
    list machineconfigpools.machineconfiguration.openshift.io
    watch machineconfigpools.machineconfiguration.openshift.io
    get machineconfigs.machineconfiguration.openshift.io rendered-master-0123
    list machineconfigs.machineconfiguration.openshift.io
    watch machineconfigs.machineconfiguration.openshift.io
    get nodes master-0
    list nodes
    watch nodes
    get deployments.apps openshift-machine-config-operator/machine-config-operator
    list deployments.apps openshift-machine-config-operator/machine-config-operator
    watch deployments.apps openshift-machine-config-operator/machine-config-operator
    get updateinformers.update.openshift.io machine-config
    list updateinformers.update.openshift.io
    watch updateinformers.update.openshift.io
    patch updateinformers/status.update.openshift.io any-informer
    update updateinformers/status.update.openshift.io any-informer
    create upgradestatuses.update.openshift.io
    get upgradestatuses.update.openshift.io cluster
    list upgradestatuses.update.openshift.io cluster
    watch upgradestatuses.update.openshift.io cluster
    patch upgradestatuses.update.openshift.io cluster
    patch upgradestatuses/status.update.openshift.io cluster
    update upgradestatuses/status.update.openshift.io cluster
    list nodeprogressinsights.update.openshift.io
    create nodeprogressinsights.update.openshift.io
    patch nodeprogressinsights.update.openshift.io worker-0
    patch nodeprogressinsights/status.update.openshift.io worker-0
    delete nodeprogressinsights.update.openshift.io worker-0
    create tokenreviews.authentication.k8s.io
    create subjectaccessreviews.authorization.k8s.io
    create leases.coordination.k8s.io openshift-update-status-controller/
    get leases.coordination.k8s.io openshift-update-status-controller/update-status-controller
    update leases.coordination.k8s.io openshift-update-status-controller/update-status-controller
    create events.events.k8s.io default/
    patch events.events.k8s.io default/some-event
";

/// What the controller must not be able to do, each a plausible mistake.
const REFUSED: &str = "
    update updateinformers.update.openshift.io machine-config
    patch updateinformers.update.openshift.io machine-config
    create updateinformers.update.openshift.io
    delete updateinformers.update.openshift.io machine-config
    delete upgradestatuses.update.openshift.io cluster
    deletecollection nodeprogressinsights.update.openshift.io
    update nodeprogressinsights/status.update.openshift.io worker-0
    patch upgradestatuses.update.openshift.io other
    update upgradestatuses.update.openshift.io cluster
    update upgradestatuses/status.update.openshift.io other
    list upgradestatuses.update.openshift.io
    list clusterversions.config.openshift.io
    patch clusterversions.config.openshift.io version
    update clusteroperators/status.config.openshift.io machine-config
    update nodes master-0
    get secrets openshift-update-status-controller/update-status-controller-tls
    list secrets
    list pods
    create serviceaccounts/token openshift-machine-config-operator/machine-config-operator
    get deployments.apps openshift-machine-config-operator/machine-config-controller
    list deployments.apps openshift-machine-config-operator/
    get deployments.apps openshift-cluster-version/cluster-version-operator
    create leases.coordination.k8s.io kube-system/
    update leases.coordination.k8s.io openshift-update-status-controller/someone-else
    create events default/
    delete events.events.k8s.io default/some-event
    create events.events.k8s.io kube-system/
    create events.events.k8s.io openshift-update-status-controller/
    create configmaps default/
";

#[test]
fn the_controller_can_do_what_it_needs() {
    let grants = grants(manifests());
    for line in NEEDED.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(allows(&grants, &request(line)), "cannot {line}");
    }
}

#[test]
fn the_controller_cannot_do_what_it_must_not() {
    let grants = grants(manifests());
    for line in REFUSED.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(!allows(&grants, &request(line)), "can {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Deployment

#[test]
fn deployment_pod_is_restricted() {
    let m = manifests();
    let d = m.deployment();
    let pod = pod_spec(d);
    let psc = pod.security_context.clone().unwrap_or_default();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
    assert!(psc.run_as_user.is_none(), "the SCC assigns the UID");
    assert_ne!(pod.host_network, Some(true));
    assert_ne!(pod.host_pid, Some(true));
    assert_ne!(pod.host_ipc, Some(true));
    let c = container(d);
    let sc = c.security_context.clone().unwrap_or_default();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_ne!(sc.privileged, Some(true));
    assert_eq!(
        sc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
    let caps = sc.capabilities.unwrap_or_default();
    assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
    assert!(caps.add.unwrap_or_default().is_empty());
    let annotations = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert_eq!(
        annotations
            .get("openshift.io/required-scc")
            .map(String::as_str),
        Some("restricted-v2")
    );
    assert!(
        annotations.contains_key("target.workload.openshift.io/management"),
        "workload partitioning"
    );
}

/// The kubelet probes the plain-HTTP probe port, not 8443: a client that fills 8443's connection
/// caps must not fail liveness (SECURITY.md, D1).
#[test]
fn deployment_probes_are_healthz_and_readyz_on_the_probe_port() {
    let m = manifests();
    let d = m.deployment();
    let c = container(d);
    let probe_port = flags(c)
        .get("probe-listen")
        .and_then(|l| l.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<i32>().ok());
    assert_eq!(probe_port, Some(8081), "--probe-listen");
    for (probe, path) in [
        (&c.liveness_probe, "/healthz"),
        (&c.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{path}: an httpGet probe"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.scheme.as_deref(), Some("HTTP"), "{path}");
        assert_eq!(resolve_port(c, &get.port), Some(8081), "{path}");
        let timeout = probe.as_ref().and_then(|p| p.timeout_seconds).unwrap_or(1);
        assert!(
            u64::try_from(timeout).unwrap()
                > update_status_controller::server::probe::PROBE_CONNECTION_TIMEOUT.as_secs(),
            "{path}: the probe waits longer than the server keeps a probe connection"
        );
    }
}

#[test]
fn deployment_runs_on_the_control_plane_as_a_critical_component() {
    let m = manifests();
    let d = m.deployment();
    let pod = pod_spec(d);
    assert_eq!(
        pod.node_selector.clone().unwrap_or_default(),
        BTreeMap::from([("node-role.kubernetes.io/master".to_string(), String::new())])
    );
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    let tolerations = pod.tolerations.clone().unwrap_or_default();
    let has = |key: &str, effect: &str, seconds: Option<i64>| {
        tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.operator.as_deref() == Some("Exists")
                && t.effect.as_deref() == Some(effect)
                && t.toleration_seconds == seconds
        })
    };
    assert!(has("node-role.kubernetes.io/master", "NoSchedule", None));
    assert!(has(
        "node-role.kubernetes.io/control-plane",
        "NoSchedule",
        None
    ));
    assert!(has(
        "node.kubernetes.io/unreachable",
        "NoExecute",
        Some(120)
    ));
    assert!(has("node.kubernetes.io/not-ready", "NoExecute", Some(120)));
    assert_eq!(tolerations.len(), 4, "no blanket toleration");
    let c = container(d);
    assert_eq!(
        c.termination_message_policy.as_deref(),
        Some("FallbackToLogsOnError")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
    assert_eq!(name(&m.service_account().metadata), NAME);
}

/// Requests as platform components set them, and a memory limit only (no CPU limit, which
/// would throttle): the informer port is reachable from the pod network, and a limit turns
/// memory exhaustion into a restart of this pod rather than pressure on a control-plane node.
/// The attack test measured the server's peak under full connection caps well below it.
#[test]
fn deployment_requests_resources_and_limits_only_memory() {
    let m = manifests();
    let r = container(m.deployment())
        .resources
        .clone()
        .unwrap_or_default();
    let requests = r.requests.unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("10m"));
    assert_eq!(requests.get("memory").map(|q| q.0.as_str()), Some("50Mi"));
    let limits = r.limits.unwrap_or_default();
    assert_eq!(
        limits.keys().map(String::as_str).collect::<Vec<_>>(),
        ["memory"],
        "a memory limit and no CPU limit"
    );
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("512Mi"));
}

#[test]
fn deployment_rollout_cannot_deadlock_on_leader_only_readiness() {
    let m = manifests();
    let d = m.deployment();
    let spec = d.spec.as_ref().unwrap();
    let replicas = spec.replicas.unwrap_or(1);
    let strategy = spec.strategy.clone().unwrap_or_default();
    // Only the leader is ready (DESIGN §7): a Deployment waiting for a second ready pod never
    // completes, and the CVO reports ProgressDeadlineExceeded as a failing update.
    assert_eq!(replicas, 1, "only one pod can ever be ready");
    assert_eq!(
        strategy.type_.as_deref(),
        Some("Recreate"),
        "a new pod cannot become ready while the old one holds the Lease"
    );
    let labels = pod_labels(d);
    for pdb in m.pod_disruption_budgets() {
        let selects_us = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| selects(s, &labels));
        assert!(
            !selects_us || pdb_allows_evicting_the_only_ready_pod(pdb, replicas),
            "PodDisruptionBudget {} would block draining the leader's node",
            name(&pdb.metadata)
        );
    }
}

#[test]
fn deployment_serves_the_service_ca_certificate() {
    let m = manifests();
    let d = m.deployment();
    let secret = m
        .service()
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("service.beta.openshift.io/serving-cert-secret-name"))
        .expect("the Service asks the service CA for a serving certificate")
        .clone();
    let c = container(d);
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|v| v.mount_path == "/etc/tls")
        .expect("a volume mounted at /etc/tls");
    assert_eq!(mount.read_only, Some(true));
    let volume = pod_spec(d)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mounted volume");
    assert_eq!(
        volume.secret.as_ref().and_then(|s| s.secret_name.clone()),
        Some(secret),
        "the Deployment mounts the Secret the Service annotation names"
    );
    let f = flags(c);
    assert_eq!(
        f.get("tls-cert-file").map(String::as_str),
        Some("/etc/tls/tls.crt")
    );
    assert_eq!(
        f.get("tls-key-file").map(String::as_str),
        Some("/etc/tls/tls.key")
    );
}

#[test]
fn deployment_command_line_matches_the_other_objects() {
    let m = manifests();
    let d = m.deployment();
    let c = container(d);
    assert_eq!(
        c.command.as_deref(),
        Some(["update-status-controller".to_string()].as_slice())
    );
    assert_eq!(
        c.args.as_ref().and_then(|a| a.first()).map(String::as_str),
        Some("serve")
    );
    let f = flags(c);
    assert_eq!(f.get("namespace").map(String::as_str), Some(NAMESPACE));
    assert_eq!(d.metadata.namespace.as_deref(), Some(NAMESPACE));
    let listen_port = f
        .get("listen")
        .and_then(|l| l.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<i32>().ok());
    assert_eq!(listen_port, Some(8443));
    assert_eq!(
        resolve_port(c, &IntOrString::String("https".into())),
        Some(8443)
    );
    assert_eq!(f.get("tls-profile").map(String::as_str), Some("cluster"));
    let selector = d.spec.as_ref().map(|s| &s.selector).unwrap();
    assert!(
        selects(selector, &pod_labels(d)),
        "the Deployment selects its pods"
    );
}

#[test]
fn deployment_image_is_the_one_the_payload_build_substitutes() {
    let m = manifests();
    let c = container(m.deployment());
    let tags = m.image_references["spec"]["tags"].as_array().unwrap();
    let tag = tags
        .iter()
        .find(|t| t["name"] == NAME)
        .expect("an image-references tag for the controller");
    assert_eq!(m.image_references["kind"], "ImageStream");
    assert_eq!(tag["from"]["kind"], "DockerImage");
    assert_eq!(c.image.as_deref(), tag["from"]["name"].as_str());
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
}

// ---------------------------------------------------------------------------------------------
// Service and network policy

#[test]
fn service_sends_443_to_the_controller_https_port() {
    let m = manifests();
    let svc = m.service();
    let d = m.deployment();
    let spec = svc.spec.clone().unwrap_or_default();
    assert_eq!(name(&svc.metadata), NAME);
    assert_eq!(
        spec.type_.as_deref(),
        Some("ClusterIP"),
        "never exposed outside"
    );
    let ports = spec.ports.unwrap_or_default();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 443);
    let target = ports[0].target_port.clone().expect("a target port");
    assert_eq!(resolve_port(container(d), &target), Some(8443));
    let selector = spec.selector.unwrap_or_default();
    let labels = pod_labels(d);
    assert!(!selector.is_empty());
    assert!(
        selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
        "the Service selects the controller's pods"
    );
}

/// An egress destination: (protocol, port, namespace of the peer or None for any address).
type Egress = (String, i32, Option<String>);

fn peer_namespace(peer: &NetworkPolicyPeer) -> Option<String> {
    peer.namespace_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .and_then(|l| l.get("kubernetes.io/metadata.name").cloned())
}

#[test]
fn network_policy_denies_by_default() {
    let m = manifests();
    let policies = m.network_policies();
    for p in &policies {
        let types = p
            .spec
            .as_ref()
            .and_then(|s| s.policy_types.clone())
            .unwrap_or_default();
        assert!(
            types.contains(&"Ingress".to_string()) && types.contains(&"Egress".to_string()),
            "{}: both directions are policed",
            name(&p.metadata)
        );
    }
    assert!(
        policies.iter().any(|p| {
            let spec = p.spec.clone().unwrap_or_default();
            spec.pod_selector.unwrap_or_default() == LabelSelector::default()
                && spec.ingress.is_none()
                && spec.egress.is_none()
        }),
        "a default-deny policy covers every pod of the namespace"
    );
}

#[test]
fn network_policy_allows_only_what_the_controller_needs() {
    let m = manifests();
    let d = m.deployment();
    let labels = pod_labels(d);
    let mut ingress_ports = BTreeSet::new();
    let mut egress: BTreeSet<Egress> = BTreeSet::new();
    for p in m.network_policies() {
        let spec = p.spec.clone().unwrap_or_default();
        if !selects(&spec.pod_selector.clone().unwrap_or_default(), &labels) {
            continue;
        }
        for rule in spec.ingress.iter().flatten() {
            let ports = rule.ports.clone().unwrap_or_default();
            assert!(
                !ports.is_empty(),
                "{}: an ingress rule without ports allows every port",
                name(&p.metadata)
            );
            for port in ports {
                let n = match port.port {
                    Some(IntOrString::Int(n)) => n,
                    other => panic!("numeric ports only, not {other:?}"),
                };
                ingress_ports.insert((port.protocol.unwrap_or_default(), n));
            }
        }
        for rule in spec.egress.iter().flatten() {
            let ports = rule.ports.clone().unwrap_or_default();
            assert!(
                !ports.is_empty(),
                "{}: an egress rule without ports allows every port",
                name(&p.metadata)
            );
            let peers: Vec<Option<String>> = match &rule.to {
                None => vec![None],
                Some(to) => to
                    .iter()
                    .map(|peer| {
                        assert!(peer.ip_block.is_none(), "no address blocks");
                        assert!(
                            peer.pod_selector
                                .as_ref()
                                .is_some_and(|s| s.match_labels.is_some()),
                            "egress to a namespace names the pods too"
                        );
                        Some(peer_namespace(peer).expect("a namespace by name"))
                    })
                    .collect(),
            };
            for port in &ports {
                let n = match port.port {
                    Some(IntOrString::Int(n)) => n,
                    ref other => panic!("numeric ports only, not {other:?}"),
                };
                for peer in &peers {
                    egress.insert((port.protocol.clone().unwrap_or_default(), n, peer.clone()));
                }
            }
        }
    }
    // Not the probe port (8081): the kubelet's probes come from the pod's own node, which
    // NetworkPolicy does not filter; other pods have no business there.
    assert_eq!(
        ingress_ports,
        BTreeSet::from([("TCP".to_string(), 8443)]),
        "ingress only to the HTTPS port"
    );
    assert_eq!(
        resolve_port(container(d), &IntOrString::Int(8443)),
        Some(8443)
    );
    let expected: BTreeSet<Egress> = [
        ("TCP", 6443, None),
        ("TCP", 9091, Some("openshift-monitoring")),
        ("UDP", 5353, Some("openshift-dns")),
        ("TCP", 5353, Some("openshift-dns")),
    ]
    .into_iter()
    .map(|(proto, port, ns)| (proto.to_string(), port, ns.map(String::from)))
    .collect();
    assert_eq!(egress, expected);
}

// ---------------------------------------------------------------------------------------------
// Examples

#[test]
fn example_update_informers_are_valid_and_never_applied_by_the_cvo() {
    let m = manifests();
    let crd = update_status_api::crd::update_informer().unwrap();
    let schema = update_status_api::crd::schema_of(&crd).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for e in &m.examples {
        let errors: Vec<String> = validator
            .iter_errors(&e.raw)
            .map(|err| err.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", e.file);
        assert!(
            cel_findings(&e.informer).is_empty(),
            "{}: {:?}",
            e.file,
            cel_findings(&e.informer)
        );
        let annotations = e.informer.metadata.annotations.clone().unwrap_or_default();
        assert!(
            !annotations.keys().any(|k| k.starts_with(INCLUDE_PREFIX)),
            "{}: an example must not be included in any cluster profile",
            e.file
        );
        assert!(!cvo_file_name(
            Path::new(&e.file).file_name().unwrap().to_str().unwrap()
        ));
    }
}

/// What the CRD's CEL rules would refuse (the schema validator does not run CEL).
fn cel_findings(i: &UpdateInformer) -> Vec<String> {
    let name = i.metadata.name.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    let label = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !label {
        out.push(format!("{name:?} is not an RFC 1123 label"));
    }
    if update_status_api::v1alpha1::RESERVED_INFORMER_NAMES.contains(&name) {
        out.push(format!("{name} is a reserved built-in name"));
    }
    let may_send_status = STATUS_INSIGHT_INFORMERS.contains(&name);
    if let Some(types) = &i.spec.allowed_insight_types
        && !may_send_status
        && types.iter().any(|t| *t != InsightType::Health)
    {
        out.push(format!("{name} may only allow Health insights"));
    }
    if i.spec.allowed_insight_types.is_none() && !may_send_status {
        // Absent means Health only, which is allowed, but the examples say it explicitly.
        out.push(format!(
            "{name}: say allowedInsightTypes: [Health] explicitly"
        ));
    }
    let mut seen = BTreeSet::new();
    for p in i.spec.producers.iter() {
        if !seen.insert(p.service_account.username()) {
            out.push(format!("{} is listed twice", p.service_account.username()));
        }
    }
    out
}

#[test]
fn example_update_informers_say_what_the_brief_asks() {
    let m = manifests();
    let by_name: BTreeMap<&str, &UpdateInformer> = m
        .examples
        .iter()
        .map(|e| {
            (
                e.informer.metadata.name.as_deref().unwrap_or_default(),
                &e.informer,
            )
        })
        .collect();
    let mco = by_name["machine-config"];
    assert!(mco.spec.is_enabled());
    assert_eq!(
        mco.spec
            .producers
            .iter()
            .map(|p| p.service_account.username())
            .collect::<Vec<_>>(),
        vec!["system:serviceaccount:openshift-machine-config-operator:machine-config-operator"]
    );
    assert!(
        mco.spec.allowed_insight_types.is_none(),
        "all types for the built-in name"
    );
    assert_eq!(
        mco.spec.report_interval(),
        update_status_api::time::GoDuration::from_mins(1)
    );
    let third = by_name["example-storage-operator"];
    assert_eq!(
        third.spec.allowed_insight_types.as_deref(),
        Some([InsightType::Health].as_slice())
    );
    assert_eq!(
        third.spec.allowed_scopes.as_deref(),
        Some([ScopeType::WorkerPool].as_slice())
    );
    assert_eq!(third.spec.max_insights.map(|m| m.get()), Some(20));
}

// ---------------------------------------------------------------------------------------------
// The checks catch what they are meant to catch

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn loader_refuses_an_unknown_kind_and_a_misspelled_field() {
    let secret = yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n");
    assert!(
        parse_object(&secret)
            .unwrap_err()
            .contains("unexpected kind")
    );
    let typo = yaml(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n\
         spec:\n  replica: 2\n  selector: {}\n  template: {}\n",
    );
    assert!(parse_object(&typo).unwrap_err().contains(".spec.replica"));
    let wrong_version =
        yaml("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: x}\n");
    assert!(parse_object(&wrong_version).is_err());
    let informer_typo = yaml(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {name: x}\n\
         spec: {reporting: Enabled, producers: [{serviceAccount: {namespace: a, name: b}}], reportIntervl: 1m}\n",
    );
    assert!(
        parse_example(&informer_typo)
            .unwrap_err()
            .contains("reportIntervl")
    );
}

#[test]
fn multi_document_files_yield_every_document() {
    let docs = documents("# c\n---\na: 1\n---\nb: 2\n---\n", "t");
    assert_eq!(docs.len(), 2);
}

#[test]
fn rbac_checks_catch_wildcards_and_foreign_writes() {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    };
    assert_eq!(wildcards(&rule(&[""], &["pods"], &["*"])).len(), 1);
    assert_eq!(wildcards(&rule(&["*"], &["*"], &["get"])).len(), 2);
    let grant = |ns: Option<&str>, r: PolicyRule| Grant {
        namespace: ns.map(String::from),
        rule: r,
        via: "test".into(),
    };
    let bad = [
        grant(None, rule(&[""], &["secrets"], &["delete"])),
        grant(
            None,
            rule(&["update.openshift.io"], &["updateinformers"], &["update"]),
        ),
        // Leases are allowed only in the controller's own namespace, never cluster-wide.
        grant(
            None,
            rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        ),
        grant(Some("kube-system"), rule(&[""], &["events"], &["create"])),
        grant(
            None,
            rule(
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
                &["escalate"],
            ),
        ),
    ];
    for g in &bad {
        assert_eq!(forbidden_writes(std::slice::from_ref(g)).len(), 1, "{g:?}");
    }
    let good = grant(
        Some(NAMESPACE),
        rule(&["coordination.k8s.io"], &["leases"], &["create", "get"]),
    );
    assert!(forbidden_writes(&[good]).is_empty());
}

#[test]
fn pdb_check_catches_a_budget_that_blocks_drains() {
    let pdb = |spec: &str| -> PodDisruptionBudget {
        serde_json::from_value(yaml(&format!(
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: x}}\nspec: {spec}\n"
        )))
        .unwrap()
    };
    assert!(!pdb_allows_evicting_the_only_ready_pod(
        &pdb("{minAvailable: 1}"),
        2
    ));
    assert!(!pdb_allows_evicting_the_only_ready_pod(
        &pdb("{maxUnavailable: 1}"),
        2
    ));
    assert!(!pdb_allows_evicting_the_only_ready_pod(
        &pdb("{minAvailable: 50%}"),
        2
    ));
    assert!(pdb_allows_evicting_the_only_ready_pod(
        &pdb("{maxUnavailable: 1}"),
        1
    ));
    assert!(pdb_allows_evicting_the_only_ready_pod(
        &pdb("{minAvailable: 0}"),
        2
    ));
}

#[test]
fn profile_check_catches_a_partial_install() {
    let mut docs: Vec<Doc> = load().docs;
    let i = docs
        .iter()
        .position(|d| matches!(d.object, Object::Deployment(_)))
        .unwrap();
    if let Object::Deployment(d) = &mut docs[i].object {
        d.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("release.openshift.io/feature-set".into(), "Default".into());
    }
    assert!(!profile_findings(&docs).is_empty());
}

#[test]
fn name_checks_catch_bad_names() {
    assert!(cvo_file_name(
        "0000_00_update-status-controller_08_deployment.yaml"
    ));
    assert!(!cvo_file_name(
        "0000_00_update-status-controller_8_deployment.yaml"
    ));
    assert!(!cvo_file_name(
        "0000_00_update-status-controller_08_Deployment.yaml"
    ));
    assert!(!cvo_file_name(
        "0000_00_update-status-controller_08_deployment.yml"
    ));
    assert!(!cvo_file_name(
        "0000_50_update-status-controller_08_deployment.yaml"
    ));
    let informer = |name: &str, types: &str| -> UpdateInformer {
        serde_json::from_value(yaml(&format!(
            "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {{name: {name}}}\n\
             spec: {{reporting: Enabled, producers: [{{serviceAccount: {{namespace: a, name: b}}}}], allowedInsightTypes: [{types}]}}\n"
        )))
        .unwrap()
    };
    assert!(cel_findings(&informer("example", "Health")).is_empty());
    assert!(!cel_findings(&informer("example", "Node")).is_empty());
    assert!(cel_findings(&informer("machine-config", "Node")).is_empty());
    assert!(!cel_findings(&informer("Bad_Name", "Health")).is_empty());
    assert!(!cel_findings(&informer("alerts", "Health")).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Monitoring

#[test]
fn the_service_monitor_scrapes_the_service_as_openshift_components_are_scraped() {
    let m = manifests();
    let monitor = m.one("ServiceMonitor", |o| match o {
        Object::ServiceMonitor(r) => Some(r),
        _ => None,
    });
    assert_eq!(monitor.metadata.namespace.as_deref(), Some(NAMESPACE));
    let service = m.service();
    let labels = service.metadata.labels.clone().unwrap_or_default();
    assert!(
        selects(&monitor.spec.selector, &labels),
        "the ServiceMonitor selects the Service"
    );
    assert_eq!(monitor.spec.namespace_selector.match_names, [NAMESPACE]);
    assert_eq!(monitor.spec.endpoints.len(), 1);
    let e = &monitor.spec.endpoints[0];
    let ports: Vec<&str> = service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| p.name.as_deref())
        .collect();
    assert!(
        ports.contains(&e.port.as_str()),
        "{} not in {ports:?}",
        e.port
    );
    assert_eq!((e.scheme.as_str(), e.path.as_str()), ("https", "/metrics"));
    // Prometheus' own token, which the controller checks with TokenReview and RBAC.
    assert_eq!(
        e.bearer_token_file,
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    // The service CA signs the serving certificate for <service>.<namespace>.svc.
    assert_eq!(
        e.tls_config.ca_file,
        "/etc/prometheus/configmaps/serving-certs-ca-bundle/service-ca.crt"
    );
    assert_eq!(
        e.tls_config.server_name,
        format!("{}.{NAMESPACE}.svc", name(&service.metadata))
    );
    // The alerts select job="<service name>", the label prometheus-operator gives the target.
    let rule = m.one("PrometheusRule", |o| match o {
        Object::PrometheusRule(r) => Some(r),
        _ => None,
    });
    let job = format!("job=\"{}\"", name(&service.metadata));
    let exprs: Vec<&str> = rule.spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["expr"].as_str())
        .collect();
    assert!(!exprs.is_empty());
    for expr in exprs {
        assert!(expr.contains(&job), "{expr} does not select {job}");
    }
}

#[test]
fn the_monitoring_checks_catch_what_they_are_meant_to() {
    // A misspelt ServiceMonitor field is refused, not ignored.
    let raw: Value = serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "x", "namespace": NAMESPACE},
        "spec": {"selector": {}, "namespaceSelector": {"matchNames": [NAMESPACE]},
                 "endpoints": [{"port": "https", "scheme": "https", "path": "/metrics", "interval": "30s",
                                "bearerTokenFiles": "/t", "tlsConfig": {"caFile": "/c", "serverName": "s"}}]}
    });
    assert!(parse_object(&raw).is_err());
    // A monitoring object at run level 00 is out of place.
    assert!(cvo_file_name(
        "0000_90_update-status-controller_01_servicemonitor.yaml"
    ));
    assert!(!cvo_file_name(
        "0000_50_update-status-controller_01_servicemonitor.yaml"
    ));
}
